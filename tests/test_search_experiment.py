"""Experiment YAML: presets, path resolution and one-line errors naming file, key and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hwflow.catalog import ACCELERATOR_DIR
from hwflow.config import ConfigError
from hwflow.search.experiment import load_experiment
from hwflow.search.presets import PRESETS

BASE = """\
model: resnet20
accelerator: eyeriss-256-db
level: mid
objectives: [energy, latency_cycles]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_minimal_experiment_takes_the_quick_preset(tmp_path):
    exp = load_experiment(write(tmp_path, BASE))
    quick = PRESETS["quick"]
    assert (exp.population, exp.generations, exp.epochs) == (quick.population, quick.generations,
                                                              quick.epochs)
    assert exp.name == "exp" and exp.objectives == ("energy", "latency_cycles")
    assert exp.config.seed == 0 and exp.config.mutation_prob == 0.4 and exp.config.keep_ends
    assert not exp.uses_accuracy and exp.dataset == "cifar10"


def test_paper_presets_and_overrides(tmp_path):
    exp = load_experiment(write(tmp_path, BASE + "preset: imagenet\ngenerations: 3\n"))
    assert (exp.population, exp.generations, exp.epochs) == (10, 3, 0.4)
    assert (PRESETS["cifar10-explore"].population, PRESETS["cifar10-sota"].population) == (25, 50)
    assert (PRESETS["cityscapes"].generations, PRESETS["cityscapes"].epochs) == (10, 10.0)


def test_genome_follows_the_experiment_and_the_hardware(tmp_path):
    exp = load_experiment(write(tmp_path, BASE + "bits: [8, 4, 2]\n"))
    workload, accel = exp.workload(), exp.accelerator()
    genome = exp.genome(workload, accel)
    assert genome.alleles == (8, 4, 2) and not genome.tied
    assert genome.n_var == 2 * (len(workload.layers) - 2)
    tied = load_experiment(write(tmp_path, BASE + "tied_bits: true\nkeep_ends: false\n"))
    genome = tied.genome(workload, accel)
    assert genome.tied and genome.n_var == len(workload.layers)
    assert genome.alleles == accel.supported_bits  # default: every bitwidth the engine runs


def test_relative_accelerator_file_is_resolved_against_the_experiment(tmp_path):
    (tmp_path / "chips").mkdir()
    shutil.copy(ACCELERATOR_DIR / "spatial-168.yaml", tmp_path / "chips" / "mine.yaml")
    exp = load_experiment(write(tmp_path, BASE.replace("eyeriss-256-db", "chips/mine.yaml")))
    assert Path(exp.config.accelerator) == tmp_path / "chips" / "mine.yaml"
    assert exp.accelerator().rows == 12


@pytest.mark.parametrize("text, key, words", [
    (BASE + "populaton: 5\n", "populaton", "unknown key; allowed here: name, model"),
    (BASE.replace("energy,", "energy, watts,"), "objectives.1", "Input should be"),
    (BASE.replace("level: mid", "level: coarse"), "objectives",
     "energy cannot be computed at the coarse level"),
    (BASE + "batch: 0\n", "batch", "greater than or equal to 1"),
    (BASE + "bits: [8, 3]\n", "bits", "[3] not supported by eyeriss-256-db"),
    (BASE + "end_bits: 12\n", "end_bits", "12 not supported"),
    (BASE.replace("eyeriss-256-db", "spatial-9"), "accelerator", "unknown accelerator 'spatial-9'"),
    (BASE.replace("resnet20", "resnet21"), "model", "unknown model 'resnet21'"),
    (BASE + "execution: {workers: 4, scheduler: 'tcp://h:8786'}\n", "execution.scheduler",
     "give workers (local processes) or scheduler (a Dask cluster), not both"),
    (BASE + "algorithm: soga\n", "objectives", "soga optimizes one hardware metric"),
    (BASE.replace("[energy, latency_cycles]", "[energy]"), "objectives",
     "nsga2 needs at least two objectives"),
    (BASE + "constraints: {accuracy_min: 1.5}\n", "constraints.accuracy_min", "less than or equal"),
    (BASE + "preset: cifar100\n", "preset", "'quick', 'cifar10-explore'"),
])
def test_bad_experiments_give_one_line_naming_the_key(tmp_path, text, key, words):
    message = error_of(tmp_path, text)
    assert f"key '{key}'" in message and " line " in message
    assert words in message


def test_constraints_must_be_computable_at_the_level(tmp_path):
    message = error_of(tmp_path, BASE.replace("level: mid", "level: coarse").replace(
        "[energy, latency_cycles]", "[frac_ops, latency_cycles]") + "constraints: {energy_max: 1}\n")
    assert "key 'constraints'" in message and "energy cannot be computed" in message


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_experiment(tmp_path / "nope.yaml")
    assert "not valid YAML" in error_of(tmp_path, "model: [resnet20\n")


@pytest.mark.parametrize("path", sorted(Path(__file__).parent.parent.glob("experiments/*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_experiments_are_valid(path):
    exp = load_experiment(path)
    assert exp.genome(exp.workload(), exp.accelerator()).n_var > 0


def test_resume_check_ignores_where_evaluations_run(tmp_path):
    plain = load_experiment(write(tmp_path, BASE)).settings()
    moved = load_experiment(write(tmp_path, BASE + "finetune: {threads: 1, device: cuda}\n"))
    assert moved.settings() == plain
    reseeded = load_experiment(write(tmp_path, BASE + "seed: 4\n"))
    assert reseeded.settings() != plain
