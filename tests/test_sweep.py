"""`hwflow sweep`: grid expansion, search sweeps (combined CSV, rerun skips and resumes),
evaluate sweeps that equal `estimate`, and one-line errors naming the file and key."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwflow.catalog import load_accelerator, load_workload
from hwflow.cli import main
from hwflow.config import ConfigError, read_yaml, validate
from hwflow.dispatch.in_process import InProcess
from hwflow.hw.levels import estimate
from hwflow.runs.store import STORE_NAME, RunError, RunStore
from hwflow.search.driver import SearchStopped
from hwflow.search.experiment import load_experiment
from hwflow.strategy import LayerBits, Strategy, uniform_strategy
from hwflow.sweeps.config import SweepConfig, expand, load_sweep
from hwflow.sweeps.run import run_sweep
from tests.search_helpers import ProxyAccuracy, proxy_accuracy

SEARCH = """\
name: tiny
base:
  model: digits-cnn
  accelerator: spatial-256
  level: coarse
  objectives: [accuracy, frac_ops, dram_bytes]
  bits: [8, 4, 2]
  population: 6
  generations: 3
grid:
  accelerator: [spatial-168, spatial-256]
  seed: [1, 2]
"""
SEARCH_COLUMNS = ["point", "accelerator", "seed", "id", "pick", "level", "accuracy", "frac_ops",
                  "dram_bytes", "latency_cycles", "area", "hypervolume", "front_size",
                  "evaluations", "generations_done", "w_bits", "a_bits"]
LEADERS = {"hv-leader", "accuracy-leader", "compression-leader"}


def write(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def proxy(exp):
    return InProcess(ProxyAccuracy())


# --- grid expansion ---------------------------------------------------------------------------

def test_grid_is_every_combination_first_key_slowest_crossed_with_points(tmp_path):
    path = write(tmp_path, """\
base: {}
grid:
  accelerator: [spatial-168, spatial-256]
  finetune.epochs: [0.5, 1, 2]
points:
  - {population: 25, generations: 25}
  - {population: 50, generations: 50}
