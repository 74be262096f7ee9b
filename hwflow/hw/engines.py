"""Arithmetic of the compute engines (HW-FlowQ's vectorized and bit-serial engines): speedups, packing, MAC throughput.

Vectorized (SIMD, word-aligned): V = floor(b_max / max(b_W, b_A)) operands per RF word and
MACs per instruction. Bit-serial (Loom-like): one MAC takes b_W·b_A cycles on a lane,
``lanes`` lanes per PE, speedup b_max² / (b_W·b_A) relative to one b_max MAC.
"""

from __future__ import annotations

from fractions import Fraction

from hwflow.hw.spec import Engine


def v_speedup(w_bits: int, a_bits: int, b_max: int) -> int:
    """Eq. 3: operands per vector word; 6-bit on 16-bit gives 2, not 2.67."""
    return max(1, b_max // max(w_bits, a_bits))


def bs_speedup(w_bits: int, a_bits: int, b_max: int) -> float:
    """Eq. 4: speedup of a bit-serial MAC over one b_max x b_max MAC."""
    return b_max * b_max / (w_bits * a_bits)


def speedup(engine: Engine, w_bits: int, a_bits: int) -> float:
    if engine.kind == "vectorized":
        return float(v_speedup(w_bits, a_bits, engine.b_max))
    return bs_speedup(w_bits, a_bits, engine.b_max)


def frac_ops(macs: float, engine: Engine, w_bits: int, a_bits: int) -> float:
    """Eq. 5 for one layer: OPs / speedup."""
    return macs / speedup(engine, w_bits, a_bits)


def macs_per_pe_cycle(engine: Engine, w_bits: int, a_bits: int) -> Fraction:
    """Peak MACs one PE finishes per cycle at these bitwidths, exact (a float 4/49 makes
    ceil(32 / (8·4/49)) come out 50 instead of 49)."""
    if engine.kind == "vectorized":
        return Fraction(v_speedup(w_bits, a_bits, engine.b_max))
    return Fraction(engine.lanes, w_bits * a_bits)


def elems_per_word(bits: int, word_bits: int) -> int:
    """How many ``bits``-wide values pack into one word (at least one)."""
    return max(1, word_bits // bits)


def stored_bits(count: int, bits: int, word_bits: int) -> int:
    """Bits that ``count`` values of width ``bits`` occupy, packed word-aligned.

    Values wider than a word take whole words each.
    """
    if bits > word_bits:
        words_each = -(-bits // word_bits)
        return count * words_each * word_bits
    per_word = elems_per_word(bits, word_bits)
    return -(-count // per_word) * word_bits
