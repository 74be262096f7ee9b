"""Mid level: the vectorized tiling search against a plain brute force, and its properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from hwflow.hw.coarse import coarse_layer_cost, ideal_dram_bits
from hwflow.hw.mid import best_buffer_tiling, mid_layer_cost
from hwflow.hw.query import LayerQuery
from hwflow.hw.tiling import DIMS, MappingError, dims_of, divisors, footprint_bits, tile_sizes, traffic_bits
from hwflow.workload import Layer
from tests.conftest import make_accel


def brute_force_min_bits(layer, w, a, o, accel, batch):
    """Every candidate tile and every order of all six loops, scalar code."""
    dims = dims_of(layer, batch)
    best = None
    for sizes in itertools.product(*[tile_sizes(d, dims[d]) for d in DIMS]):
        tile = dict(zip(DIMS, sizes))
        if footprint_bits(layer, tile, w, a, 16, 16) > accel.buffer.size_bytes * 8:
            continue
        for order in itertools.permutations(DIMS):
            bits = sum(traffic_bits(layer, batch, tile, order, w, a, o, 16, 16))
            best = bits if best is None else min(best, bits)
    return best


@pytest.mark.parametrize("layer,batch", [
    (Layer("a", "conv", 4, 6, 6, 6, 6, 6, 3, 3, 1, 1), 2),
    (Layer("b", "conv", 4, 4, 7, 7, 3, 3, 3, 3, 2, 0, groups=2), 1),
    (Layer("c", "linear", 12, 8, 1, 1, 1, 1), 3),
])
def test_vectorized_search_finds_brute_force_optimum(layer, batch):
    accel = make_accel(buffer_kb=0.25)  # 2048 bits: forces real tiling
    tiling = best_buffer_tiling(layer, 8, 8, 8, accel, batch)
    assert tiling.bits == brute_force_min_bits(layer, 8, 8, 8, accel, batch)
    assert (tiling.read_bits, tiling.write_bits) == traffic_bits(
        layer, batch, tiling.tile, tiling.order, 8, 8, 8, 16, 16)


def test_refetch_rule_hand_computed():
    # 1x1 conv, C=4, K=4, 2x2 map, batch 1; tile c=2, k=2, full map; order k outside c
    layer = Layer("x", "conv", 4, 4, 2, 2, 2, 2)
    tile = {"n": 1, "g": 1, "k": 2, "c": 2, "p": 2, "q": 2}
    reads, writes = traffic_bits(layer, 1, tile, ("g", "n", "k", "c", "p", "q"), 16, 16, 16, 16, 16)
    # weights: every tile once = 16 words; inputs: re-read for each of 2 k-tiles = 2*16;
    # outputs: each of 2 output tiles accumulates over 2 c-tiles inside → written once
    assert reads == 16 * (16 + 32)
    assert writes == 16 * 16
    # c outside k: outputs pass twice (one spill read+write of 8 words per tile at psum width)
    reads, writes = traffic_bits(layer, 1, tile, ("g", "n", "c", "k", "p", "q"), 16, 16, 16, 16, 16)
    assert reads == 16 * (16 + 16 + 2 * 8)
    assert writes == 16 * (16 + 2 * 8)


def test_huge_buffer_reaches_the_coarse_ideal():
    layer = Layer("x", "conv", 16, 32, 10, 10, 8, 8, 3, 3, 1, 0)
    accel = make_accel(buffer_kb=4096)
    tiling = best_buffer_tiling(layer, 4, 4, 8, accel, 2)
    assert tiling.bits == ideal_dram_bits(layer, 4, 4, 8, 16, 2)
    assert tiling.passes == 1


def test_no_tile_fits_names_layer_and_buffer():
    layer = Layer("big", "conv", 4, 4, 16, 16, 16, 16, 11, 11, 1, 5)
    with pytest.raises(MappingError, match="layer big: the global buffer is too small"):
        best_buffer_tiling(layer, 16, 16, 16, make_accel(buffer_kb=0.1), 1)


dim = st.integers(1, 12)
bit = st.sampled_from([16, 8, 6, 4, 2])


@st.composite
def layers(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    k = draw(st.sampled_from([1, 3]))
    stride = draw(st.sampled_from([1, 2]))
    h_o = draw(dim)
    pad = k // 2
    h_i = (h_o - 1) * stride + k - 2 * pad
    return Layer("l", "conv", c_i=groups * draw(dim), c_o=groups * draw(dim), h_i=h_i, w_i=h_i,
                 h_o=h_o, w_o=h_o, k_h=k, k_w=k, stride=stride, padding=pad, groups=groups)


@settings(max_examples=40, deadline=None)
@given(layer=layers(), w=bit, a=bit, o=bit, batch=st.integers(1, 4),
       kb=st.sampled_from([0.5, 2, 8]))
def test_mid_never_beats_coarse(layer, w, a, o, batch, kb):
    accel = make_accel(buffer_kb=kb, bandwidth=2.0)
    coarse = coarse_layer_cost(LayerQuery(layer, w, a, o, accel, batch))
    mid = mid_layer_cost(LayerQuery(layer, w, a, o, accel, batch))
    assert mid.dram_bytes >= coarse.dram_bytes
    assert mid.latency_cycles >= coarse.latency_cycles
    assert mid.macs == coarse.macs and mid.frac_ops == coarse.frac_ops


@settings(max_examples=30, deadline=None)
@given(layer=layers(), w=bit, a=bit, batch=st.integers(1, 3))
def test_fewer_bits_and_bigger_buffers_never_cost_more_traffic(layer, w, a, batch):
    small, large = make_accel(buffer_kb=0.5), make_accel(buffer_kb=2)
    base = best_buffer_tiling(layer, w, a, 8, small, batch).bits
    assert best_buffer_tiling(layer, w, a, 8, large, batch).bits <= base
    assert best_buffer_tiling(layer, max(2, w // 2), max(2, a // 2), 8, small, batch).bits <= base


@settings(max_examples=12, deadline=None)
@given(c=st.integers(1, 4), k=st.integers(1, 4), hw=st.integers(1, 4), batch=st.integers(1, 3),
       w=bit, a=bit, kb=st.sampled_from([0.03, 0.06, 0.12]))
def test_three_orders_reach_the_all_orders_optimum(c, k, hw, batch, w, a, kb):
    layer = Layer("r", "conv", c, k, hw + 2, hw + 2, hw, hw, 3, 3, 1, 0)
    accel = make_accel(buffer_kb=kb)
    try:
        tiling = best_buffer_tiling(layer, w, a, 8, accel, batch)
    except MappingError:
        assert brute_force_min_bits(layer, w, a, 8, accel, batch) is None
        return
    assert tiling.bits == brute_force_min_bits(layer, w, a, 8, accel, batch)


def test_divisors_are_exact_and_fast_for_huge_sizes():
    for n in range(1, 300):  # squares, primes, highly composite numbers
        assert divisors(n) == [d for d in range(1, n + 1) if n % d == 0]
    assert divisors(999_983) == [1, 999_983]  # a prime
    assert divisors(2 ** 20) == [2 ** j for j in range(21)]  # a square
    huge = divisors(10 ** 11)  # 2^11 · 5^11: 144 divisors, O(√n) trials
    assert len(huge) == 144 and huge == sorted(huge) and all(10 ** 11 % d == 0 for d in huge)
