"""The task-aware loss and score behind ψ: cross-entropy and top-1 for classifiers,
per-pixel cross-entropy (ignore label 255) and mean IoU for segmentation.

Mean IoU is over the classes present: a class that neither the labels nor the prediction
contain has no IoU and does not count (Cityscapes' own evaluation takes the mean over its 19
classes, all of which occur in its validation set). Ignored pixels count nowhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hwflow.accuracy.tasks import IGNORE_LABEL


def task_loss(task: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if task == "segmentation":
        # mean over labelled pixels; a batch with none gives 0, not 0/0 (not a divergence)
        total = F.cross_entropy(logits, target.long(), ignore_index=IGNORE_LABEL,
                                reduction="sum")
        return total / (target != IGNORE_LABEL).sum().clamp(min=1)
    return F.cross_entropy(logits, target)


def confusion(logits: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) pixel counts, [true class, predicted class], labelled
    pixels only."""
    target = target.long()
    valid = target != IGNORE_LABEL
    codes = target[valid] * num_classes + logits.argmax(1)[valid]
    return torch.bincount(codes, minlength=num_classes ** 2).view(num_classes, num_classes)


def mean_iou(counts: torch.Tensor) -> float:
    """Mean over present classes of TP / (TP + FP + FN) from a confusion matrix."""
    counts = counts.double()
    hits = counts.diagonal()
    union = counts.sum(0) + counts.sum(1) - hits
    present = union > 0
    return float((hits[present] / union[present]).mean()) if bool(present.any()) else 0.0
