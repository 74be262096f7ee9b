"""Test doubles for parallel evaluation: the search_helpers proxy, cached like the evaluator.

``SlowProxy`` offers what a worker uses of ``AccuracyEvaluator`` (``evaluate``,
``float_accuracy``, ``strategy_key``, ``store``) with the real ``ResultStore`` underneath, so
sharing and claims across worker processes are the evaluator's own. Each computation
sleeps (time to kill a worker mid-evaluation) and logs ``start`` and, once its result is
stored in the cache, ``done``, with the pid of the process that ran it (to prove what was
computed where, and how often).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwflow.accuracy.evaluator import AccuracyResult, AccuracySettings
from hwflow.accuracy.store import ResultStore, StoredResult
from hwflow.strategy import Strategy
from tests.search_helpers import proxy_accuracy


def proxy_key(seed: int, w_bits: Sequence[int], a_bits: Sequence[int]) -> str:
    return f"s{seed}-w{'.'.join(map(str, w_bits))}-a{'.'.join(map(str, a_bits))}"


def read_log(log: str | Path) -> list[tuple[str, int, str]]:
    """(event, pid, key) per line."""
    path = Path(log)
    lines = path.read_text().splitlines() if path.exists() else []
    return [(e, int(p), k) for e, p, k in (line.split() for line in lines)]


class SlowProxy:
    def __init__(self, settings: AccuracySettings, sleep: float, log: str,
                 poison_after: int | None = None) -> None:
        self.settings, self.sleep, self.log = settings, sleep, Path(log)
        self.poison_after = poison_after
        self.store = ResultStore(Path(settings.cache_dir) / "accuracy.sqlite", poll_seconds=0.05)

    def strategy_key(self, strategy: Strategy) -> str:
        return proxy_key(self.settings.seed, strategy.w_bits, strategy.a_bits)

    def float_accuracy(self) -> float:
        return 0.98

    def _note(self, event: str, key: str) -> None:
        with self.log.open("a") as f:
            f.write(f"{event} {os.getpid()} {key}\n")

    def _poisoned(self, key: str) -> bool:
        """With ``poison_after`` N: the first strategy started after N others, and each
        retry of it, kills the worker running it."""
        if self.poison_after is None:
            return False
        events = read_log(self.log)
        poisoned = {k for e, _, k in events if e == "poison"}
        if poisoned:
            return key in poisoned
        started = {k for e, _, k in events if e == "start"}
        return key not in started and len(started) >= self.poison_after

    def evaluate(self, strategies: Sequence[Strategy]) -> list[AccuracyResult]:
        out = []
        for strategy in strategies:
            key = self.strategy_key(strategy)

            def compute(key: str = key, strategy: Strategy = strategy) -> StoredResult:
                if self._poisoned(key):
                    self._note("poison", key)
                    os._exit(1)  # the worker process dies, as an out-of-memory kill would
                self._note("start", key)
                time.sleep(self.sleep)
                return StoredResult(proxy_accuracy(strategy), "ok", self.sleep)

            stored, cached = self.store.compute_once(key, {"proxy": True}, compute)
            if not cached:  # "done" once the result is in the cache; a kill before loses it
                self._note("done", key)
            out.append(AccuracyResult(stored.accuracy, stored.status,
                                      0.0 if cached else stored.seconds, cached))
        return out


@dataclass(frozen=True)
class SlowProxySource:
    """A picklable, hashable ``WorkerJob.source``."""

    sleep: float
    log: str
    poison_after: int | None = None

    def __call__(self, settings: AccuracySettings) -> SlowProxy:
        return SlowProxy(settings, self.sleep, self.log, self.poison_after)


def main(argv: list[str]) -> None:
    """``PYTHONPATH=. python tests/parallel_helpers.py SLEEP LOG -- <hwflow args>``: the real
    CLI, with ``SlowProxy`` standing in for the evaluator on the workers (environment
    ``HWFLOW_TEST_POISON_AFTER=N``: its ``poison_after``)."""
    from hwflow.cli import main as hwflow
    from hwflow.dispatch import cluster

    poison = os.environ.get("HWFLOW_TEST_POISON_AFTER")
    source = SlowProxySource(float(argv[0]), argv[1], int(poison) if poison else None)
    real = cluster.open_dispatch

    def with_proxy(settings, threads=None, workers=None, scheduler=None):
        return real(settings, threads, workers, scheduler, source=source)

    cluster.open_dispatch = with_proxy
    hwflow(argv[argv.index("--") + 1:])


if __name__ == "__main__":  # run with PYTHONPATH at the repository root
    # workers must unpickle tests.parallel_helpers.SlowProxySource, not __main__'s
    from tests.parallel_helpers import main as helper_main

    helper_main(sys.argv[1:])
