"""A first-order area model in mm² (65 nm class), for comparing accelerator candidates.

area = PEs × (compute + register files) + global buffer (SRAM). DRAM and the array
network (NoC) are left out (off-chip, and wiring that scales with the PE count anyway).
Constants are round numbers of the right order for a 65 nm process, meant for relative
comparisons between designs, not sign-off:

- SRAM global buffer: about 1 µm² per bit including periphery (a 6T cell is about
  0.5 µm² at 65 nm; decoders, sense amplifiers and column muxes roughly double it),
  i.e. 0.008 mm² per KiB.
- Register files: flip-flop/latch arrays with their read/write ports, about 10 µm² per bit.
- One b_max × b_max MAC unit at b_max = 16: about 3000 µm² (a 16-bit multiplier plus a
  32-bit adder and pipeline registers); a multiplier's area grows with the product of its
  operand widths, so a b_max-bit MAC scales with (b_max / 16)².
- Vectorized (SIMD, subword-splittable) MAC: each halving of the narrowest supported
  operand (16 → 8 → 4 → 2 → 1) adds split carry chains, operand muxes and accumulator
  lanes; modelled as +5 % of the MAC per halving, so a 16-bit unit running down to 1 bit
  costs 1.2× a plain one (an assumption of the order reported for fusible multipliers such
  as Bit Fusion, Sharma et al., ISCA 2018, not a measured figure).
- One bit-serial lane (an AND-gate row, an adder and a shift accumulator for a b_max-bit
  operand): about 1/8 of a 16-bit MAC, growing linearly with b_max.

Scale check: Eyeriss (65 nm, 168 PEs, 108 KiB buffer, 0.5 KiB RF per PE) reports a
12.25 mm² core (Chen et al., JSSC 2017); this model puts spatial-168 at the same order
(tests/test_area.py).
"""

from __future__ import annotations

import math

from hwflow.hw.spec import Accelerator

SRAM_MM2_PER_BIT = 1.0e-6
RF_MM2_PER_BIT = 10.0e-6
MAC16_MM2 = 3.0e-3
SIMD_OVERHEAD_PER_HALVING = 0.05
BIT_SERIAL_LANE_MM2 = MAC16_MM2 / 8


def simd_overhead(b_max: int, narrowest: int) -> float:
    """Area factor of a MAC that splits into subwords down to ``narrowest`` bits."""
    return 1.0 + SIMD_OVERHEAD_PER_HALVING * math.log2(b_max / min(narrowest, b_max))


def compute_area(accel: Accelerator) -> float:
    """The arithmetic of one PE (mm²)."""
    b_max = accel.engine.b_max
    if accel.engine.kind == "vectorized":
        narrowest = min(accel.supported_bits) if accel.supported_bits else b_max
        return MAC16_MM2 * (b_max / 16) ** 2 * simd_overhead(b_max, narrowest)
    return BIT_SERIAL_LANE_MM2 * accel.engine.lanes * (b_max / 16)


def rf_area(accel: Accelerator) -> float:
    """The register files of one PE (mm²)."""
    rf = accel.rf
    return (rf.filter_words + rf.fmap_words + rf.psum_words) * accel.word_bits * RF_MM2_PER_BIT


def pe_area(accel: Accelerator) -> float:
    return compute_area(accel) + rf_area(accel)


def buffer_area(accel: Accelerator) -> float:
    return (accel.buffer.size_bytes or 0) * 8 * SRAM_MM2_PER_BIT


def accelerator_area(accel: Accelerator) -> float:
    return accel.pes * pe_area(accel) + buffer_area(accel)
