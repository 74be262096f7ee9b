"""Data sets, never downloaded: train / validation / test splits as batch sources.

- ``digits``: scikit-learn's bundled 8x8 digits (1797 images), split 60/20/20 with a fixed seed.
- ``cifar10``: the standard python-pickle batches (``data_batch_1..5``, ``test_batch``) in
  ``DIR`` or ``DIR/cifar-10-batches-py``; 10,000 random training images are the validation
  split (the paper's ψ set), the official test batch is the test split.
- ``imagenet``: ImageFolder layout, ``DIR/train/<class>/*`` and ``DIR/val/<class>/*`` (or under
  ``DIR/imagenet``), read with Pillow; the validation split is carved from ``train``, the
  official ``val`` folder is the test split.
- ``synthetic``: seeded class-specific plane waves plus noise, any input shape (for tests).
- ``cityscapes`` (segmentation): ``leftImg8bit/{train,val}/<city>/*_leftImg8bit.png`` with
  ``gtFine/{train,val}/<city>/*_gtFine_labelIds.png`` in ``DIR`` or ``DIR/cityscapes``; label
  IDs become the 19 train IDs (255 ignored); 500 training frames are the validation split,
  the official val frames the test split.
- ``synthetic-seg`` (segmentation): seeded shapes on noise, any input shape (tests, demo).

The validation split always comes out of the training data and is the same for every seed;
only ``retrain`` reads the test split (and trains on train + validation).
"""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch

from hwflow.accuracy.tasks import IGNORE_LABEL, check_task
from hwflow.errors import HwflowError

SPLIT_SEED = 0  # the split must not move with the training seed: ψ compares strategies
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}
Batch = tuple[torch.Tensor, torch.Tensor]


class DataError(HwflowError):
    """A data set that is missing, misplaced or does not fit the model."""


class Source(Protocol):
    """One split: its size, a subset of it, and its batches (normalized, on a device)."""

    def __len__(self) -> int: ...

    def subset(self, indices: torch.Tensor, augment: bool) -> Source: ...

    def batches(self, batch_size: int, device: torch.device,
                generator: torch.Generator | None = None, drop_last: bool = False) -> Iterator[Batch]:
        """Shuffled (with augmentation if the source has it) when a generator is given."""
        ...


@dataclass(frozen=True)
class Splits:
    name: str
    train: Source  # what fine-tuning and pretraining see
    val: Source  # carved from the training data: ψ
    train_full: Source  # train + val, for retraining the chosen strategy from scratch
    test: Source  # touched only by retrain
    input_shape: tuple[int, int, int]
    num_classes: int
    task: str = "classification"


@dataclass(frozen=True)
class Normalization:
    scale: float  # raw value of full intensity (255 for bytes)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        mean, std = _channel_stats(self.mean, self.std, str(raw.device))
        return (raw.float() / self.scale - mean) / std


@cache
def _channel_stats(mean: tuple[float, ...], std: tuple[float, ...],
                   device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel statistics as (1, C, 1, 1) tensors, made once per device (no copy per batch)."""
    shape = (1, -1, 1, 1)
    return (torch.tensor(mean, device=device).view(shape),
            torch.tensor(std, device=device).view(shape))


class _Tensors:
    """Images and labels held in memory, copied once to each device that asks."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels
        self._copies: dict[str, tuple[torch.Tensor, torch.Tensor]] = {"cpu": (images, labels)}

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = str(device)
        if key not in self._copies:
            self._copies[key] = (self.images.to(device), self.labels.to(device))
        return self._copies[key]


class TensorSource:
    """An in-memory split; ``augment`` = CIFAR-style random 4-pixel shift and horizontal flip."""

    def __init__(self, data: _Tensors, indices: torch.Tensor, norm: Normalization,
                 augment: bool = False) -> None:
        self.data, self.indices, self.norm, self.augment = data, indices, norm, augment

    @classmethod
    def in_memory(cls, images: torch.Tensor, labels: torch.Tensor, norm: Normalization,
                  augment: bool = False) -> TensorSource:
        """All of ``images`` (raw values, N x C x H x W) and their labels as one source."""
        return cls(_Tensors(images, labels), torch.arange(len(labels)), norm, augment)

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, indices: torch.Tensor, augment: bool) -> TensorSource:
        return TensorSource(self.data, self.indices[indices], self.norm, augment)

    def batches(self, batch_size: int, device: torch.device,
                generator: torch.Generator | None = None, drop_last: bool = False) -> Iterator[Batch]:
        images, labels = self.data.on(device)
        order = self.indices if generator is None else \
            self.indices[torch.randperm(len(self.indices), generator=generator)]
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for start in range(0, stop, batch_size):
            idx = order[start:start + batch_size].to(device)
            x = self.norm(images[idx])
            if self.augment and generator is not None:
                x = shift_and_flip(x, generator)
            yield x, labels[idx]


