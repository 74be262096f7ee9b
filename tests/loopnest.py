"""A literal loop-nest simulator of one Fine mapping, for tiny layers: the independent
reference of the Fine kernel's access counts.

It shares no counting code with ``hwflow.hw.fine`` (mapspace, kernel, reference) or
``hwflow.hw.tiling``: it decodes the mapping itself, walks every DRAM-level iteration in
the mapping's loop order, every group and every processing pass in the buffer order,
and keeps track of which tile of each operand the buffer holds and which block the PE
register files hold. Input rows are counted as sets of coordinates, outputs by the
exits each one makes. It counts:

- DRAM: a fill whenever the buffer's tile of an operand changes; an output tile that
  leaves unfinished is spilled as partial sums and read back when it returns;
- buffer reads, array words (one per PE a word reaches, multicast included) and RF
  accesses: whenever an operand the dataflow holds in the PE changes block, or on every
  pass for one it streams (Eyeriss ISCA'16's taxonomy: RS holds all three, WS weights,
  OS psums); an operand whose block is the whole tile stays in the RFs across DRAM
  iterations that keep its tile;
- psum exits: per stay in the PE, once per filter-row fold (RS), per filter tap (WS) or
  once (OS); each exit is a buffer write (the last at out_bits) and, but the first, a
  read back.

Its conventions are those the hardware model states (docs/hardware-model.md): padded
inputs count as data, every piece of the ofmap reads its own input rows, a folded filter
re-reads the piece's input window per fold, packed words are fractional, tiles are
charged full at DRAM. It covers mappings that divide evenly (tiles, spatial and lane
splits), where the kernel's average extents are exact; dilation 1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hwflow.hw.spec import Accelerator
from hwflow.workload import Layer

DRAM_ORDERS = {0: "gkcnpq", 1: "gncpqk", 2: "gnkpqc"}  # weights / inputs / outputs stay
RELEVANT = {"w": "gkc", "i": "ngcpq", "o": "ngkpq"}


@dataclass
class Counts:
    dram_read_bits: float = 0.0
    dram_write_bits: float = 0.0
    buffer_reads: float = 0.0
    buffer_writes: float = 0.0
    array_words: float = 0.0
    rf_accesses: float = 0.0
    compute_cycles: float = 0.0
    macs: int = 0


class Uneven(Exception):
    """The mapping does not divide evenly; the simulator does not cover it."""


def _whole_words(count: int, bits: int, word: int) -> int:
    if bits > word:
        return count * -(-bits // word)
    return -(-count // (word // bits))


def _word_share(bits: int, word: int) -> float:
    return float(-(-bits // word)) if bits > word else 1.0 / (word // bits)


def _span(extent_rows: range, k: int, stride: int) -> int:
    """Input coordinates that these output coordinates read with a k-tap window."""
    return len({y * stride + t for y in extent_rows for t in range(k)})


def _exact(a: int, b: int) -> int:
    if a % b:
        raise Uneven(f"{a} is not a multiple of {b}")
    return a // b


def _divs(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _fewest_even(extent: int, cap: int) -> int:
    folds = -(-extent // cap)
    return -(-extent // folds)


@dataclass
class _Pass:
    """The physical layout of one processing pass (decoded from the mapping)."""

    chans_in: int  # input channels side by side
    chans_out: int  # output-channel PE replicas
    b_extent: int  # iterations of the b loop (images × map pieces in time)
    cycles: int  # cycles of one pass, one MAC per lane per cycle
    folds_h: int  # filter-row folds (RS)
    pieces: int  # RS ofmap-row pieces / OS map folds along p
    in_time: int  # RS: passes the pieces take / OS: map folds along q
    pe_pixels: tuple[int, int] = (1, 1)  # OS: output pixels per replica (p, q)


def _rs_layouts(r: int, e: int, rows: int, cols: int, cuts: bool) -> list[tuple[int, int, int]]:
    """(pieces, passes in time, replicas) of every RS layout, in the kernel's order: cuts
    coarse to fine, each side by side then spread; nn_dataflow's first, then only those
    that fill the array strictly better than all before."""
    out: list[tuple[int, int, int]] = []
    best = 0.0
    seen = set()
    for m in range(1, cols + 1 if cuts else 2):
        pieces = -(-e // min(e, cols // m))
        if pieces in seen:
            continue
        seen.add(pieces)
        piece = -(-e // pieces)
        bands = 1 if r > rows else rows // r
        slots = bands * (cols // piece)
        for placed in ([min(slots, pieces), 1] if cuts else [min(slots, pieces)]):
            in_time, replicas = -(-pieces // placed), slots // placed
            fill = replicas * e / in_time
            if fill > best * (1 + 1e-12):
                best = fill
                out.append((pieces, in_time, replicas))
    return out


def decode(layer: Layer, accel: Accelerator, tile: tuple[int, ...], variant: int) -> _Pass:
    n, _, k, c, p, q = tile
    r, s = layer.k_h, layer.k_w
    rows, cols = accel.rows, accel.cols
    if accel.dataflow == "rs":
        splits = [(lay, ifms) for lay in _rs_layouts(r, p, rows, cols, accel.rs_cuts)
                  for ifms in _divs(lay[2])]
        (pieces, in_time, replicas), ifms = splits[variant]
        folds_h = -(-r // rows) if r > rows else 1
        return _Pass(ifms, replicas // ifms, n * in_time, folds_h * s * q, folds_h, pieces,
                     in_time)
    first, second = (rows, cols) if variant == 0 else (cols, rows)
    if accel.dataflow == "ws":
        return _Pass(_fewest_even(c, first), _fewest_even(k, second), n, r * s * p * q, 1, 1, 1)
    a_p, a_q = _fewest_even(p, first), _fewest_even(q, second)
    fold_p, fold_q = -(-p // a_p), -(-q // a_q)
    a_k = _fewest_even(k, (first // a_p) * (second // a_q))
    return _Pass(1, a_k, n * fold_p * fold_q, r * s, 1, fold_p, fold_q, (a_p, a_q))


def simulate(layer: Layer, w_bits: int, a_bits: int, out_bits: int, accel: Accelerator,
             batch: int, tile: tuple[int, ...], dram_class: int, variant: int, lane_loop: int,
             lanes: int, rf: tuple[int, int, int], glb_inner: int) -> Counts:
    """Counts of one mapping (the fields of ``FineMapping``); raises ``Uneven`` for a
    mapping that does not divide evenly."""
    return _Walk(layer, w_bits, a_bits, out_bits, accel, batch, tile, variant, lane_loop,
                 lanes, rf, glb_inner).run(DRAM_ORDERS[dram_class])


class _Walk:
    def __init__(self, layer: Layer, w_bits: int, a_bits: int, out_bits: int,
                 accel: Accelerator, batch: int, tile: tuple[int, ...], variant: int,
                 lane_loop: int, lanes: int, rf: tuple[int, int, int], glb_inner: int) -> None:
        if layer.dilation != 1:
            raise Uneven("dilation")
        self.layer, self.accel, self.df = layer, accel, accel.dataflow
        self.bits = {"w": w_bits, "a": a_bits, "out": out_bits, "ps": accel.engine.b_max}
        self.word = accel.word_bits
        self.dims = {"n": batch, "g": layer.groups, "k": layer.c_o // layer.groups,
                     "c": layer.c_i // layer.groups, "p": layer.h_o, "q": layer.w_o}
        self.t = dict(zip("ngkcpq", tile))
        self.trips = {d: _exact(self.dims[d], self.t[d]) for d in self.dims}
        self.share = {key: _word_share(b, self.word) for key, b in self.bits.items()}
        self.lay = decode(layer, accel, tile, variant)
        self.lane = (1, lanes if lane_loop == 1 else 1, lanes if lane_loop == 2 else 1)
        self.loops = (_exact(self.t["c"], self.lay.chans_in),
                      _exact(self.t["k"], self.lay.chans_out * self.lane[1]),
                      _exact(self.lay.b_extent, self.lane[2]))
        self.rf = rf
        self.t1 = tuple(_exact(self.loops[j], rf[j]) for j in range(3))
        self.holds = {"rs": "wio", "ws": "w", "os": "o"}[self.df]
        self.placed, self.piece_rows = 1, 0  # RS: pieces side by side in a pass, their rows
        if self.df == "rs":
            self.piece_rows = _exact(self.t["p"], self.lay.pieces)
            self.placed = _exact(self.lay.pieces, self.lay.in_time)
        elif self.df == "os":
            _exact(self.t["p"], self.lay.pieces)
            _exact(self.t["q"], self.lay.in_time)
        # buffer order of the pass loops: the innermost multi-trip one last
        self.order = [j for j in range(3) if j != glb_inner] + ([glb_inner] if glb_inner >= 0
                                                                 else [])
        self.out = Counts()
        self.stay_outputs = 0.0  # Σ over psum stays of the outputs they hold
        self.rf_tile: dict[str, tuple | None] = {"w": None, "i": None, "o": None}

    # --- DRAM ↔ buffer -----------------------------------------------------------------
    def run(self, order: str) -> Counts:
        t, r, s, st = self.t, self.layer.k_h, self.layer.k_w, self.layer.stride
        word, out = self.word, self.out
        tile_words = {
            "w": _whole_words(t["g"] * t["k"] * t["c"] * r * s, self.bits["w"], word),
            "i": _whole_words(t["n"] * t["g"] * t["c"] * _span(range(t["p"]), r, st)
                              * _span(range(t["q"]), s, st), self.bits["a"], word)}
        o_elems = t["n"] * t["g"] * t["k"] * t["p"] * t["q"]
        in_buffer: dict[str, tuple | None] = {"w": None, "i": None, "o": None}
        done_c: dict[tuple, int] = {}  # per output tile: input-channel tiles accumulated

        def leave(otile: tuple) -> None:
            final = done_c[otile] == self.trips["c"]  # else spilled as partial sums
            bits = self.bits["out"] if final else self.bits["ps"]
            out.dram_write_bits += _whole_words(o_elems, bits, word) * word

        for it in itertools.product(*(range(self.trips[d]) for d in order)):
            at = dict(zip(order, it))
            ids = {op: tuple(at[d] for d in RELEVANT[op]) for op in "wio"}
            for op in "wi":
                if ids[op] != in_buffer[op]:
                    in_buffer[op] = ids[op]
                    out.dram_read_bits += tile_words[op] * word
            if ids["o"] != in_buffer["o"]:
                if in_buffer["o"] is not None:
                    leave(in_buffer["o"])
                if done_c.get(ids["o"], 0):  # partial sums come back
                    out.dram_read_bits += _whole_words(o_elems, self.bits["ps"], word) * word
                in_buffer["o"] = ids["o"]
            done_c[ids["o"]] = done_c.get(ids["o"], 0) + 1
            for _group in range(t["g"]):
                self.passes(ids)
        leave(in_buffer["o"])
        self.finish()
        return out

    # --- buffer ↔ array ↔ RF: one group of one buffer tile -------------------------------
    def passes(self, ids: dict[str, tuple]) -> None:
        lay, t, rf, t1 = self.lay, self.t, self.rf, self.t1
        relevant = {"w": (0, 1), "i": (0, 2), "o": (1, 2)}  # pass loops i, o, b
        # a block that is the tile's whole share stays in the RFs across DRAM iterations
        # that keep the tile (one group per tile; a folded filter is not kept whole)
        whole = {op: op in self.holds and t["g"] == 1 and all(t1[j] == 1 for j in relevant[op])
                 and (op == "o" or lay.folds_h == 1) for op in "wio"}
        block_of: dict[str, tuple | None] = {}
        for op in "wio":
            kept = whole[op] and self.rf_tile[op] == ids[op]
            block_of[op] = (0, 0) if kept else None
        for outer in itertools.product(*(range(t1[j]) for j in self.order)):
            t1_at = dict(zip(self.order, outer))
            for _inner in itertools.product(*(range(rf[j]) for j in range(3))):
                self.one_pass()
                block = {op: tuple(t1_at.get(j, 0) for j in relevant[op]) for op in "wio"}
                for op in "wio":
                    streams = op not in self.holds
                    if streams or block[op] != block_of[op]:
                        block_of[op] = block[op]
                        self.fetch(op, streams)
        for op in "wio":
            self.rf_tile[op] = ids[op] if whole[op] else None

    def one_pass(self) -> None:
        lay, lane, out = self.lay, self.lane, self.out
        r, s = self.layer.k_h, self.layer.k_w
        macs = lay.chans_in * lay.chans_out * lane[1] * lane[2] * self.pixels() * r * s
        out.macs += macs
        vectorized = self.accel.engine.kind == "vectorized"
        out.compute_cycles += lay.cycles * (1 if vectorized else self.bits["w"] * self.bits["a"])
        busy = lane[1] * lane[2]
        instructions = macs / busy  # one per cycle per PE: every lane busy
        for op, key in (("w", "w"), ("i", "a")):
            if op not in self.holds or (op == "i" and self.df != "rs"):
                continue  # streamed operands are not read from the RF
            shared = (op == "w" and lane[2] > 1) or (op == "i" and lane[1] > 1)
            bits = self.bits[key]
            per_word = self.word // bits if bits <= self.word else 1
            words = 1 if (shared or vectorized) else -(-busy // per_word)
            out.rf_accesses += instructions * words
        if "o" in self.holds:
            out.rf_accesses += 2.0 * macs  # each lane its own b_max psum: read and write

    def pixels(self) -> int:
        """Output pixels of one b iteration (an image's part of the map in one pass)."""
        if self.df == "rs":
            return self.placed * self.piece_rows * self.t["q"]
        if self.df == "ws":
            return self.t["p"] * self.t["q"]
        return self.lay.pe_pixels[0] * self.lay.pe_pixels[1]

    def fetch(self, op: str, per_pass: bool) -> None:
        """One fetch of ``op`` into the PEs: its block (per_pass: one pass's share)."""
        lay, lane, out = self.lay, self.lane, self.out
        span_i, span_o, span_b = (1, 1, 1) if per_pass else self.rf
        if op == "o":  # a psum stay: its outputs leave at its end
            outputs = lay.chans_out * lane[1] * span_o * lane[2] * span_b * self.pixels()
            self.stay_outputs += outputs
            return
        reads, words = _amounts(op, self.df, self.layer, lay, self.t,
                                (span_i, span_o if op == "w" else span_b), lane,
                                self.placed, self.piece_rows,
                                _span(range(self.t["q"]), self.layer.k_w, self.layer.stride))
        share = self.share["w" if op == "w" else "a"]
        out.buffer_reads += reads * share
        out.array_words += words * share

    def finish(self) -> None:
        """Psum traffic: every stay ends in ``exits`` exits of its outputs; each exit is a
        buffer write and, but an output's first, a read back; on the array each exit hops
        through the reducing PEs and each return enters once."""
        r, s = self.layer.k_h, self.layer.k_w
        exits_per_stay = {"rs": self.lay.folds_h, "ws": r * s, "os": 1}[self.df]
        hops = {"rs": r, "ws": self.lay.chans_in, "os": 1}[self.df]
        d = self.dims
        outputs = d["n"] * d["g"] * d["k"] * d["p"] * d["q"]
        exits = self.stay_outputs * exits_per_stay
        ps, out = self.share["ps"], self.out
        out.buffer_writes += (exits - outputs) * ps + outputs * self.share["out"]
        out.buffer_reads += (exits - outputs) * ps
        out.array_words += (exits * hops + exits - outputs) * ps
def _amounts(op: str, df: str, layer: Layer, lay: _Pass, t: dict[str, int],
             span: tuple[int, int], lane: dict[int, int], placed: int, piece_rows: int,
             cols_in: int) -> tuple[float, float]:
    """(buffer reads, array words) in elements of one fetch of ``op`` covering ``span``
    passes of its two relevant loops."""
    r, s, st = layer.k_h, layer.k_w, layer.stride
    q = t["q"]
    if op == "w":
        chans = lay.chans_in * span[0] * lay.chans_out * lane[1] * span[1]
        weights = chans * r * s
        if df == "rs":  # a filter row to every PE of its row in each placed piece
            return weights, weights * placed * piece_rows
        if df == "ws":
            return weights, weights
        return weights, weights * lay.pe_pixels[0] * lay.pe_pixels[1]
    chans = lay.chans_in * span[0]
    b_iters = lane[2] * span[1]
    if df == "rs":  # per image and piece: its input rows, once per filter-row fold
        rows_in = _span(range(piece_rows), r, st)
        pieces = b_iters * placed
        reads = chans * pieces * rows_in * cols_in * lay.folds_h
        # every PE of the piece (R filter rows × its ofmap rows) gets its input row
        deliveries = chans * pieces * r * piece_rows * cols_in * lay.chans_out
        return reads, deliveries
    if df == "ws":  # once per tap: the p × q inputs, multicast to the output columns
        reads = chans * b_iters * r * s * t["p"] * q
        return reads, reads * lay.chans_out
    a_p, a_q = lay.pe_pixels  # OS: the fold's input window; every PE its r × s window
    reads = chans * b_iters * _span(range(a_p), r, st) * _span(range(a_q), s, st)
    return reads, chans * b_iters * a_p * a_q * r * s * lay.chans_out
