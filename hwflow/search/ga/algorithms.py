"""The two search algorithms as stock pymoo algorithms with the paper's operators."""

from __future__ import annotations

import numpy as np
from pymoo.core.sampling import Sampling
from pymoo.operators.sampling.rnd import IntegerRandomSampling

from hwflow.search.ga.operators import AlleleMutation, LocusPointCrossover
from hwflow.search.ga.soga import soga_algorithm


class SeededSampling(Sampling):
    """The initial population: the given genomes first (a refined flow stage starts from
    the front of the stage above, as HW-FlowQ's refinement does), random integer genomes for the rest."""

    def __init__(self, seeds: np.ndarray) -> None:
        super().__init__()
        self.seeds = np.asarray(seeds, dtype=int)

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
        seeds = self.seeds.reshape(-1, problem.n_var)[:n_samples]
        rest = n_samples - len(seeds)
        if rest <= 0:
            return seeds
        fill = IntegerRandomSampling()._do(problem, rest, random_state=random_state)
        return np.vstack([seeds, fill]).astype(int)


def make_algorithm(kind: str, population: int, mutation_prob: float = 0.4,
                   seeds: np.ndarray | None = None):
    """``nsga2``: NSGA-II (non-dominated sorting and crowding survival); ``soga``: the
    single-objective GA. Both: integer random sampling (after ``seeds``, when given),
    single-point crossover between loci with probability 1, allele mutation with
    ``mutation_prob``, duplicates eliminated."""
    crossover, mutation = LocusPointCrossover(prob=1.0), AlleleMutation(mutation_prob)
    sampling = IntegerRandomSampling() if seeds is None or not len(seeds) else SeededSampling(seeds)
    if kind == "soga":
        return soga_algorithm(population, crossover, mutation, sampling)
    if kind != "nsga2":
        raise ValueError(f"unknown algorithm {kind!r}; choose nsga2 or soga")
    from pymoo.algorithms.moo.nsga2 import NSGA2

    return NSGA2(pop_size=population, sampling=sampling, crossover=crossover,
                 mutation=mutation, eliminate_duplicates=True)
