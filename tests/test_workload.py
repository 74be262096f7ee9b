"""extract_workload on small hand-built modules: shapes, MACs, halo rule, names, rejections,
and the Workload JSON round trip."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from hwflow.workload import Layer, Workload, extract_workload


def single(conv: nn.Module, input_shape: tuple[int, int, int]) -> Layer:
    (layer,) = extract_workload(nn.Sequential(conv), input_shape, "t").layers
    return layer


def test_conv_with_stride_padding_dilation() -> None:
    layer = single(nn.Conv2d(4, 8, 3, stride=2, padding=2, dilation=2), (4, 11, 11))
    # h_o = floor((11 + 2*2 - 2*(3-1) - 1) / 2) + 1 = 6
    assert (layer.kind, layer.name) == ("conv", "0")
    assert (layer.c_i, layer.c_o, layer.h_i, layer.w_i, layer.h_o, layer.w_o) == (4, 8, 11, 11, 6, 6)
    assert (layer.k_h, layer.k_w, layer.stride, layer.padding, layer.dilation, layer.groups) == \
        (3, 3, 2, 2, 2, 1)
    assert layer.macs == 8 * 6 * 6 * 4 * 9  # 10,368
    # kernel extent 5 >= stride 2: windows overlap, rows = (6-1)*2 + 5 = 15 = 11 + 2 pad rows
    assert layer.input_rows(6) == 15 and layer.input_cols(6) == 15
    assert layer.input_rows(1) == 5 and layer.input_rows(3) == 9
    assert layer.input_count == 4 * 15 * 15


def test_grouped_conv() -> None:
    conv = nn.Conv2d(8, 12, 3, padding=1, groups=4)
    layer = single(conv, (8, 5, 5))
    assert layer.groups == 4 and (layer.c_i_per_group, layer.c_o_per_group) == (2, 3)
    assert layer.macs == 12 * 5 * 5 * 2 * 9  # 5,400
    assert layer.weight_count == conv.weight.numel() == 216
    assert layer.output_count == 12 * 25


def test_depthwise_conv() -> None:
    layer = single(nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6), (6, 8, 8))
    assert (layer.groups, layer.h_o, layer.w_o) == (6, 4, 4)
    assert layer.macs == 6 * 4 * 4 * 1 * 9  # 864: one input channel per output channel
    assert layer.weight_count == 54


def test_linear_is_a_1x1_conv_on_a_1x1_map() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 7))
    (layer,) = extract_workload(model, (2, 3, 3), "t").layers
    assert (layer.name, layer.kind, layer.c_i, layer.c_o) == ("1", "linear", 18, 7)
    assert (layer.h_i, layer.w_i, layer.h_o, layer.w_o, layer.k_h, layer.k_w) == (1, 1, 1, 1, 1, 1)
    assert layer.macs == 126 and layer.weight_count == 126 and layer.input_count == 18


def test_kernel_smaller_than_stride_skips_the_gaps() -> None:
    layer = single(nn.Conv2d(3, 5, 1, stride=2), (3, 9, 9))  # a ResNet-style 1x1/2 shortcut
    assert layer.h_o == 5
    assert layer.input_rows(5) == 5  # rows 0, 2, 4, 6, 8; rows 1, 3, 5, 7 are never read
    assert layer.input_count == 3 * 5 * 5
    wide = single(nn.Conv2d(1, 1, 2, stride=3), (1, 11, 11))  # h_o = 4, windows {0,1},{3,4},..
    assert wide.h_o == 4 and wide.input_rows(4) == 8 and wide.input_cols(2) == 4


@settings(max_examples=80, deadline=None)
@given(k=st.integers(1, 5), stride=st.integers(1, 4), dilation=st.integers(1, 3),
       n_out=st.integers(1, 12))
def test_input_rows_counts_the_rows_under_the_windows(k: int, stride: int, dilation: int,
                                                      n_out: int) -> None:
    layer = Layer("x", "conv", 1, 1, 64, 64, n_out, n_out, k, k, stride, 0, dilation)
    extent = (k - 1) * dilation + 1
    under_windows = {o * stride + r for o in range(n_out) for r in range(extent)}
    taps = {o * stride + j * dilation for o in range(n_out) for j in range(k)}
    assert layer.input_rows(n_out) == len(under_windows)
    if dilation == 1 or k == 1:  # no holes inside a window: exactly the rows the taps read
        assert layer.input_rows(n_out) == len(taps)


@settings(max_examples=40, deadline=None)
@given(c_per_group=st.integers(1, 3), groups=st.integers(1, 3), c_o_per_group=st.integers(1, 3),
       k=st.integers(1, 4), stride=st.integers(1, 3), dilation=st.integers(1, 2),
       size=st.integers(9, 14))
def test_macs_equal_the_products_torch_actually_sums(c_per_group: int, groups: int,
                                                     c_o_per_group: int, k: int, stride: int,
                                                     dilation: int, size: int) -> None:
    # with unit weights and inputs and no padding, each output sums exactly its products
    conv = nn.Conv2d(c_per_group * groups, c_o_per_group * groups, k, stride=stride,
                     dilation=dilation, groups=groups, bias=False)
    nn.init.ones_(conv.weight)
    layer = single(conv, (conv.in_channels, size, size))
    with torch.no_grad():
        out = conv(torch.ones(1, conv.in_channels, size, size))
    assert layer.macs == int(out.sum().item())
    assert (layer.h_o, layer.w_o) == tuple(out.shape[-2:])


class Branchy(nn.Module):
    """Defines its modules in one order and runs them in another."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 3)
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.stem = nn.Conv2d(2, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def test_names_are_module_paths_in_execution_order() -> None:
    model = Branchy().train()
    workload = extract_workload(model, (2, 6, 6), "branchy")
    assert workload.name == "branchy"
    assert workload.layer_names == ("stem", "body.0", "body.2", "head")
    assert workload.macs == 4 * 36 * 2 * 9 + 4 * 36 * 4 * 9 + 4 * 36 * 4 + 12
    # the trace leaves the module as it found it
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


def test_a_module_run_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="conv runs twice"):
        extract_workload(Twice(), (3, 4, 4), "t")


