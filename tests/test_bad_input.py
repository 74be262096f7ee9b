"""Bad input, as a new user gives it: every case ends in one line naming the file, the key
and what is allowed, exits non-zero with no traceback, returns within seconds, and a
rejected command writes nothing (the corrected command then runs, not refused as
"already holds a run").

One test per defect class of issue 11 (non-UTF-8 files, recursive / deep / exploding
YAML, values the search would fail on, huge or infinite accelerator numbers, strategy
keys, broken model files, run stores that are not hwflow's, output paths, empty bits, huge
batches, dead Dask workers, Ctrl-C between flow steps). The fuzz test over the schemas is
tests/test_bad_input_fuzz.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hwflow.catalog import load_workload
from hwflow.cli import main
from hwflow.strategy import uniform_strategy

ROOT = Path(__file__).resolve().parent.parent
CLI = "from hwflow.cli import main; main(prog_name='hwflow')"
SPATIAL = (ROOT / "accelerators" / "spatial-256.yaml").read_text()
# hardware only, a handful of evaluations: a valid run takes a second or two
SEARCH = """\
name: tiny
model: digits-cnn
accelerator: spatial-256
level: coarse
objectives: [frac_ops, dram_bytes]
bits: [8, 4]
population: 4
generations: 1
"""


def refused(*args: str, names: tuple[str, ...] = (), seconds: float = 30) -> str:
    """Run the CLI in this process; assert one ``error:`` line naming each of ``names``."""
    start = time.perf_counter()
    result = CliRunner().invoke(main, list(args))
    took = time.perf_counter() - start
    assert isinstance(result.exception, SystemExit), f"not a clean exit: {result.exception!r}"
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    assert took < seconds, f"took {took:.1f} s"
    return lines[0]


def ok(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def cli_subprocess(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a fresh process (a hang fails the test instead of hanging it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def assert_one_line(proc: subprocess.CompletedProcess, *names: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for name in names:
        assert name in lines[0], lines[0]


def evaluate(accel: str | Path, *extra: str) -> tuple[str, ...]:
    return ("evaluate", "--model", "digits-cnn", "--accelerator", str(accel), *extra)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. non-UTF-8 files ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["experiment", "accelerator", "strategy"])
def test_a_latin1_file_is_one_line_naming_its_line(tmp_path, kind):
    text = {"experiment": SEARCH, "accelerator": SPATIAL,
            "strategy": yaml.safe_dump(uniform_strategy(load_workload("digits-cnn"), 8)
                                       .to_yaml_dict())}[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(b"# r\xe9sum\xe9 of the design\n" + text.encode())  # Latin-1 é
    args = {"experiment": ("search", str(path), "--out", str(tmp_path / "run")),
            "accelerator": evaluate(path, "--level", "coarse"),
            "strategy": ("evaluate", "--strategy", str(path), "--accelerator", "spatial-256")}[kind]
    refused(*args, names=(str(path), "line 1", "UTF-8"))
    assert not (tmp_path / "run").exists()


# --- 2. YAML structures --------------------------------------------------------------------

ALIAS_BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n"
                     for p, k in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, what", [
    ("name: &a [*a]\n" + SEARCH.split("\n", 1)[1], "recursive"),
    ("name: " + "[" * 5000 + "]" * 5000 + "\n" + SEARCH.split("\n", 1)[1], "nested too deeply"),
    ('a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + ALIAS_BOMB
     + SEARCH, "aliases expand to more than"),
])
def test_recursive_deep_and_exploding_yaml_is_one_line_within_seconds(tmp_path, text, what):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    start = time.perf_counter()
    proc = cli_subprocess("search", str(path), "--out", str(tmp_path / "run"))
    assert time.perf_counter() - start < 30  # PyYAML parses the bomb in ms; so must we
    assert_one_line(proc, str(path), what)
    assert not (tmp_path / "run").exists()


def test_the_line_walk_is_linear_in_the_document_not_its_expansion(tmp_path):
    # 9**5 = 59049 values behind five short lines: walked once per node, it is instant
    text = ('a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
            + ALIAS_BOMB.split("f:")[0])
    from hwflow.config import read_yaml

    path = tmp_path / "ok.yaml"
    path.write_text(text)
    start = time.perf_counter()
    data, lines = read_yaml(path)
    assert time.perf_counter() - start < 1.0
    assert len(data["e"]) == 9 and lines[("e",)] == 5 and ("e", 0, 0) not in lines


# --- 3. values the search would fail on: refused before anything is written -------------

@pytest.mark.parametrize("old, new, key, allowed", [
    ("", "seed: -1", "seed", "greater than or equal to 0"),
    ("", "seed: 4294967296", "seed", "less than or equal to 4294967295"),
    ("population: 4", "population: 1000000000000000000000000000000", "population",
     "less than or equal to"),
    ("generations: 1", "generations: true", "generations", "valid integer"),
])
def test_a_bad_budget_is_refused_and_the_corrected_rerun_runs(tmp_path, old, new, key, allowed):
    path, out = tmp_path / "exp.yaml", tmp_path / "run"
    path.write_text(SEARCH.replace(old, new) if old else SEARCH + new + "\n")
    refused("search", str(path), "--out", str(out), "--no-plots", names=(str(path), key, allowed))
    assert not out.exists()
    path.write_text(SEARCH)
    ok("search", str(path), "--out", str(out), "--no-plots")
    assert (out / "run.sqlite").exists()


ACCURACY_SEARCH = SEARCH.replace("[frac_ops, dram_bytes]", "[accuracy, frac_ops]")


@pytest.mark.parametrize("extra, names", [
    ("finetune: {device: cuda:99}\n", ("--device cuda:99",)),
    ("model: resnet20\ndataset: cifar10\nfinetune: {data_dir: empty}\n",
     ("cifar10", "data_batch_1")),
])
def test_no_device_or_no_data_is_refused_before_the_run_directory_exists(tmp_path, extra, names):
    (tmp_path / "empty").mkdir()
    path, out = tmp_path / "exp.yaml", tmp_path / "run"
    text = ACCURACY_SEARCH.replace("model: digits-cnn\n", "") if "model:" in extra else ACCURACY_SEARCH
    path.write_text(text + extra)
    refused("search", str(path), "--out", str(out), names=names)
    assert not out.exists()


def test_a_run_that_fails_to_start_leaves_nothing_behind(tmp_path):
    # keep_ends with a two-layer network leaves nothing to search: found while setting up,
    # after the store exists; the store goes, and the corrected rerun is not refused
    model = tmp_path / "two.py"
    model.write_text(
        "import torch.nn as nn\n"
        "def two(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Linear(16, num_classes))\n"
        "MODELS = {'two': {'builder': 'two', 'input_shape': (1, 8, 8), 'num_classes': 10}}\n")
    path, out = tmp_path / "exp.yaml", tmp_path / "deep" / "run"
    path.write_text(SEARCH.replace("digits-cnn", "two.py"))
    refused("search", str(path), "--out", str(out), "--no-plots", names=("nothing to search",))
    assert not (tmp_path / "deep").exists()
    path.write_text(SEARCH.replace("digits-cnn", "two.py") + "keep_ends: false\n")
    ok("search", str(path), "--out", str(out), "--no-plots")


# --- 4. huge or infinite numbers in an accelerator file -----------------------------------

@pytest.mark.parametrize("old, new, key, allowed", [
    ("size_kb: 256", "size_kb: .inf", "memory.buffer.size_kb", "finite number"),
    ("rows: 16", "rows: 1000000000000000000000000000000", "array.rows", "less than or equal to 4096"),
    ("filter_words: 224", "filter_words: 1000000000000000000000000000000",
     "memory.rf.filter_words", "less than or equal to"),
    ("read_cost: 200", "read_cost: .inf", "memory.dram.read_cost", "finite number"),
    ("rows: 16", "rows: true", "array.rows", "valid integer"),
])
def test_huge_or_infinite_accelerator_numbers_are_one_line(tmp_path, old, new, key, allowed):
    assert old in SPATIAL
    path = tmp_path / "chip.yaml"
    path.write_text(SPATIAL.replace(old, new, 1))
    refused(*evaluate(path, "--level", "fine"), names=(str(path), f"key '{key}'", allowed))


# --- 5. strategy-file keys ------------------------------------------------------------------

@pytest.mark.parametrize("key, value, allowed", [
    ("level", "ultra", "coarse, mid, fine"),
    ("batch", 0, "a whole number 1.."),
    ("batch", "abc", "a whole number 1.."),
    ("batch", True, "a whole number 1.."),
    ("dataflow", "xy", "rs, os, ws"),
    ("mapper_objective", "speed", "energy"),
])
def test_strategy_keys_are_checked_like_their_options(tmp_path, key, value, allowed):
    data = uniform_strategy(load_workload("digits-cnn"), 8).to_yaml_dict()
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**data, key: value}))
    refused("evaluate", "--strategy", str(path), "--accelerator", "spatial-256",
            names=(str(path), f"key '{key}'", allowed))


def test_bits_true_is_not_one_bit(tmp_path):
    data = uniform_strategy(load_workload("digits-cnn"), 8).to_yaml_dict()
    data["layers"][1]["w_bits"] = True
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    refused("evaluate", "--strategy", str(path), "--accelerator", "spatial-256",
            names=(str(path), "layers[1].w_bits", "whole number 1..32"))


# --- 6. broken user model files -------------------------------------------------------------

@pytest.mark.parametrize("source, what", [
    ("def net(:\n", "line 1: Python syntax error"),
    ("MODELS = 5\n", "MODELS must be a non-empty dict"),
    ("MODELS = {'net': {'input_shape': (1, 8, 8), 'num_classes': 10}}\n", "key 'builder'"),
    ("def net(num_classes=10):\n    return 5\n"
     "MODELS = {'net': {'builder': 'net', 'input_shape': (1, 8, 8), 'num_classes': 10}}\n",
     "must return a torch nn.Module"),
    ("import torch.nn as nn\ndef net(num_classes=10):\n    return nn.Linear(3, num_classes)\n"
     "MODELS = {'net': {'builder': 'net', 'input_shape': (1, 8, 8), 'num_classes': 10}}\n",
     "fails on one 1x8x8 input"),
    ("raise RuntimeError('no GPU here')\n", "fails to import: RuntimeError: no GPU here"),
])
def test_a_broken_model_file_is_one_line(tmp_path, source, what):
    path = tmp_path / "net.py"
    path.write_text(source)
    refused("evaluate", "--model", str(path), "--accelerator", "spatial-256", "--level", "coarse",
            names=(str(path), what))


# --- 7. a run.sqlite that is not a hwflow run ---------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "exp.yaml").write_text(SEARCH)
    ok("search", str(folder / "exp.yaml"), "--out", str(folder / "run"), "--no-plots")
    return folder / "run"


def _foreign(folder: Path, kind: str, tiny_run: Path) -> Path:
    store = folder / "run.sqlite"
    folder.mkdir()
    if kind == "garbage":
        store.write_bytes(os.urandom(4096))
    elif kind == "directory":
        store.mkdir()
    elif kind == "empty":
        store.write_bytes(b"")
    elif kind == "foreign schema":
        db = sqlite3.connect(store)
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        db.execute("INSERT INTO invoices VALUES (1, 9.5)")
        db.commit()
        db.close()
    else:  # non-JSON meta in an otherwise real run
        store.write_bytes((tiny_run / "run.sqlite").read_bytes())
        db = sqlite3.connect(store)
        db.execute("UPDATE meta SET value = '{oops' WHERE key = 'objectives'")
        db.commit()
        db.close()
    return store


KINDS = ["garbage", "directory", "empty", "foreign schema", "non-JSON meta"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["export", "plot"])
def test_export_and_plot_refuse_a_foreign_store_and_create_nothing(tmp_path, tiny_run, kind,
                                                                   command):
    folder = tmp_path / "d"
    store = _foreign(folder, kind, tiny_run)
    before = files_under(folder)
    refused(command, str(folder), names=(str(store),))
    assert files_under(folder) == before  # no tables added, no -wal / -shm left
    assert store.exists()


@pytest.mark.parametrize("kind", ["garbage", "directory", "foreign schema", "non-JSON meta"])
def test_resume_into_a_foreign_store_refuses_without_touching_it(tmp_path, tiny_run, kind):
    folder = tmp_path / "d"
    store = _foreign(folder, kind, tiny_run)
    before = files_under(folder)
    path = tmp_path / "exp.yaml"
    path.write_text(SEARCH)
    refused("search", str(path), "--out", str(folder), "--resume", names=(str(store),))
    assert files_under(folder) == before


def test_export_and_plot_of_a_real_run_only_read_its_store(tiny_run, tmp_path):
    store = tiny_run / "run.sqlite"
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    ok("export", str(tiny_run))
    assert not (tiny_run / "run.sqlite-wal").exists()
    assert hashlib.sha256(store.read_bytes()).hexdigest() == digest


# --- 8. output paths -----------------------------------------------------------------------

def test_export_into_a_missing_folder_is_one_line_and_writes_nothing(tiny_run, tmp_path):
    target = tmp_path / "missing" / "x.yaml"
    refused("export", str(tiny_run), "-o", str(target), names=(str(target.parent), "does not exist"))
    assert not target.parent.exists()
    ok("export", str(tiny_run), "-o", str(tmp_path / "x.yaml"))


def test_a_run_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    path = tmp_path / "exp.yaml"
    path.write_text(SEARCH)
    refused("search", str(path), "--out", str(tmp_path / "afile" / "run"),
            names=("afile", "Not a directory"))


def test_an_id_beyond_sqlites_integers_is_no_such_evaluation(tiny_run):
    refused("export", str(tiny_run), "--pick", str(10**20), names=("no evaluation with that id",))


@pytest.mark.parametrize("args, what", [
    (("--epochs", "nan"), "'nan' is not a number of epochs"),
    (("--epochs", "inf"), "0<=x<=10000"),
    (("--seed", "-1"), "0<=x<=4294967295"),
])
def test_training_options_refuse_nan_infinite_epochs_and_negative_seeds(args, what):
    proc = cli_subprocess("accuracy", "--model", "digits-cnn", "--bits", "8", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and what in proc.stderr


def test_infinite_or_endless_epochs_in_an_experiment_are_one_line(tmp_path):
    path, out = tmp_path / "exp.yaml", tmp_path / "run"
    path.write_text(SEARCH + "finetune: {epochs: 1.0e+30}\n")
    refused("search", str(path), "--out", str(out), names=("finetune.epochs", "10000"))
    assert not out.exists()


def test_a_sweep_of_a_million_points_is_one_line_within_seconds(tmp_path):
    (tmp_path / "exp.yaml").write_text(SEARCH)
    path = tmp_path / "sweep.yaml"
    path.write_text("base: exp.yaml\ngrid:\n"
                    f"  seed: {list(range(1000))}\n  generations: {list(range(1, 1001))}\n")
    refused("sweep", str(path), "--out", str(tmp_path / "out"), seconds=10,
            names=(str(path), "1,000,000 sweep points", "at most 1,000"))
    assert not (tmp_path / "out").exists()


# --- 9. empty bits ---------------------------------------------------------------------------

@pytest.mark.parametrize("bits", ["", "0", "4,", "33", "4,8,2"])
def test_bits_must_say_w_or_w_a(bits):
    refused(*evaluate("spatial-256", "--bits", bits, "--level", "coarse"),
            names=(f"--bits {bits!r}", "W or W,A"))


# --- 10. huge batches ------------------------------------------------------------------------

def test_a_huge_batch_returns_within_seconds():
    # the divisors of the batch once came from loops up to n (issue 9 replaced them with a
    # trial division up to the root): up to 2**40 frames evaluate within seconds
    for batch in ("100000000000", "1000000007", str(2**40)):
        start = time.perf_counter()
        proc = cli_subprocess(*evaluate("spatial-256", "--batch", batch, "--level", "fine"),
                              timeout=60)
        assert proc.returncode == 0 and time.perf_counter() - start < 30, proc.stderr
    # beyond it (the root alone would take minutes), refused as the option's range
    proc = cli_subprocess(*evaluate("spatial-256", "--batch", str(2**40 + 1)), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'--batch'" in proc.stderr and f"1<=x<={2**40}" in proc.stderr


@pytest.mark.parametrize("where", ["experiment", "strategy", "gene"])
def test_a_huge_batch_in_a_file_is_one_line(tmp_path, where):
    huge = 10**30
    if where == "strategy":
        data = uniform_strategy(load_workload("digits-cnn"), 8).to_yaml_dict()
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump({**data, "batch": huge}))
        refused("evaluate", "--strategy", str(path), "--accelerator", "spatial-256",
                names=(str(path), "key 'batch'", f"1..{2**40}"))
        return
    path, out = tmp_path / "exp.yaml", tmp_path / "run"
    path.write_text(SEARCH + (f"batch: {huge}\n" if where == "experiment"
                              else f"accelerator_genes: {{batch: [1, {huge}]}}\n"))
    refused("search", str(path), "--out", str(out), names=(str(path), "batch", "at most"
                                                         if where == "gene" else "less than"))
    assert not out.exists()


def test_a_flow_whose_first_step_fails_to_start_leaves_nothing(tmp_path):
    path, out = tmp_path / "flow.yaml", tmp_path / "run"
    path.write_text(FLOW.replace("bits: [8, 4]", "bits: [8, 4]\nmodel: two.py").replace(
        "model: digits-cnn\n", ""))
    (tmp_path / "two.py").write_text(
        "import torch.nn as nn\n"
        "def two(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Linear(16, num_classes))\n"
        "MODELS = {'two': {'builder': 'two', 'input_shape': (1, 8, 8), 'num_classes': 10}}\n")
    result = CliRunner().invoke(main, ["search", str(path), "--out", str(out), "--no-plots"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    last = result.stderr.strip().splitlines()[-1]  # after the flow's "step 1: ..." line
    assert last.startswith("error: ") and "nothing to search" in last
    assert not out.exists()
    path.write_text(path.read_text() + "keep_ends: false\n")
    ok("search", str(path), "--out", str(out), "--no-plots")


# --- Ctrl-C between two flow steps -------------------------------------------------------------

FLOW = """\
name: flow
model: digits-cnn
accelerator: spatial-256
bits: [8, 4]
seed: 1
stages:
  - level: coarse
    objectives: [frac_ops, dram_bytes]
    population: 4
    generations: 1
  - level: mid
    objectives: [dram_bytes, latency_cycles]
    population: 4
    generations: 1
