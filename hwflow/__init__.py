"""hwflow: hardware/CNN co-design by quantization (HW-FlowQ and beyond).

``hwflow.open_run(path)`` and ``hwflow.open_sweep(path)`` (``hwflow.api``) read results as
pandas DataFrames; they load on first use, so ``import hwflow`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["open_run", "open_sweep"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hwflow import api

        return getattr(api, name)
    raise AttributeError(f"module 'hwflow' has no attribute {name!r}")
