"""The original AlexNet (Krizhevsky, Sutskever, Hinton 2012), 227x227 input.

Two-group network as trained on two GPUs: conv2, conv4 and conv5 see only their own
half of the channels (groups=2), conv3 and the fc layers see all. Local response
normalization after conv1 and conv2, overlapping 3x3/2 max pooling after conv1, conv2 and
conv5. MACs per frame: conv1 105.4 M, conv2 223.9 M, conv3 149.5 M, conv4 112.1 M,
conv5 74.8 M (the Eyeriss AlexNet workload), fc 58.6 M.

Module names are exactly ``conv1``..``conv5``, ``fc1``..``fc3``: the Eyeriss validation
refers to the layers by these names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)  # 227 -> 55
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)  # 27 -> 27
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)  # 13 -> 13
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        # the paper's LRN constants: n=5, alpha=1e-4, beta=0.75, k=2
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256 * 6 * 6, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.norm(F.relu(self.conv1(x))))  # 55 -> 27
        x = self.pool(self.norm(F.relu(self.conv2(x))))  # 27 -> 13
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = self.pool(F.relu(self.conv5(x))).flatten(1)  # 13 -> 6
        x = F.relu(self.fc1(self.dropout(x)))
        x = F.relu(self.fc2(self.dropout(x)))
        return self.fc3(x)


def alexnet(num_classes: int = 1000) -> nn.Module:
    return AlexNet(num_classes)


MODELS = {
    "alexnet": {"builder": "alexnet", "input_shape": (3, 227, 227), "num_classes": 1000,
                "dataset": "imagenet"},
}
