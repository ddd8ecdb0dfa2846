"""Noisy, ambient-lit variants of one simulated session, made with the simulator's own models.

Simulating a head takes ~15 s on the shared machine, so the tests simulate one clean
session and derive the others from its stored frames with
:func:`~id2reflectance.capture.simulator.sessions.sensor` (the simulator's noise model)
and :func:`~id2reflectance.capture.simulator.sessions.room_light` (its ambient light and
backdrop): the same frames ``simulate_subject`` writes with those options.

Several modules solve the very same small heads: :func:`shared_clean` and :func:`shared_noisy`
make each once per run (``tests/simulated.py``); those folders are read-only by convention.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr, read_mask, write_exr
from id2reflectance.capture.simulator.sessions import SimulatorConfig, room_light, sensor
from tests.simulated import shared_subject

ISSUE_NOISE = {"noise": 5e-5, "read_noise": 0.002}  # issue 20: read 0.002, shot variance 5e-5 x value

_DERIVED: dict[str, Path] = {}


def shared_clean(factory: pytest.TempPathFactory, seed: int) -> Path:
    """The noise-free 128 px, one-camera, painted head of subject 0 with simulator ``seed``
    (UV 128), simulated once per run. Never write into it."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig

    cfg = SimulatorConfig(image_size=128, uv_size=128, cameras=1, seed=seed, appearance_source="procedural")
    return shared_subject(factory, subject_index=0, config=cfg)


def shared_noisy(factory: pytest.TempPathFactory, seed: int, **options: float) -> Path:
    """:func:`derive_session` of :func:`shared_clean` (``seed``) with ``options``, made once per
    run. Never write into it."""
    key = f"{seed}:{sorted(options.items())!r}"
    if key not in _DERIVED:
        _DERIVED[key] = derive_session(shared_clean(factory, seed), factory.mktemp("shared_noisy") / "noisy", **options)
    return _DERIVED[key]


def derive_session(clean: Path, out: Path, *, masks: bool = False, seed: int = 7, **options: float) -> Path:
    """Copy ``clean`` to ``out`` with the simulator's noise/ambient ``options`` applied to its frames.

    ``masks=False`` drops ``masks/`` (the solver must find the head itself).
    """
    config = SimulatorConfig(**options)
    shutil.copytree(clean, out)
    if not masks:
        shutil.rmtree(out / "masks")
    manifest = json.loads((clean / "session.json").read_text())
    rng = np.random.default_rng(seed)
    by_cam: dict[str, dict[tuple[str, str], str]] = {}
    for f in manifest["frames"]:
        by_cam.setdefault(f["camera"], {})[(f["pattern"], f["polarization"])] = f["file"]
    for cam, files in by_cam.items():
        hit = read_mask(clean / "masks" / f"{cam}.png")
        full_c = read_exr(clean / files[("full", "cross")])[0]
        full_p = read_exr(clean / files[("full", "parallel")])[0]
        room = room_light(full_c, full_p, hit, config)
        for rel in files.values():
            img = read_exr(clean / rel)[0]
            write_exr(out / rel, sensor(img + room, config, rng))
    return out
