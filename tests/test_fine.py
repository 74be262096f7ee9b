"""Fine level: the Numba mapper (JIT and ahead-of-time builds) against its plain reference,
hand-computed access counts, the level-ordering and monotonicity properties, and one-line
errors."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.coarse import coarse_layer_cost
from hwflow.hw.fine import backend, fine_layer_cost, kernel as K, layout as L, reference
from hwflow.hw.fine.mapper import search_layer
from hwflow.hw.fine.mapspace import FineMapping, lane_at, lane_count, rs_fold
from hwflow.hw.fine.sources import sources_digest
from hwflow.hw.levels import estimate
from hwflow.hw.mid import mid_layer_cost
from hwflow.hw.query import LayerQuery
from hwflow.hw.tiling import CANDIDATE_ORDERS, DIMS, MappingError, dims_of, tile_sizes, traffic_bits
from hwflow.strategy import uniform_strategy
from hwflow.workload import Layer
from tests.conftest import make_accel, replace

SMALL_LAYERS = [
    Layer("conv", "conv", 4, 6, 6, 6, 6, 6, 3, 3, 1, 1),
    Layer("strided", "conv", 4, 4, 7, 7, 3, 3, 3, 3, 2, 0, groups=2),
    Layer("fc", "linear", 12, 8, 1, 1, 1, 1),
    Layer("depthwise", "conv", 4, 4, 5, 5, 5, 5, 3, 3, 1, 1, groups=4),
]


def shared_rf(accel):
    return replace(accel, rf=replace(accel.rf, shared=True))


BACKENDS = ["jit", "aot"]


def kernel_search(name: str) -> backend.SearchFn:
    """The JIT kernel, or the AOT module built from the current sources (skips if none)."""
    if name == "jit":
        return K.search
    search = backend.load_aot(sources_digest())
    if search is None:
        pytest.skip("no AOT kernel built from the current sources "
                    "(python -m hwflow.hw.fine.build_aot builds it)")
    return search


# --- the kernel finds exactly the reference optimum -------------------------------------

REFERENCE_CASES = [
    # (dataflow, engine kind, lanes, (w, a, out), objective, batch, layer index, shared RF)
    ("rs", "vectorized", 1, (16, 16, 16), "energy", 2, 0, False),
    ("rs", "vectorized", 1, (8, 4, 8), "edp", 1, 1, True),
    ("ws", "vectorized", 1, (4, 4, 16), "energy", 2, 3, False),
    ("ws", "bit-serial", 4, (3, 5, 4), "latency", 1, 0, False),
    ("os", "vectorized", 1, (2, 2, 8), "latency", 2, 2, True),
    ("os", "bit-serial", 4, (7, 2, 16), "energy", 1, 1, False),
]


def reference_accel(df, kind, lanes, shared):
    accel = make_accel(rows=3, cols=4, buffer_kb=0.5, kind=kind, lanes=lanes, dataflow=df,
                       rf=(12, 6, 4))
    return shared_rf(accel) if shared else accel


@functools.cache  # slow: shared by both backends
def reference_optimum(df, kind, lanes, bits, objective, batch, index, shared):
    return reference.search(SMALL_LAYERS[index], *bits, reference_accel(df, kind, lanes, shared),
                            batch, objective)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("df,kind,lanes,bits,objective,batch,index,shared", REFERENCE_CASES)
def test_kernel_finds_the_reference_optimum(df, kind, lanes, bits, objective, batch, index, shared,
                                            name):
    search = kernel_search(name)
    accel = reference_accel(df, kind, lanes, shared)
    layer = SMALL_LAYERS[index]
    mapping, f, stats = search_layer(LayerQuery(layer, *bits, accel, batch, objective), search)
    ref_mapping, costs, enumerated = reference_optimum(df, kind, lanes, bits, objective, batch,
                                                       index, shared)
    assert mapping == ref_mapping
    assert f[L.BF_ENERGY] == costs.energy
    assert f[L.BF_LATENCY] == costs.latency
    assert (f[L.BF_DRAM], f[L.BF_SRAM], f[L.BF_ARRAY], f[L.BF_RF]) == (
        costs.dram, costs.sram, costs.array, costs.rf)
    assert stats[L.ST_MAPSPACE] == enumerated  # the kernel covers the whole mapspace


@pytest.mark.parametrize("name", BACKENDS)
def test_kernel_costs_of_its_choice_match_the_reference_model(name):
    search = kernel_search(name)
    accel = make_accel(rows=4, cols=4, buffer_kb=2, dataflow="rs")
    layer = Layer("x", "conv", 8, 16, 10, 10, 8, 8, 3, 3, 1, 0)
    mapping, f, _ = search_layer(LayerQuery(layer, 8, 8, 4, accel, 2, "energy"), search)
    costs = reference.evaluate(layer, 8, 8, 4, accel, 2, mapping)
    assert costs.energy == pytest.approx(f[L.BF_ENERGY], rel=1e-12)
    assert costs.buffer_reads == pytest.approx(f[L.BF_BUF_READS], rel=1e-12)
    assert costs.rf_accesses == pytest.approx(f[L.BF_RF_ACCESSES], rel=1e-12)


def test_dram_rule_is_mids_on_random_tilings():
    rng = random.Random(7)
    for _ in range(200):
        groups = rng.choice([1, 2])
        layer = Layer("x", "conv", groups * rng.randint(1, 6), groups * rng.randint(1, 6),
                      9, 9, rng.randint(1, 9), rng.randint(1, 9), rng.choice([1, 3]),
                      rng.choice([1, 3]), rng.choice([1, 2]), 0, groups=groups)
        batch = rng.randint(1, 3)
        dims = dims_of(layer, batch)
        tile = {d: rng.choice(tile_sizes(d, dims[d])) for d in DIMS}
        order = ("g",) + tuple(rng.sample("nkcpq", 5))
        bits = (rng.choice([2, 4, 8, 16]), rng.choice([2, 4, 8, 16]), rng.choice([4, 16]))
        lay = np.array([batch, layer.groups, layer.c_o_per_group, layer.c_i_per_group,
                        layer.h_o, layer.w_o, layer.k_h, layer.k_w, layer.stride,
                        layer.dilation], dtype=np.int64)
        reads, writes, _ = K.dram_traffic(
            lay, np.array([tile[d] for d in DIMS], dtype=np.int64),
            np.array([DIMS.index(d) for d in order], dtype=np.int64), *bits, 16, 16,
            np.empty(3, dtype=np.int64))
        assert (reads, writes) == traffic_bits(layer, batch, tile, order, *bits, 16, 16)


def test_three_dram_classes_cover_all_orders():
    """The reference walks all 120 DRAM orders; its optimum always uses one of Mid's three
    canonical orders' costs (checked through the class it reports)."""
    accel = make_accel(rows=2, cols=2, buffer_kb=0.25)
    layer = Layer("x", "conv", 4, 4, 4, 4, 4, 4, 1, 1)
    mapping, costs, _ = reference.search(layer, 16, 16, 16, accel, 2)
    again = reference.evaluate(layer, 16, 16, 16, accel, 2, mapping)  # canonical order
    assert again.energy == costs.energy
    assert mapping.dram_class in range(len(CANDIDATE_ORDERS))


