"""run.sqlite and the run lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hwflow.runs.store import GenerationRow, RunError, RunLock, RunStore


def add(store: RunStore, genome: str, energy: float, level: str = "mid"):
    return store.add(level=level, genome=genome, w_bits=[16, 4], a_bits=[16, 8],
                     metrics={"energy": energy, "accuracy": 0.5}, objectives={"energy": energy},
                     constraints={"energy_max": -0.5}, wall_s=0.1, status="ok")


def test_store_is_wal_and_round_trips_evaluations_exactly(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        value = 0.1 + 0.2  # not representable in few digits: must survive exactly
        first = add(store, "0,1", value)
        add(store, "1,1", 2.0)
        add(store, "0,1", 3.0, level="fine")  # the same genome at another level is distinct
        found = store.find("mid", ["0,1", "2,2"])
        assert list(found) == ["0,1"]
        e = found["0,1"]
        assert e == first and e.metrics["energy"] == value and e.w_bits == (16, 4)
        assert store.count("mid") == 2 and store.count("fine") == 1
        with pytest.raises(sqlite3.IntegrityError):
            add(store, "0,1", 9.0)
    with RunStore(tmp_path / "run.sqlite") as again:
        assert again.evaluation(first.id) == first


def test_generation_population_and_checkpoint_are_stored_together(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        a, b = add(store, "0", 1.0), add(store, "1", 2.0)
        row = GenerationRow("mid", 1, 0.5, 2, 2, 0, 0.01)
        store.save_generation(row, [b.id, a.id], b"state-1")
        store.save_generation(GenerationRow("mid", 2, 0.6, 1, 2, 1, 0.01), [a.id, a.id], b"state-2")
        assert [e.id for e in store.population("mid", 1)] == [b.id, a.id]
        assert store.checkpoint("mid") == (2, b"state-2")
        assert [r.hypervolume for r in store.generations("mid")] == [0.5, 0.6]
        assert store.checkpoint("coarse") is None


def test_a_failed_generation_write_leaves_nothing_behind(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        a = add(store, "0", 1.0)
        # make the population insert fail half-way (an evaluation may appear only once)
        store.db.execute("CREATE UNIQUE INDEX one_per_eval ON populations (evaluation_id)")
        with pytest.raises(sqlite3.IntegrityError):
            store.save_generation(GenerationRow("mid", 1, 0.5, 1, 1, 0, 0.0), [a.id, a.id], b"x")
        assert store.generations() == [] and store.checkpoint("mid") is None


def test_store_of_another_schema_is_refused(tmp_path):
    with RunStore(tmp_path / "run.sqlite") as store:
        store.set_meta("schema_version", 99)
    with pytest.raises(RunError, match="schema 99"):
        RunStore(tmp_path / "run.sqlite")


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with RunLock(tmp_path):
        assert (tmp_path / "run.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunError, match=f"in use by another hwflow search \\(pid {os.getpid()}\\)"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # released: free again
        pass


def test_lock_of_a_killed_process_is_free(tmp_path):
    code = (f"from hwflow.runs.store import RunLock; import time; RunLock({str(tmp_path)!r}).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"pid {holder.pid}"):
            RunLock(tmp_path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 10
        while True:
            try:
                RunLock(tmp_path).acquire().release()
                break
            except RunError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()
