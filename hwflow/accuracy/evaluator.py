"""The accuracy fitness ψ for the search: strategies in, validation accuracies out.

Every result is cached in ``<cache>/accuracy.sqlite`` under a key made of everything that
changes it (the float baseline's identity: model source, data set, recipe; and epochs, seed,
scheme, per-layer bits), so no strategy is fine-tuned twice, across processes and runs.
Every result carries its standard error (``hwflow.accuracy.noise``); with ``seeds`` K > 1,
ψ is the mean of K fine-tunes (seeds ``seed`` .. ``seed + K - 1``), each cached on its own,
so asking for more seeds later trains only the new ones.
Float baselines are checkpoints under ``<cache>/checkpoints/``. The cache directory is
``settings.cache_dir``, else ``$HWFLOW_CACHE``, else ``~/.cache/hwflow``.

This module imports no torch; the first evaluation that needs training loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hwflow.accuracy.noise import binomial_se, mean_and_se
from hwflow.accuracy.recipes import Recipe, get_recipe
from hwflow.accuracy.schemes import scheme_modes
from hwflow.accuracy.store import ResultStore, StoredResult
from hwflow.accuracy.tasks import METRICS, check_task
from hwflow.catalog import ModelEntry, load_workload, model_entry
from hwflow.errors import HwflowError
from hwflow.strategy import Strategy, StrategyError
from hwflow.workload import Workload

if TYPE_CHECKING:
    from hwflow.accuracy.session import State, TrainingSession

TRAINING_VERSION = 1  # bump when quantizers or training change what a key would compute
PRETRAIN_SEED = 0  # one float baseline per (model, data set, recipe), whatever the search seed


@dataclass(frozen=True)
class AccuracyResult:
    accuracy: float  # ψ in [0,1]: top-1, or mean IoU for segmentation; 0.0 when diverged
    status: str  # "ok" | "diverged"
    seconds: float  # wall time of this evaluation (0 when served from cache)
    cached: bool
    se: float | None = None  # standard error of ``accuracy``; None: not known (a test double)


@dataclass(frozen=True)
class AccuracySettings:
    model: str
    dataset: str = "digits"
    epochs: float = 1.0
    seed: int = 0
    recipe: str | None = None
    data_dir: str | None = None
    device: str = "cpu"
    cache_dir: str | None = None
    scheme: str = "dorefa-pact"  # quantizer scheme
    seeds: int = 1  # fine-tunes averaged into ψ (seeds seed, seed + 1, ...)


def check_runnable(settings: AccuracySettings) -> None:
    """Raise a one-line error unless the data set's files are in place and the device
    exists here: what would otherwise fail only at the first fine-tune, after a search has
    created its run directory."""
    from hwflow.accuracy.data import check_available
    from hwflow.accuracy.session import resolve_device

    check_available(settings.dataset, settings.data_dir)
    resolve_device(settings.device)


@dataclass(frozen=True)
class Baseline:
    """The pretrained float model: its validation accuracy and checkpoint."""

    accuracy: float
    checkpoint: Path
    seconds: float  # time it took to train (also when served from cache)
    cached: bool


def default_cache_dir() -> Path:
    return Path(os.environ.get("HWFLOW_CACHE") or "~/.cache/hwflow").expanduser()


def digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def layer_bits(strategy: Strategy) -> list[list]:
    """Each layer's [name, w_bits, a_bits]: the strategy as a cache key sees it."""
    return [[layer.name, layer.w_bits, layer.a_bits] for layer in strategy.layers]


