"""Python's cyclic garbage collector around work that builds many long-lived objects.

Importing numba and loading a compiled kernel create about 100 000 objects that live as
long as the process. The collector, triggered by their allocation, walks them again and
again (about 280 times, two of them full passes, while ``id2r solve`` decodes its first
frames, holding the GIL the decoders need between calls), and the interpreter's shutdown
walks them once more (about 0.25 CPU s). Frozen (``gc.freeze``), they are never walked;
they are still freed by reference counting, only cycles among them outlive the freeze.

An extension built with nanobind (OpenImageIO, which ``colour`` imports) reports its
objects still alive at shutdown as leaks, on stderr: with one loaded nothing is frozen.

Freezing is a decision about the whole process, so only a process that owns its lifetime
makes it: the ``id2r`` console script calls :func:`allow_freeze` first. A library user's
process (a notebook, a Dask worker, a test run that later imports a nanobind extension)
is never frozen; there the collector is only paused.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_FREEZE_ALLOWED = False


def allow_freeze(allowed: bool = True) -> None:
    """Let :func:`freeze` freeze this process (the ``id2r`` entry point; off by default)."""
    global _FREEZE_ALLOWED
    _FREEZE_ALLOWED = allowed


def nanobind_loaded() -> bool:
    """Whether a loaded extension module defines classes with nanobind."""
    for module in list(sys.modules.values()):
        if not str(getattr(module, "__file__", None) or "").endswith((".so", ".pyd")):
            continue
        if any(isinstance(v, type) and type(v).__module__ == "nanobind" for v in list(vars(module).values())):
            return True
    return False


def freeze() -> bool:
    """Freeze what is alive now (``gc.freeze``) if :func:`allow_freeze` was called and no
    nanobind extension is loaded; returns whether it froze."""
    if not _FREEZE_ALLOWED or nanobind_loaded():
        return False
    gc.freeze()
    return True


@contextmanager
def collector_paused(*, freeze_after: bool) -> Iterator[None]:
    """Within: the collector paused (restored after); ``freeze_after``: then :func:`freeze`."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze_after:
            freeze()
        if enabled:
            gc.enable()
