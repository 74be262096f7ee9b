"""One entry point to the hardware model μ: ``estimate(...) → Report`` at any level.

A network's estimate is a sum of per-layer costs, each cached in-process under everything
that changes it (layer shape, w_bits, a_bits, the next layer's a_bits, accelerator,
batch, objective, level), so a search that revisits a layer configuration pays nothing.
"""

from __future__ import annotations

from typing import Callable, Literal

from hwflow.hw.area import accelerator_area
from hwflow.hw.coarse import coarse_layer_cost
from hwflow.hw.report import LayerCost, LayerResult, Report
from hwflow.hw.spec import Accelerator, check_bits
from hwflow.strategy import Strategy
from hwflow.workload import Layer, Workload

Level = Literal["coarse", "mid", "fine"]
Objective = Literal["energy", "latency", "edp"]
LEVELS: tuple[str, ...] = ("coarse", "mid", "fine")
OBJECTIVES: tuple[str, ...] = ("energy", "latency", "edp")

LayerCostFn = Callable[[Layer, int, int, int, Accelerator, int, str], LayerCost]

_cache: dict[tuple, LayerCost] = {}


def clear_cache() -> None:
    _cache.clear()


def _cost_fn(level: str) -> LayerCostFn:
    if level == "coarse":
        return lambda layer, w, a, o, accel, batch, objective: coarse_layer_cost(
            layer, w, a, o, accel, batch)
    if level == "mid":
        from hwflow.hw.mid import mid_layer_cost

        return lambda layer, w, a, o, accel, batch, objective: mid_layer_cost(
            layer, w, a, o, accel, batch)
    if level == "fine":
        from hwflow.hw.fine import fine_layer_cost

        return fine_layer_cost
    raise ValueError(f"unknown level {level!r}; choose one of: {', '.join(LEVELS)}")


def layer_cost(layer: Layer, w_bits: int, a_bits: int, out_bits: int, accel: Accelerator,
               batch: int = 1, level: str = "fine", objective: str = "energy") -> LayerCost:
    """Cost of one layer, cached."""
    key = (level, layer.shape_key(), w_bits, a_bits, out_bits, accel.key(), batch,
           objective if level == "fine" else None)
    cost = _cache.get(key)
    if cost is None:
        cost = _cost_fn(level)(layer, w_bits, a_bits, out_bits, accel, batch, objective)
        _cache[key] = cost
    return cost


def estimate(workload: Workload, strategy: Strategy, accel: Accelerator,
             level: str = "fine", batch: int = 1, objective: str = "energy") -> Report:
    """Estimate a quantized CNN on an accelerator at one abstraction level."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of: {', '.join(LEVELS)}")
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    strategy.check_matches(workload)
    bits = strategy.layers
    for layer_bits in bits:
        check_bits(accel, layer_bits.w_bits, layer_bits.a_bits, layer_bits.name)
    results = []
    for i, layer in enumerate(workload.layers):
        out_bits = bits[i + 1].a_bits if i + 1 < len(bits) else accel.word_bits
        cost = layer_cost(layer, bits[i].w_bits, bits[i].a_bits, out_bits, accel, batch,
                          level, objective)
        results.append(LayerResult(layer.name, bits[i].w_bits, bits[i].a_bits, out_bits, cost))
    return Report(model=workload.name, accelerator=accel.name, level=level, batch=batch,
                  dataflow=accel.dataflow, engine=accel.engine.kind, layers=tuple(results),
                  area=accelerator_area(accel))
