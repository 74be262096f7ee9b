"""Run a sweep (``hwflow.runs.sweep.Sweep``): every point, then one combined CSV and plots.

- search points: a normal search (``hwflow.search.driver.run_search``, or
  ``hwflow.search.flow.run_flow`` for an experiment with stages) into
  ``<out>/<point folder>/``; a point whose run is finished with the same settings is
  skipped, an unfinished one is resumed, so rerunning a stopped sweep continues it;
- evaluate points: ``hwflow.hw.levels.estimate`` (and ψ when the point asks for it); a
  layer that cannot be mapped (e.g. a buffer too small) is that point's result, not an error.

``sweep.csv`` (columns in docs/sweep.md): search sweeps one row per grid point and front
member, with a ``pick`` column naming the leaders and the point's hypervolume, front size and
evaluations; evaluate sweeps one row per grid point.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import yaml

from hwflow.catalog import load_workload, model_entry
from hwflow.hw.levels import estimate
from hwflow.hw.mid import MappingError
from hwflow.runs import reports
from hwflow.runs.store import STORE_NAME, GenerationRow, RunStore
from hwflow.runs.sweep import EVALUATE_METRICS, THROUGHPUT, EvaluatePoint, GridPoint, Sweep
from hwflow.search.dispatch import AccuracyDispatch
from hwflow.search.experiment import Experiment
from hwflow.search.objectives import METRICS

SWEEP_CSV = "sweep.csv"
POINT_EXPERIMENT = "experiment.yaml"  # each search point's experiment, to rerun it alone
FINISHED = ("finished", "met", "failed")  # a run's or a flow's status once it has ended


class SweepProgress(Protocol):
    """What ``run_sweep`` reports; a search point also reports as the driver's Progress."""

    def point(self, index: int, total: int, point: GridPoint, state: str) -> None: ...

    def start(self, generations: int, last: GenerationRow | None, evaluations: int) -> None: ...

    def evaluation(self, stats: Any) -> None: ...

    def generation(self, row: GenerationRow) -> None: ...


@dataclass
class PointResult:
    point: GridPoint
    state: str  # search: ran | resumed | skipped; evaluate: ok | no mapping | accuracy diverged
    folder: Path | None = None  # search: its run directory
    run: reports.RunView | None = None  # search: the run as stored
    history: list[GenerationRow] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)  # evaluate: its sweep.csv row


@dataclass
class SweepResult:
    sweep: Sweep
    out: Path
    points: list[PointResult]
    files: list[Path]


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
        files = [_write_search_csv(sweep, results, out)]
    else:
        evaluator = _AccuracyCache()
        results = []
        for i, (point, settings) in enumerate(zip(sweep.points, sweep.settings)):
            if progress:
                progress.point(i, len(sweep.points), point, "evaluating")
            results.append(_evaluate_point(point, settings, evaluator))
        files = [_write_evaluate_csv(sweep, results, out)]
    if plots:
        from hwflow.runs.sweep_plots import write_sweep_plots

        files += write_sweep_plots(sweep, results, out)
    return SweepResult(sweep, out, results, files)


def _point_state(folder: Path, exp: Experiment) -> str:
    store_path = folder / STORE_NAME
    if not store_path.exists():
        return "new"
    from hwflow.search.driver import first_difference  # the check a resume makes

    with RunStore(store_path) as store:
        done = (store.get_meta("status") in FINISHED
                and first_difference(store.get_meta("experiment"), exp.settings()) is None)
    return "finished" if done else "unfinished"


def _front_folder(folder: Path, exp: Experiment) -> Path | None:
    """Where a point's front lives: its run directory, or a flow's final step (None when
    the flow found no stage path that meets its constraints)."""
    if not exp.stages:
        return folder
    with RunStore(folder / STORE_NAME) as store:
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
    from hwflow.search.driver import run_search

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
            from hwflow.search.flow import run_flow

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
    with RunStore(front_folder / STORE_NAME) as store:
        history = store.generations(run.meta["level"])
    return PointResult(point, shown, folder=folder, run=run, history=history)


class _AccuracyCache:
    """One accuracy evaluator per distinct setting (the evaluator caches results on disk)."""

    def __init__(self) -> None:
        self._evaluators: dict[tuple, Any] = {}

    def evaluator(self, p: EvaluatePoint):
        from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings

        a = p.accuracy
        assert a is not None
        settings = AccuracySettings(
            model=p.model, dataset=a.dataset or model_entry(p.model).dataset, epochs=a.epochs,
            seed=a.seed, recipe=a.recipe, data_dir=a.data_dir, device=a.device,
            cache_dir=a.cache_dir, scheme=a.scheme, seeds=a.seeds)
        key = (settings, a.threads)
        if key not in self._evaluators:
            if a.threads is not None:
                import torch

                torch.set_num_threads(a.threads)
            self._evaluators[key] = AccuracyEvaluator(settings)
        return self._evaluators[key]


