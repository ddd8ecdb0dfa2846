from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from id2reflectance._shared import collector


def test_collector_paused_restores_the_collector_and_freezes_on_request(monkeypatch) -> None:
    monkeypatch.setattr(collector, "nanobind_loaded", lambda: False)
    monkeypatch.setattr(collector, "_FREEZE_ALLOWED", True)
    before = gc.get_freeze_count()
    try:
        with collector.collector_paused(freeze_after=False):
            assert not gc.isenabled()
            alive = [[i] for i in range(100)]
        assert gc.isenabled() and gc.get_freeze_count() == before
        with collector.collector_paused(freeze_after=True):
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() >= before + len(alive)
        gc.disable()
        try:
            with collector.collector_paused(freeze_after=False):
                pass
            assert not gc.isenabled()  # left as it was
        finally:
            gc.enable()
    finally:
        gc.unfreeze()  # this process's later tests (and its exit) see the heap as before


@pytest.mark.parametrize(
    ("allowed", "nanobind"),
    [(False, False), (True, True)],
    ids=["library use (no allow_freeze)", "a nanobind extension loaded"],
)
def test_nothing_is_frozen_unless_allowed_and_safe(monkeypatch, allowed: bool, nanobind: bool) -> None:
    """A library user's process (no allow_freeze from the entry point) is never frozen, nor
    one with a nanobind extension loaded."""
    monkeypatch.setattr(collector, "nanobind_loaded", lambda: nanobind)
    monkeypatch.setattr(collector, "_FREEZE_ALLOWED", allowed)
    before = gc.get_freeze_count()
    assert collector.freeze() is False
    with collector.collector_paused(freeze_after=True):
        _ = [[i] for i in range(10)]
    assert gc.get_freeze_count() == before and gc.isenabled()


@pytest.mark.slow
def test_nanobind_extension_found_and_no_leak_report_at_exit() -> None:
    """OpenImageIO (nanobind) is found; a process that loaded it and asked to freeze exits
    without nanobind's leak report (a fresh process: the test process's state stays)."""
    pytest.importorskip("OpenImageIO")
    code = (
        "import OpenImageIO\n"
        "from id2reflectance._shared import collector\n"
        "collector.allow_freeze()\n"
        "assert collector.nanobind_loaded()\n"
        "assert collector.freeze() is False\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "leaked" not in res.stderr
    plain = subprocess.run(
        [sys.executable, "-c", "from id2reflectance._shared import collector; assert not collector.nanobind_loaded()"],
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 0, plain.stderr
