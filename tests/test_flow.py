"""The multi-level flow (HW-FlowQ's refinement and abstraction): refinement when a stage's front meets its constraints,
the stage's next candidate when not, abstraction when none is left; the recorded path, its
CSV and summary, and a killed flow that resumes where it was.

The flows search digits-cnn with tied bits {4, 2} (3 searched layers, 8 genomes), so the
outcome of every step follows from brute force over the whole space, computed here with
``estimate`` independently of the search."""

from __future__ import annotations

import csv
import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hwflow.catalog import load_accelerator, load_workload
from hwflow.cli import main
from hwflow.config import ConfigError
from hwflow.dispatch.in_process import InProcess
from hwflow.hw.levels import estimate
from hwflow.runs.reports import open_run
from hwflow.runs.store import RunLock, RunStore
from hwflow.search.experiment import load_experiment
from hwflow.search.flow import run_flow
from hwflow.strategy import LayerBits, Strategy
from tests.search_helpers import ProxyAccuracy

HELPER = Path(__file__).with_name("search_helpers.py")
BASE = """\
model: digits-cnn
accelerator: spatial-256
bits: [4, 2]
tied_bits: true
population: 8
generations: 4
seed: 1
stages:
  - level: coarse
    objectives: [frac_ops, dram_bytes]
"""
MID_FLOW = BASE + """\
  - level: mid
    objectives: [dram_bytes, latency_cycles]
    constraints: {dram_bytes_max: 5300}
    candidates:
      - {buffer_kb: 0.25}
      - {buffer_kb: 0.5}
  - level: fine
    objectives: [energy, latency_cycles]
"""
FINE_FLOW = BASE + """\
  - level: mid
    objectives: [{mid_objectives}]
    candidates:
      - {{buffer_kb: 1}}
      - {{buffer_kb: 2}}
  - level: fine
    objectives: [{fine_objectives}]
    constraints: {{latency_cycles_max: 100}}
    candidates:
      - {{dataflow: rs}}
      - {{dataflow: ws}}
"""
HARDWARE_ONLY = {"mid_objectives": "dram_bytes, latency_cycles",
                 "fine_objectives": "energy, latency_cycles"}


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def totals_over_space(level: str, **knobs) -> list[dict[str, float]]:
    """Every genome of the flows' space (tied 4/2 bit on the 3 middle layers)."""
    workload = load_workload("digits-cnn")
    accel = load_accelerator("spatial-256")
    if "buffer_kb" in knobs:
        accel = replace(accel, buffer=replace(accel.buffer, size_bytes=int(knobs["buffer_kb"] * 1024)))
    if "dataflow" in knobs:
        accel = accel.with_dataflow(knobs["dataflow"])
    names = workload.layer_names
    out = []
    for combo in itertools.product((4, 2), repeat=3):
        bits = (16, *combo, 16)
        strategy = Strategy("digits-cnn", tuple(LayerBits(n, b, b) for n, b in zip(names, bits)))
        out.append({"bits": bits, **estimate(workload, strategy, accel, level=level).totals()})
    return out


def path_of(out: Path) -> list[tuple]:
    with RunStore(out / "run.sqlite") as store:
        return [(s.step, s.level, s.candidate, s.outcome) for s in store.flow_steps()]


# --- refinement after the stage's next candidate -----------------------------------------

