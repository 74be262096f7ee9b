"""Test doubles for the search: a tiny synthetic network and a deterministic accuracy proxy.

``ProxyAccuracy`` implements the two methods of ``hwflow.accuracy.evaluator.AccuracyEvaluator``
with a closed form that falls with fewer bits (so accuracy conflicts with hardware cost),
optionally sleeps (to kill a run mid-evaluation) and logs every strategy it evaluates (to
prove nothing is evaluated twice).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwflow.strategy import Strategy
from hwflow.workload import Layer, Workload


@dataclass(frozen=True)
class Result:  # the fields of hwflow.accuracy.evaluator.AccuracyResult
    accuracy: float
    status: str
    seconds: float
    cached: bool


def proxy_accuracy(strategy: Strategy) -> float:
    """0.98 minus a per-layer penalty that grows as bits shrink; later layers matter less."""
    loss = 0.0
    for i, layer in enumerate(strategy.layers):
        weight = 1.0 / (1 + i)
        loss += weight * (0.4 / layer.w_bits ** 2 + 0.6 / layer.a_bits ** 2)
    return max(0.0, 0.98 - 0.5 * loss)


class ProxyAccuracy:
    def __init__(self, sleep: float = 0.0, log: str | Path | None = None) -> None:
        self.sleep, self.log = sleep, Path(log) if log else None
        self.calls: list[tuple[int, ...]] = []

    def float_accuracy(self) -> float:
        return 0.98

    def evaluate(self, strategies: Sequence[Strategy]) -> list[Result]:
        out = []
        for s in strategies:
            if self.sleep:
                time.sleep(self.sleep)
            bits = s.w_bits + s.a_bits
            self.calls.append(bits)
            if self.log:
                with self.log.open("a") as f:
                    f.write(json.dumps(bits) + "\n")
            out.append(Result(proxy_accuracy(s), "ok", self.sleep, False))
        return out


def tiny_workload(n_layers: int = 4) -> Workload:
    """A small conv stack (8x8 maps) ending in a linear layer."""
    layers = []
    channels = [3, 8, 16, 16, 32, 32]
    for i in range(n_layers - 1):
        layers.append(Layer(f"conv{i + 1}", "conv", c_i=channels[i], c_o=channels[i + 1],
                            h_i=8, w_i=8, h_o=8, w_o=8, k_h=3, k_w=3, padding=1))
    layers.append(Layer("fc", "linear", c_i=channels[n_layers - 1], c_o=10, h_i=1, w_i=1,
                        h_o=1, w_o=1))
    return Workload("tiny", tuple(layers))


def main(argv: list[str]) -> None:
    """``python tests/search_helpers.py [--sleep S] [--log FILE] -- <hwflow args>``: the real
    CLI, with the proxy standing in for the accuracy evaluator."""
    import argparse

    from hwflow.cli import main as hwflow
    from hwflow.dispatch.in_process import InProcess
    from hwflow.search import driver

    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--log", default=None)
    args = parser.parse_args(argv[:split])
    driver.default_accuracy = lambda exp: InProcess(ProxyAccuracy(args.sleep, args.log))
    driver.check_can_start = lambda exp: None  # the proxy reads no data set, needs no device
    hwflow(argv[split + 1:])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
