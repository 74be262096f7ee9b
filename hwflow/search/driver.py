"""Run a search into a run directory: set up, evolve generation by generation, report.

The loop is pymoo's own (``algorithm.next()`` until its termination says stop); after each
generation the driver stores the population, the hypervolume and the pickled algorithm
(its random generator included) in one transaction. A resumed run unpickles that algorithm
and goes on; the evaluations of the interrupted generation come back from run.sqlite, so
a resumed run ends exactly where an uninterrupted one with the same seed would.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hwflow.catalog import is_path
from hwflow.config import accelerator_yaml
from hwflow.dispatch.in_process import InProcess
from hwflow.dispatch.protocol import AccuracyDispatch
from hwflow.metrics import HARDWARE_METRICS
from hwflow.runs import frames, reports
from hwflow.runs.front import front_hypervolume, front_of
from hwflow.runs.meta import RunMeta
from hwflow.runs.store import (
    STORE_NAME,
    Evaluation,
    GenerationRow,
    RunError,
    RunStore,
    run_directory,
    run_store_path,
)
from hwflow.search.costs import AcceleratorCosts, HardwareTable
from hwflow.search.experiment import Experiment
from hwflow.search.fitness import Fitness, FitnessStats
from hwflow.search.ga import checkpoint as checkpoint_state
from hwflow.search.ga.algorithms import make_algorithm
from hwflow.search.ga.problem import BitwidthProblem
from hwflow.search.ga.soga import SogaScoring
from hwflow.search.objectives import MAPPABLE, Scoring, per_frame

if TYPE_CHECKING:
    from hwflow.accuracy.evaluator import AccuracySettings


class SearchStopped(Exception):
    """Ctrl-C (or SIGTERM) stopped the run; everything evaluated so far is stored."""

    def __init__(self, out: Path, generation: int, unit: str = "generation") -> None:
        super().__init__(f"stopped after {unit} {generation}; everything evaluated is "
                         f"stored in {out / STORE_NAME}")
        self.out, self.generation = out, generation


class Progress(Protocol):
    def start(self, generations: int, last: GenerationRow | None, evaluations: int) -> None: ...

    def evaluation(self, stats: FitnessStats) -> None: ...

    def generation(self, row: GenerationRow) -> None: ...


@dataclass
class RunResult:
    out: Path
    generations: int  # generations done
    planned: int  # generations asked for (pymoo stops early when no new offspring exist)
    evaluations: int  # distinct evaluations stored
    evaluated_now: int  # of which computed by this call
    cache_hits: int
    hypervolume: float
    front: list[Evaluation]
    leaders: dict[str, Evaluation]
    files: list[Path] = field(default_factory=list)
    best_fitness: Evaluation | None = None  # SOGA: the individual with the best Eq. 1 fitness


def accuracy_settings(exp: Experiment) -> AccuracySettings:
    return exp.config.finetune.accuracy_settings(exp.config.model, exp.dataset, exp.epochs,
                                                 exp.config.seed)


def default_accuracy(exp: Experiment) -> AccuracyDispatch:
    """The real accuracy evaluator: in this process, or on the workers ``execution`` names."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator
    from hwflow.accuracy.train import use_threads

    ft, where = exp.config.finetune, exp.config.execution
    if where.workers is not None or where.scheduler is not None:
        from hwflow.dispatch.cluster import open_dispatch

        return open_dispatch(accuracy_settings(exp), ft.threads, where.workers, where.scheduler)
    use_threads(ft.threads)
    return InProcess(AccuracyEvaluator(accuracy_settings(exp)))


def run_search(exp: Experiment, out: str | Path, resume: bool = False,
               accuracy: AccuracyDispatch | None = None, progress: Progress | None = None,
               plots: bool = True, seeds: np.ndarray | None = None) -> RunResult:
    """Run (or with ``resume`` continue) ``exp`` into ``out``. ``seeds``: genomes that start
    the initial population (a flow's refinement seeds it with the front of the stage above;
    random genomes fill the rest)."""
    out = Path(out)
    if exp.uses_accuracy and accuracy is None:
        check_can_start(exp)
    with run_directory(out, resume) as started, contextlib.ExitStack() as owned:
        store_path = run_store_path(out, resume)
        if exp.uses_accuracy and accuracy is None:
            # before the store exists: a cluster that cannot be reached leaves no run behind
            accuracy = default_accuracy(exp)
            owned.callback(accuracy.close)
        with RunStore(store_path) as store:
            try:
                session = _Session(exp, out, store, accuracy, progress, seeds)
            except KeyboardInterrupt:  # e.g. while the float baseline trains
                history = store.generations(exp.config.level)
                raise SearchStopped(out, history[-1].generation if history else 0) from None
            started()  # from here on the run is kept, to be resumed
            return session.run(plots)


