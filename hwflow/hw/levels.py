"""One entry point to the hardware model μ: ``estimate(...) → Report`` at any level.

A network's estimate is a sum of per-layer costs, each asked as a ``LayerQuery`` and
cached in-process under everything that changes it (``LayerQuery.key``: layer shape,
w_bits, a_bits, the next layer's a_bits, accelerator, batch, objective, level), so a
search that revisits a layer configuration pays nothing.
The cache is bounded (least recently used entries go first), so a long search or sweep
over many accelerators never grows it without limit.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Literal

from hwflow.hw.area import accelerator_area
from hwflow.hw.coarse import coarse_layer_cost
from hwflow.hw.query import DEFAULT_OBJECTIVE, LayerQuery
from hwflow.hw.report import LayerCost, LayerResult, Report
from hwflow.hw.spec import Accelerator, check_bits
from hwflow.strategy import Strategy
from hwflow.workload import Workload

Level = Literal["coarse", "mid", "fine"]
Objective = Literal["energy", "latency", "edp"]
LEVELS: tuple[str, ...] = ("coarse", "mid", "fine")
OBJECTIVES: tuple[str, ...] = ("energy", "latency", "edp")

LayerCostFn = Callable[[LayerQuery], LayerCost]

CACHE_SIZE = 100_000  # layer costs kept; one is a few hundred bytes
_cache: OrderedDict[tuple, LayerCost] = OrderedDict()


def clear_cache() -> None:
    _cache.clear()


def _cost_fn(level: str) -> LayerCostFn:
    if level == "coarse":
        return coarse_layer_cost
    if level == "mid":
        from hwflow.hw.mid import mid_layer_cost

        return mid_layer_cost
    if level == "fine":
        from hwflow.hw.fine import fine_layer_cost

        return fine_layer_cost
    raise ValueError(f"unknown level {level!r}; choose one of: {', '.join(LEVELS)}")


def layer_cost(query: LayerQuery, level: str = "fine") -> LayerCost:
    """Cost of one layer at ``level``, cached."""
    key = query.key(level)
    cost = _cache.get(key)
    if cost is None:
        cost = _cost_fn(level)(query)
        _cache[key] = cost
        if len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return cost


def estimate(workload: Workload, strategy: Strategy, accel: Accelerator,
             level: str = "fine", batch: int = 1, objective: str = DEFAULT_OBJECTIVE) -> Report:
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
        cost = layer_cost(LayerQuery(layer, bits[i].w_bits, bits[i].a_bits, out_bits, accel,
                                     batch, objective), level)
        results.append(LayerResult(layer.name, bits[i].w_bits, bits[i].a_bits, out_bits, cost))
    return Report(model=workload.name, accelerator=accel.name, level=level, batch=batch,
                  dataflow=accel.dataflow, engine=accel.engine.kind, layers=tuple(results),
                  area=accelerator_area(accel))
