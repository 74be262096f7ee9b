"""Named search budgets: the paper's settings (HW-FlowQ's GA settings) and a quick one for digits.

Generations count as in pymoo: generation 1 is the random initial population, so a run
evaluates about population × generations individuals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    population: int  # m
    generations: int  # n
    epochs: float  # brief fine-tuning before ψ is measured
    about: str


PRESETS: dict[str, Preset] = {
    "quick": Preset(8, 6, 1.0, "digits-cnn on the bundled digits: a search in a minute or two"),
    "cifar10-explore": Preset(25, 50, 2.0, "CIFAR-10 exploration (paper: ResNet20/56, m=25)"),
    "cifar10-sota": Preset(50, 50, 2.0, "CIFAR-10 state-of-the-art comparison (paper: m=50)"),
    "imagenet": Preset(10, 10, 0.4, "ImageNet (paper: ResNet18)"),
    "cityscapes": Preset(25, 10, 10.0, "Cityscapes segmentation (paper: DeepLabv3)"),
}