class AccuracyEvaluator:
    def __init__(self, settings: AccuracySettings) -> None:
        if settings.epochs < 0:
            raise HwflowError(f"epochs must be >= 0, not {settings.epochs}")
        if settings.seeds < 1:
            raise HwflowError(f"seeds must be >= 1, not {settings.seeds}")
        scheme_modes(settings.scheme)
        self.settings = settings
        self.entry: ModelEntry = model_entry(settings.model)
        check_task(self.entry.name, self.entry.task, settings.dataset)
        self.recipe: Recipe = get_recipe(settings.recipe, settings.dataset)
        self.cache_dir = Path(settings.cache_dir).expanduser() if settings.cache_dir \
            else default_cache_dir()
        self._baseline_state: State | None = None

    @property
    def metric(self) -> str:
        """What ``accuracy`` holds for this model: ``top1`` or ``miou``."""
        return METRICS[self.entry.task]

    @cached_property
    def store(self) -> ResultStore:
        """Opened (and created) on first use: naming a checkpoint creates nothing."""
        return ResultStore(self.cache_dir / "accuracy.sqlite")

    # --- identities ---------------------------------------------------------------------

    @cached_property
    def workload(self) -> Workload:
        return load_workload(self.settings.model)

    @cached_property
    def baseline_key(self) -> str:
        return digest({
            "kind": "baseline", "version": TRAINING_VERSION, "model": self.entry.name,
            "source": hashlib.sha256(self.entry.file.read_bytes()).hexdigest(),
            "builder": self.entry.builder, "dataset": self.settings.dataset,
            "recipe": self.recipe.name, "recipe_fingerprint": self.recipe.fingerprint(),
            "seed": PRETRAIN_SEED})

    @property
    def checkpoint_path(self) -> Path:
        stem = re.sub(r"[^\w.-]", "_", f"{self.entry.name}-{self.settings.dataset}-"
                                       f"{self.recipe.name}-{self.baseline_key[:12]}")
        return self.cache_dir / "checkpoints" / f"{stem}.pt"

    def strategy_key(self, strategy: Strategy) -> str:
        """The key of ψ as the settings define it (one seed, or the mean of ``seeds``)."""
        s = self.settings
        if s.seeds == 1:
            return self.seed_key(strategy, s.seed)
        return digest({"kind": "finetune-mean", "parts": [
            self.seed_key(strategy, seed) for seed in self.seed_range]})

    def seed_key(self, strategy: Strategy, seed: int) -> str:
        """The key of one fine-tune with ``seed``."""
        s = self.settings
        return digest({"kind": "finetune", "baseline": self.baseline_key,
                        "epochs": float(s.epochs), "seed": seed, "scheme": s.scheme,
                        "layers": layer_bits(strategy)})

    @property
    def seed_range(self) -> range:
        return range(self.settings.seed, self.settings.seed + self.settings.seeds)

    def _describe(self, kind: str, **extra: Any) -> dict[str, Any]:
        s = self.settings
        return {"kind": kind, "model": self.entry.name, "dataset": s.dataset,
                "recipe": self.recipe.name, **extra}

    # --- the torch side, loaded on first need ----------------------------------------------

    @cached_property
    def session(self) -> TrainingSession:
        from hwflow.accuracy.session import TrainingSession

        return TrainingSession(self.entry, self.settings.dataset, self.recipe,
                               self.settings.device, self.settings.data_dir)

    @cached_property
    def validation_size(self) -> int:
        """Images ψ is measured on (the binomial standard error's n)."""
        return len(self.session.splits.val)

    def check(self, strategy: Strategy) -> None:
        """Raise StrategyError unless ``strategy`` names exactly this model's layers."""
        if strategy.model != self.entry.name:
            raise StrategyError(f"strategy is for model {strategy.model!r}, not "
                                f"{self.entry.name!r}")
        strategy.check_matches(self.workload)

    # --- the float baseline ---------------------------------------------------------------

    def pretrain(self) -> Baseline:
        """Train the float baseline, or find it in the cache."""
        from hwflow.accuracy.session import load_state, save_state

        path = self.checkpoint_path
        if self.store.get(self.baseline_key) is not None and not path.exists():
            self.store.forget(self.baseline_key)  # checkpoint deleted by hand: train again

        def compute() -> StoredResult:
            start = time.perf_counter()
            state, outcome = self.session.pretrain(PRETRAIN_SEED)
            save_state(path, state)
            self._baseline_state = state
            return StoredResult(outcome.accuracy, outcome.status, time.perf_counter() - start)

        stored, cached = self.store.compute_once(
            self.baseline_key, self._describe("baseline", checkpoint=str(path)), compute)
        if stored.status != "ok":
            raise HwflowError(f"pretraining {self.entry.name} on {self.settings.dataset} "
                              f"diverged (recipe {self.recipe.name}); lower its learning rate")
        if self._baseline_state is None:
            self._baseline_state = load_state(path)
        return Baseline(stored.accuracy, path, stored.seconds, cached)

    def _baseline(self) -> State:
        if self._baseline_state is None:
            self.pretrain()  # sets it
        return self._baseline_state  # type: ignore[return-value]

    def float_accuracy(self) -> float:
        """Validation accuracy of the float baseline (pretrains it if needed)."""
        return self.pretrain().accuracy

    # --- ψ ------------------------------------------------------------------------------

    def evaluate(self, strategies: Sequence[Strategy]) -> list[AccuracyResult]:
        """ψ of each strategy; a diverged one scores 0.0 and the rest go on."""
        return [self.evaluate_one(strategy) for strategy in strategies]

    def evaluate_one(self, strategy: Strategy) -> AccuracyResult:
        self.check(strategy)
        if self.settings.seeds == 1:
            return self._one_seed(strategy, self.settings.seed)
        parts: list[AccuracyResult] = []

        def compute() -> StoredResult:
            parts.extend(self._one_seed(strategy, seed) for seed in self.seed_range)
            mean, se = mean_and_se([r.accuracy for r in parts], self.validation_size)
            status = "ok" if any(r.status == "ok" for r in parts) else "diverged"
            return StoredResult(mean, status, sum(r.seconds for r in parts), se)

        info = self._describe("finetune-mean", epochs=self.settings.epochs,
                              seeds=list(self.seed_range), scheme=self.settings.scheme,
                              w_bits=list(strategy.w_bits), a_bits=list(strategy.a_bits))
        stored, cached = self.store.compute_once(self.strategy_key(strategy), info, compute)
        # served from the cache only when no part had to be trained
        cached = cached or all(r.cached for r in parts)
        return AccuracyResult(stored.accuracy, stored.status, 0.0 if cached else stored.seconds,
                              cached, stored.se)

    def _one_seed(self, strategy: Strategy, seed: int) -> AccuracyResult:
        s = self.settings

        def compute() -> StoredResult:
            start = time.perf_counter()
            outcome = self.session.fine_tune(self._baseline(), strategy, s.scheme, s.epochs,
                                             seed)
            return StoredResult(outcome.accuracy, outcome.status, time.perf_counter() - start,
                                binomial_se(outcome.accuracy, self.validation_size))

        key = self.seed_key(strategy, seed)
        info = self._describe("finetune", epochs=s.epochs, seed=seed, scheme=s.scheme,
                              w_bits=list(strategy.w_bits), a_bits=list(strategy.a_bits))
        stored, cached = self.store.compute_once(key, info, compute)
        if stored.se is None:  # stored before standard errors were: add it in place
            stored = replace(stored, se=binomial_se(stored.accuracy, self.validation_size))
            self.store.put(key, {**info, "se_added": True}, stored)
        return AccuracyResult(stored.accuracy, stored.status, 0.0 if cached else stored.seconds,
                              cached, stored.se)

    # --- after the search -------------------------------------------------------------------

    def retrain(self, strategy: Strategy, epochs: float | None = None,
                save_to: str | Path | None = None) -> AccuracyResult:
        """Train ``strategy`` from scratch (the recipe's epochs unless given) on train +
        validation and measure the test split: the one time the test set is used."""
        from hwflow.accuracy.session import save_state

        self.check(strategy)
        start = time.perf_counter()
        model, outcome = self.session.retrain(
            strategy, self.settings.scheme, self.recipe.epochs if epochs is None else epochs,
            self.settings.seed)
        if save_to is not None:
            save_state(Path(save_to), model.state_dict())
        return AccuracyResult(outcome.accuracy, outcome.status, time.perf_counter() - start,
                              False)
