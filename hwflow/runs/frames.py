"""A run's results as pandas DataFrames: pareto.csv and history.csv are these frames written
out, and ``hwflow.open_run`` returns them, so the files and the Python API cannot disagree.

Bit columns are ``w_bits.<layer>`` / ``a_bits.<layer>`` in network order; accelerator genes
of a co-search follow under their own names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from hwflow.runs.front import violation
from hwflow.runs.reports import RunView
from hwflow.runs.store import Evaluation, GenerationRow, RunStore

PARETO_CSV = "pareto.csv"
HISTORY_CSV = "history.csv"
HISTORY_COLUMNS = ("level", "generation", "hypervolume", "front_size", "evaluations")


def bit_columns(layers: Sequence[str]) -> list[str]:
    return [f"{kind}.{name}" for name in layers for kind in ("w_bits", "a_bits")]


def _bits(e: Evaluation) -> list[int]:
    return [int(b) for pair in zip(e.w_bits, e.a_bits) for b in pair]


def front_frame(run: RunView) -> pd.DataFrame:
    """The front (pareto.csv): id, level, one column per objective, bits, genes."""
    head = ["id", "level", *run.objectives, *bit_columns(run.layers), *run.gene_names]
    rows = [[e.id, e.level, *(float(e.objectives[m]) for m in run.objectives), *_bits(e),
             *(e.accel_genes[g] for g in run.gene_names)] for e in run.front]
    return pd.DataFrame(rows, columns=head)


def leaders_frame(run: RunView) -> pd.DataFrame:
    """The chosen solutions, indexed by pick (hv-leader, ...): their rows of the front."""
    front = front_frame(run).set_index("id", drop=False)
    picks = list(run.leaders)
    frame = front.loc[[run.leaders[p].id for p in picks]].reset_index(drop=True)
    frame.index = pd.Index(picks, name="pick")
    return frame


def evaluations_frame(run: RunView, evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """Every stored evaluation: id, level, status, every metric computed, the summed
    constraint violation (0 when feasible), whether it is on the front, seconds, bits, genes."""
    metrics = list(dict.fromkeys([*run.objectives,
                                  *sorted({m for e in evaluations for m in e.metrics})]))
    genes = list(dict.fromkeys([*run.gene_names,
                                *sorted({g for e in evaluations for g in e.accel_genes})]))
    on_front = {e.id for e in run.front}
    head = ["id", "level", "status", *metrics, "violation", "on_front", "wall_s",
            *bit_columns(run.layers), *genes]
    rows: list[list[Any]] = [
        [e.id, e.level, e.status, *(e.metrics.get(m, e.objectives.get(m)) for m in metrics),
         violation(e), e.id in on_front, e.wall_s, *_bits(e),
         *(e.accel_genes.get(g) for g in genes)] for e in evaluations]
    return pd.DataFrame(rows, columns=head)


def history_frame(rows: Sequence[GenerationRow]) -> pd.DataFrame:
    """history.csv: per level and generation, hypervolume, front size, evaluations so far."""
    return pd.DataFrame([[r.level, r.generation, float(r.hypervolume), r.front_size,
                          r.evaluations] for r in rows], columns=list(HISTORY_COLUMNS))


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Through a temporary file, so a reader never sees half a table."""
    tmp = path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def write_pareto(run: RunView) -> Path:
    return _write_csv(front_frame(run), run.folder / PARETO_CSV)


def write_history(folder: Path, store: RunStore) -> Path:
    return _write_csv(history_frame(store.generations()), folder / HISTORY_CSV)