def shift_and_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Per image: zero-pad by ``pad``, crop back at a random offset, flip half of them."""
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (n, h)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows[:, None, :, None], cols[:, None, None, :]]


# --- image folders (ImageNet) --------------------------------------------------------------

class _FolderImages(torch.utils.data.Dataset):
    """Decodes one image per item: shorter side resized to size * 8/7, then a size crop
    (random and randomly flipped when augmenting, central otherwise), as uint8 CHW."""

    def __init__(self, samples: Sequence[tuple[str, int]], size: tuple[int, int],
                 augment: bool) -> None:
        self.samples, self.size, self.augment = samples, size, augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[i]
        h, w = self.size
        with Image.open(path) as img:
            img = img.convert("RGB")
            short = round(min(h, w) * 8 / 7)
            ratio = short / min(img.size)
            img = img.resize((max(w, round(img.width * ratio)), max(h, round(img.height * ratio))),
                             Image.BILINEAR)
            if self.augment:
                left = int(torch.randint(0, img.width - w + 1, ()))
                top = int(torch.randint(0, img.height - h + 1, ()))
            else:
                left, top = (img.width - w) // 2, (img.height - h) // 2
            img = img.crop((left, top, left + w, top + h))
            if self.augment and bool(torch.rand(()) < 0.5):
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
            array = np.asarray(img, dtype=np.uint8)
        return torch.from_numpy(array.copy()).permute(2, 0, 1), label


class FolderSource:
    """Files decoded on the fly by ``reader`` (a Dataset class taking samples, size, augment)."""

    def __init__(self, samples: Sequence[tuple[str, Any]], indices: torch.Tensor,
                 size: tuple[int, int], norm: Normalization, augment: bool = False,
                 workers: int | None = None,
                 reader: type[torch.utils.data.Dataset] = _FolderImages) -> None:
        self.samples, self.indices, self.size, self.norm = samples, indices, size, norm
        self.augment, self.reader = augment, reader
        self.workers = min(8, os.cpu_count() or 1) if workers is None else workers

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, indices: torch.Tensor, augment: bool) -> FolderSource:
        return FolderSource(self.samples, self.indices[indices], self.size, self.norm, augment,
                            self.workers, self.reader)

    def batches(self, batch_size: int, device: torch.device,
                generator: torch.Generator | None = None, drop_last: bool = False) -> Iterator[Batch]:
        picked = [self.samples[i] for i in self.indices.tolist()]
        images = self.reader(picked, self.size, self.augment and generator is not None)
        loader = torch.utils.data.DataLoader(
            images, batch_size=batch_size, shuffle=generator is not None, generator=generator,
            num_workers=self.workers, drop_last=drop_last, pin_memory=device.type == "cuda")
        try:
            for x, y in loader:
                yield self.norm(x.to(device, non_blocking=True)), y.to(device, non_blocking=True)
        except DataError as exc:  # from a worker: its own line, not the worker's traceback
            last = str(exc).strip().splitlines()[-1]
            raise DataError(last.split("DataError: ", 1)[-1]) from None


# --- the data sets -------------------------------------------------------------------------

def _carve(n: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) index sets of a training set of n items, fixed by SPLIT_SEED."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[n_val:].sort().values, order[:n_val].sort().values


def _from_training_set(name: str, train_all: Source, test: Source, n_val: int,
                       input_shape: tuple[int, int, int], num_classes: int,
                       augment: bool, task: str = "classification") -> Splits:
    train_idx, val_idx = _carve(len(train_all), n_val)
    everything = torch.arange(len(train_all))
    return Splits(name=name, task=task, train=train_all.subset(train_idx, augment),
                  val=train_all.subset(val_idx, False),
                  train_full=train_all.subset(everything, augment),
                  test=test, input_shape=input_shape, num_classes=num_classes)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images 0..16 as (N, 8, 8), labels) from scikit-learn's bundled digits.csv.gz, read
    directly: importing scikit-learn for ``load_digits`` costs ~2 s per process."""
    spec = importlib.util.find_spec("sklearn")
    bundled = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" \
        if spec and spec.submodule_search_locations else None
    if bundled is None or not bundled.exists():  # a scikit-learn that moved its data file
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    table = np.loadtxt(bundled, delimiter=",")
    return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)


