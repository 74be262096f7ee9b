"""Accelerator co-search: genes declared in YAML, extra loci in the genome, each individual
scored on its own accelerator exactly as ``hwflow evaluate`` scores it, area and budgets as
objectives and constraints, and exported solutions whose accelerator YAML reproduces the
stored numbers."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from hwflow.accelerator_knobs import apply_genes
from hwflow.catalog import accelerator_names, load_accelerator, load_workload
from hwflow.cli import main
from hwflow.config import ConfigError, accelerator_from_yaml, accelerator_yaml
from hwflow.hw.area import accelerator_area
from hwflow.hw.levels import estimate
from hwflow.hw.tiling import MappingError
from hwflow.search.costs import AcceleratorCosts, HardwareTable
from hwflow.search.experiment import load_experiment
from hwflow.search.ga.operators import AlleleMutation
from hwflow.search.space.accelerator_genes import AcceleratorGenesConfig, AcceleratorSpace
from hwflow.search.space.genome import BitGenome
from hwflow.strategy import LayerBits, Strategy, uniform_strategy
from hwflow.workload import Workload
from tests.search_helpers import tiny_workload
from tests.test_search_operators import GenomeSpace

GENES = """\
accelerator_genes:
  rows: [8, 16]
  cols: {min: 8, max: 32, factor: 2}
  buffer_kb: [1, 16, 64]
  rf_psum_words: {min: 8, max: 24, step: 8}
  dataflow: [rs, ws, os]
  engine: [vectorized, bit-serial]
  lanes: [8, 16]
  dram_bandwidth: [4, 16]
  batch: [1, 4]
"""
EXPERIMENT = """\
model: digits-cnn
accelerator: eyeriss-256-db
level: {level}
objectives: [{objectives}]
bits: [8, 4, 2]
population: 10
generations: 4
seed: 2
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- genes in YAML ----------------------------------------------------------------------

def test_genes_declare_choices_ranges_and_fixed_values(tmp_path):
    exp = load_experiment(write(tmp_path, EXPERIMENT.format(level="fine", objectives="energy, area")
                                + GENES))
    space = exp.space()
    choices = {g.name: g.choices for g in space.genes}
    assert choices == {"rows": (8, 16), "cols": (8, 16, 32), "buffer_kb": (1.0, 16.0, 64.0),
                       "rf_psum_words": (8, 16, 24), "dataflow": ("rs", "ws", "os"),
                       "engine": ("vectorized", "bit-serial"), "lanes": (8, 16),
                       "dram_bandwidth": (4.0, 16.0), "batch": (1, 4)}
    genome = exp.genome(exp.workload(), exp.accelerator())
    # 3 searched layers x (w, a) bit genes, then one locus per accelerator gene
    assert genome.n_bit_var == 6 and genome.n_var == 6 + 9
    assert genome.gene_locus.tolist() == [0, 0, 1, 1, 2, 2, *range(3, 12)]
    assert genome.xu.tolist() == [2] * 6 + [1, 2, 2, 2, 2, 1, 1, 1, 1]
    assert genome.size == 3 ** 6 * 2 * 3 * 3 * 3 * 3 * 2 * 2 * 2 * 2

    fixed = load_experiment(write(tmp_path, EXPERIMENT.format(level="mid", objectives="energy, area")
                                  + "accelerator_genes: {buffer_kb: 32, batch: 4}\n"))
    assert fixed.space().genes == () and fixed.batch == 4
    assert fixed.accelerator().buffer.size_bytes == 32 * 1024
    assert fixed.genome(fixed.workload(), fixed.accelerator()).n_accel == 0


