"""Index layout of the Fine kernel's argument arrays (lay, hw, cost) and of what it
returns (best_i, best_f, stats): shared by the mapper that packs and reads them and the
kernel. Free of Numba so that a process running the ahead-of-time kernel never imports
it."""

# lay (int64): the layer, channels per group
(LAY_N, LAY_G, LAY_K, LAY_C, LAY_P, LAY_Q, LAY_R, LAY_S, LAY_STRIDE, LAY_DILATION,
 LAY_SIZE) = range(11)
# hw (int64): array, engine, codes (mapspace.*_CODES), bitwidths, buffer bits, the RF
# packing (mapspace.rf_packing: 6 ints from HW_RF_PACKING), RF words, shared RF, RS cuts
(HW_ROWS, HW_COLS, HW_WORD, HW_B_MAX, HW_ENGINE, HW_LANES, HW_DATAFLOW, HW_OBJECTIVE,
 HW_W_BITS, HW_A_BITS, HW_OUT_BITS, HW_BUFFER_BITS, HW_RF_PACKING) = range(13)
HW_FILTER_WORDS, HW_FMAP_WORDS, HW_PSUM_WORDS, HW_SHARED, HW_RS_CUTS, HW_SIZE = range(18, 24)
# cost (float64): energy per word access, DRAM bytes per cycle (0: unlimited), MAC energy
# of the layer (Frac.OPs × mac_cost), MACs
(C_DRAM_READ, C_DRAM_WRITE, C_BUF_READ, C_BUF_WRITE, C_ARRAY, C_RF_READ, C_RF_WRITE,
 C_BANDWIDTH, C_MAC_ENERGY, C_MACS, C_SIZE) = range(11)

# best_i (int64): tile candidate index per dimension n, g, k, c, p, q; DRAM class; spatial
# variant; lane loop and lanes; RF factors i2, o2, b2; innermost buffer loop; found (0/1)
BI_TILE, BI_DRAM, BI_VARIANT, BI_LANE_LOOP, BI_LANES = 0, 6, 7, 8, 9
BI_RF, BI_GLB, BI_FOUND, BI_SIZE = 10, 13, 14, 15
# best_f (float64): energy and its breakdown, latency, access totals of the best mapping
(BF_ENERGY, BF_DRAM, BF_SRAM, BF_ARRAY, BF_RF, BF_MAC, BF_LATENCY, BF_COMPUTE,
 BF_DRAM_CYCLES, BF_DRAM_READ, BF_DRAM_WRITE, BF_BUF_READS, BF_BUF_WRITES, BF_ARRAY_WORDS,
 BF_RF_ACCESSES) = range(15)
BF_SIZE = 15
# stats (int64): mapspace size, cost evaluations, tiles that fit the buffer, RF-feasible
# inner mappings
ST_MAPSPACE, ST_EVALUATED, ST_TILES, ST_INNER = 0, 1, 2, 3
ST_SIZE = 4