@pytest.mark.parametrize("conv, what", [
    (nn.Conv2d(3, 4, (3, 1)), "kernel_size"),
    (nn.Conv2d(3, 4, 3, stride=(1, 2)), "stride"),
    (nn.Conv2d(3, 4, 3, padding=(1, 0)), "padding"),
])
def test_non_square_convolutions_are_rejected_by_name(conv: nn.Conv2d, what: str) -> None:
    with pytest.raises(ValueError, match=rf"layer 0: non-square {what}=\(\d, \d\) is not supported"):
        single(conv, (3, 8, 8))


layers_st = st.builds(
    lambda name, kind, g, ci, co, hi, ho, k, s, p, d: Layer(
        name, kind, ci * g, co * g, hi, hi + 1, ho, ho + 2, k, k, s, p, d, g),
    st.text(min_size=1, max_size=12), st.sampled_from(["conv", "linear"]), st.integers(1, 4),
    st.integers(1, 64), st.integers(1, 64), st.integers(1, 300), st.integers(1, 300),
    st.integers(1, 11), st.integers(1, 4), st.integers(0, 5), st.integers(1, 18))


@settings(max_examples=50, deadline=None)
@given(layers=st.lists(layers_st, max_size=6), name=st.text(max_size=10))
def test_workload_json_round_trip(layers: list[Layer], name: str, tmp_path_factory) -> None:
    workload = Workload(name=name, layers=tuple(layers))
    assert Workload.from_json(json.loads(json.dumps(workload.to_json()))) == workload
    path = tmp_path_factory.mktemp("wl") / "w.layers.json"
    workload.save(path)
    assert Workload.load(path) == workload


def test_from_json_ignores_extra_keys() -> None:
    data = {"name": "n", "meta": {"file": "x.py"},
            "layers": [{"name": "fc", "kind": "linear", "c_i": 3, "c_o": 2, "h_i": 1, "w_i": 1,
                        "h_o": 1, "w_o": 1, "note": "ignored"}]}
    (layer,) = Workload.from_json(data).layers
    assert layer == Layer("fc", "linear", 3, 2, 1, 1, 1, 1)
