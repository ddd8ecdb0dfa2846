"""Small simulated captures for the bake tests, built once per test session.

Subject 2 of seed 0 (biophysical skin and ground truth), three cameras (front, +-40
degrees) of 192 x 192 pixels, UV truth at 256 x 256, no inverse patterns, reduced
quadratures; solved with the default solver. Both cases are rendered, and baked
(``SMALL_BAKE``), in the procedural template's layout, which these tests measure the bake
on: :func:`simulated_case`: the simulator's procedural head (forced even where the face
model is present; about 20 s); :func:`face_model_case`: the same subject as a face-model
head (needs the face model data; about 10 s). :func:`default_case`: the same subject with
the simulator's defaults (a face-model head in the face model's layout where the face
model is found, else the procedural head), for the bake's defaults.
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
    "template": "procedural",
}

# a lighter registration for the tests (fewer ICP starts and residual samples)
FAST_REGISTRATION = RegistrationConfig(
    icp_samples=3000, icp_yaw_deg=(-15.0, 0.0, 15.0), icp_pitch_deg=(0.0,), residual_samples=20_000
)
SMALL_BAKE = BakeConfig(size=256, template="procedural", registration=FAST_REGISTRATION, previews=False)


def _case(factory: pytest.TempPathFactory, head_model: str, template: str = "procedural") -> tuple[Path, Path]:
    key = f"{head_model}_{template}"
    if key not in _CACHE:
        from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
        from id2reflectance.processing.solve.solver import solve_session

        root = factory.mktemp(f"bake_case_{key}")
        session = simulate_subject(
            root, subject_index=2, config=SimulatorConfig(**{**SIM_KW, "head_model": head_model, "template": template})
        )
        solved = root / "solved"
        solve_session(session, solved)
        _CACHE[key] = (session, solved)
    return _CACHE[key]


def simulated_case(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(session folder, solver output folder) of the small procedural-head capture (cached)."""
    return _case(factory, "procedural")


def face_model_case(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(session folder, solver output folder) of the small face-model-head capture (cached)."""
    return _case(factory, "face_model")


def default_case(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(session folder, solver output folder) of the small capture with the simulator's
    default head and layout (``auto``: the face model's where it is found; cached)."""
    return _case(factory, "auto", "auto")
