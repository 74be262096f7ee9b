"""ψ for one strategy on digits, with the float baseline cached: target <= 2 s on 2 CPU cores.

    python benchmarks/bench_accuracy.py [--threads 1] [--strategies 6] [--epochs 1]

Pretrains the digits-cnn baseline into a temporary cache in another process (as
``hwflow pretrain`` would; not timed), then times, in this process:
- the first ψ of the process (it also loads the data and the baseline and pays torch's
  one-time lazy imports, ~2 s),
- ψ of further distinct strategies (what a search pays per new genome): median and max,
- a repeated strategy (served from the SQLite cache).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.catalog import load_workload
from hwflow.strategy import LayerBits, Strategy

TARGET_SECONDS = 2.0


def strategies(count: int) -> list[Strategy]:
    """Distinct mixed-precision strategies (first and last layer at 16 bit)."""
    names = load_workload("digits-cnn").layer_names
    middle = list(itertools.product((8, 6, 4, 3, 2), repeat=len(names) - 2))
    picks = middle[::max(1, len(middle) // count)][:count]
    return [Strategy("digits-cnn", tuple(LayerBits(n, b, b) for n, b in
                                         zip(names, (16, *bits, 16)))) for bits in picks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: a CNN this small gains nothing from more; "
                             "use the other core for a second evaluation process)")
    parser.add_argument("--strategies", type=int, default=6, help="distinct strategies timed")
    parser.add_argument("--epochs", type=float, default=1.0, help="fine-tune epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from hwflow.cli import main; main()", "pretrain",
                        "--model", "digits-cnn", "--cache-dir", cache],
                       check=True, capture_output=True)
        pretrain_s = time.perf_counter() - start

        settings = AccuracySettings(model="digits-cnn", epochs=args.epochs, cache_dir=cache)
        evaluator = AccuracyEvaluator(settings)  # as a search process would: baseline cached
        todo = strategies(args.strategies + 1)
        start = time.perf_counter()
        first = evaluator.evaluate_one(todo[0])
        first_s = time.perf_counter() - start
        warm = []
        for strategy in todo[1:]:
            start = time.perf_counter()
            result = evaluator.evaluate_one(strategy)
            warm.append(time.perf_counter() - start)
            if result.cached or result.status != "ok":
                raise SystemExit(f"unexpected {result} for {strategy.w_bits}")
        start = time.perf_counter()
        if not evaluator.evaluate_one(todo[1]).cached:
            raise SystemExit("a repeated strategy was not served from the cache")
        cached_s = time.perf_counter() - start

    median = statistics.median(warm)
    print(f"digits-cnn on digits, {args.epochs:g} epoch fine-tune, {args.threads} torch threads")
    print(f"pretrain (float baseline in another process, not part of ψ): {pretrain_s:.2f} s")
    print(f"first ψ in the process (torch lazy imports included): {first_s:.2f} s "
          f"(accuracy {first.accuracy:.4f})")
    print(f"ψ per new strategy: median {median:.3f} s, max {max(warm):.3f} s "
          f"over {len(warm)} strategies")
    print(f"ψ of a strategy already in the cache: {cached_s * 1000:.1f} ms")
    ok = median <= TARGET_SECONDS
    print(f"target ψ <= {TARGET_SECONDS:g} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
