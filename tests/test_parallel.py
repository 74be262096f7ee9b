"""Parallel evaluation (hwflow.dispatch.cluster): local worker processes and Dask clusters give the
in-process run's results, a worker killed mid-evaluation costs nothing, no strategy is
trained twice wherever it ran, and a killed driver resumes without re-evaluating anything.

Most tests use tests/parallel_helpers.SlowProxy on the workers (a closed-form accuracy with
the real accuracy cache underneath, slowed down and logged); one runs the real fine-tune on
digits end to end and checks a worker's ψ against this process's.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwflow.accuracy.evaluator import AccuracyEvaluator, AccuracySettings
from hwflow.catalog import load_workload
from hwflow.cli import main
from hwflow.dispatch import cluster
from hwflow.dispatch.cluster import claim_gpu, evaluate_task, open_dispatch, worker_device
from hwflow.dispatch.in_process import InProcess
from hwflow.runs.reports import export
from hwflow.search.driver import run_search
from hwflow.search.experiment import load_experiment
from hwflow.strategy import uniform_strategy
from tests.parallel_helpers import SlowProxy, SlowProxySource, proxy_key, read_log
from tests.search_helpers import ProxyAccuracy, proxy_accuracy

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).with_name("parallel_helpers.py")
EXPERIMENT = """\
name: par
model: resnet20
dataset: synthetic  # SlowProxy trains nothing; the search checks the data is there
accelerator: spatial-256
level: coarse
objectives: [accuracy, frac_ops, dram_bytes]
bits: [8, 4, 2]
population: 6
generations: 4
seed: 3
finetune: {cache_dir: cache}
"""


def write_experiment(folder: Path, text: str = EXPERIMENT) -> Path:
    path = folder / "par.yaml"
    path.write_text(text)
    return path


def settings_of(folder: Path, model: str = "resnet20") -> AccuracySettings:
    return AccuracySettings(model=model, dataset="synthetic", seed=3,
                            cache_dir=str(folder / "cache"))


def stored_rows(out: Path) -> list[tuple]:
    try:  # mode=rw: never create the file (the run would then see a run where none is)
        db = sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=rw", uri=True, timeout=5)
        try:
            return db.execute("SELECT level, genome, w_bits, a_bits FROM evaluations").fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return []


def stored_keys(out: Path) -> set[str]:
    """The SlowProxy keys of the evaluations in run.sqlite."""
    import json

    return {proxy_key(3, json.loads(w), json.loads(a)) for _, _, w, a in stored_rows(out)}


def reference_run(folder: Path) -> Path:
    out = folder / "reference"
    run_search(load_experiment(write_experiment(folder)), out,
               accuracy=InProcess(ProxyAccuracy()), plots=False)
    return out


def assert_same_results(out: Path, reference: Path) -> None:
    """Same history and front as the in-process run (evaluation ids follow the order in
    which results arrived, so the front is compared without them), each genome stored once."""
    assert (out / "history.csv").read_text() == (reference / "history.csv").read_text()

    def front(run: Path) -> list[list[str]]:
        with (run / "pareto.csv").open() as f:
            return sorted(row[1:] for row in csv.reader(f))

    assert front(out) == front(reference)
    rows = stored_rows(out)
    assert len(rows) == len(set(rows)) == len(stored_rows(reference))
    db = sqlite3.connect(out / "run.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def launch(folder: Path, out: Path, log: Path, *extra: str, sleep: float,
           env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real ``hwflow search`` with SlowProxy on its workers (``env``: added variables)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(HELPER), str(sleep), str(log), "--", "search",
         str(folder / "par.yaml"), "--out", str(out), "--no-plots", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, proc: subprocess.Popen, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.01)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- GPU assignment ----------------------------------------------------------------------

def test_workers_take_the_least_shared_gpu_and_a_dead_workers_gpu_is_free_again(tmp_path):
    held = cluster._held_gpu_locks
    before = len(held)
    try:
        # CUDA_VISIBLE_DEVICES=3,5: indices 0 and 1 of what torch sees
        assert [claim_gpu(["3", "5"], tmp_path) for _ in range(5)] == [0, 1, 0, 1, 0]
        os.close(held.pop(before + 1))  # the worker on GPU 5 dies: the kernel drops its lock
        assert claim_gpu(["3", "5"], tmp_path) == 1
        # another machine's view (other physical ids) shares nothing with these
        assert claim_gpu(["7"], tmp_path) == 0
    finally:
        while len(held) > before:
            os.close(held.pop())


def test_worker_device_keeps_named_devices():
    import torch

    assert worker_device("cpu") == "cpu"
    assert worker_device("cuda:1") == "cuda:1"
    auto = worker_device("auto")
    assert auto.startswith("cuda:") if torch.cuda.is_available() else auto == "cpu"


# --- local processes ---------------------------------------------------------------------

def test_local_workers_give_the_in_process_run(tmp_path):
    reference = reference_run(tmp_path)
    log = tmp_path / "log"
    exp = load_experiment(write_experiment(tmp_path))
    dispatch = open_dispatch(settings_of(tmp_path), workers=2,
                             source=SlowProxySource(0.05, str(log)))
    try:
        run_search(exp, tmp_path / "run", accuracy=dispatch, plots=False)
    finally:
        dispatch.close()
    assert_same_results(tmp_path / "run", reference)
    events = read_log(log)
    done = [key for event, _, key in events if event == "done"]
    assert sorted(done) == sorted(set(done)) == sorted(stored_keys(tmp_path / "run"))
    pids = {pid for _, pid, _ in events}
    assert os.getpid() not in pids and len(pids) == 2  # both workers, none of it here


def test_a_strategy_is_trained_once_whichever_worker_is_asked(tmp_path):
    log = tmp_path / "log"
    settings = settings_of(tmp_path)
    dispatch = open_dispatch(settings, workers=2, source=SlowProxySource(0.3, str(log)))
    submitted = []
    real_submit = dispatch.client.submit
    dispatch.client.submit = lambda *a, **k: submitted.append(a) or real_submit(*a, **k)
    workload = load_workload("resnet20")
    s, t, u, v = (uniform_strategy(workload, b) for b in (8, 4, 2, 6))
    try:
        # one batch asking twice for s: one task
        results = dict(dispatch.run([s, t, s]))
        assert sorted(results) == [0, 1, 2] and results[0] == results[2]
        assert results[0].accuracy == pytest.approx(proxy_accuracy(s))
        assert len(submitted) == 2

        # asked again later: served from the accuracy cache, nothing is sent to the cluster
        again = list(dispatch.run([s, t]))
        assert len(submitted) == 2 and all(r.cached and r.seconds == 0.0 for _, r in again)

        # both workers asked for u at once (two tasks, bypassing the dispatch): the shared
        # SQLite cache lets one train while the other waits for its result
        workers = sorted(dispatch.client.scheduler_info()["workers"])
        futures = [real_submit(evaluate_task, dispatch.job, u, workers=[w], pure=False)
                   for w in workers]
        first, second = (f.result() for f in futures)
        assert first.accuracy == second.accuracy == pytest.approx(proxy_accuracy(u))
        assert sorted([first.cached, second.cached]) == [False, True]

        # a driver on another machine (its own cache): it keeps what the workers trained
        dispatch.local = SlowProxy(replace(settings, cache_dir=str(tmp_path / "driver")), 0.0,
                                   str(log))
        assert [r.cached for _, r in dispatch.run([v])] == [False]
        assert [r.cached for _, r in dispatch.run([v])] == [True] and len(submitted) == 3
    finally:
        dispatch.close()
    events = read_log(log)
    done = [key for event, _, key in events if event == "done"]
    assert sorted(done) == sorted({proxy_key(3, x.w_bits, x.a_bits) for x in (s, t, u, v)})
    # and this process, on the same cache, trains none of them again
    here = SlowProxy(settings, 0.0, str(log))
    assert all(r.cached for r in here.evaluate([s, t, u, v]))
    assert read_log(log) == events


@pytest.mark.slow
def test_a_worker_killed_mid_evaluation_costs_nothing(tmp_path):
    reference = reference_run(tmp_path)
    out, log = tmp_path / "run", tmp_path / "log"
    proc = launch(tmp_path, out, log, "--workers", "2", sleep=0.4)
    wait_for(lambda: read_log(log), proc, "an evaluation started")
    _, victim, key = read_log(log)[0]
    os.kill(victim, signal.SIGKILL)  # a worker process, mid-evaluation (0.4 s of sleep)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "files written under" in stdout

    assert_same_results(out, reference)
    events = read_log(log)
    assert ("done", victim, key) not in events
    assert [e for e, _, k in events if k == key] == ["start", "start", "done"]  # ran again
    done = [k for e, _, k in events if e == "done"]
    assert sorted(done) == sorted(set(done)) == sorted(stored_keys(out))


@pytest.mark.slow
def test_a_killed_driver_resumes_on_workers_without_evaluating_anything_stored(tmp_path):
    reference = reference_run(tmp_path)
    out, log = tmp_path / "run", tmp_path / "log"
    proc = launch(tmp_path, out, log, "--workers", "2", sleep=0.1)
    wait_for(lambda: len(stored_rows(out)) >= 9, proc, "9 stored evaluations")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = stored_keys(out)
    worker_pids = {pid for _, pid, _ in read_log(log)}
    deadline = time.monotonic() + 30
    while any(pid_alive(p) for p in worker_pids):  # the workers go with their driver
        assert time.monotonic() < deadline, "workers outlived their driver"
        time.sleep(0.1)
    seen = len(read_log(log))

    # where evaluations run may change on resume; this time the experiment file says it
    write_experiment(tmp_path, EXPERIMENT + "execution: {workers: 2}\n")
    resumed = launch(tmp_path, out, log, "--resume", sleep=0.0)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert_same_results(out, reference)
    events = read_log(log)
    assert events[seen:] and not {k for _, _, k in events[seen:]} & before
    # nothing that reached the accuracy cache was trained again (a worker that went down
    # with the driver may have lost the one it was training: that one ran again)
    done = [k for e, _, k in events if e == "done"]
    assert len(done) == len(set(done))
    assert stored_keys(out) <= {k for e, _, k in events if e == "start"}


@pytest.mark.slow
def test_a_cluster_started_with_dask_commands(tmp_path):
    """The documented way: ``dask scheduler`` and ``dask worker``, then ``--scheduler``."""
    reference = reference_run(tmp_path)
    dask = Path(sys.executable).with_name("dask")
    file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    scheduler = subprocess.Popen([dask, "scheduler", "--scheduler-file", file, "--port", "0",
                                  "--no-dashboard"], **quiet)
    worker = subprocess.Popen([dask, "worker", "--scheduler-file", file, "--nthreads", "1",
                               "--nworkers", "2", "--no-dashboard"], **quiet)
    try:
        deadline = time.monotonic() + 60
        while not file.exists():
            assert time.monotonic() < deadline, "the scheduler wrote no scheduler file"
            time.sleep(0.1)
        out, log = tmp_path / "run", tmp_path / "log"
        proc = launch(tmp_path, out, log, "--scheduler", str(file), sleep=0.02)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    finally:
        for p in (worker, scheduler):
            p.send_signal(signal.SIGTERM)
        for p in (worker, scheduler):
            p.wait(30)
    assert_same_results(out, reference)
    assert len({pid for _, pid, _ in read_log(log)}) == 2


# --- the command line, on the real fine-tune -----------------------------------------------

DIGITS = """\
name: digits-par
model: digits-cnn
accelerator: spatial-256
level: coarse
objectives: [accuracy, frac_ops]
bits: [8, 4, 2]
population: 4
generations: 2
seed: 0
finetune: {epochs: 0.3, threads: 1, cache_dir: cache}
"""


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_cli_workers_fine_tune_digits_like_this_process_does(tmp_path):
    exp = write_experiment(tmp_path, DIGITS)
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("search", str(exp), "--out", str(out), "--workers", "2",
                                   "--no-plots")
    assert code == 0, stderr
    rows = stored_rows(out)
    assert len(rows) == len(set(rows)) >= 4
    # recompute the hv-leader's ψ here, from the baseline a worker trained, and compare
    leader = export(out, "hv-leader")
    settings = AccuracySettings(model="digits-cnn", dataset="digits", epochs=0.3, seed=0,
                                cache_dir=str(tmp_path / "cache"))
    evaluator = AccuracyEvaluator(settings)
    evaluator.store.forget(evaluator.strategy_key(leader))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = evaluator.evaluate_one(leader)
    finally:
        torch.set_num_threads(threads)
    assert not here.cached and here.status == "ok"
    assert here.accuracy == leader.extra["metrics"]["accuracy"]


def test_cli_names_a_scheduler_it_cannot_reach_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    exp = write_experiment(tmp_path, DIGITS)
    for address, words in (("tcp://127.0.0.1:9", "Timed out"),
                           ("nowhere", "missing port number")):
        out = tmp_path / address.replace("/", "_")
        code, _, err = run_cli("search", str(exp), "--out", str(out), "--scheduler", address)
        assert code == 2 and err.count("\n") == 1, err
        assert f"cannot reach a Dask scheduler at '{address}'" in err and words in err
        assert "dask scheduler" in err and not (out / "run.sqlite").exists()
    code, _, err = run_cli("search", str(exp), "--workers", "2", "--scheduler", "tcp://x:1")
    assert code == 2 and "give one (local processes or a Dask cluster), not both" in err
