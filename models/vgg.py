"""VGG-16 (Simonyan and Zisserman 2015, configuration D), 224x224, 15.47 G MACs per frame.

13 3x3 convolutions in five blocks (64, 128, 256, 512, 512 channels) and three fully
connected layers. Module names follow torchvision's ``vgg16`` (``features.0`` ..
``features.28``, ``classifier.0/3/6``): the same state-dict keys.
"""

from __future__ import annotations

import torch
from torch import nn

# output channels per conv, "M" = 2x2 max pool (configuration D)
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
    def __init__(self, config: tuple[int | str, ...], num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(item)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def vgg16(num_classes: int = 1000) -> nn.Module:
    return VGG(VGG16, num_classes)


MODELS = {
    "vgg16": {"builder": "vgg16", "input_shape": (3, 224, 224), "num_classes": 1000,
              "dataset": "imagenet"},
}
