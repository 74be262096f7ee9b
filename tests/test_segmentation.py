"""Semantic segmentation: mean IoU as ψ, the synthetic-seg and Cityscapes data sets, DeepLabv3
fine-tuned and searched, and low-bit divergence as a stored result.

Cityscapes is a tiny fake tree of PNGs written here, in the dataset's own layout; its label
IDs map to train IDs as cityscapesScripts' ``helpers/labels.py`` table says (road 7 -> 0,
car 26 -> 13, bicycle 33 -> 18, unlabeled 0 and license plate -1 -> ignored).
One small DeepLabv3 baseline is pretrained per module (a few seconds) and shared.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from hwflow.accuracy import recipes
from hwflow.accuracy.data import load_splits
from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.accuracy.metrics import confusion, mean_iou, task_loss
from hwflow.catalog import load_workload, model_entry
from hwflow.cli import main
from hwflow.errors import HwflowError
from hwflow.runs.plots import axis_label
from hwflow.search.experiment import load_experiment
from hwflow.strategy import uniform_strategy

ROOT = Path(__file__).parent.parent
SMALL = "deeplabv3-small"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small networks train fastest on one thread (and do not fight other test processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("seg-cache"))


@pytest.fixture(scope="module")
def small(cache: str) -> AccuracyEvaluator:
    evaluator = AccuracyEvaluator(AccuracySettings(model=SMALL, dataset="synthetic-seg",
                                                   epochs=0.5, cache_dir=cache))
    evaluator.pretrain()
    return evaluator


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- mean IoU and the loss ---------------------------------------------------------------------

def one_hot_logits(pred: list[list[int]], classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(pred), classes).permute(2, 0, 1)[None].float()


def test_mean_iou_by_hand_over_present_classes_ignoring_255() -> None:
    target = torch.tensor([[[0, 0, 1], [1, 2, 255]]])
    pred = [[0, 1, 1], [1, 1, 0]]  # the last pixel is ignored, whatever it predicts
    # class 0: TP 1, FN 1 -> 1/2; class 1: TP 2, FP 2 -> 2/4; class 2: FN 1 -> 0;
    # class 3 occurs nowhere: no IoU, not averaged
    counts = confusion(one_hot_logits(pred, 4), target, 4)
    assert counts.sum() == 5
    assert mean_iou(counts) == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    other = confusion(one_hot_logits([[0, 1, 1], [1, 1, 3]], 4), target, 4)
    assert torch.equal(other, counts)
    assert mean_iou(confusion(one_hot_logits([[0, 0, 1], [1, 2, 3]], 4), target, 4)) == 1.0


def test_pixel_loss_skips_ignored_pixels_and_an_all_ignored_batch_is_not_nan() -> None:
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # 2 classes, a 1x2 image
    target = torch.tensor([[[1, 255]]])
    expected = -torch.log_softmax(torch.tensor([2.0, 0.0]), 0)[1]  # only the first pixel
    assert float(task_loss("segmentation", logits, target)) == pytest.approx(float(expected))
    nothing = task_loss("segmentation", logits, torch.full((1, 1, 2), 255))
    assert float(nothing) == 0.0


# --- synthetic-seg -------------------------------------------------------------------------------

def test_synthetic_seg_is_seeded_shapes_with_an_ignored_frame() -> None:
    splits = load_splits("synthetic-seg", (3, 32, 64), 4, task="segmentation")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (72, 24, 32)
    assert splits.task == "segmentation"
    x, y = next(splits.train.batches(72, torch.device("cpu")))
    assert x.shape == (72, 3, 32, 64) and y.shape == (72, 32, 64)
    assert set(y.unique().tolist()) == {0, 1, 2, 3, 255}
    assert (y[:, 0] == 255).all() and (y[:, :, -1] == 255).all()  # the 1-pixel frame
    assert ((y[:, 1:-1, 1:-1] != 255).all())
    again = load_splits("synthetic-seg", (3, 32, 64), 4, task="segmentation")
    assert torch.equal(next(again.train.batches(72, torch.device("cpu")))[1], y)
    # each class has a colour of its own: class means differ by far more than their noise
    means = torch.stack([x.permute(1, 0, 2, 3)[:, y == c].mean(1) for c in range(4)])
    assert torch.cdist(means, means).fill_diagonal_(9).min() > 0.2


def test_a_dataset_must_fit_the_models_task() -> None:
    with pytest.raises(HwflowError, match="dataset digits is a classification set but "
                                          "deeplabv3-small is a segmentation model"):
        AccuracyEvaluator(AccuracySettings(model=SMALL, dataset="digits"))
    with pytest.raises(HwflowError, match="synthetic-seg is a segmentation set"):
        load_splits("synthetic-seg", (1, 8, 8), 10)


# --- Cityscapes from a local folder -------------------------------------------------------------

def write_city(root: Path, split: str, city: str, n: int) -> None:
    """n frames of 64x32 and label maps of 2x2 blocks: road (7) on the left half, car (26)
    and bicycle (33) blocks on the right, unlabeled (0) in the top row."""
    (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
    (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        stem = f"{city}_{i:06d}_000019"
        rgb = np.random.default_rng(i).integers(0, 256, (32, 64, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
        ids = np.full((32, 64), 7, dtype=np.uint8)
        ids[:, 32:48], ids[:, 48:] = 26, 33
        ids[:2] = 0
        Image.fromarray(ids).save(root / "gtFine" / split / city /
                                  f"{stem}_gtFine_labelIds.png")


@pytest.fixture
def cityscapes(tmp_path: Path) -> Path:
    write_city(tmp_path, "train", "aachen", 4)
    write_city(tmp_path, "train", "bremen", 2)
    write_city(tmp_path, "val", "frankfurt", 2)
    return tmp_path


def test_cityscapes_layout_train_ids_splits_and_resizing(cityscapes: Path) -> None:
    splits = load_splits("cityscapes", (3, 16, 32), 19, cityscapes, task="segmentation")
    # 6 training frames: 1 (a fifth) for ψ, 5 to train on; the official val is the test split
    assert (len(splits.train), len(splits.val), len(splits.test), len(splits.train_full)) == \
        (5, 1, 2, 6)
    x, y = next(splits.test.batches(2, torch.device("cpu")))  # halved: 64x32 -> 32x16
    assert x.shape == (2, 3, 16, 32) and y.shape == (2, 16, 32) and x.dtype == torch.float32
    expected = np.full((16, 32), 0)  # road -> train ID 0
    expected[:, 16:24], expected[:, 24:] = 13, 18  # car, bicycle
    expected[0] = 255  # unlabeled: ignored
    assert (y.numpy() == expected).all()
    x, y = next(splits.train.batches(5, torch.device("cpu"), torch.Generator().manual_seed(0)))
    assert x.shape == (5, 3, 16, 32) and set(y.unique().tolist()) == {0, 13, 18, 255}
    crop = load_splits("cityscapes", (3, 32, 32), 19, cityscapes, task="segmentation")
    _, y = next(crop.test.batches(2, torch.device("cpu")))  # no resize, a central crop
    assert y.shape == (2, 32, 32) and (y[:, 2:, :16] == 0).all() and (y[:, 2:, 16:] == 13).all()


@pytest.fixture
def quick_seg(monkeypatch: pytest.MonkeyPatch) -> str:
    """A one-epoch pretraining recipe (fake Cityscapes trees have a handful of frames)."""
    quick = replace(recipes.RECIPES["synthetic-seg"], name="quick-seg", epochs=1)
    monkeypatch.setitem(recipes.RECIPES, "quick-seg", quick)
    return quick.name


def city_net(root: Path) -> Path:
    """A model file: the small DeepLabv3 predicting Cityscapes' 19 classes at 3x16x32."""
    net = root / "net.py"
    net.write_text(f"import importlib.util\n"
                   f"spec = importlib.util.spec_from_file_location('d', {str(ROOT / 'models' / 'deeplabv3.py')!r})\n"
                   "d = importlib.util.module_from_spec(spec); spec.loader.exec_module(d)\n"
                   "def net(num_classes=19):\n    return d.deeplabv3_small(num_classes)\n"
                   "MODELS = {'city-net': {'builder': 'net', 'input_shape': (3, 16, 32), "
                   "'num_classes': 19, 'dataset': 'cityscapes', 'task': 'segmentation'}}\n")
    return net