""")
    data, lines = read_yaml(path)
    points = expand(validate(path, data, lines, SweepConfig), lines)
    assert len(points) == 2 * 3 * 2
    first, second, last = points[0], points[1], points[-1]
    assert first.values == (("accelerator", "spatial-168"), ("finetune.epochs", 0.5),
                            ("population", 25), ("generations", 25))
    assert second.values[:2] == first.values[:2] and dict(second.values)["population"] == 50
    assert dict(points[2].values)["finetune.epochs"] == 1  # then the last grid key moves
    assert dict(points[6].values)["accelerator"] == "spatial-256"  # the first key moves last
    assert last.values == (("accelerator", "spatial-256"), ("finetune.epochs", 2),
                           ("population", 50), ("generations", 50))
    # each value remembers its line in the file (grid items, then the points' keys)
    assert first.lines == (3, 4, 6, 6) and last.lines == (3, 4, 7, 7)
    assert first.label == "accelerator=spatial-168, finetune.epochs=0.5, population=25, generations=25"
    assert first.folder == "accelerator=spatial-168_finetune.epochs=0.5_population=25_generations=25"
    assert len({p.folder for p in points}) == len(points)


def test_dotted_keys_reach_nested_settings_of_each_point(tmp_path):
    path = write(tmp_path, SEARCH.replace("  seed: [1, 2]", "  finetune.epochs: [0.5, 2]\n"
                                                           "  constraints.frac_ops_max: [1.0e+7]"))
    sweep = load_sweep(path)
    assert sweep.keys == ("accelerator", "finetune.epochs", "constraints.frac_ops_max")
    configs = [exp.config for exp in sweep.settings]
    assert [(c.accelerator, c.finetune.epochs) for c in configs] == [
        ("spatial-168", 0.5), ("spatial-168", 2.0), ("spatial-256", 0.5), ("spatial-256", 2.0)]
    assert all(c.constraints.frac_ops_max == 1e7 and c.population == 6 for c in configs)
    assert configs[0].name == "accelerator=spatial-168, finetune.epochs=0.5, constraints.frac_ops_max=10000000"


def test_a_base_experiment_file_is_shared_and_its_paths_stay_its_own(tmp_path):
    (tmp_path / "exps" / "chips").mkdir(parents=True)
    (tmp_path / "exps" / "chips" / "mine.yaml").write_text(
        (Path(__file__).parent.parent / "accelerators" / "spatial-168.yaml").read_text()
        .replace("name: spatial-168", "name: mine"))
    write(tmp_path / "exps", "model: digits-cnn\naccelerator: chips/mine.yaml\nlevel: coarse\n"
                             "objectives: [frac_ops, dram_bytes]\n", "base.yaml")
    sweep = load_sweep(write(tmp_path, "base: exps/base.yaml\ngrid:\n  batch: [1, 4]\n"))
    assert [e.config.batch for e in sweep.settings] == [1, 4]
    assert all(Path(e.config.accelerator) == tmp_path / "exps" / "chips" / "mine.yaml"
               for e in sweep.settings)


# --- search sweeps ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def search_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    sweep = load_sweep(write(folder, SEARCH))
    result = run_sweep(sweep, folder / "out", plots=False, accuracy=proxy)
    return sweep, result


def test_search_sweep_runs_every_point_into_its_own_run_directory(search_sweep):
    sweep, result = search_sweep
    assert [r.state for r in result.points] == ["ran"] * 4
    out = result.out
    assert result.files == [out / "sweep.csv"]
    rows = read_csv(out / "sweep.csv")
    assert list(rows[0]) == SEARCH_COLUMNS
    layers = load_workload("digits-cnn").layer_names
    for point in sweep.points:
        run = out / point.folder
        # the point's experiment file, loaded alone, is the experiment the run stored
        with RunStore(run / STORE_NAME) as store:
            assert load_experiment(run / "experiment.yaml").settings() == \
                store.get_meta("experiment")
        # the combined rows of a point are its run's front, metric for metric
        front = read_csv(run / "pareto.csv")
        mine = [r for r in rows if r["point"] == point.folder]
        assert [r["id"] for r in mine] == [f["id"] for f in front]
        for r, f in zip(mine, front):
            for metric in ("accuracy", "frac_ops", "dram_bytes"):
                assert float(r[metric]) == float(f[metric])
            assert r["w_bits"].split() == [f[k] for k in f if k.startswith("w_bits.")]
            assert r["a_bits"].split() == [f[k] for k in f if k.startswith("a_bits.")]
            strategy = Strategy("digits-cnn", tuple(
                LayerBits(name, int(w), int(a)) for name, w, a in
                zip(layers, r["w_bits"].split(), r["a_bits"].split())))
            assert float(r["accuracy"]) == proxy_accuracy(strategy)
        assert {r["accelerator"] for r in mine} == {dict(point.values)["accelerator"]}
        assert {r["seed"] for r in mine} == {str(dict(point.values)["seed"])}
        # each leader is named on exactly one row of its point
        picks = [p for r in mine for p in r["pick"].split("+") if p]
        assert sorted(picks) == sorted(LEADERS)
        with RunStore(run / STORE_NAME) as store:
            history = store.generations("coarse")
            assert {r["evaluations"] for r in mine} == {str(store.count("coarse"))}
        assert {float(r["hypervolume"]) for r in mine} == {history[-1].hypervolume}
        assert {r["front_size"] for r in mine} == {str(len(front))}
        assert {r["generations_done"] for r in mine} == {"3"}


def test_rerun_skips_finished_points_and_evaluates_nothing(search_sweep):
    sweep, result = search_sweep
    before = (result.out / "sweep.csv").read_text()
    counts = []
    for point in sweep.points:
        with RunStore(result.out / point.folder / STORE_NAME) as store:
            counts.append(store.count("coarse"))
    again = run_sweep(load_sweep(sweep.path), result.out, plots=False,
                      accuracy=lambda exp: pytest.fail("a finished point was searched again"))
    assert [r.state for r in again.points] == ["skipped"] * 4
    assert (result.out / "sweep.csv").read_text() == before
    for point, count in zip(sweep.points, counts):
        with RunStore(result.out / point.folder / STORE_NAME) as store:
            assert store.count("coarse") == count


class StopAfter:
    """Progress that stops the sweep (like Ctrl-C) after a given generation of a point."""

    def __init__(self, point: int, generation: int) -> None:
        self.stop_point, self.stop_generation, self.current = point, generation, -1

    def point(self, index, total, point, state):
        self.current = index

    def start(self, generations, last, evaluations):
        pass

    def evaluation(self, stats):
        pass

    def generation(self, row):
        if self.current == self.stop_point and row.generation == self.stop_generation:
            raise KeyboardInterrupt


def test_a_stopped_sweep_resumes_where_it_was_and_ends_as_an_uninterrupted_one(
        tmp_path, search_sweep):
    sweep, result = search_sweep
    out = tmp_path / "out"
    with pytest.raises(SearchStopped):
        run_sweep(sweep, out, progress=StopAfter(point=1, generation=2), plots=False,
                  accuracy=proxy)
    assert not (out / sweep.points[2].folder).exists()
    again = run_sweep(sweep, out, plots=False, accuracy=proxy)
    assert [r.state for r in again.points] == ["skipped", "resumed", "ran", "ran"]
    uninterrupted = read_csv(result.out / "sweep.csv")
    assert read_csv(out / "sweep.csv") == uninterrupted


def test_a_changed_point_is_refused_naming_the_key(tmp_path, search_sweep):
    sweep, result = search_sweep
    changed = load_sweep(write(tmp_path, SEARCH.replace("bits: [8, 4, 2]", "bits: [8, 4]")))
    with pytest.raises(RunError) as info:
        run_sweep(changed, result.out, plots=False, accuracy=proxy)
    assert "key 'bits' differs" in str(info.value)


FLOW = """\
name: flows
base:
  model: digits-cnn
  accelerator: spatial-256
  bits: [8, 4, 2]
  population: 6
  generations: 2
  stages:
    - level: coarse
      objectives: [frac_ops, dram_bytes]
    - level: mid
      objectives: [dram_bytes, latency_cycles]
      candidates: [{buffer_kb: 0.25}, {buffer_kb: 64}]
