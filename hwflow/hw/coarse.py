"""Coarse level: the CNN and the arithmetic only (HW-FlowQ's Coarse level).

MACs, Frac.OPs (Eq. 5), ideal DRAM traffic (every input, weight and output moved exactly
once, packed word-aligned at its own bitwidth) and ideal cycles (the array fully busy).
"""

from __future__ import annotations

import math

from hwflow.hw.engines import frac_ops, macs_per_pe_cycle, stored_bits
from hwflow.hw.query import LayerQuery
from hwflow.hw.report import LayerCost
from hwflow.hw.spec import Accelerator
from hwflow.workload import Layer


def ideal_dram_bits(layer: Layer, w_bits: int, a_bits: int, out_bits: int,
                    word_bits: int, batch: int) -> int:
    return (stored_bits(batch * layer.input_count, a_bits, word_bits)
            + stored_bits(layer.weight_count, w_bits, word_bits)
            + stored_bits(batch * layer.output_count, out_bits, word_bits))


def ideal_cycles(macs: int, accel: Accelerator, w_bits: int, a_bits: int) -> float:
    return float(math.ceil(macs / (accel.pes * macs_per_pe_cycle(accel.engine, w_bits, a_bits))))


def coarse_layer_cost(query: LayerQuery) -> LayerCost:
    layer, w_bits, a_bits, batch = query.layer, query.w_bits, query.a_bits, query.batch
    out_bits, accel = query.out_bits, query.accelerator
    macs = layer.macs * batch
    return LayerCost(
        macs=macs,
        frac_ops=frac_ops(macs, accel.engine, w_bits, a_bits),
        dram_bytes=ideal_dram_bits(layer, w_bits, a_bits, out_bits, accel.word_bits, batch) / 8,
        latency_cycles=ideal_cycles(macs, accel, w_bits, a_bits),
    )
