"""hwflow.open_run / open_sweep: DataFrames that are the CSV files, read-only access."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import hwflow
from hwflow.catalog import load_workload
from hwflow.cli import main
from hwflow.errors import HwflowError

EXPERIMENT = """\
model: resnet20
accelerator: spatial-256
level: mid
objectives: [latency_cycles, area]
accelerator_genes: {rows: [8, 16], buffer_kb: [32, 128]}
bits: [8, 4, 2]
population: 8
generations: 3
seed: 5
"""
SWEEP = """\
kind: search
base: {experiment}
grid:
  seed: [1, 2]
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("api")
    (folder / "exp.yaml").write_text(EXPERIMENT)
    code, _, err = run("search", str(folder / "exp.yaml"), "--out", str(folder / "run"))
    assert code == 0, err
    return folder / "run"


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / "run.sqlite").read_bytes()).hexdigest()


def test_frames_are_the_csv_files(run_dir: Path) -> None:
    r = hwflow.open_run(run_dir)
    pd.testing.assert_frame_equal(r.front, pd.read_csv(run_dir / "pareto.csv"))
    pd.testing.assert_frame_equal(r.history, pd.read_csv(run_dir / "history.csv"))
    layers = load_workload("resnet20").layer_names
    assert list(r.front.columns[:4]) == ["id", "level", "latency_cycles", "area"]
    assert list(r.front.columns[4:6]) == [f"w_bits.{layers[0]}", f"a_bits.{layers[0]}"]
    assert list(r.front.columns[-2:]) == ["rows", "buffer_kb"]  # the co-searched genes
    assert len(r.front) > 1
    assert list(r.history["generation"]) == [1, 2, 3]


def test_evaluations_hold_every_stored_row_and_mark_the_front(run_dir: Path) -> None:
    r = hwflow.open_run(run_dir)
    db = sqlite3.connect(run_dir / "run.sqlite")
    stored = {row[0]: json.loads(row[1]) for row in
              db.execute("SELECT id, metrics FROM evaluations")}
    db.close()
    assert sorted(r.evaluations["id"]) == sorted(stored)
    for _, row in r.evaluations.iterrows():
        assert row["energy"] == stored[row["id"]]["energy"]
    assert set(r.evaluations.loc[r.evaluations["on_front"], "id"]) == set(r.front["id"])
    assert (r.evaluations["violation"] == 0).all()  # the experiment has no constraints


def test_leaders_and_strategies_match_hwflow_export(run_dir: Path, tmp_path: Path) -> None:
    r = hwflow.open_run(run_dir)
    assert list(r.leaders.index) == ["hv-leader", "accuracy-leader", "compression-leader"]
    for pick in r.leaders.index:
        exported = yaml.safe_load((run_dir / "strategies" / f"{pick}.yaml").read_text())
        assert r.leaders.loc[pick, "id"] == exported["id"]
        strategy = r.strategy(pick)
        assert {**strategy.to_yaml_dict(), "accelerator": None} == \
            {**exported, "accelerator": None}  # export also wrote the designed accelerator
        assert strategy.extra["accelerator_genes"] == {
            "rows": r.leaders.loc[pick, "rows"], "buffer_kb": r.leaders.loc[pick, "buffer_kb"]}
        assert r.strategy(int(exported["id"])).layers == strategy.layers  # by id too
        row = r.leaders.loc[pick]
        assert [row[f"w_bits.{layer.name}"] for layer in strategy.layers] == list(strategy.w_bits)
    with pytest.raises(HwflowError, match="no evaluation with that id"):
        r.strategy(10_000)
    r.export("hv-leader", tmp_path / "hv-leader.yaml")  # as hwflow export -o, accelerator too
    assert (tmp_path / "hv-leader.yaml").read_text() == \
        (run_dir / "strategies" / "hv-leader.yaml").read_text()
    assert (tmp_path / "hv-leader.accelerator.yaml").read_text() == \
        (run_dir / "strategies" / "hv-leader.accelerator.yaml").read_text()


def test_the_api_never_creates_or_changes_a_run_store(run_dir: Path, tmp_path: Path) -> None:
    before, files = digest(run_dir), sorted(p.name for p in run_dir.iterdir())
    mtime = (run_dir / "run.sqlite").stat().st_mtime_ns
    r = hwflow.open_run(run_dir)
    r.strategy("hv-leader")
    r.export("hv-leader", tmp_path / "s.yaml")
    assert digest(run_dir) == before and (run_dir / "run.sqlite").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in run_dir.iterdir()) == files  # no -wal / -shm left either
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HwflowError, match="not a run directory"):
        hwflow.open_run(empty)
    assert list(empty.iterdir()) == []  # nothing created where there was no run


@pytest.mark.slow  # two small searches
def test_open_sweep_stacks_each_points_run(tmp_path: Path) -> None:
    base = yaml.safe_load(EXPERIMENT)
    (tmp_path / "sweep.yaml").write_text(SWEEP.format(experiment=json.dumps(base)))
    code, _, err = run("sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"),
                       "--no-plots")
    assert code == 0, err
    s = hwflow.open_sweep(tmp_path / "out")
    pd.testing.assert_frame_equal(s.results, pd.read_csv(tmp_path / "out" / "sweep.csv"))
    assert list(s.runs) == list(dict.fromkeys(s.results["point"]))
    assert len(s.runs) == 2
    for point, r in s.runs.items():
        mine = s.front[s.front["point"] == point].drop(columns="point").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, r.front)
        assert sorted(s.results.loc[s.results["point"] == point, "id"]) == sorted(r.front["id"])
    assert list(s.leaders.columns[:2]) == ["point", "pick"]
    point = next(iter(s.runs))
    assert s.strategy(point, "hv-leader") == s.runs[point].strategy("hv-leader")
    with pytest.raises(HwflowError, match="not a sweep directory"):
        hwflow.open_sweep(tmp_path)


def test_open_sweep_of_an_evaluate_sweep_is_its_csv(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text("kind: evaluate\nbase:\n  model: digits-cnn\n"
                                         "  accelerator: spatial-256\n  level: mid\n"
                                         "grid:\n  bits: [8, 4]\n")
    code, _, err = run("sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"),
                       "--no-plots")
    assert code == 0, err
    s = hwflow.open_sweep(tmp_path / "out")
    pd.testing.assert_frame_equal(s.results, pd.read_csv(tmp_path / "out" / "sweep.csv"))
    assert len(s.results) == 2 and s.runs == {} and list(s.front.columns) == ["point"]
    assert list(s.results["w_bits"]) == ["16 8 8 8 16", "16 4 4 4 16"]