def test_mid_fails_on_the_first_buffer_and_holds_on_the_second(tmp_path):
    # independent expectations, by brute force over the 8 genomes
    coarse = totals_over_space("coarse")
    best = min(coarse, key=lambda t: (t["frac_ops"], t["dram_bytes"]))
    assert all(t is best or (t["frac_ops"] > best["frac_ops"] and t["dram_bytes"] > best["dram_bytes"])
               for t in coarse)  # one genome dominates: the coarse front
    tiny = min(t["dram_bytes"] for t in totals_over_space("mid", buffer_kb=0.25))
    small = {t["bits"]: t["dram_bytes"] for t in totals_over_space("mid", buffer_kb=0.5)}
    assert tiny > 5300 >= small[best["bits"]]  # no genome meets the budget at 0.25 KB

    out = tmp_path / "run"
    result = run_flow(load_experiment(write(tmp_path, MID_FLOW)), out, plots=False)
    assert result.met
    assert path_of(out) == [(1, "coarse", 1, "refine"), (2, "mid", 1, "unmet"),
                            (3, "mid", 2, "refine"), (4, "fine", 1, "done")]
    steps = {s.step: s for s in result.path}
    assert steps[1].why == "no constraints at this stage"
    assert steps[2].why == ("no front solution meets dram_bytes_max 5300 (best in the final "
                            f"population: dram_bytes {tiny:.4g})")
    assert steps[3].why == "1 of 1 front solutions meet dram_bytes_max 5300"
    assert steps[2].inputs == {"buffer_kb": 0.25} and steps[4].inputs == {"buffer_kb": 0.5}

    coarse_front = open_run(out / steps[1].folder).front
    assert [e.w_bits for e in coarse_front] == [best["bits"]]
    # refinement seeds the next stage: its first population starts with the coarse front
    with RunStore(out / steps[3].folder / "run.sqlite") as store:
        first = store.population("mid", 1)
    assert first[0].w_bits == best["bits"]
    # the inherited buffer is the Fine step's, and the flow's leader reproduces exactly
    fine = open_run(out)  # a flow directory opens as its final step
    assert fine.folder == out / steps[4].folder and fine.meta.accelerator_fixed == {"buffer_kb": 0.5}
    strategy = yaml.safe_load((out / "strategies" / "hv-leader.yaml").read_text())
    accel = load_accelerator(str(out / "strategies" / strategy["accelerator"]))
    assert accel.buffer.size_bytes == 512
    runner = CliRunner()
    shown = runner.invoke(main, ["evaluate", "--strategy", str(out / "strategies" / "hv-leader.yaml"),
                                 "--json"])
    assert shown.exit_code == 0, shown.stderr
    for metric, value in json.loads(shown.stdout)["totals"].items():
        assert strategy["metrics"][metric] == value, metric

    with (out / "flow.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["level"], r["candidate"], r["inputs"], r["outcome"]) for r in rows] == [
        ("1", "coarse", "1", "", "refine"), ("2", "mid", "1", "buffer_kb=0.25", "unmet"),
        ("3", "mid", "2", "buffer_kb=0.5", "refine"), ("4", "fine", "1", "buffer_kb=0.5", "done")]
    assert rows[1]["folder"] == "steps/02-mid-c1" and rows[3]["front_size"] == str(len(fine.front))


# --- abstraction when Fine fails everything ----------------------------------------------

EXPECTED_ABSTRACTION = [
    (1, "coarse", 1, "refine"), (2, "mid", 1, "refine"), (3, "fine", 1, "unmet"),
    (4, "fine", 2, "unmet"), (5, "fine", None, "abstract"), (6, "mid", 2, "refine"),
    (7, "fine", 1, "unmet"), (8, "fine", 2, "unmet"), (9, "fine", None, "abstract"),
    (10, "mid", None, "abstract"), (11, "coarse", None, "failed")]


def test_fine_failing_everything_abstracts_back_to_mid(tmp_path):
    fastest = min(t["latency_cycles"] for kb in (1, 2) for df in ("rs", "ws")
                  for t in totals_over_space("fine", buffer_kb=kb, dataflow=df))
    assert fastest > 100  # no Fine design of the space meets the latency budget

    exp = write(tmp_path, FINE_FLOW.format(**HARDWARE_ONLY))
    out = tmp_path / "run"
    code = CliRunner().invoke(main, ["search", str(exp), "--out", str(out), "--no-plots"])
    assert code.exit_code == 0, code.stderr
    assert "flow path: no design met every stage's constraints" in code.stdout
    assert "abstract" in code.stdout and "flow.csv" in code.stdout
    assert path_of(out) == EXPECTED_ABSTRACTION
    with RunStore(out / "run.sqlite") as store:
        steps = {s.step: s for s in store.flow_steps()}
        assert store.get_meta("status") == "failed"
    assert steps[7].inputs == {"buffer_kb": 2.0, "dataflow": "rs"}  # Mid's second buffer, inherited
    assert steps[5].why == "no fine candidate left (2 tried): back to mid for its next candidate"
    assert steps[10].why == "no mid candidate left (2 tried): back to coarse for its next candidate"
    assert steps[5].folder is None and steps[8].folder == "steps/08-fine-c2"
    # export and plot work on the flow directory: its last searched step
    code = CliRunner().invoke(main, ["export", str(out), "--pick", "hv-leader"])
    assert code.exit_code == 0 and yaml.safe_load(code.stdout)["dataflow"] == "ws"
    code = CliRunner().invoke(main, ["plot", str(out)])
    assert code.exit_code == 0 and "steps/08-fine-c2/plots/front.png" in code.stdout


