"""Fake quantizers with straight-through estimators (STE): the values a b-bit layer computes with.

Forward passes see exactly the quantized values; backward passes treat rounding as the
identity (Bengio et al. 2013), so float shadow weights keep learning.

Weights (``WeightQuantizer``):
- ``dorefa`` (Zhou et al. 2016): tanh-normalize to [0, 1], round to 2^b levels, map to
  [-1, 1]; then scaled back by the tensor's max |w|, a per-tensor constant the accelerator
  folds into the output, so a layer without batch norm after it keeps its output scale.
- ``uniform``: symmetric, step max|w| / (2^(b-1) - 1), i.e. 2^b - 1 levels.
- 1 bit, either mode: XNOR-style binary, sign(w) times mean |w| (per tensor, as DoReFa's
  k = 1 rule; the scale is a constant in the backward pass).

Activations (``ActivationQuantizer``, the input a layer reads): ``pact`` (Choi et al. 2018,
clip at a learned alpha per layer), ``dorefa`` (clip at 1), ``uniform`` (clip fixed at its
calibrated value). Inputs that can be negative (a normalized image, a linear bottleneck) are
clipped symmetrically to [-alpha, alpha]; non-negative ones (after ReLU) to [0, alpha].
The first batch a quantizer sees calibrates it: its sign, and alpha as the clip that
minimizes the quantization error (PACT then learns alpha from there).
"""

from __future__ import annotations

import torch
from torch import nn

from hwflow.accuracy.schemes import EXACT_BITS

CALIBRATION_SAMPLES = 16384  # values of the first batch used to pick the clip
CLIP_CANDIDATES = 64  # fractions of max |x| tried as the clip
MIN_ALPHA = 1e-4  # PACT's learned clip must stay positive


def ste(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``value`` forward, identity to ``x`` backward. Adds an exact zero rather than
    x + (value - x).detach(), whose float rounding would spread one level into several."""
    return value.detach() + (x - x.detach())


def round_ste(x: torch.Tensor) -> torch.Tensor:
    return ste(torch.round(x), x)


def quantize_unit(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x in [0, 1] -> nearest of 2^bits evenly spaced levels in [0, 1] (STE)."""
    n = 2 ** bits - 1
    return round_ste(x * n) / n


def binary_weight(w: torch.Tensor) -> torch.Tensor:
    """XNOR-style: sign(w) * mean|w|; zero counts as positive, so exactly two values."""
    scale = w.detach().abs().mean()
    return scale * ste(torch.where(w >= 0, 1.0, -1.0).to(w.dtype), w)


def dorefa_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    if bits == 1:
        return binary_weight(w)
    t = torch.tanh(w)
    t = t / (2 * t.abs().max().clamp_min(1e-12)) + 0.5
    return w.detach().abs().max() * (2 * quantize_unit(t, bits) - 1)


def uniform_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    if bits == 1:
        return binary_weight(w)
    step = w.detach().abs().max().clamp_min(1e-12) / (2 ** (bits - 1) - 1)
    return round_ste(w / step) * step


class WeightQuantizer(nn.Module):
    """The effective weights of a layer at ``bits`` (stateless)."""

    def __init__(self, bits: int, mode: str) -> None:
        super().__init__()
        if mode not in ("dorefa", "uniform"):
            raise ValueError(f"unknown weight quantizer {mode!r}")
        self.bits, self.mode = bits, mode

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.bits >= EXACT_BITS:
            return w
        if self.mode == "dorefa":
            return dorefa_weight(w, self.bits)
        return uniform_weight(w, self.bits)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode}"


def clip_quantize(x: torch.Tensor, alpha: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """Clip x to [0, alpha] (or [-alpha, alpha]) and round to the grid of ``bits`` there
    (plain forward values; ``ActivationQuantizer`` adds the gradients)."""
    y = torch.clamp(x, min=-alpha if signed else torch.zeros_like(alpha), max=alpha)
    if signed and bits == 1:
        return torch.where(y >= 0, alpha, -alpha)  # binary activations: +-alpha
    n = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    return y.mul_(n / alpha).round_().mul_(alpha / n)  # y is our own fresh tensor


class _ClipQuantizeSTE(torch.autograd.Function):
    """``clip_quantize`` with PACT's estimator: identity gradient to x inside the clip range,
    zero outside; to alpha, +1 (or the sign of x, when signed) for every clipped value.

    One function instead of clamp + round + STE arithmetic: the autograd graph of those
    costs several extra full-size passes per layer, which dominated fine-tuning time.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: torch.Tensor, bits: int,  # type: ignore[override]
                signed: bool) -> torch.Tensor:
        ctx.save_for_backward(x, alpha)
        ctx.signed = signed
        return clip_quantize(x, alpha, bits, signed)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, alpha = ctx.saved_tensors
        if ctx.signed:
            inside = x.abs() < alpha
            grad_alpha = torch.where(inside, 0.0, grad * torch.sign(x)).sum()
        else:
            inside = (x >= 0) & (x < alpha)
            grad_alpha = torch.where(x >= alpha, grad, 0.0).sum()
        grad_x = torch.where(inside, grad, 0.0)
        return grad_x, grad_alpha if ctx.needs_input_grad[1] else None, None, None


def best_clip(x: torch.Tensor, bits: int, signed: bool) -> float:
    """The clip alpha (a fraction of max |x|) minimizing the mean squared quantization error."""
    flat = x.detach().flatten().float()
    if flat.numel() > CALIBRATION_SAMPLES:
        flat = flat[:: flat.numel() // CALIBRATION_SAMPLES + 1]
    if not signed:
        flat = flat.clamp_min(0)
    peak = float(flat.abs().max())
    if peak == 0.0:
        return 1.0
    alphas = torch.linspace(peak / CLIP_CANDIDATES, peak, CLIP_CANDIDATES, device=flat.device)
    errors = torch.stack([((clip_quantize(flat, alpha, bits, signed) - flat) ** 2).mean()
                          for alpha in alphas])
    return float(alphas[int(errors.argmin())])


class ActivationQuantizer(nn.Module):
    """Quantizes the input a layer reads; calibrated by the first batch it sees.

    Sign and calibration are plain Python flags (saved as the module's extra state), so a
    forward pass never waits on the device to read them.
    """

    def __init__(self, bits: int, mode: str) -> None:
        super().__init__()
        if mode not in ("pact", "dorefa", "uniform"):
            raise ValueError(f"unknown activation quantizer {mode!r}")
        self.bits, self.mode = bits, mode
        self.signed = False
        self.calibrated = False
        alpha = torch.tensor(1.0)
        if mode == "pact":
            self.alpha = nn.Parameter(alpha)
        else:
            self.register_buffer("alpha", alpha)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        self.signed = bool(x.min() < 0)
        if self.mode != "dorefa":  # DoReFa's clip is 1 by definition
            self.alpha.fill_(best_clip(x, self.bits, self.signed))
        self.calibrated = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits >= EXACT_BITS:
            return x
        if not self.calibrated:
            self.calibrate(x)
        return _ClipQuantizeSTE.apply(x, self.alpha.clamp_min(MIN_ALPHA), self.bits, self.signed)

    def get_extra_state(self) -> dict[str, bool]:
        return {"signed": self.signed, "calibrated": self.calibrated}

    def set_extra_state(self, state: dict[str, bool]) -> None:
        self.signed, self.calibrated = bool(state["signed"]), bool(state["calibrated"])

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode}"
