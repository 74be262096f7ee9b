"""``hwflow sweep``: run an experiment over a grid and compare the results."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hwflow.cli.search import stop_on_sigterm


class _SweepProgress:
    """A bar over the grid points and, for search points, one over generations (stderr)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), MofNCompleteColumn(), BarColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=False)
        self.points = self.search = None
        self.total = 0
        self.stored = self.hits = 0
        self.hv: float | None = None

    def __enter__(self) -> _SweepProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.points is not None and exc[0] is None:
            self.bar.update(self.points, completed=self.total)
        self.bar.stop()

    def point(self, index: int, total: int, point, state: str) -> None:
        if self.points is None:
            self.total = total
            self.points = self.bar.add_task("grid point", total=total, info="")
        self.bar.update(self.points, completed=index, info=f"{point.label} ({state})")

    def start(self, generations: int, last, evaluations: int) -> None:
        self.stored, self.hits = evaluations, last.cache_hits if last else 0
        self.hv = last.hypervolume if last else None
        if self.search is not None:
            self.bar.remove_task(self.search)
        self.search = self.bar.add_task(
            "  generation", total=generations, completed=last.generation if last else 0,
            info=self._info(evaluations, self.hits, self.hv))

    @staticmethod
    def _info(evals: int, hits: int, hv: float | None) -> str:
        return f"evals {evals}  cache hits {hits}  HV {'-' if hv is None else f'{hv:.4f}'}"

    def evaluation(self, stats) -> None:
        self.bar.update(self.search, info=self._info(self.stored + stats.evaluated,
                                                     self.hits + stats.cache_hits, self.hv))

    def generation(self, row) -> None:
        self.hv = row.hypervolume
        self.bar.update(self.search, completed=row.generation,
                        info=self._info(row.evaluations, row.cache_hits, row.hypervolume))


SHORT = {"accuracy": "acc", "frac_ops": "Frac.OPs", "dram_bytes": "DRAM bytes",
         "latency_cycles": "cycles", "frames_per_cycle": "frames/cycle", "energy": "energy",
         "edp": "EDP", "area": "mm²"}


def _summary(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from hwflow.sweeps.config import short_value

    console = Console()
    sweep = result.sweep
    table = Table(title=f"{sweep.name}: {len(result.points)} grid points ({sweep.kind})")
    named = all("name" in dict(r.point.values) for r in result.points)
    keys = ("name",) if named else sweep.keys  # a point's name says what it is
    for key in keys or ("grid point",):
        table.add_column(key, no_wrap=True)
    table.add_column("state", no_wrap=True)

    def keys_of(point) -> list[str]:
        given = dict(point.values)
        return [short_value(given[k]) if k in given else "" for k in keys] or [point.label]

    if sweep.kind == "search":
        runs = [r.run for r in result.points if r.run is not None]
        objectives = [m for m in (runs[0].objectives if runs else ())
                      if all(m in run.objectives for run in runs)]
        table.title += "; the hv leader's objectives on the right"
        for column in ("front", "HV", *(SHORT.get(m, m) for m in objectives)):
            table.add_column(column, justify="right")
        for r in result.points:
            if r.run is None:
                table.add_row(*keys_of(r.point), r.state, *["-"] * (2 + len(objectives)))
                continue
            last = r.history[-1].hypervolume if r.history else 0.0
            leader = r.run.leaders.get("hv-leader")
            cells = [(f"{leader.objectives[m]:.4g}" if m == "accuracy" else
                      f"{leader.objectives[m]:.3g}") if leader else "-" for m in objectives]
            table.add_row(*keys_of(r.point), r.state, str(len(r.run.front)), f"{last:.4f}",
                          *cells)
    else:
        metrics = [m for m in ("accuracy", "dram_bytes", "latency_cycles", "frames_per_cycle",
                               "energy")
                   if any(r.row.get(m) not in (None, "") for r in result.points)]
        for m in metrics:
            table.add_column(SHORT[m], justify="right")
        for r in result.points:
            cells = [f"{r.row[m]:.3g}" if r.row.get(m) not in (None, "") else "-"
                     for m in metrics]
            table.add_row(*keys_of(r.point), r.state, *cells)
    console.print(table)
    files = Table(title=f"files written under {result.out}")
    files.add_column("file")
    files.add_column("what")
    about = {"sweep.csv": "every grid point's results in one table (docs/sweep.md)",
             "fronts.png": "the fronts of every grid point overlaid",
             "leaders.png": "hypervolume leaders across the grid",
             "hypervolume.png": "convergence of every grid point",
             "sweep.png": "metrics across the grid"}
    for path in result.files:
        files.add_row(str(path.relative_to(result.out)), about.get(path.name, ""))
    if sweep.kind == "search":
        files.add_row("<grid point>/", "each point's run directory (hwflow export / plot work "
                                       "on it)")
    console.print(files)


@click.command()
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sweep directory [default: runs/<sweep name>].")
@click.option("--no-plots", is_flag=True, help="Skip writing the plots.")
def sweep(sweep_file: str, out: str | None, no_plots: bool) -> None:
    """Run an experiment over a grid of settings (SWEEP.yaml) and compare the results.

    A rerun with the same --out skips finished grid points and resumes unfinished ones."""
    from hwflow.search.driver import SearchStopped
    from hwflow.sweeps.config import load_sweep
    from hwflow.sweeps.run import run_sweep

    plan = load_sweep(sweep_file)
    out_dir = Path(out) if out else Path("runs") / plan.name
    stop_on_sigterm()
    try:
        with _SweepProgress() as progress:
            result = run_sweep(plan, out_dir, progress=progress, plots=not no_plots)
    except SearchStopped as stop:
        click.echo(f"{stop}; continue the sweep with: hwflow sweep {sweep_file} --out {out_dir}",
                   err=True)
        sys.exit(130)
    _summary(result)


COMMANDS = (sweep,)
