"""Accelerator genes: the design knobs co-searched with the bitwidths (SPEC §6).

An experiment's ``accelerator_genes:`` names knobs of its base accelerator and, for each,
either one value (the knob is fixed, e.g. the buffer a flow stage inherited) or the
choices to search (a list, or a range ``{min, max, step}`` / ``{min, max, factor}``).
Every searched knob becomes one more integer locus of the genome, indexing its choices;
``AcceleratorSpace.build`` turns an individual's choices into an ``Accelerator``
(``dataclasses.replace`` on the base) and its batch.

What a knob changes besides its own field, so that candidates stay comparable:
- ``buffer_kb`` scales the buffer's per-access read/write energy linearly with its size,
  relative to the base accelerator (the paper's Spatial table does so within ±8 %: 6 at
  128 KB, 13.84 at 256 KB, 155.35 at 3072 KB, i.e. about 0.05 per KB).
- ``engine`` switches the engine kind: a bit-serial engine runs every width 1..b_max with
  the base's lanes if it was bit-serial, else the paper's 16; a vectorized one runs the
  base's widths if it was vectorized, else 16, 8, 6, 4, 2, 1 (up to b_max).
- ``lanes`` applies to bit-serial engines; a vectorized individual ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from hwflow.config import AcceleratorConfig, Strict
from hwflow.hw.spec import Accelerator, Engine

GENE_NAMES: tuple[str, ...] = ("rows", "cols", "buffer_kb", "rf_filter_words", "rf_fmap_words",
                               "rf_psum_words", "dataflow", "engine", "lanes",
                               "dram_bandwidth", "batch")
VECTORIZED_BITS: tuple[int, ...] = (16, 8, 6, 4, 2, 1)
BIT_SERIAL_LANES = 16  # the paper's BS configurations


class GeneRange(Strict):
    """Choices min, min+step, ... (or min, min·factor, ...) up to max."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    step: float | None = Field(None, gt=0)
    factor: float | None = Field(None, gt=1)

    @model_validator(mode="after")
    def _one_rule(self) -> "GeneRange":
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


DataflowName = Literal["rs", "os", "ws"]
EngineName = Literal["vectorized", "bit-serial"]
WHOLE_GENES = ("rows", "cols", "rf_filter_words", "rf_fmap_words", "rf_psum_words", "lanes", "batch")
NAMED_GENES: dict[str, tuple[str, ...]] = {"dataflow": ("rs", "os", "ws"),
                                           "engine": ("vectorized", "bit-serial")}


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


def engine_of(base: Accelerator, kind: str, lanes: int | None) -> tuple[Engine, tuple[int, ...], bool]:
    """(engine, supported bits, tied bits) of ``base`` switched to ``kind``."""
    b_max = base.engine.b_max
    if kind == "bit-serial":
        default = base.engine.lanes if base.engine.kind == "bit-serial" else BIT_SERIAL_LANES
        bits = (base.supported_bits if base.engine.kind == kind
                else tuple(range(b_max, 0, -1)))
        return Engine(kind, b_max, lanes or default), bits, base.tied_bits and base.engine.kind == kind
    bits = (base.supported_bits if base.engine.kind == kind
            else tuple(b for b in VECTORIZED_BITS if b <= b_max))
    return Engine(kind, b_max, 1), bits, base.tied_bits and base.engine.kind == kind


def apply_genes(base: Accelerator, values: Mapping[str, Any]) -> Accelerator:
    """``base`` with the knobs in ``values`` set (``batch`` is not part of it)."""
    accel = base
    if "rows" in values or "cols" in values:
        accel = replace(accel, rows=int(values.get("rows", accel.rows)),
                        cols=int(values.get("cols", accel.cols)))
    if "buffer_kb" in values:
        size = int(float(values["buffer_kb"]) * 1024)
        scale = size / base.buffer.size_bytes if base.buffer.size_bytes else 1.0
        accel = replace(accel, buffer=replace(
            accel.buffer, size_bytes=size, read_cost=base.buffer.read_cost * scale,
            write_cost=base.buffer.write_cost * scale))
    rf = {f"{k}_words": int(values[f"rf_{k}_words"]) for k in ("filter", "fmap", "psum")
          if f"rf_{k}_words" in values}
    if rf:
        accel = replace(accel, rf=replace(accel.rf, **rf))
    if "dataflow" in values:
        accel = replace(accel, dataflow=values["dataflow"])
    if "engine" in values or "lanes" in values:
        kind = values.get("engine", base.engine.kind)
        engine, bits, tied = engine_of(base, kind, values.get("lanes"))
        accel = replace(accel, engine=engine, supported_bits=bits, tied_bits=tied)
    if "dram_bandwidth" in values:
        accel = replace(accel, dram=replace(accel.dram, bandwidth=float(values["dram_bandwidth"])))
    return accel


@dataclass(frozen=True)
class AcceleratorSpace:
    """The base accelerator, the knobs fixed on it and the knobs searched."""

    base: Accelerator
    batch: int  # the experiment's batch when it is not a gene
    fixed: tuple[tuple[str, Any], ...] = ()
    genes: tuple[Gene, ...] = ()  # searched (two or more choices), in GENE_NAMES order

    @classmethod
    def of(cls, base: Accelerator, batch: int, config: AcceleratorGenesConfig | None) -> "AcceleratorSpace":
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

def accelerator_yaml(accel: Accelerator, name: str | None = None,
                     description: str = "") -> dict[str, Any]:
    """An accelerator as the YAML ``hwflow evaluate --accelerator`` reads (the inverse of
    ``hwflow.config.AcceleratorConfig.build``)."""
    engine: dict[str, Any] = {"kind": accel.engine.kind, "b_max": accel.engine.b_max}
    if accel.engine.kind == "bit-serial":
        engine["lanes"] = accel.engine.lanes
    return {
        "name": name or accel.name, "description": description,
        "array": {"rows": accel.rows, "cols": accel.cols}, "engine": engine,
        "dataflow": accel.dataflow, "word_bits": accel.word_bits, "mac_cost": accel.mac_cost,
        "supported_bits": list(accel.supported_bits), "tied_bits": accel.tied_bits,
        "memory": {
            "dram": {"read_cost": accel.dram.read_cost, "write_cost": accel.dram.write_cost,
                     "bandwidth_bytes_per_cycle": accel.dram.bandwidth},
            "buffer": {"size_kb": (accel.buffer.size_bytes or 0) / 1024,
                       "read_cost": accel.buffer.read_cost, "write_cost": accel.buffer.write_cost},
            "array": {"cost": accel.array_cost},
            "rf": {"filter_words": accel.rf.filter_words, "fmap_words": accel.rf.fmap_words,
                   "psum_words": accel.rf.psum_words, "read_cost": accel.rf.read_cost,
                   "write_cost": accel.rf.write_cost, "shared": accel.rf.shared}}}


def accelerator_from_yaml(data: Mapping[str, Any], source: str = "") -> Accelerator:
    return AcceleratorConfig.model_validate(dict(data)).build(source=source)
