"""Sweep files (``hwflow sweep``): one experiment repeated over a grid of settings.

A sweep file names a ``base`` (what every point shares), a ``grid`` (keys → lists of values;
every combination is a point) and/or ``points`` (explicit combinations, crossed with the
grid). Keys are the base's keys; dotted keys reach nested ones (``finetune.epochs``).

Two kinds:
- ``search``: the base is an experiment (a file or inline) and every point is a normal
  search into its own run directory;
- ``evaluate``: no search; every point evaluates one uniform (or given) strategy with the
  hardware model (``hwflow.hw.levels.estimate``) and, when asked, its accuracy ψ.

This module turns a file into a validated ``Sweep``: every point is validated when the sweep
is loaded, so a bad value stops it before anything runs, with one line naming the file, the
key, the line its value came from and the point. Running is ``hwflow.sweeps.run``,
plotting ``hwflow.sweeps.plots``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from hwflow.accelerator_knobs import apply_genes
from hwflow.accuracy.schemes import SCHEMES
from hwflow.catalog import is_path, load_accelerator, load_workload
from hwflow.config import MAX_BATCH, MAX_EPOCHS, MAX_SEED, ConfigError, Strict, read_yaml, validate
from hwflow.errors import HwflowError
from hwflow.hw.levels import LEVELS, OBJECTIVES
from hwflow.hw.spec import Accelerator, Dataflow, check_bits
from hwflow.search.experiment import Experiment, ExperimentConfig, FinetuneConfig, load_experiment
from hwflow.search.paths import relative_to, resolve_path
from hwflow.search.references import AcceleratorRef, ModelRef, accelerator_of, user_error
from hwflow.search.stages import check_stages
from hwflow.strategy import Strategy, load_strategy, uniform_strategy

THROUGHPUT = "frames_per_cycle"
# What an evaluate point reports (besides its settings), in CSV order.
EVALUATE_METRICS: tuple[str, ...] = ("accuracy", "float_accuracy", "macs", "frac_ops",
                                     "dram_bytes", "latency_cycles", THROUGHPUT, "energy",
                                     "area")
_KEY = re.compile(r"^[A-Za-z_]\w*(\.([A-Za-z_]\w*|\d+))*$")


# --- the sweep file ------------------------------------------------------------------------

def _check_keys(keys: Sequence[str]) -> None:
    for key in keys:
        if not _KEY.match(key):
            raise ValueError(f"{key!r} is not a key; write names joined by dots, e.g. "
                             "finetune.epochs")


class PlotConfig(Strict):
    """The evaluate kind's line plot; every key defaults from the grid (docs/sweep.md)."""

    x: str | None = None
    metrics: list[Literal[EVALUATE_METRICS]] | None = Field(None, min_length=1)  # type: ignore[valid-type]
    color: str | None = None
    style: str | None = None
    logx: bool = False
    logy: bool = False


MAX_POINTS = 1000  # each is validated on load (a search point in milliseconds)


class SweepConfig(Strict):
    name: str | None = None
    kind: Literal["search", "evaluate"] = "search"
    base: str | dict[str, Any]
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    points: list[Annotated[dict[str, Any], Field(min_length=1)]] = []
    plot: PlotConfig | None = None

    @field_validator("base")
    @classmethod
    def _base(cls, value: str | dict[str, Any], info: ValidationInfo) -> str | dict[str, Any]:
        if isinstance(value, str):
            if info.data.get("kind") == "evaluate":
                raise ValueError("an evaluate sweep takes its base inline (a mapping of "
                                 "model, accelerator, bits, ...)")
            value = resolve_path(value)
            if not Path(value).is_file():
                raise ValueError(f"no experiment file {value}")
        return value

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        _check_keys(list(value))
        return value

    @field_validator("points")
    @classmethod
    def _points(cls, value: list[dict[str, Any]], info: ValidationInfo) -> list[dict[str, Any]]:
        for point in value:
            _check_keys(list(point))
            both = sorted(set(point) & set(info.data.get("grid") or {}))
            if both:
                raise ValueError(f"{', '.join(both)} is in the grid too; give each key in "
                                 "one place")
        return value

    @model_validator(mode="after")
    def _size(self) -> SweepConfig:
        count = math.prod(len(v) for v in self.grid.values()) * max(1, len(self.points))
        if count > MAX_POINTS:
            raise ValueError(f"the grid and points make {count:,} sweep points; at most "
                             f"{MAX_POINTS:,} (split the sweep)")
        return self

    @field_validator("plot")
    @classmethod
    def _plot(cls, value: PlotConfig | None, info: ValidationInfo) -> PlotConfig | None:
        if value is None:
            return None
        if info.data.get("kind") != "evaluate":
            raise ValueError("applies to evaluate sweeps; a search sweep draws its fronts, "
                             "leaders and hypervolumes")
        keys = set(info.data.get("grid") or {}) | {k for p in info.data.get("points") or []
                                                  for k in p}
        for name in ("x", "color", "style"):
            chosen = getattr(value, name)
            if chosen is not None and chosen not in keys:
                raise ValueError(f"{name}: {chosen!r} is not a grid or points key; choose "
                                 f"from {', '.join(sorted(keys)) or '(none)'}")
        return value


