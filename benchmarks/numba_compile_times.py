"""pytest plugin: which test compiles which numba kernel, and for how long (CPU seconds).

Measures where a fresh checkout's test run spends its first compilation of the numba kernels
(``cache=True`` writes the machine code beside the sources; a clean clone has none). Only the
pytest process itself is seen: subprocesses (CLI tests, Dask worker processes) compile what
they need when the cache does not hold it yet, unmeasured here.

Usage, in a clean clone (no ``__pycache__/*.nbi`` under ``src/``)::

    PYTHONPATH=src:benchmarks python -m pytest -q -p numba_compile_times tests/...

At the end it prints one row per compiled function (top-level compilations; a kernel that
another kernel calls is compiled inside its caller's time): CPU seconds of the compiling
thread, wall seconds, specialisations, the first test that compiled it; and the total. With
``$NUMBA_COMPILE_TIMES_JSON`` set, the rows are also written there as JSON.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

_state = threading.local()
_lock = threading.Lock()
_rows: list[dict[str, Any]] = []
_test = ["<collection>"]


def _listener() -> Any:
    from numba.core import event

    class _Timer(event.Listener):
        """Times the outermost ``numba:compile`` event of each thread (cache hits fire none)."""

        def on_start(self, ev: event.Event) -> None:
            depth = getattr(_state, "depth", 0)
            if depth == 0:
                _state.wall, _state.cpu = time.perf_counter(), time.thread_time()
                dispatcher = (ev.data or {}).get("dispatcher")
                func = getattr(dispatcher, "py_func", None)
                _state.name = f"{func.__module__}.{func.__qualname__}" if func is not None else "?"
            _state.depth = depth + 1

        def on_end(self, ev: event.Event) -> None:
            _state.depth -= 1
            if _state.depth == 0:
                row = {
                    "kernel": _state.name,
                    "test": _test[0],
                    "cpu_s": time.thread_time() - _state.cpu,
                    "wall_s": time.perf_counter() - _state.wall,
                }
                with _lock:
                    _rows.append(row)

    return _Timer()


def pytest_configure(config: pytest.Config) -> None:
    from numba.core import event

    event.register("numba:compile", _listener())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201
    _test[0] = item.nodeid
    yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    by: dict[str, dict[str, Any]] = {}
    for r in _rows:
        k = by.setdefault(r["kernel"], {"cpu_s": 0.0, "wall_s": 0.0, "n": 0, "first": r["test"]})
        k["cpu_s"] += r["cpu_s"]
        k["wall_s"] += r["wall_s"]
        k["n"] += 1
    tr = terminalreporter
    tr.section("numba compilation in the pytest process (CPU s of the compiling thread)")
    tr.write_line(f"{'kernel':64s} {'CPU s':>7s} {'wall s':>7s} {'n':>3s}  first test")
    for name, k in sorted(by.items(), key=lambda kv: -kv[1]["cpu_s"]):
        tr.write_line(f"{name[-64:]:64s} {k['cpu_s']:7.1f} {k['wall_s']:7.1f} {k['n']:3d}  {k['first']}")
    total_cpu = sum(r["cpu_s"] for r in _rows)
    total_wall = sum(r["wall_s"] for r in _rows)
    tr.write_line(f"{'total':64s} {total_cpu:7.1f} {total_wall:7.1f} {len(_rows):3d}")
    out = os.environ.get("NUMBA_COMPILE_TIMES_JSON")
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(_rows, fh, indent=1)
