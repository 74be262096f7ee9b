"""CIFAR-10 ResNets of He et al. 2016 (section 4.2): ResNet-20 and ResNet-56.

Three stages of 2n 3x3 convolutions (16, 32, 64 channels on 32x32, 16x16, 8x8 maps), a
3x3 stem and a 64 -> classes fully connected layer: 6n + 2 layers. Shortcuts are the
paper's option A (identity; where the shape changes, subsample by 2 and zero-pad the new
channels), so they hold no weights and add no MACs: ResNet-20 is 19 convolutions + 1 fc,
40.55 M MACs per frame, as the literature quotes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride = stride
        self.pad_channels = c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: parameter-free subsample + zero channels, so no extra layer to quantize."""
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad_channels:
            half = self.pad_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.pad_channels - half))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages = []
        c_in = 16
        for c_out, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [BasicBlock(c_in, c_out, stride)]
            blocks += [BasicBlock(c_out, c_out, 1) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def resnet20(num_classes: int = 10) -> nn.Module:
    return CifarResNet(3, num_classes)


def resnet56(num_classes: int = 10) -> nn.Module:
    return CifarResNet(9, num_classes)


MODELS = {
    "resnet20": {"builder": "resnet20", "input_shape": (3, 32, 32), "num_classes": 10,
                 "dataset": "cifar10"},
    "resnet56": {"builder": "resnet56", "input_shape": (3, 32, 32), "num_classes": 10,
                 "dataset": "cifar10"},
}
