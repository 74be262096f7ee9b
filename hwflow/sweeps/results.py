"""A sweep's results: one ``PointResult`` per grid point, and the combined ``sweep.csv``.

``sweep.csv`` (columns in docs/sweep.md): search sweeps one row per grid point and front
member, with a ``pick`` column naming the leaders and the point's hypervolume, front size and
evaluations; evaluate sweeps one row per grid point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from hwflow.metrics import METRICS
from hwflow.runs import reports
from hwflow.runs.store import GenerationRow
from hwflow.sweeps.config import EVALUATE_METRICS, GridPoint, Sweep

SWEEP_CSV = "sweep.csv"


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


def bits_text(bits: Sequence[int]) -> str:
    return " ".join(str(b) for b in bits)


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


def write_search_csv(sweep: Sweep, results: list[PointResult], out: Path) -> Path:
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
                         **summary, "w_bits": bits_text(e.w_bits),
                         "a_bits": bits_text(e.a_bits),
                         **{f"gene.{g}": {**_fixed(r.run), **e.accel_genes}.get(g, "")
                            for g in genes}})
    return _write_csv(out / SWEEP_CSV, head, rows)


def _fixed(run: reports.RunView) -> dict[str, Any]:
    """Accelerator knobs a co-search or flow step fixed (its genes vary per solution)."""
    return dict(run.meta.accelerator_fixed)


EVALUATE_SETTINGS = ("model", "accelerator", "level", "batch", "dataflow", "engine",
                     "buffer_kb", "dram_bandwidth", "w_bits", "a_bits")


def write_evaluate_csv(sweep: Sweep, results: list[PointResult], out: Path) -> Path:
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
    """Written from a DataFrame, the form ``hwflow.open_sweep`` reads it back in."""
    tmp = path.with_suffix(".csv.tmp")
    pd.DataFrame(rows, columns=head).to_csv(tmp, index=False)
    tmp.replace(path)
    return path