# --- hand-computed access counts ---------------------------------------------------------

def tiny_accel(dataflow="rs", rf=(1, 1, 1)):
    """2x2 PEs, costs DRAM 200 / buffer 6 / array 2 / RF 1 / MAC 1, roomy buffer; RS with
    nn_dataflow's fold/replicate only (no finer row cuts), so the variants stay few."""
    return replace(make_accel(rows=2, cols=2, buffer_kb=1, dataflow=dataflow, rf=rf,
                              bandwidth=None), rs_cuts=False)


def test_single_mapping_hand_computed():
    # 1x1 conv, one input and one output channel, 2x2 map: the mapspace has one tile,
    # one RF factor and two spatial variants (row replication for C_i or C_o), alike.
    layer = Layer("x", "conv", 1, 1, 2, 2, 2, 2)
    cost = fine_layer_cost(LayerQuery(layer, 16, 16, 16, tiny_accel()))
    # DRAM: 1 weight + 4 inputs read, 4 outputs written = 9 words x 200
    # buffer: 5 reads + 4 output writes = 9 words x 6
    # array: the weight to both PEs of its row (2), each PE its ifmap row of 2 (4),
    #        each output leaves its PE once (4) = 10 words x 2
    # RF: 4 MACs x (filter + fmap read, psum read + write) = 16; MAC: 4
    assert cost.breakdown == {"dram": 1800.0, "sram": 54.0, "array": 20.0, "rf": 16.0,
                              "mac": 4.0}
    assert cost.energy == 1894.0
    assert cost.dram_bytes == 18
    # one pass of a 2-output row on 2 of the 4 PEs: 2 cycles (ideal 1)
    assert cost.latency_cycles == 2
    assert cost.details["utilization"] == 0.5
    assert cost.details["mapspace"] == 2 * 720  # 2 variants x 120 DRAM x 6 buffer orders


