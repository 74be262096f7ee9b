"""What mappings exist at the Fine level, per dataflow (Timeloop's "mapspace").

A Fine mapping of one layer has four parts, outermost first:

1. **DRAM ↔ buffer.** One of Mid's buffer tilings: tile sizes of n, g, k, c, p, q from
   ``tiling.tile_sizes`` that fit ``tiling.footprint_bits``, and one of Mid's DRAM loop orders
   (all 120 orders with g outermost; only three of them can be optimal, see
   ``DRAM_CLASSES``). Traffic is Mid's refetch rule, so Fine can never beat Mid.
   Every dataflow streams whole output rows (the q tile is Q). Row stationary also keeps
   at least one "fold piece" of ceil(P/fold) output rows per tile, where fold is how often
   the ofmap height is folded over the array width (nn_dataflow's processing pass).
2. **Spatial.** How one buffer tile is laid onto the rows × cols PE array (RS: logical PE
   set R × E cut into ofmap-row pieces, folded and replicated, ``rs_option_at``; WS:
   C × K; OS: P × Q replicated over K). This yields a *processing pass* and three loops
   over passes: i (input channels), o (output channels) and b (batch × map pieces in
   time), with trip counts L_i, L_o, L_b. What the PE holds across passes and reads from
   its RF per MAC depends on the dataflow (``holds``, ``rf_rates``, ``psum_exits``).
3. **Lanes.** A vectorized PE acts as V virtual PEs, a bit-serial PE has ``lanes`` lanes:
   the o or the b pass loop is unrolled u-fold inside the PE (u ≤ V or lanes); every lane
   computes its own outputs with its own b_max psum.
4. **RF and buffer loops.** RF interleave factors (i2, o2, b2), each dividing its loop
   count, say how many passes' data each PE keeps in its RF (channels interleaved in the
   RF); the remaining factors L/t2 run at the buffer level in one of 3! orders, of which
   only the innermost multi-trip loop matters (``glb_class``).

The helpers here are plain Python on ints: the reference mapper calls them as they are,
and the Numba kernel compiles the very same code inline (those marked ``kernel_helper``;
``kernel`` registers them with Numba, so this module never imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from hwflow.hw.tiling import DIMS, dims_of, divisor_capacity, divisors_into, tile_sizes
from hwflow.workload import Layer

F = TypeVar("F", bound=Callable[..., Any])

KERNEL_HELPERS: list[Callable[..., Any]] = []


def kernel_helper(fn: F) -> F:
    """Mark a helper the kernel compiles inline; it stays a plain Python function here."""
    KERNEL_HELPERS.append(fn)
    return fn


DATAFLOW_CODES: dict[str, int] = {"rs": 0, "ws": 1, "os": 2}
ENGINE_CODES: dict[str, int] = {"vectorized": 0, "bit-serial": 1}
OBJECTIVE_CODES: dict[str, int] = {"energy": 0, "latency": 1, "edp": 2}

PASS_LOOPS: tuple[str, ...] = ("i", "o", "b")  # input channels, output channels, batch×folds

# DRAM loop-order classes, named by the operand the innermost multi-trip DRAM loop lets
# stay in the buffer; their representatives are tiling.CANDIDATE_ORDERS in this order.
DRAM_CLASSES: tuple[str, ...] = ("w", "i", "o")


def dram_class(order: tuple[str, ...], trips: dict[str, int]) -> int:
    """Class of a DRAM loop order: which operand its innermost multi-trip loop reuses.

    n, p, q are irrelevant to weights (class 0), k to inputs (1), c to outputs (2); g is
    relevant to all. With no multi-trip loop besides g every order is alike (class 0).
    """
    for d in reversed(order):
        if d != "g" and trips[d] > 1:
            return 1 if d == "k" else 2 if d == "c" else 0
    return 0


@kernel_helper
def dram_classes_active(trips_n: int, trips_k: int, trips_c: int, trips_p: int,
                        trips_q: int) -> tuple[bool, bool, bool]:
    """Which DRAM classes some order of this tiling belongs to."""
    w = trips_n > 1 or trips_p > 1 or trips_q > 1
    i = trips_k > 1
    o = trips_c > 1
    if not (w or i or o):
        w = True
    return w, i, o


def glb_class(order: tuple[int, ...], t1: tuple[int, int, int]) -> int:
    """Class of a buffer-level order of the pass loops (0=i, 1=o, 2=b, outermost first):
    its innermost loop with more than one trip, or -1 when every loop has one trip."""
    for loop in reversed(order):
        if t1[loop] > 1:
            return loop
    return -1


@kernel_helper
def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@kernel_helper
def balanced(extent: int, cap: int) -> int:
    """Spatial factor ≤ cap that covers ``extent`` in the fewest folds, evenly."""
    return ceil_div(extent, ceil_div(extent, cap))


kernel_helper(divisors_into)
kernel_helper(divisor_capacity)


@kernel_helper
def divisor_count(n: int) -> int:
    return divisors_into(n, np.empty(divisor_capacity(n), dtype=np.int64))


@kernel_helper
def divisor_at(n: int, index: int) -> int:
    """The index-th divisor of n in ascending order."""
    out = np.empty(divisor_capacity(n), dtype=np.int64)
    divisors_into(n, out)
    return int(out[index])


@kernel_helper
def rs_fold(r: int, e: int, rows: int, cols: int) -> tuple[int, int, int, int]:
    """Row stationary: fold or replicate the logical PE set r × e (filter rows × ofmap
    rows) onto rows × cols PEs, as Eyeriss (JSSC'17 §IV.A) and nn_dataflow's
    MapStrategyEyeriss do. Returns (fold_h, fold_w, repl_h, repl_w); spare row
    replication first absorbs width folds (a folded ofmap row set laid out in two bands).
    """
    fold_h, repl_h, fold_w, repl_w = 1, 1, 1, 1
    if r > rows:
        fold_h = ceil_div(r, rows)
    else:
        repl_h = rows // r
    if e > cols:
        fold_w = ceil_div(e, cols)
    else:
        repl_w = cols // e
    w2h = min(repl_h, fold_w)
    return fold_h, ceil_div(fold_w, w2h), repl_h // w2h, repl_w


@kernel_helper
def rs_min_rows(r: int, p: int, rows: int, cols: int) -> int:
    """Smallest p tile row stationary accepts: one fold piece of the whole ofmap height."""
    fold_w = rs_fold(r, p, rows, cols)[1]
    return ceil_div(p, fold_w)


@kernel_helper
def rs_option_at(r: int, e: int, rows: int, cols: int, cuts: bool,
                 index: int) -> tuple[int, int, bool]:
    """Row stationary layouts of ``e`` ofmap rows: the ``index``-th as (pieces, spread,
    found), or the number of layouts as its first value when ``index`` is -1.

    Cutting the ofmap height into pieces of at most cols // m rows (m = 1, 2, ...) lets m
    pieces share a band of columns, so spare columns take pieces of other channels
    (Eyeriss JSSC'17 §IV.A: fold and replicate to fill the array; on 12 × 14 ZigZag and
    the paper reach about 86 %). Each cut is placed side by side or spread in time
    (``rs_layout``). m = 1 side by side is nn_dataflow's fold, the only layout without
    ``cuts``; any other is kept only if it fills the array strictly better than every
    layout before it (replicas · e / passes in time), which keeps the mapspace small."""
    count = 0
    best_num, best_den = 0, 1
    prev = 0
    for m in range(1, (cols if cuts else 1) + 1):
        pieces = ceil_div(e, min(e, cols // m))
        if pieces == prev:
            continue
        prev = pieces
        for spread in (False, True):
            _, in_time, replicas, _ = rs_layout(r, e, rows, cols, pieces, spread)
            if replicas * e * best_den <= best_num * in_time:
                continue
            best_num, best_den = replicas * e, in_time
            if count == index:
                return pieces, spread, True
            count += 1
            if not cuts:
                break
    return count, False, False


@kernel_helper
def rs_layout(r: int, e: int, rows: int, cols: int, pieces: int,
              spread: bool) -> tuple[int, int, int, int]:
    """Row stationary with the ofmap height cut into ``pieces`` pieces: (fold_h, time
    folds, replicas, slots). Filter rows fold when R exceeds the rows; otherwise rows // R
    bands of R rows each hold cols // piece pieces side by side (the slots). Either the
    pieces of one channel set take the slots first and whole spare sets of slots
    replicate over channels (nn_dataflow's absorption of width folds), or (``spread``)
    each pass holds one piece of as many channel sets as there are slots and the pieces
    run in time."""
    piece = ceil_div(e, pieces)
    if r > rows:
        fold_h, bands = ceil_div(r, rows), 1
    else:
        fold_h, bands = 1, rows // r
    slots = bands * (cols // piece)
    placed = 1 if spread else min(slots, pieces)
    return fold_h, ceil_div(pieces, placed), slots // placed, slots


@kernel_helper
def spatial_count(dataflow: int, r: int, pt: int, rows: int, cols: int, cuts: bool) -> int:
    """How many spatial variants a buffer tile has: RS tries each layout
    (``rs_option_at``) and splits its replicas between input and output channels (each
    divisor); WS and OS may lay their two unrolled dimensions either way round on a
    non-square array."""
    if dataflow == 0:
        count = 0
        for j in range(rs_option_at(r, pt, rows, cols, cuts, -1)[0]):
            pieces, spread, _ = rs_option_at(r, pt, rows, cols, cuts, j)
            count += divisor_count(rs_layout(r, pt, rows, cols, pieces, spread)[2])
        return count
    return 1 if rows == cols else 2


@kernel_helper
def pass_shape(dataflow: int, variant: int, n: int, k: int, c: int, pt: int, qt: int,
               r: int, s: int, rows: int, cols: int, cuts: bool
               ) -> tuple[int, int, int, int, int, int, int, int, int, int]:
    """The processing pass of one group of a buffer tile under one spatial variant.

    Returns (X_i, X_o, x_b, time, fold_h, fold_a, fold_b, unit_f, unit_i, unit_o):
    - X_i, X_o: input / output channels one pass covers across the array; x_b: extent of
      the b loop (batch × spatial folds); the i and o extents are c and k;
    - time: cycles of one pass at one MAC per PE-lane per cycle;
    - fold_h: RS filter-row folds (outputs pass through the buffer once per fold);
    - fold_a, fold_b: how the map is cut (RS: ofmap-row pieces, and the passes they take
      in time; OS: p and q folds; WS: 1, 1);
    - unit_f, unit_i, unit_o: RF elements one pass needs per PE (filter, fmap, psum).
    """
    if dataflow == 0:  # row stationary
        rest = variant
        for j in range(rs_option_at(r, pt, rows, cols, cuts, -1)[0]):
            pieces, spread, _ = rs_option_at(r, pt, rows, cols, cuts, j)
            fold_h, folds, replicas, _ = rs_layout(r, pt, rows, cols, pieces, spread)
            splits = divisor_count(replicas)
            if rest < splits:
                ifms = divisor_at(replicas, rest)
                return (ifms, replicas // ifms, n * folds, fold_h * s * qt, fold_h, pieces,
                        folds, s, s, 1)
            rest -= splits
        raise ValueError("no such spatial variant")
    if dataflow == 1:  # weight stationary: C_i down the rows, C_o across the columns
        c_cap, k_cap = (rows, cols) if variant == 0 else (cols, rows)
        a_i = balanced(c, c_cap)
        a_o = balanced(k, k_cap)
        # the PE keeps its R·S filter; inputs stream through and psums pass down the
        # column (no fmap or psum RF), one filter tap at a time
        return (a_i, a_o, n, r * s * pt * qt, 1, 1, 1, r * s, 0, 0)
    # output stationary: H_o down the rows, W_o across the columns, replicated over C_o
    p_cap, q_cap = (rows, cols) if variant == 0 else (cols, rows)
    a_p = balanced(pt, p_cap)
    a_q = balanced(qt, q_cap)
    fold_p = ceil_div(pt, a_p)
    fold_q = ceil_div(qt, a_q)
    a_k = balanced(k, (p_cap // a_p) * (q_cap // a_q))
    # the PE keeps one psum; weights and inputs stream in (no filter or fmap RF)
    return (1, a_k, n * fold_p * fold_q, r * s, 1, fold_p, fold_q, 0, 0, 1)


@kernel_helper
def lane_count(extent: int, spatial: int, u_max: int) -> int:
    """Lane factors worth trying on one pass loop: for every distinct trip count the
    loop can reach with u ≤ u_max lanes, the smallest u reaching it (u = 1 excluded:
    that is the no-lane mapping). More lanes at the same trip count only cost RF."""
    count = 0
    prev = ceil_div(extent, spatial)
    for u in range(2, u_max + 1):
        trips = ceil_div(extent, spatial * u)
        if trips < prev:
            count += 1
            prev = trips
    return count


@kernel_helper
def lane_at(extent: int, spatial: int, u_max: int, index: int) -> int:
    """The index-th lane factor of ``lane_count``'s list, ascending."""
    seen = 0
    prev = ceil_div(extent, spatial)
    for u in range(2, u_max + 1):
        trips = ceil_div(extent, spatial * u)
        if trips < prev:
            if seen == index:
                return u
            seen += 1
            prev = trips
    return 1


def rf_packing(engine: int, w_bits: int, a_bits: int, b_max: int,
               word_bits: int) -> tuple[int, int, int, int, int, int]:
    """How filter, fmap and psum values sit in RF words, as (per, each) pairs: ``per``
    values share ``each`` words. A vectorized engine keeps its operands packed V to a word
    (HW-FlowQ: a packed operand takes 1/V of a word); a bit-serial one packs them
    word-aligned at their own width; partial sums take b_max bits each."""
    def one(bits: int) -> tuple[int, int]:
        return (word_bits // bits, 1) if bits <= word_bits else (1, ceil_div(bits, word_bits))

    if engine == ENGINE_CODES["vectorized"]:
        v = max(1, b_max // max(w_bits, a_bits))
        f, i = (v, 1), (v, 1)
    else:
        f, i = one(w_bits), one(a_bits)
    return (*f, *i, *one(b_max))


@kernel_helper
def rf_fits(n_f: int, n_i: int, n_o: int, per_f: int, each_f: int, per_i: int, each_i: int,
            per_p: int, each_p: int, words_f: int, words_i: int, words_p: int,
            shared: bool) -> bool:
    """Whether n_f filter, n_i fmap and n_o psum values fit the RFs of one PE."""
    need_f = ceil_div(n_f, per_f) * each_f
    need_i = ceil_div(n_i, per_i) * each_i
    need_p = ceil_div(n_o, per_p) * each_p
    if shared:
        return need_f + need_i + need_p <= words_f + words_i + words_p
    return need_f <= words_f and need_i <= words_i and need_p <= words_p


@kernel_helper
def words_per_elem(bits: int, word_bits: int) -> float:
    """Words one element of ``bits`` takes when packed word-aligned (on average)."""
    if bits > word_bits:
        return float(ceil_div(bits, word_bits))
    return 1.0 / (word_bits // bits)


@kernel_helper
def rf_rates(dataflow: int, vectorized: bool, v: int, ueff: float, pack_w: float,
             pack_a: float) -> tuple[float, float, float]:
    """RF accesses per MAC (filter reads, fmap reads, psum read+write pairs) with lanes on
    pass loop ``v`` (1: output channels, 2: batch×folds; -1: none), ``ueff`` of them busy.

    Lanes share one read of an operand they all use; distinct operands come packed (V per
    word on a vectorized engine, as in HW-FlowQ; word-aligned on a bit-serial one). Every lane
    computes its own output, so each keeps its own b_max psum and psum traffic per MAC
    does not fall with the lanes (HW-FlowQ §3.3.1). Only the operands a dataflow holds in
    the RF are read from it (Eyeriss ISCA'16's taxonomy): RS all three, WS the filter
    (inputs stream through, psums pass PE to PE), OS the psum (weights and inputs stream
    in)."""
    if v < 0:
        rw, ri = 1.0, 1.0
    elif vectorized:
        rw, ri = 1.0 / ueff, 1.0 / ueff
    else:
        rw = 1.0 / ueff if v == 2 else 1.0 / min(ueff, pack_w)
        ri = 1.0 / ueff if v == 1 else 1.0 / min(ueff, pack_a)
    if dataflow == 1:
        return rw, 0.0, 0.0
    if dataflow == 2:
        return 0.0, 0.0, 1.0
    return rw, ri, 1.0


@kernel_helper
def psum_exits(dataflow: int, fold_h: int, r: int, s: int) -> int:
    """How often each output leaves the array during one processing pass: RS once per
    filter-row fold; WS once per filter tap (Eyeriss ISCA'16's WS: every PE holds one
    weight at a time, psums are reduced across the input-channel PEs and go back to the
    buffer); OS once."""
    if dataflow == 1:
        return r * s
    return fold_h


@kernel_helper
def holds(dataflow: int) -> tuple[bool, bool, bool]:
    """Which operands (weights, inputs, psums) a dataflow keeps in the PE across passes
    (Eyeriss ISCA'16, "existing CNN dataflows"): RS rows of all three; WS the weights,
    while inputs stream through and psums leave the PE every pass; OS the psums, while
    weights and inputs stream in with multicast as their only reuse."""
    if dataflow == 1:
        return True, False, False
    if dataflow == 2:
        return False, False, True
    return True, True, True


@kernel_helper
def touched(extent: float, k: int, stride: int, dilation: int) -> float:
    """Input rows (or columns) that ``extent`` consecutive outputs read; the same rule as
    ``Layer.input_rows``, for an average (fractional) extent."""
    span = (k - 1) * dilation + 1
    if span >= stride:
        return (extent - 1.0) * stride + span
    return extent * span


def tile_candidates(layer: Layer, batch: int, dataflow: str, rows: int,
                    cols: int) -> dict[str, list[int]]:
    """DRAM-level tile sizes per dimension (Mid's candidates, restricted per dataflow)."""
    dims = dims_of(layer, batch)
    cands = {d: tile_sizes(d, dims[d]) for d in DIMS}
    cands["q"] = [layer.w_o]  # whole output rows stream through the array
    if dataflow == "rs":
        least = rs_min_rows(layer.k_h, layer.h_o, rows, cols)
        cands["p"] = [p for p in cands["p"] if p >= least]
    return cands


@dataclass(frozen=True)
class FineMapping:
    """One point of the mapspace (the four parts of the module doc)."""

    dataflow: str
    tile: tuple[int, int, int, int, int, int]  # n, g, k, c, p, q per buffer tile
    dram_class: int  # index into DRAM_CLASSES (= tiling.CANDIDATE_ORDERS)
    variant: int  # spatial variant, see spatial_count
    lane_loop: int  # pass loop unrolled over lanes (index into PASS_LOOPS), -1: none
    lanes: int  # u, 1 when lane_loop is -1
    rf: tuple[int, int, int]  # RF interleave factors i2, o2, b2
    glb_inner: int  # innermost multi-trip buffer-level pass loop, -1: none