@pytest.mark.parametrize("damage, message", [
    (lambda r: __import__("shutil").rmtree(r / "gtFine"), "no Cityscapes layout in"),
    (lambda r: next((r / "gtFine/train/aachen").iterdir()).unlink(), "has no label map"),
    (lambda r: (r / "gtFine/val/frankfurt/frankfurt_000000_000019_gtFine_labelIds.png")
     .write_bytes(b"not a png"), "frankfurt_000000_000019_gtFine_labelIds.png is not a readable"),
    (lambda r: Image.new("RGB", (64, 32)).save(
        r / "gtFine/val/frankfurt/frankfurt_000001_000019_gtFine_labelIds.png"),
     "is a RGB image; label maps are single-channel"),
    (lambda r: Image.new("L", (60, 32)).save(
        r / "gtFine/val/frankfurt/frankfurt_000001_000019_gtFine_labelIds.png"),
     "is 60x32 but its frame frankfurt_000001_000019_leftImg8bit.png is 64x32"),
    (lambda r: [p.write_bytes(p.read_bytes()[:200])  # a valid header, truncated data
                for p in (r / "leftImg8bit/train/aachen").iterdir()],
     "_leftImg8bit.png or its label map cannot be decoded"),
])
def test_bad_cityscapes_trees_are_one_line(cityscapes: Path, quick_seg: str, damage,
                                           message: str) -> None:
    damage(cityscapes)
    code, _, err = run("pretrain", "--model", str(city_net(cityscapes)), "--recipe", quick_seg,
                       "--data-dir", str(cityscapes), "--cache-dir", str(cityscapes / "cache"))
    assert code == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_deeplabv3_fine_tunes_on_a_cityscapes_folder(cityscapes: Path, quick_seg: str) -> None:
    net = city_net(cityscapes)
    code, out, err = run("accuracy", "--model", str(net), "--bits", "4", "--recipe",
                         quick_seg, "--epochs", "1", "--data-dir", str(cityscapes),
                         "--cache-dir", str(cityscapes / "cache"), "--json")
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert (data["dataset"], data["status"]) == ("cityscapes", "ok")
    assert 0.0 <= data["accuracy"] <= 1.0 and 0.0 <= data["float_accuracy"] <= 1.0


