"""Brevitas / QONNX out: the exported module builds the strategy's bits layer by layer,
loads the cached float baseline, trains, and its QONNX passes onnx.checker."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import pytest
import torch
import yaml
from click.testing import CliRunner

from hwflow.accuracy.brevitas_export import load_module
from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.cli import main

EXPERIMENT = """\
model: digits-cnn
accelerator: spatial-256
level: mid
objectives: [energy, latency_cycles]
bits: [8, 4, 2]
population: 6
generations: 2
seed: 3
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("brevitas")
    (folder / "exp.yaml").write_text(EXPERIMENT)
    code, _, err = run("search", str(folder / "exp.yaml"), "--out", str(folder / "run"))
    assert code == 0, err
    return folder / "run"


@pytest.fixture()
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's shared cache (other tests pretrain the same digits baseline into it)."""
    path = tmp_path_factory.getbasetemp() / "accuracy-cache"
    AccuracyEvaluator(AccuracySettings(model="digits-cnn", cache_dir=str(path))).pretrain()
    monkeypatch.setenv("HWFLOW_CACHE", str(path))
    return path


def strategy_of(run_dir: Path, tmp_path: Path) -> dict:
    code, _, err = run("export", str(run_dir), "--pick", "hv-leader", "-o", str(tmp_path / "s.yaml"))
    assert code == 0, err
    return yaml.safe_load((tmp_path / "s.yaml").read_text())


@pytest.mark.slow  # imports Brevitas (~5 s) and pretrains digits unless another test did
def test_brevitas_module_has_the_strategys_bits_loads_the_baseline_and_trains(
        digits_run: Path, cache: Path, tmp_path: Path) -> None:
    from brevitas import nn as qnn

    strategy = strategy_of(digits_run, tmp_path)
    out = tmp_path / "net_q.py"
    code, _, err = run("export", str(digits_run), "--pick", "hv-leader", "--format", "brevitas",
                       "-o", str(out))
    assert code == 0, err
    module = load_module(out)
    model = module.build_model()
    assert len(strategy["layers"]) == 5
    for layer in strategy["layers"]:
        q = model.get_submodule(layer["name"])
        assert isinstance(q, qnn.QuantLinear if layer["name"] == "fc" else qnn.QuantConv2d)
        assert int(q.quant_weight().bit_width) == layer["w_bits"], layer
        assert int(q.input_quant.bit_width()) == layer["a_bits"], layer
    # conv1 reads the (signed) image; the others read ReLU outputs or their average
    assert [module.LAYERS[n][2] for n in ("conv1", "conv2", "conv3", "conv4", "fc")] == \
        [True, False, False, False, False]
    baseline = torch.load(module.CHECKPOINT, weights_only=True)
    assert module.CHECKPOINT.parent == cache / "checkpoints"
    torch.testing.assert_close(model.conv2.weight.detach(), baseline["conv2.weight"])
    torch.testing.assert_close(model.bn2.running_mean, baseline["bn2.running_mean"])

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert model.conv2.weight.grad is not None and model.conv2.weight.grad.abs().sum() > 0
    optimizer.step()


@pytest.mark.slow  # Brevitas's QONNX export traces the model (~10 s)
def test_qonnx_export_passes_the_onnx_checker(digits_run: Path, tmp_path: Path) -> None:
    strategy = strategy_of(digits_run, tmp_path)
    out = tmp_path / "net_q.onnx"
    code, _, err = run("export", str(digits_run), "--format", "qonnx", "-o", str(out))
    assert code == 0, err
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    quant = [n for n in model.graph.node if n.op_type == "Quant"]
    assert quant and all(n.domain.startswith("qonnx") for n in quant)
    # one weight and one input quantizer per layer, at the strategy's bits
    widths = sorted(int(onnx.numpy_helper.to_array(i).item()) for n in quant
                    for i in model.graph.initializer if i.name == n.input[3])
    expected = sorted(b for layer in strategy["layers"] for b in (layer["w_bits"], layer["a_bits"]))
    assert widths == expected
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_without_brevitas_one_line_says_how_to_install_it(digits_run: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "brevitas", None)  # import brevitas -> ImportError
    out = tmp_path / "net_q.py"
    for fmt in ("brevitas", "qonnx"):
        code, _, err = run("export", str(digits_run), "--format", fmt, "-o", str(out))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "pip install 'hwflow[brevitas]'" in err
    assert not out.exists()


def test_brevitas_format_needs_an_output_file(digits_run: Path) -> None:
    code, _, err = run("export", str(digits_run), "--format", "brevitas")
    assert code == 2 and "--format brevitas needs -o FILE" in err


@pytest.mark.slow  # imports Brevitas
def test_brevitas_module_of_an_onnx_model(tmp_path: Path) -> None:
    from brevitas import nn as qnn

    from hwflow.accuracy.brevitas_export import write_brevitas
    from hwflow.strategy import LayerBits, Strategy
    from tests.test_onnx_import import tiny_graph

    path = tiny_graph(tmp_path / "tiny.onnx")
    bits = {"c1": (8, 8), "dw": (3, 4), "fc": (2, 5), "m2": (6, 7)}
    strategy = Strategy(model="tiny", layers=tuple(LayerBits(n, w, a) for n, (w, a) in bits.items()),
                        extra={"model_file": str(path)})
    module = load_module(write_brevitas(strategy, tmp_path / "tiny_q.py", source="a test"))
    model = module.build_model()
    for name, (w, a) in bits.items():
        q = model.get_submodule(name)
        assert isinstance(q, qnn.QuantConv2d if name in ("c1", "dw") else qnn.QuantLinear)
        assert (int(q.quant_weight().bit_width), int(q.input_quant.bit_width())) == (w, a)
    # only dw reads a ReLU's output; c1 the image, fc the pooled depthwise output, m2 fc's
    assert {n: module.LAYERS[n][2] for n in bits} == {"c1": True, "dw": False, "fc": True,
                                                       "m2": True}
    model(torch.randn(2, 3, 16, 16)).sum().backward()
    assert model.dw.weight.grad is not None
