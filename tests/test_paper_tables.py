"""Fine level against HW-FlowQ's own tables and Eyeriss ISCA'16's dataflow comparison.

Figures: tests/validation/hwflowq_resnet20.yaml (Fasfous et al., HW-FlowQ, ACM TECS
20(5s) 2021, Tab. 3/4/5/6) and tests/validation/eyeriss_alexnet.yaml (Chen et al., Eyeriss,
ISCA 2016). Every row runs the catalog accelerator at the default mapper objective,
ResNet20 at batch 1, first and last layer at 16 bit. Rows the model does not reach are
strict xfails with the reason docs/hardware-model.md gives, so reaching one flags it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.fine import fine_layer_cost
from hwflow.hw.levels import estimate
from hwflow.hw.query import LayerQuery
from hwflow.strategy import uniform_strategy

VALIDATION = Path(__file__).parent / "validation"
PAPER = yaml.safe_load((VALIDATION / "hwflowq_resnet20.yaml").read_text())
EYERISS = yaml.safe_load((VALIDATION / "eyeriss_alexnet.yaml").read_text())
TOLERANCE = 0.15  # the requirement; most rows are within ±9 %

# (row, metric) -> why the model does not reach it (docs/hardware-model.md, "Paper tables")
MISSES = {
    ("spatial-256-ws", "energy"): "WS on-chip traffic per MAC is 7.7 units, the paper's 12.8",
    ("2", "latency"): "the paper's 2-bit row uses half the lanes its V allows",
    ("1", "energy"): "the paper's 1-bit row costs more than its 2-bit one",
    ("1", "latency"): "the paper's 1-bit row runs below full lane utilization",
}


@functools.cache
def resnet20_fine(accelerator: str, dataflow: str, bits: int) -> tuple[float, float]:
    """(energy in 1e7, latency in 1e3 cycles) of ResNet20 at batch 1."""
    workload = load_workload("resnet20")
    accel = load_accelerator(accelerator).with_dataflow(dataflow)
    totals = estimate(workload, uniform_strategy(workload, bits, bits), accel, "fine").totals()
    return totals["energy"] / 1e7, totals["latency_cycles"] / 1e3


def rows() -> list:
    out = []
    for row, fig in PAPER["resnet20_16bit"].items():
        accelerator, dataflow = row.rsplit("-", 1)
        out.append((row, accelerator, dataflow, 16, fig))
    for bits, fig in PAPER["resnet20_uniform_spatial256_rs"].items():
        out.append((bits, "spatial-256", "rs", int(bits), fig))
    params = []
    for row, accelerator, dataflow, bits, fig in out:
        for metric in ("energy", "latency"):
            marks = ()
            if (row, metric) in MISSES:
                marks = pytest.mark.xfail(strict=True, reason=MISSES[(row, metric)])
            params.append(pytest.param(accelerator, dataflow, bits, metric, fig[metric],
                                       id=f"{row}-{metric}", marks=marks))
    return params


@pytest.mark.parametrize("accelerator, dataflow, bits, metric, published", rows())
def test_paper_row_within_15_percent(accelerator, dataflow, bits, metric, published):
    energy, latency = resnet20_fine(accelerator, dataflow, bits)
    model = energy if metric == "energy" else latency
    assert model == pytest.approx(published, rel=TOLERANCE), f"{model:.2f} vs {published}"


def test_dataflow_ordering_of_tab5():
    """Tab. 5: RS < OS < WS in energy, OS the fastest."""
    by = {df: resnet20_fine("spatial-256", df, 16) for df in ("rs", "os", "ws")}
    assert by["rs"][0] < by["os"][0] < by["ws"][0]
    assert by["os"][1] < min(by["rs"][1], by["ws"][1])


def test_energy_saturates_with_bits_as_in_tab6():
    """Psums stay at b_max per lane, so 4 bit keeps at least 40 % of the 16-bit energy
    (paper: 16 / 33) although Frac.OPs fall to a quarter, and 1 bit is not much cheaper
    than 2 bit (paper: 15 against 14)."""
    e16, e4, e2, e1 = (resnet20_fine("spatial-256", "rs", b)[0] for b in (16, 4, 2, 1))
    assert e4 >= 0.4 * e16
    assert e1 >= 0.8 * e2
    assert e16 > e4 > e2 > e1  # fewer bits never cost more


def test_rs_beats_other_dataflows_on_alexnet_conv_as_isca16():
    from test_eyeriss_validation import alexnet_towers, eyeriss_isca16

    comparison = EYERISS["eyeriss_isca16_dataflow_comparison"]
    low, high = comparison["rs_advantage"]
    towers = alexnet_towers()
    accel = eyeriss_isca16()
    batch = EYERISS["eyeriss_isca16_fig10"]["setup"]["batch"]

    def conv_energy(dataflow: str) -> float:
        # nn_dataflow and ISCA'16 pick each dataflow's energy-optimal mapping
        chip = accel.with_dataflow(dataflow)
        return sum(fine_layer_cost(LayerQuery(layer, 16, 16, 16, chip, batch, "energy")).energy
                   for name in comparison["layers"] for layer in towers[name])

    rs = conv_energy("rs")
    for dataflow in ("ws", "os"):
        ratio = conv_energy(dataflow) / rs
        # published to two significant digits: 1.4 stands for [1.35, 1.45)
        assert low - 0.05 <= ratio < high + 0.05, f"{dataflow}: {ratio:.3f}"
