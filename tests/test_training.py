"""Training and the evaluator: the acceptance figures on digits, caching, divergence, retrain.

One float digits-cnn baseline is pretrained per test session (a few seconds) in a shared
temporary cache, and test_accuracy_cli.py reuses it.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from hwflow.accuracy import recipes
from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracyResult, AccuracySettings, default_cache_dir
from hwflow.accuracy.recipes import Recipe
from hwflow.accuracy.store import ResultStore, StoredResult
from hwflow.accuracy.train import fit, steps_for
from hwflow.catalog import build_model, load_workload, model_entry
from hwflow.errors import HwflowError
from hwflow.strategy import LayerBits, Strategy, StrategyError, uniform_strategy

WORKLOAD = load_workload("digits-cnn")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> AccuracyEvaluator:
    """An evaluator with a pretrained float baseline (shared by every module of the session)."""
    cache = tmp_path_factory.getbasetemp() / "accuracy-cache"
    evaluator = AccuracyEvaluator(AccuracySettings(model="digits-cnn", cache_dir=str(cache)))
    evaluator.pretrain()
    return evaluator


def uniform(bits: int, a_bits: int | None = None) -> Strategy:
    return uniform_strategy(WORKLOAD, bits, a_bits)


# --- acceptance -------------------------------------------------------------------------------

@pytest.mark.slow
def test_float_baseline_reaches_95_percent(digits: AccuracyEvaluator) -> None:
    assert digits.float_accuracy() >= 0.95
    assert digits.checkpoint_path.exists()


@pytest.mark.slow
def test_8_bit_within_1_5_points_and_2_bit_below_8_bit(digits: AccuracyEvaluator) -> None:
    float_acc = digits.float_accuracy()
    eight, two = digits.evaluate([uniform(8), uniform(2)])
    assert eight.status == two.status == "ok"
    assert eight.accuracy >= float_acc - 0.015
    assert two.accuracy < eight.accuracy


# --- the cache --------------------------------------------------------------------------------

def test_a_strategy_is_never_trained_twice(digits: AccuracyEvaluator) -> None:
    strategy = uniform(6, 4)
    first = digits.evaluate_one(strategy)
    assert not first.cached and first.seconds > 0
    again = digits.evaluate_one(strategy)
    assert again == AccuracyResult(first.accuracy, "ok", 0.0, True, first.se)
    other_process = AccuracyEvaluator(digits.settings)  # a fresh evaluator, the same store
    assert other_process.evaluate_one(strategy).cached


def test_everything_that_changes_the_result_changes_the_key(digits: AccuracyEvaluator) -> None:
    base = digits.strategy_key(uniform(4))
    variants = [replace(digits.settings, epochs=0.5), replace(digits.settings, seed=1),
                replace(digits.settings, scheme="uniform"),
                replace(digits.settings, recipe="synthetic", dataset="synthetic")]
    keys = {AccuracyEvaluator(s).strategy_key(uniform(4)) for s in variants}
    keys |= {digits.strategy_key(uniform(4, 8)), digits.strategy_key(uniform(3))}
    assert base not in keys and len(keys) == 6
    device_only = AccuracyEvaluator(replace(digits.settings, device="cuda"))
    assert device_only.strategy_key(uniform(4)) == base  # where it ran is not what it is


def test_fine_tuning_is_deterministic_for_a_seed_on_cpu(digits: AccuracyEvaluator) -> None:
    baseline = digits._baseline()
    runs = [digits.session.fine_tune(baseline, uniform(3), "dorefa-pact", 0.5, seed=5)
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_fractional_epochs_count_steps() -> None:
    assert steps_for(0.4, 1000, 32) == 12  # 31 full batches per epoch
    assert steps_for(2, 1000, 32) == 62
    assert steps_for(0.001, 1000, 32) == 1 and steps_for(0, 1000, 32) == 0


def _claimant(path: str, key: str, log: str) -> float:
    def compute() -> StoredResult:
        with open(log, "a") as f:
            f.write("trained\n")
        time.sleep(0.5)
        return StoredResult(0.5, "ok", 0.5)

    return ResultStore(path, poll_seconds=0.05).compute_once(key, {}, compute)[0].accuracy


def test_concurrent_processes_train_a_key_once(tmp_path: Path) -> None:
    db, log = str(tmp_path / "r.sqlite"), str(tmp_path / "log")
    ResultStore(db)
    with multiprocessing.get_context("fork").Pool(3) as pool:
        results = pool.starmap(_claimant, [(db, "k", log)] * 3)
    assert results == [0.5] * 3
    assert Path(log).read_text() == "trained\n"


def test_a_dead_owners_claim_is_taken_over(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.sqlite", poll_seconds=0.01)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket
    import sqlite3

    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO claims VALUES (?, ?, ?)",
                   ("k", f"{socket.gethostname()}:{dead.pid}", time.time()))
    result, cached = store.compute_once("k", {}, lambda: StoredResult(0.25, "ok", 1.0))
    assert (result.accuracy, cached) == (0.25, False)


def test_cache_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HWFLOW_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("HWFLOW_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "hwflow"


# --- divergence -------------------------------------------------------------------------------

def test_a_nonfinite_loss_ends_training_as_diverged() -> None:
    from hwflow.accuracy.data import load_splits

    torch.manual_seed(0)
    model = build_model(model_entry("digits-cnn"))
    boom = Recipe("boom", "sgd", lr=1e30, epochs=1, batch_size=32, finetune_lr=1e30,
                  finetune_epochs=1)
    result = fit(model, load_splits("digits", (1, 8, 8), 10).train, boom, epochs=1.0,
                 lr=boom.lr, device=torch.device("cpu"), generator=torch.Generator())
    assert result.diverged and result.steps < steps_for(1.0, 1079, 32)


def test_diverged_strategies_score_zero_and_the_batch_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boom = replace(recipes.RECIPES["synthetic"], name="boom", finetune_lr=1e30)
    monkeypatch.setitem(recipes.RECIPES, "boom", boom)
    evaluator = AccuracyEvaluator(AccuracySettings(
        model="digits-cnn", dataset="synthetic", recipe="boom", cache_dir=str(tmp_path)))
    assert evaluator.float_accuracy() > 0.5  # pretraining uses the sane lr
    results = evaluator.evaluate([uniform(2), uniform(8), uniform(2)])
    assert [(r.accuracy, r.status) for r in results] == [(0.0, "diverged")] * 3
    assert [r.cached for r in results] == [False, False, True]


# --- settings and strategies ------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"scheme": "lsq"}, "unknown quantization scheme 'lsq'"),
    ({"recipe": "fast"}, "unknown recipe 'fast'"),
    ({"dataset": "coco"}, "unknown dataset 'coco'"),
    ({"dataset": "cityscapes"}, "dataset cityscapes is a segmentation set but digits-cnn"),
    ({"epochs": -1.0}, "epochs must be >= 0"),
    ({"model": "lenet"}, "unknown model 'lenet'"),
])
def test_bad_settings_fail_fast(changes: dict, message: str) -> None:
    with pytest.raises(HwflowError, match=message):
        AccuracyEvaluator(replace(AccuracySettings(model="digits-cnn"), **changes))


def test_strategies_must_fit_the_model(digits: AccuracyEvaluator) -> None:
    with pytest.raises(StrategyError, match="not 'digits-cnn'"):
        digits.evaluate_one(replace(uniform(4), model="resnet20"))
    short = Strategy("digits-cnn", uniform(4).layers[:-1])
    with pytest.raises(StrategyError, match=r"missing \['fc'\]"):
        digits.evaluate_one(short)


def test_evaluator_import_does_not_load_torch() -> None:
    code = "import sys, hwflow.accuracy.evaluator; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- retrain ----------------------------------------------------------------------------------

def test_retrain_from_scratch_reports_test_accuracy(tmp_path: Path) -> None:
    evaluator = AccuracyEvaluator(AccuracySettings(
        model="digits-cnn", dataset="synthetic", cache_dir=str(tmp_path)))
    strategy = Strategy("digits-cnn", tuple(LayerBits(l.name, 4, 4) for l in WORKLOAD.layers))
    saved = tmp_path / "w.pt"
    result = evaluator.retrain(strategy, epochs=3, save_to=saved)
    assert result.status == "ok" and result.accuracy > 0.5  # 10 classes: chance is 0.1
    state = torch.load(saved, weights_only=True)
    assert "conv1.input_quant.alpha" in state  # the quantized model, first layer included
    assert not (tmp_path / "checkpoints").exists()  # no float baseline needed
