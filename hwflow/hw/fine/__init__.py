"""Fine level of the hardware model (HW-FlowQ's Fine level): a loop-nest mapper over spatial unrolling,
tiling and loop orders per dataflow, with per-action energy costs.

- ``mapspace``: which mappings exist per dataflow (RS, WS, OS) and engine;
- ``kernel``: the Numba search and cost kernel; ``layout``: the arrays it returns;
- ``build_aot``: compiles the kernel ahead of time; ``backend``: picks that module when it
  matches the sources, else the JIT;
- ``reference``: the same cost model and mapspace in plain Python, for tests;
- ``mapper``: ``fine_layer_cost`` and the printable mapping.
"""

from hwflow.hw.fine.mapper import fine_layer_cost

__all__ = ["fine_layer_cost"]
