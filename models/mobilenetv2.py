"""MobileNetV2 (Sandler et al. 2018), width 1.0, 224x224, about 300 M MACs per frame.

Inverted residual blocks: 1x1 expansion, 3x3 depthwise (``groups`` = channels), 1x1
linear projection. Module names follow torchvision's ``mobilenet_v2`` (``features.0.0``,
``features.1.conv.0.0``, ``features.2.conv.1.0``, ``classifier.1``) so its state dicts
have the same keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (expansion t, output channels c, repeats n, first stride s), the paper's table 2
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn_relu6(c_in: int, c_out: int, kernel: int, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_relu6(c_in, hidden, 1))
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        blocks: list[nn.Module] = [conv_bn_relu6(3, 32, 3, stride=2)]
        c_in = 32
        for t, c, n, s in SETTING:
            for i in range(n):
                blocks.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        blocks.append(conv_bn_relu6(c_in, 1280, 1))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def mobilenetv2(num_classes: int = 1000) -> nn.Module:
    return MobileNetV2(num_classes)


MODELS = {
    "mobilenetv2": {"builder": "mobilenetv2", "input_shape": (3, 224, 224),
                    "num_classes": 1000, "dataset": "imagenet"},
}
