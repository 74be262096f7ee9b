"""The paper's genetic operators as pymoo operators (HW-FlowQ's genetic search).

Both act on loci: a locus is one layer's (b_W, b_A) (one gene when tied) or, later, one
accelerator gene. The problem says which locus each gene belongs to (``gene_locus``);
without it every gene is its own locus.
"""

from __future__ import annotations

import numpy as np
from pymoo.core.crossover import Crossover
from pymoo.core.mutation import Mutation
from pymoo.util.misc import crossover_mask


def _loci(problem) -> np.ndarray:
    loci = getattr(problem, "gene_locus", None)
    return np.arange(problem.n_var) if loci is None else np.asarray(loci)


class AlleleMutation(Mutation):
    """With probability ``prob`` (p_mut, 0.4 in the paper) an individual mutates: one
    random locus (among those with a choice) gets, at one of its genes, a different allowed
    allele drawn uniformly. Everything else is left alone."""

    def __init__(self, prob: float = 0.4) -> None:
        super().__init__(prob=prob)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        X = np.array(X, dtype=int, copy=True)
        xl, xu = (np.asarray(b).astype(int) for b in problem.bounds())
        loci = _loci(problem)
        mutable = np.unique(loci[xu > xl])
        if mutable.size == 0:
            return X
        for row in X:
            locus = random_state.choice(mutable)
            genes = np.flatnonzero((loci == locus) & (xu > xl))
            gene = random_state.choice(genes)
            # a uniform draw among the other values of the gene's range
            value = random_state.integers(xl[gene], xu[gene])
            row[gene] = value + (value >= row[gene])
        return X


class LocusPointCrossover(Crossover):
    """Single-point crossover with the cut between loci, so a layer's (b_W, b_A) pair and
    the patterns of neighbouring layers stay together; two parents, two children."""

    def __init__(self, prob: float = 1.0) -> None:
        super().__init__(n_parents=2, n_offsprings=2, prob=prob)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        _, n_matings, n_var = X.shape
        loci = _loci(problem)
        n_loci = int(loci.max()) + 1 if n_var else 0
        if n_loci < 2:
            return np.copy(X)
        cuts = random_state.integers(1, n_loci, size=n_matings)  # first locus swapped
        mask = loci[None, :] >= cuts[:, None]
        return crossover_mask(X, mask)