# --- the evaluate kind's points --------------------------------------------------------------

class AccuracyConfig(FinetuneConfig):
    """ψ of an evaluate point: a brief fine-tune, as ``hwflow accuracy`` does (an
    experiment's ``finetune`` settings, plus the data set and seed a search sets elsewhere)."""

    dataset: str | None = None  # default: the model's own
    epochs: float = Field(1.0, gt=0, le=MAX_EPOCHS)
    scheme: Literal[tuple(SCHEMES)] = "dorefa-pact"  # type: ignore[valid-type]
    seed: int = Field(0, ge=0, le=MAX_SEED)


class EvaluatePoint(Strict):
    # Field order matters: validators read the fields declared before them.
    name: str | None = None  # the point's label in the CSV and plots
    model: ModelRef
    accelerator: AcceleratorRef
    dataflow: Dataflow | None = None
    buffer_kb: float | None = Field(None, gt=0, description="override the global buffer (KiB)")
    dram_bandwidth: float | None = Field(None, gt=0, description="override, bytes per cycle")
    level: Literal[LEVELS] = "fine"  # type: ignore[valid-type]
    batch: int = Field(1, ge=1, le=MAX_BATCH)
    objective: Literal[OBJECTIVES] = "latency"  # type: ignore[valid-type]
    keep_ends: bool = True
    end_bits: int = Field(16, ge=1, le=32)
    bits: int | list[int] | None = None  # W or [W, A]; 16 when no strategy is given
    strategy: str | None = None
    accuracy: AccuracyConfig | None = None

    @field_validator("end_bits")
    @classmethod
    def _end_bits(cls, value: int, info: ValidationInfo) -> int:
        accel = accelerator_of(info.data.get("accelerator"))
        if accel is not None and info.data.get("keep_ends", True):
            _supported(accel, value, value)
        return value

    @field_validator("bits")
    @classmethod
    def _bits(cls, value: int | list[int] | None, info: ValidationInfo) -> int | list[int] | None:
        if value is None:
            return None
        pair = [value] if isinstance(value, int) else value
        if not 1 <= len(pair) <= 2:
            raise ValueError("give W or [W, A]")
        accel = accelerator_of(info.data.get("accelerator"))
        if accel is not None:
            _supported(accel, pair[0], pair[-1])
        return value

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("bits") is not None:
            raise ValueError("give bits or strategy, not both")
        value = resolve_path(value)
        model, accel = info.data.get("model"), accelerator_of(info.data.get("accelerator"))
        try:
            strategy = load_strategy(value)
            if model is not None:
                workload = load_workload(model)
                if strategy.model != workload.name:
                    raise ValueError(f"{value} is a strategy for {strategy.model!r}, not "
                                     f"{workload.name!r}")
                strategy.check_matches(workload)
            if accel is not None:
                for layer in strategy.layers:
                    check_bits(accel, layer.w_bits, layer.a_bits, layer.name)
        except HwflowError as exc:
            raise user_error(exc) from None
        return value

    def accel(self) -> Accelerator:
        """The named accelerator with this point's knobs, set as a co-search sets its genes
        (a resized buffer's access energy scales with its size)."""
        knobs = {"dataflow": self.dataflow, "buffer_kb": self.buffer_kb,
                 "dram_bandwidth": self.dram_bandwidth}
        return apply_genes(load_accelerator(self.accelerator),
                           {k: v for k, v in knobs.items() if v is not None})

    def strategy_for(self, workload) -> Strategy:
        if self.strategy is not None:
            return load_strategy(self.strategy)
        pair = [16] if self.bits is None else [self.bits] if isinstance(self.bits, int) else self.bits
        return uniform_strategy(workload, pair[0], pair[-1], keep_ends=self.keep_ends,
                                end_bits=self.end_bits)


def _supported(accel: Accelerator, w_bits: int, a_bits: int) -> None:
    try:
        check_bits(accel, w_bits, a_bits, "every")
    except HwflowError as exc:
        raise ValueError(str(exc).removeprefix("layer every: ")) from None


# --- grid points ---------------------------------------------------------------------------

def short_value(value: Any) -> str:
    """A value as it appears in a point's label and folder name."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return Path(value.split(":")[0]).stem if is_path(value) else value
    if isinstance(value, list):
        return "+".join(short_value(v) for v in value)
    if isinstance(value, dict):
        return "+".join(f"{k}-{short_value(v)}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class GridPoint:
    """One combination: (dotted key, value) pairs, and each value's line in the sweep file."""

    values: tuple[tuple[str, Any], ...]
    lines: tuple[int | None, ...]

    @property
    def label(self) -> str:
        """Its ``name`` if it sets one, else its keys and values."""
        if "name" in dict(self.values):
            return str(dict(self.values)["name"])
        return ", ".join(f"{k}={short_value(v)}" for k, v in self.values) or "base"

    @property
    def folder(self) -> str:
        """Its run directory's name: the label, made safe for file names."""
        text = self.label if "name" in dict(self.values) else \
            "_".join(f"{k}={short_value(v)}" for k, v in self.values) or "base"
        slug = re.sub(r"[^\w.=+-]", "-", text)
        if len(slug) > 100:
            digest = hashlib.sha256(json.dumps(self.values).encode()).hexdigest()[:8]
            slug = f"{slug[:90]}-{digest}"
        return slug

    def value(self, key: str, default: Any = None) -> Any:
        return dict(self.values).get(key, default)


