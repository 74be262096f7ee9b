"""The algorithm checkpoint run.sqlite keeps: pymoo's algorithm, pickled, minus live state.

The problem's ``fitness`` (the run store, the accuracy dispatch) stays out through pymoo's
own ``Problem.exclude_from_serialization``; a resumed session attaches its own problem.
Checkpoints name the classes they hold by module; runs made before the search was split
into ``space/`` and ``ga/`` name the old modules, which ``MOVED`` maps to their homes so
those runs still resume.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

MOVED: dict[str, str] = {
    "hwflow.search.operators": "hwflow.search.ga.operators",
    "hwflow.search.algorithms": "hwflow.search.ga.algorithms",
    "hwflow.search.soga": "hwflow.search.ga.soga",
    "hwflow.search.problem": "hwflow.search.ga.problem",
    "hwflow.search.genome": "hwflow.search.space.genome",
    "hwflow.search.accelerator_genes": "hwflow.search.space.accelerator_genes",
    "hwflow.search.leaders": "hwflow.runs.front",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED.get(module, module), name)


def dump(algorithm: Any) -> bytes:
    return pickle.dumps(algorithm)


def load(state: bytes) -> Any:
    return _Unpickler(io.BytesIO(state)).load()
