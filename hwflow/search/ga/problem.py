"""The pymoo problem: integer genomes in, objectives F and constraints G out.

Vectorized (one call per generation) so a generation's accuracy evaluations can be handed
out together. The problem's ``fitness`` is live state (the run store, the accuracy
dispatch), kept out of checkpoints by pymoo's ``exclude_from_serialization``; a resumed
session attaches its own problem (``hwflow.search.ga.checkpoint``).
"""

from __future__ import annotations

import numpy as np
from pymoo.core.problem import Problem

from hwflow.search.fitness import Fitness


class BitwidthProblem(Problem):
    def __init__(self, fitness: Fitness) -> None:
        genome, scoring = fitness.genome, fitness.scoring
        super().__init__(n_var=genome.n_var, n_obj=scoring.n_obj,
                         n_ieq_constr=len(scoring.constraints), xl=genome.xl, xu=genome.xu,
                         vtype=int, exclude_from_serialization=["fitness"])
        self.fitness = fitness
        self.gene_locus = genome.gene_locus  # read by the operators

    def _evaluate(self, X, out, *args, **kwargs):
        evaluations = self.fitness.evaluate(np.asarray(X))
        metrics = self.fitness.metrics(evaluations)
        scoring = self.fitness.scoring
        out["F"] = _finite(scoring.F(metrics))
        G = scoring.G(metrics)
        if G is not None:
            out["G"] = _finite(G)


# An accelerator that cannot map a layer has infinite costs (and SOGA's log of them is
# not finite either); pymoo's sorting and violation sums want finite numbers: the worst.
_WORST = 1e30


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, _WORST)
