"""Fine level entry point: the best mapping of one layer, its costs and a printable form.

``fine_layer_cost`` packs the layer and accelerator into flat arrays, runs the compiled
kernel (``kernel.search``, ahead of time or JIT: ``backend``) and turns its answer into
a ``LayerCost`` with the energy breakdown {dram, sram, array, rf, mac}, the latency in
cycles, the mapping on one line and ``details`` (mapspace size, cost evaluations,
utilization, access totals).
"""

from __future__ import annotations

import numpy as np

from hwflow.hw.coarse import ideal_cycles
from hwflow.hw.engines import frac_ops
from hwflow.hw.fine import backend, layout as L
from hwflow.hw.fine.mapspace import (
    DATAFLOW_CODES,
    DRAM_CLASSES,
    ENGINE_CODES,
    OBJECTIVE_CODES,
    PASS_LOOPS,
    FineMapping,
    pass_shape,
    rf_fits,
    rf_packing,
    tile_candidates,
)
from hwflow.hw.query import LayerQuery
from hwflow.hw.report import LayerCost
from hwflow.hw.spec import Accelerator
from hwflow.hw.tiling import CANDIDATE_ORDERS, DIMS, MappingError, dims_of, footprint_bits, trips_of
from hwflow.workload import Layer

_REPS = np.array([[DIMS.index(d) for d in order] for order in CANDIDATE_ORDERS], dtype=np.int64)


def kernel_args(query: LayerQuery) -> tuple[dict[str, list[int]], tuple]:
    """The DRAM tile candidates and the argument arrays of ``kernel.search``."""
    layer, w_bits, a_bits, out_bits = query.layer, query.w_bits, query.a_bits, query.out_bits
    accel, batch, objective = query.accelerator, query.batch, query.objective
    cands = tile_candidates(layer, batch, accel.dataflow, accel.rows, accel.cols)
    engine = ENGINE_CODES[accel.engine.kind]
    word, b_max = accel.word_bits, accel.engine.b_max
    lay = np.empty(L.LAY_SIZE, dtype=np.int64)
    lay[L.LAY_N], lay[L.LAY_G], lay[L.LAY_K], lay[L.LAY_C] = (
        batch, layer.groups, layer.c_o_per_group, layer.c_i_per_group)
    lay[L.LAY_P], lay[L.LAY_Q], lay[L.LAY_R], lay[L.LAY_S] = (
        layer.h_o, layer.w_o, layer.k_h, layer.k_w)
    lay[L.LAY_STRIDE], lay[L.LAY_DILATION] = layer.stride, layer.dilation
    hw = np.empty(L.HW_SIZE, dtype=np.int64)
    hw[L.HW_ROWS], hw[L.HW_COLS], hw[L.HW_WORD], hw[L.HW_B_MAX] = (
        accel.rows, accel.cols, word, b_max)
    hw[L.HW_ENGINE], hw[L.HW_LANES] = engine, accel.engine.lanes
    hw[L.HW_DATAFLOW] = DATAFLOW_CODES[accel.dataflow]
    hw[L.HW_OBJECTIVE] = OBJECTIVE_CODES[objective]
    hw[L.HW_W_BITS], hw[L.HW_A_BITS], hw[L.HW_OUT_BITS] = w_bits, a_bits, out_bits
    hw[L.HW_BUFFER_BITS] = (accel.buffer.size_bytes or 0) * 8
    hw[L.HW_RF_PACKING:L.HW_RF_PACKING + 6] = rf_packing(engine, w_bits, a_bits, b_max, word)
    (hw[L.HW_FILTER_WORDS], hw[L.HW_FMAP_WORDS], hw[L.HW_PSUM_WORDS],
     hw[L.HW_SHARED]) = _rf_words(accel)
    hw[L.HW_RS_CUTS] = int(accel.rs_cuts)
    macs = layer.macs * batch
    cost = np.empty(L.C_SIZE, dtype=np.float64)
    cost[L.C_DRAM_READ], cost[L.C_DRAM_WRITE] = accel.dram.read_cost, accel.dram.write_cost
    cost[L.C_BUF_READ], cost[L.C_BUF_WRITE] = accel.buffer.read_cost, accel.buffer.write_cost
    cost[L.C_ARRAY] = accel.array_cost
    cost[L.C_RF_READ], cost[L.C_RF_WRITE] = accel.rf.read_cost, accel.rf.write_cost
    cost[L.C_BANDWIDTH] = accel.dram.bandwidth or 0.0
    cost[L.C_MAC_ENERGY] = frac_ops(macs, accel.engine, w_bits, a_bits) * accel.mac_cost
    cost[L.C_MACS] = float(macs)
    arrays = tuple(np.array(cands[d], dtype=np.int64) for d in DIMS)
    return cands, (lay, *arrays, _REPS, hw, cost)


