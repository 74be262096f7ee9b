"""The ahead-of-time Fine kernel: the same answers as the JIT kernel, loaded only while it
matches the sources, and a Fine ``hwflow evaluate`` that never imports Numba with it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hwflow.catalog import load_accelerator, load_workload
from hwflow.hw.fine import backend, build_aot, kernel as K, mapspace, sources
from hwflow.hw.fine.mapper import kernel_args
from hwflow.hw.query import LayerQuery
from tests.test_fine import bits_for, kernel_search, layers, setups


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="outside CI the AOT build may "
                    "fail (the JIT then runs); CI builds it and needs it")
def test_ci_has_the_aot_kernel_of_the_current_sources():
    # Each AOT test below skips when no AOT module matches the sources; in CI that would
    # turn a broken build into skips, so here it fails instead.
    assert backend.load_aot(backend.sources_digest()) is not None, (
        "no AOT Fine kernel built from the current sources: python -m hwflow.hw.fine.build_aot")


def same_answer(args):
    aot = kernel_search("aot")(*args)
    jit = K.search(*args)
    assert len(aot) == len(jit) == 3
    for a, j in zip(aot, jit):
        assert a.dtype == j.dtype and np.array_equal(a, j)


@pytest.mark.parametrize("name,dataflow", [("spatial-256", "rs"), ("spatial-256", "ws"),
                                           ("spatial-256", "os"), ("bs-256", "rs")])
def test_aot_equals_jit_on_catalog_layers(name, dataflow):
    accel = load_accelerator(name).with_dataflow(dataflow)
    for model in ("resnet20", "alexnet"):
        for layer in load_workload(model).layers:
            for bits, objective, batch in [((16, 16, 16), "energy", 1), ((4, 8, 4), "edp", 4),
                                           ((2, 2, 8), "latency", 2)]:
                same_answer(kernel_args(LayerQuery(layer, *bits, accel, batch, objective))[1])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer=layers(), accel=setups(), batch=st.integers(1, 4),
       objective=st.sampled_from(["energy", "latency", "edp"]), data=st.data())
def test_aot_equals_jit_on_random_layers(layer, accel, batch, objective, data):
    w, a = bits_for(accel, data.draw)
    out = data.draw(st.sampled_from([2, 4, 8, 16]))
    same_answer(kernel_args(LayerQuery(layer, w, a, out, accel, batch, objective))[1])


def copy_sources(folder: Path) -> None:
    for name in sources.SOURCES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sources.ROOT / name, folder / name)


def test_digest_changes_with_every_kernel_source(tmp_path):
    copy_sources(tmp_path)
    assert sources.sources_digest(tmp_path) == sources.sources_digest()
    seen = {sources.sources_digest()}
    for name in sources.SOURCES:
        with open(tmp_path / name, "a") as f:
            f.write("\n# edited\n")
        seen.add(sources.sources_digest(tmp_path))
    assert len(seen) == 1 + len(sources.SOURCES)


def test_kernel_sources_cover_what_it_compiles_in():
    files = {sources.ROOT / name for name in sources.SOURCES}
    compiled = [fn.__code__.co_filename for fn in mapspace.KERNEL_HELPERS]
    compiled += [d.py_func.__code__.co_filename for d in vars(K).values() if hasattr(d, "py_func")]
    assert compiled and {Path(f).resolve() for f in compiled} <= files


def test_stale_digest_falls_back_to_jit(tmp_path, caplog):
    copy_sources(tmp_path)  # the sources as they would be after an edit
    with open(tmp_path / "fine" / "mapspace.py", "a") as f:
        f.write("\n# edited\n")
    stale = sources.sources_digest(tmp_path)
    with caplog.at_level(logging.DEBUG, logger=backend.__name__):
        kind, search = backend.select(stale)
    assert (kind, search) == ("jit", K.search)
    assert "Numba JIT" in caplog.text


def test_current_sources_select_the_aot_module():
    aot = kernel_search("aot")
    assert backend.select(sources.sources_digest()) == ("aot", aot)


def test_failed_build_warns_and_exits_nonzero(monkeypatch, capsys):
    def broken(force):
        raise RuntimeError("no C compiler")

    monkeypatch.setattr(build_aot, "build", broken)
    assert build_aot.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "no C compiler" in err and "JIT" in err


def test_fine_evaluate_process_never_imports_numba():
    kernel_search("aot")
    code = ("import sys\nfrom hwflow.cli import main\n"
            "try:\n main(['evaluate','--model','resnet20','--accelerator','spatial-256',"
            "'--json'])\nexcept SystemExit as e:\n assert e.code in (0, None)\n"
            "heavy = {m.split('.')[0] for m in sys.modules} & {'numba', 'llvmlite', 'rich'}\n"
            "assert not heavy, f'evaluate imported {sorted(heavy)}'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["level"] == "fine" and report["totals"]["energy"] > 0
    assert all(layer["mapping"] for layer in report["layers"])
