"""Mid level: DRAM ↔ on-chip buffer, compute assumed ideal (HW-FlowQ's Mid level).

Each layer is tiled for the global buffer at its quantized sizes; the tiling (tile sizes
and the order of the DRAM-level loops) that moves the fewest DRAM bits wins. Latency is the
roofline: the larger of the ideal compute cycles and the DRAM transfer time at the
configured bandwidth.

The DRAM-level loops are n (batch), g (groups), k (output channels per group), c (input
channels per group), p and q (output rows and columns); the kernel (r, s) stays whole in a
tile. Tiles of n, g, k, c divide their dimension; p and q may also be split unevenly
(any ceil(P/t) rows, as row-stationary folding does), a partial last tile being charged as
a full one. Traffic follows the refetch rule of
nn_dataflow (Gao et al., TETRIS, ASPLOS 2017; its loop-blocking cost model): an operand's
tile is fetched once per iteration of every loop
at or outside the innermost loop that indexes it (loops with one iteration do not count);
loops inside that one reuse it. An output tile that passes through the buffer f times
costs one final write at the next layer's a_bits plus (f−1) partial-sum write/read pairs
at psum width (b_max). The Fine level reuses this model so it can never beat Mid.
"""

from __future__ import annotations

import math

import numpy as np

from hwflow.hw.coarse import ideal_cycles
from hwflow.hw.engines import frac_ops
from hwflow.hw.query import LayerQuery
from hwflow.hw.report import LayerCost
from hwflow.hw.spec import Accelerator
from hwflow.hw.tiling import (
    CANDIDATE_ORDERS,
    DIMS,
    RELEVANT,
    BufferTiling,
    MappingError,
    dims_of,
    footprint_bits,
    packed_words,
    tile_sizes,
    trips_of,
)
from hwflow.workload import Layer


def best_buffer_tiling(layer: Layer, w_bits: int, a_bits: int, out_bits: int,
                       accel: Accelerator, batch: int) -> BufferTiling:
    """The tiling with the fewest DRAM bits, searched exhaustively over the candidate
    tiles and DRAM loop orders, vectorized over tiles."""
    word, psum = accel.word_bits, accel.engine.b_max
    dims = dims_of(layer, batch)
    grids = np.meshgrid(*[np.array(tile_sizes(d, dims[d]), dtype=np.int64) for d in DIMS],
                        indexing="ij")
    t = {d: g.ravel() for d, g in zip(DIMS, grids)}
    trips = {d: -(-dims[d] // t[d]) for d in DIMS}
    rows = np.array([layer.input_rows(v) for v in range(dims["p"] + 1)], dtype=np.int64)
    cols = np.array([layer.input_cols(v) for v in range(dims["q"] + 1)], dtype=np.int64)
    w_el = t["g"] * t["k"] * t["c"] * layer.k_h * layer.k_w
    i_el = t["n"] * t["g"] * t["c"] * rows[t["p"]] * cols[t["q"]]
    o_el = t["n"] * t["g"] * t["k"] * t["p"] * t["q"]
    w_words = packed_words(w_el, w_bits, word)
    i_words = packed_words(i_el, a_bits, word)
    ps_words = packed_words(o_el, psum, word)
    out_words = packed_words(o_el, out_bits, word)
    fits = (w_words + i_words + ps_words) * word <= (accel.buffer.size_bytes or 0) * 8
    if not fits.any():
        smallest = footprint_bits(layer, {d: 1 for d in DIMS}, w_bits, a_bits, psum, word)
        raise MappingError(
            f"layer {layer.name}: the global buffer is too small ({accel.buffer.size_bytes} bytes); "
            f"its smallest tile needs {smallest // 8} bytes")
    out_tiles = trips["n"] * trips["g"] * trips["k"] * trips["p"] * trips["q"]
    passes = out_tiles * trips["c"]
    best_key, best = None, None
    for order in CANDIDATE_ORDERS:
        counts = {}
        for operand, relevant in RELEVANT.items():
            # product of the trips down to the innermost relevant loop with trips > 1
            cum, count = np.ones_like(w_el), np.ones_like(w_el)
            for d in order:
                cum = cum * trips[d]
                if d in relevant:
                    count = np.where(trips[d] > 1, cum, count)
            counts[operand] = count
        refetch = counts["o"] // out_tiles
        reads = counts["w"] * w_words + counts["i"] * i_words + out_tiles * (refetch - 1) * ps_words
        writes = out_tiles * (out_words + (refetch - 1) * ps_words)
        total = np.where(fits, reads + writes, np.iinfo(np.int64).max)
        ties = np.flatnonzero(total == total.min())
        j = int(ties[np.argmin(passes[ties])])  # equal traffic: fewest buffer fills
        key = (int(total[j]), int(passes[j]))
        if best_key is None or key < best_key:
            best_key = key
            best = (j, order, int(reads[j]) * word, int(writes[j]) * word)
    j, order, read_bits, write_bits = best
    tile = {d: int(t[d][j]) for d in DIMS}
    return BufferTiling(tile=tile, trips=trips_of(dims, tile), order=order,
                        read_bits=read_bits, write_bits=write_bits)


def mid_layer_cost(query: LayerQuery) -> LayerCost:
    layer, w_bits, a_bits, batch = query.layer, query.w_bits, query.a_bits, query.batch
    out_bits, accel = query.out_bits, query.accelerator
    macs = layer.macs * batch
    tiling = best_buffer_tiling(layer, w_bits, a_bits, out_bits, accel, batch)
    dram_bytes = tiling.bits / 8
    compute = ideal_cycles(macs, accel, w_bits, a_bits)
    bandwidth = accel.dram.bandwidth
    transfer = dram_bytes / bandwidth if bandwidth else 0.0
    ops = frac_ops(macs, accel.engine, w_bits, a_bits)
    word = accel.word_bits
    energy = (tiling.read_bits / word * accel.dram.read_cost
              + tiling.write_bits / word * accel.dram.write_cost + ops * accel.mac_cost)
    return LayerCost(
        macs=macs, frac_ops=ops, dram_bytes=dram_bytes,
        latency_cycles=max(compute, math.ceil(transfer)), energy=energy,
        mapping=tiling.describe(),
        details={"passes": tiling.passes, "compute_cycles": compute,
                 "stall_cycles": max(compute, math.ceil(transfer)) - compute,
                 "comp_to_comm": macs / dram_bytes if dram_bytes else float("inf"),
                 "bound": "memory" if transfer > compute else "compute"})
