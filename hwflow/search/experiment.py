"""Experiment YAML → a validated ``Experiment`` (pydantic, via hwflow.config's helpers).

Everything that can be wrong in an experiment file is checked while it is validated, so
every error is one line naming the file, the key and its line: unknown keys, metrics a
level cannot compute, bitwidths the accelerator does not run, unknown models and
accelerators. Relative paths (a model ``.py``, an accelerator ``.yaml``, data and cache
folders) are taken relative to the experiment file and stored resolved.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field, ValidationInfo, field_validator

from hwflow.catalog import load_accelerator, load_workload, model_entry
from hwflow.config import Strict, read_yaml, validate
from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator
from hwflow.search.genome import BitGenome
from hwflow.search.objectives import HARDWARE_METRICS, METRICS, UNAVAILABLE, Constraint
from hwflow.search.presets import PRESETS
from hwflow.workload import Workload

# Keys a resumed run may change: they do not change what an evaluation computes.
FREE_ON_RESUME: tuple[tuple[str, str], ...] = (
    ("finetune", "threads"), ("finetune", "device"), ("finetune", "data_dir"),
    ("finetune", "cache_dir"), ("execution", "workers"), ("execution", "scheduler"))

_base_dir: ContextVar[Path] = ContextVar("experiment_dir", default=Path("."))


@contextlib.contextmanager
def _relative_to(folder: Path) -> Iterator[None]:
    token = _base_dir.set(folder)
    try:
        yield
    finally:
        _base_dir.reset(token)


def _resolve(value: str) -> str:
    """A path-like reference made absolute against the experiment's folder."""
    path = Path(value)
    return value if path.is_absolute() else str((_base_dir.get() / path).resolve())


def _looks_like_path(ref: str) -> bool:
    head = ref.split(":")[0]
    return "/" in head or head.endswith((".py", ".yaml", ".yml"))


def _user_error(exc: HwflowError) -> ValueError:
    return ValueError(str(exc))


class ConstraintsConfig(Strict):
    """Hard limits; an individual that breaks one is infeasible (pymoo's g ≤ 0)."""

    accuracy_min: float | None = Field(None, ge=0, le=1)
    frac_ops_max: float | None = Field(None, gt=0)
    dram_bytes_max: float | None = Field(None, gt=0)
    energy_max: float | None = Field(None, gt=0)
    latency_cycles_max: float | None = Field(None, gt=0)
    edp_max: float | None = Field(None, gt=0)
    area_max: float | None = Field(None, gt=0)

    def constraints(self) -> tuple[Constraint, ...]:
        out = []
        for key, bound in self.model_dump().items():
            if bound is not None:
                out.append(Constraint(key.rsplit("_", 1)[0], float(bound)))
        return tuple(out)


class FinetuneConfig(Strict):
    """How ψ is measured: a brief quantization-aware fine-tune (hwflow.accuracy)."""

    epochs: float | None = Field(None, gt=0, description="default: the preset's")
    recipe: str | None = None
    scheme: str = "dorefa-pact"
    data_dir: str | None = None
    cache_dir: str | None = None
    device: str = "cpu"
    threads: int | None = Field(None, ge=1, description="torch CPU threads; null: torch's default")

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return None if value is None else _resolve(value)


class SogaConfig(Strict):
    threshold: float = Field(0.05, gt=0, le=1, description="t: tolerated accuracy drop")


