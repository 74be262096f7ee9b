"""The Fine kernel's access counts against a literal loop-nest simulator
(tests/loopnest.py), which shares no counting code with hwflow.hw.fine or hw.tiling.

On random tiny layers (stride 1–2, padding, groups, 1×1 to 3×3 kernels), random
accelerators (non-square arrays, RS/WS/OS, vectorized and bit-serial) and random
mappings that divide evenly, every count equals: DRAM read and write bits, buffer reads
and writes, array words, RF accesses, compute cycles and MACs. Mappings come from the
kernel's own search (all objectives) and from a random walk over the mapspace, costed by
the plain reference.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hwflow.hw.fine import layout as L, reference
from hwflow.hw.fine.mapper import search_layer
from hwflow.hw.fine.mapspace import DATAFLOW_CODES, FineMapping, pass_shape, spatial_count
from hwflow.hw.query import LayerQuery
from hwflow.hw.tiling import DIMS, MappingError
from hwflow.workload import Layer
from tests.conftest import make_accel, replace
from tests.loopnest import Uneven, simulate

REL = 1e-9  # packed words are fractional and the kernel averages tile extents


@st.composite
def layers(draw) -> Layer:
    groups = draw(st.sampled_from([1, 2]))
    c = groups * draw(st.sampled_from([1, 2, 4]))
    k = groups * draw(st.sampled_from([1, 2, 4]))
    kernel = draw(st.sampled_from([1, 2, 3]))
    stride = draw(st.sampled_from([1, 2]))
    pad = draw(st.integers(0, 1))
    out = draw(st.sampled_from([2, 4]))
    size = (out - 1) * stride + kernel - 2 * pad
    assume(size >= 1)
    return Layer("x", "conv", c, k, size, size, out, out, kernel, kernel, stride, pad,
                 groups=groups)


@st.composite
def accelerators(draw):
    rows, cols = draw(st.sampled_from([(2, 2), (2, 4), (4, 2), (4, 4), (3, 4)]))
    kind = draw(st.sampled_from(["vectorized", "bit-serial"]))
    accel = make_accel(rows=rows, cols=cols, buffer_kb=draw(st.sampled_from([0.25, 1, 4])),
                       kind=kind, lanes=4 if kind == "bit-serial" else 1,
                       dataflow=draw(st.sampled_from(["rs", "ws", "os"])),
                       rf=draw(st.sampled_from([(224, 12, 16), (16, 8, 4)])), bandwidth=None)
    return replace(accel, rs_cuts=draw(st.booleans()))


def bits(accel, draw) -> tuple[int, int, int]:
    # bit-serial lanes read distinct operands packed word-aligned: widths whose packing
    # divides the lanes (the kernel's per-MAC rate idealizes a ragged last word)
    choices = [16, 8, 4] if accel.engine.kind == "bit-serial" else [16, 8, 4, 2]
    w = draw(st.sampled_from(choices))
    return w, w if accel.engine.kind == "vectorized" else draw(st.sampled_from(choices)), \
        draw(st.sampled_from([16, 8, 4]))


def sim_of(layer, w, a, o, accel, batch, m: FineMapping):
    try:
        return simulate(layer, w, a, o, accel, batch, m.tile, m.dram_class, m.variant,
                        m.lane_loop, m.lanes, m.rf, m.glb_inner)
    except Uneven:
        assume(False)


def assert_counts_equal(sim, dram_read, dram_write, buf_r, buf_w, array, rf, compute):
    assert sim.dram_read_bits == dram_read
    assert sim.dram_write_bits == dram_write
    assert sim.buffer_reads == pytest.approx(buf_r, rel=REL)
    assert sim.buffer_writes == pytest.approx(buf_w, rel=REL)
    assert sim.array_words == pytest.approx(array, rel=REL)
    assert sim.rf_accesses == pytest.approx(rf, rel=REL)
    assert sim.compute_cycles == compute


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layer=layers(), accel=accelerators(), batch=st.integers(1, 2),
       objective=st.sampled_from(["energy", "latency", "edp"]), data=st.data())
def test_kernel_counts_equal_the_simulator_on_its_best_mapping(layer, accel, batch, objective,
                                                               data):
    w, a, o = bits(accel, data.draw)
    mapping, f, _ = search_layer(LayerQuery(layer, w, a, o, accel, batch, objective))
    assume(mapping is not None)
    sim = sim_of(layer, w, a, o, accel, batch, mapping)
    assert sim.macs == layer.macs * batch
    assert_counts_equal(sim, f[L.BF_DRAM_READ], f[L.BF_DRAM_WRITE], f[L.BF_BUF_READS],
                        f[L.BF_BUF_WRITES], f[L.BF_ARRAY_WORDS], f[L.BF_RF_ACCESSES],
                        f[L.BF_COMPUTE])


def random_mapping(layer, accel, batch, rng: random.Random) -> FineMapping:
    """A random point of the mapspace with tiles that divide their dimensions."""
    dims = {"n": batch, "g": layer.groups, "k": layer.c_o_per_group,
            "c": layer.c_i_per_group, "p": layer.h_o, "q": layer.w_o}
    tile = {d: rng.choice([t for t in range(1, dims[d] + 1) if dims[d] % t == 0]) for d in DIMS}
    tile["q"] = dims["q"]
    df = DATAFLOW_CODES[accel.dataflow]
    variant = rng.randrange(spatial_count(df, layer.k_h, tile["p"], accel.rows, accel.cols,
                                          accel.rs_cuts))
    shape = pass_shape(df, variant, tile["n"], tile["k"], tile["c"], tile["p"], tile["q"],
                       layer.k_h, layer.k_w, accel.rows, accel.cols, accel.rs_cuts)
    extents = (tile["c"], tile["k"], shape[2])
    lane_loop = rng.choice([-1, 1, 2])
    u = 1 if lane_loop < 0 else rng.choice([1, 2, 4])
    lanes = [u if lane_loop == j else 1 for j in range(3)]
    spatial = (shape[0], shape[1], 1)
    trips = [-(-extents[j] // (spatial[j] * lanes[j])) for j in range(3)]
    rf = tuple(rng.choice([d for d in range(1, t + 1) if t % d == 0]) for t in trips)
    t1 = [trips[j] // rf[j] for j in range(3)]
    inner = [j for j in range(3) if t1[j] > 1]
    return FineMapping(accel.dataflow, tuple(tile[d] for d in DIMS), rng.randrange(3), variant,
                       lane_loop if u > 1 else -1, u, rf, rng.choice(inner) if inner else -1)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layer=layers(), accel=accelerators(), batch=st.integers(1, 2), seed=st.integers(0, 10 ** 6),
       data=st.data())
def test_reference_counts_equal_the_simulator_on_random_mappings(layer, accel, batch, seed, data):
    w, a, o = bits(accel, data.draw)
    mapping = random_mapping(layer, accel, batch, random.Random(seed))
    costs = reference.evaluate(layer, w, a, o, accel, batch, mapping)
    assume(costs is not None)  # tile or RF contents do not fit
    sim = sim_of(layer, w, a, o, accel, batch, mapping)
    assert sim.macs == layer.macs * batch
    assert_counts_equal(sim, costs.dram_read_bits, costs.dram_write_bits, costs.buffer_reads,
                        costs.buffer_writes, costs.array_words, costs.rf_accesses,
                        costs.compute_cycles)


def test_simulator_covers_every_dataflow_and_engine():
    """The random mappings above are not all filtered away: each dataflow × engine has
    even mappings that the simulator and the kernel both count."""
    seen = set()
    layer = Layer("x", "conv", 4, 4, 4, 4, 4, 4, 3, 3, 1, 1)
    for df, kind in itertools.product(("rs", "ws", "os"), ("vectorized", "bit-serial")):
        accel = make_accel(rows=2, cols=4, kind=kind, lanes=4 if kind == "bit-serial" else 1,
                           dataflow=df, bandwidth=None)
        try:
            mapping, f, _ = search_layer(LayerQuery(layer, 8, 8, 16, accel, 1, "latency"))
        except MappingError:
            continue
        sim = simulate(layer, 8, 8, 16, accel, 1, mapping.tile, mapping.dram_class,
                       mapping.variant, mapping.lane_loop, mapping.lanes, mapping.rf,
                       mapping.glb_inner)
        assert sim.array_words == pytest.approx(f[L.BF_ARRAY_WORDS], rel=REL)
        seen.add((df, kind))
    assert len(seen) == 6


def test_a_bug_planted_in_a_mapspace_helper_is_caught(monkeypatch):
    """The check the simulator exists for: a wrong input-row count in ``touched`` (the
    helper kernel and reference share) passed every other Fine test; here it fails."""
    layer = Layer("x", "conv", 2, 2, 9, 9, 4, 4, 3, 3, 2, 0)  # stride 2, 3x3
    accel = make_accel(rows=2, cols=4, dataflow="os", bandwidth=None)
    mapping = FineMapping("os", (1, 1, 2, 2, 4, 4), 0, 0, -1, 1, (1, 1, 1), -1)
    sim = simulate(layer, 16, 16, 16, accel, 1, mapping.tile, mapping.dram_class,
                   mapping.variant, mapping.lane_loop, mapping.lanes, mapping.rf,
                   mapping.glb_inner)
    honest = reference.evaluate(layer, 16, 16, 16, accel, 1, mapping)
    assert sim.buffer_reads == pytest.approx(honest.buffer_reads, rel=REL)

    def planted(extent, k, stride, dilation):
        return (extent - 1.0) * ((k - 1) * dilation + 1) + stride  # stride and span swapped

    monkeypatch.setattr(reference, "touched", planted)
    planted_costs = reference.evaluate(layer, 16, 16, 16, accel, 1, mapping)
    assert sim.buffer_reads != pytest.approx(planted_costs.buffer_reads, rel=REL)
