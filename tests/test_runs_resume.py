"""Runs survive: SIGKILL at several moments then --resume ends with the uninterrupted
run's front, loses nothing stored and evaluates nothing stored again; Ctrl-C stops
cleanly. The killed process is the real ``hwflow search`` (with the accuracy proxy of
search_helpers standing in for fine-tuning, slowed down so there is time to kill it)."""

from __future__ import annotations

import json
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwflow.dispatch.in_process import InProcess
from hwflow.runs.store import RunLock
from hwflow.search.driver import SearchStopped, run_search
from hwflow.search.experiment import load_experiment
from hwflow.search.ga import checkpoint
from tests.search_helpers import ProxyAccuracy

HELPER = Path(__file__).with_name("search_helpers.py")
EXPERIMENT = """\
name: resume
model: resnet20
accelerator: spatial-256
level: coarse
objectives: [accuracy, frac_ops, dram_bytes]
bits: [8, 4, 2]
population: 8
generations: 7
seed: 3
"""
OUTPUTS = ("pareto.csv", "history.csv", "strategies/hv-leader.yaml",
           "strategies/accuracy-leader.yaml", "strategies/compression-leader.yaml")


def launch(exp: Path, out: Path, log: Path, *extra: str, sleep: float = 0.03) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HELPER), "--sleep", str(sleep), "--log", str(log), "--",
         "search", str(exp), "--out", str(out), "--no-plots", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(out: Path) -> int:
    try:  # mode=rw: never create the file (the run would then see a run where none is)
        db = sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=rw", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created (or its tables not) yet
        return 0


def wait_until_stored(proc: subprocess.Popen, out: Path, n: int) -> None:
    deadline = time.monotonic() + 120
    while stored(out) < n:
        assert proc.poll() is None, f"the run ended before {n} evaluations: {proc.stderr.read()}"
        assert time.monotonic() < deadline
        time.sleep(0.005)


def reference_run(tmp_path: Path) -> Path:
    exp_path = tmp_path / "resume.yaml"
    exp_path.write_text(EXPERIMENT)
    out = tmp_path / "reference"
    run_search(load_experiment(exp_path), out, accuracy=InProcess(ProxyAccuracy()), plots=False)
    return out


def assert_same_results(out: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (out / name).read_text() == (reference / name).read_text(), name
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_matches_an_uninterrupted_run(tmp_path):
    reference = reference_run(tmp_path)
    exp, out = tmp_path / "resume.yaml", tmp_path / "killed"
    logs = []
    # kill during the initial population, in the middle, and late in the run
    for attempt, kill_at in enumerate((3, 19, 37)):
        logs.append(tmp_path / f"log{attempt}")
        proc = launch(exp, out, logs[-1], *(("--resume",) if attempt else ()))
        wait_until_stored(proc, out, kill_at)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        RunLock(out).acquire().release()  # the kernel freed the lock with the process
    logs.append(tmp_path / "log-final")
    final = launch(exp, out, logs[-1], "--resume", sleep=0.0)
    stdout, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr
    assert "files written under" in stdout

    assert_same_results(out, reference)
    # nothing stored was evaluated again: a genome evaluated twice must have been the one
    # in flight when a process was killed (evaluated, then killed before it was stored)
    seen: set[str] = set()
    in_flight: set[str] = set()
    for log in logs:
        lines = log.read_text().splitlines() if log.exists() else []
        for line in lines:
            assert line not in seen or line in in_flight, f"{line} evaluated twice"
            seen.add(line)
        if log != logs[-1] and lines:
            in_flight.add(lines[-1])
    assert len(seen) == stored(out) == stored(reference)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_after_saving_and_resume_finishes(tmp_path):
    reference = reference_run(tmp_path)
    exp, out = tmp_path / "resume.yaml", tmp_path / "stopped"
    proc = launch(exp, out, tmp_path / "log")
    wait_until_stored(proc, out, 12)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "stopped after generation 1" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2  # header and generation 1
    before = stored(out)
    assert before >= 12
    resumed = launch(exp, out, tmp_path / "log2", "--resume", sleep=0.0)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert_same_results(out, reference)
    again = [json.loads(line) for line in (tmp_path / "log2").read_text().splitlines()]
    assert len(again) == stored(out) - before  # only what was not stored yet


def test_soga_with_accuracy_stores_the_float_baseline_once(tmp_path):
    exp_path = tmp_path / "soga.yaml"
    exp_path.write_text(EXPERIMENT.replace("objectives: [accuracy, frac_ops, dram_bytes]",
                                           "objectives: [accuracy, frac_ops]\nalgorithm: soga")
                        .replace("generations: 7", "generations: 3"))
    exp, out = load_experiment(exp_path), tmp_path / "soga"
    proxy = ProxyAccuracy()
    result = run_search(exp, out, accuracy=InProcess(proxy), plots=False)
    assert result.best_fitness is not None and len(proxy.calls) == result.evaluations
    resumed = ProxyAccuracy()
    resumed.float_accuracy = None  # must not be asked again: the baseline is stored
    again = run_search(exp, out, resume=True, accuracy=InProcess(resumed), plots=False)
    assert resumed.calls == [] and again.best_fitness == result.best_fitness


class _StopAfter:
    """A Progress that stops the run (as Ctrl-C does) once generation ``n`` is stored."""

    def __init__(self, n: int) -> None:
        self.n = n

    def start(self, generations, last, evaluations) -> None:
        pass

    def evaluation(self, stats) -> None:
        pass

    def generation(self, row) -> None:
        if row.generation >= self.n:
            raise KeyboardInterrupt


def test_a_checkpoint_written_before_the_search_was_split_still_resumes(tmp_path):
    """Runs made before search/ was split into space/ and ga/ pickled the algorithm with its
    problem detached and named the old modules; such a run resumes to the same results."""
    reference = reference_run(tmp_path)
    exp = load_experiment(tmp_path / "resume.yaml")
    out = tmp_path / "old"
    with pytest.raises(SearchStopped):
        run_search(exp, out, accuracy=InProcess(ProxyAccuracy()), plots=False,
                   progress=_StopAfter(3))
    db = sqlite3.connect(out / "run.sqlite")
    level, state = db.execute("SELECT level, state FROM checkpoints").fetchone()
    algorithm = pickle.loads(state)
    algorithm.problem = None  # as the old driver stored it
    old = pickle.dumps(algorithm, protocol=0)  # module names as plain text lines
    for before, now in checkpoint.MOVED.items():
        old = old.replace(f"c{now}\n".encode(), f"c{before}\n".encode())
    assert b"chwflow.search.operators\n" in old  # the old names really are in there
    db.execute("UPDATE checkpoints SET state = ? WHERE level = ?", (old, level))
    db.commit()
    db.close()
    run_search(exp, out, accuracy=InProcess(ProxyAccuracy()), resume=True, plots=False)
    assert_same_results(out, reference)