grid:
  stages.1.constraints.dram_bytes_max: [1.0e+5, 10]
"""


def test_flow_points_report_their_final_stage_and_a_failed_flow_has_no_rows(tmp_path):
    sweep = load_sweep(write(tmp_path, FLOW))
    assert [e.stages[1].constraints.dram_bytes_max for e in sweep.settings] == [1e5, 10]
    result = run_sweep(sweep, tmp_path / "out", plots=False)
    assert [r.state for r in result.points] == ["ran", "ran, flow failed"]
    met, failed = (tmp_path / "out" / p.folder for p in sweep.points)
    with (met / "flow.csv").open() as f:
        final = list(csv.DictReader(f))[-1]
    assert final["outcome"] == "done" and final["level"] == "mid"
    rows = read_csv(tmp_path / "out" / "sweep.csv")
    assert {r["point"] for r in rows} == {met.name}  # nothing from the failed flow
    front = read_csv(met / "pareto.csv")  # the flow directory holds its final step's front
    assert [(r["id"], r["level"], float(r["dram_bytes"])) for r in rows] == [
        (f["id"], "mid", float(f["dram_bytes"])) for f in front]
    # the buffer the flow settled on is in the rows
    assert {float(r["gene.buffer_kb"]) for r in rows} == {float(final["inputs"].split("=")[1])}
    again = run_sweep(load_sweep(sweep.path), tmp_path / "out", plots=False)
    assert [r.state for r in again.points] == ["skipped", "skipped, flow failed"]


# --- evaluate sweeps --------------------------------------------------------------------------

EVALUATE = """\
kind: evaluate
base:
  model: resnet20
  accelerator: eyeriss-256-db
  dram_bandwidth: 4
grid:
  level: [coarse, mid, fine]
  bits: [16, [4, 8]]
  buffer_kb: [4, 64]
