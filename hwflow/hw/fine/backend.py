"""Which compiled Fine kernel runs: the ahead-of-time module ``build_aot`` made from the
current sources when there is one, else the Numba JIT kernel (``kernel.search``, cached
on disk).

Both are the same Python function compiled by Numba. The AOT module needs neither Numba
nor its start-up (about 1 s per process here), which is what keeps ``hwflow evaluate``
under a second. Its name carries a digest of the kernel's sources, so a module built
before an edit is never loaded: the JIT takes over until ``build_aot`` runs again.
"""

from __future__ import annotations

import functools
import importlib
import logging
from typing import Callable

import numpy as np

from hwflow.hw.fine.sources import aot_module_name, sources_digest

SearchFn = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]

log = logging.getLogger(__name__)


def load_aot(digest: str) -> SearchFn | None:
    """``search`` of the AOT module built from sources with this digest, or None."""
    try:
        module = importlib.import_module(f"{__package__}.{aot_module_name(digest)}")
    except ImportError as exc:
        log.debug("Fine kernel: no AOT module for these sources (%s)", exc)
        return None
    return module.search


def select(digest: str) -> tuple[str, SearchFn]:
    """("aot", its search) when a module matches ``digest``, else ("jit", kernel.search)."""
    search = load_aot(digest)
    if search is not None:
        return "aot", search
    log.debug("Fine kernel: using the Numba JIT (python -m hwflow.hw.fine.build_aot "
              "builds the AOT module)")
    from hwflow.hw.fine import kernel  # imports Numba: only when no AOT module fits

    return "jit", kernel.search


@functools.cache
def current() -> tuple[str, SearchFn]:
    """The kernel this process uses, chosen once."""
    return select(sources_digest())