def _digits() -> Splits:
    pixels, targets = _digits_arrays()
    images = torch.tensor(pixels, dtype=torch.float32)[:, None]  # (1797, 1, 8, 8), 0..16
    labels = torch.tensor(targets, dtype=torch.long)
    n = len(labels)
    rest, test_idx = _carve(n, round(0.2 * n))
    data = _Tensors(images, labels)
    train_part = images[rest] / 16.0
    norm = Normalization(16.0, (float(train_part.mean()),), (float(train_part.std()),))
    train_all = TensorSource(data, rest, norm)
    test = TensorSource(data, test_idx, norm)
    return _from_training_set("digits", train_all, test, round(0.2 * n), (1, 8, 8), 10,
                              augment=False)


def _synthetic(input_shape: tuple[int, int, int], num_classes: int) -> Splits:
    """Learnable by any CNN, pooled or not: each class is a plane wave of its own frequency
    and direction (and per-channel gains) at a random phase per image, plus noise."""
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    c, h, w = input_shape
    n_train, n_test = 384, 128
    labels = torch.arange(n_train + n_test) % num_classes
    freqs = torch.rand((num_classes, 2), generator=gen) * 0.8 - 0.4  # cycles per pixel
    gains = torch.rand((num_classes, c), generator=gen) + 0.5
    phases = 2 * math.pi * torch.rand(len(labels), generator=gen)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    f = freqs[labels]
    waves = torch.sin(2 * math.pi * (f[:, 0, None, None] * rows + f[:, 1, None, None] * cols)
                      + phases[:, None, None])
    images = gains[labels][:, :, None, None] * waves[:, None] \
        + 0.3 * torch.randn((len(labels), c, h, w), generator=gen)
    norm = Normalization(1.0, (0.0,), (1.0,))
    train_all = TensorSource.in_memory(images[:n_train], labels[:n_train], norm)
    test = TensorSource.in_memory(images[n_train:], labels[n_train:], norm)
    return _from_training_set("synthetic", train_all, test, 64, input_shape, num_classes,
                              augment=False)


def _find_dir(root: Path, sub: str, marker: str) -> Path | None:
    for candidate in (root, root / sub):
        if (candidate / marker).exists():
            return candidate
    return None


CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def _cifar10_dir(root: Path) -> Path:
    """The folder holding every CIFAR-10 python batch (under ``root``), or a DataError."""
    found = _find_dir(root, "cifar-10-batches-py", "data_batch_1")
    if found is None:
        raise DataError(f"cifar10: no CIFAR-10 python batches in {root}; put data_batch_1 .. "
                        f"data_batch_5 and test_batch (from cifar-10-python.tar.gz) in "
                        f"{root / 'cifar-10-batches-py'}")
    for name in CIFAR10_FILES:
        if not (found / name).exists():
            raise DataError(f"cifar10: {found / name} is missing (expected data_batch_1 .. "
                            f"data_batch_5 and test_batch)")
    return found


