"""The model catalog: tables agree with their torch sources, and the networks have the
published shapes and MAC counts.

Published figures (MACs per frame): ResNet-20 40.55 M (He et al. 2016 CIFAR net with
option-A shortcuts, the "41 M" widely quoted), ResNet-18 1.81 G and VGG-16 15.47 G
(torchvision's model tables: 1.81 / 15.47 GFLOPS, counted as MACs), MobileNetV2 300 M
(Sandler et al. 2018, table 4), AlexNet conv layers 105.4 / 223.9 / 149.5 / 112.1 / 74.8 M
(the Eyeriss AlexNet workload, Chen et al. 2016), DeepLabv3 on 2048x1024 Cityscapes frames
about 147 G 16-bit F.Ops (HW-FlowQ, Tab. 6; ours: 160.1 G, a ResNet-18 trunk).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from hwflow.catalog import (
    build_model,
    catalog_entries_from_sources,
    load_workload,
    model_entry,
    model_names,
    trace_workload,
)
from hwflow.cli import main
from hwflow.workload import Workload

OURS = ("resnet20", "resnet56", "resnet18", "alexnet", "vgg16", "mobilenetv2", "deeplabv3",
        "deeplabv3-full", "deeplabv3-small")


def conv_macs(c_in: int, c_out: int, size: int, k: int = 3) -> int:
    return c_out * size * size * c_in * k * k


def test_catalog_lists_every_model() -> None:
    assert set(OURS) <= set(model_names())


def test_every_source_model_has_a_table_with_its_metadata() -> None:
    sources = catalog_entries_from_sources()
    assert sorted(sources) == model_names(), "run python tools/regen_layer_tables.py"
    for name, entry in sources.items():
        assert model_entry(name) == entry  # the table's meta (read without torch) == the source


@pytest.mark.parametrize("name", model_names())
def test_table_equals_a_fresh_trace(name: str) -> None:
    entry = model_entry(name)
    table = Workload.load(entry.table_path)
    torch.manual_seed(0)
    assert trace_workload(entry) == table, "stale table: run python tools/regen_layer_tables.py"


def test_hwflow_models_lists_them_all() -> None:
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines()[2:] if line.strip()}
    assert listed == set(model_names())
    assert "40.55 M" in result.output  # resnet20's row


def test_listing_and_loading_catalog_models_never_imports_torch() -> None:
    code = ("import sys; from click.testing import CliRunner; from hwflow.cli import main; "
            "from hwflow.catalog import load_workload; "
            "assert CliRunner().invoke(main, ['models']).exit_code == 0; "
            "load_workload('deeplabv3'); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resnet20_and_56_match_a_hand_count() -> None:
    for name, n in (("resnet20", 3), ("resnet56", 9)):
        w = load_workload(name)
        # stem; stage 1: 2n convs 16->16 on 32x32; stages 2 and 3: a strided conv
        # (16->32 onto 16x16, 32->64 onto 8x8) then 2n-1 convs; fc 64->10
        expected = (conv_macs(3, 16, 32) + 2 * n * conv_macs(16, 16, 32)
                    + conv_macs(16, 32, 16) + (2 * n - 1) * conv_macs(32, 32, 16)
                    + conv_macs(32, 64, 8) + (2 * n - 1) * conv_macs(64, 64, 8) + 64 * 10)
        assert w.macs == expected
        assert len(w.layers) == 6 * n + 2  # option A: no projection convs
        assert (w.layer_names[0], w.layer_names[-1]) == ("conv1", "fc")
    assert load_workload("resnet20").macs == 40_551_040
    assert load_workload("resnet56").macs == pytest.approx(125.5e6, rel=1e-3)


def test_alexnet_is_the_original_two_group_network() -> None:
    w = load_workload("alexnet")
    assert w.layer_names == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3")
    layers = {layer.name: layer for layer in w.layers}
    expected = {  # C_o * H_o * W_o * (C_i / groups) * K * K
        "conv1": 96 * 55 * 55 * 3 * 11 * 11,  # 105.4 M
        "conv2": 256 * 27 * 27 * 48 * 5 * 5,  # 223.9 M
        "conv3": 384 * 13 * 13 * 256 * 3 * 3,  # 149.5 M
        "conv4": 384 * 13 * 13 * 192 * 3 * 3,  # 112.1 M
        "conv5": 256 * 13 * 13 * 192 * 3 * 3,  # 74.8 M
        "fc1": 9216 * 4096, "fc2": 4096 * 4096, "fc3": 4096 * 1000,
    }
    assert {n: layer.macs for n, layer in layers.items()} == expected
    published = {"conv1": 105.4e6, "conv2": 223.9e6, "conv3": 149.5e6, "conv4": 112.1e6,
                 "conv5": 74.8e6}
    for n, macs in published.items():
        assert layers[n].macs == pytest.approx(macs, abs=0.05e6)
    assert [layers[f"conv{i}"].groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert (layers["conv1"].h_i, layers["conv1"].h_o, layers["conv1"].stride) == (227, 55, 4)


@pytest.mark.parametrize("name, published, rel", [
    ("resnet18", 1.81e9, 0.005), ("vgg16", 15.47e9, 0.001), ("mobilenetv2", 300e6, 0.01),
])
def test_imagenet_macs_match_published_figures(name: str, published: float, rel: float) -> None:
    assert load_workload(name).macs == pytest.approx(published, rel=rel)


def test_imagenet_network_shapes() -> None:
    vgg = load_workload("vgg16")
    assert [layer.kind for layer in vgg.layers] == ["conv"] * 13 + ["linear"] * 3
    assert vgg.layers[-3].c_i == 512 * 7 * 7
    r18 = load_workload("resnet18")
    assert sum(".downsample." in n for n in r18.layer_names) == 3  # 1x1 projections
    assert (r18.layers[0].k_h, r18.layers[0].stride, r18.layers[0].h_o) == (7, 2, 112)
    mbv2 = load_workload("mobilenetv2")
    depthwise = [layer for layer in mbv2.layers if layer.groups > 1]
    assert len(depthwise) == 17  # one per inverted residual block
    assert all(layer.groups == layer.c_i == layer.c_o and layer.k_h == 3 for layer in depthwise)
    assert (mbv2.layer_names[0], mbv2.layer_names[-1]) == ("features.0.0", "classifier.1")


def test_deeplabv3_has_output_stride_16_and_an_aspp_head() -> None:
    entry = model_entry("deeplabv3")
    w = load_workload("deeplabv3")
    layers = {layer.name: layer for layer in w.layers}
    _, h, width = entry.input_shape
    assert (entry.num_classes, entry.dataset) == (19, "cityscapes")
    assert all(layers[f"backbone.layer4.{b}.conv{c}"].dilation == 2 for b in (0, 1) for c in (1, 2))
    aspp = [layers[f"aspp.rate{r}.0"] for r in (6, 12, 18)]
    assert [layer.dilation for layer in aspp] == [6, 12, 18]
    for layer in (*aspp, layers["aspp.conv1x1.0"], layers["classifier"]):
        assert (layer.h_o, layer.w_o) == (h // 16, width // 16)
    assert (layers["aspp.pool.1"].h_i, layers["aspp.pool.1"].c_o) == (1, 256)  # image pooling
    assert layers["aspp.project.0"].c_i == 5 * 256
    assert (w.layer_names[0], w.layer_names[-1]) == ("backbone.conv1", "classifier")
    assert layers["classifier"].c_o == 19


def deeplabv3_macs(h: int, w: int, width: int = 64, aspp: int = 256, classes: int = 19) -> int:
    """DeepLabv3 on the ResNet-18 trunk, counted by hand: stem at /2; stages at /4, /8, /16
    and (dilated) /16, with 1x1 projections where the width changes; ASPP at /16."""
    def conv(c_in: int, c_out: int, stride: int, k: int = 3) -> int:
        return c_out * (h // stride) * (w // stride) * c_in * k * k

    c = width
    trunk = (conv(3, c, 2, 7) + 4 * conv(c, c, 4)
             + conv(c, 2 * c, 8) + 3 * conv(2 * c, 2 * c, 8) + conv(c, 2 * c, 8, 1)
             + conv(2 * c, 4 * c, 16) + 3 * conv(4 * c, 4 * c, 16) + conv(2 * c, 4 * c, 16, 1)
             + conv(4 * c, 8 * c, 16) + 3 * conv(8 * c, 8 * c, 16) + conv(4 * c, 8 * c, 16, 1))
    head = (conv(8 * c, aspp, 16, 1) + 3 * conv(8 * c, aspp, 16) + 8 * c * aspp  # pool: 1x1 map
            + conv(5 * aspp, aspp, 16, 1) + conv(aspp, classes, 16, 1))
    return trunk + head


def test_deeplabv3_sizes_match_a_hand_count() -> None:
    assert load_workload("deeplabv3").macs == deeplabv3_macs(512, 1024) == 40_032_141_312
    full = model_entry("deeplabv3-full")
    assert (full.input_shape, full.num_classes, full.task) == ((3, 1024, 2048), 19,
                                                               "segmentation")
    # 160.1 G MACs, the 16-bit F.Ops; the paper (HW-FlowQ Tab. 6) reports about 147 G
    assert load_workload("deeplabv3-full").macs == deeplabv3_macs(1024, 2048)
    assert load_workload("deeplabv3-full").macs == pytest.approx(147e9, rel=0.09)
    small = model_entry("deeplabv3-small")
    assert (small.dataset, small.num_classes, small.task) == ("synthetic-seg", 5, "segmentation")
    assert load_workload("deeplabv3-small").macs == deeplabv3_macs(64, 128, 16, 64, 5)
    assert load_workload("deeplabv3-small").layer_names == load_workload("deeplabv3").layer_names
    assert model_entry("resnet20").task == "classification"


def test_deeplabv3_predicts_a_full_resolution_map() -> None:
    model = build_model(model_entry("deeplabv3")).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 128))
    assert out.shape == (1, 19, 64, 128)


def test_builders_take_num_classes() -> None:
    model = build_model(model_entry("resnet20"), num_classes=100)
    assert model.fc.out_features == 100