@pytest.mark.parametrize("genes, key, message", [
    ("{rowz: [8]}", "accelerator_genes.rowz", "unknown key"),
    ("{rows: [8, 8]}", "accelerator_genes.rows", "listed twice"),
    ("{rows: [8.5]}", "accelerator_genes.rows", "whole numbers"),
    ("{buffer_kb: [0, 8]}", "accelerator_genes.buffer_kb", "positive"),
    ("{cols: {min: 8, max: 4, step: 2}}", "accelerator_genes.cols", "max is below min"),
    ("{cols: {min: 8, max: 16}}", "accelerator_genes.cols", "exactly one of step or factor"),
    ("{dataflow: [rs, xs]}", "accelerator_genes.dataflow", "['xs'] not allowed; choose from rs"),
    ("{lanes: [8, 16]}", "accelerator_genes", "lanes applies to bit-serial engines"),
    ("{batch: [1, 2]}\nbatch: 2", "(top level)", "batch is given both"),
])
def test_bad_genes_are_one_line_errors(tmp_path, genes, key, message):
    path = write(tmp_path, EXPERIMENT.format(level="fine", objectives="energy, area")
                 + f"accelerator_genes: {genes}\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)) and f"key '{key}" in text
    assert message in text


def test_bits_must_run_on_every_searched_engine(tmp_path):
    base = EXPERIMENT.format(level="fine", objectives="energy, area").replace(
        "accelerator: eyeriss-256-db", "accelerator: bs-256").replace("bits: [8, 4, 2]", "bits: [5, 4]")
    assert load_experiment(write(tmp_path, base)).genome  # bit-serial runs 5 bit
    with pytest.raises(ConfigError, match=r"key 'bits'.*\[5\] not supported by bs-256 with every "
                                          r"searched engine"):
        load_experiment(write(tmp_path, base + "accelerator_genes: {engine: [bit-serial, vectorized]}\n"))


# --- building accelerators ----------------------------------------------------------------

def test_apply_genes_sets_each_knob_and_scales_the_buffer_energy():
    base = load_accelerator("spatial-256")
    a = apply_genes(base, {"rows": 8, "cols": 32, "buffer_kb": 128.0, "rf_filter_words": 112,
                           "dataflow": "os", "dram_bandwidth": 16.0})
    assert (a.rows, a.cols, a.dataflow, a.dram.bandwidth, a.rf.filter_words) == (8, 32, "os", 16.0, 112)
    assert a.buffer.size_bytes == 128 * 1024
    # half the buffer, half the energy per access (13.84 at 256 KB in the paper's table)
    assert a.buffer.read_cost == a.buffer.write_cost == pytest.approx(13.84 / 2)
    assert (a.rf.fmap_words, a.rf.psum_words, a.engine) == (12, 16, base.engine)

    bs = apply_genes(base, {"engine": "bit-serial"})
    assert bs.engine.kind == "bit-serial" and bs.engine.lanes == 16
    assert bs.supported_bits == tuple(range(16, 0, -1))
    assert apply_genes(base, {"engine": "vectorized", "lanes": 8}).engine == base.engine
    back = apply_genes(load_accelerator("bs-256"), {"engine": "vectorized"})
    assert back.engine.lanes == 1 and back.supported_bits == (16, 8, 6, 4, 2, 1)
    assert apply_genes(load_accelerator("bs-256"), {"lanes": 4}).engine.lanes == 4


@pytest.mark.parametrize("name", accelerator_names())
def test_accelerator_yaml_round_trips_every_catalog_design(name, tmp_path):
    accel = load_accelerator(name)
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(accelerator_yaml(accel)))
    again = load_accelerator(str(path))
    assert again.key() == accel.key() and again.supported_bits == accel.supported_bits
    assert again.tied_bits == accel.tied_bits and again.name == accel.name
    assert accelerator_from_yaml(accelerator_yaml(accel)).key() == accel.key()


# --- the genome and the operators ---------------------------------------------------------

def test_encode_and_decode_with_accelerator_loci():
    g = BitGenome.for_layers("m", ("a", "b", "c"), (8, 4), tied=False, keep_ends=True, end_bits=16,
                             accel_loci=(("rows", 3), ("dataflow", 2)))
    x = np.array([1, 0, 2, 1])
    assert g.bits(x)[0].tolist() == [[16, 4, 16]] and g.bits(x)[1].tolist() == [[16, 8, 16]]
    assert g.accel_part(x).tolist() == [[2, 1]]
    assert np.array_equal(g.encode(g.strategy(x), (2, 1)), x)
    every = g.all_genomes()
    assert len(every) == g.size == 2 * 2 * 3 * 2 and len({tuple(r) for r in every}) == g.size


@settings(max_examples=40, deadline=None)
@given(choices=st.lists(st.integers(2, 5), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_mutation_draws_accelerator_alleles_within_each_genes_choices(choices, seed):
    genome = BitGenome.for_layers("m", ("a", "b", "c"), (8, 4, 2), tied=True, keep_ends=True,
                                  end_bits=16, accel_loci=tuple((f"g{i}", c) for i, c in enumerate(choices)))
    problem = GenomeSpace(genome)
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, u + 1, size=400) for u in problem.xu])
    Y = AlleleMutation()._do(problem, X, random_state=rng)
    changed = Y != X
    assert (changed.sum(axis=1) == 1).all()
    assert ((Y >= 0) & (Y <= problem.xu)).all()
    # every accelerator locus gets mutated sometimes (one locus per gene)
    assert changed[:, genome.n_bit_var:].any(axis=0).all()


