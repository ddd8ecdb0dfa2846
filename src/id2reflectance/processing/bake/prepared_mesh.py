"""What baking needs from the mesh alone, computed once per mesh and map size.

:func:`~id2reflectance.processing.bake.baker.bake_maps` samples views into the UV layout of a
mesh; the texel geometry (each texel's triangle, point and normal), the ray-casting scene
for visibility, the mesh normals carried into the gutters and the per-texel tangent frames
depend only on the mesh and the map size, and which texels a camera sees only on the mesh
and that camera. A capture bakes its mesh once, so this changes nothing there; monocular
inference stitches every prediction onto one of a few template meshes through the same
three cameras, and :class:`PreparedMesh` lets it keep all of that between photos
(:class:`~id2reflectance.inference.predictor.Inferencer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene
from id2reflectance.errors import ShapeError
from id2reflectance.processing.bake.views import (
    TexelGeometry,
    ViewVisibility,
    ViewWeights,
    texel_geometry,
    view_visibility,
)
from id2reflectance.processing.tangents import texel_frames


@dataclass(frozen=True, eq=False)
class PreparedMesh:
    """A mesh's baking geometry at one map size S.

    Attributes
    ----------
    mesh : the mesh (template topology with UVs, metres); it must not change afterwards.
    size : S, texels.
    geometry : per texel triangle, barycentrics, point and unit normal (:func:`texel_geometry`).
    scene : Open3D ``RaycastingScene`` of the mesh (visibility).
    occluder : Open3D ``RaycastingScene`` of the scan the mesh was registered to, or None:
        what hides a texel from a camera besides the mesh itself (the ears, which the
        template's radial chart does not hold; :func:`~.views.view_visibility`).
    normals_filled : (S, S, 3) float64 the texel normals, gutter texels taking those of the
        nearest chart texel (where unseen normals are filled from).
    frames : per-texel tangent frames (:func:`~.tangents.texel_frames`).
    keep_visibility : keep each camera's :func:`~.bake_views.view_visibility` for the next
        bake through the same camera (the views of a template are always the same
        cameras); off for a capture bake, whose cameras are baked once (at 4096 texels a
        camera's visibility takes hundreds of MB).

    ``normals_filled`` and ``frames`` are computed on first use (the fill and the last step
    of a bake), so a large capture bake does not hold them while it samples its views.
    """

    mesh: FaceMesh
    size: int
    geometry: TexelGeometry
    scene: Any
    keep_visibility: bool = False
    occluder: Any = None
    _visibility: dict = field(default_factory=dict, repr=False)

    def visibility(self, camera: Camera, options: ViewWeights) -> ViewVisibility | None:
        """The kept visibility of ``camera`` under ``options`` (computed and kept on first
        use), or None when visibility is not kept (the bake then computes it)."""
        if not self.keep_visibility:
            return None
        key = (
            camera.name,
            camera.width,
            camera.height,
            *(np.asarray(a, np.float64).tobytes() for a in (camera.K, camera.dist, camera.R, camera.t)),
            min(options.cos_min, options.cos_fallback),
            options.visibility_tolerance_m,
            options.occluder_tolerance_m,
        )
        if key not in self._visibility:
            self._visibility[key] = view_visibility(self.geometry, camera, self.scene, options, self.occluder)
        return self._visibility[key]

    @cached_property
    def normals_filled(self) -> np.ndarray:
        geom = self.geometry
        if geom.covered.all():
            return geom.normals
        _, (ii, jj) = distance_transform_edt(~geom.covered, return_indices=True)
        return geom.normals[ii, jj]

    @cached_property
    def frames(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return texel_frames(self.mesh, self.size)

    def check(self, mesh: FaceMesh, size: int) -> None:
        """Raise ShapeError unless this was prepared for ``mesh`` (the same object) at ``size``."""
        if mesh is not self.mesh or size != self.size:
            raise ShapeError(
                f"prepared mesh geometry is for another mesh or size ({self.size} texels), asked for {size} texels"
            )


def prepare_mesh(
    mesh: FaceMesh, size: int, *, keep_visibility: bool = False, occluder: FaceMesh | None = None
) -> PreparedMesh:
    """The baking geometry of ``mesh`` (with UVs) at ``size`` texels (``keep_visibility``:
    see :class:`PreparedMesh`; ``occluder``: the scan, metres, in the mesh's frame, whose
    surface also hides texels from the cameras)."""
    if mesh.uvs is None:
        raise ShapeError("prepare_mesh: the mesh has no UVs")
    return PreparedMesh(
        mesh=mesh,
        size=size,
        geometry=texel_geometry(mesh, size),
        scene=raycasting_scene(mesh),
        keep_visibility=keep_visibility,
        occluder=None if occluder is None else raycasting_scene(occluder),
    )
