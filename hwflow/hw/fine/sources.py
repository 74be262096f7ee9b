"""The Fine kernel's sources and their digest: which files the compiled kernel is made
of, so that a module compiled from other sources is never loaded. Both ``kernel`` (whose
JIT cache key closes over the digest) and ``backend`` (which picks the AOT module that
matches it) read it from here, and neither imports the other at module level."""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent  # where the AOT module lives
ROOT = HERE.parent  # hwflow/hw: the sources' paths are relative to it
# every file whose code or constants the kernel compiles in
SOURCES: tuple[str, ...] = ("fine/kernel.py", "fine/mapspace.py", "fine/layout.py", "tiling.py")


def sources_digest(folder: Path = ROOT) -> str:
    """SHA-256 of the kernel's sources (names and bytes) under ``folder``."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def aot_module_name(digest: str) -> str:
    return f"_kernel_aot_{digest[:16]}"
