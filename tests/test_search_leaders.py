"""Front selection by hand-computed examples: non-dominated set, hypervolume, leaders."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.runs.front import (
    accuracy_leader,
    compression_leader,
    front_hypervolume,
    front_of,
    hv_leader,
    hv_normalize,
    hypervolume,
    non_dominated,
    pick_leaders,
)
from hwflow.runs.store import Evaluation

# minimization form: (−accuracy, energy)
A, B, C, D = (-0.90, 10.0), (-0.85, 4.0), (-0.60, 2.0), (-0.70, 8.0)  # D is dominated by B
F = np.array([A, B, C, D])


def test_non_dominated_drops_dominated_and_infeasible_rows():
    assert non_dominated(F).tolist() == [0, 1, 2]
    assert non_dominated(F, np.array([True, False, True, True])).tolist() == [0, 2, 3]
    assert non_dominated(F, np.zeros(4, bool)).tolist() == []


def test_hv_leader_is_farthest_from_the_worst_corner_of_the_normalized_front():
    front = F[:3]
    # normalized: A (0, 1), B (1/6, 1/4), C (1, 0); worst corner (1, 1)
    # distances: A 1, B sqrt(25/36 + 9/16) = 1.121, C 1
    assert hv_leader(front) == 1
    assert np.hypot(5 / 6, 3 / 4) > 1


def test_hv_leader_ties_go_to_the_first_objective():
    # A and C are both at distance 1 without B; A has the better first objective
    assert hv_leader(np.array([A, C])) == 0


def test_accuracy_and_compression_leaders_are_the_front_extremes():
    front = F[:3]
    assert accuracy_leader(front, ("accuracy", "energy"), np.zeros(3)) == 0
    assert compression_leader(front, ("accuracy", "energy")) == 2
    # without accuracy, the least compressed member (most bits on average) leads accuracy
    hw = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0]])
    assert accuracy_leader(hw, ("energy", "latency_cycles"), np.array([4.0, 8.0, 6.0])) == 1
    assert compression_leader(hw, ("energy", "latency_cycles")) == 1


def test_hypervolume_of_hand_computed_sets():
    ref = np.array([1.0, 1.0])
    assert hypervolume(np.array([[0.5, 0.5]]), ref) == pytest.approx(0.25)
    # two boxes of 0.8 x 0.4 overlapping in 0.4 x 0.4
    assert hypervolume(np.array([[0.2, 0.6], [0.6, 0.2]]), ref) == pytest.approx(0.48)
    assert hypervolume(np.array([[1.2, 0.1]]), ref) == 0.0  # beyond the reference point


def test_hv_normalization_uses_accuracy_error_and_fractions_of_the_reference():
    values = np.array([[-0.9, 50.0]])
    out = hv_normalize(values, ("accuracy", "energy"), {"energy": 200.0})
    assert out.tolist() == [[pytest.approx(0.1), 0.25]]


def _evaluation(i: int, acc: float, energy: float, g: float = -1.0) -> Evaluation:
    return Evaluation(id=i, level="mid", genome=str(i), w_bits=(8,), a_bits=(8,),
                      metrics={"accuracy": acc, "energy": energy},
                      objectives={"accuracy": acc, "energy": energy},
                      constraints={"accuracy_min": g}, wall_s=0.0, status="ok", accel_genes={})


def test_front_of_evaluations_respects_constraints_and_falls_back_to_least_violation():
    objectives = ("accuracy", "energy")
    feasible = [_evaluation(1, 0.9, 10), _evaluation(2, 0.85, 4), _evaluation(3, 0.6, 2, g=0.1)]
    assert [e.id for e in front_of(feasible, objectives)] == [1, 2]
    none_ok = [_evaluation(1, 0.9, 10, g=0.2), _evaluation(2, 0.85, 4, g=0.05),
               _evaluation(3, 0.8, 3, g=0.05)]
    assert [e.id for e in front_of(none_ok, objectives)] == [2, 3]
    assert front_hypervolume(front_of(none_ok, objectives), objectives, {"energy": 10.0}) == 0.0
    leaders = pick_leaders(front_of(feasible, objectives), objectives)
    assert leaders["accuracy-leader"].id == 1 and leaders["compression-leader"].id == 2
