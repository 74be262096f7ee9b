"""Search quality on a space small enough to enumerate (4 layers, 3 bitwidths, w and a
independent: 3^8 = 6561 genomes): NSGA-II against the exhaustive front and random search
with the same number of evaluations; SOGA against the exhaustive optimum of Eq. 1."""

from __future__ import annotations

import numpy as np
import pytest
from pymoo.optimize import minimize

from hwflow.dispatch.in_process import InProcess
from hwflow.runs.front import hypervolume, non_dominated
from hwflow.runs.store import RunStore
from hwflow.search.costs import HardwareTable
from hwflow.search.fitness import Fitness
from hwflow.search.ga.algorithms import make_algorithm
from hwflow.search.ga.problem import BitwidthProblem
from hwflow.search.ga.soga import SogaScoring, soga_fitness
from hwflow.search.objectives import Scoring
from hwflow.search.space.genome import BitGenome
from tests.conftest import make_accel
from tests.search_helpers import ProxyAccuracy, proxy_accuracy, tiny_workload

WORKLOAD = tiny_workload(4)
ACCEL = make_accel()
GENOME = BitGenome.for_layers("tiny", WORKLOAD.layer_names, (8, 4, 2), tied=False,
                              keep_ends=False, end_bits=16)
TABLE = HardwareTable(WORKLOAD, ACCEL, "mid")
EVERY = GENOME.all_genomes()


def metrics_of(X: np.ndarray, with_accuracy: bool) -> dict[str, np.ndarray]:
    metrics = TABLE.totals(*GENOME.bits(X))
    if with_accuracy:
        metrics["accuracy"] = np.array([proxy_accuracy(GENOME.strategy(x)) for x in X])
    return metrics


def search(scoring: Scoring, algorithm: str, pop: int, gens: int, seed: int, tmp_path):
    accuracy = InProcess(ProxyAccuracy()) if scoring.uses_accuracy else None
    with RunStore(tmp_path / f"{algorithm}-{seed}.sqlite") as store:
        fitness = Fitness(GENOME, TABLE, store, "mid", scoring, accuracy)
        result = minimize(BitwidthProblem(fitness), make_algorithm(algorithm, pop),
                          ("n_gen", gens), seed=seed)
        return result.pop.get("X"), store.count("mid")


class FrontScale:
    """Hypervolume normalized to the exhaustive front's ideal and nadir (reference 1.1)."""

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        F = scoring.front_values(metrics_of(EVERY, scoring.uses_accuracy))
        front = F[non_dominated(F)]
        self.lo, self.span = front.min(axis=0), np.ptp(front, axis=0)
        self.span[self.span == 0] = 1.0
        self.best = self(EVERY)

    def __call__(self, X: np.ndarray) -> float:
        F = self.scoring.front_values(metrics_of(X, self.scoring.uses_accuracy))
        points = (F[non_dominated(F)] - self.lo) / self.span
        return hypervolume(points, np.full(F.shape[1], 1.1))


def random_search_hv(scale: FrontScale, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return scale(EVERY[rng.choice(len(EVERY), size=n, replace=False)])


def test_hardware_only_nsga2_finds_the_exhaustive_front_and_beats_random(tmp_path):
    scale = FrontScale(Scoring(("energy", "latency_cycles")))
    for seed in (0, 1):
        X, evaluations = search(scale.scoring, "nsga2", 20, 20, seed, tmp_path)
        assert evaluations < 0.06 * len(EVERY)
        hv = scale(X)
        assert hv >= 0.95 * scale.best
        assert hv > random_search_hv(scale, evaluations, seed)


def test_three_objective_nsga2_reaches_95_percent_of_the_exhaustive_hypervolume(tmp_path):
    # accuracy (a closed-form proxy that falls with fewer bits) against energy and latency:
    # a real 3-D trade-off with about a hundred non-dominated genomes
    scale = FrontScale(Scoring(("accuracy", "energy", "latency_cycles")))
    for seed in (0, 1, 2):
        X, evaluations = search(scale.scoring, "nsga2", 40, 25, seed, tmp_path)
        assert evaluations < 0.11 * len(EVERY)
        hv = scale(X)
        assert hv >= 0.95 * scale.best
        assert hv > random_search_hv(scale, evaluations, seed)


def test_soga_fitness_is_equation_1():
    # t = 0.05, ψ* = 0.9: a drop of 0.02 keeps 60% of log(φ*/φ); a drop of t keeps none
    assert soga_fitness(0.88, 1.0, 0.9, np.e, 0.05) == pytest.approx(0.6)
    assert soga_fitness(0.85, 1.0, 0.9, np.e, 0.05) == pytest.approx(0.0)
    assert soga_fitness(0.80, 1.0, 0.9, np.e ** 2, 0.05) == pytest.approx(-2.0)
    assert soga_fitness(0.9, 4.0, 0.9, 4.0, 0.05) == 0.0  # the uncompressed network


def test_soga_finds_the_best_eq1_fitness(tmp_path):
    reference = TABLE.totals(np.full((1, 4), 16), np.full((1, 4), 16))["energy"][0]
    scoring = SogaScoring(("accuracy", "energy"), threshold=0.05, psi_star=0.98,
                          phi_star=reference)
    best = scoring.fitness(metrics_of(EVERY, True)).max()
    X, evaluations = search(scoring, "soga", 20, 20, 0, tmp_path)
    found = scoring.fitness(metrics_of(X, True)).max()
    assert evaluations < 0.06 * len(EVERY)
    assert found >= 0.97 * best
    algorithm = make_algorithm("soga", 20)
    assert algorithm.mating.selection.pressure == 2  # binary tournaments
    assert algorithm.n_offsprings == 20  # m offspring from m tournaments
