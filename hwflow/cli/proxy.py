"""``hwflow proxy-check``: does ψ rank strategies the way training from scratch does?"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hwflow.cli.training import COMMON_HELP, _common, _settings, _show_progress
from hwflow.errors import HwflowError


def _budgets(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise HwflowError(f"--epochs {text!r}: give fine-tune budgets as numbers, e.g. "
                          "0.25,0.5,1,2") from None
    if not values or any(v <= 0 for v in values) or len(set(values)) != len(values):
        raise HwflowError(f"--epochs {text!r}: give distinct budgets > 0, e.g. 0.25,0.5,1,2")
    return tuple(sorted(values))


@click.command("proxy-check")
@click.option("--model", "model_name", required=True, help=COMMON_HELP["model"])
@click.option("--accelerator", default="spatial-256", show_default=True,
              help="Its supported bits are what the strategies use.")
@click.option("--epochs", "budgets", default="0.25,0.5,1,2", show_default=True,
              help="Fine-tune budgets to check, comma-separated.")
@click.option("--samples", type=click.IntRange(min=3), default=16, show_default=True,
              help="Strategies, spread over the range of Frac.OPs.")
@click.option("--seeds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Seeds of every ψ and every retrain.")
@click.option("--retrain-epochs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Training from scratch [default: the recipe's].")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Train on N local worker processes.")
@click.option("--scheduler", default=None,
              help="Train on a running Dask cluster: tcp://host:8786 or a scheduler file.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Torch CPU threads (per worker).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for proxy.json, proxy.csv and the plots "
                   "[default: runs/proxy-check-<model>].")
@_common
@click.option("--json", "as_json", is_flag=True, help="Print the JSON object instead of text.")
def proxy_check(model_name: str, accelerator: str, budgets: str, samples: int, seeds: int,
                retrain_epochs: float | None, workers: int | None, scheduler: str | None,
                threads: int | None, out: str | None, as_json: bool, **common: Any) -> None:
    """Rank N strategies by ψ at each fine-tune budget and by accuracy after training from
    scratch; report how well they agree and the cheapest budget that ranks as well as any."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator
    from hwflow.catalog import load_accelerator, load_workload
    from hwflow.proxycheck.measure import Dispatches, measure
    from hwflow.proxycheck.report import summarize, write_all
    from hwflow.proxycheck.sampling import sample_strategies

    if workers is not None and scheduler is not None:
        raise HwflowError("--workers and --scheduler: give one (local processes or a Dask "
                          "cluster), not both")
    epochs = _budgets(budgets)
    base = _settings(model_name, common)
    evaluator = AccuracyEvaluator(base)  # checks model, data set and recipe before any work
    retrain_epochs = float(evaluator.recipe.epochs if retrain_epochs is None else retrain_epochs)
    chosen = sample_strategies(load_workload(model_name), load_accelerator(accelerator),
                               samples, base.seed)
    folder = Path(out) if out else Path("runs") / f"proxy-check-{evaluator.entry.name}"
    if folder.exists() and not folder.is_dir():
        raise HwflowError(f"--out {folder}: a file, not a folder")
    if not as_json:
        _show_progress()
    dispatches = Dispatches(threads, workers, scheduler)
    last = [""]

    def progress(label: str, done: int, total: int) -> None:
        if as_json:
            return
        if label != last[0]:
            click.echo(f"{label} ({done}/{total})", err=True)
            last[0] = label

    try:
        measured = measure(base, chosen, epochs, seeds, retrain_epochs, dispatches, progress)
    except KeyboardInterrupt:
        click.echo("stopped; every ψ and retrain finished so far is in the accuracy cache: "
                   "run the same command again to continue", err=True)
        sys.exit(130)
    finally:
        dispatches.close()
    report = summarize(measured)
    files = write_all(measured, report, folder)
    if as_json:
        click.echo(json.dumps(report.to_json()))
        return
    _print(report, evaluator, retrain_epochs, files)


def _print(report, evaluator, retrain_epochs: float, files: list[Path]) -> None:
    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.2f}"

    click.echo(f"{evaluator.entry.name} on {evaluator.settings.dataset}: {report.samples} "
               f"strategies; truth = test accuracy after {retrain_epochs:g} epochs from "
               f"scratch (seed-to-seed τ {num(report.retrain_seed_tau)}: the noise ceiling)")
    click.echo(f"{'epochs':>7} {'kendall τ':>10} {'90% interval':>16} {'spearman':>9} "
               f"{'ψ seed τ':>9} {'s per ψ':>8}")
    for b in report.budgets:
        interval = "n/a" if b.tau_low is None else f"[{b.tau_low:+.2f}, {b.tau_high:+.2f}]"
        click.echo(f"{b.epochs:>7g} {num(b.kendall_tau):>10} {interval:>16} "
                   f"{num(b.spearman):>9} {num(b.psi_seed_tau):>9} {b.seconds_per_psi:>8.2f}")
    click.echo("recommended budget: " + ("none (no budget's τ is defined)"
                                         if report.recommended_epochs is None
                                         else f"{report.recommended_epochs:g} epochs"))
    for path in files:
        click.echo(f"wrote {path}")


COMMANDS = (proxy_check,)
