"""Layer shapes of a CNN: the hardware model's view of a network.

A workload is the ordered list of quantizable layers (convolutions, incl. grouped and
depthwise, and fully connected layers as 1x1 convolutions). Shapes are per frame; the
batch N is an argument of every estimate, not part of the layer.

Catalog models carry a layer table (``models/<name>.layers.json``) generated from their
torch definition, so the hardware model never needs torch; ``extract_workload`` traces any
``torch.nn.Module`` and is what generates those tables (a test checks they still agree).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from hwflow.errors import HwflowError


class WorkloadError(HwflowError):
    """A network hwflow cannot turn into a workload."""


@dataclass(frozen=True)
class Layer:
    """One convolution (or linear layer, as a 1x1 convolution on a 1x1 map)."""

    name: str
    kind: Literal["conv", "linear"]
    c_i: int  # input channels (all groups)
    c_o: int  # output channels (all groups)
    h_i: int  # input height, unpadded
    w_i: int  # input width, unpadded
    h_o: int
    w_o: int
    k_h: int = 1
    k_w: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        if self.c_i % self.groups or self.c_o % self.groups:
            raise WorkloadError(f"layer {self.name}: channels not divisible by groups={self.groups}")

    @property
    def c_i_per_group(self) -> int:
        return self.c_i // self.groups

    @property
    def c_o_per_group(self) -> int:
        return self.c_o // self.groups

    @property
    def macs(self) -> int:
        """MACs for one frame."""
        return self.c_o * self.h_o * self.w_o * self.c_i_per_group * self.k_h * self.k_w

    @property
    def weight_count(self) -> int:
        return self.c_o * self.c_i_per_group * self.k_h * self.k_w

    @property
    def output_count(self) -> int:
        """Output elements for one frame."""
        return self.c_o * self.h_o * self.w_o

    def input_rows(self, out_rows: int) -> int:
        """Input rows (padded coordinates) touched by ``out_rows`` consecutive output rows.

        Counts padded rows as data, as nn_dataflow and Timeloop do; with a kernel smaller
        than the stride only the rows under the kernel are touched.
        """
        return _touched(out_rows, self.k_h, self.stride, self.dilation)

    def input_cols(self, out_cols: int) -> int:
        return _touched(out_cols, self.k_w, self.stride, self.dilation)

    @property
    def input_count(self) -> int:
        """Input elements one frame touches (padded coordinates, see ``input_rows``)."""
        return self.c_i * self.input_rows(self.h_o) * self.input_cols(self.w_o)

    def shape_key(self) -> tuple[int, ...]:
        """Everything that determines the layer's cost (the name does not)."""
        return (self.c_i, self.c_o, self.h_i, self.w_i, self.h_o, self.w_o, self.k_h,
                self.k_w, self.stride, self.padding, self.dilation, self.groups)


def _touched(n_out: int, k: int, stride: int, dilation: int) -> int:
    extent = (k - 1) * dilation + 1
    if extent >= stride:
        return (n_out - 1) * stride + extent
    return n_out * extent  # gaps between windows are never read


@dataclass(frozen=True)
class Workload:
    """An ordered set of quantizable layers of one CNN."""

    name: str
    layers: tuple[Layer, ...]
    # Ops of an imported graph left out as MAC-free ("Relu x19"); not part of the identity.
    skipped_ops: tuple[str, ...] = field(default=(), compare=False)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "layers": [asdict(layer) for layer in self.layers]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workload:
        known = {f.name for f in fields(Layer)}
        layers = tuple(Layer(**{k: v for k, v in d.items() if k in known}) for d in data["layers"])
        return cls(name=data["name"], layers=layers)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Workload:
        return cls.from_json(json.loads(Path(path).read_text()))


def extract_workload(module: Any, input_shape: tuple[int, ...], name: str) -> Workload:
    """Trace one forward pass of ``module`` on zeros of ``input_shape`` (C, H, W) and record
    every ``nn.Conv2d`` and ``nn.Linear`` it runs, in execution order, named by their
    module path (the same names the accuracy side uses to quantize them)."""
    import torch  # local: the hardware model must not pay for torch

    names = {m: n for n, m in module.named_modules()}
    layers: list[Layer] = []

    def on_conv(mod: torch.nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        x = inputs[0]
        for attr in ("stride", "padding", "dilation", "kernel_size"):
            value = getattr(mod, attr)
            if isinstance(value, str) or value[0] != value[1]:
                raise WorkloadError(f"layer {names[mod]}: non-square {attr}={value} is not supported")
        layers.append(Layer(
            name=names[mod], kind="conv", c_i=mod.in_channels, c_o=mod.out_channels,
            h_i=x.shape[-2], w_i=x.shape[-1], h_o=out.shape[-2], w_o=out.shape[-1],
            k_h=mod.kernel_size[0], k_w=mod.kernel_size[1], stride=mod.stride[0],
            padding=mod.padding[0], dilation=mod.dilation[0], groups=mod.groups))

    def on_linear(mod: torch.nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        layers.append(Layer(name=names[mod], kind="linear", c_i=mod.in_features,
                            c_o=mod.out_features, h_i=1, w_i=1, h_o=1, w_o=1))

    handles = []
    for mod in module.modules():
        if isinstance(mod, torch.nn.Conv2d):
            handles.append(mod.register_forward_hook(on_conv))
        elif isinstance(mod, torch.nn.Linear):
            handles.append(mod.register_forward_hook(on_linear))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros((1, *input_shape)))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            raise WorkloadError(f"layer {layer.name} runs twice in one forward pass; "
                             "hwflow needs one module per quantizable layer")
        seen.add(layer.name)
    return Workload(name=name, layers=tuple(layers))
