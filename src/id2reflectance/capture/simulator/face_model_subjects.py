"""Subjects drawn from the face model: identity weights, an optional expression, eyes.

The simulator's head is either the procedural head
(:mod:`~id2reflectance.capture.geometry.template_mesh`) or a face-model head
(:mod:`~id2reflectance.capture.geometry.face_model_heads`), both in the template's topology.
:func:`resolve_face_model` decides which from the simulator's settings: ``"auto"`` takes the
face model when its folder is found and the procedural head otherwise, so a clone without
``../shared`` still runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from id2reflectance.capture.geometry.face_model import (
    FACE_MODEL_NAME,
    FaceModel,
    default_face_model_dir,
    load_face_model,
)
from id2reflectance.capture.geometry.face_model_heads import (
    REGION_WARP_M,
    TEMPLATE_TO_DLIB,
    Eyes,
    face_model_eyes,
    face_model_head,
    face_model_region_points,
    face_model_regions,
    template_offset,
)
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.regions import landmark_warp, regions_at
from id2reflectance.capture.simulator.appearance import Appearance, hair_thickness
from id2reflectance.errors import ConfigError

log = logging.getLogger(__name__)

HeadModel = Literal["auto", "face_model", "procedural"]

# Expressions a random subject may wear (pairs move together), with their largest weight.
EXPRESSION_POOL: tuple[tuple[tuple[str, ...], float], ...] = (
    (("mouthSmile_L", "mouthSmile_R"), 0.8),
    (("browInnerUp_L", "browInnerUp_R"), 0.7),
    (("browDown_L", "browDown_R"), 0.6),
    (("cheekSquint_L", "cheekSquint_R"), 0.5),
    (("mouthPress_L", "mouthPress_R"), 0.6),
    (("mouthFrown_L", "mouthFrown_R"), 0.6),
    (("mouthDimple_L", "mouthDimple_R"), 0.6),
    (("noseSneer_L", "noseSneer_R"), 0.4),
)


@dataclass(frozen=True)
class FaceModelHead:
    """One face-model head: identity weights (N(0, 1) each) and expression weights."""

    identity: tuple[float, ...]
    expression: tuple[tuple[str, float], ...] = ()

    @classmethod
    def random(cls, rng: np.random.Generator, *, modes: int, expression: float = 0.0) -> FaceModelHead:
        """Identity weights ``w_k ~ N(0, 1)`` for ``modes`` modes; with ``expression`` > 0
        one or two expressions of :data:`EXPRESSION_POOL` at up to ``expression`` times
        their largest weight."""
        w = tuple(float(x) for x in rng.standard_normal(modes))
        expr: list[tuple[str, float]] = []
        if expression > 0:
            picks = rng.choice(len(EXPRESSION_POOL), size=int(rng.integers(1, 3)), replace=False)
            for k in sorted(int(p) for p in picks):
                names, top = EXPRESSION_POOL[k]
                amount = float(rng.uniform(0.3, 1.0)) * top * min(expression, 1.0)
                expr.extend((name, round(amount, 4)) for name in names)
        return cls(w, tuple(expr))

    def to_json(self) -> dict:
        return {
            "model": FACE_MODEL_NAME,
            "identity": [round(x, 6) for x in self.identity],
            "expression": dict(self.expression),
        }


def resolve_face_model(head_model: HeadModel, face_model: str | None) -> FaceModel | None:
    """The face model the simulator uses, or None for the procedural head.

    Parameters
    ----------
    head_model : ``"procedural"`` (None), ``"face_model"`` (the model must load) or
        ``"auto"`` (the model if found, else None).
    face_model : the model's folder; None: :func:`default_face_model_dir`.
    """
    if head_model == "procedural":
        return None
    if head_model not in ("auto", "face_model"):
        raise ConfigError(f"head model must be 'auto', 'face_model' or 'procedural', got {head_model!r}")
    if face_model is None and head_model == "auto" and default_face_model_dir() is None:
        log.info("face model not found: simulating procedural heads")
        return None
    return load_face_model(Path(face_model) if face_model is not None else None)


@dataclass(frozen=True, eq=False)
class FaceModelGeometry:
    """A face-model head ready for its skin maps.

    mesh : the head in template topology, metres.
    eyes : its eyeballs.
    regions : {name: (S, S) float32} the named regions on the face model's anatomy.
    points : (S, S, 3) float64 metres, where the regions are drawn (template frame).
    """

    mesh: FaceMesh
    eyes: Eyes
    regions: dict[str, np.ndarray]
    points: np.ndarray


def face_model_geometry(
    model: FaceModel, head: FaceModelHead, *, uv_size: int, appearance: Appearance | None = None
) -> FaceModelGeometry:
    """The head in template topology (metres), its eyeballs, and the named regions on the
    face model's anatomy at ``uv_size`` texels with the points they are drawn at; with an
    ``appearance`` the scalp hair stands off the head (:func:`with_hair_volume`)."""
    expr = dict(head.expression)
    w = np.asarray(head.identity)
    mesh = face_model_head(model, w, expr)
    if appearance is not None:
        mesh = with_hair_volume(mesh, model, appearance)
    return FaceModelGeometry(
        mesh,
        face_model_eyes(model, w, expr),
        face_model_regions(model, uv_size),
        face_model_region_points(model, uv_size),
    )


@lru_cache(maxsize=4)
def _vertex_points(model: FaceModel) -> tuple[np.ndarray, np.ndarray]:
    head = face_model_head(model)
    offset = template_offset(model)
    marks = {k: model.neutral[model.landmarks68[i]] + offset for k, i in TEMPLATE_TO_DLIB.items()}
    points = landmark_warp(head.vertices, marks, width_m=REGION_WARP_M)
    ears = regions_at(points)["ears"].astype(np.float64)
    points.flags.writeable = False
    ears.flags.writeable = False
    return points, ears


def with_hair_volume(mesh: FaceMesh, model: FaceModel, look: Appearance) -> FaceMesh:
    """``mesh`` (a head of :func:`face_model_head`, metres) with its scalp hair standing
    off the scalp: every vertex moved along its normal by
    :func:`~id2reflectance.capture.simulator.appearance.hair_thickness`, evaluated where the
    regions are drawn (the vertex of the neutral head after the landmark warp, as
    :func:`face_model_region_points` places the texels), so the volume sits exactly under
    the painted hair. The light stage sees the hair's outer surface; the skin maps carry
    the hair there (its coverage in ``truth/uv/hair.exr``)."""
    points, ears = _vertex_points(model)
    lift = hair_thickness(points, look, ears)
    if not np.any(lift > 0):
        return mesh
    vertices = mesh.vertices + mesh.vertex_normals() * lift[:, None]
    return mesh.with_vertices(vertices)
