"""Compile the Fine kernel ahead of time into an extension module next to this file.

    python -m hwflow.hw.fine.build_aot [--force]

Compiles ``kernel.search`` itself (its Python function, not a copy) with ``numba.pycc``
for a generic CPU of this architecture, into ``_kernel_aot_<digest>``, where the digest
is ``sources.sources_digest()``; ``backend`` loads it only while the sources still match.
Does nothing when the module for the current sources exists (unless ``--force``); removes
modules of older sources. On failure it prints one warning line and exits 1, and hwflow
keeps using the JIT kernel (``scripts/setup.sh`` goes on). Takes ~20 s here.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from hwflow.hw.fine import backend, sources

# kernel.search's arguments and result (kernel and layout module docs)
SIGNATURE = ("Tuple((i8[:], f8[:], i8[:]))"
             "(i8[:], i8[:], i8[:], i8[:], i8[:], i8[:], i8[:], i8[:, :], i8[:], f8[:])")


def build(force: bool = False) -> Path:
    """Build (or find) the module for the current sources; returns its path."""
    if not force and (path := _loaded_from(sources.sources_digest())) is not None:
        return path
    with warnings.catch_warnings():
        # pycc is deprecated upstream; should a Numba release drop it, this build fails
        # and the JIT kernel runs instead
        warnings.simplefilter("ignore")
        from numba.pycc import CC
    from hwflow.hw.fine import kernel

    name = sources.aot_module_name(kernel.SOURCES_DIGEST)  # the sources actually compiled
    with tempfile.TemporaryDirectory() as tmp:
        cc = CC(name)
        cc.output_dir = tmp
        cc.export("search", SIGNATURE)(kernel.search.py_func)
        cc.compile()
        (built,) = Path(tmp).glob(f"{name}.*")
        target = sources.HERE / built.name
        partial = target.with_name(target.name + ".part")
        shutil.copy2(built, partial)
        os.replace(partial, target)  # atomic: a concurrent import sees all or nothing
    for old in sources.HERE.glob("_kernel_aot_*"):
        if old != target:
            old.unlink(missing_ok=True)
    importlib.invalidate_caches()
    if _loaded_from(kernel.SOURCES_DIGEST) is None:
        raise ImportError(f"{target.name} was built but does not import")
    return target


def _loaded_from(digest: str) -> Path | None:
    """The file of the AOT module for ``digest`` if it imports, else None."""
    if backend.load_aot(digest) is None:
        return None
    return Path(sys.modules[f"{backend.__package__}.{sources.aot_module_name(digest)}"].__file__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        path = build(args.force)
    except Exception as exc:  # any failure only costs speed: the JIT kernel remains
        print(f"warning: could not build the ahead-of-time Fine kernel ({type(exc).__name__}: "
              f"{exc}); hwflow will use the Numba JIT kernel", file=sys.stderr)
        return 1
    print(f"Fine kernel: {path.relative_to(sources.HERE.parents[2])} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
