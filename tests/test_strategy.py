"""Strategy YAML round trip, uniform strategies and their errors."""

from __future__ import annotations

import pytest

from hwflow.strategy import LayerBits, Strategy, StrategyError, load_strategy, parse_bits, uniform_strategy
from hwflow.workload import Layer, Workload

NET = Workload("net", tuple(Layer(f"l{i}", "conv", 4, 4, 4, 4, 4, 4) for i in range(4)))


def test_uniform_keeps_ends_at_16_unless_told():
    s = uniform_strategy(NET, 4, 8)
    assert s.w_bits == (16, 4, 4, 16) and s.a_bits == (16, 8, 8, 16)
    assert uniform_strategy(NET, 2, keep_ends=False).w_bits == (2, 2, 2, 2)


def test_yaml_round_trip_keeps_extra_keys(tmp_path):
    s = Strategy("net", tuple(LayerBits(f"l{i}", 8 - i, 4) for i in range(4)),
                 extra={"id": 7, "accelerator": "spatial-256", "level": "fine", "batch": 1})
    path = tmp_path / "s.yaml"
    s.save(path)
    back = load_strategy(path)
    assert back == s and back.extra == s.extra
    back.check_matches(NET)


@pytest.mark.parametrize("text,message", [
    ("model: net\n", "key 'layers' must be a non-empty list"),
    ("layers: []\n", "key 'model' must be a model name"),
    ("model: net\nlayers:\n- {name: l0, w_bits: 0, a_bits: 4}\n",
     r"key 'layers\[0\].w_bits' is 0; allowed: a whole number 1..32"),
    ("model: net\nlayers:\n- {name: l0, w_bits: 4}\n", r"layers\[0\] must have exactly name, w_bits, a_bits"),
    ("model: [\n", "not valid YAML"),
])
def test_bad_strategy_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match=message):
        load_strategy(path)


def test_mismatched_layers_are_named():
    s = uniform_strategy(Workload("net", NET.layers[:3]), 8)
    with pytest.raises(StrategyError, match=r"missing \['l3'\]"):
        s.check_matches(NET)


def test_parse_bits():
    assert parse_bits("8") == (8, 8) and parse_bits("4,8") == (4, 8)
    with pytest.raises(StrategyError):
        parse_bits("4,8,2")
