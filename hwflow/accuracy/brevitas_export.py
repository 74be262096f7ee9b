"""A strategy as a Brevitas model: a Python module to train in any torch loop, or QONNX for FINN.

``write_brevitas`` writes a self-describing module whose ``build_model()`` builds the float
network (through hwflow's model resolution, so catalog names, ``.py`` and ``.onnx`` files
all work), loads the float baseline's weights when hwflow's cache holds them, and swaps
every quantizable layer for a Brevitas ``QuantConv2d`` / ``QuantLinear`` at the strategy's
weight bits. Each layer reads its input through Brevitas's activation quantizer (the one a
``QuantIdentity`` holds) at the layer's ``a_bits`` — unsigned where the input is never
negative (after a ReLU), as a strategy's ``a_bits`` means the activations the layer reads.
``write_qonnx`` builds that same module and exports it with ``brevitas.export.export_qonnx``.

Brevitas is an optional extra; without it both say in one line how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from hwflow.catalog import ModelEntry, build_model, model_entry
from hwflow.errors import HwflowError
from hwflow.strategy import Strategy

INSTALL_BREVITAS = "pip install 'hwflow[brevitas]'"
MODULE_TEMPLATE = '''\
"""{model} with Brevitas quantizers at the per-layer bits of {source}.

Written by `hwflow export --format brevitas`. build_model() returns a torch.nn.Module:
each convolution / linear layer is a Brevitas QuantConv2d / QuantLinear at its weight bits,
reading its input through an activation quantizer at its activation bits (unsigned where
the input is never negative). The float baseline's weights load when CHECKPOINT exists
(`hwflow pretrain --model {model}` writes it). Train it with any torch loop; export it for
FINN with brevitas.export.export_qonnx.
"""

from __future__ import annotations

from pathlib import Path

import torch
from brevitas import nn as qnn
from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat, Uint8ActPerTensorFloat

from hwflow.catalog import build_model as build_float_model
from hwflow.catalog import model_entry

MODEL = {model_ref!r}  # hwflow model: catalog name, .py or .onnx file
INPUT_SHAPE = {input_shape!r}  # (C, H, W) of one frame
CHECKPOINT = Path({checkpoint!r})
# layer (module path): (weight bits, activation bits, activations signed)
LAYERS = {{
{layers}
}}


def quant_layer(layer: torch.nn.Module, w_bits: int, a_bits: int,
                signed: bool) -> torch.nn.Module:
    """The Brevitas twin of a Conv2d or Linear, holding the same weights."""
    common = dict(bias=layer.bias is not None, weight_quant=Int8WeightPerTensorFloat,
                  weight_bit_width=w_bits, input_bit_width=a_bits,
                  input_quant=Int8ActPerTensorFloat if signed else Uint8ActPerTensorFloat)
    if isinstance(layer, torch.nn.Conv2d):
        twin = qnn.QuantConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                               stride=layer.stride, padding=layer.padding,
                               dilation=layer.dilation, groups=layer.groups, **common)
    else:
        twin = qnn.QuantLinear(layer.in_features, layer.out_features, **common)
    twin.load_state_dict(layer.state_dict(), strict=False)
    return twin


def build_model(checkpoint: str | Path | None = CHECKPOINT) -> torch.nn.Module:
    model = build_float_model(model_entry(MODEL))
    if checkpoint is not None and Path(checkpoint).exists():
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    for name, (w_bits, a_bits, signed) in LAYERS.items():
        parent, _, child = name.rpartition(".")
        layer = model.get_submodule(name)
        setattr(model.get_submodule(parent), child, quant_layer(layer, w_bits, a_bits, signed))
    return model
'''


def require_brevitas() -> None:
    """One line naming the install command when Brevitas (or what its QONNX export needs)
    is missing."""
    for package in ("brevitas", "onnxoptimizer"):
        try:
            found = importlib.util.find_spec(package) is not None
        except ValueError:  # a module set to None in sys.modules
            found = False
        if not found:
            raise HwflowError(f"exporting for Brevitas needs {package}; install it with "
                              f"{INSTALL_BREVITAS}")


def default_checkpoint(entry: ModelEntry, ref: str) -> Path:
    """Where ``hwflow pretrain`` keeps the float baseline (the model's own data set and
    recipe, the default cache)."""
    from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings

    return AccuracyEvaluator(AccuracySettings(model=ref, dataset=entry.dataset)).checkpoint_path


def _input_signs(entry: ModelEntry, strategy: Strategy) -> dict[str, bool]:
    """Per layer: can its input be negative? One float forward pass on random frames (the
    sign of an input is the network's structure, e.g. a ReLU before it, not its weights)."""
    import torch

    model = build_model(entry).eval()
    signed: dict[str, bool] = {}
    hooks = [model.get_submodule(layer.name).register_forward_pre_hook(
        lambda _m, args, name=layer.name: signed.__setitem__(name, bool((args[0] < 0).any())))
        for layer in strategy.layers]
    try:
        with torch.no_grad():
            model(torch.randn((2, *entry.input_shape), generator=torch.Generator().manual_seed(0)))
    finally:
        for hook in hooks:
            hook.remove()
    return signed


def brevitas_source(strategy: Strategy, source: str) -> str:
    """The module's text for ``strategy`` (``source``: where it came from, for its docstring)."""
    ref = strategy.model_ref
    entry = model_entry(ref)
    if entry.name != strategy.model:
        raise HwflowError(f"the strategy is for model {strategy.model!r} but {ref} is "
                          f"{entry.name!r}")
    signed = _input_signs(entry, strategy)
    width = max(len(repr(layer.name)) for layer in strategy.layers)
    layers = "\n".join(f"    {layer.name!r:<{width}}: ({layer.w_bits}, {layer.a_bits}, "
                       f"{signed[layer.name]}),"
                       for layer in strategy.layers)
    return MODULE_TEMPLATE.format(model=entry.name, source=source, model_ref=ref,
                                  input_shape=tuple(entry.input_shape),
                                  checkpoint=str(default_checkpoint(entry, ref)), layers=layers)


def _write_atomically(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename: a failed export leaves nothing half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_brevitas(strategy: Strategy, path: str | Path, source: str) -> Path:
    require_brevitas()
    path = Path(path)
    text = brevitas_source(strategy, source)
    _write_atomically(path, lambda tmp: tmp.write_text(text))
    return path


def load_module(path: str | Path) -> ModuleType:
    """Import a written module (to build its model)."""
    spec = importlib.util.spec_from_file_location(f"hwflow_brevitas_{Path(path).stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_qonnx(strategy: Strategy, path: str | Path, source: str) -> Path:
    """The Brevitas model of ``strategy`` (float baseline weights when cached) as QONNX."""
    require_brevitas()
    import onnx
    import torch
    from brevitas.export import export_qonnx

    path = Path(path)
    module_path = path.with_name(f".{path.stem}.{os.getpid()}.brevitas.py")
    try:
        module_path.write_text(brevitas_source(strategy, source))
        model = load_module(module_path).build_model().eval()
    finally:
        module_path.unlink(missing_ok=True)
    frame = torch.zeros((1, *model_entry(strategy.model_ref).input_shape))
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        exported = Path(folder) / path.name  # the exporter may put weights beside it
        export_qonnx(model, input_t=frame, export_path=str(exported))
        graph = onnx.load(str(exported))
    _write_atomically(path, lambda tmp: onnx.save(graph, str(tmp)))  # one self-contained file
    return path