def expand(config: SweepConfig, lines: dict[tuple, int]) -> tuple[GridPoint, ...]:
    """Every combination of the grid (the first key varies slowest), each crossed with
    every entry of ``points`` (or alone when there are none)."""
    grid = [[(key, value, lines.get(("grid", key, i))) for i, value in enumerate(values)]
            for key, values in config.grid.items()]
    extra = [[(key, value, lines.get(("points", j, key))) for key, value in point.items()]
             for j, point in enumerate(config.points)] or [[]]
    out: list[GridPoint] = []
    for combo in itertools.product(*grid):
        for entry in extra:
            items = [*combo, *entry]
            out.append(GridPoint(tuple((k, v) for k, v, _ in items),
                                 tuple(line for _, _, line in items)))
    seen: dict[str, GridPoint] = {}
    for point in out:
        if point.folder in seen:
            raise ConfigError(f"grid points '{seen[point.folder].label}' and '{point.label}' "
                              f"would share the run directory {point.folder}; make them differ")
        seen[point.folder] = point
    return tuple(out)


def _parts(key: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in key.split("."))


def _apply(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set a dotted key in nested mappings (and lists, by index), creating mappings."""
    node: Any = data
    parts = _parts(key)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict) and isinstance(part, str):
            if last:
                node[part] = copy.deepcopy(value)
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            if last:
                node[part] = copy.deepcopy(value)
            else:
                node = node[part]
        else:
            reached = ".".join(str(p) for p in parts[:i]) or "(top level)"
            raise ConfigError(f"{where} key '{key}': '{reached}' has no entry {part!r} to set")


def _point_data(path: Path, base: dict[str, Any], base_lines: dict[tuple, int],
                point: GridPoint) -> tuple[dict[str, Any], dict[tuple, int]]:
    data = copy.deepcopy(base)
    lines = dict(base_lines)
    for (key, value), line in zip(point.values, point.lines):
        where = f"{path}:" + (f" line {line}" if line else "")
        _apply(data, key, value, where)
        parts = _parts(key)
        lines = {k: v for k, v in lines.items() if k[:len(parts)] != parts}
        if line is not None:
            lines[parts] = line
    return data, lines


def _validate_point(path: Path, schema: type[BaseModel], data: dict[str, Any],
                    lines: dict[tuple, int], point: GridPoint) -> Any:
    """``data`` validated against ``schema``; an error names the sweep file, the key, the
    line its value came from, and the point."""
    with relative_to(path.resolve().parent):
        try:
            return validate(path, data, lines, schema)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (grid point {point.label})") from None


# --- loading -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sweep:
    path: Path
    config: SweepConfig
    points: tuple[GridPoint, ...]
    # search: one Experiment per point; evaluate: one EvaluatePoint per point
    settings: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.config.name or self.path.stem

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys, in the order of the grid and then the points."""
        return tuple(dict.fromkeys(k for p in self.points for k, _ in p.values))


def _base_of(path: Path, config: SweepConfig,
             lines: dict[tuple, int]) -> tuple[dict[str, Any], dict[tuple, int]]:
    if isinstance(config.base, str):
        # A base file must be a valid experiment by itself (its errors name it); its paths
        # come back resolved, so the points resolve theirs against the sweep file alone.
        exp = load_experiment(config.base)
        return exp.config.model_dump(mode="json", exclude_unset=True), {}
    return dict(config.base), {k[1:]: v for k, v in lines.items()
                               if k[:1] == ("base",) and len(k) > 1}


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    data, lines = read_yaml(path)
    with relative_to(path.resolve().parent):
        config = validate(path, data, lines, SweepConfig)
    points = expand(config, lines)
    base, base_lines = _base_of(path, config, lines)
    settings: list[Any] = []
    for point in points:
        point_data, point_lines = _point_data(path, base, base_lines, point)
        if config.kind == "search":
            point_data["name"] = point.label  # plot titles; stable across reruns
            exp_config = _validate_point(path, ExperimentConfig, point_data, point_lines, point)
            exp = Experiment(path=path, config=exp_config)
            if exp.stages:  # every stage's experiment with each candidate, as a flow's load does
                try:
                    check_stages(path, exp_config, point_lines)
                except ConfigError as exc:
                    raise ConfigError(f"{exc} (grid point {point.label})") from None
            settings.append(exp)
        else:
            settings.append(_validate_point(path, EvaluatePoint, point_data, point_lines, point))
    return Sweep(path=path, config=config, points=points, settings=tuple(settings))
