"""The torch side of one (model, data set, recipe, device): build, quantize, train, measure.

``AccuracyEvaluator`` decides what to train and caches results; this class does the
training. Every run is seeded, so on a CPU the same inputs give the same accuracy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hwflow.accuracy.apply import calibrate, quantize_model
from hwflow.accuracy.data import Splits, load_splits
from hwflow.accuracy.recipes import Recipe
from hwflow.accuracy.train import fit, measure_accuracy, seeded
from hwflow.catalog import ModelEntry, build_model
from hwflow.errors import HwflowError
from hwflow.strategy import Strategy

State = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    accuracy: float  # top-1 or mean IoU (the model's task); 0.0 when diverged
    status: str  # "ok" | "diverged"


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present, else CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HwflowError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HwflowError(f"--device {name}: torch sees no CUDA device here; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise HwflowError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA "
                          f"device(s) here, cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if device.type not in ("cpu", "cuda"):
        raise HwflowError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto")
    return device


class TrainingSession:
    def __init__(self, entry: ModelEntry, dataset: str, recipe: Recipe, device: str,
                 data_dir: str | None) -> None:
        self.entry, self.dataset, self.recipe = entry, dataset, recipe
        self.device = resolve_device(device)
        self.data_dir = data_dir

    @cached_property
    def splits(self) -> Splits:
        return load_splits(self.dataset, self.entry.input_shape, self.entry.num_classes,
                           self.data_dir, task=self.entry.task)

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    def _model(self, seed: int, state: State | None, strategy: Strategy | None,
               scheme: str) -> nn.Module:
        """A fresh model: seeded init, then the float weights, then the strategy's quantizers
        (calibrated on the first training batch)."""
        with seeded(seed, self.device):
            model = build_model(self.entry)
        if state is not None:
            model.load_state_dict(state)
        if strategy is not None:
            quantize_model(model, strategy, scheme)
        model.to(self.device)
        if strategy is not None:
            x, _ = next(self.splits.train.batches(self.recipe.batch_size, self.device))
            calibrate(model, x)
        return model

    def _train_and_measure(self, model: nn.Module, train_on: str, measure_on: str, *,
                           epochs: float, lr: float, seed: int, warmup_epochs: float = 0.0,
                           report_epochs: bool = False) -> Outcome:
        with seeded(seed, self.device):
            result = fit(model, getattr(self.splits, train_on), self.recipe, epochs=epochs,
                         lr=lr, device=self.device, generator=self._generator(seed),
                         warmup_epochs=warmup_epochs, report_epochs=report_epochs,
                         task=self.entry.task)
        if result.diverged:
            return Outcome(0.0, "diverged")
        accuracy, finite = measure_accuracy(model, getattr(self.splits, measure_on), self.device,
                                            self.recipe.eval_batch_size, self.entry.task)
        return Outcome(accuracy, "ok") if finite else Outcome(0.0, "diverged")

    def pretrain(self, seed: int) -> tuple[State, Outcome]:
        """The float baseline from scratch; validation accuracy."""
        model = self._model(seed, None, None, "dorefa-pact")
        outcome = self._train_and_measure(model, "train", "val", epochs=self.recipe.epochs,
                                          lr=self.recipe.lr, seed=seed,
                                          warmup_epochs=self.recipe.warmup_epochs,
                                          report_epochs=True)
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}, outcome

    def fine_tune(self, baseline: State, strategy: Strategy, scheme: str, epochs: float,
                  seed: int) -> Outcome:
        """ψ: the float baseline quantized per ``strategy``, briefly fine-tuned; validation."""
        model = self._model(seed, baseline, strategy, scheme)
        return self._train_and_measure(model, "train", "val", epochs=epochs,
                                       lr=self.recipe.finetune_lr, seed=seed)

    def retrain(self, strategy: Strategy, scheme: str, epochs: float,
                seed: int) -> tuple[nn.Module, Outcome]:
        """``strategy`` trained from scratch on train + validation; test accuracy."""
        model = self._model(seed, None, strategy, scheme)
        outcome = self._train_and_measure(model, "train_full", "test", epochs=epochs,
                                          lr=self.recipe.lr, seed=seed,
                                          warmup_epochs=self.recipe.warmup_epochs,
                                          report_epochs=True)
        return model, outcome


def save_state(path: Path, state: State) -> None:
    """Write atomically: a reader in another process never sees half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> State:
    return torch.load(path, map_location="cpu", weights_only=True)
