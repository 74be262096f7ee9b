"""Accelerator knobs: a base accelerator with some of its design parameters changed
(beyond HW-FlowQ, as JAQ and NAHAS do).

What a knob changes besides its own field, so that candidates stay comparable:
- ``buffer_kb`` scales the buffer's per-access read/write energy linearly with its size,
  relative to the base accelerator (the paper's Spatial table does so within ±8 %: 6 at
  128 KB, 13.84 at 256 KB, 155.35 at 3072 KB, i.e. about 0.05 per KB).
- ``engine`` switches the engine kind: a bit-serial engine runs every width 1..b_max with
  the base's lanes if it was bit-serial, else the paper's 16; a vectorized one runs the
  base's widths if it was vectorized, else 16, 8, 6, 4, 2, 1 (up to b_max).
- ``lanes`` applies to bit-serial engines; a vectorized individual ignores it.

The search co-searches these knobs (``hwflow.search.space.accelerator_genes``); run
reports and sweeps rebuild a solution's accelerator with the same function.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from hwflow.hw.spec import Accelerator, Engine

VECTORIZED_BITS: tuple[int, ...] = (16, 8, 6, 4, 2, 1)
BIT_SERIAL_LANES = 16  # the paper's BS configurations


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
