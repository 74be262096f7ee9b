"""Wall time of one generation's accuracy evaluations: in-process vs local worker processes
(digits-cnn on the CPU), and fine-tunes sharing one GPU vs one at a time (when CUDA is present).

    python benchmarks/bench_parallel.py [--population 8] [--repeat 3] [--epochs 1]
    python benchmarks/bench_parallel.py --gpu [--gpu-model resnet20] [--gpu-workers 1,2,4]

A generation is ``--population`` distinct strategies none of which is cached (what the search
hands its dispatch after run.sqlite and the cache): random w/a bits in {8, 6, 4, 2} for every
layer but the first and last. The float baseline is pretrained first in another process (not
timed), and every configuration gets its own copy of that cache, so all of them fine-tune the
same strategies from scratch. Per configuration: the cold generation (starting the workers,
torch's imports and loading the baseline in each) and the median of ``--repeat`` warm ones.
The load average is printed: on a shared machine the parallel figures depend on it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.catalog import load_workload
from hwflow.dispatch.cluster import open_dispatch
from hwflow.dispatch.in_process import InProcess
from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.strategy import LayerBits, Strategy

BITS = (8, 6, 4, 2)


def strategy_sets(model: str, sets: int, size: int, seed: int = 0) -> list[list[Strategy]]:
    """``sets`` lists of ``size`` strategies, all distinct (first and last layer at 16 bit)."""
    names = load_workload(model).layer_names
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, ...]] = set()
    while len(seen) < sets * size:
        seen.add(tuple(int(b) for b in rng.choice(BITS, 2 * (len(names) - 2))))
    picks = sorted(seen, key=lambda bits: rng.random())
    out = []
    for bits in picks:
        w, a = (16, *bits[::2], 16), (16, *bits[1::2], 16)
        out.append(Strategy(model, tuple(LayerBits(n, wb, ab) for n, wb, ab in zip(names, w, a))))
    return [out[i * size:(i + 1) * size] for i in range(sets)]


def pretrain(cache: Path, model: str, dataset: str, device: str) -> None:
    subprocess.run([sys.executable, "-c", "from hwflow.cli import main; main()", "pretrain",
                    "--model", model, "--dataset", dataset, "--device", device,
                    "--cache-dir", str(cache)], check=True, capture_output=True)


def time_generations(make: Callable[[], AccuracyDispatch],
                     sets: list[list[Strategy]]) -> tuple[float, list[float]]:
    """(cold: start + first generation, [warm generation times])."""
    start = time.perf_counter()
    dispatch = make()
    try:
        list(dispatch.run(sets[0]))
        cold = time.perf_counter() - start
        warm = []
        for strategies in sets[1:]:
            start = time.perf_counter()
            results = list(dispatch.run(strategies))
            warm.append(time.perf_counter() - start)
            assert not any(r.cached for _, r in results), "a benchmark strategy was cached"
    finally:
        dispatch.close()
    return cold, warm


def compare(configs: dict[str, Callable[[AccuracySettings], AccuracyDispatch]], model: str,
            dataset: str, device: str, epochs: float, population: int, repeat: int) -> None:
    sets = strategy_sets(model, repeat + 1, population)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp) / "baseline"
        start = time.perf_counter()
        pretrain(baseline, model, dataset, device)
        print(f"baseline pretrained in {time.perf_counter() - start:.1f} s (not timed below); "
              f"load average {os.getloadavg()[0]:.2f}")
        print(f"{model} on {dataset}, {device}, population {population}, {epochs:g} epoch "
              f"fine-tunes, {repeat} warm generations per configuration")
        print(f"{'where':<34} {'cold':>8} {'warm median':>12} {'warm min':>9} {'per ψ':>7}")
        first = None
        for name, make in configs.items():
            cache = Path(tmp) / name.replace(" ", "_")
            shutil.copytree(baseline, cache)
            settings = AccuracySettings(model=model, dataset=dataset, epochs=epochs,
                                        device=device, cache_dir=str(cache))
            cold, warm = time_generations(lambda make=make, settings=settings: make(settings), sets)
            median = statistics.median(warm)
            first = first or median
            print(f"{name:<34} {cold:>7.2f}s {median:>11.2f}s {min(warm):>8.2f}s "
                  f"{median / population:>6.2f}s  (x{first / median:.2f}; load "
                  f"{os.getloadavg()[0]:.2f})")


def in_process(settings: AccuracySettings) -> AccuracyDispatch:
    import torch

    torch.set_num_threads(1)
    return InProcess(AccuracyEvaluator(settings))


def workers(n: int) -> Callable[[AccuracySettings], AccuracyDispatch]:
    return lambda settings: open_dispatch(settings, threads=1, workers=n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=8, help="strategies per generation")
    parser.add_argument("--repeat", type=int, default=3, help="warm generations timed")
    parser.add_argument("--epochs", type=float, default=1.0, help="fine-tune epochs")
    parser.add_argument("--gpu", action="store_true", help="the GPU comparison instead")
    parser.add_argument("--gpu-model", default="resnet20")
    parser.add_argument("--gpu-dataset", default="synthetic",
                        help="synthetic needs no files; cifar10 needs $HWFLOW_DATA")
    parser.add_argument("--gpu-epochs", type=float, default=4.0)
    parser.add_argument("--gpu-workers", default="1,2,4",
                        help="worker processes sharing the GPU, one fine-tune each at a time")
    args = parser.parse_args()

    if not args.gpu:
        compare({"in-process, 1 torch thread": in_process,
                 "1 worker process": workers(1), "2 worker processes": workers(2)},
                "digits-cnn", "digits", "cpu", args.epochs, args.population, args.repeat)
        return 0
    import torch

    if not torch.cuda.is_available():
        print("GPU comparison skipped: torch sees no CUDA device here (the figure is pending "
              "until this runs on a GPU machine)")
        return 0
    counts = [int(n) for n in args.gpu_workers.split(",")]
    # every worker asks for "cuda": on a one-GPU machine they all share it
    compare({f"{n} worker(s) on {torch.cuda.get_device_name(0)}": workers(n) for n in counts},
            args.gpu_model, args.gpu_dataset, "cuda", args.gpu_epochs, args.population,
            args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
