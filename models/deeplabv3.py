"""DeepLabv3 (Chen et al. 2017) for Cityscapes (19 classes) on a ResNet-18 backbone.

Backbone: ``resnet_imagenet.ResNetTrunk`` (basic blocks, 2-2-2-2) with its last stage's
stride replaced by dilation 2 (all of layer4's 3x3 convolutions at rate 2): output stride 16.
Head: ASPP with a 1x1 branch, three 3x3 atrous branches at rates 6/12/18 and an image
pooling branch (global average pool, 1x1 conv, bilinear upsample), concatenated and
projected by a 1x1 conv to 256 channels, then a 1x1 classifier; logits are upsampled
bilinearly to the input size. Every convolution is its own module.

Three catalog names, one architecture (a segmentation ``task``: ψ is mean IoU):

- ``deeplabv3``: 3x512x1024, Cityscapes frames at half resolution (the common training crop
  size); ASPP runs on 32x64 maps; 40.03 G MACs.
- ``deeplabv3-full``: 3x1024x2048, the full Cityscapes frame the paper evaluates (HW-FlowQ
  Tab. 6); 160.1 G MACs (the paper's 16-bit F.Ops: about 147 G).
- ``deeplabv3-small``: a quarter of the width (stem 16 channels, ASPP 64) at 3x64x128 with
  5 classes, for the synthetic segmentation set on a CPU (tests, the offline demo).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def _resnet_trunk(**kwargs: object) -> nn.Module:
    # catalog files are loaded by path, not imported as a package: load the sibling the same way
    path = Path(__file__).with_name("resnet_imagenet.py")
    spec = importlib.util.spec_from_file_location("hwflow_models_resnet_imagenet", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ResNetTrunk(**kwargs)


def conv_bn_relu(c_in: int, c_out: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=padding, dilation=dilation,
                                   bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    def __init__(self, c_in: int, c_out: int = 256) -> None:
        super().__init__()
        self.conv1x1 = conv_bn_relu(c_in, c_out, 1)
        self.rate6 = conv_bn_relu(c_in, c_out, 3, dilation=6)
        self.rate12 = conv_bn_relu(c_in, c_out, 3, dilation=12)
        self.rate18 = conv_bn_relu(c_in, c_out, 3, dilation=18)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), *conv_bn_relu(c_in, c_out, 1))
        self.project = conv_bn_relu(5 * c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.conv1x1(x), self.rate6(x), self.rate12(x), self.rate18(x)]
        branches.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear",
                                      align_corners=False))
        return self.project(torch.cat(branches, dim=1))


class DeepLabV3(nn.Module):
    def __init__(self, num_classes: int = 19, width: int = 64, aspp_channels: int = 256) -> None:
        super().__init__()
        self.backbone = _resnet_trunk(dilate_last=True, width=width)
        self.aspp = ASPP(self.backbone.out_channels, aspp_channels)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(aspp_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.dropout(self.aspp(self.backbone(x))))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def deeplabv3(num_classes: int = 19) -> nn.Module:
    return DeepLabV3(num_classes)


def deeplabv3_small(num_classes: int = 5) -> nn.Module:
    return DeepLabV3(num_classes, width=16, aspp_channels=64)


MODELS = {
    "deeplabv3": {"builder": "deeplabv3", "input_shape": (3, 512, 1024), "num_classes": 19,
                  "dataset": "cityscapes", "task": "segmentation"},
    "deeplabv3-full": {"builder": "deeplabv3", "input_shape": (3, 1024, 2048),
                       "num_classes": 19, "dataset": "cityscapes", "task": "segmentation"},
    "deeplabv3-small": {"builder": "deeplabv3_small", "input_shape": (3, 64, 128),
                        "num_classes": 5, "dataset": "synthetic-seg", "task": "segmentation"},
}
