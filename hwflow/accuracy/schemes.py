"""Quantization schemes: which weight and activation quantizer a b-bit layer uses.

At 1 bit every scheme's weights are XNOR-style binary (sign times mean |w|, as DoReFa
prescribes for k = 1); bits >= 16 are the uncompressed reference and stay float.
"""

from __future__ import annotations

from hwflow.errors import HwflowError

EXACT_BITS = 16  # at and above this a tensor is not quantized (the 16-bit reference)

# scheme -> (weight quantizer, activation quantizer)
SCHEMES: dict[str, tuple[str, str]] = {
    "dorefa-pact": ("dorefa", "pact"),  # PACT paper: DoReFa weights, learned activation clip
    "dorefa": ("dorefa", "dorefa"),  # DoReFa-Net: activations clipped to [0, 1]
    "uniform": ("uniform", "uniform"),  # symmetric max-abs weights, calibrated fixed clip
}


def scheme_modes(scheme: str) -> tuple[str, str]:
    if scheme not in SCHEMES:
        raise HwflowError(f"unknown quantization scheme {scheme!r}; choose one of: "
                          f"{', '.join(SCHEMES)}")
    return SCHEMES[scheme]
