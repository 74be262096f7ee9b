"""The Python API for notebooks: a run or a sweep directory as pandas DataFrames.

``hwflow.open_run(path)`` and ``hwflow.open_sweep(path)`` only read: run.sqlite is opened
read-only (``RunStore(read_only=True)``), so the API never creates or changes a run (a run still
going can be opened; its latest stored generation counts). The frames are those pareto.csv
and history.csv are written from (``hwflow.runs.frames``). Examples: docs/python-api.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hwflow.errors import HwflowError
from hwflow.runs import frames, reports
from hwflow.runs.store import STORE_NAME, RunError, RunStore
from hwflow.strategy import Strategy
from hwflow.sweeps.results import SWEEP_CSV


@dataclass(frozen=True, eq=False)  # DataFrames have no single truth value to compare by
class Run:
    """One run (a flow's directory stands for its final step)."""

    folder: Path
    evaluations: pd.DataFrame  # every stored evaluation, all levels
    front: pd.DataFrame  # pareto.csv
    history: pd.DataFrame  # history.csv
    leaders: pd.DataFrame  # the front's rows of hv-leader, accuracy-leader, compression-leader
    view: reports.RunView = field(repr=False)

    def strategy(self, pick: int | str) -> Strategy:
        """The strategy of an evaluation id or a leader name (its ``accelerator`` is the
        run's; a co-searched one's knobs are in ``extra['accelerator_genes']``)."""
        return self.view.strategy(reports.picked(self.view, str(pick)))

    def export(self, pick: int | str, path: str | Path) -> Strategy:
        """Write the strategy YAML as ``hwflow export --pick PICK -o PATH`` does (for a
        co-search, with the solution's accelerator YAML beside it). Writes only ``path``
        (and that accelerator file), never the run."""
        return reports.export(self.folder, str(pick), path)


def open_run(path: str | Path) -> Run:
    view = reports.open_run(path)
    with RunStore(view.folder / STORE_NAME, read_only=True) as store:
        evaluations, history = store.evaluations(), store.generations()
    return Run(folder=view.folder, evaluations=frames.evaluations_frame(view, evaluations),
               front=frames.front_frame(view), history=frames.history_frame(history),
               leaders=frames.leaders_frame(view), view=view)


@dataclass(frozen=True, eq=False)
class Sweep:
    """A sweep directory: sweep.csv as written, and for a search sweep each point's run.

    ``front``, ``evaluations``, ``history`` and ``leaders`` stack the points' frames under
    a first column ``point`` (the point's folder, as in sweep.csv).
    """

    folder: Path
    results: pd.DataFrame  # sweep.csv
    runs: dict[str, Run]  # point folder -> its run (search sweeps; a failed flow has none)

    def _stacked(self, attribute: str) -> pd.DataFrame:
        parts = [getattr(run, attribute).reset_index().assign(point=point)
                 for point, run in self.runs.items()]
        if not parts:
            return pd.DataFrame(columns=["point"])
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.drop(columns=[c for c in ("index",) if c in frame.columns])
        return frame[["point", *[c for c in frame.columns if c != "point"]]]

    @property
    def front(self) -> pd.DataFrame:
        return self._stacked("front")

    @property
    def evaluations(self) -> pd.DataFrame:
        return self._stacked("evaluations")

    @property
    def history(self) -> pd.DataFrame:
        return self._stacked("history")

    @property
    def leaders(self) -> pd.DataFrame:
        return self._stacked("leaders")

    def strategy(self, point: str, pick: int | str) -> Strategy:
        if point not in self.runs:
            raise HwflowError(f"{self.folder}: no search run at point {point!r}; points: "
                              f"{', '.join(self.runs) or 'none'}")
        return self.runs[point].strategy(pick)


def open_sweep(path: str | Path) -> Sweep:
    folder = Path(path)
    csv_path = folder / SWEEP_CSV
    if not csv_path.is_file():
        raise HwflowError(f"{folder}: not a sweep directory (no {SWEEP_CSV})")
    results = pd.read_csv(csv_path)
    runs: dict[str, Run] = {}
    for point in dict.fromkeys(results["point"].astype(str)) if "point" in results else ():
        if (folder / point / STORE_NAME).is_file():
            try:
                runs[point] = open_run(folder / point)
            except RunError:  # a flow that found no stage path has no front to show
                continue
    return Sweep(folder=folder, results=results, runs=runs)
