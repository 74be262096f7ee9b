"""What an estimate returns: a cost per layer and their totals, in the JSON contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BREAKDOWN_KEYS: tuple[str, ...] = ("dram", "sram", "array", "rf", "mac")


@dataclass(frozen=True)
class LayerCost:
    """One layer's cost at one level, for the whole batch.

    ``energy``/``breakdown``/``mapping`` are None where the level cannot compute them
    (Coarse: no energy; Mid: no breakdown) — never zero-filled.
    """

    macs: int
    frac_ops: float
    dram_bytes: float
    latency_cycles: float
    energy: float | None = None
    breakdown: dict[str, float] | None = None
    mapping: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # passes, ratios, mapspace size


@dataclass(frozen=True)
class LayerResult:
    name: str
    w_bits: int
    a_bits: int
    out_bits: int
    cost: LayerCost


@dataclass(frozen=True)
class Report:
    model: str
    accelerator: str
    level: str
    batch: int
    dataflow: str
    engine: str
    layers: tuple[LayerResult, ...]
    area: float | None = None  # mm², see hwflow.hw.area

    def total(self, metric: str) -> float | None:
        values = [getattr(r.cost, metric) for r in self.layers]
        return None if any(v is None for v in values) else float(sum(values))

    @property
    def energy_breakdown(self) -> dict[str, float] | None:
        if any(r.cost.breakdown is None for r in self.layers):
            return None
        return {k: float(sum(r.cost.breakdown[k] for r in self.layers)) for k in BREAKDOWN_KEYS}

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key in ("macs", "frac_ops", "dram_bytes", "latency_cycles", "energy"):
            value = self.total(key)
            if value is not None:
                out[key] = value
        if self.area is not None:
            out["area"] = self.area
        return out

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model, "accelerator": self.accelerator, "level": self.level,
            "batch": self.batch, "dataflow": self.dataflow, "engine": self.engine,
            "totals": self.totals(),
        }
        breakdown = self.energy_breakdown
        if breakdown is not None:
            data["energy_breakdown"] = breakdown
        layers = []
        for r in self.layers:
            row: dict[str, Any] = {"name": r.name, "macs": r.cost.macs, "w_bits": r.w_bits,
                                   "a_bits": r.a_bits, "frac_ops": r.cost.frac_ops,
                                   "dram_bytes": r.cost.dram_bytes,
                                   "latency_cycles": r.cost.latency_cycles}
            if r.cost.energy is not None:
                row["energy"] = r.cost.energy
            if r.cost.breakdown is not None:
                row["energy_breakdown"] = dict(r.cost.breakdown)
            if r.cost.mapping is not None:
                row["mapping"] = r.cost.mapping
            row.update(r.cost.details)
            layers.append(row)
        data["layers"] = layers
        return data
