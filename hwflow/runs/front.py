"""Front selection (HW-FlowQ's genetic search): the non-dominated set, its hypervolume, and the leaders.

The array functions take objective values in minimization form (accuracy negated), one
row per solution, one column per objective; ``front_of``, ``front_hypervolume`` and
``pick_leaders`` apply them to a run's stored evaluations.

- hypervolume leader: normalize the front (min–max per objective), take the worst value of
  each objective as the reference point, pick the member farthest from it (Euclidean);
- accuracy leader: the most accurate member (without an accuracy objective: the least
  compressed, i.e. the most bits on average);
- compression leader: the member best on the first hardware objective.
Ties go to the next objective in order, then to the earlier row, so picks are stable.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from hwflow.metrics import MAXIMIZED
from hwflow.runs.store import Evaluation

HV_REFERENCE = 1.1  # in hv_normalize's units: 10% beyond the uncompressed network


def non_dominated(F: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Indices of the non-dominated rows among the feasible ones; when none is feasible,
    the rows of least violation are all there is (pass them as ``feasible``)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    F = np.asarray(F, dtype=float)
    idx = np.arange(len(F)) if feasible is None else np.flatnonzero(feasible)
    if idx.size == 0:
        return idx
    front = NonDominatedSorting().do(F[idx], only_non_dominated_front=True)
    return np.sort(idx[front])


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """pymoo's hypervolume of ``points`` (already normalized) against ``ref``."""
    from pymoo.indicators.hv import HV

    points = np.asarray(points, dtype=float)
    inside = np.all(points < ref, axis=1)
    if not inside.any():
        return 0.0
    return float(HV(ref_point=np.asarray(ref, dtype=float))(points[inside]))


def _lexi_best(columns: list[np.ndarray]) -> int:
    """Row minimizing the first column, ties broken by the next ones, then by row."""
    order = np.lexsort(tuple(reversed([np.asarray(c) for c in columns])))
    return int(order[0])


def hv_leader(F: np.ndarray) -> int:
    F = np.asarray(F, dtype=float)
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    normalized = (F - lo) / span
    worst = normalized.max(axis=0)
    distance = np.linalg.norm(normalized - worst, axis=1)
    return _lexi_best([-distance] + [F[:, j] for j in range(F.shape[1])])


def accuracy_leader(F: np.ndarray, objectives: tuple[str, ...], mean_bits: np.ndarray) -> int:
    F = np.asarray(F, dtype=float)
    cols = [F[:, j] for j in range(F.shape[1])]
    if "accuracy" in objectives:
        j = objectives.index("accuracy")
        return _lexi_best([cols[j]] + [c for i, c in enumerate(cols) if i != j])
    return _lexi_best([-np.asarray(mean_bits, dtype=float)] + cols)


def compression_leader(F: np.ndarray, objectives: tuple[str, ...]) -> int:
    F = np.asarray(F, dtype=float)
    hardware = [j for j, m in enumerate(objectives) if m != "accuracy"]
    first = hardware[0] if hardware else 0
    others = [j for j in range(F.shape[1]) if j != first]
    return _lexi_best([F[:, first]] + [F[:, j] for j in others])


def hv_normalize(front: np.ndarray, objectives: tuple[str, ...],
                 reference: Mapping[str, float]) -> np.ndarray:
    """Map minimization-form objective values to fixed scales for a hypervolume that is
    comparable across generations: accuracy as its error 1 − ψ, each hardware metric as a
    fraction of the uncompressed network's (``reference``)."""
    cols = []
    for j, m in enumerate(objectives):
        if m in MAXIMIZED:
            cols.append(1.0 + front[:, j])  # front holds −ψ
        else:
            scale = reference[m] if reference[m] and math.isfinite(reference[m]) else 1.0
            cols.append(front[:, j] / scale)
    return np.column_stack(cols)


# --- over stored evaluations (a run's population) ---------------------------------------

def minimization(evaluations: list[Evaluation], objectives: tuple[str, ...]) -> np.ndarray:
    """(n, objectives) in minimization form (accuracy negated)."""
    return np.array([[-e.objectives[m] if m in MAXIMIZED else e.objectives[m]
                      for m in objectives] for e in evaluations], dtype=float).reshape(
        len(evaluations), len(objectives))


def violation(e: Evaluation) -> float:
    return float(sum(max(0.0, g) for g in e.constraints.values()))


def front_of(evaluations: list[Evaluation], objectives: tuple[str, ...]) -> list[Evaluation]:
    """The feasible non-dominated set, distinct genomes only, ordered by id; when nothing
    is feasible, the non-dominated ones among the least violating."""
    unique = list({e.id: e for e in evaluations}.values())
    if not unique:
        return []
    cv = np.array([violation(e) for e in unique])
    pool = cv == 0 if (cv == 0).any() else cv == cv.min()
    idx = non_dominated(minimization(unique, objectives), pool)
    return sorted((unique[i] for i in idx), key=lambda e: e.id)


def front_hypervolume(front: list[Evaluation], objectives: tuple[str, ...],
                      reference: dict[str, float]) -> float:
    feasible = [e for e in front if violation(e) == 0]
    if not feasible:
        return 0.0
    points = hv_normalize(minimization(feasible, objectives), objectives, reference)
    return hypervolume(points, np.full(len(objectives), HV_REFERENCE))


def pick_leaders(front: list[Evaluation], objectives: tuple[str, ...]) -> dict[str, Evaluation]:
    F = minimization(front, objectives)
    mean_bits = np.array([np.mean(e.w_bits + e.a_bits) for e in front])
    return {"hv-leader": front[hv_leader(F)],
            "accuracy-leader": front[accuracy_leader(F, objectives, mean_bits)],
            "compression-leader": front[compression_leader(F, objectives)]}
