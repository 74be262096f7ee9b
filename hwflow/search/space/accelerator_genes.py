"""Accelerator genes: the design knobs co-searched with the bitwidths (beyond HW-FlowQ, as JAQ and NAHAS do).

An experiment's ``accelerator_genes:`` names knobs of its base accelerator and, for each,
either one value (the knob is fixed, e.g. the buffer a flow stage inherited) or the
choices to search (a list, or a range ``{min, max, step}`` / ``{min, max, factor}``).
Every searched knob becomes one more integer locus of the genome, indexing its choices;
``AcceleratorSpace.build`` turns an individual's choices into an ``Accelerator``
(``dataclasses.replace`` on the base) and its batch.

What each knob does to the accelerator is ``hwflow.accelerator_knobs``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, get_args

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from hwflow.accelerator_knobs import apply_genes, engine_of
from hwflow.config import MAX_BATCH, MAX_BUFFER_KB, MAX_PES_PER_SIDE, MAX_WORDS, Strict
from hwflow.hw.spec import Accelerator, Dataflow, EngineKind

GENE_NAMES: tuple[str, ...] = ("rows", "cols", "buffer_kb", "rf_filter_words", "rf_fmap_words",
                               "rf_psum_words", "dataflow", "engine", "lanes",
                               "dram_bandwidth", "batch")
class GeneRange(Strict):
    """Choices min, min+step, ... (or min, min·factor, ...) up to max."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    step: float | None = Field(None, gt=0)
    factor: float | None = Field(None, gt=1)

    @model_validator(mode="after")
    def _one_rule(self) -> GeneRange:
        if (self.step is None) == (self.factor is None):
            raise ValueError("give exactly one of step or factor")
        if self.max < self.min:
            raise ValueError("max is below min")
        return self

    def values(self) -> list[float]:
        out, v = [], self.min
        while v <= self.max * (1 + 1e-12):
            out.append(v)
            v = v + self.step if self.step is not None else v * self.factor
            if len(out) > 10_000:
                raise ValueError("more than 10000 choices; use a coarser step")
        return out


WHOLE_GENES = ("rows", "cols", "rf_filter_words", "rf_fmap_words", "rf_psum_words", "lanes", "batch")
NAMED_GENES: dict[str, tuple[str, ...]] = {"dataflow": get_args(Dataflow),
                                           "engine": get_args(EngineKind)}
# The accelerator schema's bounds (hwflow.config), for the knobs that set those fields.
GENE_MAX: dict[str, float] = {"rows": MAX_PES_PER_SIDE, "cols": MAX_PES_PER_SIDE,
                              "buffer_kb": MAX_BUFFER_KB, "rf_filter_words": MAX_WORDS,
                              "rf_fmap_words": MAX_WORDS, "rf_psum_words": MAX_WORDS,
                              "lanes": 64, "dram_bandwidth": 1e9, "batch": MAX_BATCH}


def _choices(name: str, raw: Any) -> tuple[Any, ...]:
    """A knob's YAML value (one value, a list, or a range) as its tuple of choices."""
    if isinstance(raw, dict):
        try:
            raw = GeneRange.model_validate(raw).values()
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    if not values:
        raise ValueError("give at least one choice")
    if name in NAMED_GENES:
        bad = [v for v in values if v not in NAMED_GENES[name]]
        if bad:
            raise ValueError(f"{bad} not allowed; choose from {', '.join(NAMED_GENES[name])}")
    else:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise ValueError(f"choices must be numbers, got {values}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"choices must be finite numbers, got {values}")
        if name in GENE_MAX and max(values) > GENE_MAX[name]:
            raise ValueError(f"choices must be at most {GENE_MAX[name]:g}, got {max(values):g}")
        if name in WHOLE_GENES:
            if any(float(v) != int(v) for v in values):
                raise ValueError(f"choices must be whole numbers, got {values}")
            values = [int(v) for v in values]
        else:
            values = [float(v) for v in values]
        if min(values) <= 0:
            raise ValueError(f"choices must be positive, got {values}")
    if len(set(values)) != len(values):
        raise ValueError("a choice is listed twice")
    return tuple(values)


class AcceleratorGenesConfig(Strict):
    """Per knob: one value fixes it; a list or a range ({min, max, step|factor}) searches it."""

    rows: tuple[Any, ...] | None = None
    cols: tuple[Any, ...] | None = None
    buffer_kb: tuple[Any, ...] | None = Field(None, description="KiB")
    rf_filter_words: tuple[Any, ...] | None = None
    rf_fmap_words: tuple[Any, ...] | None = None
    rf_psum_words: tuple[Any, ...] | None = None
    dataflow: tuple[Any, ...] | None = None
    engine: tuple[Any, ...] | None = None
    lanes: tuple[Any, ...] | None = None
    dram_bandwidth: tuple[Any, ...] | None = Field(None, description="bytes per cycle")
    batch: tuple[Any, ...] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any, info: ValidationInfo) -> tuple[Any, ...] | None:
        return None if value is None else _choices(info.field_name, value)

    def choices(self, name: str) -> tuple[Any, ...]:
        return getattr(self, name)

    def given(self) -> dict[str, tuple[Any, ...]]:
        return {n: getattr(self, n) for n in GENE_NAMES if getattr(self, n) is not None}


@dataclass(frozen=True)
class Gene:
    name: str
    choices: tuple[Any, ...]


@dataclass(frozen=True)
class AcceleratorSpace:
    """The base accelerator, the knobs fixed on it and the knobs searched."""

    base: Accelerator
    batch: int  # the experiment's batch when it is not a gene
    fixed: tuple[tuple[str, Any], ...] = ()
    genes: tuple[Gene, ...] = ()  # searched (two or more choices), in GENE_NAMES order

    @classmethod
    def of(cls, base: Accelerator, batch: int, config: AcceleratorGenesConfig | None) -> AcceleratorSpace:
        given = config.given() if config else {}
        fixed = tuple((n, c[0]) for n, c in given.items() if len(c) == 1)
        genes = tuple(Gene(n, c) for n, c in given.items() if len(c) > 1)
        return cls(base, batch, fixed, genes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.genes)

    @property
    def fixed_accelerator(self) -> Accelerator:
        """The base with the fixed knobs set: the design when nothing is searched, and the
        reference (uncompressed network on it) for scales and SOGA's φ*."""
        return apply_genes(self.base, dict(self.fixed))

    @property
    def fixed_batch(self) -> int:
        return int(dict(self.fixed).get("batch", self.batch))

    def values(self, index: Any) -> dict[str, Any]:
        """The searched knobs' values of one individual's accelerator loci."""
        return {g.name: g.choices[int(i)] for g, i in zip(self.genes, index)}

    def build(self, values: Mapping[str, Any]) -> tuple[Accelerator, int]:
        """The accelerator and batch of an individual (searched knobs in ``values``)."""
        merged = {**dict(self.fixed), **values}
        return apply_genes(self.base, merged), int(merged.get("batch", self.batch))

    def supported_bits(self) -> tuple[int, ...]:
        """Bitwidths every engine choice runs (the base's when the engine is not a knob)."""
        kinds = dict(self.fixed).get("engine")
        kinds = (kinds,) if kinds else next((g.choices for g in self.genes if g.name == "engine"),
                                            (self.base.engine.kind,))
        sets = [engine_of(self.base, k, None)[1] for k in kinds]
        return tuple(b for b in sets[0] if all(b in s for s in sets[1:]))
