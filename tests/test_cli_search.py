"""`hwflow search / export / plot` from the outside: the run directory contract, exported
strategies that `hwflow evaluate` reproduces exactly, and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hwflow.catalog import load_workload
from hwflow.cli import main
from hwflow.runs.store import RunLock

EXPERIMENT = """\
model: resnet20
accelerator: spatial-256
level: {level}
objectives: [{objectives}]
constraints: {{latency_cycles_max: 70000}}
bits: [8, 4]
population: 6
generations: 3
seed: 1
"""
RUN_FILES = ("run.sqlite", "pareto.csv", "history.csv", "strategies/hv-leader.yaml",
             "strategies/accuracy-leader.yaml", "strategies/compression-leader.yaml",
             "plots/front.png", "plots/hypervolume.png", "plots/bitwidths.png")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def mid_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mid")
    exp = folder / "exp.yaml"
    exp.write_text(EXPERIMENT.format(level="mid", objectives="energy, latency_cycles, dram_bytes"))
    code, out, err = run("search", str(exp), "--out", str(folder / "run"))
    assert code == 0, err
    assert "files written under" in out and "pareto.csv" in out and "hv-leader" in out
    return folder / "run"


def test_run_directory_contract(mid_run):
    for name in RUN_FILES:
        assert (mid_run / name).is_file(), name
    layers = load_workload("resnet20").layer_names
    with (mid_run / "pareto.csv").open() as f:
        rows = list(csv.reader(f))
    expected = ["id", "level", "energy", "latency_cycles", "dram_bytes"]
    for name in layers:
        expected += [f"w_bits.{name}", f"a_bits.{name}"]
    assert rows[0] == expected
    assert len(rows) > 1 and all(r[1] == "mid" for r in rows[1:])
    assert all(r[5] == r[6] == "16" for r in rows[1:])  # first layer kept at 16 bit
    with (mid_run / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    assert list(history[0]) == ["level", "generation", "hypervolume", "front_size", "evaluations"]
    assert [int(h["generation"]) for h in history] == [1, 2, 3]
    evaluations = [int(h["evaluations"]) for h in history]
    assert evaluations == sorted(evaluations) and evaluations[0] == 6

    db = sqlite3.connect(mid_run / "run.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    stored = db.execute("SELECT genome, level, objectives, constraints, wall_s, status "
                        "FROM evaluations").fetchall()
    assert len(stored) == evaluations[-1]
    genome, level, objectives, constraints, wall_s, status = stored[0]
    assert level == "mid" and status == "ok" and wall_s >= 0
    assert len(genome.split(",")) == len(layers) - 2  # spatial-256 ties b_W = b_A: one gene
    assert set(json.loads(objectives)) == {"energy", "latency_cycles", "dram_bytes"}
    assert set(json.loads(constraints)) == {"latency_cycles_max"}
    per_generation = db.execute("SELECT generation, COUNT(*) FROM populations "
                                "GROUP BY generation").fetchall()
    assert per_generation == [(1, 6), (2, 6), (3, 6)]
    db.close()


def test_front_members_are_feasible_and_non_dominated(mid_run):
    with (mid_run / "pareto.csv").open() as f:
        front = [(float(r["energy"]), float(r["latency_cycles"]), float(r["dram_bytes"]))
                 for r in csv.DictReader(f)]
    assert all(p[1] <= 70000 for p in front)
    for p in front:
        assert not any(all(q[i] <= p[i] for i in range(3)) and q != p for q in front)


@pytest.mark.parametrize("pick", ["hv-leader", "accuracy-leader", "compression-leader"])
def test_exported_strategy_reproduces_its_stored_hardware_numbers_exactly(mid_run, tmp_path, pick):
    target = tmp_path / f"{pick}.yaml"
    code, _, err = run("export", str(mid_run), "--pick", pick, "-o", str(target))
    assert code == 0, err
    assert target.read_text() == (mid_run / "strategies" / f"{pick}.yaml").read_text()
    strategy = yaml.safe_load(target.read_text())
    assert {"model", "id", "accelerator", "level", "batch", "metrics", "layers"} <= set(strategy)
    code, out, err = run("evaluate", "--strategy", str(target), "--json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert json.loads(out)["level"] == "mid"
    for metric, value in totals.items():
        assert strategy["metrics"][metric] == value, metric  # exactly, not approximately
    assert strategy["metrics"]["edp"] == totals["energy"] * totals["latency_cycles"]


def test_export_by_id_prints_yaml_and_bad_picks_are_one_line(mid_run):
    with (mid_run / "pareto.csv").open() as f:
        first_id = next(csv.DictReader(f))["id"]
    code, out, _ = run("export", str(mid_run), "--pick", first_id)
    assert code == 0 and yaml.safe_load(out)["id"] == int(first_id)
    code, _, err = run("export", str(mid_run), "--pick", "best")
    assert code == 2 and err.count("\n") == 1 and "hv-leader" in err
    code, _, err = run("export", str(mid_run), "--pick", "99999")
    assert code == 2 and "no evaluation with that id" in err
    code, _, err = run("export", str(mid_run.parent / "nothing"))
    assert code == 2 and "not a run directory" in err


def test_plot_redraws_the_plots(mid_run):
    for png in mid_run.glob("plots/*.png"):
        png.unlink()
    code, out, err = run("plot", str(mid_run))
    assert code == 0, err
    assert sorted(Path(p).name for p in out.split()) == ["bitwidths.png", "front.png",
                                                         "hypervolume.png"]
    assert all((mid_run / "plots" / n).stat().st_size > 1000 for n in ("front.png", "bitwidths.png"))


def test_coarse_run_and_resume_of_a_finished_run(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.format(level="coarse", objectives="frac_ops, dram_bytes"))
    out = tmp_path / "run"
    code, _, err = run("search", str(exp), "--out", str(out), "--no-plots")
    assert code == 0, err
    pareto = (out / "pareto.csv").read_text()
    code, _, err = run("search", str(exp), "--out", str(out))
    assert code == 2 and "already holds a run; add --resume" in err
    code, _, err = run("search", str(exp), "--out", str(out), "--resume", "--no-plots")
    assert code == 0, err
    assert (out / "pareto.csv").read_text() == pareto
    exp.write_text(EXPERIMENT.format(level="coarse", objectives="frac_ops, dram_bytes")
                   .replace("seed: 1", "seed: 2"))
    code, _, err = run("search", str(exp), "--out", str(out), "--resume")
    assert code == 2 and "key 'seed' differs from the run stored" in err


def test_search_errors_are_one_line(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.format(level="coarse", objectives="energy, frac_ops"))
    code, _, err = run("search", str(exp), "--out", str(tmp_path / "a"))
    assert code == 2 and err.count("\n") == 1
    assert str(exp) in err and "key 'objectives'" in err and "coarse level" in err
    exp.write_text(EXPERIMENT.format(level="coarse", objectives="frac_ops, dram_bytes"))
    code, _, err = run("search", str(exp), "--out", str(tmp_path / "b"), "--workers", "2",
                       "--scheduler", "tcp://h:8786")
    assert code == 2 and "--workers and --scheduler: give one" in err
    code, _, err = run("search", str(exp), "--out", str(tmp_path / "c"), "--resume")
    assert code == 2 and "no run to resume" in err
    (tmp_path / "d").mkdir()
    with RunLock(tmp_path / "d"):
        code, _, err = run("search", str(exp), "--out", str(tmp_path / "d"))
    assert code == 2 and f"in use by another hwflow search (pid {os.getpid()})" in err


def test_soga_run_names_the_individual_of_best_fitness(tmp_path):
    exp = tmp_path / "soga.yaml"
    exp.write_text(EXPERIMENT.format(level="coarse", objectives="frac_ops")
                   .replace("constraints: {latency_cycles_max: 70000}\n", "algorithm: soga\n"))
    out = tmp_path / "run"
    code, stdout, err = run("search", str(exp), "--out", str(out), "--no-plots")
    assert code == 0, err
    row = next(line for line in stdout.splitlines() if "best SOGA fitness" in line)
    best_frac_ops = float(row.split("│")[3])
    with (out / "pareto.csv").open() as f:
        front = list(csv.DictReader(f))
    # hardware only, F = log(φ*/φ): the best fitness is the smallest Frac.OPs of the population
    assert front and all(float(r["frac_ops"]) == pytest.approx(best_frac_ops, rel=1e-3)
                         for r in front)
    code, _, err = run("search", str(exp), "--out", str(out), "--resume", "--no-plots")
    assert code == 0, err
