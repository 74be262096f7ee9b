"""The first-order area model: consistency checks of how it composes its constants, one
check against a published chip (Eyeriss), and monotonicity in every knob the accelerator
co-search turns.

The per-bit and per-MAC constants of hwflow/hw/area.py are round 65 nm figures, not
published measurements; the ``*_consistency`` tests restate them, so they check the
arithmetic (PEs × (MAC + RF) + buffer, the SIMD and bit-serial factors), not the
constants. The only independent figure is Eyeriss's core area."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from hwflow.catalog import load_accelerator
from hwflow.hw.area import accelerator_area, simd_overhead
from hwflow.hw.spec import Engine
from tests.conftest import make_accel


def test_spatial_256_area_consistency():
    # 256 PEs x (16-bit SIMD MAC down to 1 bit: 3000 um^2 x (1 + 4 halvings x 5 %)
    #            + (224 + 12 + 16) RF words x 16 bit x 10 um^2) + 256 KiB x 8 x 1 um^2
    pe = 3000e-6 * 1.2 + 252 * 16 * 10e-6
    expected = 256 * pe + 256 * 1024 * 8 * 1e-6
    assert accelerator_area(load_accelerator("spatial-256")) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(13.340672)


def test_bit_serial_256_area_consistency():
    # 16 lanes of 1/8 of a 16-bit MAC each instead of the SIMD MAC
    pe = 16 * 3000e-6 / 8 + 252 * 16 * 10e-6
    expected = 256 * pe + 256 * 1024 * 8 * 1e-6
    assert accelerator_area(load_accelerator("bs-256")) == pytest.approx(expected, rel=1e-12)


def test_simd_overhead_consistency_by_narrowest_supported_bitwidth():
    assert simd_overhead(16, 16) == 1.0
    assert simd_overhead(16, 8) == pytest.approx(1.05)
    assert simd_overhead(16, 2) == pytest.approx(1.15)
    assert simd_overhead(16, 1) == pytest.approx(1.2)
    wide = replace(make_accel(), supported_bits=(16, 8))
    narrow = replace(make_accel(), supported_bits=(16, 8, 4, 2))
    assert accelerator_area(narrow) - accelerator_area(wide) == pytest.approx(
        16 * 3000e-6 * 0.10)


def test_eyeriss_core_area_within_a_factor_of_two():
    # Published: Eyeriss (Chen, Krishna, Emer, Sze, JSSC 52(1), 2017, its chip summary):
    # TSMC 65 nm, 168 PEs, a 108 kB global buffer, 224/12/24 x 16 b scratchpads per PE, a
    # 3.5 mm x 3.5 mm = 12.25 mm^2 core. A first-order model should land within 2x.
    eyeriss = replace(load_accelerator("spatial-168"),
                      buffer=replace(load_accelerator("spatial-168").buffer, size_bytes=108 * 1024),
                      rf=replace(load_accelerator("spatial-168").rf, psum_words=24))
    assert 12.25 / 2 < accelerator_area(eyeriss) < 12.25 * 2


@settings(max_examples=60, deadline=None)
@given(knob=st.sampled_from(["rows", "cols", "buffer_kb", "filter", "fmap", "psum", "lanes",
                             "b_max"]),
       start=st.integers(1, 64), more=st.integers(1, 64), bit_serial=st.booleans())
def test_area_grows_with_every_knob(knob, start, more, bit_serial):
    def accel(value: int):
        kind = "bit-serial" if bit_serial or knob == "lanes" else "vectorized"
        a = make_accel(kind=kind, lanes=4)
        if knob in ("rows", "cols"):
            return replace(a, **{knob: value})
        if knob == "buffer_kb":
            return replace(a, buffer=replace(a.buffer, size_bytes=value * 1024))
        if knob in ("filter", "fmap", "psum"):
            return replace(a, rf=replace(a.rf, **{f"{knob}_words": value}))
        if knob == "lanes":
            return replace(a, engine=Engine("bit-serial", 16, value))
        return replace(a, engine=replace(a.engine, b_max=value + 1), supported_bits=(value + 1,))

    assert accelerator_area(accel(start)) < accelerator_area(accel(start + more))
