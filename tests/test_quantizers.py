"""Fake quantizers and applying a strategy: hand-computed values, level counts, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from hwflow.accuracy.apply import QuantConv2d, QuantLinear, quantize_model, quantized_layers
from hwflow.accuracy.quantizers import (
    ActivationQuantizer,
    WeightQuantizer,
    best_clip,
    binary_weight,
    dorefa_weight,
    uniform_weight,
)
from hwflow.catalog import build_model, load_workload, model_entry
from hwflow.strategy import LayerBits, Strategy, StrategyError, uniform_strategy
from hwflow.workload import extract_workload


def distinct(t: torch.Tensor) -> int:
    return len(torch.unique(t))


# --- hand-computed values ---------------------------------------------------------------------

def test_uniform_weight_by_hand() -> None:
    # 3 bits: step = max|w| / 3 = 1/3; w/step = 0.9, -3, 1.65, 0.3 -> 1, -3, 2, 0
    w = torch.tensor([0.3, -1.0, 0.55, 0.1])
    expected = torch.tensor([1 / 3, -1.0, 2 / 3, 0.0])
    assert torch.allclose(uniform_weight(w, 3), expected)


def test_dorefa_weight_by_hand() -> None:
    # tanh(+-2) / (2 max|tanh|) + 0.5 = 0, 0.5, 1 -> 2 bits (3 steps): 0, 2/3 (1.5 rounds to
    # even 2), 1 -> 2x - 1 = -1, 1/3, 1 -> times max|w| = 2
    w = torch.tensor([-2.0, 0.0, 2.0])
    assert torch.allclose(dorefa_weight(w, 2), torch.tensor([-2.0, 2 / 3, 2.0]))


def test_binary_weight_is_sign_times_mean_magnitude() -> None:
    w = torch.tensor([[0.5, -1.5], [0.0, -0.2]])
    m = (0.5 + 1.5 + 0.0 + 0.2) / 4
    assert torch.allclose(binary_weight(w), torch.tensor([[m, -m], [m, -m]]))
    assert torch.equal(dorefa_weight(w, 1), binary_weight(w))
    assert torch.equal(uniform_weight(w, 1), binary_weight(w))


def test_pact_unsigned_by_hand() -> None:
    q = ActivationQuantizer(2, "pact")
    q.calibrate(torch.tensor([0.0, 1.0]))  # non-negative input: unsigned
    with torch.no_grad():
        q.alpha.fill_(3.0)
    # 2 bits over [0, 3]: levels 0, 1, 2, 3; negatives -> 0, above alpha -> 3
    x = torch.tensor([-1.0, 0.4, 0.6, 1.5, 2.2, 7.0])
    assert torch.allclose(q(x), torch.tensor([0.0, 0.0, 1.0, 2.0, 2.0, 3.0]))


def test_signed_inputs_are_clipped_symmetrically() -> None:
    q = ActivationQuantizer(3, "uniform")
    q.calibrate(torch.tensor([-1.0, 1.0]))
    assert q.signed
    with torch.no_grad():
        q.alpha.fill_(3.0)
    # 3 bits signed: 2^(3-1) - 1 = 3 positive steps of 1 over [-3, 3]
    x = torch.tensor([-5.0, -1.4, 0.2, 2.6, 9.0])
    assert torch.allclose(q(x), torch.tensor([-3.0, -1.0, 0.0, 3.0, 3.0]))


def test_dorefa_activations_clip_at_one() -> None:
    q = ActivationQuantizer(2, "dorefa")
    x = torch.tensor([0.1, 0.2, 0.5, 0.9, 4.0])
    assert torch.allclose(q(x), torch.tensor([0.0, 1 / 3, 2 / 3, 1.0, 1.0]))
    assert float(q.alpha.detach()) == 1.0


def test_sixteen_bits_is_the_float_reference() -> None:
    w = torch.randn(50)
    assert torch.equal(WeightQuantizer(16, "dorefa")(w), w)
    assert torch.equal(ActivationQuantizer(16, "pact")(w), w)


# --- level counts -----------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 8), mode=st.sampled_from(["dorefa", "uniform"]),
       seed=st.integers(0, 2 ** 16), scale=st.floats(1e-3, 10.0))
def test_weights_of_a_b_bit_layer_take_at_most_2_to_the_b_values(bits: int, mode: str,
                                                                   seed: int, scale: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(8, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=gen))
    names = ("0", "3")
    strategy = Strategy("toy", tuple(LayerBits(n, bits, 8) for n in names))
    scheme = "uniform" if mode == "uniform" else "dorefa-pact"
    quantize_model(model, strategy, scheme)
    for name, layer in quantized_layers(model).items():
        w = layer.effective_weight()
        assert distinct(w) <= 2 ** bits, (name, distinct(w))
        assert w.abs().max() <= layer.weight.abs().max() * (1 + 1e-6)


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 8), mode=st.sampled_from(["pact", "dorefa", "uniform"]),
       signed=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_activations_take_at_most_2_to_the_b_values(bits: int, mode: str, signed: bool,
                                                    seed: int) -> None:
    x = 3 * torch.randn(4096, generator=torch.Generator().manual_seed(seed))
    if not signed:
        x = x.relu()
    q = ActivationQuantizer(bits, mode)
    y = q(x).detach()
    assert q.signed == signed
    assert distinct(y) <= 2 ** bits
    alpha = float(q.alpha.detach())
    assert float(y.max()) <= alpha + 1e-6 and float(y.min()) >= (-alpha - 1e-6 if signed else 0)


def test_best_clip_beats_the_full_range_at_low_bits() -> None:
    x = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    peak = float(x.abs().max())

    def mse(alpha: float, bits: int) -> float:
        q = ActivationQuantizer(bits, "uniform")
        q.calibrate(x)
        with torch.no_grad():
            q.alpha.fill_(alpha)
        return float(((q(x) - x) ** 2).mean())

    clip2 = best_clip(x, 2, signed=True)
    assert clip2 < 0.6 * peak  # a Gaussian at 2 bits wants a tight clip ...
    assert mse(clip2, 2) < mse(peak, 2)
    assert best_clip(x, 8, signed=True) > 0.5 * peak  # ... at 8 bits a wide one


# --- straight-through gradients ---------------------------------------------------------------

def test_weight_gradient_passes_straight_through() -> None:
    w = torch.tensor([0.3, -1.0, 0.55, 0.1], requires_grad=True)
    uniform_weight(w, 3).sum().backward()
    assert torch.allclose(w.grad, torch.ones(4))


def test_pact_gradients() -> None:
    q = ActivationQuantizer(4, "pact")
    q.calibrate(torch.tensor([0.0, 1.0]))
    with torch.no_grad():
        q.alpha.fill_(1.0)
    x = torch.tensor([-0.5, 0.3, 0.7, 1.5, 2.0], requires_grad=True)
    q(x).sum().backward()
    # inside (0, alpha): identity; clipped: no gradient to x, one per clipped value to alpha
    assert torch.allclose(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0]))
    assert float(q.alpha.grad) == 2.0


# --- applying a strategy ----------------------------------------------------------------------

class Nested(nn.Module):
    """Nested names, a grouped convolution, a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.ReLU(),
                                   nn.Conv2d(8, 16, 1))
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(torch.relu(self.stem(x)))
        return self.head(x.mean((2, 3)))