def test_explicit_mappings_hand_computed():
    # 1x1 conv C=2, K=2, 2x2 map, batch 2, whole layer in one buffer tile; RS with row
    # replication over C_o (variant 0): 2 passes over input channels, 2 over images.
    layer = Layer("x", "conv", 2, 2, 2, 2, 2, 2)
    accel = tiny_accel()
    tile = (2, 1, 2, 2, 2, 2)
    b_inner = reference.evaluate(layer, 16, 16, 16, accel, 2,
                                 FineMapping("rs", tile, 0, 0, -1, 1, (1, 1, 1), 2))
    # images innermost: weights stay in the RFs (read 4, delivered to 2 PEs each = 8);
    # inputs once (16 reads, each multicast to the 2 output-channel replicas = 32
    # deliveries); each output passes twice (the channel loop is outside): 2 x 16 writes,
    # 16 read back; array 2 hops + 1 re-entry = 3 x 16
    assert (b_inner.buffer_reads, b_inner.buffer_writes, b_inner.array_words) == (36, 32, 88)
    i_inner = reference.evaluate(layer, 16, 16, 16, accel, 2,
                                 FineMapping("rs", tile, 0, 0, -1, 1, (1, 1, 1), 0))
    # channels innermost: outputs accumulate in the RF (16 writes, 16 hops); weights are
    # re-read for the second image (8 reads, 16 deliveries); inputs as above (32)
    assert (i_inner.buffer_reads, i_inner.buffer_writes, i_inner.array_words) == (24, 16, 64)
    assert i_inner.rf_accesses == b_inner.rf_accesses == 4 * 32
    assert i_inner.compute_cycles == 4 * 2  # 4 passes of one 2-wide row
    best = fine_layer_cost(LayerQuery(layer, 16, 16, 16, accel, 2))
    assert best.energy <= i_inner.energy < b_inner.energy


def test_rs_fold_and_replicate_follow_eyeriss():
    assert rs_fold(11, 55, 16, 16) == (1, 4, 1, 1)  # AlexNet conv1: 4 ofmap-row folds
    assert rs_fold(5, 27, 16, 16) == (1, 1, 1, 1)  # conv2: two bands use the 3x row spare
    assert rs_fold(3, 13, 16, 16) == (1, 1, 5, 1)  # conv3-5: 5 replicas down the rows
    assert rs_fold(1, 1, 16, 16) == (1, 1, 16, 16)  # fc: every PE a replica


