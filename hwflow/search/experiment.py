"""Experiment YAML → a validated ``Experiment`` (pydantic, via hwflow.config's helpers).

Everything that can be wrong in an experiment file is checked while it is validated, so
every error is one line naming the file, the key and its line: unknown keys, metrics a
level cannot compute, bitwidths the accelerator does not run, unknown models and
accelerators. Relative paths (a model ``.py``, an accelerator ``.yaml``, data and cache
folders) are taken relative to the experiment file (``hwflow.search.paths``) and stored
resolved; model and accelerator references are checked, and loaded once, by
``hwflow.search.references``; a flow's stages expand in ``hwflow.search.stages``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from pydantic import Field, ValidationInfo, field_validator, model_validator

from hwflow.catalog import load_workload, model_entry
from hwflow.config import MAX_BATCH, MAX_EPOCHS, MAX_SEED, Strict, read_yaml, validate
from hwflow.errors import HwflowError
from hwflow.hw.levels import DEFAULT_OBJECTIVE, LEVELS, Level, Objective
from hwflow.hw.spec import Accelerator, Dataflow, EngineKind
from hwflow.metrics import HARDWARE_METRICS, METRICS, UNAVAILABLE
from hwflow.search.objectives import Constraint
from hwflow.search.paths import relative_to, resolve_path
from hwflow.search.presets import PRESETS
from hwflow.search.references import AcceleratorRef, ModelRef, accelerator_of
from hwflow.search.space.accelerator_genes import GENE_MAX, AcceleratorGenesConfig, AcceleratorSpace
from hwflow.search.space.genome import BitGenome
from hwflow.search.stages import check_stages, stage_config
from hwflow.workload import Workload

if TYPE_CHECKING:
    from hwflow.accuracy.evaluator import AccuracySettings


AlgorithmName = Literal["nsga2", "soga"]  # hwflow.search.ga.algorithms.make_algorithm
# Far beyond any useful budget; they keep pymoo's arrays and loops finite.
MAX_POPULATION = 100_000
MAX_GENERATIONS = 1_000_000


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

    epochs: float | None = Field(None, gt=0, le=MAX_EPOCHS, description="default: the preset's")
    recipe: str | None = None
    scheme: str = "dorefa-pact"
    data_dir: str | None = None
    cache_dir: str | None = None
    device: str = "cpu"
    threads: int | None = Field(None, ge=1, description="torch CPU threads; null: torch's default")

    @field_validator("data_dir", "cache_dir")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return None if value is None else resolve_path(value)

    def accuracy_settings(self, model: str, dataset: str, epochs: float,
                          seed: int) -> AccuracySettings:
        """The evaluator's settings: these, with what the experiment sets elsewhere."""
        from hwflow.accuracy.evaluator import AccuracySettings

        return AccuracySettings(model=model, dataset=dataset, epochs=epochs, seed=seed,
                                recipe=self.recipe, data_dir=self.data_dir, device=self.device,
                                cache_dir=self.cache_dir, scheme=self.scheme)


class SogaConfig(Strict):
    threshold: float = Field(0.05, gt=0, le=1, description="t: tolerated accuracy drop")


class ExecutionConfig(Strict):
    """Where accuracy evaluations run (hwflow.dispatch.cluster); in-process when both are null."""

    workers: int | None = Field(None, ge=1, description="local worker processes")
    scheduler: str | None = Field(None, description="Dask scheduler address or scheduler file")

    @field_validator("scheduler")
    @classmethod
    def _one_place(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("workers") is not None:
            raise ValueError("give workers (local processes) or scheduler (a Dask cluster), "
                             "not both")
        return resolve_path(value) if value is not None and value.endswith(".json") else value


# What a flow stage may try as its inputs (HW-FlowQ's refinement and abstraction): Coarse the network and its bitwidths,
# Mid the memory hierarchy, Fine the compute architecture.
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "coarse": ("model", "bits", "tied_bits"),
    "mid": ("buffer_kb", "dram_bandwidth", "batch"),
    "fine": ("rows", "cols", "rf_filter_words", "rf_fmap_words", "rf_psum_words", "dataflow",
             "engine", "lanes"),
}
TOP_LEVEL_INPUTS = ("model", "bits", "tied_bits")  # the others are accelerator knobs


