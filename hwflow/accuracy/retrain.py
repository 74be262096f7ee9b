"""The retrain-from-scratch test accuracy, cached and served like ψ.

``RetrainEvaluator`` is an ``AccuracyEvaluator`` whose ``evaluate`` trains each strategy
from scratch for ``settings.epochs`` (train + validation) and measures the test split, so
the same dispatch that runs ψ on local processes or a Dask cluster runs retrains too
(``WorkerJob(settings, source=RetrainEvaluator)``). Every result is stored in the accuracy
cache under its own key (kind ``retrain``), with its binomial standard error on the test
split, so a stopped proxy-check never trains one twice.
"""

from __future__ import annotations

import time
from functools import cached_property

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracyResult, digest, layer_bits
from hwflow.accuracy.noise import binomial_se
from hwflow.accuracy.store import StoredResult
from hwflow.strategy import Strategy


class RetrainEvaluator(AccuracyEvaluator):
    @cached_property
    def test_size(self) -> int:
        return len(self.session.splits.test)

    def strategy_key(self, strategy: Strategy) -> str:
        s = self.settings
        return digest({"kind": "retrain", "baseline": self.baseline_key,
                        "epochs": float(s.epochs), "seed": s.seed, "scheme": s.scheme,
                        "layers": layer_bits(strategy)})

    def evaluate_one(self, strategy: Strategy) -> AccuracyResult:
        self.check(strategy)
        s = self.settings

        def compute() -> StoredResult:
            start = time.perf_counter()
            _, outcome = self.session.retrain(strategy, s.scheme, s.epochs, s.seed)
            return StoredResult(outcome.accuracy, outcome.status, time.perf_counter() - start,
                                binomial_se(outcome.accuracy, self.test_size))

        info = self._describe("retrain", epochs=s.epochs, seed=s.seed, scheme=s.scheme,
                              w_bits=list(strategy.w_bits), a_bits=list(strategy.a_bits))
        stored, cached = self.store.compute_once(self.strategy_key(strategy), info, compute)
        return AccuracyResult(stored.accuracy, stored.status, 0.0 if cached else stored.seconds,
                              cached, stored.se)
