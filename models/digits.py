"""``digits-cnn``: a small CNN for scikit-learn's bundled 8x8 digits (1 channel, 10 classes).

Four 3x3 convolutions (8, 16, 16, 32 channels; 8x8, then 4x4 after one 2x2 max-pool), each
followed by batch norm and ReLU, global average pooling and a 32 -> classes fully connected
layer: five quantizable layers, small enough that a brief quantization-aware fine-tune takes
well under a second on a CPU core, so tests and the quickstart need no downloads. Narrow on
purpose: at this width 2- and 1-bit layers cost visible accuracy, so ψ tells strategies apart
instead of saturating at 99% for everything.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.conv4 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn4 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        x = F.relu(self.bn4(self.conv4(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def digits_cnn(num_classes: int = 10) -> nn.Module:
    return DigitsCNN(num_classes)


MODELS = {
    "digits-cnn": {"builder": "digits_cnn", "input_shape": (1, 8, 8), "num_classes": 10,
                   "dataset": "digits"},
}
