"""A quantization strategy: per-layer (w_bits, a_bits), its YAML form, and uniform ones.

``a_bits`` of a layer is the bitwidth of the activations it reads; a layer's outputs are
written at the next layer's ``a_bits`` (the last layer's at the accelerator's word width).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hwflow.config import ConfigError, read_yaml
from hwflow.errors import HwflowError
from hwflow.workload import Workload


class StrategyError(HwflowError):
    """A strategy that does not fit its model or file format."""


@dataclass(frozen=True)
class LayerBits:
    name: str
    w_bits: int
    a_bits: int


@dataclass(frozen=True)
class Strategy:
    model: str
    layers: tuple[LayerBits, ...]
    # Present when exported from a run: id, accelerator, level, batch, metrics, ...
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def model_ref(self) -> str:
        """How to load the model: its file (``model_file``, kept for a user's model file),
        else the catalog name."""
        return str(self.extra.get("model_file") or self.model)

    @property
    def w_bits(self) -> tuple[int, ...]:
        return tuple(layer.w_bits for layer in self.layers)

    @property
    def a_bits(self) -> tuple[int, ...]:
        return tuple(layer.a_bits for layer in self.layers)

    def check_matches(self, workload: Workload) -> None:
        """Raise if the strategy's layers are not exactly the workload's, in order."""
        if tuple(layer.name for layer in self.layers) != workload.layer_names:
            missing = set(workload.layer_names) - {layer.name for layer in self.layers}
            extra = {layer.name for layer in self.layers} - set(workload.layer_names)
            detail = (f"missing {sorted(missing)}" if missing else
                      f"unknown {sorted(extra)}" if extra else "layers out of order")
            raise StrategyError(f"strategy does not match model {workload.name}: {detail}")

    def to_yaml_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"model": self.model}
        data.update(self.extra)
        data["layers"] = [{"name": l.name, "w_bits": l.w_bits, "a_bits": l.a_bits}
                          for l in self.layers]
        return data

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_yaml_dict(), sort_keys=False))


def uniform_strategy(workload: Workload, w_bits: int, a_bits: int | None = None,
                     keep_ends: bool = True, end_bits: int = 16) -> Strategy:
    """Every layer at (w_bits, a_bits); the first and last at ``end_bits`` if ``keep_ends``."""
    a_bits = w_bits if a_bits is None else a_bits
    n = len(workload.layers)
    layers = []
    for i, layer in enumerate(workload.layers):
        at_end = keep_ends and (i == 0 or i == n - 1)
        layers.append(LayerBits(layer.name, end_bits if at_end else w_bits,
                                end_bits if at_end else a_bits))
    return Strategy(model=workload.name, layers=tuple(layers))


def parse_bits(text: str) -> tuple[int, int]:
    """``"4"`` → (4, 4); ``"4,8"`` → (4, 8)."""
    parts = text.split(",")
    try:
        values = [int(p) for p in parts]
        if not all(1 <= v <= 32 for v in values):
            raise ValueError
    except ValueError:
        raise StrategyError(f"--bits {text!r}: expected W or W,A, whole numbers 1..32, e.g. 8 or 4,8") from None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise StrategyError(f"--bits {text!r}: expected W or W,A, e.g. 8 or 4,8")


def load_strategy(path: str | Path) -> Strategy:
    """Read a strategy YAML (the contract in DESIGN.md); errors name the file and key."""
    path = Path(path)
    try:
        data, _ = read_yaml(path)
    except ConfigError as exc:
        raise StrategyError(str(exc).replace(": no such file", ": no such strategy file")) from None
    if not isinstance(data, dict):
        raise StrategyError(f"{path}: expected a mapping with keys 'model' and 'layers'")
    if not isinstance(data.get("model"), str):
        raise StrategyError(f"{path}: key 'model' must be a model name")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise StrategyError(f"{path}: key 'layers' must be a non-empty list of {{name, w_bits, a_bits}}")
    layers = []
    for i, entry in enumerate(raw_layers):
        if not isinstance(entry, dict) or set(entry) != {"name", "w_bits", "a_bits"}:
            raise StrategyError(f"{path}: layers[{i}] must have exactly name, w_bits, a_bits")
        for key in ("w_bits", "a_bits"):
            if not is_whole(entry[key]) or not 1 <= entry[key] <= 32:
                raise StrategyError(f"{path}: key 'layers[{i}].{key}' is {entry[key]!r}; "
                                    "allowed: a whole number 1..32")
        if not isinstance(entry["name"], str):
            raise StrategyError(f"{path}: key 'layers[{i}].name' must be a layer name")
        layers.append(LayerBits(entry["name"], entry["w_bits"], entry["a_bits"]))
    extra = {k: v for k, v in data.items() if k not in ("model", "layers")}
    return Strategy(model=data["model"], layers=tuple(layers), extra=extra)


def is_whole(value: Any) -> bool:
    """An integer as YAML writes one (``true`` is a bool, not the number 1)."""
    return isinstance(value, int) and not isinstance(value, bool)
