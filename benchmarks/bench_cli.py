"""The `hwflow evaluate --model resnet20 --accelerator spatial-256` process, end to end
(Fine level, the default; target <= 1 s, BENCHMARKS.md "Hardware model (Fine)").

    python benchmarks/bench_cli.py [--repeat 5]

Prints the median and best wall time of the process with the kernel this checkout
uses (the ahead-of-time module when built, see hwflow/hw/fine/backend.py), the same
process forced onto the Numba JIT kernel (cache loaded from disk), and a bare Python
start for scale, with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ARGS = ["evaluate", "--model", "resnet20", "--accelerator", "spatial-256"]
RUN = "from hwflow.cli import main; main()"
# the process's kernel choice replaced by the JIT's (a digest no AOT module can match)
RUN_JIT = ("from hwflow.hw.fine import backend; backend.current = lambda: backend.select('jit'); "
           + RUN)


def walls(code: str, args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from hwflow.hw.fine import backend

    kind = backend.current()[0]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    walls(RUN, ARGS, 1)  # warm the OS file cache (and the JIT's disk cache if it is used)
    for label, code, cmd_args in [(f"hwflow evaluate ({kind} kernel)", RUN, ARGS),
                                  ("hwflow evaluate (forced JIT kernel)", RUN_JIT, ARGS),
                                  ("python -c pass (for scale)", "pass", [])]:
        times = walls(code, cmd_args, args.repeat)
        print(f"  {label:38s} median {statistics.median(times):.3f} s, "
              f"best {min(times):.3f} s ({args.repeat} runs)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
