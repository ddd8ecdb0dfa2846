"""A small simulated capture for the bake tests, built once per test session.

Subject 2 of seed 0 (the simulator's procedural head, forced even where the face model is
present; biophysical skin and ground truth),
three cameras (front, +-40 degrees) of 192 x 192 pixels, UV truth at 256 x 256, no
inverse patterns, reduced quadratures; solved with the default solver. About 20 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from id2reflectance.processing.bake.baker import BakeConfig
from id2reflectance.processing.registration.register import RegistrationConfig

_CACHE: dict[str, tuple[Path, Path]] = {}

SIM_KW = {
    "image_size": 192,
    "uv_size": 256,
    "cameras": 3,
    "visibility_directions": 256,
    "specular_samples": (8, 8),
    "diffuse_samples": (4, 8),
    "inverses": False,
    # the procedural head: its truth mesh is the template deformed along the template's own
    # rays and per-axis scale, which the registration recovers to tenths of a millimetre, so
    # these tests measure the bake itself (face-model heads: docs/face-model.md, results.md)
    "head_model": "procedural",
}

# a lighter registration for the tests (fewer ICP starts and residual samples)
FAST_REGISTRATION = RegistrationConfig(
    icp_samples=3000, icp_yaw_deg=(-15.0, 0.0, 15.0), icp_pitch_deg=(0.0,), residual_samples=20_000
)
SMALL_BAKE = BakeConfig(size=256, registration=FAST_REGISTRATION, previews=False)


def simulated_case(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(session folder, solver output folder) of the small simulated capture (cached)."""
    if "case" not in _CACHE:
        from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
        from id2reflectance.processing.solve.solver import solve_session

        root = factory.mktemp("bake_case")
        session = simulate_subject(root, subject_index=2, config=SimulatorConfig(**SIM_KW))
        solved = root / "solved"
        solve_session(session, solved)
        _CACHE["case"] = (session, solved)
    return _CACHE["case"]
