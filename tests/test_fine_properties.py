"""Properties of the hardware levels over a wider space of layers and arrays than
tests/test_fine.py's: strides 1-3, padding, grouped and depthwise convolutions, non-square
(and non-square-mapped) layers, non-square PE arrays from 1 x 1 up to 6 x 6, both engines
(vectorized and bit-serial) and all three dataflows.

- The Fine kernel's choice is exactly the optimum of the plain, exhaustive reference
  (hwflow/hw/fine/reference.py), which walks the whole mapspace in Python.
- Every level counts the layer's MACs as the convolution's definition does:
  batch x C_out x (C_in / groups) x K_h x K_w x H_out x W_out.
- Coarse <= Mid <= Fine in DRAM traffic and latency, and Mid <= Fine in energy (each level
  adds costs the one above leaves out).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hwflow.hw.coarse import coarse_layer_cost
from hwflow.hw.fine import fine_layer_cost, kernel as K, layout as L, reference
from hwflow.hw.fine.mapper import search_layer
from hwflow.hw.mid import mid_layer_cost
from hwflow.hw.query import LayerQuery
from hwflow.hw.tiling import MappingError
from hwflow.workload import Layer
from tests.conftest import make_accel

VECTOR_BITS = [16, 8, 6, 4, 2, 1]


@st.composite
def conv_layers(draw, max_channels: int = 4, max_out: int = 5) -> Layer:
    shape = draw(st.sampled_from(["dense", "grouped", "depthwise", "linear"]))
    if shape == "linear":
        return Layer("l", "linear", draw(st.integers(1, 16)), draw(st.integers(1, 16)),
                     1, 1, 1, 1)
    groups = {"dense": 1, "grouped": 2, "depthwise": draw(st.integers(2, max_channels))}[shape]
    per_in = 1 if shape == "depthwise" else draw(st.integers(1, max_channels))
    per_out = 1 if shape == "depthwise" else draw(st.integers(1, max_channels))
    k = draw(st.sampled_from([3, 1, 5]))
    stride = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(range(k // 2, -1, -1)))  # "same" padding first
    h_o, w_o = draw(st.integers(1, max_out)), draw(st.integers(1, max_out))
    # the input that gives h_o x w_o (plus rows the stride skips: floor in the output size)
    h_i = (h_o - 1) * stride + k - 2 * padding + draw(st.integers(0, stride - 1))
    w_i = (w_o - 1) * stride + k - 2 * padding + draw(st.integers(0, stride - 1))
    assume(h_i >= 1 and w_i >= 1)
    assert (h_i + 2 * padding - k) // stride + 1 == h_o  # the convolution's output size
    return Layer("l", "conv", groups * per_in, groups * per_out, h_i, w_i, h_o, w_o, k, k,
                 stride, padding, groups=groups)


@st.composite
def arrays(draw, max_side: int = 6):
    kind = draw(st.sampled_from(["vectorized", "bit-serial"]))
    return make_accel(rows=draw(st.integers(1, max_side)), cols=draw(st.integers(1, max_side)),
                      buffer_kb=draw(st.sampled_from([0.5, 2, 8])), kind=kind,
                      lanes=draw(st.sampled_from([2, 4])) if kind == "bit-serial" else 1,
                      dataflow=draw(st.sampled_from(["rs", "ws", "os"])),
                      rf=draw(st.sampled_from([(224, 12, 16), (12, 6, 4)])))


def bits(accel, draw) -> tuple[int, int, int]:
    pool = VECTOR_BITS if accel.engine.kind == "vectorized" else list(range(1, 17))
    return (draw(st.sampled_from(pool)), draw(st.sampled_from(pool)),
            draw(st.sampled_from([4, 8, 16])))


def macs_by_definition(layer: Layer, batch: int) -> int:
    return (batch * layer.c_o * (layer.c_i // layer.groups) * layer.k_h * layer.k_w
            * layer.h_o * layer.w_o)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layer=conv_layers(max_channels=3, max_out=4), accel=arrays(max_side=4),
       batch=st.integers(1, 2), objective=st.sampled_from(["energy", "latency", "edp"]),
       data=st.data())
def test_the_kernel_finds_the_exhaustive_reference_optimum(layer, accel, batch, objective, data):
    w, a, out = bits(accel, data.draw)
    found = reference.search(layer, w, a, out, accel, batch, objective)
    mapping, f, stats = search_layer(LayerQuery(layer, w, a, out, accel, batch, objective),
                                     K.search)
    if found is None:  # nothing fits: the kernel must find nothing either
        assert mapping is None
        return
    ref_mapping, costs, enumerated = found
    assert mapping == ref_mapping
    assert (f[L.BF_ENERGY], f[L.BF_LATENCY]) == (costs.energy, costs.latency)
    assert stats[L.ST_MAPSPACE] == enumerated


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(layer=conv_layers(max_channels=8, max_out=8), accel=arrays(), batch=st.integers(1, 3),
       data=st.data())
def test_levels_count_the_convolutions_macs_and_order_their_costs(layer, accel, batch, data):
    w, a, out = bits(accel, data.draw)
    query = LayerQuery(layer, w, a, out, accel, batch)
    try:
        fine = fine_layer_cost(query)
    except MappingError:
        assume(False)
    mid, coarse = mid_layer_cost(query), coarse_layer_cost(query)
    assert coarse.macs == mid.macs == fine.macs == macs_by_definition(layer, batch)
    assert coarse.dram_bytes <= mid.dram_bytes <= fine.dram_bytes
    assert coarse.latency_cycles <= mid.latency_cycles <= fine.latency_cycles
    assert mid.energy <= fine.energy
