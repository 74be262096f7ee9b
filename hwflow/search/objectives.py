"""Metrics, objectives and constraints: from an evaluation's metrics to pymoo's F and G.

Every metric is reported as measured (accuracy as a fraction, maximized; the hardware
metrics minimized). Internally pymoo minimizes, so accuracy enters F negated. A constraint
``<metric>_max`` (or ``accuracy_min``) becomes one inequality g ≤ 0, relative to its bound
so that violations of different metrics are comparable in pymoo's summed violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from hwflow.metrics import MAXIMIZED

Metrics = Mapping[str, np.ndarray]
# Metrics that cover the whole batch, and how: divided by batch**power they are per frame
# (edp = energy x latency, so by batch²). Used when the batch is an accelerator gene, so
# that individuals of different batches compare per frame.
BATCH_POWER: dict[str, int] = {"frac_ops": 1, "dram_bytes": 1, "energy": 1,
                               "latency_cycles": 1, "edp": 2}


@dataclass(frozen=True)
class Constraint:
    metric: str
    bound: float

    @property
    def name(self) -> str:
        return f"{self.metric}_{'min' if self.metric in MAXIMIZED else 'max'}"

    def g(self, metrics: Metrics) -> np.ndarray:
        value = np.asarray(metrics[self.metric], dtype=float)
        if self.metric in MAXIMIZED:
            return self.bound - value
        return (value - self.bound) / abs(self.bound) if self.bound else value


@dataclass(frozen=True)
class Scoring:
    """The front's objectives and the constraints; pymoo's F is the front itself."""

    objectives: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()

    @property
    def n_obj(self) -> int:
        return len(self.objectives)

    @property
    def uses_accuracy(self) -> bool:
        return "accuracy" in self.objectives or any(c.metric == "accuracy" for c in self.constraints)

    def front_values(self, metrics: Metrics) -> np.ndarray:
        """(n, objectives), minimization form (accuracy negated)."""
        return np.column_stack([
            -np.asarray(metrics[m], dtype=float) if m in MAXIMIZED
            else np.asarray(metrics[m], dtype=float) for m in self.objectives])

    def F(self, metrics: Metrics) -> np.ndarray:
        return self.front_values(metrics)

    def G(self, metrics: Metrics) -> np.ndarray | None:
        if not self.constraints:
            return None
        return np.column_stack([c.g(metrics) for c in self.constraints])

    def feasible(self, metrics: Metrics) -> np.ndarray:
        G = self.G(metrics)
        n = len(np.asarray(metrics[self.objectives[0]]))
        return np.ones(n, dtype=bool) if G is None else np.all(G <= 0, axis=1)


# Accelerator co-search: an individual whose accelerator cannot map a layer is infeasible.
MAPPABLE = Constraint("unmapped_layers", 0.0)


def one_row(metrics: Mapping[str, float]) -> dict[str, np.ndarray]:
    return {k: np.asarray([v]) for k, v in metrics.items()}


def per_frame(metrics: Metrics, batch: np.ndarray | float) -> dict[str, np.ndarray]:
    """``metrics`` with the whole-batch ones divided down to one frame."""
    batch = np.asarray(batch, dtype=float)
    return {m: np.asarray(v, dtype=float) / batch ** BATCH_POWER[m] if m in BATCH_POWER
            else np.asarray(v) for m, v in metrics.items()}
