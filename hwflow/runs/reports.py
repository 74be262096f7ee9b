"""What a run leaves for people: pareto.csv, history.csv, strategy files — all from run.sqlite.

Everything here reads the store only, so ``hwflow export`` and ``hwflow plot`` work on any
run directory, finished or stopped (then the latest stored generation counts as final).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwflow.errors import HwflowError
from hwflow.runs.store import STORE_NAME, Evaluation, RunError, RunStore
from hwflow.search import leaders as lead
from hwflow.search.objectives import MAXIMIZED, hv_normalize
from hwflow.strategy import LayerBits, Strategy

PICKS: tuple[str, ...] = ("hv-leader", "accuracy-leader", "compression-leader")
STRATEGY_DIR = "strategies"
HV_REFERENCE = 1.1  # in hv_normalize's units: 10% beyond the uncompressed network


def minimization(evaluations: list[Evaluation], objectives: tuple[str, ...]) -> np.ndarray:
    """(n, objectives) in minimization form (accuracy negated)."""
    return np.array([[-e.objectives[m] if m in MAXIMIZED else e.objectives[m]
                      for m in objectives] for e in evaluations], dtype=float).reshape(
        len(evaluations), len(objectives))


def violation(e: Evaluation) -> float:
    return float(sum(max(0.0, g) for g in e.constraints.values()))


def front_of(evaluations: list[Evaluation], objectives: tuple[str, ...]) -> list[Evaluation]:
    """The feasible non-dominated set, distinct genomes only, ordered by id; when nothing
    is feasible, the non-dominated ones among the least violating."""
    unique = list({e.id: e for e in evaluations}.values())
    if not unique:
        return []
    cv = np.array([violation(e) for e in unique])
    pool = cv == 0 if (cv == 0).any() else cv == cv.min()
    idx = lead.non_dominated(minimization(unique, objectives), pool)
    return sorted((unique[i] for i in idx), key=lambda e: e.id)


def front_hypervolume(front: list[Evaluation], objectives: tuple[str, ...],
                      reference: dict[str, float]) -> float:
    feasible = [e for e in front if violation(e) == 0]
    if not feasible:
        return 0.0
    points = hv_normalize(minimization(feasible, objectives), objectives, reference)
    return lead.hypervolume(points, np.full(len(objectives), HV_REFERENCE))


def pick_leaders(front: list[Evaluation], objectives: tuple[str, ...]) -> dict[str, Evaluation]:
    F = minimization(front, objectives)
    mean_bits = np.array([np.mean(e.w_bits + e.a_bits) for e in front])
    return {"hv-leader": front[lead.hv_leader(F)],
            "accuracy-leader": front[lead.accuracy_leader(F, objectives, mean_bits)],
            "compression-leader": front[lead.compression_leader(F, objectives)]}


@dataclass(frozen=True)
class RunView:
    """A run directory as stored: its settings, latest population, front and leaders."""

    folder: Path
    meta: dict[str, Any]
    population: list[Evaluation]
    front: list[Evaluation]
    leaders: dict[str, Evaluation]

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(self.meta["objectives"])

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.meta["layers"])

    def strategy(self, e: Evaluation) -> Strategy:
        m = self.meta
        extra: dict[str, Any] = {
            "id": e.id, "accelerator": m["accelerator"], "level": e.level, "batch": m["batch"],
            "dataflow": m["dataflow"], "mapper_objective": m["mapper_objective"],
            "metrics": {k: e.metrics[k] for k in sorted(e.metrics)}}
        if e.status != "ok":
            extra["status"] = e.status
        layers = tuple(LayerBits(n, int(w), int(a)) for n, w, a in zip(self.layers, e.w_bits, e.a_bits))
        return Strategy(model=m["model"], layers=layers, extra=extra)


def open_run(folder: str | Path) -> RunView:
    folder = Path(folder)
    path = folder / STORE_NAME
    if not path.exists():
        raise RunError(f"{folder}: not a run directory (no {STORE_NAME})")
    with RunStore(path) as store:
        meta = {k: store.get_meta(k) for k in ("objectives", "layers", "model", "accelerator",
                                              "level", "batch", "dataflow", "mapper_objective",
                                              "reference", "name", "status", "algorithm")}
        if meta["objectives"] is None:
            raise RunError(f"{folder}: the run has not stored its settings yet")
        history = store.generations(meta["level"])
        population = store.population(meta["level"], history[-1].generation) if history else []
    objectives = tuple(meta["objectives"])
    front = front_of(population, objectives)
    leaders = pick_leaders(front, objectives) if front else {}
    return RunView(folder, meta, population, front, leaders)


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(value)


def write_pareto(run: RunView) -> Path:
    """pareto.csv: id, level, one column per objective, then w_bits/a_bits per layer."""
    path = run.folder / "pareto.csv"
    head = ["id", "level", *run.objectives]
    for name in run.layers:
        head += [f"w_bits.{name}", f"a_bits.{name}"]
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(head)
        for e in run.front:
            row = [e.id, e.level, *(_number(e.objectives[m]) for m in run.objectives)]
            for w, a in zip(e.w_bits, e.a_bits):
                row += [w, a]
            out.writerow(row)
    return path


def write_history(folder: Path, store: RunStore) -> Path:
    """history.csv: per level and generation, hypervolume, front size, evaluations."""
    path = folder / "history.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["level", "generation", "hypervolume", "front_size", "evaluations"])
        for r in store.generations():
            out.writerow([r.level, r.generation, _number(r.hypervolume), r.front_size, r.evaluations])
    tmp.replace(path)
    return path


def write_strategies(run: RunView) -> list[Path]:
    folder = run.folder / STRATEGY_DIR
    folder.mkdir(exist_ok=True)
    paths = []
    for name, e in run.leaders.items():
        path = folder / f"{name}.yaml"
        run.strategy(e).save(path)
        paths.append(path)
    return paths


def export(folder: str | Path, pick: str) -> Strategy:
    """A leader's or an evaluation's strategy (``pick``: a leader name or an id)."""
    run = open_run(folder)
    if pick in PICKS:
        if pick not in run.leaders:
            raise RunError(f"{run.folder}: the run has no front yet, so no {pick}")
        return run.strategy(run.leaders[pick])
    try:
        eval_id = int(pick)
    except ValueError:
        raise HwflowError(f"--pick {pick!r}: choose {', '.join(PICKS)} or an id from "
                          "pareto.csv") from None
    with RunStore(run.folder / STORE_NAME) as store:
        e = store.evaluation(eval_id)
    if e is None:
        raise RunError(f"--pick {eval_id}: no evaluation with that id in {run.folder / STORE_NAME}")
    return run.strategy(e)
