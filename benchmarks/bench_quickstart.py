"""The quickstart's promise: at most 3 minutes from a fresh clone, and a front that means
something (at least 6 members confirmed by re-scoring, spanning at least 3x in energy).

    python benchmarks/bench_quickstart.py          # an empty accuracy cache: pretraining included

Runs ``hwflow search experiments/quickstart.yaml`` as a user would, into a temporary run
directory and accuracy cache, and checks the front in its pareto.csv.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECONDS, CONFIRMED, ENERGY_SPAN = 180.0, 6, 3.0


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HWFLOW_CACHE": str(Path(tmp) / "cache"),
               "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", "from hwflow.cli import main; main()", "search",
             str(ROOT / "experiments/quickstart.yaml"), "--out", str(Path(tmp) / "run")],
            env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        with (Path(tmp) / "run" / "pareto.csv").open() as f:
            rows = [r for r in csv.DictReader(f) if r["confirmed"] == "1"]
    energy = [float(r["energy"]) for r in rows]
    span = max(energy) / min(energy)
    load = os.getloadavg()[0]
    print(f"quickstart: {seconds:.0f} s (goal <= {SECONDS:.0f}; load average {load:.1f}), "
          f"{len(rows)} confirmed front members (goal >= {CONFIRMED}), energy span "
          f"{span:.2f}x (goal >= {ENERGY_SPAN:g}x)")
    return 0 if seconds <= SECONDS and len(rows) >= CONFIRMED and span >= ENERGY_SPAN else 1


if __name__ == "__main__":
    sys.exit(main())
