"""``hwflow accuracy`` / ``pretrain`` / ``retrain``: the JSON contract and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.cli import main

CONTRACT = {"model", "dataset", "accuracy", "float_accuracy", "epochs", "seconds", "status"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The session's shared cache (test_training.py pretrains the same baseline into it)."""
    path = tmp_path_factory.getbasetemp() / "accuracy-cache"
    AccuracyEvaluator(AccuracySettings(model="digits-cnn", cache_dir=str(path))).pretrain()
    return str(path)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.slow  # pretrains the digits baseline unless test_training.py did
def test_accuracy_json_contract(cache: str) -> None:
    code, out = run("accuracy", "--model", "digits-cnn", "--bits", "4,8", "--epochs", "0.5",
                    "--json", "--cache-dir", cache)
    assert code == 0, out
    data = json.loads(out.strip().splitlines()[-1])
    assert set(data) == CONTRACT
    assert (data["model"], data["dataset"], data["epochs"], data["status"]) == \
        ("digits-cnn", "digits", 0.5, "ok")
    assert 0.0 <= data["accuracy"] <= 1.0 and data["seconds"] > 0
    settings = AccuracySettings(model="digits-cnn", cache_dir=cache, epochs=0.5)
    assert data["float_accuracy"] == AccuracyEvaluator(settings).float_accuracy()
    code, out = run("accuracy", "--model", "digits-cnn", "--bits", "4,8", "--epochs", "0.5",
                    "--json", "--cache-dir", cache)
    again = json.loads(out.strip().splitlines()[-1])
    assert again["accuracy"] == data["accuracy"] and again["seconds"] == 0.0  # cached


def test_accuracy_of_a_strategy_file_defaults_to_the_recipes_epochs(cache: str,
                                                                    tmp_path: Path) -> None:
    layers = [{"name": n, "w_bits": b, "a_bits": b}
              for n, b in zip(("conv1", "conv2", "conv3", "conv4", "fc"), (8, 2, 4, 4, 8))]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model": "digits-cnn", "layers": layers}))
    code, out = run("accuracy", "--strategy", str(path), "--cache-dir", cache)
    assert code == 0, out
    assert "validation accuracy" in out and "1 epoch fine-tune" in out  # digits-cnn: 1 epoch


def test_pretrain_reuses_the_checkpoint(cache: str) -> None:
    code, out = run("pretrain", "--model", "digits-cnn", "--json", "--cache-dir", cache)
    assert code == 0, out
    data = json.loads(out.strip().splitlines()[-1])
    assert data["cached"] and data["recipe"] == "digits-cnn" and data["float_accuracy"] >= 0.95
    assert Path(data["checkpoint"]).is_file()


def test_retrain_reports_test_accuracy(tmp_path: Path) -> None:
    layers = [{"name": n, "w_bits": 4, "a_bits": 4}
              for n in ("conv1", "conv2", "conv3", "conv4", "fc")]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model": "digits-cnn", "layers": layers}))
    code, out = run("retrain", "--strategy", str(path), "--dataset", "synthetic", "--epochs", "1",
                    "--json", "--cache-dir", str(tmp_path))
    assert code == 0, out
    data = json.loads(out.strip().splitlines()[-1])
    assert data["split"] == "test" and data["epochs"] == 1 and data["status"] == "ok"


@pytest.mark.parametrize("args, message", [
    (["accuracy", "--model", "digits-cnn", "--bits", "4", "--strategy", "x.yaml"],
     "give --bits or --strategy, not both"),
    (["accuracy", "--bits", "4"], "--model is required"),
    (["accuracy", "--model", "digits-cnn", "--bits", "four"], "--bits 'four'"),
    (["accuracy", "--model", "digits-cnn", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    # an index no machine has: refused with or without CUDA (the message says which)
    (["accuracy", "--model", "digits-cnn", "--device", "cuda:99"], "--device cuda:99"),
    (["pretrain", "--model", "resnet20", "--data-dir", "/nonexistent"],
     "put data_batch_1 .. data_batch_5 and test_batch"),
    (["retrain", "--strategy", "missing.yaml"], "missing.yaml: no such strategy file"),
])
def test_user_errors_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    code, out = run(*args, "--cache-dir", str(tmp_path))
    assert code == 2
    assert out.count("\n") == 1 and message in out, out


def test_strategy_for_another_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model": "resnet20", "layers": [
        {"name": "conv1", "w_bits": 8, "a_bits": 8}]}))
    code, out = run("accuracy", "--model", "digits-cnn", "--strategy", str(path),
                    "--cache-dir", str(tmp_path))
    assert code == 2 and "not 'digits-cnn'" in out


def test_cli_import_does_not_load_torch() -> None:
    code = "import sys, hwflow.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


USER_MODEL = '''
from torch import nn


def tiny(num_classes=4):
    return nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, num_classes))


MODELS = {"tiny": {"builder": "tiny", "input_shape": (2, 6, 6), "num_classes": 4,
                   "dataset": "synthetic"}}
'''


def test_a_user_model_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.py"
    path.write_text(USER_MODEL)
    code, out = run("accuracy", "--model", str(path), "--bits", "3", "--json",
                    "--cache-dir", str(tmp_path))
    assert code == 0, out
    data = json.loads(out.strip().splitlines()[-1])
    assert (data["model"], data["dataset"], data["status"]) == ("tiny", "synthetic", "ok")
    assert data["float_accuracy"] > 0.5  # 4 classes: chance is 0.25
