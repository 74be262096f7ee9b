"""The two search algorithms as stock pymoo algorithms with the paper's operators."""

from __future__ import annotations

from hwflow.search.operators import AlleleMutation, LocusPointCrossover
from hwflow.search.soga import soga_algorithm


def make_algorithm(kind: str, population: int, mutation_prob: float = 0.4):
    """``nsga2``: NSGA-II (non-dominated sorting and crowding survival); ``soga``: the
    single-objective GA. Both: integer random sampling, single-point crossover between loci
    with probability 1, allele mutation with ``mutation_prob``, duplicates eliminated."""
    crossover, mutation = LocusPointCrossover(prob=1.0), AlleleMutation(mutation_prob)
    if kind == "soga":
        return soga_algorithm(population, crossover, mutation)
    if kind != "nsga2":
        raise ValueError(f"unknown algorithm {kind!r}; choose nsga2 or soga")
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    return NSGA2(pop_size=population, sampling=IntegerRandomSampling(), crossover=crossover,
                 mutation=mutation, eliminate_duplicates=True)
