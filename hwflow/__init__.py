"""hwflow: hardware/CNN co-design by quantization (HW-FlowQ and beyond)."""

__version__ = "0.1.0"
