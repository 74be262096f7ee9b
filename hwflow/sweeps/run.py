"""Run a sweep (``hwflow.sweeps.config.Sweep``): every point, then one combined CSV and plots.

- search points: a normal search (``hwflow.search.driver.run_search``, or
  ``hwflow.search.flow.run_flow`` for an experiment with stages) into
  ``<out>/<point folder>/``; a point whose run is finished with the same settings is
  skipped, an unfinished one is resumed, so rerunning a stopped sweep continues it;
- evaluate points: ``hwflow.hw.levels.estimate`` (and ψ when the point asks for it); a
  layer that cannot be mapped (e.g. a buffer too small) is that point's result, not an error.

The combined table is ``hwflow.sweeps.results``, the plots ``hwflow.sweeps.plots``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

import yaml

from hwflow.catalog import load_workload, model_entry
from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.hw.levels import estimate
from hwflow.hw.tiling import MappingError
from hwflow.runs import reports
from hwflow.runs.store import STORE_NAME, RunStore
from hwflow.search.driver import Progress, first_difference, run_search
from hwflow.search.experiment import Experiment
from hwflow.search.flow import run_flow
from hwflow.sweeps.config import EVALUATE_METRICS, THROUGHPUT, EvaluatePoint, GridPoint, Sweep
from hwflow.sweeps.plots import write_sweep_plots
from hwflow.sweeps.results import PointResult, SweepResult, bits_text, write_evaluate_csv, write_search_csv

POINT_EXPERIMENT = "experiment.yaml"  # each search point's experiment, to rerun it alone
FINISHED = ("finished", "met", "failed")  # a run's or a flow's status once it has ended


class SweepProgress(Progress, Protocol):
    """What ``run_sweep`` reports; a search point also reports as the driver's Progress."""

    def point(self, index: int, total: int, point: GridPoint, state: str) -> None: ...


