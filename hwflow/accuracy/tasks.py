"""What ψ measures per task: top-1 accuracy for classifiers, mean IoU for segmentation.

Light (no torch): the evaluator and the CLI check a model against its data set here before
anything trains. Every result field named ``accuracy`` (the JSON of ``hwflow accuracy``,
pareto.csv, leaders, plots) holds this task's metric, as a fraction.
"""

from __future__ import annotations

from hwflow.errors import HwflowError

IGNORE_LABEL = 255  # pixels without a class (Cityscapes' void labels): no loss, no IoU
METRICS = {"classification": "top1", "segmentation": "miou"}
METRIC_TEXT = {"top1": "accuracy", "miou": "mIoU"}
DATASET_TASKS = {
    "digits": "classification", "cifar10": "classification", "imagenet": "classification",
    "synthetic": "classification",
    "cityscapes": "segmentation", "synthetic-seg": "segmentation",
}


def dataset_task(dataset: str) -> str:
    if dataset not in DATASET_TASKS:
        raise HwflowError(f"unknown dataset {dataset!r}; choose one of: "
                          f"{', '.join(DATASET_TASKS)}")
    return DATASET_TASKS[dataset]


def check_task(model: str, task: str, dataset: str) -> None:
    """Raise unless ``dataset`` has labels of the kind the model predicts."""
    if dataset_task(dataset) != task:
        fitting = [d for d, t in DATASET_TASKS.items() if t == task]
        raise HwflowError(f"dataset {dataset} is a {DATASET_TASKS[dataset]} set but {model} "
                          f"is a {task} model; use one of: {', '.join(fitting)}")
