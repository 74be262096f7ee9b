"""The in-process executor: accuracy evaluations one at a time, in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from hwflow.dispatch.protocol import AccuracySource
from hwflow.strategy import Strategy

if TYPE_CHECKING:
    from hwflow.accuracy.evaluator import AccuracyResult


class InProcess:
    """Evaluate one strategy at a time in this process."""

    def __init__(self, source: AccuracySource) -> None:
        self.source = source

    def float_accuracy(self) -> float:
        return self.source.float_accuracy()

    def run(self, strategies: Sequence[Strategy]) -> Iterator[tuple[int, AccuracyResult]]:
        for i, strategy in enumerate(strategies):
            yield i, self.source.evaluate([strategy])[0]

    def close(self) -> None:
        pass
