"""The metrics a solution is scored on: their names, which is maximized, which level has each.

Every metric is reported as measured: accuracy as a fraction (maximized; top-1, or mean IoU
for a segmentation model: hwflow.accuracy.tasks), the hardware metrics (minimized) as the
hardware model reports them.
"""

from __future__ import annotations

METRICS: tuple[str, ...] = ("accuracy", "frac_ops", "dram_bytes", "energy", "latency_cycles",
                            "edp", "area")
HARDWARE_METRICS: tuple[str, ...] = METRICS[1:]
MAXIMIZED = frozenset({"accuracy"})
# What each hardware level cannot compute (HW-FlowQ's abstraction levels: Coarse has no energy model).
UNAVAILABLE: dict[str, frozenset[str]] = {
    "coarse": frozenset({"energy", "edp"}), "mid": frozenset(), "fine": frozenset()}