def test_strategy_applies_by_workload_names_and_keeps_the_ends_float() -> None:
    torch.manual_seed(0)
    model = Nested()
    workload = extract_workload(model, (3, 8, 8), "nested")
    assert workload.layer_names == ("stem", "block.0", "block.2", "head")
    weights = {name: model.get_submodule(name).weight for name in workload.layer_names}
    quantize_model(model, uniform_strategy(workload, 4, 2))
    assert type(model.stem) is nn.Conv2d and type(model.head) is nn.Linear  # 16-bit ends
    assert isinstance(model.block[0], QuantConv2d) and model.block[0].groups == 4
    assert isinstance(model.block[2], QuantConv2d)
    for name, w in weights.items():  # parameters are shared, not copied
        assert model.get_submodule(name).weight is w
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert extract_workload(model, (3, 8, 8), "nested") == workload  # same shapes, same names


def test_a_bits_quantize_the_input_the_layer_reads() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(6, 3)
    model = nn.Sequential(layer)
    quantize_model(model, Strategy("toy", (LayerBits("0", 16, 2),)))
    twin = model[0]
    assert isinstance(twin, QuantLinear)
    x = torch.rand(10, 6)
    y = twin(x)
    alpha = float(twin.input_quant.alpha.detach())
    x_q = torch.round(x.clamp(0, alpha) * 3 / alpha) * alpha / 3  # 2 bits, unsigned
    assert torch.allclose(y, x_q @ twin.weight.T + twin.bias, atol=1e-6)


def test_catalog_model_uniform_strategy() -> None:
    entry = model_entry("digits-cnn")
    model = build_model(entry)
    quantize_model(model, uniform_strategy(load_workload("digits-cnn"), 2))
    assert sorted(quantized_layers(model)) == ["conv2", "conv3", "conv4"]
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)


def test_quantizer_state_survives_a_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    strategy = Strategy("toy", (LayerBits("0", 4, 4),))
    model = quantize_model(nn.Sequential(nn.Linear(4, 2)), strategy)
    model(torch.randn(8, 4))  # calibrates: signed input
    copy = quantize_model(nn.Sequential(nn.Linear(4, 2)), strategy)
    copy.load_state_dict(model.state_dict())
    assert copy[0].input_quant.signed and copy[0].input_quant.calibrated
    assert torch.equal(copy[0].input_quant.alpha, model[0].input_quant.alpha)
    x = torch.randn(3, 4)
    assert torch.equal(copy(x), model(x))


@pytest.mark.parametrize("name, message", [("nope", "not a module"), ("1", "ReLU")])
def test_bad_layer_names_are_user_errors(name: str, message: str) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with pytest.raises(StrategyError, match=message):
        quantize_model(model, Strategy("toy", (LayerBits(name, 4, 4),)))


def test_quantizing_twice_is_refused() -> None:
    strategy = Strategy("toy", (LayerBits("0", 4, 4),))
    model = quantize_model(nn.Sequential(nn.Linear(4, 4)), strategy)
    with pytest.raises(StrategyError, match="already quantized"):
        quantize_model(model, strategy)


def test_level_spacing_matches_bits() -> None:
    """An unsigned b-bit input lands on multiples of alpha / (2^b - 1)."""
    q = ActivationQuantizer(3, "pact")
    x = torch.rand(1000) * 4
    y = q(x).detach()
    steps = y / (float(q.alpha.detach()) / 7)
    assert torch.allclose(steps, steps.round(), atol=1e-4)
    assert math.isclose(float(y.max()), float(q.alpha.detach()), rel_tol=1e-6)