# --- the cost path: exactly estimate's numbers, per individual ---------------------------

@settings(max_examples=25, deadline=None)
@given(level=st.sampled_from(["coarse", "mid", "fine"]), data=st.data())
def test_each_individual_is_scored_on_its_own_accelerator_like_estimate(level, data):
    workload = tiny_workload(4)
    genes = AcceleratorGenesConfig(rows=[4, 8], cols=[4, 16], buffer_kb=[2.0, 32.0],
                                   dataflow=["rs", "ws"], engine=["vectorized", "bit-serial"],
                                   batch=[1, 2])
    space = AcceleratorSpace.of(load_accelerator("eyeriss-256-db"), 1, genes)
    costs = AcceleratorCosts(workload, space, level)
    n = 4
    w = np.array([data.draw(st.lists(st.sampled_from([8, 4, 2]), min_size=4, max_size=4))
                  for _ in range(n)])
    a = np.array([data.draw(st.lists(st.sampled_from([8, 4, 2]), min_size=4, max_size=4))
                  for _ in range(n)])
    index = np.array([[data.draw(st.integers(0, len(g.choices) - 1)) for g in space.genes]
                      for _ in range(n)])
    totals = costs.totals(w, a, index)
    for j in range(n):
        accel, batch = space.build(space.values(index[j]))
        strategy = Strategy("tiny", tuple(LayerBits(layer.name, int(wb), int(ab))
                                          for layer, wb, ab in zip(workload.layers, w[j], a[j])))
        try:
            expected = estimate(workload, strategy, accel, level=level, batch=batch).totals()
        except MappingError:
            assert totals["unmapped_layers"][j] >= 1 and np.isinf(totals["latency_cycles"][j])
            continue
        assert totals["unmapped_layers"][j] == 0
        for metric, value in expected.items():
            assert totals[metric][j] == value, metric  # bit for bit
        assert totals["area"][j] == accelerator_area(accel)


def test_an_accelerator_that_cannot_map_a_layer_counts_its_unmapped_layers():
    space = AcceleratorSpace.of(load_accelerator("spatial-256"), 1,
                                AcceleratorGenesConfig(buffer_kb=[0.25, 64.0]))
    workload = load_workload("digits-cnn")
    costs = AcceleratorCosts(workload, space, "fine")
    bits = np.full((2, 5), 16)
    totals = costs.totals(bits, bits, np.array([[0], [1]]))
    tiny = space.build({"buffer_kb": 0.25})[0]
    unmapped = 0
    for layer in workload.layers:  # each layer alone, through estimate
        alone = Workload("one", (layer,))
        try:
            estimate(alone, uniform_strategy(alone, 16, keep_ends=False), tiny, level="fine")
        except MappingError:
            unmapped += 1
    assert 0 < unmapped < 5
    assert totals["unmapped_layers"].tolist() == [unmapped, 0.0]
    assert np.isinf(totals["energy"][0]) and np.isfinite(totals["energy"][1])


# --- a co-search run, end to end ---------------------------------------------------------

@pytest.fixture(scope="module")
def cosearch_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cosearch")
    exp = write(folder, EXPERIMENT.format(level="fine", objectives="energy, latency_cycles, area")
                + GENES + "constraints: {area_max: 12.0}\n")
    code, out, err = run("search", str(exp), "--out", str(folder / "run"), "--no-plots")
    assert code == 0, err
    assert "files written under" in out
    assert (folder / "run" / "strategies" / "hv-leader.accelerator.yaml").is_file()
    return folder / "run"


