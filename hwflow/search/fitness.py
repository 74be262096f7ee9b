"""Fitness of a batch of genomes: served from run.sqlite, or computed and stored at once.

Hardware metrics come from the per-layer tables (all genomes of a batch at once, locally),
or, when accelerator genes are searched, from each individual's own accelerator
(``AcceleratorCosts``); accuracy, when the experiment needs it, from the accuracy dispatch,
one result at a time as each finishes. An individual whose accelerator cannot map a layer
is not fine-tuned (status ``unmappable``). Each new evaluation is committed before the
next is started, so a killed run loses at most the one in flight, and nothing stored is
ever evaluated again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.runs.store import Evaluation, RunStore
from hwflow.search.costs import CostTable
from hwflow.search.objectives import Scoring, one_row, per_frame
from hwflow.search.space.genome import BitGenome, genome_key


@dataclass
class FitnessStats:
    evaluated: int = 0  # computed by this process
    cache_hits: int = 0  # served from run.sqlite (or an accuracy cache)


class Fitness:
    def __init__(self, genome: BitGenome, table: CostTable,
                 store: RunStore, level: str,
                 scoring: Scoring, accuracy: AccuracyDispatch | None = None,
                 on_evaluation=None) -> None:
        if scoring.uses_accuracy and accuracy is None:
            raise ValueError("the scoring needs accuracy but no accuracy evaluator was given")
        self.genome, self.table, self.store, self.level = genome, table, store, level
        self.scoring, self.accuracy = scoring, accuracy
        self.on_evaluation = on_evaluation  # called with the stats after each new evaluation
        self.stats = FitnessStats()
        self._known: dict[str, Evaluation] = {}
        # a searched batch: objectives and constraints compare individuals per frame
        self.per_frame = "batch" in dict(genome.accel_loci)

    def evaluate(self, X: np.ndarray) -> list[Evaluation]:
        """The evaluation of every row of X, in order."""
        X = np.asarray(X, dtype=int).reshape(-1, self.genome.n_var)
        keys = [genome_key(x) for x in X]
        unknown = [k for k in dict.fromkeys(keys) if k not in self._known]
        found = self.store.find(self.level, unknown)
        self._known.update(found)
        self.stats.cache_hits += sum(1 for k in keys if k in found)
        todo = [k for k in unknown if k not in found]
        if todo:
            row_of = {k: i for i, k in reversed(list(enumerate(keys)))}
            self._compute(todo, X[[row_of[k] for k in todo]])
        return [self._known[k] for k in keys]

    def _compute(self, keys: list[str], X: np.ndarray) -> None:
        start = time.perf_counter()
        w, a = self.genome.bits(X)
        hw, genes = self.table.network_costs(w, a, self.genome.accel_part(X))
        hw_seconds = (time.perf_counter() - start) / len(keys)
        rows = []
        for j, key in enumerate(keys):
            metrics = {m: float(v[j]) for m, v in hw.items()}
            mapped = not metrics.get("unmapped_layers")
            rows.append(dict(level=self.level, genome=key, w_bits=w[j], a_bits=a[j],
                             metrics=metrics, wall_s=hw_seconds,
                             status="ok" if mapped else "unmappable", accel_genes=genes[j]))
        if self.accuracy is None or not self.scoring.uses_accuracy:
            done = self.store.add_many([self._scored(r) for r in rows])
            self._remember(done)
            return
        unmappable = [r for r in rows if r["status"] == "unmappable"]
        for row in unmappable:  # infeasible whatever its accuracy: not worth a fine-tune
            row["metrics"]["accuracy"] = 0.0
        if unmappable:
            self._remember(self.store.add_many([self._scored(r) for r in unmappable]))
        todo = [j for j, r in enumerate(rows) if r["status"] != "unmappable"]
        strategies = [self.genome.strategy(X[j]) for j in todo]
        for i, result in self.accuracy.run(strategies):
            j = todo[i]
            row = rows[j]
            row["metrics"]["accuracy"] = float(result.accuracy)
            row["wall_s"] += float(result.seconds)
            row["status"] = result.status
            self.stats.cache_hits += bool(result.cached)
            self._remember([self.store.add(**self._scored(row))])

    def _scored(self, row: dict) -> dict:
        metrics = one_row(row["metrics"])
        if self.per_frame:
            metrics = per_frame(metrics, row["accel_genes"]["batch"])
        row["objectives"] = {m: float(metrics[m][0]) for m in self.scoring.objectives}
        G = self.scoring.G(metrics)
        row["constraints"] = ({c.name: float(G[0, i]) for i, c in enumerate(self.scoring.constraints)}
                              if G is not None else {})
        return row

    def _remember(self, done: list[Evaluation]) -> None:
        for e in done:
            self._known[e.genome] = e
            self.stats.evaluated += 1
            if self.on_evaluation is not None:
                self.on_evaluation(self.stats)

    def metrics(self, evaluations: list[Evaluation]) -> dict[str, np.ndarray]:
        """Column arrays of the metrics the scoring reads."""
        names = set(self.scoring.objectives) | {c.metric for c in self.scoring.constraints}
        metrics = {m: np.array([e.metrics[m] for e in evaluations], dtype=float) for m in names}
        if self.per_frame:
            metrics = per_frame(metrics, [e.accel_genes["batch"] for e in evaluations])
        return metrics
