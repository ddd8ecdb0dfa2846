"""Eyes for the renders of an asset: the face model's eyeballs placed into its mesh, and their reflectance.

An asset in the face-model template's layout is skin only (the asset format has no eyes);
:func:`asset_eyes` rebuilds its eyeballs from the mesh
(:func:`~id2reflectance.capture.geometry.eye_placement.place_eyes`) and gives them an
iris colour drawn from the subject id (and its ITA, where ``asset.json`` records one:
:func:`~id2reflectance.capture.eye_appearance.subject_iris_darkness`).
:func:`~id2reflectance.processing.relight.render.render_view` ray-casts them together with
the skin (:func:`scene_mesh`), so the lids occlude them and they shadow the lids, and
shades them with the reflectance of :mod:`~id2reflectance.capture.eye_appearance`: sclera,
iris and pupil albedo under a wet specular layer (specular albedo 0.03, roughness 0.22),
the eyeball's smooth normal (no UV maps).

Nothing changes for an asset in the procedural template's layout (its lids are closed,
it has no eyeballs) or when the face model is not found: :func:`asset_eyes` returns None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from id2reflectance.capture.eye_appearance import subject_iris_darkness
from id2reflectance.capture.geometry.eye_placement import PlacedEyes, place_eyes
from id2reflectance.capture.geometry.face_model import default_face_model_dir, load_face_model
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.processing.asset import Asset

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EyeShading:
    """Eyeballs to render with an asset.

    eyes : their geometry in the asset mesh's frame (metres).
    iris_darkness : 0 blue-grey .. 1 dark brown.
    """

    eyes: PlacedEyes
    iris_darkness: float


def asset_eyes(asset: Asset, face_model: str | Path | None = None) -> EyeShading | None:
    """The eyes of ``asset`` (see the module's text), or None when it has none to give.

    Parameters
    ----------
    asset : a read asset.
    face_model : the face model's folder (None: ``$ID2R_FACE_MODEL`` or
        ``../shared/face-models/ict-facekit-light``; absent: None is returned).
    """
    if face_model is None and default_face_model_dir() is None:
        return None
    model = load_face_model(face_model)
    placed = place_eyes(asset.mesh, model)
    if placed is None:
        return None
    attrs = asset.manifest.get("subject", {}).get("attributes", {}) or {}
    ita = attrs.get("ita_deg")
    ita_deg = float(ita) if isinstance(ita, int | float) and np.isfinite(ita) else None
    darkness = subject_iris_darkness(asset.subject_id, ita_deg)
    log.debug("eyes of %s: scales %s, iris darkness %.2f", asset.subject_id, placed.scales, darkness)
    return EyeShading(placed, darkness)


def scene_mesh(mesh: FaceMesh, eyes: EyeShading | None) -> FaceMesh:
    """The mesh the renders ray-cast: ``mesh`` (the asset's skin) and, when given, the
    eyeballs after it (faces ``len(mesh.faces)`` and up are the eyes'); no UVs with eyes."""
    if eyes is None:
        return mesh
    ball = eyes.eyes.mesh
    return FaceMesh(
        np.concatenate([mesh.vertices, ball.vertices]),
        np.concatenate([mesh.faces, ball.faces + len(mesh.vertices)]),
    )
