"""The tiling vocabulary shared by Mid and Fine: the DRAM-level loop dimensions, which
operand each indexes, buffer tile sizes and footprints, the refetch rule and the DRAM
traffic of one tiling (module doc of ``mid`` has the rules), and ``MappingError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwflow.errors import HwflowError
from hwflow.hw.engines import elems_per_word
from hwflow.workload import Layer

DIMS: tuple[str, ...] = ("n", "g", "k", "c", "p", "q")
RELEVANT: dict[str, frozenset[str]] = {
    "w": frozenset("gkc"),
    "i": frozenset("ngcpq"),
    "o": frozenset("ngkpq"),
}
# Each dimension is irrelevant to exactly one operand (n, p, q: weights; k: inputs; c:
# outputs) and g to none, so the innermost multi-trip loop lets only the operand it is
# irrelevant to be reused, and that reuse grows with every irrelevant loop packed inside.
# Hence the minimum over all 720 loop orders is reached at one of three orders, each
# putting one operand's irrelevant loops innermost (checked against all orders in tests).
CANDIDATE_ORDERS: tuple[tuple[str, ...], ...] = (
    ("g", "k", "c", "n", "p", "q"),  # weights stay: batch and map loops innermost
    ("g", "n", "c", "p", "q", "k"),  # inputs stay: output-channel loop innermost
    ("g", "n", "k", "p", "q", "c"),  # outputs stay: input-channel loop innermost
)


class MappingError(HwflowError):
    """No mapping of a layer fits the accelerator's storage."""


@dataclass(frozen=True)
class BufferTiling:
    tile: dict[str, int]  # tile size per DRAM-level dimension
    trips: dict[str, int]  # iterations of each DRAM-level loop
    order: tuple[str, ...]  # DRAM-level loops, outermost first
    read_bits: int
    write_bits: int

    @property
    def bits(self) -> int:
        return self.read_bits + self.write_bits

    @property
    def passes(self) -> int:
        """Tiles processed, i.e. buffer fills."""
        return math.prod(self.trips.values())

    def describe(self) -> str:
        loops = " ".join(f"{d}{self.trips[d]}" for d in self.order if self.trips[d] > 1)
        tile = ",".join(f"{d}={self.tile[d]}" for d in DIMS)
        return f"DRAM[{loops or '-'}] tile({tile})"


def dims_of(layer: Layer, batch: int) -> dict[str, int]:
    return {"n": batch, "g": layer.groups, "k": layer.c_o_per_group,
            "c": layer.c_i_per_group, "p": layer.h_o, "q": layer.w_o}


def divisors_into(n: int, out) -> int:
    """Writes the divisors of n (n ≥ 1) into ``out`` in ascending order and returns how
    many there are: O(√n) trials, so a batch of 1e11 takes milliseconds. ``out`` needs
    ``divisor_capacity(n)`` slots. The one divisor helper of the hardware model (the Fine
    kernel compiles it inline)."""
    count = 0
    d = 1
    while d * d <= n:
        if n % d == 0:
            out[count] = d
            count += 1
        d += 1
    small = count
    if small > 0 and out[small - 1] * out[small - 1] == n:
        small -= 1  # a square's root has no partner
    for j in range(small - 1, -1, -1):
        out[count] = n // out[j]
        count += 1
    return count


def divisor_capacity(n: int) -> int:
    """Slots ``divisors_into`` may fill: at most two per trial up to √n (float root
    rounded down, plus a margin)."""
    return 2 * int(n ** 0.5) + 4


def divisors(n: int) -> list[int]:
    out = [0] * divisor_capacity(n)
    return out[:divisors_into(n, out)]


def tile_sizes(dim: str, size: int) -> list[int]:
    """Candidate tile sizes of one DRAM-level dimension."""
    if dim in "pq":
        return sorted({-(-size // t) for t in range(1, size + 1)})
    return divisors(size)


def trips_of(dims: dict[str, int], tile: dict[str, int]) -> dict[str, int]:
    return {d: -(-dims[d] // tile[d]) for d in DIMS}


def packed_words(count, bits: int, word_bits: int):
    """Words that ``count`` values of ``bits`` take, word-aligned (scalar or array)."""
    if bits > word_bits:
        return count * -(-bits // word_bits)
    per_word = elems_per_word(bits, word_bits)
    return -(-count // per_word)


def tile_elems(layer: Layer, tile: dict[str, int]) -> tuple[int, int, int]:
    """(weights, inputs, outputs) elements in one tile."""
    n, g, k, c, p, q = (tile[d] for d in DIMS)
    return (g * k * c * layer.k_h * layer.k_w,
            n * g * c * layer.input_rows(p) * layer.input_cols(q),
            n * g * k * p * q)


def footprint_bits(layer: Layer, tile: dict[str, int], w_bits: int, a_bits: int,
                   psum_bits: int, word_bits: int) -> int:
    """Buffer bits one tile occupies (outputs held as partial sums)."""
    w, i, o = tile_elems(layer, tile)
    return word_bits * (packed_words(w, w_bits, word_bits) + packed_words(i, a_bits, word_bits)
                        + packed_words(o, psum_bits, word_bits))


def fetch_counts(trips: dict[str, int], order: tuple[str, ...]) -> dict[str, int]:
    """Per operand, how many tiles of it are moved (refetch rule, see module doc)."""
    counts = {}
    for operand, relevant in RELEVANT.items():
        inner = max((i for i, d in enumerate(order) if d in relevant and trips[d] > 1), default=-1)
        counts[operand] = math.prod(trips[d] for d in order[: inner + 1])
    return counts


def traffic_bits(layer: Layer, batch: int, tile: dict[str, int], order: tuple[str, ...],
                 w_bits: int, a_bits: int, out_bits: int, psum_bits: int,
                 word_bits: int) -> tuple[int, int]:
    """(read bits, write bits) between DRAM and the buffer for one tiling — the plain
    reference the vectorized search and the Fine mapper agree with."""
    trips = trips_of(dims_of(layer, batch), tile)
    counts = fetch_counts(trips, order)
    w, i, o = tile_elems(layer, tile)
    out_tiles = math.prod(trips[d] for d in "ngkpq")
    refetch = counts["o"] // out_tiles  # times each output tile passes through the buffer
    psum_words = packed_words(o, psum_bits, word_bits)
    reads = (counts["w"] * packed_words(w, w_bits, word_bits)
             + counts["i"] * packed_words(i, a_bits, word_bits)
             + out_tiles * (refetch - 1) * psum_words)
    writes = out_tiles * (packed_words(o, out_bits, word_bits) + (refetch - 1) * psum_words)
    return reads * word_bits, writes * word_bits