def _plain(value: float) -> int | float:
    """Whole numbers without a trailing .0 (buffer sizes, MACs, bytes)."""
    return int(value) if float(value).is_integer() else value


def _bits_text(bits: Sequence[int]) -> str:
    return " ".join(str(b) for b in bits)


def _evaluate_point(point: GridPoint, p: EvaluatePoint, cache: _AccuracyCache) -> PointResult:
    workload = load_workload(p.model)
    accel = p.accel()
    strategy = p.strategy_for(workload)
    row: dict[str, Any] = {
        "model": workload.name, "accelerator": accel.name, "level": p.level, "batch": p.batch,
        "dataflow": accel.dataflow, "engine": accel.engine.kind,
        "buffer_kb": _plain((accel.buffer.size_bytes or 0) / 1024),
        "dram_bandwidth": _plain(accel.dram.bandwidth) if accel.dram.bandwidth else "inf",
        "w_bits": _bits_text(strategy.w_bits), "a_bits": _bits_text(strategy.a_bits)}
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


# --- the combined CSV -------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    if isinstance(value, dict) or value is None or isinstance(value, bool):
        return json.dumps(value)
    return value


def _key_cells(sweep: Sweep, point: GridPoint) -> dict[str, Any]:
    return {"point": point.folder, **{k: _cell(point.value(k)) if k in dict(point.values)
                                      else "" for k in sweep.keys}}


SEARCH_POINT_COLUMNS = ("hypervolume", "front_size", "evaluations", "generations_done")


def _write_search_csv(sweep: Sweep, results: list[PointResult], out: Path) -> Path:
    """One row per grid point and front member; ``pick`` names the leaders it is; the
    accelerator knobs of a co-search or a flow's final step follow as ``gene.<name>``."""
    runs = [r.run for r in results if r.run is not None]
    metrics = [m for m in METRICS if any(m in e.metrics for run in runs for e in run.front)]
    genes = list(dict.fromkeys(g for run in runs for g in (*_fixed(run), *run.gene_names)))
    head = list(dict.fromkeys(["point", *sweep.keys, "id", "pick", "level", *metrics,
                               *SEARCH_POINT_COLUMNS, "w_bits", "a_bits",
                               *(f"gene.{g}" for g in genes)]))
    rows = []
    for r in results:
        if r.run is None:  # a failed flow has no front
            continue
        last = r.history[-1] if r.history else None
        summary = {"hypervolume": last.hypervolume if last else 0.0,
                   "front_size": len(r.run.front),
                   "evaluations": last.evaluations if last else 0,
                   "generations_done": last.generation if last else 0}
        for e in r.run.front:
            picks = [name for name, leader in r.run.leaders.items() if leader.id == e.id]
            rows.append({**_key_cells(sweep, r.point), "id": e.id, "pick": "+".join(picks),
                         "level": e.level, **{m: e.metrics.get(m, "") for m in metrics},
                         **summary, "w_bits": _bits_text(e.w_bits),
                         "a_bits": _bits_text(e.a_bits),
                         **{f"gene.{g}": {**_fixed(r.run), **e.accel_genes}.get(g, "")
                            for g in genes}})
    return _write_csv(out / SWEEP_CSV, head, rows)


def _fixed(run: reports.RunView) -> dict[str, Any]:
    """Accelerator knobs a co-search or flow step fixed (its genes vary per solution)."""
    return dict(run.meta.get("accelerator_fixed") or {})


EVALUATE_SETTINGS = ("model", "accelerator", "level", "batch", "dataflow", "engine",
                     "buffer_kb", "dram_bandwidth", "w_bits", "a_bits")


def _write_evaluate_csv(sweep: Sweep, results: list[PointResult], out: Path) -> Path:
    """One row per grid point: its settings as evaluated, status, metrics."""
    with_accuracy = any(p.accuracy is not None for p in sweep.settings)
    metrics = [m for m in EVALUATE_METRICS if with_accuracy or "accuracy" not in m]
    measured = [*EVALUATE_SETTINGS, "status", *metrics]
    head = list(dict.fromkeys(["point", *sweep.keys, *measured]))
    # a swept key that is also a setting (level, batch, ...) shows the value as evaluated
    rows = [{**_key_cells(sweep, r.point), **{k: r.row.get(k, "") for k in measured}}
            for r in results]
    return _write_csv(out / SWEEP_CSV, head, rows)


def _write_csv(path: Path, head: list[str], rows: list[dict[str, Any]]) -> Path:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=head)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path

