"""Every shipped experiment and sweep file under experiments/ validates, and the paper's
experiment files (experiments/paper/, HW-FlowQ §5) ask for what the paper ran."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.area import accelerator_area
from hwflow.hw.levels import estimate
from hwflow.search.experiment import load_experiment
from hwflow.strategy import uniform_strategy
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


# --- each shipped file does what its comment says ---------------------------------------
# The figures below are the ones the files' comments quote; each is recomputed here with
# the hardware model, and each budget must sit where the comment puts it.

def uniform_total(model: str, bits: int, level: str, metric: str, dataflow: str = "rs") -> float:
    workload = load_workload(model)
    accel = load_accelerator("spatial-256").with_dataflow(dataflow)
    return estimate(workload, uniform_strategy(workload, bits), accel, level=level).total(metric)


def stage_bound(exp, level: str, metric: str) -> float:
    stage = next(s for s in exp.stages if s.level == level)
    return getattr(stage.constraints, f"{metric}_max")


def test_the_quickstart_is_the_small_fine_level_search_it_says():
    exp = load_experiment(EXPERIMENTS / "quickstart.yaml")
    # "digits-cnn on Spatial-256 at the Fine level, three objectives (accuracy, energy,
    # latency)", "needs no downloads", "population 8, 6 generations, 1 epoch"
    assert (exp.config.model, exp.config.accelerator, exp.config.level) == (
        "digits-cnn", "spatial-256", "fine")
    assert exp.objectives == ("accuracy", "energy", "latency_cycles")
    assert exp.dataset == "digits"
    assert (exp.population, exp.generations, exp.epochs) == (8, 6, 1)


def test_the_resnet20_walkthrough_budgets_sit_between_the_bitwidths_it_names():
    exp = load_experiment(PAPER / "codesign_walkthrough.yaml")
    coarse = {b: uniform_total("resnet20", b, "coarse", "frac_ops") for b in (16, 4)}
    assert coarse == {16: pytest.approx(4.055e7, rel=1e-3), 4: pytest.approx(1.047e7, rel=1e-3)}
    assert coarse[4] < stage_bound(exp, "coarse", "frac_ops") <= 0.3 * coarse[16]  # "~30 %"
    mid = {b: uniform_total("resnet20", b, "mid", "dram_bytes") for b in (8, 4)}
    assert mid == {8: pytest.approx(6.90e5, rel=1e-3), 4: pytest.approx(3.54e5, rel=1e-3)}
    assert mid[4] < stage_bound(exp, "mid", "dram_bytes") < mid[8]  # "between 4 and 8 bit"
    fine = uniform_total("resnet20", 4, "fine", "latency_cycles")
    assert fine == 49539 and fine < stage_bound(exp, "fine", "latency_cycles")
    assert [c.dataflow for c in exp.stages[2].candidates] == ["rs", "ws"]  # "WS if RS misses"


def test_the_digits_walkthrough_budgets_are_what_it_says():
    exp = load_experiment(PAPER / "codesign_walkthrough_digits.yaml")
    sixteen = {m: uniform_total("digits-cnn", 16, level, m) for level, m in (
        ("coarse", "frac_ops"), ("mid", "dram_bytes"), ("fine", "latency_cycles"))}
    assert sixteen == {"frac_ops": 189248, "dram_bytes": 25708, "latency_cycles": 938}
    # "at most half the 16-bit network's" Frac.OPs; a DRAM budget below 8 bit's 13,900
    assert stage_bound(exp, "coarse", "frac_ops") <= sixteen["frac_ops"] / 2
    assert stage_bound(exp, "mid", "dram_bytes") < uniform_total("digits-cnn", 8, "mid",
                                                                 "dram_bytes") == 13900
    # "16-bit: 938 cycles RS, 1,586 WS": the budget binds on the WS candidate
    ws = uniform_total("digits-cnn", 16, "fine", "latency_cycles", dataflow="ws")
    assert ws == 1586 and sixteen["latency_cycles"] < stage_bound(exp, "fine",
                                                                   "latency_cycles") < ws
    assert [c.buffer_kb for c in exp.stages[1].candidates] == [256, 256]  # "the paper's 256 KB"


def test_haq_style_budget_is_half_the_16_bit_latency():
    sweep = load_sweep(PAPER / "comparisons.yaml")
    haq = next(e for p, e in zip(sweep.points, sweep.settings) if p.label == "haq-style")
    assert haq.config.algorithm == "soga"
    full = uniform_total("digits-cnn", 16, "fine", "latency_cycles")
    assert haq.config.constraints.latency_cycles_max == pytest.approx(full / 2, abs=1)


def test_the_uniform_comparisons_map_each_method_to_the_scheme_the_comment_names():
    sweep = load_sweep(PAPER / "comparisons_uniform.yaml")
    chosen = {p.label: (s.bits, s.accuracy.scheme) for p, s in zip(sweep.points, sweep.settings)}
    assert chosen == {"float-16bit": (16, "dorefa-pact"), "dorefa-4bit": (4, "dorefa"),
                      "dorefa-2bit": (2, "dorefa"), "pact-4bit": (4, "dorefa-pact"),
                      "pact-2bit": (2, "dorefa-pact"), "xnor-1bit": (1, "dorefa")}


def test_cosearch_must_shrink_the_chip_below_spatial_256():
    exp = load_experiment(EXPERIMENTS / "cosearch_digits.yaml")
    base = accelerator_area(load_accelerator("spatial-256"))
    assert base == pytest.approx(13.3, abs=0.05)  # "(Spatial-256 itself: 13.3)"
    assert exp.config.constraints.area_max < base
    # "each individual is scored on its own accelerator": every knob the comment lists
    assert set(exp.space().names) == {"rows", "cols", "buffer_kb", "rf_fmap_words", "dataflow",
                                      "engine", "lanes", "batch"}
