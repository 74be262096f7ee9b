"""One layer's cost question: the layer, its bitwidths, the accelerator, the batch and the
Fine mapper's objective. Every level's cost function takes one, and the in-process layer
cache keys on it (``key``: by shape and by what changes a cost, not by names)."""

from __future__ import annotations

from dataclasses import dataclass

from hwflow.hw.spec import Accelerator
from hwflow.workload import Layer

# What the Fine mapper minimizes by default: latency, ties broken by energy. ZigZag's
# default criterion (api ``opt="latency"``); it reproduces the HW-FlowQ paper's Fine
# tables, whose latencies are those of the fastest mapping (docs/hardware-model.md).
DEFAULT_OBJECTIVE = "latency"


@dataclass(frozen=True)
class LayerQuery:
    layer: Layer
    w_bits: int
    a_bits: int
    out_bits: int  # the next layer's a_bits: the width outputs are written at
    accelerator: Accelerator
    batch: int = 1
    objective: str = DEFAULT_OBJECTIVE  # what the Fine mapper minimizes (Fine only)

    def key(self, level: str) -> tuple:
        """Everything that changes this layer's cost at ``level``."""
        return (level, self.layer.shape_key(), self.w_bits, self.a_bits, self.out_bits,
                self.accelerator.key(), self.batch,
                self.objective if level == "fine" else None)
