"""Every shipped experiment and sweep file under experiments/ validates, and the paper's
experiment files (experiments/paper/, SPEC §5) ask for what the paper ran."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwflow.search.experiment import load_experiment
from hwflow.sweeps.config import load_sweep

EXPERIMENTS = Path(__file__).parent.parent / "experiments"
# experiments/*.yaml are also checked by tests/test_search_experiment.py
FILES = sorted(EXPERIMENTS.rglob("*.yaml"))
PAPER = EXPERIMENTS / "paper"


def is_sweep(path: Path) -> bool:
    return "base" in (yaml.safe_load(path.read_text()) or {})


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXPERIMENTS)))
def test_every_shipped_file_validates(path):
    if is_sweep(path):
        sweep = load_sweep(path)
        assert sweep.points and len(sweep.settings) == len(sweep.points)
    else:
        load_experiment(path)


def test_the_paper_experiments_are_all_there():
    names = {p.stem for p in PAPER.glob("*.yaml")}
    assert {"nsga2_convergence", "hw_dimensioning", "bit_serial", "dataflows", "cross_level",
            "comparisons", "comparisons_uniform"} <= names


def test_cross_level_study_is_the_papers_grid_at_full_size():
    sweep = load_sweep(PAPER / "cross_level.yaml")
    assert sweep.kind == "evaluate"
    grid = {(p.value("level"), p.value("bits"), p.value("buffer_kb")) for p in sweep.points}
    assert grid == {(level, bits, kb) for level in ("coarse", "mid", "fine")
                    for bits in (16, 8, 4, 2) for kb in (32, 64, 128, 256, 512)}
    for point in sweep.settings:
        accel = point.accel()
        assert (point.model, accel.name, accel.dram.bandwidth) == ("resnet18", "eyeriss-256-db", 8)
        assert accel.buffer.size_bytes in {kb * 1024 for kb in (32, 64, 128, 256, 512)}


def test_search_experiments_vary_what_the_paper_varies():
    def swept(name: str) -> list[dict]:
        return [dict(p.values) for p in load_sweep(PAPER / f"{name}.yaml").points]

    budgets = [(p["population"], p["generations"]) for p in swept("nsga2_convergence")]
    # the paper's (25,25), (25,50), (50,50) at a quarter of the size: same shape
    assert budgets == [(6, 6), (6, 12), (12, 12)]
    assert {(p["accelerator"], p["batch"]) for p in swept("hw_dimensioning")} == {
        (a, b) for a in ("spatial-168", "spatial-256", "spatial-1024") for b in (1, 4)}
    bit_serial = load_sweep(PAPER / "bit_serial.yaml")
    assert {(p["accelerator"], p["batch"]) for p in swept("bit_serial")} == {
        (a, b) for a in ("bs-168", "bs-256", "bs-1024") for b in (1, 4)}
    assert all(e.config.bits == list(range(1, 17)) and not e.config.tied_bits
               for e in bit_serial.settings)
    assert [p["dataflow"] for p in swept("dataflows")] == ["rs", "os", "ws"]
    for exp in load_sweep(PAPER / "nsga2_convergence.yaml").settings:
        assert exp.objectives == ("accuracy", "energy", "latency_cycles")
