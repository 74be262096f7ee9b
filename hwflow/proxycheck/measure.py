"""Measure a proxy check: ψ at every budget and the retrain accuracy, K seeds each.

Each (budget, seed) is one ``AccuracySettings`` and each retrain seed one more (with
``RetrainEvaluator`` as the source), dispatched like a search's ψ: in this process, or as
tasks on local worker processes or a Dask cluster, all on one client. Every result goes
into the accuracy cache as it is computed, so a stopped check measures only what is missing
when run again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.accuracy.retrain import RetrainEvaluator
from hwflow.dispatch.in_process import InProcess
from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.proxycheck.sampling import Sample

Source = Callable[[AccuracySettings], AccuracyEvaluator]


@dataclass(frozen=True)
class Measurements:
    samples: list[Sample]
    budgets: tuple[float, ...]
    psi: dict[float, np.ndarray]  # budget -> (seeds, samples) validation accuracy
    seconds_per_psi: dict[float, float]  # budget -> mean training seconds of one ψ
    retrain: np.ndarray  # (seeds, samples) test accuracy after training from scratch
    retrain_epochs: float


class Dispatches:
    """One dispatch per settings; with workers or a scheduler they share one Dask client."""

    def __init__(self, threads: int | None, workers: int | None, scheduler: str | None) -> None:
        self.threads, self.workers, self.scheduler = threads, workers, scheduler
        self._first = None

    def open(self, settings: AccuracySettings, source: Source) -> AccuracyDispatch:
        if self.workers is None and self.scheduler is None:
            from hwflow.accuracy.train import use_threads

            use_threads(self.threads)
            return InProcess(source(settings))
        from hwflow.dispatch.cluster import DaskDispatch, WorkerJob, open_dispatch

        if self._first is None:
            self._first = open_dispatch(settings, self.threads, self.workers, self.scheduler,
                                        source=source)
            return self._first
        return DaskDispatch(self._first.client, WorkerJob(settings, self.threads, source))

    def close(self) -> None:
        if self._first is not None:
            self._first.close()


def _measure(dispatch: AccuracyDispatch, local: AccuracyEvaluator, samples: list[Sample],
             on_result: Callable[[], None]) -> tuple[np.ndarray, float]:
    """(accuracy per sample, mean stored training seconds of one evaluation)."""
    strategies = [s.strategy for s in samples]
    accuracy = np.zeros(len(samples))
    for i, result in dispatch.run(strategies):
        accuracy[i] = result.accuracy
        on_result()
    seconds = [stored.seconds for s in strategies
               if (stored := local.store.get(local.strategy_key(s))) is not None]
    return accuracy, float(np.mean(seconds)) if seconds else 0.0


def measure(base: AccuracySettings, samples: list[Sample], budgets: tuple[float, ...],
            seeds: int, retrain_epochs: float, dispatches: Dispatches,
            progress: Callable[[str, int, int], None] | None = None) -> Measurements:
    """ψ at each budget and the retrain accuracy, seeds ``base.seed`` .. ``+ seeds - 1``."""
    jobs: list[tuple[str, AccuracySettings, Source]] = []
    for epochs in budgets:
        jobs += [(f"ψ {epochs:g} epoch, seed {base.seed + k}",
                  replace(base, epochs=epochs, seed=base.seed + k, seeds=1), AccuracyEvaluator)
                 for k in range(seeds)]
    jobs += [(f"retrain {retrain_epochs:g} epochs, seed {base.seed + k}",
              replace(base, epochs=retrain_epochs, seed=base.seed + k, seeds=1), RetrainEvaluator)
             for k in range(seeds)]
    total = len(jobs) * len(samples)
    done = 0
    results: list[tuple[np.ndarray, float]] = []
    for label, settings, source in jobs:
        def step(label: str = label) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(label, done, total)

        results.append(_measure(dispatches.open(settings, source), source(settings), samples,
                                step))
    psi = {epochs: np.array([a for a, _ in results[b * seeds:(b + 1) * seeds]])
           for b, epochs in enumerate(budgets)}
    seconds = {epochs: float(np.mean([t for _, t in results[b * seeds:(b + 1) * seeds]]))
               for b, epochs in enumerate(budgets)}
    retrain = np.array([a for a, _ in results[len(budgets) * seeds:]])
    return Measurements(samples, tuple(budgets), psi, seconds, retrain, retrain_epochs)
