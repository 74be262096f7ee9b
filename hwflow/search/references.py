"""Model and accelerator references in experiment and sweep files: checked, resolved, loaded.

A reference is a catalog name or a file path (resolved against the file's folder, see
``hwflow.search.paths``). The validators of one file all ask for its accelerator; a file
path accelerator is read once per (path, modification) and shared (``Accelerator`` is
frozen), so loading an experiment parses it once.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated

from pydantic import AfterValidator

from hwflow.catalog import is_path, load_accelerator, model_entry
from hwflow.errors import HwflowError
from hwflow.hw.spec import Accelerator
from hwflow.search.paths import resolve_path


def check_model_ref(value: str) -> str:
    """A model name or file that exists; file paths made absolute (relative to the YAML)."""
    if is_path(value):
        file, sep, name = value.partition(":")
        value = resolve_path(file) + sep + name
    try:
        model_entry(value)
    except HwflowError as exc:
        raise user_error(exc) from None
    return value


def check_accelerator_ref(value: str) -> str:
    """An accelerator name or a YAML file that loads; file paths made absolute."""
    if is_path(value):
        value = resolve_path(value)
    try:
        accelerator_of(value)
    except HwflowError as exc:
        raise user_error(exc) from None
    return value


def accelerator_of(ref: str | None) -> Accelerator | None:
    """The accelerator a (checked) reference names; None for none."""
    if ref is None:
        return None
    if not is_path(ref):
        return load_accelerator(ref)  # the catalog caches its own
    try:
        stat = os.stat(ref)
    except OSError:
        return load_accelerator(ref)  # its own one-line error
    return _accelerator_file(ref, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _accelerator_file(path: str, mtime_ns: int, size: int) -> Accelerator:
    return load_accelerator(path)


# The reference fields of the experiment and sweep schemas: checked, file paths made absolute.
ModelRef = Annotated[str, AfterValidator(check_model_ref)]
AcceleratorRef = Annotated[str, AfterValidator(check_accelerator_ref)]


def user_error(exc: HwflowError) -> ValueError:
    """A user error re-raised inside a pydantic validator (pydantic reports ValueErrors)."""
    return ValueError(str(exc))
