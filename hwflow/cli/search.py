"""``hwflow search``, ``hwflow export``, ``hwflow plot``: run a search and use its results."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from hwflow.errors import HwflowError

PICK_HELP = "hv-leader, accuracy-leader, compression-leader, or an id from pareto.csv"


def _stop_on_sigterm() -> None:
    """SIGTERM stops a search like Ctrl-C does: cleanly, after saving."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


class _RichProgress:
    """Generation bar with evaluations, cache hits, hypervolume and ETA (on stderr)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.bar = Progress(
            TextColumn("generation"), MofNCompleteColumn(), BarColumn(),
            TextColumn("evals {task.fields[evals]}  cache hits {task.fields[hits]}  "
                       "HV {task.fields[hv]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task = None
        self.stored = self.hits = 0  # evaluations and cache hits before this process

    def __enter__(self) -> "_RichProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, generations: int, last, evaluations: int) -> None:
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


def _summary(result, exp) -> None:
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
    files = Table(title=f"files written under {result.out}")
    files.add_column("file")
    files.add_column("what")
    about = {"run.sqlite": "every evaluation and generation (resume from it)",
             "pareto.csv": "the final non-dominated set", "history.csv": "hypervolume per generation",
             "hv-leader.yaml": "strategy of the hypervolume leader",
             "accuracy-leader.yaml": "strategy of the most accurate solution",
             "compression-leader.yaml": "strategy of the most compressed solution",
             "front.png": "2-D projections of the front", "hypervolume.png": "convergence curve",
             "bitwidths.png": "layer-wise bitwidths of the hypervolume leader"}
    for path in result.files:
        files.add_row(str(path.relative_to(result.out)), about.get(path.name, ""))
    console.print(files)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory [default: runs/<experiment name>].")
@click.option("--resume", is_flag=True, help="Continue the run stored in --out.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes for evaluations (not available yet).")
@click.option("--scheduler", default=None, help="Dask scheduler address (not available yet).")
@click.option("--no-plots", is_flag=True, help="Skip writing the plots.")
def search(experiment: str, out: str | None, resume: bool, workers: int | None,
           scheduler: str | None, no_plots: bool) -> None:
    """Search layer-wise bitwidths for an EXPERIMENT.yaml (NSGA-II or SOGA)."""
    from hwflow.search.driver import SearchStopped, run_search
    from hwflow.search.experiment import load_experiment

    for option, value in (("--workers", workers), ("--scheduler", scheduler)):
        if value is not None:
            raise HwflowError(f"{option}: parallel evaluation is not available yet; "
                              f"evaluations run in-process (drop {option})")
    exp = load_experiment(experiment)
    out_dir = Path(out) if out else Path("runs") / exp.name
    _stop_on_sigterm()
    try:
        with _RichProgress() as progress:
            result = run_search(exp, out_dir, resume=resume, progress=progress, plots=not no_plots)
    except SearchStopped as stop:
        click.echo(f"{stop}; continue with: hwflow search {experiment} --out {out_dir} --resume",
                   err=True)
        sys.exit(130)
    _summary(result, exp)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--pick", default="hv-leader", show_default=True, help=PICK_HELP)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the strategy YAML here [default: print it].")
def export(run_dir: str, pick: str, output: str | None) -> None:
    """Export one solution of a run as a strategy YAML (for hwflow evaluate/retrain)."""
    import yaml

    from hwflow.runs.reports import export as export_strategy

    strategy = export_strategy(run_dir, pick)
    if output:
        strategy.save(output)
        click.echo(f"wrote {output} (id {strategy.extra['id']})", err=True)
    else:
        click.echo(yaml.safe_dump(strategy.to_yaml_dict(), sort_keys=False), nl=False)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def plot(run_dir: str) -> None:
    """(Re)draw the plots of a run directory."""
    from hwflow.runs.plots import write_plots
    from hwflow.runs.reports import open_run
    from hwflow.runs.store import STORE_NAME, RunStore

    run = open_run(run_dir)
    with RunStore(Path(run_dir) / STORE_NAME) as store:
        for path in write_plots(run, store):
            click.echo(str(path))


COMMANDS = (search, export, plot)