def test_lane_choices_are_the_smallest_per_trip_count():
    # 10 channels, 2 per pass across the array: trips 5 → 3 (u=2), 2 (u=3), 1 (u=5)
    assert [lane_at(10, 2, 8, j) for j in range(lane_count(10, 2, 8))] == [2, 3, 5]


# --- engines, psums, virtual PEs -------------------------------------------------------

def test_vectorized_virtual_pes_speed_up_output_stationary():
    accel = make_accel(rows=4, cols=4, buffer_kb=64, dataflow="os")
    layer = Layer("x", "conv", 16, 16, 16, 16, 16, 16, 3, 3, 1, 1)
    full = fine_layer_cost(LayerQuery(layer, 16, 16, 16, accel, objective="latency"))
    quant = fine_layer_cost(LayerQuery(layer, 4, 4, 16, accel, objective="latency"))
    assert quant.latency_cycles <= full.latency_cycles / 3  # V = 4 lanes per PE
    assert quant.breakdown["mac"] == full.breakdown["mac"] / 4


def test_psum_rf_caps_the_vector_gain():
    # one input channel: lanes can only take outputs (pixels or channels), each needing a
    # psum word; lanes over input channels would reduce into one psum and need none
    layer = Layer("x", "conv", 1, 16, 16, 16, 16, 16, 3, 3, 1, 1)
    roomy = make_accel(rows=4, cols=4, buffer_kb=64, dataflow="os", rf=(224, 12, 16),
                       bandwidth=None)
    tight = replace(roomy, rf=replace(roomy.rf, psum_words=1))
    fast = fine_layer_cost(LayerQuery(layer, 2, 2, 16, roomy, objective="latency"))
    capped = fine_layer_cost(LayerQuery(layer, 2, 2, 16, tight, objective="latency"))
    assert capped.latency_cycles >= 4 * fast.latency_cycles


def test_bit_serial_cycles_scale_with_both_bitwidths():
    accel = make_accel(rows=4, cols=4, buffer_kb=64, kind="bit-serial", lanes=16, dataflow="ws")
    layer = Layer("x", "conv", 16, 16, 8, 8, 8, 8, 3, 3, 1, 1)
    c16 = fine_layer_cost(LayerQuery(layer, 16, 16, 16, accel, objective="latency"))
    c4 = fine_layer_cost(LayerQuery(layer, 4, 4, 16, accel, objective="latency"))
    assert c16.latency_cycles == pytest.approx(16 * c4.latency_cycles, rel=0.05)


@pytest.mark.parametrize("df", ["rs", "ws", "os"])
def test_depthwise_and_grouped_layers_map(df):
    accel = make_accel(rows=4, cols=4, buffer_kb=16, dataflow=df)
    layer = Layer("dw", "conv", 32, 32, 16, 16, 16, 16, 3, 3, 1, 1, groups=32)
    cost = fine_layer_cost(LayerQuery(layer, 8, 8, 8, accel))
    assert cost.macs == 32 * 16 * 16 * 9
    ideal = coarse_layer_cost(LayerQuery(layer, 8, 8, 8, accel, 1))
    assert cost.latency_cycles >= ideal.latency_cycles
    assert cost.mapping.count("|") == 4 and cost.details["mapspace"] > 0


# --- errors -----------------------------------------------------------------------------

def test_rf_too_small_names_layer_and_rf():
    accel = make_accel(rows=16, cols=16, buffer_kb=128, rf=(8, 12, 16))
    layer = Layer("conv1", "conv", 3, 96, 227, 227, 55, 55, 11, 11, 4, 0)
    with pytest.raises(MappingError,
                       match=r"^layer conv1: the filter RF is too small \(8 words\)"):
        fine_layer_cost(LayerQuery(layer, 16, 16, 16, accel))
    with pytest.raises(MappingError, match=r"^layer conv1: the shared RF is too small"):
        fine_layer_cost(LayerQuery(layer, 16, 16, 16, shared_rf(make_accel(rf=(4, 2, 1)))))


