"""A first-order area model (mm², 65 nm class), for comparing accelerator candidates.

Constants are round numbers of the right order for a 65 nm process, meant for relative
comparisons between designs, not sign-off:
- SRAM global buffer: about 1 µm² per bit including periphery (a 6T cell is about 0.5 µm²
  at 65 nm), i.e. 0.008 mm² per KiB.
- Register files: flip-flop/latch arrays, about 10 µm² per bit.
- One 16x16-bit MAC unit: about 3000 µm²; a SIMD (subword-splittable) MAC adds about 20%
  for the split carry chains and wider accumulators.
- One bit-serial lane (an AND gate array, adder and shift accumulator): about 1/8 of a
  16-bit MAC.
Scale: Eyeriss (65 nm, 168 PEs, 108 KB buffer) reports a 12.25 mm² core (JSSC 2017),
which this model puts at about the same order (see tests/test_area.py).
"""

from __future__ import annotations

from hwflow.hw.spec import Accelerator

SRAM_MM2_PER_BIT = 1.0e-6
RF_MM2_PER_BIT = 10.0e-6
MAC16_MM2 = 3.0e-3
SIMD_OVERHEAD = 1.2
BIT_SERIAL_LANE_MM2 = MAC16_MM2 / 8


def pe_area(accel: Accelerator) -> float:
    rf = accel.rf
    rf_bits = (rf.filter_words + rf.fmap_words + rf.psum_words) * accel.word_bits
    scale = (accel.engine.b_max / 16) ** 2  # multiplier area grows with operand width squared
    if accel.engine.kind == "vectorized":
        compute = MAC16_MM2 * SIMD_OVERHEAD * scale
    else:
        compute = BIT_SERIAL_LANE_MM2 * accel.engine.lanes * (accel.engine.b_max / 16)
    return compute + rf_bits * RF_MM2_PER_BIT


def accelerator_area(accel: Accelerator) -> float:
    buffer_bits = (accel.buffer.size_bytes or 0) * 8
    return accel.pes * pe_area(accel) + buffer_bits * SRAM_MM2_PER_BIT
