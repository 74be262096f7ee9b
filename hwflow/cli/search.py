"""``hwflow search``, ``hwflow export``, ``hwflow plot``: run a search and use its results."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace
from pathlib import Path

import click

from hwflow.errors import HwflowError

PICK_HELP = "hv-leader, accuracy-leader, compression-leader, or an id from pareto.csv"


def stop_on_sigterm() -> None:
    """SIGTERM stops a search like Ctrl-C does: cleanly, after saving."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


class _RichProgress:
    """Generation bar with evaluations, cache hits, hypervolume and ETA (on stderr)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("generation"), MofNCompleteColumn(), BarColumn(),
            TextColumn("evals {task.fields[evals]}  cache hits {task.fields[hits]}  "
                       "HV {task.fields[hv]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task = None
        self.stored = self.hits = 0  # evaluations and cache hits before this process

    def __enter__(self) -> _RichProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:  # an error before the run started prints its one line only
            self.bar.stop()

    def start(self, generations: int, last, evaluations: int) -> None:
        self.bar.start()
        self.stored, self.hits = evaluations, last.cache_hits if last else 0
        self.task = self.bar.add_task(
            "search", total=generations, completed=last.generation if last else 0,
            evals=evaluations, hits=self.hits,
            hv=f"{last.hypervolume:.4f}" if last else "-")

    def evaluation(self, stats) -> None:
        self.bar.update(self.task, evals=self.stored + stats.evaluated,
                        hits=self.hits + stats.cache_hits)

    def generation(self, row) -> None:
        self.bar.update(self.task, completed=row.generation, evals=row.evaluations,
                        hits=row.cache_hits, hv=f"{row.hypervolume:.4f}")

    def note(self, line: str) -> None:
        """A line above the bars (a flow announces each step)."""
        self.bar.console.print(line)


def _summary(result, exp, files: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    objectives = exp.objectives
    table = Table(title=f"{exp.name}: {len(result.front)} solutions on the front after "
                        f"{result.generations} generations, {result.evaluations} evaluations "
                        f"({result.cache_hits} cache hits), hypervolume {result.hypervolume:.4f}")
    table.add_column("pick")
    table.add_column("id", justify="right")
    for m in objectives:
        table.add_column(m, justify="right")
    picks = dict(result.leaders)
    if result.best_fitness is not None:
        picks["best SOGA fitness"] = result.best_fitness
    for name, e in picks.items():
        table.add_row(name, str(e.id), *(f"{e.objectives[m]:.4g}" for m in objectives))
    console.print(table)
    if result.generations < result.planned:
        console.print(f"stopped early: no new genomes could be bred after generation "
                      f"{result.generations} (the search space is nearly exhausted)")
    if files:
        _files(console, result.out, result.files)


def _files(console, out: Path, paths) -> None:
    from rich.table import Table

    files = Table(title=f"files written under {out}")
    files.add_column("file")
    files.add_column("what")
    about = {"run.sqlite": "every evaluation and generation (resume from it)",
             "pareto.csv": "the final non-dominated set", "history.csv": "hypervolume per generation",
             "hv-leader.yaml": "strategy of the hypervolume leader",
             "accuracy-leader.yaml": "strategy of the most accurate solution",
             "compression-leader.yaml": "strategy of the most compressed solution",
             "front.png": "2-D projections of the front", "hypervolume.png": "convergence curve",
             "bitwidths.png": "layer-wise bitwidths of the hypervolume leader",
             "flow.csv": "the flow's path: stage, inputs, outcome and why per step"}
    for path in paths:
        what = about.get(path.name, "")
        if path.name.endswith(".accelerator.yaml"):
            what = "its accelerator (hwflow evaluate --accelerator reads it)"
        files.add_row(str(path.relative_to(out)), what)
    console.print(files)


def _flow_summary(flow) -> None:
    from rich.console import Console
    from rich.table import Table

    from hwflow.runs.reports import inputs_text

    console = Console()
    verdict = "every stage met its constraints" if flow.met else "no design met every stage's constraints"
    table = Table(title=f"flow path: {verdict}")
    for column in ("step", "level", "cand.", "inputs", "outcome", "why"):
        table.add_column(column)
    for s in flow.path:
        table.add_row(str(s.step), s.level, "" if s.candidate is None else str(s.candidate),
                      inputs_text(s.inputs), s.outcome, s.why)
    console.print(table)
    if flow.final is not None:
        _summary(flow.final, flow.final_experiment, files=False)
    _files(console, flow.out, flow.files)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: runs/<experiment name>].")
@click.option("--resume", is_flag=True, help="Continue the run stored in --out.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Fine-tune on N local worker processes [default: the experiment's "
                   "execution, else in-process].")
@click.option("--scheduler", default=None,
              help="Fine-tune on a running Dask cluster: tcp://host:8786 or a scheduler file.")
@click.option("--no-plots", is_flag=True, help="Skip writing the plots.")
def search(experiment: str, out: str | None, resume: bool, workers: int | None,
           scheduler: str | None, no_plots: bool) -> None:
    """Search layer-wise bitwidths (and accelerator knobs) for an EXPERIMENT.yaml with
    NSGA-II or SOGA; with stages, run the multi-level flow."""
    from hwflow.search.driver import SearchStopped, run_search
    from hwflow.search.experiment import ExecutionConfig, load_experiment
    from hwflow.search.flow import run_flow

    if workers is not None and scheduler is not None:
        raise HwflowError("--workers and --scheduler: give one (local processes or a Dask "
                          "cluster), not both")
    exp = load_experiment(experiment)
    if workers is not None or scheduler is not None:  # the command line overrides the file
        exp = replace(exp, config=exp.config.model_copy(
            update={"execution": ExecutionConfig(workers=workers, scheduler=scheduler)}))
    out_dir = Path(out) if out else Path("runs") / exp.name
    stop_on_sigterm()
    try:
        with _RichProgress() as progress:
            if exp.stages:
                result = run_flow(exp, out_dir, resume=resume, progress=progress,
                                  plots=not no_plots, announce=progress.note)
            else:
                result = run_search(exp, out_dir, resume=resume, progress=progress,
                                    plots=not no_plots)
    except SearchStopped as stop:
        click.echo(f"{stop}; continue with: hwflow search {experiment} --out {out_dir} --resume",
                   err=True)
        sys.exit(130)
    except KeyboardInterrupt:  # outside a search's generations (setting up, writing reports)
        click.echo(f"stopped; what was stored stays in {out_dir}: run the command again "
                   "(with --resume if it holds a run.sqlite)", err=True)
        sys.exit(130)
    if exp.stages:
        _flow_summary(result)
    else:
        _summary(result, exp)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--pick", default="hv-leader", show_default=True, help=PICK_HELP)
@click.option("--format", "fmt", type=click.Choice(["yaml", "brevitas", "qonnx"]),
              default="yaml", show_default=True,
              help="yaml: strategy file (hwflow evaluate/retrain); brevitas: Python module "
                   "with build_model() (Brevitas quant layers); qonnx: that model as QONNX.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here [default: print the strategy YAML; required for brevitas "
                   "and qonnx].")
def export(run_dir: str, pick: str, fmt: str, output: str | None) -> None:
    """Export one solution of a run: a strategy YAML, a Brevitas model or QONNX."""
    import yaml

    from hwflow.errors import HwflowError
    from hwflow.runs.reports import export as export_strategy, open_run, picked

    if output is not None and not Path(output).parent.is_dir():
        raise HwflowError(f"-o {output}: folder {Path(output).parent} does not exist; "
                          "create it or write elsewhere")
    if fmt != "yaml":
        from hwflow.accuracy.brevitas_export import require_brevitas, write_brevitas, write_qonnx

        if not output:
            raise HwflowError(f"--format {fmt} needs -o FILE")
        require_brevitas()
        run = open_run(run_dir)
        strategy = run.strategy(picked(run, pick))
        write = write_brevitas if fmt == "brevitas" else write_qonnx
        write(strategy, output, source=f"{pick} (id {strategy.extra['id']}) of run {run_dir}")
        click.echo(f"wrote {output} (id {strategy.extra['id']})", err=True)
        return
    strategy = export_strategy(run_dir, pick, output)
    if output:
        also = (f" and {Path(output).parent / strategy.extra['accelerator']}"
                if str(strategy.extra["accelerator"]).endswith(".accelerator.yaml") else "")
        click.echo(f"wrote {output}{also} (id {strategy.extra['id']})", err=True)
    else:
        click.echo(yaml.safe_dump(strategy.to_yaml_dict(), sort_keys=False), nl=False)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot(run_dir: str) -> None:
    """(Re)draw the plots of a run directory."""
    from hwflow.runs.plots import write_plots
    from hwflow.runs.reports import open_run
    from hwflow.runs.store import STORE_NAME, RunStore

    run = open_run(run_dir)  # a flow's directory opens as its final step's
    with RunStore(run.folder / STORE_NAME, read_only=True) as store:
        for path in write_plots(run, store):
            click.echo(str(path))


COMMANDS = (search, export, plot)
