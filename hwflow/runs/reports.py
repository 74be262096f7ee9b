"""What a run leaves for people: strategy files and flow.csv, all from run.sqlite (pareto.csv
and history.csv are written from the DataFrames of ``hwflow.runs.frames``).

Everything here reads the store only (opened read-only), so ``hwflow export`` and ``hwflow plot`` work on any
run directory, finished or stopped (then the latest stored generation counts as final). A
flow's directory (``hwflow.search.flow``) stands for its final step's.

When the run searched accelerator knobs (or fixed some), each solution's accelerator is
rebuilt from the base accelerator stored in the run and the solution's genes, and its
strategy file names a YAML of it (``<pick>.accelerator.yaml``, next to the strategy) that
``hwflow evaluate`` reads.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hwflow.accelerator_knobs import apply_genes
from hwflow.config import accelerator_from_yaml, accelerator_yaml
from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator
from hwflow.runs.front import front_of, pick_leaders
from hwflow.runs.meta import RunMeta
from hwflow.runs.store import STORE_NAME, Evaluation, RunError, RunStore
from hwflow.strategy import LayerBits, Strategy

PICKS: tuple[str, ...] = ("hv-leader", "accuracy-leader", "compression-leader")
STRATEGY_DIR = "strategies"
ACCELERATOR_SUFFIX = ".accelerator.yaml"
FINAL_STEP = "final_step"  # meta key of a flow's run.sqlite: the folder of its final step


@dataclass(frozen=True)
class RunView:
    """A run directory as stored: its settings, latest population, front and leaders."""

    folder: Path
    meta: RunMeta
    population: list[Evaluation]
    front: list[Evaluation]
    leaders: dict[str, Evaluation]

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.meta.objectives

    @property
    def layers(self) -> tuple[str, ...]:
        return self.meta.layers

    @property
    def gene_names(self) -> tuple[str, ...]:
        return self.meta.accelerator_genes

    @property
    def designs_accelerators(self) -> bool:
        """True when the run's accelerator is not the catalog's or file's as given."""
        return self.meta.designs_accelerators

    @functools.cached_property
    def _base_accelerator(self) -> Accelerator:
        return accelerator_from_yaml(self.meta.accelerator_base or {}, source=str(self.folder))

    def accelerator(self, e: Evaluation) -> Accelerator:
        """The accelerator a solution was scored on (a designed one: base + its genes)."""
        return apply_genes(self._base_accelerator, {**self.meta.accelerator_fixed, **e.accel_genes})

    def accelerator_file(self, e: Evaluation, path: Path) -> Path:
        """Write a designed solution's accelerator YAML to ``path``."""
        base = self._base_accelerator.name
        genes = ", ".join(f"{k}={v}" for k, v in {**self.meta.accelerator_fixed,
                                                   **e.accel_genes}.items())
        data = accelerator_yaml(self.accelerator(e), name=f"{base}-id{e.id}",
                                description=f"{self.meta.name} solution {e.id}: {base} with {genes}")
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def strategy(self, e: Evaluation, accelerator: str | None = None) -> Strategy:
        """``accelerator``: what the strategy's ``accelerator`` key says (for a designed
        accelerator, the file ``accelerator_file`` wrote)."""
        m = self.meta
        dataflow = self.accelerator(e).dataflow if self.designs_accelerators else m.dataflow
        extra: dict[str, Any] = {
            "id": e.id, "accelerator": accelerator or m.accelerator, "level": e.level,
            "batch": int(e.accel_genes.get("batch", m.batch)),
            "dataflow": dataflow, "mapper_objective": m.mapper_objective,
            "metrics": {k: e.metrics[k] for k in sorted(e.metrics)}}
        if m.model_file:
            extra["model_file"] = m.model_file  # so evaluate / retrain need no --model
        if e.accel_genes:
            extra["accelerator_genes"] = dict(e.accel_genes)
        if e.status != "ok":
            extra["status"] = e.status
        layers = tuple(LayerBits(n, int(w), int(a)) for n, w, a in zip(self.layers, e.w_bits, e.a_bits))
        return Strategy(model=m.model, layers=layers, extra=extra)

    def save_strategy(self, e: Evaluation, path: Path) -> list[Path]:
        """The strategy file (and a designed accelerator's YAML beside it); paths written."""
        if not self.designs_accelerators:
            self.strategy(e).save(path)
            return [path]
        accel = self.accelerator_file(e, path.with_name(path.name.removesuffix(".yaml")
                                                        + ACCELERATOR_SUFFIX))
        self.strategy(e, accelerator=accel.name).save(path)
        return [path, accel]


