"""ImageNet ResNet-18 (He et al. 2016, table 1), 224x224, 1.81 G MACs per frame.

Module names follow torchvision's ``resnet18`` (``conv1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``): the same state-dict keys. Shortcuts that change
shape are 1x1 projection convolutions (option B), as in the ImageNet paper and torchvision.
``ResNetTrunk`` (stem + four stages, no classifier) is also the DeepLabv3 backbone; with
``dilate_last`` its last stage trades stride 2 for dilation 2 (output stride 16); ``width``
(64 in ResNet-18) sets the stem's channels, doubled at each later stage.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


def make_stage(c_in: int, c_out: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(c_in, c_out, stride, dilation),
                         *(BasicBlock(c_out, c_out, 1, dilation) for _ in range(blocks - 1)))


class ResNetTrunk(nn.Module):
    """Stem and four stages of basic blocks; returns the last stage's feature map."""

    def __init__(self, blocks: tuple[int, int, int, int] = (2, 2, 2, 2),
                 dilate_last: bool = False, width: int = 64) -> None:
        super().__init__()
        w = width
        self.out_channels = 8 * w
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = make_stage(w, w, blocks[0], 1, 1)
        self.layer2 = make_stage(w, 2 * w, blocks[1], 2, 1)
        self.layer3 = make_stage(2 * w, 4 * w, blocks[2], 2, 1)
        self.layer4 = make_stage(4 * w, 8 * w, blocks[3], 1 if dilate_last else 2,
                                 2 if dilate_last else 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ResNet(ResNetTrunk):
    def __init__(self, blocks: tuple[int, int, int, int], num_classes: int) -> None:
        super().__init__(blocks)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(super().forward(x), 1).flatten(1))


def resnet18(num_classes: int = 1000) -> nn.Module:
    return ResNet((2, 2, 2, 2), num_classes)


MODELS = {
    "resnet18": {"builder": "resnet18", "input_shape": (3, 224, 224), "num_classes": 1000,
                 "dataset": "imagenet"},
}
