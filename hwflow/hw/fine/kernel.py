"""Numba kernel of the Fine mapper: one compiled entry (``search``) for every dataflow,
engine and objective (integer codes), so a process compiles or loads it once.
``build_aot`` compiles this same function ahead of time; ``backend`` picks which runs.

It walks the same mapspace as ``reference.search`` and computes the same costs with the
same floating-point expressions, but exploits two exact equivalences instead of
enumerating them:
- DRAM loop orders: only the innermost multi-trip loop's class matters for cost and the
  best order of each class is Mid's canonical one, so 3 orders stand for all 120;
- buffer-level pass-loop orders: only the innermost multi-trip loop matters, so at most
  3 classes stand for all 3! orders.
Candidates are compared on (objective, tie-break) and then on their enumeration key, so
kernel and reference pick the same mapping.

Arguments (built by ``mapper``): lay, hw and cost with the named indices of ``layout``
(LAY_*, HW_*, C_*); cand_*: DRAM tile candidates per dimension
(``mapspace.tile_candidates``); reps: the three canonical DRAM orders as dimension
indices (``tiling.CANDIDATE_ORDERS``). What it returns, (best_i, best_f, stats):
``layout`` too.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from hwflow.hw.fine import layout as L, mapspace
from hwflow.hw.fine.layout import (
    BF_ARRAY,
    BF_ARRAY_WORDS,
    BF_BUF_READS,
    BF_BUF_WRITES,
    BF_COMPUTE,
    BF_DRAM,
    BF_DRAM_CYCLES,
    BF_DRAM_READ,
    BF_DRAM_WRITE,
    BF_ENERGY,
    BF_LATENCY,
    BF_MAC,
    BF_RF,
    BF_RF_ACCESSES,
    BF_SIZE,
    BF_SRAM,
    BI_DRAM,
    BI_FOUND,
    BI_GLB,
    BI_LANE_LOOP,
    BI_LANES,
    BI_RF,
    BI_SIZE,
    BI_VARIANT,
    ST_EVALUATED,
    ST_INNER,
    ST_MAPSPACE,
    ST_SIZE,
    ST_TILES,
)
from hwflow.hw.fine.mapspace import (
    ceil_div,
    dram_classes_active,
    holds,
    lane_at,
    lane_count,
    pass_shape,
    psum_exits,
    rf_fits,
    rf_rates,
    spatial_count,
    touched,
    words_per_elem,
)
from hwflow.hw.fine.sources import sources_digest
from hwflow.hw.tiling import divisor_capacity, divisors_into

for _helper in mapspace.KERNEL_HELPERS:  # compiled inline wherever the kernel calls them
    register_jitable(_helper)

# Numba keys its on-disk cache on this file only, not on the mapspace helpers and layout
# constants it compiles in; ``search`` closes over the digest of all of them so that
# editing any one recompiles it.
SOURCES_DIGEST = sources_digest()

# relevance of n, g, k, c, p, q to weights, inputs, outputs (tiling.RELEVANT)
_RELEVANT = np.array([[0, 1, 1, 1, 0, 0], [1, 1, 0, 1, 1, 1], [1, 1, 1, 0, 1, 1]],
                     dtype=np.int64)


@njit(cache=True)
def _touched_int(n, k, stride, dilation):
    span = (k - 1) * dilation + 1
    if span >= stride:
        return (n - 1) * stride + span
    return n * span


@njit(cache=True)
def _packed(count, bits, word):
    if bits > word:
        return count * ((bits + word - 1) // word)
    per = word // bits
    return (count + per - 1) // per


@njit(cache=True)
def dram_traffic(lay, tile, order, w_bits, a_bits, out_bits, psum_bits, word, counts):
    """Mid's ``traffic_bits`` for one tile (n, g, k, c, p, q) and one DRAM order
    (dimension indices, outermost first): (read bits, write bits, output refetch); fills
    ``counts`` with the tiles of weights, inputs and outputs moved (``tiling.fetch_counts``)."""
    trips = np.empty(6, dtype=np.int64)
    for d in range(6):  # lay starts with N, G, K, C, P, Q: the DIMS order of a tile
        trips[d] = -(-lay[d] // tile[d])
    for op in range(3):
        counts[op] = 1
    for op in range(3):
        cum = 1
        for j in range(6):
            d = order[j]
            cum *= trips[d]
            if _RELEVANT[op, d] == 1 and trips[d] > 1:
                counts[op] = cum
    n, g, k, c, p, q = tile[0], tile[1], tile[2], tile[3], tile[4], tile[5]
    r, s, stride, dil = lay[L.LAY_R], lay[L.LAY_S], lay[L.LAY_STRIDE], lay[L.LAY_DILATION]
    w_el = g * k * c * r * s
    i_el = n * g * c * _touched_int(p, r, stride, dil) * _touched_int(q, s, stride, dil)
    o_el = n * g * k * p * q
    out_tiles = trips[0] * trips[1] * trips[2] * trips[4] * trips[5]
    refetch = counts[2] // out_tiles
    psum_words = _packed(o_el, psum_bits, word)
    reads = (counts[0] * _packed(w_el, w_bits, word) + counts[1] * _packed(i_el, a_bits, word)
             + out_tiles * (refetch - 1) * psum_words)
    writes = out_tiles * (_packed(o_el, out_bits, word) + (refetch - 1) * psum_words)
    return reads * word, writes * word, refetch


def _build_search(digest: str):
    @njit(cache=True)
    def search(lay, cand_n, cand_g, cand_k, cand_c, cand_p, cand_q, reps, hw, cost):
        """Best mapping of one layer; returns (best_i, best_f, stats), see ``layout``."""
        if len(digest) == 0:  # never true: makes ``digest`` part of the cache key
            raise ValueError("no sources digest")
        big_n, big_g, big_k = lay[L.LAY_N], lay[L.LAY_G], lay[L.LAY_K]
        big_c, big_p, big_q = lay[L.LAY_C], lay[L.LAY_P], lay[L.LAY_Q]
        r, s, stride, dil = lay[L.LAY_R], lay[L.LAY_S], lay[L.LAY_STRIDE], lay[L.LAY_DILATION]
        rows, cols, word, b_max = hw[L.HW_ROWS], hw[L.HW_COLS], hw[L.HW_WORD], hw[L.HW_B_MAX]
        engine, lanes = hw[L.HW_ENGINE], hw[L.HW_LANES]
        df, obj = hw[L.HW_DATAFLOW], hw[L.HW_OBJECTIVE]
        w_bits, a_bits, out_bits = hw[L.HW_W_BITS], hw[L.HW_A_BITS], hw[L.HW_OUT_BITS]
        buffer_bits = hw[L.HW_BUFFER_BITS]
        pk = L.HW_RF_PACKING
        per_f, each_f, per_i, each_i, per_p, each_p = (hw[pk], hw[pk + 1], hw[pk + 2],
                                                       hw[pk + 3], hw[pk + 4], hw[pk + 5])
        words_f, words_i, words_p = hw[L.HW_FILTER_WORDS], hw[L.HW_FMAP_WORDS], hw[L.HW_PSUM_WORDS]
        shared, cuts = hw[L.HW_SHARED] == 1, hw[L.HW_RS_CUTS] == 1
        dram_r, dram_w = cost[L.C_DRAM_READ], cost[L.C_DRAM_WRITE]
        buf_r, buf_w, arr_cost = cost[L.C_BUF_READ], cost[L.C_BUF_WRITE], cost[L.C_ARRAY]
        rf_r, rf_w, bandwidth = cost[L.C_RF_READ], cost[L.C_RF_WRITE], cost[L.C_BANDWIDTH]
        e_mac, macs = cost[L.C_MAC_ENERGY], cost[L.C_MACS]

        vectorized = engine == 0
        u_max = max(1, b_max // max(w_bits, a_bits)) if vectorized else lanes
        cyc = 1 if vectorized else w_bits * a_bits
        wpe_w = words_per_elem(w_bits, word)
        wpe_a = words_per_elem(a_bits, word)
        wpe_out = words_per_elem(out_bits, word)
        ps = words_per_elem(b_max, word)
        pack_w = float(max(1, word // w_bits))
        pack_a = float(max(1, word // a_bits))
        outs = float(big_n * big_g * big_k * big_p * big_q)
        hold_w, hold_i, hold_o = holds(df)

        best_i = np.zeros(BI_SIZE, dtype=np.int64)
        best_f = np.zeros(BF_SIZE, dtype=np.float64)
        stats = np.zeros(ST_SIZE, dtype=np.int64)
        best1, best2 = np.inf, np.inf
        tile = np.empty(6, dtype=np.int64)
        counts = np.empty(3, dtype=np.int64)
        active = np.zeros(3, dtype=np.bool_)
        e_dram = np.zeros(3)
        t_dram = np.zeros(3)
        d_reads = np.zeros(3, dtype=np.int64)
        d_writes = np.zeros(3, dtype=np.int64)
        d_count = np.zeros((3, 3), dtype=np.int64)  # per class: weight, input tiles, refetch
        # room for the divisors of any pass-loop trip count
        cap = divisor_capacity(max(big_c, big_k, big_n * big_p * big_q))
        div_i = np.empty(cap, dtype=np.int64)
        div_o = np.empty(cap, dtype=np.int64)
        div_b = np.empty(cap, dtype=np.int64)
        extents = np.empty(3, dtype=np.int64)
        spatial = np.empty(3, dtype=np.int64)
        lane_v = np.empty(3 * u_max + 1, dtype=np.int64)
        lane_u = np.empty(3 * u_max + 1, dtype=np.int64)
        sizes = (cand_n.size, cand_g.size, cand_k.size, cand_c.size, cand_p.size, cand_q.size)
        n_cands = sizes[0] * sizes[1] * sizes[2] * sizes[3] * sizes[4] * sizes[5]

        for tile_index in range(n_cands):  # n, g, k, c, p, q nested, q innermost
            rest = tile_index
            jq = rest % sizes[5]
            rest //= sizes[5]
            jp = rest % sizes[4]
            rest //= sizes[4]
            jc = rest % sizes[3]
            rest //= sizes[3]
            jk = rest % sizes[2]
            rest //= sizes[2]
            jg = rest % sizes[1]
            jn = rest // sizes[1]
            n, g, k, c = cand_n[jn], cand_g[jg], cand_k[jk], cand_c[jc]
            p, q = cand_p[jp], cand_q[jq]
            # buffer capacity: tiling.footprint_bits
            w_el = g * k * c * r * s
            i_el = n * g * c * _touched_int(p, r, stride, dil) * _touched_int(q, s, stride, dil)
            o_el = n * g * k * p * q
            foot = (_packed(w_el, w_bits, word) + _packed(i_el, a_bits, word)
                    + _packed(o_el, b_max, word)) * word
            if foot > buffer_bits:
                continue
            stats[ST_TILES] += 1
            tile[0], tile[1], tile[2], tile[3], tile[4], tile[5] = n, g, k, c, p, q
            tr_n = ceil_div(big_n, n)
            tr_c = ceil_div(big_c, c)
            tr_p = ceil_div(big_p, p)
            tr_q = ceil_div(big_q, q)
            tr_k = ceil_div(big_k, k)
            tiles = tr_n * (big_g // g) * tr_k * tr_c * tr_p * tr_q * g  # (tile, group) runs
            active[0], active[1], active[2] = dram_classes_active(tr_n, tr_k, tr_c, tr_p, tr_q)
            for d in range(3):  # the DRAM side of each class: Mid's traffic of its order
                if active[d]:
                    rb, wb, refetch = dram_traffic(lay, tile, reps[d], w_bits, a_bits, out_bits,
                                                   b_max, word, counts)
                    d_reads[d] = rb
                    d_writes[d] = wb
                    d_count[d, 0] = counts[0]
                    d_count[d, 1] = counts[1]
                    d_count[d, 2] = refetch
                    e_dram[d] = rb / word * dram_r + wb / word * dram_w
                    t_dram[d] = float(np.ceil((rb + wb) / 8 / bandwidth)) if bandwidth > 0 else 0.0
            pa = big_p / tr_p
            qa = big_q / tr_q
            for variant in range(spatial_count(df, r, p, rows, cols, cuts)):
                (x_i, x_o, x_b, time, fold_h, fold_a, fold_b, unit_f, unit_i,
                 unit_o) = pass_shape(df, variant, n, k, c, p, q, r, s, rows, cols, cuts)
                exits = psum_exits(df, fold_h, r, s)
                # once-through amounts, as reference._amounts; array words count every
                # PE a word reaches (nn_dataflow's ITCN), multicast included
                wg = float(c * k * r * s)
                if df == 0:
                    ea = pa / fold_a
                    rows_f = touched(ea, r, stride, dil)
                    cols_f = touched(qa, s, stride, dil)
                    ig = float(c * n * fold_a) * rows_f * cols_f * fold_h
                    wa = wg * pa / fold_b  # a filter row to every PE of its pieces in a pass
                    ia = float(c * n * fold_a * r * x_o) * ea * cols_f
                    hops = r
                elif df == 1:
                    ig = float(c * n * r * s) * pa * qa
                    ia = ig * x_o
                    wa = wg
                    hops = x_i
                else:
                    pe = pa / fold_a
                    qe = qa / fold_b
                    ig = (float(c * n * fold_a * fold_b) * touched(pe, r, stride, dil)
                          * touched(qe, s, stride, dil))
                    wa = wg * pe * qe
                    ia = float(c * n * r * s * x_o) * pa * qa
                    hops = 1
                extents[0], extents[1], extents[2] = c, k, x_b
                spatial[0], spatial[1], spatial[2] = x_i, x_o, 1
                # lane options in enumeration order: none, then over o, then over b (each
                # lane computes its own outputs)
                n_lanes = 1
                lane_v[0], lane_u[0] = -1, 1
                for v in range(1, 3):
                    for j in range(lane_count(extents[v], spatial[v], u_max)):
                        lane_v[n_lanes] = v
                        lane_u[n_lanes] = lane_at(extents[v], spatial[v], u_max, j)
                        n_lanes += 1
                for jl in range(n_lanes):
                    v, u = lane_v[jl], lane_u[jl]
                    l_i = ceil_div(c, x_i * (u if v == 0 else 1))
                    l_o = ceil_div(k, x_o * (u if v == 1 else 1))
                    l_b = ceil_div(x_b, u if v == 2 else 1)
                    nf = unit_f * (u if v == 0 or v == 1 else 1)
                    ni = unit_i * (u if v == 0 or v == 2 else 1)
                    no = unit_o * (u if v == 1 or v == 2 else 1)
                    if not rf_fits(nf, ni, no, per_f, each_f, per_i, each_i, per_p, each_p,
                                   words_f, words_i, words_p, shared):
                        continue
                    # RF accesses per MAC: lanes busy on average on the lane loop
                    ueff = 1.0
                    if v > 0:
                        l_v = l_o if v == 1 else l_b
                        ueff = min(max(extents[v] / float(spatial[v] * l_v), 1.0), float(u))
                    rw, ri, ro = rf_rates(df, vectorized, v, ueff, pack_w, pack_a)
                    e_rf = macs * (rw * rf_r + ri * rf_r + ro * (rf_r + rf_w))
                    compute = float(tiles * (l_i * l_o * l_b) * (time * cyc))
                    nd_i = divisors_into(l_i, div_i)
                    nd_o = divisors_into(l_o, div_o)
                    nd_b = divisors_into(l_b, div_b)
                    for ji in range(nd_i):
                        i2 = div_i[ji]
                        # needs grow with every factor: stop at the first misfit
                        if not rf_fits(i2 * nf, i2 * ni, no, per_f, each_f, per_i, each_i,
                                       per_p, each_p, words_f, words_i, words_p, shared):
                            break
                        for jo in range(nd_o):
                            o2 = div_o[jo]
                            if not rf_fits(i2 * o2 * nf, i2 * ni, o2 * no, per_f, each_f, per_i,
                                           each_i, per_p, each_p, words_f, words_i, words_p,
                                           shared):
                                break
                            for jb in range(nd_b):
                                b2 = div_b[jb]
                                if not rf_fits(i2 * o2 * nf, i2 * b2 * ni, o2 * b2 * no, per_f,
                                               each_f, per_i, each_i, per_p, each_p, words_f,
                                               words_i, words_p, shared):
                                    break
                                stats[ST_INNER] += 1
                                stats[ST_MAPSPACE] += 720  # 120 DRAM orders x 3! buffer orders
                                t1i = l_i // i2
                                t1o = l_o // o2
                                t1b = l_b // b2
                                trivial = t1i == 1 and t1o == 1 and t1b == 1
                                # as reference._inner_part: RF-resident operands
                                keep_w = (hold_w and g == 1 and fold_h == 1 and t1i == 1
                                          and t1o == 1)
                                keep_i = (hold_i and g == 1 and fold_h == 1 and t1i == 1
                                          and t1b == 1)
                                keep_o = hold_o and g == 1 and t1o == 1 and t1b == 1
                                for z in range(-1, 3):  # innermost multi-trip buffer loop
                                    if trivial != (z < 0):
                                        continue
                                    if (z == 0 and t1i == 1) or (z == 1 and t1o == 1) or (
                                            z == 2 and t1b == 1):
                                        continue
                                    # refetch rule over the buffer loops; an operand
                                    # the dataflow does not hold moves every pass
                                    fw = (1 if z == 2 else t1b) if hold_w else l_b
                                    fi = (1 if z == 1 else t1o) if hold_i else l_o
                                    fo = (1 if z == 0 else t1i) if hold_o else l_i
                                    for d in range(3):
                                        if not active[d]:
                                            continue
                                        stats[ST_EVALUATED] += 1
                                        # as reference._onchip and _totals
                                        m_w = d_count[d, 0] if keep_w else tiles * fw
                                        m_i = d_count[d, 1] if keep_i else tiles * fi
                                        passes = exits * (d_count[d, 2] if keep_o else tr_c * fo)
                                        glb_r = (wg * m_w * wpe_w + ig * m_i * wpe_a
                                                 + (passes - 1) * outs * ps)
                                        glb_w = outs * (wpe_out + (passes - 1) * ps)
                                        arr = (wa * m_w * wpe_w + ia * m_i * wpe_a
                                               + (passes * hops + (passes - 1)) * outs * ps)
                                        e_sram = glb_r * buf_r + glb_w * buf_w
                                        e_array = arr * arr_cost
                                        energy = e_dram[d] + e_sram + e_array + e_rf + e_mac
                                        latency = max(compute, t_dram[d])
                                        if obj == 0:
                                            s1, s2 = energy, latency
                                        elif obj == 1:
                                            s1, s2 = latency, energy
                                        else:
                                            s1, s2 = energy * latency, energy
                                        if not (s1 < best1 or (s1 == best1 and s2 < best2)):
                                            continue
                                        best1, best2 = s1, s2
                                        best_i[0], best_i[1], best_i[2] = jn, jg, jk
                                        best_i[3], best_i[4], best_i[5] = jc, jp, jq
                                        best_i[BI_DRAM], best_i[BI_VARIANT] = d, variant
                                        best_i[BI_LANE_LOOP], best_i[BI_LANES] = v, u
                                        best_i[BI_RF], best_i[BI_RF + 1] = i2, o2
                                        best_i[BI_RF + 2] = b2
                                        best_i[BI_GLB], best_i[BI_FOUND] = z, 1
                                        best_f[BF_ENERGY] = energy
                                        best_f[BF_DRAM] = e_dram[d]
                                        best_f[BF_SRAM] = e_sram
                                        best_f[BF_ARRAY] = e_array
                                        best_f[BF_RF] = e_rf
                                        best_f[BF_MAC] = e_mac
                                        best_f[BF_LATENCY] = latency
                                        best_f[BF_COMPUTE] = compute
                                        best_f[BF_DRAM_CYCLES] = t_dram[d]
                                        best_f[BF_DRAM_READ] = d_reads[d]
                                        best_f[BF_DRAM_WRITE] = d_writes[d]
                                        best_f[BF_BUF_READS] = glb_r
                                        best_f[BF_BUF_WRITES] = glb_w
                                        best_f[BF_ARRAY_WORDS] = arr
                                        best_f[BF_RF_ACCESSES] = macs * (rw + ri + 2.0 * ro)
        return best_i, best_f, stats

    return search


search = _build_search(SOURCES_DIGEST)
