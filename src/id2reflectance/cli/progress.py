"""Progress rendering for long library loops (the library only calls a callback)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from id2reflectance._shared.progress import ProgressFn

# stages that describe the whole run; they keep their own line above the current step
OUTER_STAGES = frozenset({"subjects", "pipeline", "cameras", "done"})


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``progress(stage, done, total)`` callback drawing tqdm bars on stderr.

    Outer stages (subjects, cameras, ...) keep one line each; every other stage reuses a
    single line below them, so nested loops never stack up bars.
    """
    outer: dict[str, tqdm] = {}
    inner: list[tqdm] = []

    def update(stage: str, done: int, total: int) -> None:
        if not enabled:
            return
        if stage in OUTER_STAGES:
            bar = outer.get(stage)
            if bar is None:
                bar = outer[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False, dynamic_ncols=True)
        else:
            if not inner:
                inner.append(tqdm(total=total, desc=stage, file=sys.stderr, leave=False, dynamic_ncols=True))
            bar = inner[0]
            if bar.desc != stage:
                bar.set_description_str(stage, refresh=False)
                bar.reset(total=total)
        bar.total = total
        bar.n = min(done, total) if total else done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in [*inner, *outer.values()]:
            bar.close()
