"""The simulator's truth in the chosen template's topology and UV layout.

The simulator draws and renders every head in the procedural template's topology and
UVs (:mod:`~id2reflectance.capture.simulator.skin`). With the face-model template
(``SimulatorConfig.template``) the truth that a bake is scored against is expressed in
that template instead: ``truth/mesh.obj`` is the subject's face-model head in the
template's topology (its own vertices: exact), and each ``truth/uv`` map is the
rendered map resampled through the surface correspondence
(:mod:`~id2reflectance.capture.geometry.layout_transfer`: closest point, bilinear), with
``truth/uv/valid.exr`` marking the texels that have a counterpart (within 0.5 mm) on the
rendered head -- not the neck below the jaw, where the simulator's heads continue as the
procedural template's neck, nor undercuts the rendered head does not follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from id2reflectance.capture.geometry.face_model import FaceModel
from id2reflectance.capture.geometry.layout_transfer import layout_correspondence, transfer_map
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.templates import Template, face_model_template_mesh
from id2reflectance.capture.simulator.face_model_subjects import FaceModelHead
from id2reflectance.capture.simulator.skin import SubjectMaps
from id2reflectance.errors import ConfigError

TRUTH_NAMES = ("diffuse_albedo", "specular_albedo", "roughness", "normal_object")


@dataclass(frozen=True, eq=False)
class LayoutTruth:
    """The truth of one subject in a template's layout.

    mesh : the subject's head in the template's topology (metres, template frame).
    maps : {diffuse_albedo (S, S, 3), specular_albedo (S, S), roughness (S, S),
        normal_object (S, S, 3) unit, valid (S, S) 0/1} float32, linear Rec.709 albedo.
    """

    mesh: FaceMesh
    maps: dict[str, np.ndarray]


def truth_in_template(
    template: Template,
    model: FaceModel | None,
    head: FaceModelHead | None,
    mesh: FaceMesh,
    maps: SubjectMaps | dict[str, np.ndarray],
) -> LayoutTruth:
    """The truth of a subject rendered as ``mesh`` with ``maps`` (procedural topology and
    layout; :class:`SubjectMaps` or the four ``truth/uv`` maps by name) expressed in
    ``template`` (the face-model template; the subject must be a face-model head ``head``
    of ``model``), at the maps' size."""
    if template.kind != "face_model":
        raise ConfigError(f"truth_in_template: expected the face-model template, got {template.name}")
    if model is None or head is None:
        raise ConfigError("the face-model template needs face-model heads (head_model 'auto' or 'face_model')")
    src = {k: getattr(maps, k) for k in TRUTH_NAMES} if isinstance(maps, SubjectMaps) else maps
    target = face_model_template_mesh(model, np.asarray(head.identity), dict(head.expression))
    corr = layout_correspondence(mesh, target, int(src["diffuse_albedo"].shape[0]))
    out = {k: transfer_map(src[k], corr, unit_vectors=k == "normal_object") for k in TRUTH_NAMES}
    if isinstance(maps, SubjectMaps) and maps.hair is not None:
        out["hair"] = transfer_map(maps.hair, corr)  # the appearance's hair coverage (truth/uv/hair.exr)
    out["valid"] = corr.valid.astype(np.float32)
    return LayoutTruth(target, out)


def face_model_head_of(params: dict) -> FaceModelHead | None:
    """The face-model head recorded in ``truth/uv/params.json`` (``head``), or None for a
    procedural head."""
    head = params.get("head", {})
    if not isinstance(head, dict) or "identity" not in head:
        return None
    return FaceModelHead(tuple(float(x) for x in head["identity"]), tuple(head.get("expression", {}).items()))
