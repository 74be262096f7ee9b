"""The shipped co-design walk-through on digits refines Coarse → Mid → Fine (CI-sized)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hwflow.runs.front import violation
from hwflow.runs.reports import open_run
from hwflow.search.experiment import load_experiment
from hwflow.search.flow import run_flow

WALKTHROUGH = Path(__file__).parents[1] / "experiments/paper/codesign_walkthrough_digits.yaml"


@pytest.mark.slow
def test_the_digits_walkthrough_reaches_fine_with_margin(tmp_path, tmp_path_factory) -> None:
    exp = load_experiment(WALKTHROUGH)
    cache = tmp_path_factory.getbasetemp() / "accuracy-cache"  # test_training.py's baseline
    finetune = exp.config.finetune.model_copy(update={"epochs": 0.25, "cache_dir": str(cache)})
    small = exp.config.model_copy(update={"population": 8, "generations": 2,
                                          "finetune": finetune})
    result = run_flow(replace(exp, config=small), tmp_path / "run", plots=False)
    assert result.met, [(s.level, s.outcome, s.why) for s in result.path]
    outcomes = [(s.level, s.outcome) for s in result.path]
    assert outcomes[-1] == ("fine", "done")
    assert ("coarse", "refine") in outcomes and ("mid", "refine") in outcomes
    # the constraints hold up to ψ noise: two standard errors above accuracy_min
    bound = exp.config.constraints.accuracy_min
    final = open_run(tmp_path / "run")
    feasible = [e for e in final.front if violation(e) == 0]
    assert feasible
    for e in feasible:
        assert e.metrics["accuracy"] - 2 * e.metrics["accuracy_se"] >= bound, e