def test_buffer_too_small_names_layer_and_buffer():
    accel = make_accel(buffer_kb=0.0625)  # 64 bytes
    layer = Layer("big", "conv", 8, 8, 64, 64, 64, 64, 3, 3, 1, 1)
    with pytest.raises(MappingError,
                       match=r"^layer big: the global buffer is too small \(64 bytes\)"):
        fine_layer_cost(LayerQuery(layer, 16, 16, 16, accel))


# --- properties -------------------------------------------------------------------------

VECTOR_BITS = [16, 8, 6, 4, 2]


@st.composite
def layers(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_i = groups * draw(st.integers(1, 8))
    c_o = groups * draw(st.integers(1, 8))
    k = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.sampled_from([1, 2]))
    h_o = draw(st.integers(1, 12))
    w_o = draw(st.integers(1, 12))
    kind = "linear" if k == 1 and h_o == w_o == 1 and groups == 1 else "conv"
    return Layer("l", kind, c_i, c_o, (h_o - 1) * stride + k, (w_o - 1) * stride + k, h_o, w_o,
                 k, k, stride, 0, groups=groups)


@st.composite
def setups(draw):
    kind = draw(st.sampled_from(["vectorized", "bit-serial"]))
    accel = make_accel(rows=draw(st.sampled_from([2, 4])), cols=4,
                       buffer_kb=draw(st.sampled_from([0.5, 2, 8])), kind=kind,
                       lanes=4 if kind == "bit-serial" else 1,
                       dataflow=draw(st.sampled_from(["rs", "ws", "os"])),
                       rf=draw(st.sampled_from([(224, 12, 16), (32, 6, 4)])))
    return accel


def bits_for(accel, draw):
    pool = VECTOR_BITS if accel.engine.kind == "vectorized" else list(range(1, 17))
    return draw(st.sampled_from(pool)), draw(st.sampled_from(pool))


def fine_or_skip(layer, w, a, o, accel, batch, objective="latency"):
    try:
        return fine_layer_cost(LayerQuery(layer, w, a, o, accel, batch, objective))
    except MappingError:
        assume(False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), accel=setups(), batch=st.integers(1, 3), data=st.data())
def test_coarse_le_mid_le_fine(layer, accel, batch, data):
    w, a = bits_for(accel, data.draw)
    out = data.draw(st.sampled_from(VECTOR_BITS))
    fine = fine_or_skip(layer, w, a, out, accel, batch)
    mid = mid_layer_cost(LayerQuery(layer, w, a, out, accel, batch))
    coarse = coarse_layer_cost(LayerQuery(layer, w, a, out, accel, batch))
    assert coarse.dram_bytes <= mid.dram_bytes <= fine.dram_bytes
    assert coarse.latency_cycles <= mid.latency_cycles <= fine.latency_cycles
    assert mid.energy <= fine.energy
    assert fine.breakdown["mac"] == pytest.approx(fine.frac_ops * accel.mac_cost)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), accel=setups(), data=st.data())
def test_fewer_bits_never_cost_more_energy(layer, accel, data):
    w, a = bits_for(accel, data.draw)
    w2 = data.draw(st.sampled_from([b for b in (VECTOR_BITS if accel.engine.kind == "vectorized"
                                                 else range(1, 17)) if b <= w]))
    a2 = data.draw(st.sampled_from([b for b in (VECTOR_BITS if accel.engine.kind == "vectorized"
                                                 else range(1, 17)) if b <= a]))
    # the mapspace only grows with fewer bits, so what each objective minimizes never rises
    for objective, metric in (("energy", "energy"), ("latency", "latency_cycles")):
        high = fine_or_skip(layer, w, a, 8, accel, 1, objective)
        # fits whenever the wider one does
        low = fine_layer_cost(LayerQuery(layer, w2, a2, 8, accel, 1, objective))
        assert getattr(low, metric) <= getattr(high, metric) * (1 + 1e-12)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), accel=setups(), data=st.data())
