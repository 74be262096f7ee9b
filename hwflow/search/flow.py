"""The multi-level flow (HW-FlowQ's refinement and abstraction): refine down Coarse → Mid → Fine, abstract back up.

A flow experiment declares ordered ``stages``, each with objectives, constraints and
candidate inputs (Coarse: CNNs and bit sets; Mid: buffer sizes, DRAM bandwidths, batch;
Fine: arrays, register files, dataflows, engines). One step searches one stage with one
candidate, an ordinary ``run_search`` in its own run directory ``steps/NN-<level>-c<k>/``:

- its front meets the stage's constraints (at least ``min_feasible`` feasible members):
  **refine** — the inputs are fixed for every stage below, and the next stage's initial
  population is seeded with the feasible front (its bitwidth genomes);
- it does not: the stage's next candidate (**unmet**);
- no candidate is left: **abstract** — back to the stage above, which tries its own next
  candidate (and the stages below start their candidates over);
- the last stage meeting its constraints ends the flow (**done**); Coarse running out of
  candidates ends it (**failed**).

The path (stage, inputs, outcome, why) is stored in the flow directory's run.sqlite
(table ``flow``) as each step ends, and written to flow.csv. ``resume`` replays the
recorded steps without searching (their fronts are read back from their directories) and
continues the first unrecorded one from its own run.sqlite; the search steps are
deterministic, so a resumed flow takes the path an uninterrupted one takes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.hw.tiling import MappingError
from hwflow.runs import reports
from hwflow.runs.front import violation
from hwflow.runs.store import (
    STORE_NAME,
    FlowStep,
    RunError,
    RunStore,
    run_directory,
    run_store_path,
)
from hwflow.search.driver import (
    Progress,
    RunResult,
    SearchStopped,
    check_can_start,
    check_settings,
    run_search,
)
from hwflow.search.experiment import Experiment
from hwflow.strategy import Strategy, StrategyError

STEPS_DIR = "steps"
COPIED = ("pareto.csv", "history.csv", reports.STRATEGY_DIR, "plots")  # final step → flow dir


@dataclass
class FlowResult:
    out: Path
    path: list[FlowStep]
    met: bool  # the last stage met its constraints
    final: RunResult | None  # the final step's search (when met)
    final_experiment: Experiment | None
    files: list[Path] = field(default_factory=list)


def run_flow(exp: Experiment, out: str | Path, resume: bool = False,
             accuracy: Callable[[Experiment], AccuracyDispatch] | None = None,
             progress: Progress | None = None, plots: bool = True,
             announce: Callable[[str], None] | None = None) -> FlowResult:
    """Run (or continue) the flow ``exp`` declares into ``out``. ``accuracy`` makes each
    step's accuracy dispatch (default: the driver's); ``announce`` hears one line per step."""
    out = Path(out)
    if accuracy is None and any("accuracy" in s.objectives or s.constraints.accuracy_min is not None
                                for s in exp.stages):
        check_can_start(exp)
    with run_directory(out, resume) as started:
        store_path = run_store_path(out, resume)
        with RunStore(store_path) as store:
            check_settings(exp, out, store)
            store.set_meta("name", exp.name)
            if store.get_meta("status") is None:
                store.set_meta("status", "running")
            flow = _Flow(exp, out, store, accuracy, progress, plots, announce)
            try:
                result = flow.run()
            except KeyboardInterrupt:  # between two steps (a step's search stops itself)
                started()  # to be resumed, as the message says
                raise SearchStopped(out, len(flow.path), unit="flow step") from None
            finally:  # started once a step has recorded or stored something
                if flow.path or any((out / STEPS_DIR).glob(f"*/{STORE_NAME}")):
                    started()
            started()
            return result


class _Flow:
    def __init__(self, exp: Experiment, out: Path, store: RunStore,
                 accuracy: Callable[[Experiment], AccuracyDispatch] | None,
                 progress: Progress | None, plots: bool,
                 announce: Callable[[str], None] | None) -> None:
        self.exp, self.out, self.store = exp, out, store
        self.accuracy, self.progress, self.plots = accuracy, progress, plots
        self.announce = announce or (lambda line: None)
        self.recorded = store.flow_steps()
        self.path: list[FlowStep] = []

    def run(self) -> FlowResult:
        stages = self.exp.stages
        last = len(stages) - 1
        candidate = [0] * len(stages)  # the next candidate each stage tries
        inherited: list[dict[str, Any]] = [{} for _ in stages]  # inputs fixed from above
        seeds: list[list[Strategy]] = [[] for _ in stages]  # the front of the stage above
        s, final_folder, final, met = 0, None, None, False
        while True:
            stage = stages[s]
            if candidate[s] == len(stage.candidates):
                if s == 0:
                    self._record(FlowStep(
                        len(self.path) + 1, s, stage.level, None, {}, "failed",
                        f"no {stage.level} candidate leads to a design meeting every stage's "
                        "constraints", None))
                    break
                above = stages[s - 1].level
                self._record(FlowStep(
                    len(self.path) + 1, s, stage.level, None, inherited[s], "abstract",
                    f"no {stage.level} candidate left ({len(stage.candidates)} tried): back to "
                    f"{above} for its next candidate", None))
                candidate[s] = 0
                s -= 1
                candidate[s] += 1
                continue
            inputs = {**inherited[s], **stage.candidates[candidate[s]].inputs()}
            row, front, result = self._step(s, candidate[s], inputs, seeds[s], s == last)
            final_folder, final = row.folder, result
            if row.outcome == "done":
                met = True
                break
            if row.outcome == "refine":
                inherited[s + 1], seeds[s + 1] = inputs, front
                s += 1
                candidate[s] = 0
            else:
                candidate[s] += 1
        return self._finish(met, final_folder, final, s, inputs if met else {})

    # --- one step -----------------------------------------------------------------------

    def _step(self, s: int, c: int, inputs: dict[str, Any], seeds: list[Strategy],
              is_last: bool) -> tuple[FlowStep, list[Strategy], RunResult | None]:
        stage = self.exp.stages[s]
        number = len(self.path) + 1
        folder = f"{STEPS_DIR}/{number:02d}-{stage.level}-c{c + 1}"
        if number <= len(self.recorded):  # done before a resume: replay it
            row = self.recorded[number - 1]
            if (row.stage, row.candidate, row.folder) != (s, c + 1, folder):
                raise RunError(f"{self.out}: the recorded flow path differs at step {number}; "
                               "resume with the experiment it was started with")
            self.path.append(row)
            front = self._feasible_front(folder)[1] if row.outcome == "refine" else []
            return row, front, None
        self.store.set_meta(reports.FINAL_STEP, folder)
        step_exp = self.exp.stage_experiment(s, inputs)
        self.announce(f"step {number}: {stage.level}, candidate {c + 1} of "
                      f"{len(stage.candidates)} ({reports.inputs_text(inputs) or 'as the experiment says'})")
        run_dir = self.out / folder
        try:
            result = run_search(step_exp, run_dir, resume=(run_dir / STORE_NAME).exists(),
                                accuracy=self.accuracy(step_exp) if self.accuracy else None,
                                progress=self.progress, plots=self.plots,
                                seeds=_encode(step_exp, seeds))
        except MappingError as exc:  # the candidate's accelerator cannot run the network
            row = FlowStep(number, s, stage.level, c + 1, inputs, "unmet",
                           f"no mapping on this accelerator: {exc}", folder)
            self._record(row)
            return row, [], None
        except SearchStopped as stop:
            raise SearchStopped(self.out, stop.generation) from None
        run, feasible = self._feasible_front(folder)
        met = len(feasible) >= stage.min_feasible
        outcome = ("done" if is_last else "refine") if met else "unmet"
        row = FlowStep(number, s, stage.level, c + 1, inputs, outcome,
                       _why(step_exp, stage.min_feasible, run, feasible, met), folder,
                       front_size=len(run.front), feasible=len(feasible),
                       hypervolume=result.hypervolume, evaluations=result.evaluations)
        self._record(row)
        return row, feasible, result

    def _feasible_front(self, folder: str) -> tuple[reports.RunView, list[Strategy]]:
        run = reports.open_run(self.out / folder)
        return run, [run.strategy(e) for e in run.front if violation(e) == 0]

    def _record(self, row: FlowStep) -> None:
        self.store.add_flow_step(row)
        self.path.append(row)
        reports.write_flow(self.out, self.store)

    # --- the end ------------------------------------------------------------------------

    def _finish(self, met: bool, folder: str | None, final: RunResult | None, s: int,
                inputs: dict[str, Any]) -> FlowResult:
        final_exp = self.exp.stage_experiment(s, inputs) if met else None
        if met and final is None:  # replayed: read it back (nothing is evaluated again)
            final = run_search(final_exp, self.out / folder, resume=True,
                               accuracy=self.accuracy(final_exp) if self.accuracy else None,
                               plots=self.plots)
        files = [self.out / STORE_NAME, reports.write_flow(self.out, self.store)]
        if folder is not None:
            for name in COPIED:
                source, target = self.out / folder / name, self.out / name
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                    files += sorted(target.iterdir())
                elif source.exists():
                    shutil.copy2(source, target)
                    files.append(target)
        self.store.set_meta("status", "met" if met else "failed")
        return FlowResult(self.out, self.path, met, final if met else None, final_exp, files)


def _encode(exp: Experiment, strategies: list[Strategy]) -> np.ndarray | None:
    """The genomes of ``strategies`` in ``exp``'s space (those outside it are left out)."""
    if not strategies:
        return None
    genome = exp.genome(exp.workload(), exp.accelerator())
    rows = []
    for strategy in strategies:
        try:
            rows.append(genome.encode(strategy))
        except StrategyError:
            continue
    return np.asarray(rows, dtype=int) if rows else None


def _why(exp: Experiment, min_feasible: int, run: reports.RunView, feasible: list[Strategy],
         met: bool) -> str:
    constraints = exp.constraints
    bounds = ", ".join(f"{c.name} {c.bound:.4g}" for c in constraints)
    if not constraints:
        return "no constraints at this stage"
    if met:
        return f"{len(feasible)} of {len(run.front)} front solutions meet {bounds}"
    best = []
    for c in constraints:
        values = [e.metrics[c.metric] for e in run.population]
        value = max(values) if c.metric == "accuracy" else min(values)
        best.append(f"{c.metric} {value:.4g}")
    need = "no front solution meets" if min_feasible == 1 else \
        f"{len(feasible)} front solutions (of {min_feasible} needed) meet"
    return f"{need} {bounds} (best in the final population: {', '.join(best)})"