"""


def test_evaluate_sweep_numbers_are_estimates_own(tmp_path):
    sweep = load_sweep(write(tmp_path, EVALUATE))
    result = run_sweep(sweep, tmp_path / "out", plots=False)
    rows = read_csv(tmp_path / "out" / "sweep.csv")
    assert len(rows) == 12 and [r.state for r in result.points].count("no mapping") == 2
    workload, catalog = load_workload("resnet20"), load_accelerator("eyeriss-256-db")
    for row in rows:
        bits = [16, 16] if row["bits"] == "16" else [4, 8]
        size = int(row["buffer_kb"]) * 1024
        scale = size / catalog.buffer.size_bytes  # access energy grows with the buffer
        accel = replace(catalog, dram=replace(catalog.dram, bandwidth=4.0), buffer=replace(
            catalog.buffer, size_bytes=size, read_cost=catalog.buffer.read_cost * scale,
            write_cost=catalog.buffer.write_cost * scale))
        strategy = uniform_strategy(workload, *bits)
        assert row["w_bits"].split() == [str(b) for b in strategy.w_bits]
        if row["level"] == "fine" and row["buffer_kb"] == "4":  # nothing fits in 4 KB
            assert row["status"].startswith("layer ") and "buffer is too small" in row["status"]
            assert row["dram_bytes"] == row["energy"] == row["frames_per_cycle"] == ""
            continue
        report = estimate(workload, strategy, accel, level=row["level"])
        totals = report.totals()
        assert row["status"] == "ok"
        for metric in ("macs", "frac_ops", "dram_bytes", "latency_cycles", "area"):
            assert float(row[metric]) == totals[metric], metric
        assert float(row["frames_per_cycle"]) == 1 / totals["latency_cycles"]
        if row["level"] == "coarse":
            assert row["energy"] == "" and "energy" not in totals  # absent, never zero
        else:
            assert float(row["energy"]) == totals["energy"]
    # a bigger buffer never moves more DRAM bytes (Mid and Fine)
    by = {(r["level"], r["bits"], r["buffer_kb"]): r for r in rows}
    for level in ("mid", "fine"):
        for bits in ("16", "4+8"):
            small, big = by[(level, bits, "4")]["dram_bytes"], by[(level, bits, "64")]["dram_bytes"]
            assert small == "" or float(big) <= float(small)


def test_evaluate_sweep_plot_and_cli_summary(tmp_path):
    path = write(tmp_path, EVALUATE + "plot: {x: buffer_kb, color: bits, style: level, logx: true}\n")
    code, out, err = run("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "plots" / "sweep.png").stat().st_size > 10_000
    assert "12 grid points (evaluate)" in out and "no mapping" in out and "sweep.csv" in out


# --- the CLI and errors -----------------------------------------------------------------------

def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_search_sweep_writes_the_comparison_plots(tmp_path):
    path = write(tmp_path, SEARCH.replace("objectives: [accuracy, frac_ops, dram_bytes]",
                                          "objectives: [frac_ops, dram_bytes]"))
    code, out, err = run("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 0, err
    for name in ("sweep.csv", "plots/fronts.png", "plots/leaders.png", "plots/hypervolume.png"):
        assert (tmp_path / "out" / name).is_file(), name
    assert "4 grid points (search)" in out and "files written under" in out
    assert "fronts.png" in out and "ran" in out


@pytest.mark.parametrize("change, key, words", [
    (("  seed: [1, 2]", "  seed: 1"), "line 12 key 'grid.seed'", "valid list"),
    (("  seed: [1, 2]", "  seed: []"), "line 12 key 'grid.seed'", "at least 1 item"),
    (("  seed: [1, 2]", "  batch: [1, 0]"), "line 12 key 'batch'",
     "greater than or equal to 1 (grid point accelerator=spatial-168, batch=0)"),
    (("  seed: [1, 2]", "  populaton: [4]"), "line 12 key 'populaton'", "unknown key; allowed"),
    (("  seed: [1, 2]", "  finetune.epochs: [-1]"), "line 12 key 'finetune.epochs'",
     "greater than 0"),
    (("  seed: [1, 2]", "  bits.x: [1]"), "line 12 key 'bits.x'", "'bits' has no entry 'x'"),
    (("  seed: [1, 2]", "  seed x: [1]"), "key 'grid'", "is not a key"),
    (("  seed: [1, 2]", "  bits: [[8, 3]]"), "line 12 key 'bits'", "[3] not supported by"),
    (("name: tiny", "name: tiny\nkind: sweeps"), "line 2 key 'kind'", "'search' or 'evaluate'"),
    (("name: tiny", "name: tiny\nplot: {x: seed}"), "line 2 key 'plot'",
     "applies to evaluate sweeps"),
    (("base:\n  model", "base: nowhere.yaml\nbas:\n  model"), "line 2 key 'base'",
     "no experiment file"),
])
def test_bad_sweeps_give_one_line_naming_file_and_key(tmp_path, change, key, words):
    path = write(tmp_path, SEARCH.replace(*change))
    code, out, err = run("sweep", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:"), err
    assert key in err and words in err, err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_evaluate_point_errors_name_the_point(tmp_path):
    for change, words in [(("bits: [16, [4, 8]]", "bits: [16, 3]"),
                           "line 8 key 'bits': w_bits=3 is not supported by eyeriss-256-db"),
                          (("  dram_bandwidth: 4", "  dram_bandwidth: 4\n  strategy: x.yaml"),
                           "line 6 key 'strategy'"),
                          (("model: resnet20", "model: resnet21"), "line 3 key 'model': unknown model")]:
        path = write(tmp_path, EVALUATE.replace(*change))
        with pytest.raises(ConfigError) as info:
            load_sweep(path)
        message = str(info.value)
        assert message.startswith(str(path)) and "\n" not in message
        assert words in message and "(grid point level=coarse" in message, message