def search_layer(query: LayerQuery, search: backend.SearchFn | None = None
                 ) -> tuple[FineMapping | None, np.ndarray, np.ndarray]:
    """Run the kernel (``search``, by default the process's ``backend.current``): (best
    mapping or None, best_f, stats); see ``layout``."""
    cands, args = kernel_args(query)
    best_i, best_f, stats = (search or backend.current()[1])(*args)
    if not best_i[L.BI_FOUND]:
        return None, best_f, stats
    mapping = FineMapping(
        dataflow=query.accelerator.dataflow,
        tile=tuple(int(cands[d][best_i[L.BI_TILE + j]]) for j, d in enumerate(DIMS)),
        dram_class=int(best_i[L.BI_DRAM]), variant=int(best_i[L.BI_VARIANT]),
        lane_loop=int(best_i[L.BI_LANE_LOOP]), lanes=int(best_i[L.BI_LANES]),
        rf=tuple(int(x) for x in best_i[L.BI_RF:L.BI_RF + 3]), glb_inner=int(best_i[L.BI_GLB]))
    return mapping, best_f, stats


def _rf_words(accel: Accelerator) -> tuple[int, int, int, int]:
    rf = accel.rf
    return rf.filter_words, rf.fmap_words, rf.psum_words, int(rf.shared)


