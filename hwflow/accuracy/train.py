"""The training loop and the accuracy measurement, shared by pretrain, fine-tune and retrain.

Epochs may be fractional (0.4 epoch = 40% of one epoch's steps). A non-finite loss (PACT at
low bits can explode) ends the run as diverged instead of raising: the caller scores it as
the worst fitness and the search goes on. The loss and the score follow the model's task
(``hwflow.accuracy.metrics``): top-1 accuracy for classifiers, mean IoU for segmentation.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from hwflow.accuracy.data import Source
from hwflow.accuracy.metrics import confusion, mean_iou, task_loss
from hwflow.accuracy.recipes import Recipe

log = logging.getLogger("hwflow.accuracy")

FINITE_CHECK_EVERY = 16  # steps between reads of the divergence flag (each read syncs a GPU)


@dataclass(frozen=True)
class FitResult:
    steps: int
    diverged: bool
    seconds: float


def use_threads(threads: int | None) -> None:
    """torch's CPU threads for this process (None: leave torch's default). Small models
    train fastest on one thread, and far faster on a busy host."""
    if threads is not None:
        torch.set_num_threads(threads)


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators for a block and restore them afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def steps_for(epochs: float, examples: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes (incomplete last batches are dropped)."""
    if epochs <= 0:
        return 0
    return max(1, round(epochs * max(1, examples // batch_size)))


def make_optimizer(model: nn.Module, recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    return torch.optim.AdamW(params, lr=lr, weight_decay=recipe.weight_decay)


def fit(model: nn.Module, source: Source, recipe: Recipe, *, epochs: float, lr: float,
        device: torch.device, generator: torch.Generator, warmup_epochs: float = 0.0,
        report_epochs: bool = False, task: str = "classification") -> FitResult:
    """Train ``model`` (already on ``device``) for ``epochs`` with a warm-up + cosine schedule."""
    start = time.perf_counter()
    batch_size = min(recipe.batch_size, len(source))
    per_epoch = max(1, len(source) // batch_size)
    total = steps_for(epochs, len(source), batch_size)
    warmup = min(total, round(warmup_epochs * per_epoch))
    optimizer = make_optimizer(model, recipe, lr)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    step, epoch = 0, 0
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    while step < total:
        epoch_loss = torch.zeros((), device=device)
        epoch_steps = 0
        for x, y in source.batches(batch_size, device, generator, drop_last=True):
            loss = task_loss(task, model(x), y)
            nonfinite |= ~torch.isfinite(loss.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            epoch_loss += loss.detach()
            step, epoch_steps = step + 1, epoch_steps + 1
            if (step % FINITE_CHECK_EVERY == 0 or step == total) and bool(nonfinite):
                return FitResult(step, True, time.perf_counter() - start)
            if step == total:
                break
        epoch += 1
        if report_epochs:
            log.info("epoch %d/%s: loss %.4f (%.0f s)", epoch, f"{epochs:g}",
                     float(epoch_loss) / max(1, epoch_steps), time.perf_counter() - start)
    return FitResult(step, False, time.perf_counter() - start)


@torch.no_grad()
def measure_accuracy(model: nn.Module, source: Source, device: torch.device,
                     batch_size: int, task: str = "classification") -> tuple[float, bool]:
    """(ψ on ``source``: top-1 accuracy, or mean IoU for segmentation; whether every logit
    was finite)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    counts: torch.Tensor | None = None
    finite = torch.ones((), dtype=torch.bool, device=device)
    for x, y in source.batches(batch_size, device):
        logits = model(x)
        finite &= torch.isfinite(logits).all()
        if task == "segmentation":
            batch_counts = confusion(logits, y, logits.shape[1])
            counts = batch_counts if counts is None else counts + batch_counts
        else:
            correct += (logits.argmax(1) == y).sum()
    if task == "segmentation":
        return (0.0 if counts is None else mean_iou(counts)), bool(finite)
    return int(correct) / max(1, len(source)), bool(finite)
