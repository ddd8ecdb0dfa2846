"""Python's cyclic garbage collector around work that builds many long-lived objects.

Importing numba and loading a compiled kernel create about 100 000 objects that live as
long as the process. The collector, triggered by their allocation, walks them again and
again (about 280 times, two of them full passes, while ``id2r solve`` decodes its first
frames, holding the GIL the decoders need between calls), and the interpreter's shutdown
walks them once more (about 0.25 CPU s). Frozen (``gc.freeze``), they are never walked;
they are still freed by reference counting, only cycles among them outlive the freeze.

An extension built with nanobind (OpenImageIO, which ``colour`` imports) reports its
objects still alive at shutdown as leaks, on stderr: with one loaded nothing is frozen.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def nanobind_loaded() -> bool:
    """Whether a loaded extension module defines classes with nanobind."""
    for module in list(sys.modules.values()):
        if not str(getattr(module, "__file__", None) or "").endswith((".so", ".pyd")):
            continue
        if any(isinstance(v, type) and type(v).__module__ == "nanobind" for v in list(vars(module).values())):
            return True
    return False


def freeze() -> bool:
    """Freeze what is alive now (``gc.freeze``) unless a nanobind extension is loaded;
    returns whether it froze."""
    if nanobind_loaded():
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
