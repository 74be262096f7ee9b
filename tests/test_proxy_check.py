"""``hwflow proxy-check``: rank statistics by hand, sampling across Frac.OPs, and the command
end to end on digits (tiny budgets): its JSON object, files, resuming, workers, bad input."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hwflow.catalog import load_accelerator, load_workload
from hwflow.cli import main
from hwflow.hw.levels import estimate
from hwflow.proxycheck.sampling import sample_strategies
from hwflow.proxycheck.statistics import (
    BudgetAgreement,
    bootstrap_interval,
    kendall,
    recommend,
    seed_to_seed_tau,
    spearman,
)

BUDGET_KEYS = {"epochs", "kendall_tau", "tau_low", "tau_high", "spearman", "psi_seed_tau",
               "seconds_per_psi"}


# --- statistics, against hand-counted pairs ------------------------------------------------

def test_kendall_and_spearman_by_hand() -> None:
    x, y = np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])
    # pairs: (1,2) (1,3) (1,4) (2,4) (3,4) concordant, (2,3) discordant: (5 - 1) / 6
    assert kendall(x, y) == pytest.approx(4 / 6)
    # rank differences 0, 1, -1, 0: 1 - 6 * 2 / (4 * (16 - 1))
    assert spearman(x, y) == pytest.approx(0.8)
    assert np.isnan(kendall(x, np.ones(4)))  # a constant side ranks nothing


def test_seed_to_seed_tau_is_the_mean_over_pairs() -> None:
    rows = np.array([[1.0, 2, 3, 4], [1.0, 3, 2, 4], [4.0, 3, 2, 1]])
    # pairs: (0,1) 4/6, (0,2) -1, (1,2) -4/6
    assert seed_to_seed_tau(rows) == pytest.approx((4 / 6 - 1 - 4 / 6) / 3)
    assert seed_to_seed_tau(rows[:1]) is None


def test_bootstrap_interval_of_a_perfect_proxy_is_one() -> None:
    truth = np.arange(10.0)
    assert bootstrap_interval(truth[None, :], truth) == pytest.approx((1.0, 1.0))
    noisy = truth + np.random.default_rng(0).normal(0, 3, 10)
    low, high = bootstrap_interval(noisy[None, :], truth)
    assert low < kendall(noisy, truth) < high


def test_recommendation_is_the_cheapest_budget_overlapping_the_best() -> None:
    def budget(epochs: float, tau: float, low: float, high: float) -> BudgetAgreement:
        return BudgetAgreement(epochs, tau, low, high, tau, None, epochs)

    budgets = [budget(0.25, 0.2, -0.1, 0.35), budget(0.5, 0.45, 0.3, 0.6),
               budget(1.0, 0.6, 0.45, 0.75), budget(2.0, 0.55, 0.4, 0.7)]
    assert recommend(budgets) == 0.5  # 0.25's interval ends below the best's start (0.45)
    assert recommend([BudgetAgreement(1.0, None, None, None, None, None, 1.0)]) is None


# --- sampling ------------------------------------------------------------------------------

def test_samples_spread_over_frac_ops_with_the_search_rules() -> None:
    workload, accel = load_workload("digits-cnn"), load_accelerator("spatial-256")
    samples = sample_strategies(workload, accel, 8, seed=3)
    assert len({(s.strategy.w_bits, s.strategy.a_bits) for s in samples}) == 8
    values = [s.frac_ops for s in samples]
    assert values == sorted(values)
    for s in samples:
        assert s.frac_ops == estimate(workload, s.strategy, accel, level="coarse").totals()["frac_ops"]
        assert s.strategy.layers[0].w_bits == s.strategy.layers[-1].a_bits == 16  # ends kept
        assert set(s.strategy.w_bits + s.strategy.a_bits) <= set(accel.supported_bits)
    lowest = min(accel.supported_bits)
    uniform = [16] + [lowest] * (len(workload.layers) - 2) + [16]
    assert samples[0].strategy.w_bits == samples[0].strategy.a_bits == tuple(uniform)
    assert samples[-1].strategy.w_bits == (16,) * len(workload.layers)


# --- the command ---------------------------------------------------------------------------

def proxy_check(cache: Path, out: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, [
        "proxy-check", "--model", "digits-cnn", "--samples", "4", "--seeds", "2",
        "--retrain-epochs", "1", "--threads", "1", "--cache-dir", str(cache),
        "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored_rows(cache: Path) -> dict[str, float]:
    with sqlite3.connect(cache / "accuracy.sqlite") as db:
        return dict(db.execute("SELECT key, created FROM results"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's digits baseline (test_training.py's), nothing else trained."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings

    shared = tmp_path_factory.getbasetemp() / "accuracy-cache"
    AccuracyEvaluator(AccuracySettings(model="digits-cnn", cache_dir=str(shared))).pretrain()
    return shared


@pytest.mark.slow
def test_proxy_check_reports_the_json_object_and_resumes(cache: Path, tmp_path: Path) -> None:
    first = proxy_check(cache, tmp_path / "a", "--epochs", "0.05")
    before = stored_rows(cache)
    report = proxy_check(cache, tmp_path / "b", "--epochs", "0.05,0.1")
    after = stored_rows(cache)
    # what the first run stored is served, not trained again; the new budget is added
    assert {k: after[k] for k in before} == before
    assert len(after) == len(before) + 4 * 2  # 4 strategies x 2 seeds at 0.1 epoch
    assert set(report) == {"budgets", "retrain_seed_tau", "recommended_epochs", "samples"}
    assert report["samples"] == 4 and [b["epochs"] for b in report["budgets"]] == [0.05, 0.1]
    for b in report["budgets"]:
        assert set(b) == BUDGET_KEYS and b["seconds_per_psi"] > 0
    assert report["budgets"][0] == first["budgets"][0]
    assert report["recommended_epochs"] in (0.05, 0.1)
    for name in ("proxy.json", "proxy.csv", "proxy-0.05ep.png", "proxy-0.1ep.png"):
        assert (tmp_path / "b" / name).stat().st_size > 0
    assert json.loads((tmp_path / "b" / "proxy.json").read_text()) == report
    header = (tmp_path / "b" / "proxy.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["sample", "frac_ops", "w_bits", "a_bits"]
    assert "psi_0.1ep_seed1" in header and header[-1] == "retrain_mean"


@pytest.mark.slow
def test_local_workers_measure_what_the_process_does(cache: Path, tmp_path: Path) -> None:
    copies = []
    for name in ("in-process", "workers"):
        copy = tmp_path / name
        shutil.copytree(cache, copy)
        copies.append(copy)
    here = proxy_check(copies[0], tmp_path / "p", "--epochs", "0.07")
    there = proxy_check(copies[1], tmp_path / "w", "--epochs", "0.07", "--workers", "2")
    for report in (here, there):  # seconds differ with the machine's load
        for b in report["budgets"]:
            b.pop("seconds_per_psi")
    assert here == there
    assert set(stored_rows(copies[0])) == set(stored_rows(copies[1]))


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0.5,x"], "--epochs '0.5,x': give fine-tune budgets as numbers"),
    (["--epochs", "0,1"], "give distinct budgets > 0"),
    (["--samples", "2"], "--samples"),
    (["--workers", "2", "--scheduler", "tcp://x:1"], "give one"),
])
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["proxy-check", "--model", "digits-cnn", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU path of "
                    "proxy-check (ResNet20, synthetic CIFAR-shaped data) is not exercised")
def test_gpu_smoke_resnet20_on_synthetic_cifar(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [
        "proxy-check", "--model", "resnet20", "--dataset", "synthetic", "--device", "cuda",
        "--samples", "3", "--seeds", "1", "--epochs", "0.1", "--retrain-epochs", "0.2",
        "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["samples"] == 4 and report["budgets"][0]["seconds_per_psi"] > 0


@pytest.mark.slow
def test_proxy_check_runs_for_a_segmentation_model_and_resumes(tmp_path: Path) -> None:
    """Issue 14: proxy-check works for a segmentation model as for a classifier: psi and the
    retrains are mean IoUs (fractions in [0, 1]) on SYNTHETIC segmentation data, and a rerun is
    served from the cache without training anything again."""
    def run(out: Path) -> dict:
        result = CliRunner().invoke(main, [
            "proxy-check", "--model", "deeplabv3-small", "--dataset", "synthetic-seg",
            "--accelerator", "eyeriss-1024", "--samples", "3", "--seeds", "2",
            "--epochs", "0.05", "--retrain-epochs", "1", "--threads", "1",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    report = run(tmp_path / "a")
    before = stored_rows(tmp_path / "cache")
    assert set(report) == {"budgets", "retrain_seed_tau", "recommended_epochs", "samples"}
    assert report["samples"] == 3 and set(report["budgets"][0]) == BUDGET_KEYS
    rows = (tmp_path / "a" / "proxy.csv").read_text().splitlines()
    header = rows[0].split(",")
    scores = [float(v) for line in rows[1:] for k, v in zip(header, line.split(","))
              if k.startswith(("psi_", "retrain_"))]
    assert len(scores) == 3 * (2 + 3) and all(0.0 <= s <= 1.0 for s in scores)
    again = run(tmp_path / "b")
    assert stored_rows(tmp_path / "cache") == before  # nothing trained again
    assert again["budgets"][0]["kendall_tau"] == report["budgets"][0]["kendall_tau"]
