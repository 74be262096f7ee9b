"""Where accuracy evaluations run: the one protocol the search talks to, ``AccuracyDispatch``.

Its executors: ``hwflow.dispatch.in_process.InProcess`` (this process) and
``hwflow.dispatch.cluster.DaskDispatch`` (local worker processes or a Dask cluster). Results
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

    def evaluate(self, strategies: Sequence[Strategy]) -> list[AccuracyResult]: ...


class AccuracyDispatch(Protocol):
    def float_accuracy(self) -> float: ...

    def run(self, strategies: Sequence[Strategy]) -> Iterator[tuple[int, AccuracyResult]]:
        """(position in ``strategies``, result) for each, in the order they finish."""
        ...

    def close(self) -> None:
        """Release workers (the driver calls it on a dispatch it made itself)."""
        ...
