"""Seconds per ψ of ``hwflow proxy-check`` on ResNet20 with synthetic CIFAR-shaped data:
the GPU path's smoke test and its speed.

    python benchmarks/bench_proxy_check.py                     # CUDA; refuses to run without it
    python benchmarks/bench_proxy_check.py --device cpu        # the same, slowly, on the CPU

Four strategies across Frac.OPs, one seed, ψ after 0.1 and 0.25 epoch, retrained for 0.5
epoch, in a temporary accuracy cache (pretraining of the float baseline included in the
wall time, not in seconds per ψ).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

from click.testing import CliRunner

from hwflow.cli import main


def run(device: str) -> int:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing measured (run with --device cpu for the CPU path)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = CliRunner().invoke(main, [
            "proxy-check", "--model", "resnet20", "--dataset", "synthetic", "--device", device,
            "--samples", "4", "--seeds", "1", "--epochs", "0.1,0.25", "--retrain-epochs", "0.5",
            "--cache-dir", f"{tmp}/cache", "--out", f"{tmp}/out", "--json"])
        wall = time.perf_counter() - start
    if result.exit_code != 0:
        print(result.output, file=sys.stderr)
        return 1
    report = json.loads(result.stdout)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    for b in report["budgets"]:
        print(f"{name}: {b['epochs']:g} epoch ψ of resnet20 on synthetic CIFAR: "
              f"{b['seconds_per_psi']:.2f} s")
    print(f"whole check: {wall:.0f} s")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    sys.exit(run(parser.parse_args().device))
