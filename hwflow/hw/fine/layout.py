"""Index layout of what the Fine kernel returns, (best_i, best_f, stats): shared by the
kernel that fills the arrays and the mapper that reads them. Free of Numba so that a
process running the ahead-of-time kernel never imports it."""

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