"""


def test_ctrl_c_between_flow_steps_is_one_line_and_the_flow_resumes(tmp_path, monkeypatch):
    from hwflow.search import flow

    path, out = tmp_path / "flow.yaml", tmp_path / "run"
    path.write_text(FLOW)
    real = flow._Flow._record

    def record_then_interrupt(self, row):  # Ctrl-C right after step 1 is recorded
        real(self, row)
        raise KeyboardInterrupt

    monkeypatch.setattr(flow._Flow, "_record", record_then_interrupt)
    result = CliRunner().invoke(main, ["search", str(path), "--out", str(out), "--no-plots"])
    assert result.exit_code == 130 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]  # after the progress lines
    assert "stopped after flow step 1" in last and "--resume" in last
    monkeypatch.setattr(flow._Flow, "_record", real)
    ok("search", str(path), "--out", str(out), "--no-plots", "--resume")


# --- a Dask task whose workers keep dying --------------------------------------------------

@pytest.mark.slow
def test_three_dead_workers_are_one_line_and_resume_goes_on(tmp_path):
    from tests.test_parallel import launch, read_log, stored_keys, write_experiment

    write_experiment(tmp_path)
    out, log = tmp_path / "run", tmp_path / "log"
    env_poison = {"HWFLOW_TEST_POISON_AFTER": "4"}  # the 5th new strategy kills its worker
    proc = launch(tmp_path, out, log, "--workers", "1", sleep=0.0, env=env_poison)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]  # after Dask's port warning and the progress bar
    assert last.startswith("error: ") and "died three times" in last and "--resume" in last, stderr
    stored = stored_keys(out)
    assert len(stored) >= 1  # what was evaluated before the poison stays
    seen = len(read_log(log))

    resumed = launch(tmp_path, out, log, "--resume", "--workers", "1", sleep=0.0)
    _, stderr = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, stderr
    again = [k for e, _, k in read_log(log)[seen:] if e == "start"]
    assert not set(again) & stored  # 0 repeated
    assert stored <= stored_keys(out)  # 0 lost


def test_ctrl_c_stops_a_search_with_one_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(SEARCH.replace("generations: 1", "generations: 100000")
                    .replace("population: 4", "population: 40"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CLI, "search", str(path), "--out",
                             str(tmp_path / "run"), "--no-plots"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / "history.csv").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    assert "--resume" in stderr.strip().splitlines()[-1]
