"""The paper's operators as pymoo operators: allele mutation and single-point crossover."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pymoo.core.population import Population
from pymoo.core.problem import Problem

from hwflow.search.ga.operators import AlleleMutation, LocusPointCrossover
from hwflow.search.space.genome import BitGenome


class GenomeSpace(Problem):
    """Just the bounds and loci of a genome (what the operators read)."""

    def __init__(self, genome: BitGenome) -> None:
        super().__init__(n_var=genome.n_var, n_obj=1, xl=genome.xl, xu=genome.xu, vtype=int)
        self.gene_locus = genome.gene_locus


def space(n_layers: int, n_alleles: int, tied: bool) -> GenomeSpace:
    alleles = (16, 8, 6, 4, 2, 1)[:n_alleles]
    names = tuple(f"l{i}" for i in range(n_layers))
    return GenomeSpace(BitGenome.for_layers("m", names, alleles, tied, keep_ends=False, end_bits=16))


genomes = st.builds(space, st.integers(1, 8), st.integers(2, 6), st.booleans())


@settings(max_examples=60, deadline=None)
@given(problem=genomes, seed=st.integers(0, 2**32 - 1))
def test_mutation_changes_exactly_one_gene_of_one_locus_to_another_allowed_allele(problem, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, problem.xu[0] + 1, size=(30, problem.n_var))
    Y = AlleleMutation()._do(problem, X, random_state=rng)
    changed = Y != X
    assert (changed.sum(axis=1) == 1).all()  # one allele, one locus, every row
    assert ((Y >= problem.xl) & (Y <= problem.xu)).all()
    assert np.array_equal(Y[~changed], X[~changed])


def test_mutation_rate_is_p_mut_per_individual():
    problem = space(6, 5, tied=False)
    rng = np.random.default_rng(1)
    n = 20_000
    X = rng.integers(0, 5, size=(n, problem.n_var))
    pop = Population.new("X", X.copy())
    out = AlleleMutation(prob=0.4).do(problem, pop, random_state=rng).get("X")
    rate = (out != X).any(axis=1).mean()
    # binomial(20000, 0.4): standard deviation 0.0035; 5 sigma
    assert abs(rate - 0.4) < 0.0175
    assert ((out != X).sum(axis=1) <= 1).all()


def test_mutation_draws_the_new_allele_uniformly_among_the_others():
    problem = space(1, 4, tied=True)  # one gene, alleles 0..3
    rng = np.random.default_rng(2)
    X = np.zeros((12_000, 1), dtype=int)
    Y = AlleleMutation()._do(problem, X, random_state=rng)
    counts = np.bincount(Y[:, 0], minlength=4)
    assert counts[0] == 0
    assert all(abs(c / 12_000 - 1 / 3) < 0.02 for c in counts[1:])


def test_mutation_leaves_genes_without_choice_alone():
    problem = space(3, 2, tied=True)
    problem.xu = np.array([0.0, 1.0, 0.0])  # only the middle locus has two alleles
    X = np.zeros((50, 3), dtype=int)
    Y = AlleleMutation()._do(problem, X, random_state=np.random.default_rng(0))
    assert (Y[:, [0, 2]] == 0).all() and (Y[:, 1] == 1).all()


@settings(max_examples=60, deadline=None)
@given(problem=genomes, seed=st.integers(0, 2**32 - 1))
def test_crossover_swaps_one_tail_of_whole_loci(problem, seed):
    rng = np.random.default_rng(seed)
    parents = rng.integers(0, problem.xu[0] + 1, size=(2, 10, problem.n_var))
    children = LocusPointCrossover()._do(problem, parents, random_state=rng)
    loci = problem.gene_locus
    n_loci = loci.max() + 1
    for m in range(10):
        a, b = parents[:, m]
        c, d = children[:, m]
        if n_loci == 1:
            assert np.array_equal(c, a) and np.array_equal(d, b)
            continue
        # the children are one parent's head and the other's tail, cut between two loci
        assert any(np.array_equal(c, np.where(loci >= cut, b, a)) and
                   np.array_equal(d, np.where(loci >= cut, a, b)) for cut in range(1, n_loci))


def test_crossover_cut_points_cover_every_locus_boundary():
    problem = space(5, 6, tied=False)
    parents = np.stack([np.zeros((4000, 10), dtype=int), np.ones((4000, 10), dtype=int)])
    children = LocusPointCrossover()._do(problem, parents, random_state=np.random.default_rng(3))
    first_swapped = (children[0] == 1).argmax(axis=1)
    # cuts fall only between loci (gene 2, 4, 6, 8 = loci 1..4), each about equally often
    assert set(first_swapped.tolist()) == {2, 4, 6, 8}
    counts = np.bincount(first_swapped)[[2, 4, 6, 8]]
    assert counts.min() > 800
    # a locus's two genes always travel together
    assert np.array_equal(children[0][:, 0::2], children[0][:, 1::2])


def test_crossover_with_a_single_locus_copies_the_parents():
    problem = space(1, 3, tied=False)
    parents = np.array([[[0, 1]], [[2, 2]]])
    children = LocusPointCrossover()._do(problem, parents, random_state=np.random.default_rng(0))
    assert np.array_equal(children, parents)


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_crossover_probability_is_honoured(prob):
    problem = space(4, 3, tied=True)
    pop = Population.new("X", np.vstack([np.zeros((50, 4), int), np.full((50, 4), 2)]))
    parents = np.column_stack([np.arange(50), np.arange(50, 100)])
    off = LocusPointCrossover(prob=prob).do(problem, pop, parents=parents,
                                            random_state=np.random.default_rng(0))
    mixed = [(len(set(x.tolist())) > 1) for x in off.get("X")]
    assert all(mixed) if prob == 1.0 else not any(mixed)