def test_batch_four_never_costs_more_per_frame(layer, accel, data):
    w, a = bits_for(accel, data.draw)
    # batch 4 contains "batch 1 four times", so what each objective minimizes is at most 4x
    for objective, metric in (("energy", "energy"), ("latency", "latency_cycles")):
        one = fine_or_skip(layer, w, a, 16, accel, 1, objective)
        four = fine_layer_cost(LayerQuery(layer, w, a, 16, accel, 4, objective))
        assert getattr(four, metric) <= 4 * getattr(one, metric) * (1 + 1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), accel=setups(), data=st.data())
def test_latency_and_edp_objectives_trade_energy(layer, accel, data):
    w, a = bits_for(accel, data.draw)
    by = {obj: None for obj in ("energy", "latency", "edp")}
    for obj in by:
        try:
            by[obj] = fine_layer_cost(LayerQuery(layer, w, a, 16, accel, 1, obj))
        except MappingError:
            assume(False)
    assert by["energy"].energy <= min(by["latency"].energy, by["edp"].energy)
    assert by["latency"].latency_cycles <= min(by["energy"].latency_cycles,
                                               by["edp"].latency_cycles)
    edp = {obj: c.energy * c.latency_cycles for obj, c in by.items()}
    assert edp["edp"] <= min(edp.values()) * (1 + 1e-12)


def test_huge_batch_is_fast_and_never_slower_per_frame():
    """Batch 1e11: divisors in O(√n) and the kernel's buffers sized by divisor count, so
    it neither hangs nor runs out of memory; batch N contains batch 1 repeated N times."""
    workload = load_workload("resnet20")
    accel = load_accelerator("spatial-256")
    strategy = uniform_strategy(workload, 16, 16)
    one = estimate(workload, strategy, accel, "fine", batch=1).totals()
    huge = estimate(workload, strategy, accel, "fine", batch=10 ** 11).totals()
    assert huge["macs"] == one["macs"] * 10 ** 11
    assert huge["latency_cycles"] <= one["latency_cycles"] * 10 ** 11 * (1 + 1e-9)


def test_layer_cache_keys_on_the_query_and_stays_bounded(monkeypatch):
    from hwflow.hw import levels

    accel = make_accel(rows=2, cols=2, buffer_kb=1, bandwidth=None)
    layer = Layer("a", "conv", 2, 2, 4, 4, 4, 4, 3, 3, 1, 1)
    levels.clear_cache()
    first = levels.layer_cost(LayerQuery(layer, 8, 8, 8, accel), "fine")
    renamed = replace(layer, name="b")  # same shape: the same cached cost
    assert levels.layer_cost(LayerQuery(renamed, 8, 8, 8, accel), "fine") is first
    assert len(levels._cache) == 1
    monkeypatch.setattr(levels, "CACHE_SIZE", 3)
    for bits in (16, 4, 2, 1):
        levels.layer_cost(LayerQuery(layer, bits, bits, 8, accel), "fine")
    assert len(levels._cache) == 3  # least recently used entries went first
    levels.clear_cache()


def test_a_stated_bandwidth_gives_the_roofline_and_stall_cycles():
    layer = Layer("x", "conv", 8, 8, 8, 8, 8, 8, 3, 3, 1, 1)
    unlimited = fine_layer_cost(LayerQuery(layer, 16, 16, 16, make_accel(bandwidth=None)))
    assert unlimited.details["stall_cycles"] == 0
    slow = fine_layer_cost(LayerQuery(layer, 16, 16, 16, make_accel(bandwidth=0.01)))
    dram_cycles = slow.dram_bytes / 0.01
    assert slow.latency_cycles == pytest.approx(max(slow.details["compute_cycles"], dram_cycles),
                                                rel=1e-6)
    assert slow.details["stall_cycles"] == slow.latency_cycles - slow.details["compute_cycles"] > 0
