"""Fine level speed: whole ResNet20 in-process, kernel throughput (ahead-of-time and JIT
builds) and mapspace per layer (targets in BENCHMARKS.md, "Hardware model (Fine)"; the
``hwflow evaluate`` process: bench_cli.py).

    python benchmarks/bench_fine.py [--repeat 5]

The kernel is single-threaded. "In-process" times start from an empty layer-cost cache
with the kernel already loaded; the one-time cost of loading it is printed separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hwflow.catalog import load_accelerator, load_workload  # noqa: E402
from hwflow.hw.fine import backend, layout as L  # noqa: E402
from hwflow.hw.fine.mapper import kernel_args  # noqa: E402
from hwflow.hw.levels import clear_cache, estimate  # noqa: E402
from hwflow.hw.query import LayerQuery  # noqa: E402
from hwflow.strategy import uniform_strategy  # noqa: E402


def timed_estimate(workload, strategy, accel, repeat: int) -> tuple[float, object]:
    times, report = [], None
    for _ in range(repeat):
        clear_cache()
        start = time.perf_counter()
        report = estimate(workload, strategy, accel, level="fine")
        times.append(time.perf_counter() - start)
    return min(times), report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    resnet20 = load_workload("resnet20")
    spatial = load_accelerator("spatial-256")
    start = time.perf_counter()
    estimate(resnet20, uniform_strategy(resnet20, 16, 16), spatial, level="fine")
    print(f"kernel load ({backend.current()[0]}) + first ResNet20: "
          f"{time.perf_counter() - start:.3f} s")

    print("\nWhole ResNet20 at Fine, empty layer cache (best of "
          f"{args.repeat}; target <= 5 ms for every dataflow and engine):")
    for name, dataflow, bits in [("spatial-256", "rs", 16), ("spatial-256", "ws", 16),
                                 ("spatial-256", "os", 16), ("spatial-256", "rs", 4),
                                 ("spatial-168", "rs", 16), ("bs-256", "rs", 16),
                                 ("bs-256", "ws", 16), ("bs-256", "os", 16),
                                 ("bs-256", "rs", 4)]:
        accel = load_accelerator(name).with_dataflow(dataflow)
        strategy = uniform_strategy(resnet20, bits, bits)
        seconds, report = timed_estimate(resnet20, strategy, accel, args.repeat)
        mapspace = sum(r.cost.details["mapspace"] for r in report.layers)
        evaluated = sum(r.cost.details["evaluated"] for r in report.layers)
        print(f"  {name:12s} {dataflow} {bits:2d}-bit: {seconds * 1e3:7.2f} ms  "
              f"mapspace {mapspace:.3g}  cost evaluations {evaluated:.3g}")

    print("\nKernel throughput (every AlexNet and ResNet18 layer, spatial-256 RS, 16 bit, "
          "batch 1 and 4; target >= 1e7 mappings/s):")
    calls = [kernel_args(LayerQuery(layer, 16, 16, 16, spatial, batch, "latency"))[1]
             for model in ("alexnet", "resnet18") for layer in load_workload(model).layers
             for batch in (1, 4)]
    start = time.perf_counter()
    jit = backend.select("jit")[1]  # a digest no AOT module matches: the JIT kernel
    jit(*calls[0])
    print(f"  (JIT kernel load from its disk cache, or compile, incl. importing Numba: "
          f"{time.perf_counter() - start:.3f} s)")
    kernels = {"jit": jit}
    kind, current = backend.current()
    if kind == "aot":
        kernels["aot"] = current
    for kind, search in kernels.items():
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            stats = [search(*call)[2] for call in calls]
            best = min(best, time.perf_counter() - start)
        evaluated = sum(int(s[L.ST_EVALUATED]) for s in stats)
        covered = sum(int(s[L.ST_MAPSPACE]) for s in stats)
        print(f"  {kind} kernel alone: {evaluated / best:.3g} cost evaluations/s, "
              f"{covered / best:.3g} mappings covered/s ({evaluated:,} evaluations, "
              f"{best * 1e3:.1f} ms)")
    total_time = total_eval = 0.0
    for model in ("alexnet", "resnet18"):
        workload = load_workload(model)
        seconds, report = timed_estimate(workload, uniform_strategy(workload, 16, 16),
                                         spatial, args.repeat)
        total_time += seconds
        total_eval += sum(r.cost.details["evaluated"] for r in report.layers)
    print(f"  through estimate() (layer packing, mapping text, LayerCost; batch 1): "
          f"{total_eval / total_time:.3g} cost evaluations/s")

    print("\nResNet20 mapspace per layer (spatial-256 RS, 16 bit):")
    clear_cache()
    report = estimate(resnet20, uniform_strategy(resnet20, 16, 16), spatial, level="fine")
    seen = set()
    for layer, r in zip(resnet20.layers, report.layers):
        note = " (same shape as an earlier layer: cached)" if layer.shape_key() in seen else ""
        seen.add(layer.shape_key())
        print(f"  {r.name:16s} mapspace {r.cost.details['mapspace']:>10,}  "
              f"evaluated {r.cost.details['evaluated']:>7,}{note}")


if __name__ == "__main__":
    main()
