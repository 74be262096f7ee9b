"""Training recipes per model family: how to pretrain, fine-tune briefly and retrain.

Every number that changes a trained result lives here, and a recipe's fingerprint is part
of every cache key, so editing a recipe never serves stale accuracies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Literal

from hwflow.errors import HwflowError


@dataclass(frozen=True)
class Recipe:
    name: str
    optimizer: Literal["sgd", "adamw"]
    lr: float  # peak learning rate of pretraining and retraining, cosine-annealed to 0
    epochs: int  # pretraining and retraining from scratch
    batch_size: int
    finetune_lr: float  # peak of the brief fine-tune's cosine schedule
    finetune_epochs: float  # the default brief fine-tune (fractions allowed)
    momentum: float = 0.9
    weight_decay: float = 0.0  # also the L2 on PACT's clip, as in the PACT paper
    nesterov: bool = False
    warmup_epochs: float = 0.0  # linear warm-up of pretraining and retraining
    eval_batch_size: int = 512

    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


RECIPES: dict[str, Recipe] = {
    # He et al. 2016's CIFAR ResNet recipe with a cosine schedule; the paper fine-tunes 2 epochs.
    "cifar-resnet": Recipe("cifar-resnet", "sgd", lr=0.1, epochs=200, batch_size=128,
                           finetune_lr=0.01, finetune_epochs=2.0, weight_decay=1e-4),
    # The standard 90-epoch ImageNet ResNet recipe (cosine); the paper fine-tunes 0.4 epoch.
    "imagenet-resnet": Recipe("imagenet-resnet", "sgd", lr=0.1, epochs=90, batch_size=256,
                              finetune_lr=1e-3, finetune_epochs=0.4, weight_decay=1e-4,
                              warmup_epochs=1.0, eval_batch_size=256),
    # Fast: a few seconds of pretraining on one core, a fraction of a second per fine-tune.
    "digits-cnn": Recipe("digits-cnn", "adamw", lr=3e-3, epochs=15, batch_size=32,
                         finetune_lr=1e-3, finetune_epochs=1.0, weight_decay=1e-5),
    "synthetic": Recipe("synthetic", "adamw", lr=3e-3, epochs=4, batch_size=32,
                        finetune_lr=1e-3, finetune_epochs=1.0),
    # DeepLabv3 (Chen et al. 2017) on Cityscapes: SGD, momentum 0.9, weight decay 1e-4,
    # batch 8, lr 0.01 (cosine here instead of its poly schedule); 240 epochs of the 2,475
    # training frames are about its 90K iterations of batch 8 (without its ImageNet-pretrained
    # backbone: hwflow downloads nothing). The paper fine-tunes 10 epochs before ψ.
    "cityscapes-deeplab": Recipe("cityscapes-deeplab", "sgd", lr=0.01, epochs=240, batch_size=8,
                                 finetune_lr=1e-3, finetune_epochs=10.0, weight_decay=1e-4,
                                 eval_batch_size=8),
    # Seconds on a CPU core for deeplabv3-small on the synthetic shapes.
    "synthetic-seg": Recipe("synthetic-seg", "adamw", lr=3e-3, epochs=8, batch_size=8,
                            finetune_lr=1e-3, finetune_epochs=1.0, eval_batch_size=32),
}

DEFAULT_RECIPES: dict[str, str] = {  # data set -> the recipe of the models made for it
    "digits": "digits-cnn",
    "cifar10": "cifar-resnet",
    "imagenet": "imagenet-resnet",
    "synthetic": "synthetic",
    "cityscapes": "cityscapes-deeplab",
    "synthetic-seg": "synthetic-seg",
}


def get_recipe(name: str | None, dataset: str) -> Recipe:
    """The named recipe, or the default one for ``dataset``."""
    if name is None:
        if dataset not in DEFAULT_RECIPES:
            raise HwflowError(f"unknown dataset {dataset!r}; choose one of: "
                              f"{', '.join(DEFAULT_RECIPES)}")
        name = DEFAULT_RECIPES[dataset]
    if name not in RECIPES:
        raise HwflowError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
