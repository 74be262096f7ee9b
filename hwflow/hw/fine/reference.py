"""Plain-Python reference of the Fine level: the cost model written for reading, and a
mapper that walks the whole mapspace one mapping at a time.

Same mapspace (``mapspace``) and cost model as the Numba kernel, but none of its
shortcuts: all 120 DRAM loop orders go through ``tiling.traffic_bits``, all 3! buffer-level
orders through the generic refetch rule, and every (DRAM order, buffer order) pair is
costed. Slow; tests use it on small layers to check that the kernel finds exactly its
optimum, and hand-computed tests check its access counts.

Cost model of one mapping (docs/hardware-model.md has the derivation):

- DRAM: Mid's traffic for the tile and order; energy per word read / written.
- Per buffer tile and group, a processing pass repeats L_i·L_o·L_b times. Weights and
  inputs the dataflow holds move (buffer reads, array deliveries) once per (tile, group)
  times their buffer-level fetch count (the refetch rule over the pass loops outside the
  RF), or once per DRAM fetch of their tile when the RFs hold the tile's whole share
  (nn_dataflow's rule across the buffer boundary); streamed ones move on every pass.
  Each output leaves the array f times in all: f buffer writes (the last at the next
  layer's a_bits, the others as b_max partial sums) and f−1 partial-sum reads.
- RF: per MAC, reads of the operands the dataflow holds (``mapspace.rf_rates``: RS filter,
  fmap and psum; WS filter; OS psum), packed reads shared by the lanes; each lane keeps
  its own psum (HW-FlowQ §3.3.1), so psum accesses do not fall with the lanes.
- MAC: Frac.OPs × mac_cost. Latency: passes × pass cycles (bit-serial: × b_W·b_A),
  rooflined against the DRAM transfer like Mid.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from hwflow.hw.engines import frac_ops
from hwflow.hw.fine.mapspace import (
    DATAFLOW_CODES,
    ENGINE_CODES,
    PASS_LOOPS,
    FineMapping,
    ceil_div,
    dram_class,
    glb_class,
    holds,
    lane_at,
    lane_count,
    pass_shape,
    psum_exits,
    rf_fits,
    rf_packing,
    rf_rates,
    spatial_count,
    tile_candidates,
    touched,
    words_per_elem,
)
from hwflow.hw.spec import Accelerator
from hwflow.hw.tiling import (
    CANDIDATE_ORDERS,
    DIMS,
    dims_of,
    divisors,
    fetch_counts,
    footprint_bits,
    traffic_bits,
    trips_of,
)
from hwflow.workload import Layer

# Which pass loops index each operand (the third one is its reuse loop).
PASS_RELEVANT: dict[str, tuple[str, ...]] = {"w": ("i", "o"), "i": ("i", "b"), "o": ("o", "b")}
ALL_DRAM_ORDERS: tuple[tuple[str, ...], ...] = tuple(
    ("g",) + order for order in itertools.permutations("nkcpq"))


@dataclass(frozen=True)
class Costs:
    """Energy (normalized) per level, latency (cycles) and access totals of one mapping."""

    dram: float
    sram: float
    array: float
    rf: float
    mac: float
    energy: float
    latency: float
    compute_cycles: float
    dram_cycles: float
    dram_read_bits: int
    dram_write_bits: int
    buffer_reads: float  # words, whole layer
    buffer_writes: float
    array_words: float
    rf_accesses: float


@dataclass(frozen=True)
class _Bits:
    w: int
    a: int
    out: int


def pass_fetch(t1: dict[str, int], order: tuple[str, ...]) -> dict[str, int]:
    """Refetch rule at the buffer → array boundary (nn_dataflow ``_set_fetch``): an
    operand is fetched again for every trip of its reuse loop that runs outside its
    innermost multi-trip relevant loop; loops inside that one reuse the RF copy."""
    fetch = {}
    for operand, relevant in PASS_RELEVANT.items():
        inner = max((i for i, loop in enumerate(order) if loop in relevant and t1[loop] > 1),
                    default=-1)
        fetch[operand] = math.prod(t1[loop] for loop in order[:inner]
                                   if loop not in relevant) if inner >= 0 else 1
    return fetch


def _dram_part(layer: Layer, batch: int, tile: dict[str, int], order: tuple[str, ...],
               bits: _Bits, accel: Accelerator) -> dict[str, float]:
    word = accel.word_bits
    reads, writes = traffic_bits(layer, batch, tile, order, bits.w, bits.a, bits.out,
                                 accel.engine.b_max, word)
    trips = trips_of(dims_of(layer, batch), tile)
    counts = fetch_counts(trips, order)
    bandwidth = accel.dram.bandwidth
    return {
        "energy": reads / word * accel.dram.read_cost + writes / word * accel.dram.write_cost,
        "cycles": float(math.ceil((reads + writes) / 8 / bandwidth)) if bandwidth else 0.0,
        "reads": reads, "writes": writes,
        # tiles of weights / inputs moved, passes of each output tile through the buffer
        "count_w": counts["w"], "count_i": counts["i"],
        "refetch": counts["o"] // math.prod(trips[d] for d in "ngkpq"),
    }


def _amounts(dataflow: str, shape: tuple[int, ...], tile: dict[str, int], pa: float, qa: float,
             layer: Layer) -> dict[str, float]:
    """Once-through amounts of one group of a buffer tile, in elements: buffer reads
    (``wg``, ``ig``) and array deliveries (``wa``, ``ia``) of weights and inputs, and the
    array hops of one output per pass (``hops``). ``pa``, ``qa``: the tile's average
    output rows and columns. An array word counts once per PE it reaches (nn_dataflow's
    ITCN accesses), multicast included."""
    x_i, x_o, _, _, fold_h, fold_a, fold_b = shape[:7]
    n, k, c = tile["n"], tile["k"], tile["c"]
    r, s, st, dl = layer.k_h, layer.k_w, layer.stride, layer.dilation
    wg = float(c * k * r * s)
    if dataflow == "rs":
        # logical PE set r × e per piece: a filter row goes to the e PEs of a row in each
        # of the pieces one pass holds (fold_b passes hold them all),
        # an ifmap row to each PE of the x_o output-channel replicas, a psum row hops up
        # the r PEs of a column
        ea = pa / fold_a
        rows_f = touched(ea, r, st, dl)
        cols_f = touched(qa, s, st, dl)
        ig = float(c * n * fold_a) * rows_f * cols_f * fold_h
        return {"wg": wg, "ig": ig, "wa": wg * pa / fold_b,
                "ia": float(c * n * fold_a * r * x_o) * ea * cols_f,
                "hops": r}
    if dataflow == "ws":
        # weights go to one PE each; inputs stream from the buffer along the
        # output-channel PEs (multicast) with no fmap RF, once per filter tap; psums hop
        # through the x_i PEs of C_i
        streamed = float(c * n * r * s) * pa * qa
        return {"wg": wg, "ig": streamed, "wa": wg, "ia": streamed * x_o, "hops": x_i}
    # output stationary: weights broadcast to the pe × qe PEs of a replica, every PE
    # gets its r × s window per input channel, outputs leave once per pass
    pe = pa / fold_a
    qe = qa / fold_b
    ig = float(c * n * fold_a * fold_b) * touched(pe, r, st, dl) * touched(qe, s, st, dl)
    return {"wg": wg, "ig": ig, "wa": wg * pe * qe, "ia": float(c * n * r * s * x_o) * pa * qa,
            "hops": 1}


def lane_options(extents: tuple[int, int, int], spatial: tuple[int, int, int],
                 u_max: int) -> list[tuple[int, int]]:
    """(lane loop, u) choices in enumeration order: none first, then over output channels,
    then over batch×folds (every lane computes its own outputs)."""
    options = [(-1, 1)]
    for v in range(1, 3):
        for j in range(lane_count(extents[v], spatial[v], u_max)):
            options.append((v, lane_at(extents[v], spatial[v], u_max, j)))
    return options


class _Context:
    """Everything about a layer on an accelerator that every mapping shares."""

    def __init__(self, layer: Layer, w_bits: int, a_bits: int, out_bits: int,
                 accel: Accelerator, batch: int) -> None:
        self.layer, self.accel, self.batch = layer, accel, batch
        self.bits = _Bits(w_bits, a_bits, out_bits)
        self.dataflow = accel.dataflow
        self.df = DATAFLOW_CODES[accel.dataflow]
        self.engine = ENGINE_CODES[accel.engine.kind]
        word, b_max = accel.word_bits, accel.engine.b_max
        rf = accel.rf
        self.rf_layout = (*rf_packing(self.engine, w_bits, a_bits, b_max, word),
                          rf.filter_words, rf.fmap_words, rf.psum_words, rf.shared)
        vectorized = self.engine == ENGINE_CODES["vectorized"]
        self.u_max = max(1, b_max // max(w_bits, a_bits)) if vectorized else accel.engine.lanes
        self.cycles_per_mac = 1 if vectorized else w_bits * a_bits
        self.macs = layer.macs * batch
        self.e_mac = frac_ops(self.macs, accel.engine, w_bits, a_bits) * accel.mac_cost
        self.wpe = {"w": words_per_elem(w_bits, word), "a": words_per_elem(a_bits, word),
                    "out": words_per_elem(out_bits, word), "psum": words_per_elem(b_max, word)}
        self.pack = {"w": max(1, word // w_bits), "a": max(1, word // a_bits)}
        self.outs = float(batch * layer.output_count)


def _rf_rates(ctx: _Context, v: int, u: int, extents: tuple[int, ...],
              spatial: tuple[int, ...], trips: tuple[int, ...]) -> tuple[float, float, float]:
    """RF accesses per MAC (filter reads, fmap reads, psum updates) with u lanes on loop v
    (``mapspace.rf_rates``), lanes busy on average."""
    ueff = 1.0
    if v > 0:
        ueff = min(max(extents[v] / float(spatial[v] * trips[v]), 1.0), float(u))
    return rf_rates(ctx.df, ctx.engine == ENGINE_CODES["vectorized"], v, ueff,
                    float(ctx.pack["w"]), float(ctx.pack["a"]))


def _inner_part(ctx: _Context, tile: dict[str, int], trips_pq: tuple[int, int], variant: int,
                v: int, u: int, rf: tuple[int, int, int],
                glb_order: tuple[int, ...]) -> dict[str, float] | None:
    """On-chip part of a mapping for one group of one buffer tile (None: RF overflow)."""
    layer, accel = ctx.layer, ctx.accel
    shape = pass_shape(ctx.df, variant, tile["n"], tile["k"], tile["c"], tile["p"], tile["q"],
                       layer.k_h, layer.k_w, accel.rows, accel.cols, accel.rs_cuts)
    x_i, x_o, x_b, time, fold_h = shape[:5]
    unit_f, unit_i, unit_o = shape[7:]
    extents = (tile["c"], tile["k"], x_b)
    spatial = (x_i, x_o, 1)
    lanes = tuple(u if v == j else 1 for j in range(3))
    trips = tuple(ceil_div(extents[j], spatial[j] * lanes[j]) for j in range(3))
    if any(trips[j] % rf[j] for j in range(3)):
        return None
    i2, o2, b2 = rf
    if not rf_fits(i2 * o2 * unit_f * (u if v in (0, 1) else 1),
                   i2 * b2 * unit_i * (u if v in (0, 2) else 1),
                   o2 * b2 * unit_o * (u if v in (1, 2) else 1), *ctx.rf_layout):
        return None
    t1 = {loop: trips[j] // rf[j] for j, loop in enumerate(PASS_LOOPS)}
    fetch = pass_fetch(t1, tuple(PASS_LOOPS[j] for j in glb_order))
    am = _amounts(ctx.dataflow, shape, tile, layer.h_o / trips_pq[0], layer.w_o / trips_pq[1],
                  layer)
    rw, ri, ro = _rf_rates(ctx, v, u, extents, spatial, trips)
    rf_cost = accel.rf
    # An operand whose relevant pass loops all run inside the RF has the whole tile's
    # share in the RFs: it stays there across DRAM tiles that do not change it (one
    # group per tile, no filter-row folds). An operand the dataflow does not hold in
    # the PE moves again on every pass of the loop it is irrelevant to.
    whole = tile["g"] == 1
    hold_w, hold_i, hold_o = holds(ctx.df)
    return {
        **am, "fold_h": fold_h, "exits": psum_exits(ctx.df, fold_h, layer.k_h, layer.k_w),
        "fw": fetch["w"] if hold_w else trips[2],
        "fi": fetch["i"] if hold_i else trips[1],
        "fo": fetch["o"] if hold_o else trips[0],
        "keep_w": hold_w and whole and fold_h == 1 and t1["i"] == 1 and t1["o"] == 1,
        "keep_i": hold_i and whole and fold_h == 1 and t1["i"] == 1 and t1["b"] == 1,
        "keep_o": hold_o and whole and t1["o"] == 1 and t1["b"] == 1,
        "rf": ctx.macs * (rw * rf_cost.read_cost + ri * rf_cost.read_cost
                          + ro * (rf_cost.read_cost + rf_cost.write_cost)),
        "rf_accesses": ctx.macs * (rw + ri + 2.0 * ro),
        "passes": trips[0] * trips[1] * trips[2],
        "time": time * ctx.cycles_per_mac,
        "glb_inner": glb_class(glb_order, (t1["i"], t1["o"], t1["b"])),
    }


def _onchip(ctx: _Context, dram: dict[str, float], inner: dict[str, float], tiles: int,
            t_c: int) -> tuple[float, float, float]:
    """(buffer reads, buffer writes, array words) of the whole layer.

    Weights and inputs move once per processing of a (tile, group) times their
    buffer-level fetch count, or once per DRAM fetch of their tile when they stay in the
    RFs. An output passes through the array ``passes`` times in all: f writes to the
    buffer (the last at the next layer's a_bits) and f−1 partial-sum reads back."""
    wpe = ctx.wpe
    m_w = dram["count_w"] if inner["keep_w"] else tiles * inner["fw"]
    m_i = dram["count_i"] if inner["keep_i"] else tiles * inner["fi"]
    passes = inner["exits"] * (dram["refetch"] if inner["keep_o"] else t_c * inner["fo"])
    outs = ctx.outs
    glb_r = (inner["wg"] * m_w * wpe["w"] + inner["ig"] * m_i * wpe["a"]
             + (passes - 1) * outs * wpe["psum"])
    glb_w = outs * (wpe["out"] + (passes - 1) * wpe["psum"])
    arr = (inner["wa"] * m_w * wpe["w"] + inner["ia"] * m_i * wpe["a"]
           + (passes * inner["hops"] + (passes - 1)) * outs * wpe["psum"])
    return glb_r, glb_w, arr


def _totals(ctx: _Context, dram: dict[str, float], inner: dict[str, float], tiles: int,
            t_c: int) -> tuple[float, float, float, float, float]:
    """(energy, latency, buffer energy, array energy, compute cycles) of a mapping."""
    glb_r, glb_w, arr = _onchip(ctx, dram, inner, tiles, t_c)
    e_sram = glb_r * ctx.accel.buffer.read_cost + glb_w * ctx.accel.buffer.write_cost
    e_array = arr * ctx.accel.array_cost
    energy = dram["energy"] + e_sram + e_array + inner["rf"] + ctx.e_mac
    compute = float(tiles * inner["passes"] * inner["time"])
    return energy, max(compute, dram["cycles"]), e_sram, e_array, compute


def _combine(ctx: _Context, dram: dict[str, float], inner: dict[str, float], tiles: int,
             t_c: int) -> Costs:
    energy, latency, e_sram, e_array, compute = _totals(ctx, dram, inner, tiles, t_c)
    glb_r, glb_w, arr = _onchip(ctx, dram, inner, tiles, t_c)
    return Costs(
        dram=dram["energy"], sram=e_sram, array=e_array, rf=inner["rf"], mac=ctx.e_mac,
        energy=energy, latency=latency, compute_cycles=compute,
        dram_cycles=dram["cycles"], dram_read_bits=dram["reads"], dram_write_bits=dram["writes"],
        buffer_reads=glb_r, buffer_writes=glb_w, array_words=arr,
        rf_accesses=inner["rf_accesses"])


def score(energy: float, latency: float, objective: str) -> tuple[float, float]:
    """What the mapper minimizes, then its tie-break."""
    if objective == "energy":
        return energy, latency
    if objective == "latency":
        return latency, energy
    return energy * latency, energy


def _canonical_glb_order(inner: int) -> tuple[int, ...]:
    if inner < 0:
        return (0, 1, 2)
    return tuple(j for j in range(3) if j != inner) + (inner,)


def evaluate(layer: Layer, w_bits: int, a_bits: int, out_bits: int, accel: Accelerator,
             batch: int, mapping: FineMapping) -> Costs | None:
    """Costs of one mapping (None if its tile or RF contents do not fit)."""
    ctx = _Context(layer, w_bits, a_bits, out_bits, accel, batch)
    tile = dict(zip(DIMS, mapping.tile))
    if footprint_bits(layer, tile, w_bits, a_bits, accel.engine.b_max,
                      accel.word_bits) > (accel.buffer.size_bytes or 0) * 8:
        return None
    trips = trips_of(dims_of(layer, batch), tile)
    dram = _dram_part(layer, batch, tile, CANDIDATE_ORDERS[mapping.dram_class], ctx.bits, accel)
    inner = _inner_part(ctx, tile, (trips["p"], trips["q"]), mapping.variant, mapping.lane_loop,
                        mapping.lanes, mapping.rf, _canonical_glb_order(mapping.glb_inner))
    if inner is None:
        return None
    return _combine(ctx, dram, inner, math.prod(trips.values()) * tile["g"], trips["c"])


def search(layer: Layer, w_bits: int, a_bits: int, out_bits: int, accel: Accelerator,
           batch: int = 1, objective: str = "latency"
           ) -> tuple[FineMapping, Costs, int] | None:
    """The best mapping by exhaustive enumeration, its costs and the number of mappings
    enumerated; None when no mapping fits."""
    ctx = _Context(layer, w_bits, a_bits, out_bits, accel, batch)
    cands = tile_candidates(layer, batch, accel.dataflow, accel.rows, accel.cols)
    dims = dims_of(layer, batch)
    buffer_bits = (accel.buffer.size_bytes or 0) * 8
    best: tuple | None = None
    enumerated = 0
    for tile_index, sizes in enumerate(itertools.product(*(cands[d] for d in DIMS))):
        tile = dict(zip(DIMS, sizes))
        if footprint_bits(layer, tile, w_bits, a_bits, accel.engine.b_max,
                          accel.word_bits) > buffer_bits:
            continue
        trips = trips_of(dims, tile)
        tiles = math.prod(trips.values()) * tile["g"]  # (tile, group) processings
        drams = [(dram_class(order, trips), _dram_part(layer, batch, tile, order, ctx.bits, accel))
                 for order in ALL_DRAM_ORDERS]
        for variant in range(spatial_count(ctx.df, layer.k_h, tile["p"], accel.rows, accel.cols,
                                           accel.rs_cuts)):
            shape = pass_shape(ctx.df, variant, tile["n"], tile["k"], tile["c"], tile["p"],
                               tile["q"], layer.k_h, layer.k_w, accel.rows, accel.cols,
                               accel.rs_cuts)
            extents = (tile["c"], tile["k"], shape[2])
            spatial = (shape[0], shape[1], 1)
            for v, u in lane_options(extents, spatial, ctx.u_max):
                trips_pass = [ceil_div(extents[j], spatial[j] * (u if v == j else 1))
                              for j in range(3)]
                for rf in itertools.product(*(divisors(t) for t in trips_pass)):
                    inners = [_inner_part(ctx, tile, (trips["p"], trips["q"]), variant, v, u, rf,
                                          glb_order)
                              for glb_order in itertools.permutations(range(3))]
                    if inners[0] is None:
                        continue
                    enumerated += len(drams) * len(inners)
                    for inner in inners:
                        for dclass, dram in drams:
                            energy, latency = _totals(ctx, dram, inner, tiles, trips["c"])[:2]
                            mapping = (ctx.dataflow, sizes, dclass, variant, v, u, rf,
                                       inner["glb_inner"])
                            # equal scores: the first mapping in the kernel's enumeration order
                            rank = (score(energy, latency, objective),
                                    (tile_index, variant, v, u, *rf, inner["glb_inner"], dclass))
                            if best is None or rank < best[0]:
                                best = (rank, mapping, dram, inner, tiles, trips["c"])
    if best is None:
        return None
    _, mapping, dram, inner, tiles, t_c = best
    return FineMapping(*mapping), _combine(ctx, dram, inner, tiles, t_c), enumerated
