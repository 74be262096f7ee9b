"""SOGA: the single-objective GA of HW-FlowQ (its Eq. 1), on stock pymoo pieces.

Fitness F = (1 − (ψ* − ψ)/t) · log(φ*/φ): ψ*, φ* are the accuracy and the hardware metric
of the uncompressed network, t the tolerated accuracy drop; a drop ≥ t makes F ≤ 0.
Without an accuracy objective the first factor is 1 (hardware-only SOGA). pymoo's GA
minimizes −F with binary tournaments (m tournaments per generation of m offspring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwflow.metrics import HARDWARE_METRICS
from hwflow.search.objectives import Metrics, Scoring


def soga_fitness(psi: np.ndarray | float, phi: np.ndarray | float, psi_star: float,
                 phi_star: float, threshold: float) -> np.ndarray:
    """Eq. 1 of the paper."""
    psi = np.asarray(psi, dtype=float)
    phi = np.asarray(phi, dtype=float)
    return (1.0 - (psi_star - psi) / threshold) * np.log(phi_star / phi)


@dataclass(frozen=True)
class SogaScoring(Scoring):
    """pymoo sees one objective, −F; the reported front keeps ``objectives``."""

    threshold: float = 0.05
    psi_star: float = 1.0  # accuracy of the uncompressed network
    phi_star: float = 1.0  # its hardware metric

    @property
    def metric(self) -> str:
        return next(m for m in self.objectives if m in HARDWARE_METRICS)

    @property
    def n_obj(self) -> int:
        return 1

    def fitness(self, metrics: Metrics) -> np.ndarray:
        phi = metrics[self.metric]
        psi = metrics["accuracy"] if "accuracy" in self.objectives else self.psi_star
        return soga_fitness(psi, phi, self.psi_star, self.phi_star, self.threshold)

    def F(self, metrics: Metrics) -> np.ndarray:
        return -self.fitness(metrics)[:, None]


def _by_violation_then_fitness(pop, P, **kwargs):
    """pymoo's comparison for single-objective tournaments (feasibility first, then F); a
    module-level function so that checkpoints can pickle the algorithm."""
    from pymoo.algorithms.soo.nonconvex.ga import comp_by_cv_and_fitness

    return comp_by_cv_and_fitness(pop, P, **kwargs)


def soga_algorithm(pop_size: int, crossover, mutation, sampling=None):
    """pymoo's GA: integer sampling (or ``sampling``), binary tournaments on (violation,
    fitness), elitist survival of the best ``pop_size``, duplicates eliminated."""
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.operators.selection.tournament import TournamentSelection

    return GA(pop_size=pop_size, sampling=sampling or IntegerRandomSampling(),
              selection=TournamentSelection(func_comp=_by_violation_then_fitness, pressure=2),
              crossover=crossover, mutation=mutation, eliminate_duplicates=True)
