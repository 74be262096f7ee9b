"""Genome encoding and the table path for hardware metrics (exactly ``estimate``'s numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.levels import estimate
from hwflow.search.costs import HardwareTable
from hwflow.search.space.genome import BitGenome, genome_key, parse_genome_key
from hwflow.strategy import StrategyError
from tests.conftest import make_accel
from tests.search_helpers import tiny_workload

NAMES = ("first", "a", "b", "last")


def test_untied_genome_has_two_genes_per_searched_layer_and_keeps_the_ends():
    g = BitGenome.for_layers("m", NAMES, (8, 4, 2), tied=False, keep_ends=True, end_bits=16)
    assert g.n_var == 4 and g.n_loci == 2 and g.size == 3 ** 4
    assert g.gene_locus.tolist() == [0, 0, 1, 1]
    w, a = g.bits(np.array([[0, 2, 1, 0]]))
    assert w.tolist() == [[16, 8, 4, 16]] and a.tolist() == [[16, 2, 8, 16]]
    s = g.strategy(np.array([0, 2, 1, 0]))
    assert [(l.name, l.w_bits, l.a_bits) for l in s.layers] == [
        ("first", 16, 16), ("a", 8, 2), ("b", 4, 8), ("last", 16, 16)]


def test_tied_genome_has_one_gene_per_layer():
    g = BitGenome.for_layers("m", NAMES, (8, 4, 2), tied=True, keep_ends=False, end_bits=16)
    assert g.n_var == 4 and g.gene_locus.tolist() == [0, 1, 2, 3]
    w, a = g.bits(np.array([[0, 1, 2, 0]]))
    assert w.tolist() == a.tolist() == [[8, 4, 2, 8]]


@settings(max_examples=50, deadline=None)
@given(tied=st.booleans(), keep=st.booleans(), data=st.data())
def test_encode_inverts_decode(tied, keep, data):
    g = BitGenome.for_layers("m", NAMES, (16, 6, 4, 2), tied, keep, 16)
    x = np.array(data.draw(st.lists(st.integers(0, 3), min_size=g.n_var, max_size=g.n_var)))
    assert np.array_equal(g.encode(g.strategy(x)), x)
    assert np.array_equal(parse_genome_key(genome_key(x)), x)


def test_encode_rejects_strategies_outside_the_space():
    g = BitGenome.for_layers("m", NAMES, (8, 4), tied=True, keep_ends=True, end_bits=16)
    bad_end = g.strategy(np.array([0, 1])).layers
    from hwflow.strategy import LayerBits, Strategy

    with pytest.raises(StrategyError, match="fixed at 16"):
        g.encode(Strategy("m", (LayerBits("first", 8, 8),) + bad_end[1:]))
    with pytest.raises(StrategyError, match="must be equal"):
        g.encode(Strategy("m", bad_end[:1] + (LayerBits("a", 8, 4),) + bad_end[2:]))
    with pytest.raises(StrategyError, match="not among"):
        g.encode(Strategy("m", bad_end[:1] + (LayerBits("a", 2, 2),) + bad_end[2:]))


def test_all_genomes_enumerates_the_space_once():
    g = BitGenome.for_layers("m", NAMES, (8, 4, 2), tied=False, keep_ends=True, end_bits=16)
    every = g.all_genomes()
    assert len(every) == g.size == len({genome_key(x) for x in every})


@pytest.mark.parametrize("level", ["coarse", "mid"])
@pytest.mark.parametrize("kind", ["vectorized", "bit-serial"])
def test_table_totals_equal_estimate_exactly(level, kind):
    workload = tiny_workload(4)
    accel = make_accel(kind=kind, lanes=16 if kind == "bit-serial" else 1)
    alleles = (16, 8, 5, 3, 1) if kind == "bit-serial" else (16, 8, 6, 4, 2)
    g = BitGenome.for_layers("tiny", workload.layer_names, alleles, tied=False,
                             keep_ends=False, end_bits=16)
    table = HardwareTable(workload, accel, level, batch=2)
    X = np.random.default_rng(0).integers(0, len(alleles), size=(25, g.n_var))
    totals = table.totals(*g.bits(X))
    for j, x in enumerate(X):
        expected = estimate(workload, g.strategy(x), accel, level=level, batch=2).totals()
        for metric, value in expected.items():
            assert totals[metric][j] == value, metric  # bit for bit, not approximately
        if level == "mid":
            assert totals["edp"][j] == expected["energy"] * expected["latency_cycles"]
    if level == "coarse":
        assert "energy" not in totals and "edp" not in totals


def test_table_on_a_catalog_network_matches_estimate():
    workload, accel = load_workload("resnet20"), load_accelerator("eyeriss-256-db")
    g = BitGenome.for_layers("resnet20", workload.layer_names, accel.supported_bits, False, True, 16)
    table = HardwareTable(workload, accel, "coarse")
    X = np.random.default_rng(5).integers(0, len(g.alleles), size=(40, g.n_var))
    totals = table.totals(*g.bits(X))
    for j in (0, 17, 39):
        expected = estimate(workload, g.strategy(X[j]), accel, level="coarse").totals()
        assert {m: totals[m][j] for m in expected} == expected