class ExecutionConfig(Strict):
    """Where evaluations run. Only in-process exists yet; the keys are reserved."""

    workers: int | None = Field(None, ge=1)
    scheduler: str | None = None

    @field_validator("workers", "scheduler")
    @classmethod
    def _not_yet(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("parallel evaluation is not available yet; evaluations run "
                             "in-process (remove this key)")
        return value


class ExperimentConfig(Strict):
    # Field order matters: validators below read the fields declared before them.
    name: str | None = None
    model: str
    dataset: str | None = None
    accelerator: str
    dataflow: Literal["rs", "os", "ws"] | None = None
    batch: int = Field(1, ge=1)
    level: Literal["coarse", "mid", "fine"] = "fine"
    mapper_objective: Literal["energy", "latency", "edp"] = "energy"
    algorithm: Literal["nsga2", "soga"] = "nsga2"
    preset: Literal[tuple(PRESETS)] = "quick"  # type: ignore[valid-type]
    population: int | None = Field(None, ge=2)
    generations: int | None = Field(None, ge=1)
    objectives: list[Literal[METRICS]] = Field(min_length=1)  # type: ignore[valid-type]
    constraints: ConstraintsConfig = ConstraintsConfig()
    bits: list[int] | None = None
    tied_bits: bool = False
    keep_ends: bool = True
    end_bits: int = Field(16, ge=1, le=32)
    mutation_prob: float = Field(0.4, ge=0, le=1)
    seed: int = 0
    soga: SogaConfig = SogaConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    execution: ExecutionConfig = ExecutionConfig()

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if _looks_like_path(value):
            file, sep, name = value.partition(":")
            value = _resolve(file) + sep + name
        try:
            model_entry(value)
        except HwflowError as exc:
            raise _user_error(exc) from None
        return value

    @field_validator("accelerator")
    @classmethod
    def _accelerator(cls, value: str) -> str:
        if _looks_like_path(value):
            value = _resolve(value)
        try:
            load_accelerator(value)
        except HwflowError as exc:
            raise _user_error(exc) from None
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an objective is listed twice")
        _check_level(value, info)
        hardware = [m for m in value if m in HARDWARE_METRICS]
        if info.data.get("algorithm") == "soga" and len(hardware) != 1:
            raise ValueError("soga optimizes one hardware metric (and accuracy): give exactly "
                             f"one of {', '.join(HARDWARE_METRICS)}, optionally with accuracy")
        if info.data.get("algorithm") == "nsga2" and len(value) < 2:
            raise ValueError("nsga2 needs at least two objectives; for one, use algorithm: soga")
        return value

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: ConstraintsConfig, info: ValidationInfo) -> ConstraintsConfig:
        _check_level([c.metric for c in value.constraints()], info)
        return value

    @field_validator("bits")
    @classmethod
    def _bits(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one bitwidth")
        if len(set(value)) != len(value):
            raise ValueError("a bitwidth is listed twice")
        accel = _accel_of(info)
        if accel is not None:
            bad = [b for b in value if b not in accel.supported_bits]
            if bad:
                raise ValueError(f"{bad} not supported by {accel.name}; it runs "
                                 f"{sorted(accel.supported_bits)}")
        return value

    @field_validator("end_bits")
    @classmethod
    def _end_bits(cls, value: int, info: ValidationInfo) -> int:
        accel = _accel_of(info)
        if accel is not None and value not in accel.supported_bits:
            raise ValueError(f"{value} not supported by {accel.name}; it runs "
                             f"{sorted(accel.supported_bits)}")
        return value


def _check_level(metrics: list[str], info: ValidationInfo) -> None:
    level = info.data.get("level")
    if level is None:
        return
    missing = [m for m in metrics if m in UNAVAILABLE[level]]
    if missing:
        allowed = [m for m in METRICS if m not in UNAVAILABLE[level]]
        raise ValueError(f"{', '.join(missing)} cannot be computed at the {level} level; "
                         f"choose from {', '.join(allowed)}")


def _accel_of(info: ValidationInfo) -> Accelerator | None:
    ref = info.data.get("accelerator")
    return None if ref is None else load_accelerator(ref)


@dataclass(frozen=True)
class Experiment:
    """A validated experiment with the preset applied."""

    path: Path
    config: ExperimentConfig

    @property
    def name(self) -> str:
        return self.config.name or self.path.stem

    @property
    def population(self) -> int:
        return self.config.population or PRESETS[self.config.preset].population

    @property
    def generations(self) -> int:
        return self.config.generations or PRESETS[self.config.preset].generations

    @property
    def epochs(self) -> float:
        return self.config.finetune.epochs or PRESETS[self.config.preset].epochs

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(self.config.objectives)

    @property
    def constraints(self) -> tuple[Constraint, ...]:
        return self.config.constraints.constraints()

    @property
    def uses_accuracy(self) -> bool:
        return "accuracy" in self.objectives or self.config.constraints.accuracy_min is not None

    @property
    def dataset(self) -> str:
        return self.config.dataset or model_entry(self.config.model).dataset

    def workload(self) -> Workload:
        return load_workload(self.config.model)

    def accelerator(self) -> Accelerator:
        accel = load_accelerator(self.config.accelerator)
        return accel.with_dataflow(self.config.dataflow) if self.config.dataflow else accel

    def genome(self, workload: Workload, accel: Accelerator) -> BitGenome:
        c = self.config
        alleles = tuple(c.bits) if c.bits else tuple(accel.supported_bits)
        genome = BitGenome.for_layers(workload.name, workload.layer_names, alleles,
                                      tied=c.tied_bits or accel.tied_bits,
                                      keep_ends=c.keep_ends, end_bits=c.end_bits)
        if genome.n_var == 0:
            raise HwflowError(f"{self.path}: nothing to search: {workload.name} has no layers "
                              "besides the first and last (set keep_ends: false)")
        return genome

    def settings(self) -> dict[str, Any]:
        """Everything that defines the run's results, as stored in run.sqlite to check a
        resume; where and how fast evaluations run may change between sessions."""
        data = self.config.model_dump(mode="json")
        for section, key in FREE_ON_RESUME:
            data[section].pop(key)
        return data


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    data, lines = read_yaml(path)
    with _relative_to(path.resolve().parent):
        config = validate(path, data, lines, ExperimentConfig)
    return Experiment(path=path, config=config)
