"""Where accuracy evaluations run. The search talks only to ``AccuracyDispatch``.

``InProcess`` here; local worker processes and Dask clusters in ``hwflow.parallel``. Results
are yielded as each finishes, so the search can store every one at once and lose nothing
when killed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

from hwflow.strategy import Strategy

if TYPE_CHECKING:
    from hwflow.accuracy.evaluator import AccuracyResult


class AccuracySource(Protocol):
    """What ``hwflow.accuracy.evaluator.AccuracyEvaluator`` offers (and test fakes)."""

    def float_accuracy(self) -> float: ...

    def evaluate(self, strategies: Sequence[Strategy]) -> list["AccuracyResult"]: ...


class AccuracyDispatch(Protocol):
    def float_accuracy(self) -> float: ...

    def run(self, strategies: Sequence[Strategy]) -> Iterator[tuple[int, "AccuracyResult"]]:
        """(position in ``strategies``, result) for each, in the order they finish."""
        ...

    def close(self) -> None:
        """Release workers (the driver calls it on a dispatch it made itself)."""
        ...


class InProcess:
    """Evaluate one strategy at a time in this process."""

    def __init__(self, source: AccuracySource) -> None:
        self.source = source

    def float_accuracy(self) -> float:
        return self.source.float_accuracy()

    def run(self, strategies: Sequence[Strategy]) -> Iterator[tuple[int, "AccuracyResult"]]:
        for i, strategy in enumerate(strategies):
            yield i, self.source.evaluate([strategy])[0]

    def close(self) -> None:
        pass