# --- DeepLabv3 fine-tuned, retrained and searched -------------------------------------------------

def test_mean_iou_is_the_psi_of_deeplabv3(small: AccuracyEvaluator) -> None:
    workload = load_workload(SMALL)
    assert small.metric == "miou" and model_entry(SMALL).task == "segmentation"
    baseline = small.float_accuracy()
    eight, two = (small.evaluate_one(uniform_strategy(workload, b)) for b in (8, 2))
    assert baseline > 0.4  # 5 classes: predicting the background everywhere scores ~0.15
    assert eight.status == two.status == "ok"
    assert eight.accuracy > baseline - 0.1 and two.accuracy < eight.accuracy
    assert small.evaluate_one(uniform_strategy(workload, 8)).cached


def test_accuracy_and_retrain_name_miou(small: AccuracyEvaluator, cache: str,
                                        tmp_path: Path) -> None:
    code, out, _ = run("accuracy", "--model", SMALL, "--bits", "8", "--epochs", "0.5",
                       "--cache-dir", cache)
    assert code == 0 and "validation mIoU" in out and "[cached]" in out
    strategy = tmp_path / "s.yaml"
    layers = [{"name": n, "w_bits": 4, "a_bits": 4} for n in load_workload(SMALL).layer_names]
    strategy.write_text(yaml.safe_dump({"model": SMALL, "layers": layers}))
    code, out, _ = run("retrain", "--strategy", str(strategy), "--epochs", "1", "--json",
                       "--cache-dir", cache)
    data = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and data["split"] == "test" and data["status"] == "ok"
    assert 0.0 < data["accuracy"] <= 1.0