def open_run(folder: str | Path) -> RunView:
    folder = Path(folder)
    path = folder / STORE_NAME
    if not path.exists():
        raise RunError(f"{folder}: not a run directory (no {STORE_NAME})")
    with RunStore(path, read_only=True) as store:
        final_step = store.get_meta(FINAL_STEP)
        if final_step is None:
            meta = RunMeta.load(store)
            if meta is None:
                raise RunError(f"{folder}: the run has not stored its settings yet")
            history = store.generations(meta.level)
            population = store.population(meta.level, history[-1].generation) if history else []
    if final_step is not None:  # a flow: its results are its final step's
        return open_run(folder / final_step)
    objectives = meta.objectives
    front = front_of(population, objectives)
    leaders = pick_leaders(front, objectives) if front else {}
    return RunView(folder, meta, population, front, leaders)


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(value)


def write_strategies(run: RunView) -> list[Path]:
    folder = run.folder / STRATEGY_DIR
    folder.mkdir(exist_ok=True)
    paths = []
    for name, e in run.leaders.items():
        paths += run.save_strategy(e, folder / f"{name}.yaml")
    return paths


def export(folder: str | Path, pick: str, output: str | Path | None = None) -> Strategy:
    """A leader's or an evaluation's strategy (``pick``: a leader name or an id), saved to
    ``output`` when given. A designed accelerator's YAML goes next to ``output`` (or, with
    no output, under the run's strategies/ folder, named by its absolute path)."""
    run = open_run(folder)
    e = picked(run, pick)
    if output is not None:
        run.save_strategy(e, Path(output))
        return run.strategy(e, accelerator=(Path(output).name.removesuffix(".yaml")
                                            + ACCELERATOR_SUFFIX) if run.designs_accelerators
                            else None)
    if not run.designs_accelerators:
        return run.strategy(e)
    (run.folder / STRATEGY_DIR).mkdir(exist_ok=True)
    label = pick if pick in PICKS else f"id-{e.id}"
    accel = run.accelerator_file(e, run.folder / STRATEGY_DIR / f"{label}{ACCELERATOR_SUFFIX}")
    return run.strategy(e, accelerator=str(accel.resolve()))


def picked(run: RunView, pick: str) -> Evaluation:
    """A leader (by name) or any stored evaluation (by id) of ``run``."""
    if pick in PICKS:
        if pick not in run.leaders:
            raise RunError(f"{run.folder}: the run has no front yet, so no {pick}")
        return run.leaders[pick]
    try:
        eval_id = int(pick)
    except ValueError:
        raise HwflowError(f"--pick {pick!r}: choose {', '.join(PICKS)} or an id from "
                          "pareto.csv") from None
    with RunStore(run.folder / STORE_NAME, read_only=True) as store:
        e = store.evaluation(eval_id) if 0 < eval_id < 2**63 else None  # SQLite's integers
    if e is None:
        raise RunError(f"--pick {eval_id}: no evaluation with that id in {run.folder / STORE_NAME}")
    return e


FLOW_CSV = "flow.csv"
FLOW_COLUMNS = ("step", "stage", "level", "candidate", "inputs", "outcome", "why", "folder",
                "front_size", "feasible", "hypervolume", "evaluations")


def inputs_text(inputs: dict[str, Any]) -> str:
    return "; ".join(f"{k}={v}" for k, v in inputs.items())


def write_flow(folder: Path, store: RunStore) -> Path:
    """flow.csv: a flow's path, one row per step (stage, inputs, outcome and why)."""
    path = folder / FLOW_CSV
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(FLOW_COLUMNS)
        for s in store.flow_steps():
            out.writerow([s.step, s.stage, s.level, "" if s.candidate is None else s.candidate,
                          inputs_text(s.inputs), s.outcome, s.why, s.folder or "", s.front_size,
                          s.feasible, _number(s.hypervolume), s.evaluations])
    tmp.replace(path)
    return path