def describe(layer: Layer, batch: int, accel: Accelerator, m: FineMapping) -> str:
    """One line: DRAM loops and buffer tile | spatial pass | lanes | buffer loops | RF."""
    dims = dims_of(layer, batch)
    tile = dict(zip(DIMS, m.tile))
    trips = trips_of(dims, tile)
    order = CANDIDATE_ORDERS[m.dram_class]
    dram = " ".join(f"{d}{trips[d]}" for d in order if trips[d] > 1) or "-"
    shape = pass_shape(DATAFLOW_CODES[m.dataflow], m.variant, tile["n"], tile["k"], tile["c"],
                       tile["p"], tile["q"], layer.k_h, layer.k_w, accel.rows, accel.cols,
                       accel.rs_cuts)
    x_i, x_o, x_b, _, fold_h, fold_a, fold_b = shape[:7]
    if m.dataflow == "rs":
        spatial = (f"RS {layer.k_h}x{-(-tile['p'] // fold_a)} PE set, fold h{fold_h}, "
                   f"{fold_a} row pieces, {x_b // tile['n']} in time")
    elif m.dataflow == "ws":
        spatial = f"WS C_i x C_o on {'rows x cols' if m.variant == 0 else 'cols x rows'}"
    else:
        spatial = (f"OS P x Q on {'rows x cols' if m.variant == 0 else 'cols x rows'}, "
                   f"fold p{fold_a} q{fold_b}")
    spatial += f", {x_i} i x {x_o} o per pass"
    lanes = "-" if m.lane_loop < 0 else f"{PASS_LOOPS[m.lane_loop]}x{m.lanes}"
    extents = (tile["c"], tile["k"], x_b)
    per_pass = (x_i, x_o, 1)
    pass_trips = [-(-extents[j] // (per_pass[j] * (m.lanes if m.lane_loop == j else 1)))
                  for j in range(3)]
    t1 = [pass_trips[j] // m.rf[j] for j in range(3)]
    glb_order = [j for j in range(3) if j != m.glb_inner] + [m.glb_inner] * (m.glb_inner >= 0)
    glb = " ".join(f"{PASS_LOOPS[j]}{t1[j]}" for j in glb_order if t1[j] > 1) or "-"
    rf = " ".join(f"{PASS_LOOPS[j]}{m.rf[j]}" for j in range(3))
    tile_s = " ".join(f"{d}{tile[d]}" for d in DIMS)
    return (f"DRAM[{dram}] keeps {DRAM_CLASSES[m.dram_class].upper()}, tile {tile_s} | {spatial} "
            f"| lanes {lanes} | buffer[{glb}] | RF {rf}")


def _no_mapping_error(layer: Layer, w_bits: int, a_bits: int, accel: Accelerator, batch: int,
                      stats: np.ndarray) -> MappingError:
    df = accel.dataflow.upper()
    if stats[L.ST_TILES] == 0:
        cands = tile_candidates(layer, batch, accel.dataflow, accel.rows, accel.cols)
        smallest = {d: cands[d][0] for d in DIMS}
        need = footprint_bits(layer, smallest, w_bits, a_bits, accel.engine.b_max, accel.word_bits)
        return MappingError(
            f"layer {layer.name}: the global buffer is too small ({accel.buffer.size_bytes} bytes) "
            f"for {df}; its smallest tile needs {need // 8} bytes")
    # no RF holds even one pass (no interleaving, no lanes)
    rf = accel.rf
    layout = rf_packing(ENGINE_CODES[accel.engine.kind], w_bits, a_bits, accel.engine.b_max,
                        accel.word_bits)
    units = pass_shape(DATAFLOW_CODES[accel.dataflow], 0, 1, 1, 1, 1, 1, layer.k_h, layer.k_w,
                       accel.rows, accel.cols, accel.rs_cuts)[7:]
    if rf.shared:
        total = rf.filter_words + rf.fmap_words + rf.psum_words
        return MappingError(
            f"layer {layer.name}: the shared RF is too small ({total} words) for {df}; one pass "
            f"needs {units[0]} filter, {units[1]} fmap and {units[2]} psum values per PE")
    zero = (0, 0, 0)
    for j, (name, words) in enumerate(zip(("filter", "fmap", "psum"),
                                          (rf.filter_words, rf.fmap_words, rf.psum_words))):
        alone = tuple(units[j] if m == j else 0 for m in range(3))
        if alone != zero and not rf_fits(*alone, *layout, *_rf_words(accel)):
            return MappingError(
                f"layer {layer.name}: the {name} RF is too small ({words} words) for {df}; "
                f"one pass needs {units[j]} {name} values per PE")
    return MappingError(f"layer {layer.name}: no {df} mapping fits {accel.name}")


def fine_layer_cost(query: LayerQuery) -> LayerCost:
    mapping, f, stats = search_layer(query)
    layer, w_bits, a_bits = query.layer, query.w_bits, query.a_bits
    accel, batch = query.accelerator, query.batch
    if mapping is None:
        raise _no_mapping_error(layer, w_bits, a_bits, accel, batch, stats)
    macs = layer.macs * batch
    ideal = ideal_cycles(macs, accel, w_bits, a_bits)
    word = accel.word_bits
    f = [float(x) for x in f]
    return LayerCost(
        macs=macs, frac_ops=frac_ops(macs, accel.engine, w_bits, a_bits),
        dram_bytes=(f[L.BF_DRAM_READ] + f[L.BF_DRAM_WRITE]) / 8,
        latency_cycles=f[L.BF_LATENCY], energy=f[L.BF_ENERGY],
        breakdown={"dram": f[L.BF_DRAM], "sram": f[L.BF_SRAM], "array": f[L.BF_ARRAY],
                   "rf": f[L.BF_RF], "mac": f[L.BF_MAC]},
        mapping=describe(layer, batch, accel, mapping),
        details={
            "mapspace": int(stats[L.ST_MAPSPACE]), "evaluated": int(stats[L.ST_EVALUATED]),
            "utilization": ideal / f[L.BF_COMPUTE] if f[L.BF_COMPUTE] else 1.0,
            "bound": "memory" if f[L.BF_DRAM_CYCLES] > f[L.BF_COMPUTE] else "compute",
            "compute_cycles": f[L.BF_COMPUTE],
            "stall_cycles": f[L.BF_LATENCY] - f[L.BF_COMPUTE],  # waiting on DRAM (roofline)
            "accesses": {"dram_words": (f[L.BF_DRAM_READ] + f[L.BF_DRAM_WRITE]) / word,
                         "buffer_words": f[L.BF_BUF_READS] + f[L.BF_BUF_WRITES],
                         "array_words": f[L.BF_ARRAY_WORDS],
                         "rf_accesses": f[L.BF_RF_ACCESSES]},
        })
