"""Simulated sessions shared by the tests of one pytest run.

Simulating a subject costs seconds to tens of seconds; several modules need the very same
captures. :func:`shared_sessions` simulates each ``(subjects, config)`` once per run into a
``tmp_path_factory`` folder (:func:`shared_subject`: one ``simulate_subject`` session) and hands every later caller that folder: it is read-only by
convention. A test that edits, adds or deletes files takes :func:`copied_sessions`, its
own copy (a copy of the EXR files costs a fraction of a second).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_CACHE: dict[str, Path] = {}
_SUBJECTS: dict[str, Path] = {}


def shared_sessions(factory: pytest.TempPathFactory, *, subjects: int, config: object) -> Path:
    """The folder holding ``S0000`` .. of ``simulate_sessions(subjects=subjects, config=config)``,
    simulated on the first call of the run with these arguments. Never write into it."""
    from id2reflectance.capture.simulator.sessions import simulate_sessions

    key = f"{subjects}:{config!r}"
    if key not in _CACHE:
        root = factory.mktemp("shared_sessions")
        simulate_sessions(root, subjects=subjects, config=config)  # type: ignore[arg-type]
        _CACHE[key] = root
    return _CACHE[key]


def copied_sessions(factory: pytest.TempPathFactory, *, subjects: int, config: object) -> Path:
    """A private copy of :func:`shared_sessions` (for tests that change the sessions)."""
    src = shared_sessions(factory, subjects=subjects, config=config)
    dst = factory.mktemp("sessions")
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


def shared_subject(factory: pytest.TempPathFactory, *, subject_index: int, config: object) -> Path:
    """The session folder of ``simulate_subject(subject_index=subject_index, config=config)``,
    simulated on the first call of the run with these arguments. Never write into it."""
    from id2reflectance.capture.simulator.sessions import simulate_subject

    key = f"{subject_index}:{config!r}"
    if key not in _SUBJECTS:
        _SUBJECTS[key] = simulate_subject(
            factory.mktemp("shared_subject") / "clean",
            subject_index=subject_index,
            config=config,  # type: ignore[arg-type]
        )
    return _SUBJECTS[key]
