"""``hwflow accuracy``, ``hwflow pretrain``, ``hwflow retrain``: the accuracy side ψ.

Torch loads only inside the commands (through hwflow.accuracy's session), never at import.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Callable

import click

from hwflow.accuracy.schemes import SCHEMES
from hwflow.accuracy.tasks import METRIC_TEXT
from hwflow.config import MAX_EPOCHS, MAX_SEED

DIVERGED = "diverged: the loss became NaN or infinite (low-bit PACT can explode); scored 0"
COMMON_HELP = {
    "model": "Catalog model name, path/to/net.py or net.onnx.",
    "dataset": "digits, cifar10, imagenet, synthetic (classifiers); cityscapes, synthetic-seg "
               "(segmentation) [default: the model's own].",
    "recipe": "Training recipe [default: the data set's].",
    "data_dir": "Folder holding cifar10 / imagenet / cityscapes files (or set HWFLOW_DATA).",
}


class _Epochs(click.FloatRange):
    """0..MAX_EPOCHS, and a number (click's range lets nan through: it compares false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        epochs = super().convert(value, param, ctx)
        if math.isnan(epochs):
            self.fail(f"{value!r} is not a number of epochs", param, ctx)
        return epochs


EPOCHS = _Epochs(0, MAX_EPOCHS)


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options every training command shares (applied bottom-up, so listed in reverse)."""
    options = [
        click.option("--cache-dir", type=click.Path(file_okay=False),
                     help="Checkpoints and results cache [default: $HWFLOW_CACHE or "
                          "~/.cache/hwflow]."),
        click.option("--device", default="cpu", show_default=True,
                     help="cpu, cuda, cuda:N or auto (CUDA when present)."),
        click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                     help="Seed of training order and initialization."),
        click.option("--data-dir", type=click.Path(file_okay=False), help=COMMON_HELP["data_dir"]),
        click.option("--recipe", help=COMMON_HELP["recipe"]),
        click.option("--dataset", help=COMMON_HELP["dataset"]),
    ]
    for option in options:
        command = option(command)
    return command


def _settings(model: str, common: dict[str, Any], **kwargs: Any):
    """Evaluator settings; the data set defaults to the one the model is made for."""
    from hwflow.accuracy.evaluator import AccuracySettings
    from hwflow.catalog import model_entry

    dataset = common.pop("dataset") or model_entry(model).dataset
    return AccuracySettings(model=model, dataset=dataset, **common, **kwargs)


class _StderrHandler(logging.Handler):
    """Echoes to whatever stderr is current (a plain StreamHandler keeps the first one)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _show_progress() -> None:
    """Pretraining and retraining report each epoch on stderr."""
    log = logging.getLogger("hwflow.accuracy")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
    log.setLevel(logging.INFO)


def _strategy(model: str | None, bits: str | None, strategy_file: str | None):
    """(model name, strategy) from --bits (uniform; first and last layer at 16) or a file."""
    from hwflow.catalog import load_workload
    from hwflow.errors import HwflowError
    from hwflow.strategy import load_strategy, parse_bits, uniform_strategy

    if bits is not None and strategy_file:
        raise HwflowError("give --bits or --strategy, not both")
    if strategy_file:
        strategy = load_strategy(strategy_file)
        return model or strategy.model_ref, strategy
    if not model:
        raise HwflowError("--model is required (or a --strategy file naming its model)")
    w_bits, a_bits = parse_bits(bits) if bits is not None else (16, 16)
    return model, uniform_strategy(load_workload(model), w_bits, a_bits)


@click.command()
@click.option("--model", "model_name", help=COMMON_HELP["model"])
@click.option("--bits", help="Every quantizable layer at W or W,A bits (first/last stay 16).")
@click.option("--strategy", "strategy_file", type=click.Path(dir_okay=False),
              help="Strategy YAML with per-layer bits.")
@click.option("--epochs", type=EPOCHS, default=None,
              help="Fine-tune epochs, fractions allowed [default: the recipe's].")
@click.option("--scheme", type=click.Choice(list(SCHEMES)), default="dorefa-pact",
              show_default=True, help="Quantizers: weights-activations.")
@_common
@click.option("--json", "as_json", is_flag=True, help="Print the JSON contract instead of text.")
def accuracy(model_name: str | None, bits: str | None, strategy_file: str | None,
             epochs: float | None, scheme: str, as_json: bool, **common: Any) -> None:
    """Brief quantization-aware fine-tune of one strategy -> validation accuracy (ψ)."""
    from dataclasses import replace

    from hwflow.accuracy.evaluator import AccuracyEvaluator
    from hwflow.accuracy.recipes import get_recipe

    model_name, strategy = _strategy(model_name, bits, strategy_file)
    settings = _settings(model_name, common, scheme=scheme)
    if epochs is None:
        epochs = get_recipe(settings.recipe, settings.dataset).finetune_epochs
    evaluator = AccuracyEvaluator(replace(settings, epochs=epochs))
    evaluator.check(strategy)  # before pretraining, which may take long
    _show_progress()
    float_accuracy = evaluator.float_accuracy()
    result = evaluator.evaluate_one(strategy)
    if as_json:
        click.echo(json.dumps({"model": evaluator.entry.name, "dataset": settings.dataset,
                               "accuracy": result.accuracy, "float_accuracy": float_accuracy,
                               "epochs": epochs, "seconds": result.seconds,
                               "status": result.status}))
        return
    bits_text = strategy_file if strategy_file else f"{bits or 16} bit"
    click.echo(f"{evaluator.entry.name} on {settings.dataset}, {bits_text} ({scheme}), "
               f"{epochs:g} epoch fine-tune: validation {METRIC_TEXT[evaluator.metric]} "
               f"{result.accuracy:.2%} (float {float_accuracy:.2%})"
               + (f" [{DIVERGED}]" if result.status != "ok" else "")
               + (" [cached]" if result.cached else f" in {result.seconds:.1f} s"))


@click.command()
@click.option("--model", "model_name", required=True, help=COMMON_HELP["model"])
@_common
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def pretrain(model_name: str, as_json: bool, **common: Any) -> None:
    """Train the float baseline (or find it in the cache) -> validation accuracy."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator

    evaluator = AccuracyEvaluator(_settings(model_name, common))
    _show_progress()
    baseline = evaluator.pretrain()
    if as_json:
        click.echo(json.dumps({"model": evaluator.entry.name,
                               "dataset": evaluator.settings.dataset,
                               "recipe": evaluator.recipe.name,
                               "float_accuracy": baseline.accuracy,
                               "checkpoint": str(baseline.checkpoint),
                               "seconds": baseline.seconds, "cached": baseline.cached}))
        return
    click.echo(f"{evaluator.entry.name} on {evaluator.settings.dataset} (recipe "
               f"{evaluator.recipe.name}): float validation {METRIC_TEXT[evaluator.metric]} "
               f"{baseline.accuracy:.2%}"
               f"{' [cached]' if baseline.cached else f' in {baseline.seconds:.1f} s'}; "
               f"checkpoint {baseline.checkpoint}")


@click.command()
@click.option("--strategy", "strategy_file", required=True, type=click.Path(dir_okay=False),
              help="Strategy YAML with per-layer bits (e.g. a run's strategies/hv-leader.yaml).")
@click.option("--model", "model_name", help="Model [default: the strategy file's].")
@click.option("--epochs", type=EPOCHS, default=None,
              help="Training epochs from scratch [default: the recipe's].")
@click.option("--scheme", type=click.Choice(list(SCHEMES)), default="dorefa-pact",
              show_default=True, help="Quantizers: weights-activations.")
@click.option("--save", "save_to", type=click.Path(dir_okay=False),
              help="Write the trained weights (state dict) here.")
@_common
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def retrain(strategy_file: str, model_name: str | None, epochs: float | None, scheme: str,
            save_to: str | None, as_json: bool, **common: Any) -> None:
    """Train a strategy from scratch -> test accuracy (the only use of the test split)."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator

    model_name, strategy = _strategy(model_name, None, strategy_file)
    evaluator = AccuracyEvaluator(_settings(model_name, common, scheme=scheme))
    epochs = evaluator.recipe.epochs if epochs is None else epochs
    _show_progress()
    result = evaluator.retrain(strategy, epochs, save_to)
    if as_json:
        click.echo(json.dumps({"model": evaluator.entry.name,
                               "dataset": evaluator.settings.dataset, "split": "test",
                               "accuracy": result.accuracy, "epochs": epochs,
                               "seconds": result.seconds, "status": result.status}))
        return
    click.echo(f"{evaluator.entry.name} on {evaluator.settings.dataset}, {strategy_file} "
               f"({scheme}) trained {epochs:g} epochs from scratch: test "
               f"{METRIC_TEXT[evaluator.metric]} {result.accuracy:.2%} in {result.seconds:.1f} s"
               + (f" [{DIVERGED}]" if result.status != "ok" else ""))


COMMANDS = (accuracy, pretrain, retrain)
