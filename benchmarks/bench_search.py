"""Search speed: genome hardware evaluations per second from a warm layer cache.

Target (issue 3/5): >= 1e5 genomes/s. Compares the per-layer table path the search uses
(hwflow.search.costs) with calling hwflow.hw.levels.estimate per genome, and times one
NSGA-II generation on hardware-only objectives (operators, sorting, bookkeeping).

    .venv/bin/python benchmarks/bench_search.py [--model resnet20] [--level coarse]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.levels import estimate
from hwflow.search.costs import HardwareTable
from hwflow.search.space.genome import BitGenome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--accelerator", default="spatial-256")
    parser.add_argument("--level", default="coarse")
    parser.add_argument("--genomes", type=int, default=200_000)
    args = parser.parse_args()

    workload = load_workload(args.model)
    accel = load_accelerator(args.accelerator)
    genome = BitGenome.for_layers(workload.name, workload.layer_names, accel.supported_bits,
                                  tied=accel.tied_bits, keep_ends=True, end_bits=16)
    table = HardwareTable(workload, accel, args.level)
    rng = np.random.default_rng(0)
    X = rng.integers(0, len(genome.alleles), size=(args.genomes, genome.n_var))

    start = time.perf_counter()
    table.totals(*genome.bits(X))  # warm: fills every layer configuration these genomes use
    warm = time.perf_counter() - start

    for n in (1_000, 10_000, args.genomes):
        reps = max(1, 200_000 // n)
        start = time.perf_counter()
        for _ in range(reps):
            table.totals(*genome.bits(X[:n]))
        rate = n * reps / (time.perf_counter() - start)
        print(f"table path, batches of {n:>7,}: {rate:,.0f} genomes/s")

    n_ref = 2_000
    start = time.perf_counter()
    for x in X[:n_ref]:
        estimate(workload, genome.strategy(x), accel, level=args.level)
    rate = n_ref / (time.perf_counter() - start)
    print(f"levels.estimate per genome (warm layer cache): {rate:,.0f} genomes/s")
    print(f"warm-up ({args.model}, {args.level}, {genome.n_var} genes, "
          f"{len(genome.alleles)} alleles): {warm:.2f} s")
    generation_overhead(table, genome, args.level)


def generation_overhead(table: HardwareTable, genome: BitGenome, level: str,
                        population: int = 50, generations: int = 50) -> None:
    """One NSGA-II run on hardware-only objectives: what a generation costs besides ψ
    (operators, non-dominated sorting, storing every evaluation in run.sqlite)."""
    import tempfile
    from pathlib import Path

    from pymoo.optimize import minimize

    from hwflow.runs.store import RunStore
    from hwflow.search.fitness import Fitness
    from hwflow.search.ga.algorithms import make_algorithm
    from hwflow.search.ga.problem import BitwidthProblem
    from hwflow.search.objectives import Scoring

    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "run.sqlite") as store:
        fitness = Fitness(genome, table, store, level, Scoring(("frac_ops", "dram_bytes")))
        start = time.perf_counter()
        minimize(BitwidthProblem(fitness), make_algorithm("nsga2", population),
                 ("n_gen", generations), seed=0)
        seconds = time.perf_counter() - start
    print(f"NSGA-II m={population}, n={generations}, hardware only: "
          f"{1e3 * seconds / generations:.1f} ms per generation "
          f"({fitness.stats.evaluated} evaluations stored)")


if __name__ == "__main__":
    main()