def test_cosearch_front_is_feasible_mappable_and_carries_its_genes(cosearch_run):
    with (cosearch_run / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows
    genes = ["rows", "cols", "buffer_kb", "rf_psum_words", "dataflow", "engine", "lanes",
             "dram_bandwidth", "batch"]
    assert list(rows[0])[-len(genes):] == genes
    for r in rows:
        assert float(r["area"]) <= 12.0
        assert np.isfinite(float(r["energy"]))
    import sqlite3

    db = sqlite3.connect(cosearch_run / "run.sqlite")
    stored = [(json.loads(g), json.loads(m), json.loads(o), s) for g, m, o, s in db.execute(
        "SELECT accel_genes, metrics, objectives, status FROM evaluations")]
    db.close()
    assert len({json.dumps(g, sort_keys=True) for g, *_ in stored}) > 5  # designs vary
    for genes_of, metrics, objectives, status in stored:
        assert set(genes_of) == set(genes)
        assert (status == "unmappable") == (metrics["unmapped_layers"] > 0)
        # the batch is searched: objectives compare individuals per frame
        assert objectives["energy"] == metrics["energy"] / genes_of["batch"]
        assert objectives["latency_cycles"] == metrics["latency_cycles"] / genes_of["batch"]
        assert objectives["area"] == metrics["area"]


@pytest.mark.parametrize("pick", ["hv-leader", "compression-leader"])
def test_exported_accelerator_reproduces_the_stored_numbers_exactly(cosearch_run, tmp_path, pick):
    strategy_file = cosearch_run / "strategies" / f"{pick}.yaml"
    strategy = yaml.safe_load(strategy_file.read_text())
    assert strategy["accelerator"] == f"{pick}.accelerator.yaml"
    accel = load_accelerator(str(cosearch_run / "strategies" / strategy["accelerator"]))
    genes = strategy["accelerator_genes"]
    assert (accel.rows, accel.cols, accel.dataflow, accel.engine.kind) == (
        genes["rows"], genes["cols"], genes["dataflow"], genes["engine"])
    assert strategy["batch"] == genes["batch"] and strategy["dataflow"] == genes["dataflow"]
    code, out, err = run("evaluate", "--strategy", str(strategy_file), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["batch"] == genes["batch"]
    for metric, value in report["totals"].items():
        assert strategy["metrics"][metric] == value, metric  # exactly
    # exported elsewhere, the accelerator file travels with the strategy
    target = tmp_path / "mine" / "best.yaml"
    target.parent.mkdir()
    code, _, err = run("export", str(cosearch_run), "--pick", pick, "-o", str(target))
    assert code == 0, err
    assert yaml.safe_load(target.read_text())["accelerator"] == "best.accelerator.yaml"
    assert (tmp_path / "mine" / "best.accelerator.yaml").is_file()
    code, out, err = run("evaluate", "--strategy", str(target), "--json")
    assert code == 0, err
    assert json.loads(out)["totals"] == report["totals"]


def test_export_to_stdout_names_an_absolute_accelerator_file(cosearch_run):
    with (cosearch_run / "pareto.csv").open() as f:
        first = next(csv.DictReader(f))["id"]
    code, out, err = run("export", str(cosearch_run), "--pick", first)
    assert code == 0, err
    path = Path(yaml.safe_load(out)["accelerator"])
    assert path.is_absolute() and path.name == f"id-{first}.accelerator.yaml" and path.is_file()


def test_latency_and_energy_budgets_are_hard_constraints(tmp_path):
    text = (EXPERIMENT.format(level="mid", objectives="dram_bytes, area")
            + "accelerator_genes: {rows: [4, 16], cols: [4, 16], buffer_kb: [1, 8]}\n"
            + "constraints: {latency_cycles_max: 2000, energy_max: 2.0e6}\n")
    exp = write(tmp_path, text)
    code, _, err = run("search", str(exp), "--out", str(tmp_path / "run"), "--no-plots")
    assert code == 0, err
    from hwflow.runs.reports import open_run

    front = open_run(tmp_path / "run").front
    assert front
    for e in front:
        assert e.metrics["latency_cycles"] <= 2000 and e.metrics["energy"] <= 2.0e6
        assert set(e.constraints) == {"latency_cycles_max", "energy_max", "unmapped_layers_max"}


def test_both_cost_tables_answer_the_one_protocol_like_estimate():
    """Fitness asks any cost table the same question; both answer it with estimate's totals
    and the accelerator genes of each genome (none for a fixed accelerator)."""
    workload = tiny_workload(4)
    accel = load_accelerator("eyeriss-256-db")  # untied: w != a
    w = np.array([[8, 4, 2, 8], [4, 4, 8, 2]])
    a = np.array([[8, 8, 4, 2], [2, 4, 8, 8]])
    fixed = HardwareTable(workload, accel, "mid")
    space = AcceleratorSpace.of(accel, 1, AcceleratorGenesConfig(rows=[4, 8]))
    designed = AcceleratorCosts(workload, space, "mid")
    for table, index, rows in ((fixed, np.zeros((2, 0), dtype=int), (16, 16)),
                               (designed, np.array([[1], [0]]), (8, 4))):
        costs, genes = table.network_costs(w, a, index)
        assert genes == ([{}, {}] if table is fixed else [{"rows": 8}, {"rows": 4}])
        for j in range(2):
            strategy = Strategy("tiny", tuple(LayerBits(layer.name, int(wb), int(ab))
                                              for layer, wb, ab in zip(workload.layers, w[j], a[j])))
            on = replace(accel, rows=rows[j])
            for metric, value in estimate(workload, strategy, on, level="mid").totals().items():
                if metric != "area":
                    assert costs[metric][j] == value, metric
