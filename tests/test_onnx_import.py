"""ONNX in: layer shapes from the graph (hand-built graphs with hand-computed shapes, and
catalog models exported by torch.onnx.export against their traced torch workload), one-line
errors, and the accuracy side through onnx2torch."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import yaml
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from hwflow.catalog import build_model, load_workload, model_entry
from hwflow.cli import main
from hwflow.onnx_import import OnnxModelError, read_onnx, to_torch
from hwflow.workload import Layer, extract_workload


def _weight(name: str, *shape: int) -> onnx.TensorProto:
    rng = np.random.default_rng(len(name))
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.1, name)


def tiny_graph(path: Path, *, extra_nodes: tuple[onnx.NodeProto, ...] = (),
               last: str = "m2_out", out_dims: tuple[int, ...] = (1, 4),
               conv_pads: tuple[int, ...] = (1, 1, 1, 1), act: str = "Relu") -> Path:
    """x[1,3,16,16] -> conv 3x3/2 (8 ch) -> act -> depthwise 3x3 -> global pool -> flatten
    -> Gemm (transB, 8 -> 10) -> MatMul (10 -> 4)."""
    nodes = [
        helper.make_node("Conv", ["x", "c1_w"], ["c1_out"], name="c1", kernel_shape=[3, 3],
                         strides=[2, 2], pads=list(conv_pads)),
        helper.make_node(act, ["c1_out"], ["a1"], name="act1"),
        helper.make_node("Conv", ["a1", "dw.weight", "dw.bias"], ["dw_out"], name="dw_node",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
        helper.make_node("GlobalAveragePool", ["dw_out"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["fc_out"], name="fc_node",
                         transB=1),
        helper.make_node("MatMul", ["fc_out", "m2_w"], ["m2_out"], name="m2"),
        *extra_nodes,
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, list(out_dims))],
        [_weight("c1_w", 8, 3, 3, 3), _weight("dw.weight", 8, 1, 3, 3), _weight("dw.bias", 8),
         _weight("fc.weight", 10, 8), _weight("fc.bias", 10), _weight("m2_w", 10, 4)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_hand_built_graph_layers_are_the_hand_computed_ones(tmp_path: Path) -> None:
    model = read_onnx(tiny_graph(tmp_path / "tiny.onnx"))
    w = model.workload
    assert w.layers == (
        Layer("c1", "conv", c_i=3, c_o=8, h_i=16, w_i=16, h_o=8, w_o=8, k_h=3, k_w=3, stride=2,
              padding=1),
        Layer("dw", "conv", c_i=8, c_o=8, h_i=8, w_i=8, h_o=8, w_o=8, k_h=3, k_w=3, padding=1,
              groups=8),
        Layer("fc", "linear", c_i=8, c_o=10, h_i=1, w_i=1, h_o=1, w_o=1),
        Layer("m2", "linear", c_i=10, c_o=4, h_i=1, w_i=1, h_o=1, w_o=1))
    # 8*8*8 outputs x 27 MACs; 8*8*8 x 9 (depthwise); 8*10; 10*4
    assert [layer.macs for layer in w.layers] == [13824, 4608, 80, 40]
    assert w.skipped_ops == ("Flatten x1", "GlobalAveragePool x1", "Relu x1")
    assert (model.input_shape, model.num_classes) == ((3, 16, 16), 4)
    assert model_entry(str(tmp_path / "tiny.onnx")).name == "tiny"


def test_same_padding_is_what_onnx_implies(tmp_path: Path) -> None:
    path = tmp_path / "same.onnx"
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3],
                            auto_pad="SAME_UPPER")
    graph = helper.make_graph([node], "same",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 9, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [_weight("w", 4, 2, 3, 3)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    (layer,) = read_onnx(path).workload.layers
    assert (layer.h_o, layer.w_o, layer.padding) == (9, 9, 1)


@pytest.mark.parametrize("case, message", [
    ("convtranspose", "node up (ConvTranspose): carries MACs but hwflow does not model"),
    ("activation-product", "node attn (MatMul): multiplies two activations"),
    ("uneven-pads", "node c1 (Conv): pads=[0, 0, 1, 1] differ by side"),
])
def test_unmodeled_mac_ops_are_one_error_naming_the_node(tmp_path: Path, case: str,
                                                         message: str) -> None:
    path = tmp_path / f"{case}.onnx"
    if case == "convtranspose":
        up = helper.make_node("ConvTranspose", ["dw_out", "dw.weight"], ["up_out"], name="up",
                              kernel_shape=[3, 3], group=8)
        tiny_graph(path, extra_nodes=(up,), last="up_out", out_dims=(1, 8, 10, 10))
    elif case == "activation-product":
        attn = helper.make_node("MatMul", ["m2_out", "m2_out_t"], ["attn_out"], name="attn")
        t = helper.make_node("Transpose", ["m2_out"], ["m2_out_t"], name="t")
        tiny_graph(path, extra_nodes=(t, attn), last="attn_out", out_dims=(1, 1))
    else:
        tiny_graph(path, conv_pads=(0, 0, 1, 1))
    with pytest.raises(OnnxModelError, match="^" + str(path).replace(".", r"\.") + ": ") as info:
        load_workload(str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_evaluate_an_onnx_file_lists_the_skipped_ops(tmp_path: Path) -> None:
    path = tiny_graph(tmp_path / "tiny.onnx")
    code, out, err = run("evaluate", "--model", str(path), "--accelerator", "spatial-256",
                         "--bits", "8", "--level", "mid")
    assert code == 0, err
    assert "tiny on spatial-256" in out and "dw" in out
    assert out.strip().splitlines()[-1] == \
        "skipped (no MACs): Flatten x1, GlobalAveragePool x1, Relu x1"
    code, out, _ = run("evaluate", "--model", str(path), "--accelerator", "spatial-256",
                       "--bits", "8", "--level", "mid", "--json")
    data = json.loads(out)
    assert data["skipped_ops"] == ["Flatten x1", "GlobalAveragePool x1", "Relu x1"]
    assert sum(layer["macs"] for layer in data["layers"]) == 13824 + 4608 + 80 + 40


@pytest.mark.parametrize("content, message", [
    (None, "no such model file"),
    (b"not a protobuf at all", "not a readable ONNX file"),
])
def test_a_missing_or_broken_onnx_file_is_one_line(tmp_path: Path, content: bytes | None,
                                                   message: str) -> None:
    path = tmp_path / "net.onnx"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run("evaluate", "--model", str(path), "--accelerator", "spatial-256")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_search_on_an_onnx_model_named_relative_to_its_experiment_file(
        tmp_path: Path) -> None:
    tiny_graph(tmp_path / "tiny.onnx")
    exp = tmp_path / "exp.yaml"
    exp.write_text("model: tiny.onnx\naccelerator: spatial-256\nlevel: mid\n"
                   "objectives: [energy, latency_cycles]\nbits: [8, 4]\npopulation: 4\n"
                   "generations: 2\n")
    code, _, err = run("search", str(exp), "--out", str(tmp_path / "run"))
    assert code == 0, err
    head = (tmp_path / "run" / "pareto.csv").read_text().splitlines()[0].split(",")
    assert head[-8:] == ["w_bits.c1", "a_bits.c1", "w_bits.dw", "a_bits.dw", "w_bits.fc",
                         "a_bits.fc", "w_bits.m2", "a_bits.m2"]
    # the strategy carries the model's path: evaluate needs no --model
    strategy = tmp_path / "run" / "strategies" / "hv-leader.yaml"
    assert yaml.safe_load(strategy.read_text())["model_file"] == str(tmp_path / "tiny.onnx")
    code, out, err = run("evaluate", "--strategy", str(strategy), "--json")
    assert code == 0, err
    stored = yaml.safe_load(strategy.read_text())["metrics"]
    assert json.loads(out)["totals"]["energy"] == pytest.approx(stored["energy"], rel=1e-12)


def test_an_evaluate_sweep_on_an_onnx_model(tmp_path: Path) -> None:
    tiny_graph(tmp_path / "tiny.onnx")
    (tmp_path / "sweep.yaml").write_text(
        "kind: evaluate\nbase:\n  model: tiny.onnx\n  accelerator: spatial-256\n"
        "  level: mid\ngrid:\n  bits: [8, 4]\n")
    code, _, err = run("sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"),
                       "--no-plots")
    assert code == 0, err
    rows = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in r for r in rows[1:])
    assert rows[1].split(",").count(str(13824 + 4608 + 80 + 40)) == 1  # the macs column


# --- catalog models exported by torch.onnx.export ---------------------------------------

# Small inputs where a model allows them (AlexNet's classifier needs 227x227).
EXPORT_SHAPES = {"resnet20": (3, 32, 32), "mobilenetv2": (3, 64, 64),
                 "alexnet": (3, 227, 227), "deeplabv3": (3, 64, 128)}


def export(model: torch.nn.Module, shape: tuple[int, ...], path: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), verbose=False,
                          **kwargs)
    return path


@pytest.mark.slow  # one torch.onnx.export (dynamo) and one onnx2torch conversion per model
@pytest.mark.parametrize("name", sorted(EXPORT_SHAPES))
def test_exported_catalog_model_equals_its_traced_workload(tmp_path: Path, name: str) -> None:
    shape = EXPORT_SHAPES[name]
    model = build_model(model_entry(name))
    traced = extract_workload(model, shape, name)
    path = export(model, shape, tmp_path / f"{name}.onnx",  # opset 20, batch left dynamic
                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    from_onnx = load_workload(str(path))
    assert from_onnx.layer_names == traced.layer_names  # the exporter keeps weight names
    for ours, theirs in zip(from_onnx.layers, traced.layers, strict=True):
        assert ours.kind == theirs.kind and ours.shape_key() == theirs.shape_key(), ours.name
    # the accuracy side: onnx2torch's module (rewritten down to opset 17) computes the model
    converted = to_torch(path)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(converted(x), model.eval()(x), rtol=1e-4, atol=1e-5)
    assert all(isinstance(converted.get_submodule(n), (torch.nn.Conv2d, torch.nn.Linear))
               for n in from_onnx.layer_names)


@pytest.mark.slow
def test_a_graph_exported_at_a_fixed_batch_of_one_is_one_line_for_accuracy(tmp_path: Path) -> None:
    path = export(build_model(model_entry("resnet20")), (3, 32, 32), tmp_path / "r20.onnx")
    assert load_workload(str(path)).macs == 40_551_040  # the hardware side is unaffected
    with pytest.raises(OnnxModelError, match="onnx2torch cannot convert this graph") as info:
        to_torch(path)
    assert "dynamic_shapes" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.slow
def test_legacy_export_has_the_same_shapes_under_node_names(tmp_path: Path) -> None:
    model = build_model(model_entry("resnet20"))
    traced = extract_workload(model, (3, 32, 32), "resnet20")
    path = export(model, (3, 32, 32), tmp_path / "r20.onnx", dynamo=False, opset_version=17)
    from_onnx = load_workload(str(path))
    assert [l.shape_key() for l in from_onnx.layers] == [l.shape_key() for l in traced.layers]
    assert from_onnx.macs == 40_551_040  # resnet20's published 40.55M MACs (He et al. 2016)


# --- the accuracy side: onnx2torch ------------------------------------------------------

def test_onnx2torch_module_computes_what_torch_does_and_quantizes_by_layer_name(
        tmp_path: Path) -> None:
    from hwflow.accuracy.apply import quantize_model, quantized_layers
    from hwflow.strategy import uniform_strategy

    reference = build_model(model_entry("digits-cnn")).eval()
    path = export(reference, (1, 8, 8), tmp_path / "digits.onnx", dynamo=False, opset_version=17)
    converted = to_torch(path)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), reference(x), rtol=1e-4, atol=1e-5)
    workload = load_workload(str(path))
    quantize_model(converted, uniform_strategy(workload, 4))
    assert set(quantized_layers(converted)) == set(workload.layer_names[1:-1])  # ends at 16
    converted.train()
    converted(x).sum().backward()
    assert all(p.grad is not None for p in converted.parameters() if p.requires_grad)


def test_a_graph_onnx2torch_cannot_convert_is_one_line_and_hardware_still_works(
        tmp_path: Path) -> None:
    path = tiny_graph(tmp_path / "odd.onnx", act="ThresholdedRelu")  # no onnx2torch converter
    code, _, err = run("accuracy", "--model", str(path), "--bits", "8", "--epochs", "0",
                       "--cache-dir", str(tmp_path / "cache"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "onnx2torch cannot convert this graph" in err and "ThresholdedRelu" in err
    code, out, err = run("evaluate", "--model", str(path), "--accelerator", "spatial-256",
                         "--bits", "8", "--level", "mid")
    assert code == 0 and "ThresholdedRelu x1" in out, err


@pytest.mark.slow  # pretrains the ONNX digits network (a few seconds)
def test_accuracy_of_an_onnx_model(tmp_path: Path) -> None:
    path = export(build_model(model_entry("digits-cnn")), (1, 8, 8), tmp_path / "digits.onnx",
                  dynamo=False, opset_version=17)
    code, out, err = run("accuracy", "--model", str(path), "--dataset", "digits", "--bits", "4",
                         "--recipe", "synthetic", "--epochs", "0.5", "--json",
                         "--cache-dir", str(tmp_path / "cache"))  # a 4-epoch pretraining
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert data["model"] == "digits" and data["status"] == "ok"
    assert data["float_accuracy"] > 0.5  # the converted graph trains (chance: 0.1)
    assert 0.0 < data["accuracy"] <= 1.0
    # a strategy file naming the ONNX file (as exports of user models do) needs no --model
    layers = [{"name": n, "w_bits": 4, "a_bits": 4} for n in load_workload(str(path)).layer_names]
    strategy = tmp_path / "s.yaml"
    strategy.write_text(yaml.safe_dump({"model": "digits", "model_file": str(path),
                                        "layers": layers}))
    code, out, err = run("retrain", "--strategy", str(strategy), "--dataset", "digits",
                         "--recipe", "synthetic", "--epochs", "0.2", "--json",
                         "--cache-dir", str(tmp_path / "cache"))
    assert code == 0, err
    data = json.loads(out.strip().splitlines()[-1])
    assert (data["model"], data["split"], data["status"]) == ("digits", "test", "ok")


def test_the_converted_hand_built_graph_computes_the_graph(tmp_path: Path) -> None:
    """onnx2torch's module (MatMul as Gemm -> Linear included) against onnx's reference
    evaluator, and every layer a Conv2d/Linear at its workload name."""
    from onnx.reference import ReferenceEvaluator

    path = tiny_graph(tmp_path / "tiny.onnx")
    module = to_torch(path)
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (expected,) = ReferenceEvaluator(str(path)).run(None, {"x": x})
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), expected, rtol=1e-5,
                                   atol=1e-6)
    kinds = {name: type(module.get_submodule(name)) for name in ("c1", "dw", "fc", "m2")}
    assert kinds == {"c1": torch.nn.Conv2d, "dw": torch.nn.Conv2d, "fc": torch.nn.Linear,
                     "m2": torch.nn.Linear}


def test_without_onnx2torch_one_line_says_how_to_install_it(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tiny_graph(tmp_path / "tiny.onnx")
    monkeypatch.setitem(sys.modules, "onnx2torch", None)  # import onnx2torch -> ImportError
    with pytest.raises(OnnxModelError, match=r"install it with pip install 'hwflow\[onnx\]'$"):
        to_torch(path)


def test_the_hardware_side_of_an_onnx_model_never_imports_torch(tmp_path: Path) -> None:
    path = tiny_graph(tmp_path / "tiny.onnx")
    code = ("import sys; from hwflow.catalog import load_workload; "
            f"assert load_workload({str(path)!r}).macs == 18552; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
