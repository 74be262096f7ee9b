"""Apply a strategy to any torch model: swap its conv/linear layers for quantized twins.

Layers are found by module path, the names ``hwflow.workload.extract_workload`` gives them,
so a strategy from the hardware side applies unchanged. A layer's ``a_bits`` quantizes the
input it reads (the activations of the previous layer); the twin shares the original
parameters, so pretrained weights carry over and state-dict keys stay the same (plus the
quantizers' own entries).
"""

from __future__ import annotations

import torch
from torch import nn

from hwflow.accuracy.quantizers import ActivationQuantizer, WeightQuantizer
from hwflow.accuracy.schemes import EXACT_BITS, scheme_modes
from hwflow.strategy import Strategy, StrategyError


class _Quantized:
    """Mixin of the twins: the quantizers and the weights they actually compute with."""

    weight: nn.Parameter
    weight_quant: WeightQuantizer
    input_quant: ActivationQuantizer

    def effective_weight(self) -> torch.Tensor:
        with torch.no_grad():
            return self.weight_quant(self.weight)


class QuantConv2d(_Quantized, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quant(x), self.weight_quant(self.weight), self.bias)


class QuantLinear(_Quantized, nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.input_quant(x), self.weight_quant(self.weight), self.bias)


def _twin(layer: nn.Module, w_bits: int, a_bits: int, scheme: str) -> nn.Module:
    if isinstance(layer, nn.Conv2d):
        twin: nn.Module = QuantConv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
            padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
            bias=layer.bias is not None, padding_mode=layer.padding_mode, device="meta")
    else:
        twin = QuantLinear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                           device="meta")
    twin.weight, twin.bias = layer.weight, layer.bias  # share, do not copy
    w_mode, a_mode = scheme_modes(scheme)
    twin.weight_quant = WeightQuantizer(w_bits, w_mode)
    twin.input_quant = ActivationQuantizer(a_bits, a_mode).to(layer.weight.device)
    twin.train(layer.training)
    return twin


def quantize_model(model: nn.Module, strategy: Strategy, scheme: str = "dorefa-pact") -> nn.Module:
    """Replace (in place) every layer the strategy quantizes; returns ``model``.

    Layers at 16 bits for both weights and inputs stay untouched float modules.
    """
    scheme_modes(scheme)  # fail on a bad scheme before touching the model
    for bits in strategy.layers:
        try:
            layer = model.get_submodule(bits.name)
        except AttributeError:
            raise StrategyError(f"strategy layer {bits.name!r} is not a module of model "
                                f"{strategy.model}") from None
        if isinstance(layer, _Quantized):
            raise StrategyError(f"layer {bits.name!r} of {strategy.model} is already quantized")
        if not isinstance(layer, (nn.Conv2d, nn.Linear)):
            raise StrategyError(f"strategy layer {bits.name!r} of {strategy.model} is a "
                                f"{type(layer).__name__}, not a Conv2d or Linear")
        if bits.w_bits >= EXACT_BITS and bits.a_bits >= EXACT_BITS:
            continue
        parent_name, _, child = bits.name.rpartition(".")
        setattr(model.get_submodule(parent_name), child,
                _twin(layer, bits.w_bits, bits.a_bits, scheme))
    return model


def quantized_layers(model: nn.Module) -> dict[str, QuantConv2d | QuantLinear]:
    """The quantized twins of a model by module path."""
    return {name: m for name, m in model.named_modules() if isinstance(m, _Quantized)}


def calibrate(model: nn.Module, x: torch.Tensor) -> None:
    """Calibrate every quantizer on batch ``x`` as training will see it (training mode:
    batch statistics, which at a random init differ wildly from the running ones), leaving
    batch-norm running statistics as they were."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in norms]
    was_training = model.training
    model.train()
    with torch.no_grad():
        model(x)
    for m, state in zip(norms, saved):
        m.load_state_dict(state)
    model.train(was_training)
