"""Accelerator co-search speed: individuals scored per second when each one carries its own
accelerator (hwflow.search.costs.AcceleratorCosts), and one whole co-search generation.

No target was set for this path; it is recorded so a regression shows. Three regimes:
- warm: every design and layer configuration already met (the layer cache serves all);
- new designs: every individual a design not met before (its layers are mapped);
- a generation: NSGA-II with accelerator genes on hardware-only objectives (population 50),
  including operators, sorting and storing every evaluation in run.sqlite.

    .venv/bin/python benchmarks/bench_cosearch.py [--model resnet20] [--level fine]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.levels import clear_cache
from hwflow.search.costs import AcceleratorCosts
from hwflow.search.driver import run_search
from hwflow.search.experiment import load_experiment
from hwflow.search.space.accelerator_genes import AcceleratorGenesConfig, AcceleratorSpace

GENES = dict(rows=[8, 12, 16, 24, 32], cols=[8, 12, 16, 24, 32], buffer_kb=[64, 128, 256, 512],
             dataflow=["rs", "ws", "os"], batch=[1, 4])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--level", default="fine")
    parser.add_argument("--individuals", type=int, default=400)
    args = parser.parse_args()

    workload = load_workload(args.model)
    space = AcceleratorSpace.of(load_accelerator("spatial-256"), 1, AcceleratorGenesConfig(**GENES))
    rng = np.random.default_rng(0)
    n, layers = args.individuals, len(workload.layers)
    bits = rng.choice([8, 4, 2], size=(n, layers))
    bits[:, [0, -1]] = 16
    index = np.column_stack([rng.integers(0, len(g.choices), size=n) for g in space.genes])
    designs = len({tuple(r) for r in index})

    clear_cache()
    costs = AcceleratorCosts(workload, space, args.level)
    start = time.perf_counter()
    costs.totals(bits, bits, index)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    costs.totals(bits, bits, index)
    warm = time.perf_counter() - start
    print(f"{args.model} at {args.level}, {n} individuals over {designs} distinct designs:")
    print(f"  new designs (layers mapped): {n / cold:,.0f} individuals/s ({cold:.2f} s)")
    print(f"  warm (layer cache):          {n / warm:,.0f} individuals/s")

    with tempfile.TemporaryDirectory() as tmp:
        exp_path = Path(tmp) / "exp.yaml"
        exp_path.write_text(
            f"model: {args.model}\naccelerator: spatial-256\nlevel: {args.level}\n"
            f"objectives: [{'frac_ops' if args.level == 'coarse' else 'energy'}, latency_cycles, area]\n"
            "bits: [8, 4, 2]\npopulation: 50\n"
            "generations: 6\naccelerator_genes:\n"
            + "".join(f"  {k}: {v}\n" for k, v in GENES.items()).replace("'", ""))
        clear_cache()
        start = time.perf_counter()
        result = run_search(load_experiment(exp_path), Path(tmp) / "run", plots=False)
        total = time.perf_counter() - start
    print(f"  NSGA-II co-search, population 50 x 6 generations, empty cache: {total:.2f} s "
          f"({result.evaluations} evaluations, {total / result.generations * 1000:.0f} ms per generation)")


if __name__ == "__main__":
    main()
