"""Standard errors of ψ: the binomial term, seed averaging, and caches made before them."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace

import pytest

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.accuracy.noise import binomial_se, mean_and_se
from hwflow.accuracy.store import ResultStore, StoredResult
from hwflow.catalog import load_workload
from hwflow.strategy import uniform_strategy

WORKLOAD = load_workload("digits-cnn")
DIGITS_VALIDATION = 359  # scikit-learn's 1797 digits, split 60/20/20 (hwflow.accuracy.data)


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> AccuracyEvaluator:
    cache = tmp_path_factory.getbasetemp() / "accuracy-cache"  # test_training.py's baseline
    evaluator = AccuracyEvaluator(AccuracySettings(model="digits-cnn", cache_dir=str(cache),
                                                   epochs=0.25))
    evaluator.pretrain()
    return evaluator


def test_binomial_standard_error_by_hand() -> None:
    # sqrt(0.98 * 0.02 / 359) = sqrt(5.4596e-5)
    assert binomial_se(0.98, 359) == pytest.approx(0.0073889, abs=1e-6)
    assert binomial_se(1.0, 359) == 0.0 and binomial_se(0.5, 0) == 0.0


def test_seed_spread_adds_in_quadrature() -> None:
    mean, se = mean_and_se([0.90, 0.92], 100)
    # binomial sqrt(.91 * .09 / 100) = 0.028618; seeds' std 0.014142 / sqrt(2) = 0.01
    assert mean == pytest.approx(0.91)
    assert se == pytest.approx(math.hypot(0.028618, 0.01), abs=1e-6)


def test_every_psi_carries_its_binomial_se(digits: AccuracyEvaluator) -> None:
    assert digits.validation_size == DIGITS_VALIDATION
    result = digits.evaluate_one(uniform_strategy(WORKLOAD, 4))
    p = result.accuracy
    assert result.se == pytest.approx(math.sqrt(p * (1 - p) / DIGITS_VALIDATION))
    assert digits.store.get(digits.strategy_key(uniform_strategy(WORKLOAD, 4))).se == result.se


def test_seeds_average_cached_single_fine_tunes(digits: AccuracyEvaluator) -> None:
    strategy = uniform_strategy(WORKLOAD, 2)
    one = [AccuracyEvaluator(replace(digits.settings, seed=s)).evaluate_one(strategy)
           for s in (0, 1, 2)]
    three = AccuracyEvaluator(replace(digits.settings, seeds=3)).evaluate_one(strategy)
    assert three.cached  # every part was trained above
    values = [r.accuracy for r in one]
    mean = sum(values) / 3
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / 2) / math.sqrt(3)
    binomial = math.sqrt(mean * (1 - mean) / DIGITS_VALIDATION)
    assert three.accuracy == pytest.approx(mean)
    assert three.se == pytest.approx(math.sqrt(binomial ** 2 + spread ** 2))
    assert AccuracyEvaluator(replace(digits.settings, seeds=3)).strategy_key(strategy) \
        != digits.strategy_key(strategy)


def test_a_cache_made_before_standard_errors_still_serves(tmp_path) -> None:
    path = tmp_path / "accuracy.sqlite"
    with sqlite3.connect(path) as db:  # the schema as it was
        db.executescript("""
            CREATE TABLE results (key TEXT PRIMARY KEY, info TEXT NOT NULL,
                accuracy REAL NOT NULL, status TEXT NOT NULL, seconds REAL NOT NULL,
                created REAL NOT NULL);
            CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, since REAL NOT NULL);
            INSERT INTO results VALUES ('k', '{}', 0.75, 'ok', 2.0, 0.0);""")
    store = ResultStore(path)
    assert store.get("k") == StoredResult(0.75, "ok", 2.0, None)
    store.put("j", {}, StoredResult(0.5, "ok", 1.0, 0.02))
    assert store.get("j").se == 0.02


def test_an_old_row_gains_its_se_without_training(digits: AccuracyEvaluator, tmp_path) -> None:
    evaluator = AccuracyEvaluator(replace(digits.settings, cache_dir=str(tmp_path)))
    strategy = uniform_strategy(WORKLOAD, 3)
    key = evaluator.strategy_key(strategy)
    evaluator.store.put(key, {}, StoredResult(0.9, "ok", 1.0))  # as an old cache holds it
    result = evaluator.evaluate_one(strategy)
    assert result.cached and result.accuracy == 0.9
    assert result.se == pytest.approx(math.sqrt(0.9 * 0.1 / DIGITS_VALIDATION))
    assert evaluator.store.get(key).se == result.se
