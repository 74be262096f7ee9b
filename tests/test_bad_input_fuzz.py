"""Fuzzing the experiment, accelerator and strategy schemas (hypothesis): a valid file with
a few keys replaced, removed or added, or numbers moved to other plausible values (or a
few bytes spliced into its text) gives either a
valid run / evaluation or one ``error:`` line with a non-zero exit, never a traceback; and
a refused search writes nothing (no run directory).

Values come from the shapes that broke hwflow before (huge and negative integers, inf and
nan, booleans where numbers belong, empty strings and lists, nested mappings). Kept
CI-sized: hardware-only levels (Coarse, Mid), a tiny search budget, derandomized examples.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from hwflow.catalog import load_workload
from hwflow.cli import main
from hwflow.strategy import uniform_strategy

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = {"name": "fuzz", "model": "digits-cnn", "accelerator": "spatial-256",
              "level": "coarse", "objectives": ["frac_ops", "dram_bytes"], "bits": [8, 4],
              "population": 4, "generations": 1, "seed": 0, "keep_ends": True,
              "constraints": {"frac_ops_max": 1.0e9}, "accelerator_genes": {"rows": [8, 16]}}
ACCELERATOR = yaml.safe_load((ROOT / "accelerators" / "spatial-256.yaml").read_text())
STRATEGY = {**uniform_strategy(load_workload("digits-cnn"), 8).to_yaml_dict(),
            "level": "coarse", "batch": 1, "dataflow": "rs", "mapper_objective": "energy"}

# No "fine" (the first Fine search in a process compiles the JIT kernel) and no
# "accuracy" (a fine-tune is not CI-sized): every other shape is fair game.
LEAVES = st.one_of(
    st.integers(-3, 40), st.sampled_from([0, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(["", "ultra", "coarse", "mid", "rs", "xy", "bit-serial", "spatial-256", "8",
                     "2e6", "nsga2", "soga", "frac_ops", "energy", "café"]),
    st.text(max_size=8))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["rows", "min", "max", "x"]), inner,
                                        max_size=2), max_leaves=4)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths(value, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        where = paths(doc)
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["nudge", "nudge", "replace", "delete", "add"]))
        old = parent[path[-1]]
        if op == "nudge" and isinstance(old, (int, float)) and not isinstance(old, bool):
            # a plausible number of the same kind: most such files are valid and must run
            parent[path[-1]] = (draw(st.integers(1, 64)) if isinstance(old, int)
                                else draw(st.floats(0.1, 1000.0)))
        elif op in ("replace", "nudge"):
            parent[path[-1]] = draw(VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "rows", "batch", "seed", "level"]))] = draw(VALUES)
    text = yaml.safe_dump(doc, allow_unicode=True).encode()
    if draw(st.integers(0, 4)) == 0:  # raw bytes spliced in: encodings, tabs, broken syntax
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=3)) + text[at:]
    return text


def assert_clean(args: list[str]) -> int:
    result = CliRunner().invoke(main, args)
    if result.exit_code == 0:
        return 0
    assert isinstance(result.exception, SystemExit), f"{args}: {result.exception!r}"
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), \
        result.output
    return result.exit_code


FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(mutated(EXPERIMENT))
def test_a_mutated_experiment_runs_or_is_one_line_and_writes_nothing(text):
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "exp.yaml", Path(tmp) / "run"
        path.write_bytes(text)
        code = assert_clean(["search", str(path), "--out", str(out), "--no-plots"])
        assert (out / "run.sqlite").exists() if code == 0 else not out.exists()


@FUZZ
@given(mutated(ACCELERATOR))
def test_a_mutated_accelerator_evaluates_or_is_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chip.yaml"
        path.write_bytes(text)
        assert_clean(["evaluate", "--model", "digits-cnn", "--accelerator", str(path),
                      "--level", "mid", "--bits", "8", "--json"])


@FUZZ
@given(mutated(STRATEGY))
def test_a_mutated_strategy_evaluates_or_is_one_line(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_bytes(text)
        assert_clean(["evaluate", "--strategy", str(path), "--accelerator", "spatial-256",
                      "--json"])