@pytest.mark.slow
def test_the_reduced_deeplabv3_search_runs_on_a_cpu(small: AccuracyEvaluator, cache: str,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWFLOW_CACHE", cache)  # the baseline pretrained above
    code, _, err = run("search", str(ROOT / "experiments/paper/deeplabv3_synthetic.yaml"),
                         "--out", str(tmp_path / "run"), "--no-plots")
    assert code == 0, err
    with (tmp_path / "run" / "pareto.csv").open() as f:
        front = list(csv.DictReader(f))
    assert front and all(0.0 < float(r["accuracy"]) <= 1.0 for r in front)
    assert (tmp_path / "run" / "strategies" / "hv-leader.yaml").is_file()


def test_plots_call_a_segmentation_models_accuracy_miou(tmp_path: Path) -> None:
    assert axis_label("accuracy", SMALL) == "accuracy (mIoU)"
    assert axis_label("accuracy", "resnet20") == "accuracy"
    assert axis_label("accuracy", str(tmp_path / "gone.py")) == "accuracy"
    assert axis_label("energy", SMALL) == "energy (16-bit MACs)"


def test_the_paper_deeplabv3_search_asks_for_the_papers_settings() -> None:
    exp = load_experiment(ROOT / "experiments/paper/deeplabv3_cityscapes.yaml")
    c = exp.config
    assert (c.model, exp.dataset, c.accelerator) == ("deeplabv3-full", "cityscapes",
                                                     "eyeriss-1024")
    assert model_entry(c.model).input_shape == (3, 1024, 2048)  # full Cityscapes frames
    assert (exp.population, exp.generations, exp.epochs) == (25, 10, 10.0)
    assert (c.finetune.scheme, c.finetune.device) == ("dorefa-pact", "cuda")
    assert exp.objectives == ("accuracy", "energy", "latency_cycles")
    reduced = load_experiment(ROOT / "experiments/paper/deeplabv3_synthetic.yaml")
    assert (reduced.config.model, reduced.dataset) == (SMALL, "synthetic-seg")


# --- low-bit divergence -------------------------------------------------------------------------

@pytest.mark.slow
def test_a_diverged_fine_tune_is_stored_and_scored_worst_by_the_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boom = replace(recipes.RECIPES["synthetic-seg"], name="boom", epochs=2, finetune_lr=1e30)
    monkeypatch.setitem(recipes.RECIPES, "boom", boom)
    experiment = yaml.safe_load((ROOT / "experiments/paper/deeplabv3_synthetic.yaml").read_text())
    experiment.update(population=4, generations=1)
    experiment["finetune"].update(recipe="boom", cache_dir=str(tmp_path / "cache"))
    path = tmp_path / "boom.yaml"
    path.write_text(yaml.safe_dump(experiment))
    code, _, err = run("search", str(path), "--out", str(tmp_path / "run"), "--no-plots")
    assert code == 0, err
    with sqlite3.connect(tmp_path / "cache" / "accuracy.sqlite") as db:
        stored = db.execute("SELECT accuracy, status, info FROM results").fetchall()
    finetunes = [(a, s) for a, s, info in stored if json.loads(info)["kind"] == "finetune"]
    assert finetunes and set(finetunes) == {(0.0, "diverged")}
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        rows = db.execute("SELECT status, metrics FROM evaluations").fetchall()
    assert rows and all(s == "diverged" and json.loads(m)["accuracy"] == 0.0 for s, m in rows)


@pytest.mark.slow
def test_the_gpu_benchmark_script_runs(tmp_path: Path) -> None:
    """Its CUDA measurement is recorded in BENCHMARKS.md; here a CPU smoke run of the script."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/bench_seg_gpu.py"), "--device", "cpu",
         "--model", SMALL, "--steps", "1"],
        check=False, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                       "OMP_NUM_THREADS": "1",
                                                       "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "s per ψ" in result.stdout
