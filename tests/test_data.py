"""Data sets: splits, normalization, local file formats and their error messages."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hwflow.accuracy import data
from hwflow.accuracy.data import DataError, load_splits, shift_and_flip
from hwflow.accuracy.recipes import DEFAULT_RECIPES

CPU = torch.device("cpu")


def everything(source: data.Source) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*source.batches(10_000, CPU))
    return torch.cat(xs), torch.cat(ys)


def test_every_dataset_has_a_default_recipe() -> None:
    assert set(data.DATASETS) == set(DEFAULT_RECIPES)


def test_digits_is_scikit_learns_bundled_set() -> None:
    from sklearn.datasets import load_digits

    images, labels = data._digits_arrays()
    reference = load_digits()
    assert np.array_equal(images, reference.images)
    assert np.array_equal(labels, reference.target)


def test_digits_splits_are_disjoint_fixed_and_carved_from_training() -> None:
    splits = load_splits("digits", (1, 8, 8), 10)
    train, val, test = (set(s.indices.tolist()) for s in (splits.train, splits.val, splits.test))
    assert len(train) + len(val) + len(test) == 1797
    assert not (train & val) and not (train & test) and not (val & test)
    assert set(splits.train_full.indices.tolist()) == train | val
    assert (len(val), len(test)) == (359, 359)
    again = load_splits("digits", (1, 8, 8), 10)
    assert torch.equal(again.val.indices, splits.val.indices)


def test_digits_training_set_is_standardized() -> None:
    splits = load_splits("digits", (1, 8, 8), 10)
    x, y = everything(splits.train_full)  # statistics of the whole training set (not test)
    assert x.shape == (len(splits.train_full), 1, 8, 8) and y.dtype == torch.long
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    assert set(y.tolist()) == set(range(10))


def test_shuffled_batches_follow_the_generator() -> None:
    splits = load_splits("digits", (1, 8, 8), 10)

    def first_labels(seed: int) -> list[int]:
        gen = torch.Generator().manual_seed(seed)
        return next(splits.train.batches(32, CPU, gen))[1].tolist()

    assert first_labels(3) == first_labels(3)
    assert first_labels(3) != first_labels(4)
    batches = list(splits.train.batches(100, CPU, torch.Generator().manual_seed(0), drop_last=True))
    assert len(batches) == len(splits.train) // 100
    assert all(len(y) == 100 for _, y in batches)


def test_shift_and_flip_against_a_per_image_reference() -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    out = shift_and_flip(x, torch.Generator().manual_seed(7), pad=2)
    gen = torch.Generator().manual_seed(7)  # the same draws, in the same order
    offsets = torch.randint(0, 5, (2, 2), generator=gen)
    flips = torch.rand(2, generator=gen) < 0.5
    for i in range(2):
        padded = torch.zeros(3, 9, 9)
        padded[:, 2:7, 2:7] = x[i]
        top, left = int(offsets[0, i]), int(offsets[1, i])
        crop = padded[:, top:top + 5, left:left + 5]
        expected = crop.flip(2) if flips[i] else crop
        assert torch.equal(out[i], expected)


def test_synthetic_fits_any_shape() -> None:
    splits = load_splits("synthetic", (3, 6, 4), 7)
    x, y = everything(splits.val)
    assert x.shape == (64, 3, 6, 4) and int(y.max()) < 7
    assert len(splits.train) == 320 and len(splits.test) == 128


def test_wrong_shape_or_classes_is_a_user_error() -> None:
    with pytest.raises(DataError, match="digits gives 1x8x8 images but the model takes 3x32x32"):
        load_splits("digits", (3, 32, 32), 10)
    with pytest.raises(DataError, match="10 classes but the model predicts 1000"):
        load_splits("digits", (1, 8, 8), 1000)
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_splits("mnist", (1, 8, 8), 10)


# --- CIFAR-10 python batches ------------------------------------------------------------------

def write_cifar(folder: Path, per_batch: int = 20) -> None:
    """The real format: dicts with b'data' (N x 3072 uint8, R then G then B planes, row-major)
    and b'labels'. Image k of batch b has red = k, green = 10 * b, blue = 200."""
    folder.mkdir(parents=True)
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        pixels = np.zeros((per_batch, 3, 32, 32), dtype=np.uint8)
        pixels[:, 0] = np.arange(per_batch)[:, None, None]
        pixels[:, 1] = 10 * b
        pixels[:, 2] = 200
        labels = [(k + b) % 10 for k in range(per_batch)]
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": pixels.reshape(per_batch, -1), b"labels": labels}, f)


def test_cifar10_batches(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")
    splits = load_splits("cifar10", (3, 32, 32), 10, tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 20)  # val = 1/5
    x, y = everything(splits.test)  # the test batch is b = 5
    mean, std = data.CIFAR_MEAN, data.CIFAR_STD
    assert torch.allclose(x[3, 0], torch.full((32, 32), (3 / 255 - mean[0]) / std[0]))
    assert torch.allclose(x[3, 1], torch.full((32, 32), (50 / 255 - mean[1]) / std[1]))
    assert torch.allclose(x[3, 2], torch.full((32, 32), (200 / 255 - mean[2]) / std[2]))
    assert y.tolist() == [(k + 5) % 10 for k in range(20)]
    assert splits.train.augment and not splits.val.augment and not splits.test.augment


def test_cifar10_directly_in_the_data_dir(tmp_path: Path) -> None:
    write_cifar(tmp_path / "here")
    assert len(load_splits("cifar10", (3, 32, 32), 10, tmp_path / "here").train_full) == 100


def test_missing_cifar10_says_what_to_put_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"put data_batch_1 .. data_batch_5 and test_batch .* in "
                                        + str(tmp_path / "cifar-10-batches-py")):
        load_splits("cifar10", (3, 32, 32), 10, tmp_path)


def test_local_datasets_need_a_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HWFLOW_DATA", raising=False)
    with pytest.raises(DataError, match="never downloaded: pass --data-dir DIR"):
        load_splits("imagenet", (3, 224, 224), 1000)


def test_data_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("HWFLOW_DATA", str(tmp_path))
    assert len(load_splits("cifar10", (3, 32, 32), 10).test) == 20


# --- ImageNet folders -------------------------------------------------------------------------

def write_folder(root: Path, colours: dict[str, tuple[int, int, int]], per_class: int) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for cls, rgb in colours.items():
            (root / split / cls).mkdir(parents=True)
            for k in range(per_class):
                Image.new("RGB", (24 + k, 20), rgb).save(root / split / cls / f"{k}.png")


def test_imagenet_folder(tmp_path: Path) -> None:
    colours = {"n01": (255, 0, 0), "n02": (0, 0, 255)}
    write_folder(tmp_path, colours, per_class=5)
    splits = load_splits("imagenet", (3, 16, 16), 2, tmp_path)
    splits.test.workers = splits.train.workers = 0
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8, 2, 10)
    x, y = everything(splits.test)
    assert x.shape == (10, 3, 16, 16)
    assert y.tolist() == [0] * 5 + [1] * 5  # classes in sorted folder order
    mean, std = data.IMAGENET_MEAN, data.IMAGENET_STD
    red = torch.tensor([(1 - mean[0]) / std[0], -mean[1] / std[1], -mean[2] / std[2]])
    assert torch.allclose(x[0].mean((1, 2)), red, atol=1e-5)
    gen = torch.Generator().manual_seed(0)
    xb, yb = next(splits.train.batches(4, CPU, gen, drop_last=True))  # augmented path
    assert xb.shape == (4, 3, 16, 16) and len(yb) == 4


def test_missing_imagenet_layout_says_what_to_put_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train/<class>/\*\.JPEG and .*val/<class>/\*\.JPEG"):
        load_splits("imagenet", (3, 224, 224), 1000, tmp_path)
