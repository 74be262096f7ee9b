"""Shared fixtures: small hand-made accelerators and layers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwflow.hw.spec import Accelerator, Engine, MemoryLevel, RegisterFiles
from hwflow.workload import Layer


def make_accel(rows: int = 4, cols: int = 4, buffer_kb: float = 16, kind: str = "vectorized",
               lanes: int = 1, bandwidth: float | None = 8.0, dataflow: str = "rs",
               rf: tuple[int, int, int] = (224, 12, 16)) -> Accelerator:
    bits = tuple(range(1, 17)) if kind == "bit-serial" else (16, 8, 6, 4, 2, 1)
    return Accelerator(
        name="test", rows=rows, cols=cols, engine=Engine(kind, 16, lanes), dataflow=dataflow,
        dram=MemoryLevel(200, 200, None, bandwidth),
        buffer=MemoryLevel(6, 6, int(buffer_kb * 1024)), array_cost=2,
        rf=RegisterFiles(*rf, 1, 1), supported_bits=bits)


@pytest.fixture
def small_accel() -> Accelerator:
    return make_accel()


@pytest.fixture
def conv_layer() -> Layer:
    return Layer("conv", "conv", c_i=8, c_o=16, h_i=8, w_i=8, h_o=8, w_o=8, k_h=3, k_w=3,
                 stride=1, padding=1)


__all__ = ["make_accel", "replace"]