# --- a killed flow resumes where it was ----------------------------------------------------

def count(store: Path, table: str) -> int:
    try:  # mode=rw: never create the file
        db = sqlite3.connect(f"file:{store}?mode=rw", uri=True, timeout=5)
        try:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def flow_rows(out: Path) -> int:
    return count(out / "run.sqlite", "flow")


@pytest.mark.slow
def test_a_killed_flow_resumes_to_the_same_path_and_front(tmp_path):
    text = FINE_FLOW.format(mid_objectives="accuracy, dram_bytes",
                            fine_objectives="accuracy, energy, latency_cycles")
    exp = write(tmp_path, text)
    reference, logs = tmp_path / "reference", [tmp_path / "log-killed", tmp_path / "log-resumed"]
    run_flow(load_experiment(exp), reference, plots=False,
             accuracy=lambda e: InProcess(ProxyAccuracy(log=tmp_path / "log-reference")))

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(HELPER), "--sleep", "0.05", "--log", str(logs[0]),
                             "--", "search", str(exp), "--out", str(out), "--no-plots"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    step4 = out / "steps" / "04-fine-c2" / "run.sqlite"
    while count(step4, "evaluations") < 3:  # killed in the middle of step 4
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    RunLock(out).acquire().release()
    killed_at = flow_rows(out)
    assert killed_at == 3

    resumed = subprocess.run([sys.executable, str(HELPER), "--log", str(logs[1]), "--", "search",
                              str(exp), "--out", str(out), "--no-plots", "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    # recorded steps are replayed, not searched: the resumed run starts at the killed step
    assert f"step {killed_at + 1}: " in resumed.stderr and "step 1: " not in resumed.stderr
    assert path_of(out) == path_of(reference) == EXPECTED_ABSTRACTION
    for name in ("flow.csv", "pareto.csv", "history.csv"):
        assert (out / name).read_text() == (reference / name).read_text(), name
    # every accuracy evaluation of the uninterrupted flow, once: 0 lost, and none repeated
    # but the one in flight at the SIGKILL (evaluated, then killed before it was stored);
    # the same bits may recur across steps (each step is its own search), so compare counts
    evaluated = [Counter(log.read_text().splitlines()) for log in
                 (tmp_path / "log-reference", *logs)]
    assert evaluated[1] and evaluated[2]  # each process evaluated some
    killed_then_resumed = evaluated[1] + evaluated[2]
    assert not evaluated[0] - killed_then_resumed  # 0 lost
    repeated = killed_then_resumed - evaluated[0]
    assert sum(repeated.values()) <= 1
    assert not repeated or set(repeated) == {logs[0].read_text().splitlines()[-1]}


# --- experiment files --------------------------------------------------------------------

@pytest.mark.parametrize("edit, key, message", [
    (("objectives: [frac_ops, dram_bytes]", "objectives: [energy, dram_bytes]"),
     "stages.0", "energy cannot be computed at the coarse level"),
    (("    objectives: [frac_ops, dram_bytes]\n",
      "    objectives: [frac_ops, dram_bytes]\n    candidates: [{buffer_kb: 8}]\n"),
     "stages.0.candidates", "buffer_kb cannot be a coarse input"),
    (("stages:\n", "objectives: [frac_ops, energy]\nstages:\n"),
     "(top level)", "each stage names its own objectives"),
    (("stages:\n", "accelerator_genes: {rows: [8, 16]}\nstages:\n"),
     "(top level)", "may only fix knobs"),
    (("  - level: fine", "  - level: mid"), "(top level)", "from coarse to mid to fine"),
    (("      - {buffer_kb: 0.25}", "      - {buffer_kb: 0.25, bits: [4]}"),
     "stages.1.candidates", "bits cannot be a mid input"),
])
def test_bad_flows_are_one_line_errors(tmp_path, edit, key, message):
    path = write(tmp_path, MID_FLOW.replace(*edit))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)) and f"key '{key}" in text
    assert message in text


def test_a_candidate_that_breaks_the_stage_experiment_names_its_line(tmp_path):
    text = MID_FLOW.replace("    objectives: [frac_ops, dram_bytes]\n",
                            "    objectives: [frac_ops, dram_bytes]\n    candidates:\n"
                            "      - {bits: [4, 2]}\n      - {bits: [3]}\n")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    line = text.splitlines().index("      - {bits: [3]}") + 1
    assert f"line {line} key 'stages.0.candidates.1': [3] not supported by spatial-256" in str(info.value)