def _cifar10(root: Path) -> Splits:
    found = _cifar10_dir(root)

    def read(names: list[str]) -> TensorSource:
        arrays, labels = [], []
        for name in names:
            path = found / name
            with path.open("rb") as f:
                batch = pickle.load(f, encoding="bytes")
            arrays.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[b"labels"])
        return TensorSource.in_memory(torch.from_numpy(np.concatenate(arrays)),
                                      torch.tensor(labels), norm)

    norm = Normalization(255.0, CIFAR_MEAN, CIFAR_STD)
    train_all = read(list(CIFAR10_FILES[:-1]))
    test = read([CIFAR10_FILES[-1]])
    return _from_training_set("cifar10", train_all, test, min(10_000, len(train_all) // 5),
                              (3, 32, 32), 10, augment=True)


def _image_folder(folder: Path, classes: list[str]) -> list[tuple[str, int]]:
    samples = []
    for label, cls in enumerate(classes):
        for path in sorted((folder / cls).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append((str(path), label))
    return samples


def _imagenet_dir(root: Path) -> Path:
    """The ImageFolder root (train/ and val/) under ``root``, or a DataError."""
    found = _find_dir(root, "imagenet", "train")
    if found is None or not (found / "val").is_dir():
        raise DataError(f"imagenet: no ImageFolder layout in {root}; put one folder per class "
                        f"as {root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG")
    return found


def _imagenet(root: Path, input_shape: tuple[int, int, int]) -> Splits:
    found = _imagenet_dir(root)
    try:
        import PIL  # noqa: F401  (decoding happens in loader workers)
    except ImportError:
        raise DataError("imagenet: reading images needs Pillow; pip install pillow") from None
    classes = sorted(p.name for p in (found / "train").iterdir() if p.is_dir())
    train, test = _image_folder(found / "train", classes), _image_folder(found / "val", classes)
    if not train or not test:
        raise DataError(f"imagenet: no images under {found}/train/<class>/ or "
                        f"{found}/val/<class>/")
    size = (input_shape[1], input_shape[2])
    norm = Normalization(255.0, IMAGENET_MEAN, IMAGENET_STD)
    train_all = FolderSource(train, torch.arange(len(train)), size, norm)
    test_src = FolderSource(test, torch.arange(len(test)), size, norm)
    return _from_training_set("imagenet", train_all, test_src, min(10_000, len(train) // 5),
                              input_shape, len(classes), augment=True)


# --- segmentation ----------------------------------------------------------------------------

def _synthetic_seg(input_shape: tuple[int, int, int], num_classes: int) -> Splits:
    """Seeded shapes on noise: class 0 is the background, each image holds one to three
    ellipses or rectangles of the other classes, every class with a colour of its own, plus
    noise; a frame of ignored pixels around each image exercises the ignore label."""
    if num_classes < 2:
        raise DataError(f"synthetic-seg needs a model with at least 2 classes, not {num_classes}")
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    c, h, w = input_shape
    n_train, n_test = 96, 32
    colours = torch.rand((num_classes, c), generator=gen) * 2 - 1
    images = torch.empty((n_train + n_test, c, h, w), dtype=torch.uint8)  # bytes: 1/4 memory
    labels = torch.zeros((n_train + n_test, h, w), dtype=torch.uint8)
    rows, cols = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w)[None, :]
    extent = torch.tensor([h, w], dtype=torch.float32)
    frame = max(1, min(h, w) // 32)
    for image, label in zip(images, labels):  # one at a time: Cityscapes-sized sets fit
        for _ in range(int(torch.randint(1, 4, (), generator=gen))):
            cls = int(torch.randint(1, num_classes, (), generator=gen))
            cy, cx = (torch.rand(2, generator=gen) * extent).tolist()
            ry, rx = ((0.1 + 0.2 * torch.rand(2, generator=gen)) * extent).tolist()
            if bool(torch.rand((), generator=gen) < 0.5):
                inside = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1
            else:
                inside = ((rows - cy).abs() <= ry) & ((cols - cx).abs() <= rx)
            label[inside] = cls
        noisy = colours[label.long()].permute(2, 0, 1) + 0.5 * torch.randn((c, h, w),
                                                                          generator=gen)
        image.copy_(((noisy * 0.25 + 0.5).clamp(0, 1) * 255).round())
        for edge in (np.s_[:frame], np.s_[-frame:], np.s_[:, :frame], np.s_[:, -frame:]):
            label[edge] = IGNORE_LABEL
    norm = Normalization(255.0, (0.5,), (0.25,))
    train_all = TensorSource.in_memory(images[:n_train], labels[:n_train], norm)
    test = TensorSource.in_memory(images[n_train:], labels[n_train:], norm)
    return _from_training_set("synthetic-seg", train_all, test, 24, input_shape, num_classes,
                              augment=False, task="segmentation")


# Cityscapes label IDs -> the 19 train IDs of the benchmark (cityscapesScripts,
# cityscapesscripts/helpers/labels.py); every other ID (void, rare classes) is ignored.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                        23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_MEAN, CITYSCAPES_STD = IMAGENET_MEAN, IMAGENET_STD
_CITYSCAPES_LAYOUT = ("DIR/leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and "
                      "DIR/gtFine/{train,val}/<city>/*_gtFine_labelIds.png")


def _train_id_table() -> np.ndarray:
    table = np.full(256, IGNORE_LABEL, dtype=np.uint8)
    for label_id, train_id in CITYSCAPES_TRAIN_IDS.items():
        table[label_id] = train_id
    return table


class _LabelledFrames(torch.utils.data.Dataset):
    """Decodes one (frame, label map) pair per item: scaled so the frame covers the model's
    input (bilinear for the frame, nearest for labels), then an input-size crop (random and
    randomly flipped when augmenting, central otherwise); uint8 CHW frame, train-ID map."""

    def __init__(self, samples: Sequence[tuple[str, str]], size: tuple[int, int],
                 augment: bool) -> None:
        self.samples, self.size, self.augment = samples, size, augment
        self.train_ids = _train_id_table()

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        frame_path, label_path = self.samples[i]
        h, w = self.size
        with Image.open(frame_path) as frame, Image.open(label_path) as label:
            try:
                frame, label = frame.convert("RGB"), label.convert("L")
            except OSError as exc:  # truncated or corrupt data behind a valid header
                raise DataError(f"cityscapes: {frame_path} or its label map cannot be decoded "
                                f"({exc})") from None
            scale = max(h / frame.height, w / frame.width)
            size = (max(w, round(frame.width * scale)), max(h, round(frame.height * scale)))
            if size != frame.size:
                frame = frame.resize(size, Image.BILINEAR)
                label = label.resize(size, Image.NEAREST)
            if self.augment:
                left = int(torch.randint(0, frame.width - w + 1, ()))
                top = int(torch.randint(0, frame.height - h + 1, ()))
            else:
                left, top = (frame.width - w) // 2, (frame.height - h) // 2
            box = (left, top, left + w, top + h)
            frame, label = frame.crop(box), label.crop(box)
            if self.augment and bool(torch.rand(()) < 0.5):
                frame = frame.transpose(Image.FLIP_LEFT_RIGHT)
                label = label.transpose(Image.FLIP_LEFT_RIGHT)
            pixels = np.asarray(frame, dtype=np.uint8)
            classes = self.train_ids[np.asarray(label, dtype=np.uint8)]
        return torch.from_numpy(pixels.copy()).permute(2, 0, 1), torch.from_numpy(classes)


def _cityscapes_pairs(root: Path, split: str) -> list[tuple[str, str]]:
    """(frame, label map) paths of one split, each checked to open as an image of the same
    size as its partner (header only), so a bad file is named before training starts."""
    from PIL import Image, UnidentifiedImageError

    frames = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
    if not frames:
        raise DataError(f"cityscapes: no frames in {root / 'leftImg8bit' / split}; expected "
                        f"{_CITYSCAPES_LAYOUT}")
    pairs = []
    for frame in frames:
        stem = frame.name[: -len("_leftImg8bit.png")]
        label = root / "gtFine" / split / frame.parent.name / f"{stem}_gtFine_labelIds.png"
        if not label.exists():
            raise DataError(f"cityscapes: {frame} has no label map {label}")
        sizes = []
        for path in (frame, label):
            try:
                with Image.open(path) as img:
                    sizes.append(img.size)
                    if path is label and img.mode not in ("L", "P", "I", "I;16"):
                        raise DataError(f"cityscapes: {label} is a {img.mode} image; label "
                                        f"maps are single-channel label IDs")
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"cityscapes: {path} is not a readable image ({exc})") from None
        if sizes[0] != sizes[1]:
            raise DataError(f"cityscapes: {label} is {sizes[1][0]}x{sizes[1][1]} but its frame "
                            f"{frame.name} is {sizes[0][0]}x{sizes[0][1]}")
        pairs.append((str(frame), str(label)))
    return pairs


def _cityscapes_dir(root: Path) -> Path:
    found = _find_dir(root, "cityscapes", "leftImg8bit")
    if found is None or not (found / "gtFine").is_dir():
        raise DataError(f"cityscapes: no Cityscapes layout in {root}; put "
                        f"{_CITYSCAPES_LAYOUT.replace('DIR', str(root))}")
    return found


def _cityscapes(root: Path, input_shape: tuple[int, int, int]) -> Splits:
    found = _cityscapes_dir(root)
    try:
        import PIL  # noqa: F401  (decoding happens in loader workers)
    except ImportError:
        raise DataError("cityscapes: reading images needs Pillow; pip install pillow") from None
    train, test = _cityscapes_pairs(found, "train"), _cityscapes_pairs(found, "val")
    size = (input_shape[1], input_shape[2])
    norm = Normalization(255.0, CITYSCAPES_MEAN, CITYSCAPES_STD)
    train_all = FolderSource(train, torch.arange(len(train)), size, norm, reader=_LabelledFrames)
    test_src = FolderSource(test, torch.arange(len(test)), size, norm, reader=_LabelledFrames)
    return _from_training_set("cityscapes", train_all, test_src, min(500, len(train) // 5),
                              (3, *size), len(CITYSCAPES_TRAIN_IDS), augment=True,
                              task="segmentation")


DATASETS = ("digits", "cifar10", "imagenet", "synthetic", "cityscapes", "synthetic-seg")
_LOCAL = {"cifar10": "DIR/cifar-10-batches-py/{data_batch_1..5,test_batch}",
          "imagenet": "DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG",
          "cityscapes": _CITYSCAPES_LAYOUT}
_READERS = {"cifar10": lambda root, shape: _cifar10(root), "imagenet": _imagenet,
            "cityscapes": _cityscapes}


def _local_root(name: str, data_dir: str | Path | None) -> Path:
    data_dir = data_dir or os.environ.get("HWFLOW_DATA")
    if not data_dir:
        raise DataError(f"{name} is read from a local directory, never downloaded: pass "
                        f"--data-dir DIR (or set HWFLOW_DATA) with {_LOCAL[name]}")
    return Path(data_dir).expanduser()


def check_available(name: str, data_dir: str | Path | None = None) -> None:
    """Raise DataError unless data set ``name`` can be read (its files are where they must
    be), without reading it: a search checks this before it creates its run directory."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if name == "cifar10":
        _cifar10_dir(_local_root(name, data_dir))
    elif name == "imagenet":
        _imagenet_dir(_local_root(name, data_dir))
    elif name == "cityscapes":
        _cityscapes_dir(_local_root(name, data_dir))


def load_splits(name: str, input_shape: tuple[int, int, int], num_classes: int,
                data_dir: str | Path | None = None, task: str = "classification") -> Splits:
    """The splits of data set ``name`` for a ``task`` model taking ``input_shape`` with
    ``num_classes``."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    check_task("the model", task, name)
    if name in _LOCAL:
        splits = _READERS[name](_local_root(name, data_dir), input_shape)
    elif name == "digits":
        splits = _digits()
    elif name == "synthetic-seg":
        splits = _synthetic_seg(input_shape, num_classes)
    else:
        splits = _synthetic(input_shape, num_classes)
    if splits.input_shape != tuple(input_shape):
        shape = "x".join(map(str, splits.input_shape))
        raise DataError(f"dataset {name} gives {shape} images but the model takes "
                        f"{'x'.join(map(str, input_shape))}")
    if splits.num_classes != num_classes:
        raise DataError(f"dataset {name} has {splits.num_classes} classes but the model "
                        f"predicts {num_classes}")
    return splits
