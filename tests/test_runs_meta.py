"""A run's settings in run.sqlite: one key per field, in the format runs have always used."""

from __future__ import annotations

import json
import sqlite3

from hwflow.runs.meta import RunMeta
from hwflow.runs.reports import open_run
from hwflow.runs.store import STORE_NAME, RunStore

# The meta keys a search run stored before RunMeta existed (as the driver wrote them by
# hand), spelled out as JSON text.
OLD_KEYS = {
    "name": '"demo"', "model": '"digits-cnn"', "accelerator": '"spatial-256"',
    "level": '"fine"', "batch": "1", "dataflow": '"rs"', "mapper_objective": '"energy"',
    "objectives": '["energy", "latency_cycles"]', "constraints": '[["energy", 2.5]]',
    "accelerator_genes": "[]", "accelerator_fixed": "{}",
    "layers": '["conv1", "conv2", "fc"]', "reference": '{"energy": 10.0, "latency_cycles": 4.0}',
    "algorithm": '"nsga2"', "population": "8", "generations": "3",
}


def test_settings_are_written_as_the_old_key_bag(tmp_path):
    meta = RunMeta(name="demo", model="digits-cnn", accelerator="spatial-256", level="fine",
                   batch=1, dataflow="rs", mapper_objective="energy",
                   objectives=("energy", "latency_cycles"), layers=("conv1", "conv2", "fc"),
                   reference={"energy": 10.0, "latency_cycles": 4.0},
                   constraints=(("energy", 2.5),), algorithm="nsga2", population=8,
                   generations=3)
    with RunStore(tmp_path / STORE_NAME) as store:
        meta.save(store)
        assert RunMeta.load(store) == meta
    rows = dict(sqlite3.connect(tmp_path / STORE_NAME).execute("SELECT key, value FROM meta"))
    for key, text in OLD_KEYS.items():
        assert json.loads(rows[key]) == json.loads(text), key
    assert json.loads(rows["accelerator_base"]) is None


def test_a_run_stored_before_co_search_reads_back_with_defaults(tmp_path):
    """An older run has no accelerator keys and no algorithm/population/generations."""
    old = {k: v for k, v in OLD_KEYS.items()
           if k not in ("accelerator_genes", "accelerator_fixed", "algorithm", "population",
                        "generations")}
    with RunStore(tmp_path / STORE_NAME) as store:
        for key, text in old.items():
            store.db.execute("INSERT INTO meta VALUES (?, ?)", (key, text))
        meta = RunMeta.load(store)
    assert meta is not None
    assert meta.objectives == ("energy", "latency_cycles")
    assert meta.constraints == (("energy", 2.5),)
    assert meta.accelerator_genes == () and meta.accelerator_fixed == {}
    assert meta.algorithm is None and not meta.designs_accelerators
    run = open_run(tmp_path)  # no generation stored yet: an empty front, no error
    assert run.meta == meta and run.front == [] and run.leaders == {}


def test_a_store_without_settings_has_no_meta(tmp_path):
    with RunStore(tmp_path / STORE_NAME) as store:
        assert RunMeta.load(store) is None