def check_can_start(exp: Experiment) -> None:
    """What fails only once a search is under way, checked before it writes anything: the
    data set's files and the device (here, or on local workers; a Dask cluster's machines
    have their own, which this machine cannot see)."""
    from hwflow.accuracy.evaluator import check_runnable

    if exp.config.execution.scheduler is None:
        check_runnable(accuracy_settings(exp))


def first_difference(stored: Any, current: Any, path: str = "") -> str | None:
    if isinstance(stored, dict) and isinstance(current, dict):
        for key in sorted(set(stored) | set(current)):
            found = first_difference(stored.get(key), current.get(key), f"{path}{key}.")
            if found:
                return found
        return None
    return None if stored == current else path.rstrip(".")


def check_settings(exp: Experiment, out: Path, store: RunStore) -> None:
    """Store the experiment's settings in a new run; refuse to resume with other ones."""
    stored, current = store.get_meta("experiment"), exp.settings()
    if stored is None:
        store.set_meta("experiment", current)
        return
    key = first_difference(stored, current)
    if key is not None:
        raise RunError(f"{exp.path}: key '{key}' differs from the run stored in {out}; "
                       "resume with the experiment it was started with, or choose another --out")


class _Session:
    def __init__(self, exp: Experiment, out: Path, store: RunStore,
                 accuracy: AccuracyDispatch | None, progress: Progress | None,
                 seeds: np.ndarray | None = None) -> None:
        self.exp, self.out, self.store, self.progress = exp, out, store, progress
        self.seeds = seeds
        self.level = exp.config.level
        check_settings(exp, out, store)
        self.workload = exp.workload()
        self.space = exp.space()
        self.accel = self.space.fixed_accelerator
        self.genome = exp.genome(self.workload, self.accel)
        fixed_table = HardwareTable(self.workload, self.accel, self.level, exp.batch,
                                    exp.config.mapper_objective)
        self.table = (AcceleratorCosts(self.workload, self.space, self.level,
                                       exp.config.mapper_objective)
                      if self.genome.n_accel else fixed_table)
        self.reference = self._reference_metrics(fixed_table)
        self.accuracy = accuracy if exp.uses_accuracy else None
        self.scoring = self._scoring()
        self._save_meta()
        self.fitness = Fitness(self.genome, self.table, store, self.level, self.scoring,
                               self.accuracy, on_evaluation=progress.evaluation if progress else None)
        self.problem = BitwidthProblem(self.fitness)

    def _reference_metrics(self, table: HardwareTable) -> dict[str, float]:
        """Metrics of the uncompressed network on the accelerator without searched knobs
        (φ* of Eq. 1; the hypervolume's scale), per frame when the batch is searched."""
        bits = 16 if 16 in self.accel.supported_bits else max(self.accel.supported_bits)
        full = np.full((1, len(self.workload.layers)), bits)
        totals = table.totals(full, full)
        if "batch" in self.space.names:
            totals = per_frame(totals, self.exp.batch)
        return {m: float(v[0]) for m, v in totals.items()}

    def _float_accuracy(self) -> float:
        value = self.store.get_meta("float_accuracy")
        if value is None:
            value = float(self.accuracy.float_accuracy())
            self.store.set_meta("float_accuracy", value)
        return value

    def _scoring(self) -> Scoring:
        c = self.exp.config
        constraints = self.exp.constraints + ((MAPPABLE,) if self.genome.n_accel else ())
        if c.algorithm == "nsga2":
            return Scoring(self.exp.objectives, constraints)
        metric = next(m for m in self.exp.objectives if m in HARDWARE_METRICS)
        psi_star = self._float_accuracy() if "accuracy" in self.exp.objectives else 1.0
        return SogaScoring(self.exp.objectives, constraints, threshold=c.soga.threshold,
                           psi_star=psi_star, phi_star=self.reference[metric])

    def _save_meta(self) -> None:
        c = self.exp.config
        RunMeta(
            name=self.exp.name, model=self.workload.name,
            model_file=c.model if is_path(c.model) else None, accelerator=c.accelerator,
            level=self.level, batch=self.exp.batch, dataflow=self.accel.dataflow,
            mapper_objective=c.mapper_objective, objectives=self.exp.objectives,
            constraints=tuple((k.metric, k.bound) for k in self.scoring.constraints),
            accelerator_genes=self.space.names, accelerator_fixed=dict(self.space.fixed),
            accelerator_base=accelerator_yaml(self.space.base),
            layers=self.workload.layer_names, reference=self.reference,
            algorithm=c.algorithm, population=self.exp.population,
            generations=self.exp.generations,
        ).save(self.store)
        if self.store.get_meta("status") is None:
            self.store.set_meta("status", "running")

    # --- the loop ----------------------------------------------------------------------

    def _algorithm(self):
        checkpoint = self.store.checkpoint(self.level)
        if checkpoint is not None:
            algorithm = checkpoint_state.load(checkpoint[1])
            algorithm.problem = self.problem  # this session's (the stored one has no fitness)
            return algorithm
        algorithm = make_algorithm(self.exp.config.algorithm, self.exp.population,
                                   self.exp.config.mutation_prob, seeds=self.seeds)
        algorithm.setup(self.problem, termination=("n_gen", self.exp.generations),
                        seed=self.exp.config.seed, verbose=False)
        return algorithm

    def run(self, plots: bool) -> RunResult:
        algorithm = self._algorithm()
        history = self.store.generations(self.level)
        last = history[-1] if history else None
        done = last.generation if last else 0
        hits_before = last.cache_hits if last else 0
        if self.progress:
            self.progress.start(self.exp.generations, last, self.store.count(self.level))
        try:
            while algorithm.has_next():
                started = time.perf_counter()
                algorithm.next()
                done = algorithm.n_gen - 1  # pymoo counts the next generation already
                self._store_generation(algorithm, done, hits_before, time.perf_counter() - started)
        except KeyboardInterrupt:
            raise SearchStopped(self.out, done) from None
        self.store.set_meta("status", "finished")
        return self._finish(plots, done)

    def _store_generation(self, algorithm, generation: int, hits_before: int,
                          seconds: float) -> None:
        population = self.fitness.evaluate(algorithm.pop.get("X"))
        front = front_of(population, self.exp.objectives)
        row = GenerationRow(
            level=self.level, generation=generation,
            hypervolume=front_hypervolume(front, self.exp.objectives, self.reference),
            front_size=len(front), evaluations=self.store.count(self.level),
            cache_hits=hits_before + self.fitness.stats.cache_hits, seconds=seconds)
        self.store.save_generation(row, [e.id for e in population], checkpoint_state.dump(algorithm))
        frames.write_history(self.out, self.store)
        if self.progress:
            self.progress.generation(row)

    def _finish(self, plots: bool, generations: int) -> RunResult:
        run = reports.open_run(self.out)
        files = [self.out / STORE_NAME, frames.write_pareto(run),
                 frames.write_history(self.out, self.store), *reports.write_strategies(run)]
        if plots:
            from hwflow.runs.plots import write_plots

            files += write_plots(run, self.store)
        best = None
        if isinstance(self.scoring, SogaScoring) and run.population:
            metrics = self.fitness.metrics(run.population)
            fitness = np.where(self.scoring.feasible(metrics), self.scoring.fitness(metrics), -np.inf)
            best = run.population[int(np.argmax(fitness))]
        history = self.store.generations(self.level)
        return RunResult(
            out=self.out, generations=generations, planned=self.exp.generations,
            evaluations=self.store.count(self.level),
            evaluated_now=self.fitness.stats.evaluated,
            cache_hits=history[-1].cache_hits if history else 0,
            hypervolume=history[-1].hypervolume if history else 0.0,
            front=run.front, leaders=run.leaders, files=files, best_fitness=best)