class CandidateConfig(Strict):
    """One set of inputs a stage tries (the keys its level allows, see STAGE_INPUTS)."""

    model: str | None = None
    bits: list[int] | None = None
    tied_bits: bool | None = None
    buffer_kb: float | None = Field(None, gt=0, le=GENE_MAX["buffer_kb"])
    dram_bandwidth: float | None = Field(None, gt=0, le=GENE_MAX["dram_bandwidth"],
                                         description="bytes per cycle")
    batch: int | None = Field(None, ge=1, le=MAX_BATCH)
    rows: int | None = Field(None, ge=1, le=GENE_MAX["rows"])
    cols: int | None = Field(None, ge=1, le=GENE_MAX["cols"])
    rf_filter_words: int | None = Field(None, ge=1, le=GENE_MAX["rf_filter_words"])
    rf_fmap_words: int | None = Field(None, ge=1, le=GENE_MAX["rf_fmap_words"])
    rf_psum_words: int | None = Field(None, ge=1, le=GENE_MAX["rf_psum_words"])
    dataflow: Dataflow | None = None
    engine: EngineKind | None = None
    lanes: int | None = Field(None, ge=1, le=GENE_MAX["lanes"])

    def inputs(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class StageConfig(Strict):
    """One level of a flow: what it optimizes, when it may refine, the inputs it tries."""

    level: Level
    objectives: list[Literal[METRICS]] = Field(min_length=1)  # type: ignore[valid-type]
    constraints: ConstraintsConfig = ConstraintsConfig()
    min_feasible: int = Field(1, ge=1, description="front members that must meet the constraints")
    algorithm: AlgorithmName | None = None
    population: int | None = Field(None, ge=2, le=MAX_POPULATION)
    generations: int | None = Field(None, ge=1, le=MAX_GENERATIONS)
    candidates: list[CandidateConfig] = Field(default_factory=lambda: [CandidateConfig()],
                                              min_length=1)

    @field_validator("candidates")
    @classmethod
    def _inputs_of_the_level(cls, value: list[CandidateConfig],
                             info: ValidationInfo) -> list[CandidateConfig]:
        level = info.data.get("level")
        if level is None:
            return value
        for candidate in value:
            bad = [k for k in candidate.inputs() if k not in STAGE_INPUTS[level]]
            if bad:
                raise ValueError(f"{', '.join(bad)} cannot be a {level} input; a {level} stage "
                                 f"tries {', '.join(STAGE_INPUTS[level])}")
        return value


class ExperimentConfig(Strict):
    # Field order matters: validators below read the fields declared before them.
    name: str | None = None
    model: ModelRef
    dataset: str | None = None
    accelerator: AcceleratorRef
    dataflow: Dataflow | None = None
    batch: int = Field(1, ge=1, le=MAX_BATCH)
    accelerator_genes: AcceleratorGenesConfig | None = None
    level: Level = "fine"
    mapper_objective: Objective = DEFAULT_OBJECTIVE
    algorithm: AlgorithmName = "nsga2"
    preset: Literal[tuple(PRESETS)] = "quick"  # type: ignore[valid-type]
    population: int | None = Field(None, ge=2, le=MAX_POPULATION)
    generations: int | None = Field(None, ge=1, le=MAX_GENERATIONS)
    objectives: list[Literal[METRICS]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    constraints: ConstraintsConfig = ConstraintsConfig()
    bits: list[int] | None = None
    tied_bits: bool = False
    keep_ends: bool = True
    end_bits: int = Field(16, ge=1, le=32)
    mutation_prob: float = Field(0.4, ge=0, le=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    soga: SogaConfig = SogaConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    execution: ExecutionConfig = ExecutionConfig()
    stages: list[StageConfig] | None = Field(None, min_length=1)

    @field_validator("accelerator_genes")
    @classmethod
    def _genes(cls, value: AcceleratorGenesConfig | None,
               info: ValidationInfo) -> AcceleratorGenesConfig | None:
        accel = accelerator_of(info.data.get("accelerator"))
        if value is None or accel is None:
            return value
        if value.lanes is not None:
            kinds = value.choices("engine") if value.engine is not None else (accel.engine.kind,)
            if "bit-serial" not in kinds:
                raise ValueError("lanes applies to bit-serial engines; the accelerator is "
                                 "vectorized (add engine: [vectorized, bit-serial] to search both)")
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
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
        supported = _supported_bits(info)
        if supported is not None:
            bad = [b for b in value if b not in supported]
            if bad:
                raise ValueError(f"{bad} not supported by {info.data['accelerator']}"
                                 f"{_ENGINES_NOTE if _searches_engine(info) else ''}; it runs "
                                 f"{sorted(supported)}")
        return value

    @field_validator("end_bits")
    @classmethod
    def _end_bits(cls, value: int, info: ValidationInfo) -> int:
        supported = _supported_bits(info)
        if supported is not None and value not in supported:
            raise ValueError(f"{value} not supported by {info.data['accelerator']}"
                             f"{_ENGINES_NOTE if _searches_engine(info) else ''}; it runs "
                             f"{sorted(supported)}")
        return value

    @model_validator(mode="after")
    def _flow_or_single(self) -> ExperimentConfig:
        given = self.model_fields_set
        genes = self.accelerator_genes.given() if self.accelerator_genes else {}
        for key in ("batch", "dataflow"):
            if key in genes and key in given:
                raise ValueError(f"{key} is given both at the top and in accelerator_genes; "
                                 "keep one")
        if not self.stages:
            if self.objectives is None:
                raise ValueError("objectives is required (or give stages for a multi-level flow)")
            return self
        for key in ("level", "objectives"):
            if key in given:
                raise ValueError(f"with stages, each stage names its own {key}; remove the "
                                 f"top-level {key}")
        searched = [n for n, c in genes.items() if len(c) > 1]
        if searched:
            raise ValueError(f"a flow tries accelerators through its stages' candidates; "
                             f"accelerator_genes may only fix knobs (one value), not search "
                             f"{', '.join(searched)}")
        levels = [LEVELS.index(s.level) for s in self.stages]
        if levels != sorted(set(levels)):
            raise ValueError("stages must go from coarse to mid to fine, each level at most once")
        for stage in self.stages:
            for candidate in stage.candidates:
                both = [k for k in candidate.inputs() if k in genes]
                if both:
                    raise ValueError(f"{', '.join(both)} is fixed in accelerator_genes and also "
                                     f"a {stage.level} candidate input; keep one")
        return self


def _check_level(metrics: list[str], info: ValidationInfo) -> None:
    level = info.data.get("level")
    if level is None:
        return
    missing = [m for m in metrics if m in UNAVAILABLE[level]]
    if missing:
        allowed = [m for m in METRICS if m not in UNAVAILABLE[level]]
        raise ValueError(f"{', '.join(missing)} cannot be computed at the {level} level; "
                         f"choose from {', '.join(allowed)}")


_ENGINES_NOTE = " with every searched engine"


def _searches_engine(info: ValidationInfo) -> bool:
    genes = info.data.get("accelerator_genes")
    return genes is not None and genes.engine is not None


def _supported_bits(info: ValidationInfo) -> tuple[int, ...] | None:
    """Bitwidths the accelerator runs with every engine the experiment may give it."""
    accel = accelerator_of(info.data.get("accelerator"))
    if accel is None:
        return None
    return AcceleratorSpace.of(accel, 1, info.data.get("accelerator_genes")).supported_bits()


# Keys a resumed run may change: they do not change what an evaluation computes.
FREE_ON_RESUME: tuple[tuple[str, str], ...] = (
    ("finetune", "threads"), ("finetune", "device"), ("finetune", "data_dir"),
    ("finetune", "cache_dir"), ("execution", "workers"), ("execution", "scheduler"))


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
        return tuple(self.config.objectives or ())

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

    @functools.cached_property
    def _space(self) -> AcceleratorSpace:
        accel = accelerator_of(self.config.accelerator)
        if self.config.dataflow:
            accel = accel.with_dataflow(self.config.dataflow)
        return AcceleratorSpace.of(accel, self.config.batch, self.config.accelerator_genes)

    def space(self) -> AcceleratorSpace:
        """The accelerator knobs: the base (with ``dataflow``), fixed and searched genes."""
        return self._space

    def accelerator(self) -> Accelerator:
        """The design when no knob is searched (the base with the fixed knobs set)."""
        return self.space().fixed_accelerator

    @property
    def batch(self) -> int:
        return self.space().fixed_batch

    def genome(self, workload: Workload, accel: Accelerator) -> BitGenome:
        c = self.config
        space = self.space()
        alleles = tuple(c.bits) if c.bits else space.supported_bits()
        genome = BitGenome.for_layers(workload.name, workload.layer_names, alleles,
                                      tied=c.tied_bits or accel.tied_bits,
                                      keep_ends=c.keep_ends, end_bits=c.end_bits,
                                      accel_loci=tuple((g.name, len(g.choices)) for g in space.genes))
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

    # --- flows (HW-FlowQ's refinement and abstraction) ----------------------------------

    @property
    def stages(self) -> list[StageConfig]:
        return list(self.config.stages or ())

    def stage_experiment(self, stage: int, inputs: Mapping[str, Any]) -> Experiment:
        """The single-level experiment a flow runs at ``stage`` (``hwflow.search.stages``)."""
        return Experiment(self.path, stage_config(self.path, self.config, stage, inputs))


def load_experiment(path: str | Path) -> Experiment:
    path = Path(path)
    data, lines = read_yaml(path)
    with relative_to(path.resolve().parent):
        config = validate(path, data, lines, ExperimentConfig)
    if config.stages:
        check_stages(path, config, lines)
    return Experiment(path=path, config=config)
