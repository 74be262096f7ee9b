"""`hwflow models / accelerators / evaluate` from the outside: contract and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from hwflow.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def evaluate_json(*args: str) -> dict:
    code, out, err = run("evaluate", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_models_and_accelerators_list_catalogs():
    code, out, _ = run("models")
    assert code == 0 and "resnet20" in out and "40.55 M" in out
    code, out, _ = run("accelerators")
    assert code == 0 and "spatial-256" in out and "16x16" in out and "bit-serial" in out


def test_evaluate_json_contract_coarse_and_mid():
    coarse = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256", "--level", "coarse")
    assert set(coarse) == {"model", "accelerator", "level", "batch", "dataflow", "engine",
                           "totals", "layers"}
    assert coarse["totals"]["macs"] == 40_551_040
    assert "energy" not in coarse["totals"]  # Coarse cannot compute energy: absent, not zero
    assert set(coarse["layers"][0]) >= {"name", "macs", "w_bits", "a_bits", "frac_ops",
                                        "dram_bytes", "latency_cycles"}
    mid = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256", "--level", "mid")
    assert "energy" in mid["totals"] and "energy_breakdown" not in mid
    assert mid["totals"]["dram_bytes"] >= coarse["totals"]["dram_bytes"]


def test_bits_option_keeps_first_and_last_at_16():
    data = evaluate_json("--model", "resnet20", "--accelerator", "eyeriss-256-db", "--level",
                         "coarse", "--bits", "4,8")
    bits = [(layer["w_bits"], layer["a_bits"]) for layer in data["layers"]]
    assert bits[0] == bits[-1] == (16, 16)
    assert set(bits[1:-1]) == {(4, 8)}
    full = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256", "--level", "coarse")
    # V = floor(16 / 8) = 2 for the middle layers
    inner = sum(layer["macs"] for layer in data["layers"][1:-1])
    assert full["totals"]["frac_ops"] - data["totals"]["frac_ops"] == pytest.approx(inner / 2)


def test_strategy_file_supplies_model_accelerator_level_and_batch(tmp_path):
    layers = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256",
                           "--level", "coarse")["layers"]
    strategy = {"model": "resnet20", "accelerator": "bs-256", "level": "mid", "batch": 4,
                "layers": [{"name": l["name"], "w_bits": 3, "a_bits": 5} for l in layers]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(strategy))
    data = evaluate_json("--strategy", str(path))
    assert (data["accelerator"], data["level"], data["batch"]) == ("bs-256", "mid", 4)
    assert data["layers"][0]["w_bits"] == 3 and data["layers"][0]["a_bits"] == 5


def test_dataflow_override_is_reported():
    data = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256", "--level", "coarse",
                         "--dataflow", "os")
    assert data["dataflow"] == "os"


@pytest.mark.parametrize("args,expected", [
    (["--model", "lenet", "--accelerator", "spatial-256"], "unknown model 'lenet'; choose one of: alexnet"),
    (["--model", "resnet20", "--accelerator", "tpu"], "unknown accelerator 'tpu'; choose one of: bs-1024"),
    (["--model", "resnet20", "--accelerator", "spatial-256", "--bits", "3"],
     "w_bits=3 is not supported by spatial-256"),
    (["--model", "resnet20", "--accelerator", "spatial-256", "--bits", "x"], "--bits 'x': expected W or W,A"),
    (["--model", "resnet20", "--accelerator", "missing.yaml"], "missing.yaml: no such file"),
    (["--model", "resnet20", "--accelerator", "spatial-256", "--strategy", "nope.yaml"],
     "nope.yaml: no such strategy file"),
])
def test_bad_input_is_one_line_and_nonzero(args, expected):
    code, out, err = run("evaluate", *args)
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_strategy_for_another_model_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"model": "resnet20", "layers": [
        {"name": "conv1", "w_bits": 8, "a_bits": 8}]}))
    code, _, err = run("evaluate", "--strategy", str(path), "--accelerator", "spatial-256",
                       "--level", "coarse")
    assert code == 2 and "strategy does not match model resnet20: missing" in err


def test_debug_shows_the_traceback():
    result = CliRunner().invoke(main, ["--debug", "evaluate", "--model", "lenet",
                                       "--accelerator", "spatial-256"])
    assert result.exit_code != 0 and result.exception is not None


def test_evaluate_process_never_imports_torch():
    code = ("import sys\nfrom hwflow.cli import main\n"
            "try:\n main(['evaluate','--model','resnet20','--accelerator','spatial-256',"
            "'--level','mid','--json'])\nexcept SystemExit as e:\n assert e.code in (0, None)\n"
            "assert 'torch' not in sys.modules, 'evaluate imported torch'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "resnet20"


def test_strategy_mapper_objective_is_used(tmp_path):
    base = ["--model", "digits-cnn", "--accelerator", "spatial-256", "--level", "fine"]
    layers = evaluate_json(*base)["layers"]
    strategy = {"model": "digits-cnn", "accelerator": "spatial-256", "level": "fine", "batch": 1,
                "mapper_objective": "latency",
                "layers": [{"name": l["name"], "w_bits": 16, "a_bits": 16} for l in layers]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(strategy))
    from_file = evaluate_json("--strategy", str(path))
    assert from_file["totals"] == evaluate_json(*base, "--objective", "latency")["totals"]
    assert from_file["totals"]["latency_cycles"] <= evaluate_json(*base)["totals"]["latency_cycles"]


def test_tied_catalog_engine_rejects_untied_bits_in_one_line():
    # the paper's vectorized Spatial engines run b_W = b_A (accelerator YAML tied_bits)
    code, out, err = run("evaluate", "--model", "resnet20", "--accelerator", "spatial-256",
                         "--bits", "4,8")
    assert code != 0 and out == ""
    line = err.strip()
    assert "\n" not in line and "Traceback" not in err
    assert "spatial-256 needs w_bits == a_bits" in line and "got 4,8" in line


def test_fine_json_layers_split_compute_and_stall_cycles():
    data = evaluate_json("--model", "resnet20", "--accelerator", "spatial-256")
    for layer in data["layers"]:
        assert layer["compute_cycles"] + layer["stall_cycles"] == layer["latency_cycles"]
        assert layer["stall_cycles"] == 0  # the catalog states no DRAM bandwidth (Tab. 1)
