"""A multi-level flow's stages (HW-FlowQ's refinement and abstraction): the single-level experiment each stage runs.

A stage's experiment is the flow's, with the stage's level, objectives and constraints,
and the inputs it tries (inherited from the stages above plus its candidate's own).
``check_stages`` expands them on load, so a bad candidate fails with its line.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from hwflow.config import ConfigError
from hwflow.search.paths import relative_to

Config = TypeVar("Config", bound=BaseModel)  # an ExperimentConfig
TOP_LEVEL_INPUTS = ("model", "bits", "tied_bits")  # the others are accelerator knobs
MAX_STAGE_CHECKS = 256  # combinations of candidates validated on load (the rest at run time)


def stage_config(path: Path, config: Config, stage: int, inputs: Mapping[str, Any]) -> Config:
    """The single-level experiment a flow runs at ``stage`` with ``inputs`` (those
    inherited from the stages above and the candidate's own), validated by the flow's own
    schema (``hwflow.search.experiment.ExperimentConfig``); raises pydantic's
    ValidationError."""
    s = config.stages[stage]
    data = config.model_dump(mode="json", exclude={"stages"}, exclude_none=True)
    data.update(level=s.level, objectives=list(s.objectives), constraints={
        **config.constraints.model_dump(exclude_none=True),
        **s.constraints.model_dump(exclude_none=True)})
    for key in ("algorithm", "population", "generations"):
        if getattr(s, key) is not None:
            data[key] = getattr(s, key)
    genes = dict(data.get("accelerator_genes") or {})
    for key, value in inputs.items():
        if key in TOP_LEVEL_INPUTS:
            data[key] = value
        else:
            data.pop(key, None)  # a candidate's dataflow or batch replaces the top-level one
            genes[key] = value
    if genes:
        data["accelerator_genes"] = genes
    with relative_to(path.resolve().parent):
        return type(config).model_validate(data)


def check_stages(path: Path, config: Config, lines: dict[tuple, int]) -> None:
    """Validate the experiment every stage would run, with each of its candidates and
    those of the stages above, so a bad candidate fails on load with its line."""
    stages = config.stages or []
    choices = [range(len(s.candidates)) for s in stages]
    checked: set[tuple[int, ...]] = set()
    for combo in itertools.islice(itertools.product(*choices), MAX_STAGE_CHECKS):
        for stage in range(len(combo)):
            if combo[:stage + 1] in checked:
                continue
            checked.add(combo[:stage + 1])
            inputs: dict[str, Any] = {}
            for s, j in enumerate(combo[:stage + 1]):
                inputs.update(stages[s].candidates[j].inputs())
            try:
                stage_config(path, config, stage, inputs)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
                candidate = ("stages", stage, "candidates", combo[stage])
                where = (candidate if loc and loc[-1] in stages[stage].candidates[combo[stage]].inputs()
                         else ("stages", stage))
                line = lines.get(where)
                key = ".".join(str(p) for p in where)
                raise ConfigError(
                    f"{path}:{f' line {line}' if line else ''} key '{key}': "
                    f"{err['msg'].removeprefix('Value error, ')} (in the experiment this stage "
                    f"runs, at '{'.'.join(str(p) for p in loc) or '(top level)'}')") from None
