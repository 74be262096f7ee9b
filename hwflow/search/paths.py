"""Relative paths in an experiment or sweep file are relative to that file's folder.

The folder is set for the duration of a load (``relative_to``) and read by the validators
that resolve a path (``resolve_path``), so the pydantic schemas need no extra argument.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

_base_dir: ContextVar[Path] = ContextVar("experiment_dir", default=Path("."))


@contextlib.contextmanager
def relative_to(folder: Path) -> Iterator[None]:
    token = _base_dir.set(folder)
    try:
        yield
    finally:
        _base_dir.reset(token)


def resolve_path(value: str) -> str:
    """A path-like reference made absolute against the experiment's folder."""
    path = Path(value)
    return value if path.is_absolute() else str((_base_dir.get() / path).resolve())