def run_sweep(sweep: Sweep, out: str | Path, progress: SweepProgress | None = None,
              plots: bool = True,
              accuracy: Callable[[Experiment], AccuracyDispatch] | None = None) -> SweepResult:
    """Run every point (a search point that is finished already is skipped), then write
    sweep.csv and the plots. ``accuracy`` replaces the real accuracy evaluator of search
    points (tests)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if sweep.kind == "search":
        results = [_search_point(sweep, i, out, progress, plots, accuracy)
                   for i in range(len(sweep.points))]
        files = [write_search_csv(sweep, results, out)]
    else:
        evaluator = _AccuracyCache()
        results = []
        for i, (point, settings) in enumerate(zip(sweep.points, sweep.settings)):
            if progress:
                progress.point(i, len(sweep.points), point, "evaluating")
            results.append(_evaluate_point(point, settings, evaluator))
        files = [write_evaluate_csv(sweep, results, out)]
    if plots:
        files += write_sweep_plots(sweep, results, out)
    return SweepResult(sweep, out, results, files)


def _point_state(folder: Path, exp: Experiment) -> str:
    store_path = folder / STORE_NAME
    if not store_path.exists():
        return "new"
    with RunStore(store_path, read_only=True) as store:  # finished with these settings: the check a resume makes
        done = (store.get_meta("status") in FINISHED
                and first_difference(store.get_meta("experiment"), exp.settings()) is None)
    return "finished" if done else "unfinished"


def _front_folder(folder: Path, exp: Experiment) -> Path | None:
    """Where a point's front lives: its run directory, or a flow's final step (None when
    the flow found no stage path that meets its constraints)."""
    if not exp.stages:
        return folder
    with RunStore(folder / STORE_NAME, read_only=True) as store:
        done = [step for step in store.flow_steps() if step.outcome == "done"]
    return folder / done[-1].folder if done and done[-1].folder else None


def _write_experiment(folder: Path, exp: Experiment, sweep: Sweep, point: GridPoint) -> None:
    text = yaml.safe_dump(exp.config.model_dump(mode="json", exclude_defaults=True),
                          sort_keys=False)
    (folder / POINT_EXPERIMENT).write_text(
        f"# Grid point '{point.label}' of the sweep {sweep.path}.\n"
        f"# Alone: hwflow search {folder / POINT_EXPERIMENT} --out {folder} --resume\n" + text)


def _search_point(sweep: Sweep, index: int, out: Path, progress: SweepProgress | None,
                  plots: bool, accuracy: Callable[[Experiment], AccuracyDispatch] | None
                  ) -> PointResult:
    point, exp = sweep.points[index], sweep.settings[index]
    folder = out / point.folder
    state = _point_state(folder, exp)
    shown = {"new": "ran", "unfinished": "resumed", "finished": "skipped"}[state]
    if progress:
        progress.point(index, len(sweep.points), point, shown)
    if state != "finished":
        folder.mkdir(parents=True, exist_ok=True)
        if state == "new":
            _write_experiment(folder, exp, sweep, point)
        if exp.stages:
            run_flow(exp, folder, resume=state == "unfinished", accuracy=accuracy,
                     progress=progress, plots=plots)
        else:
            run_search(exp, folder, resume=state == "unfinished",
                       accuracy=accuracy(exp) if accuracy and exp.uses_accuracy else None,
                       progress=progress, plots=plots)
    front_folder = _front_folder(folder, exp)
    if front_folder is None:
        return PointResult(point, f"{shown}, flow failed", folder=folder)
    run = reports.open_run(front_folder)
    with RunStore(front_folder / STORE_NAME, read_only=True) as store:
        history = store.generations(run.meta.level)
    return PointResult(point, shown, folder=folder, run=run, history=history)


class _AccuracyCache:
    """One accuracy evaluator per distinct setting (the evaluator caches results on disk)."""

    def __init__(self) -> None:
        self._evaluators: dict[tuple, Any] = {}

    def evaluator(self, p: EvaluatePoint):
        from hwflow.accuracy.evaluator import AccuracyEvaluator
        from hwflow.accuracy.train import use_threads

        a = p.accuracy
        assert a is not None
        settings = a.accuracy_settings(p.model, a.dataset or model_entry(p.model).dataset,
                                       a.epochs, a.seed)
        key = (settings, a.threads)
        if key not in self._evaluators:
            use_threads(a.threads)
            self._evaluators[key] = AccuracyEvaluator(settings)
        return self._evaluators[key]


def _plain(value: float) -> int | float:
    """Whole numbers without a trailing .0 (buffer sizes, MACs, bytes)."""
    return int(value) if float(value).is_integer() else value


def _evaluate_point(point: GridPoint, p: EvaluatePoint, cache: _AccuracyCache) -> PointResult:
    workload = load_workload(p.model)
    accel = p.accel()
    strategy = p.strategy_for(workload)
    row: dict[str, Any] = {
        "model": workload.name, "accelerator": accel.name, "level": p.level, "batch": p.batch,
        "dataflow": accel.dataflow, "engine": accel.engine.kind,
        "buffer_kb": _plain((accel.buffer.size_bytes or 0) / 1024),
        "dram_bandwidth": _plain(accel.dram.bandwidth) if accel.dram.bandwidth else "inf",
        "w_bits": bits_text(strategy.w_bits), "a_bits": bits_text(strategy.a_bits)}
    state = "ok"
    try:
        report = estimate(workload, strategy, accel, level=p.level, batch=p.batch,
                          objective=p.objective)
    except MappingError as exc:  # e.g. a buffer too small for a layer: a result, not a failure
        state, row["status"] = "no mapping", str(exc)
    else:
        row["status"] = "ok"
        totals = report.totals()
        row.update({k: _plain(v) for k, v in totals.items() if k in EVALUATE_METRICS})
        row[THROUGHPUT] = p.batch / totals["latency_cycles"]
    if p.accuracy is not None:
        evaluator = cache.evaluator(p)
        result = evaluator.evaluate_one(strategy)
        row["accuracy"], row["float_accuracy"] = result.accuracy, evaluator.float_accuracy()
        if result.status != "ok" and state == "ok":
            state = row["status"] = f"accuracy {result.status}"
    return PointResult(point, state, row=row)
