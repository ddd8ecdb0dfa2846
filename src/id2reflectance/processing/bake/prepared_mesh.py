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

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from scipy.ndimage import distance_transform_edt

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, raycasting_scene
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
    surface_offset : (S, S, 3) float64 metres, from each texel's point on the mesh to the
        point the cameras are asked about (:func:`scan_surface_points`: the scan's nearest
        crossing of the texel's radial line, or of its normal), 0 where the texel
        keeps its own point; None without a scan or with ``surface = "template"``.
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
    surface_offset: np.ndarray | None = None
    _visibility: dict = field(default_factory=dict, repr=False)

    @cached_property
    def view_geometry(self) -> TexelGeometry:
        """The texel geometry the cameras are asked about: ``geometry`` with each point
        moved by ``surface_offset`` onto the scan's surface ("cage" baking),
        ``geometry`` itself without offsets."""
        if self.surface_offset is None or not self.surface_offset.any():
            return self.geometry
        g = self.geometry
        return replace(g, points=g.points + self.surface_offset)

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
            options.occluder_last_resort_m,
        )
        if key not in self._visibility:
            self._visibility[key] = view_visibility(
                self.view_geometry, camera, self.scene, options, self.occluder, self.offset_length
            )
        return self._visibility[key]

    @cached_property
    def offset_length(self) -> np.ndarray | None:
        """(S*S,) float64 metres, the length of each texel's ``surface_offset`` (what
        :func:`~.views.view_visibility` takes as ``offset``); None without offsets."""
        return None if self.surface_offset is None else np.linalg.norm(self.surface_offset, axis=-1).reshape(-1)

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


_BACKOFF_M = 1e-5


def scan_surface_points(
    geometry: TexelGeometry,
    scan: FaceMesh,
    scene: Any,
    max_distance_m: float,
    origin: np.ndarray | None = None,
    outward_m: float = 0.0,
    template_scene: Any = None,
) -> np.ndarray:
    """Per texel, where the scan crosses the line through its point along its normal (or,
    with ``origin`` (3,), along the ray from ``origin`` through it: the radial
    correspondence of a template built from rays): the crossing nearest the point within
    ``max_distance_m`` on either side whose scan face faces the same way as the texel
    normal (not the back of a thin fold).

    A standard "cage" bake of a low-polygon carrier from a high-polygon surface: the
    registered template's triangles cut ridges finer than them (the upper lid margin) as
    chords up to 1.4 mm behind the scan; the camera sees the scan, so a texel is projected
    from the scan point it stands for. ``scene``: the scan's ``RaycastingScene``.

    ``outward_m`` (> ``max_distance_m`` to act): a texel with no crossing within
    ``max_distance_m`` takes the line's first crossing outward (along the normal, or away
    from ``origin``) within ``outward_m``: the skin a camera sees in front of a chord that
    lies deeper behind the scan (the upper lid margin's, 0.75-1.1 mm). Only outward: the
    crossing behind such a chord is the underside of the fold (the eye's side of the lid).
    Meant with ``template_scene``: most of those texels lie under the row above on their
    line, and the crossing in front of them is that row's.

    ``template_scene`` (the template's own ``RaycastingScene``): a texel whose line crosses
    the template itself between its point and the scan's crossing keeps its point. There
    the template folds over along the line (the lid margin's row under the row above it,
    0.6-0.9 mm further out on the same ray): the scan's crossing is where the camera sees
    that outer layer, whose texel it belongs to, not this one.

    Returns (S, S, 3) float64 offsets from the texel points, metres (0 where no crossing
    qualifies or outside the chart).
    """
    s = geometry.size
    idx = np.flatnonzero(geometry.covered.ravel())
    p = geometry.points.reshape(-1, 3)[idx]
    n = geometry.normals.reshape(-1, 3)[idx]
    a = n  # the line's direction
    if origin is not None:
        a = p - np.asarray(origin, np.float64)
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)
    v, f = np.asarray(scan.vertices, np.float64), np.asarray(scan.faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-30)
    best = np.full(len(idx), np.inf)
    off = np.zeros(len(idx))
    for sign in (1.0, -1.0):
        # from 10 um behind the point, so a scan through the point itself is found either way
        t, fid, _ = cast_rays(scene, p - sign * _BACKOFF_M * a, sign * a)
        t = np.maximum(np.asarray(t, np.float64) - _BACKOFF_M, 0.0)
        facing = fid >= 0  # a scan face facing the texel's way
        facing[facing] &= np.sum(fn[fid[facing]] * n[facing], axis=1) > 0.0
        take = facing & (t <= max_distance_m) & (t < best)
        best[take] = t[take]
        off[take] = sign * t[take]
        if sign > 0:
            t_out, ok_out = t, facing & (t <= outward_m)
    if outward_m > max_distance_m:
        far = ~np.isfinite(best) & ok_out
        off[far] = t_out[far]
    if template_scene is not None:
        moved = np.flatnonzero(off != 0.0)
        sgn = np.sign(off[moved])[:, None]
        t, fid, _ = cast_rays(template_scene, p[moved] + sgn * _BACKOFF_M * a[moved], sgn * a[moved])
        folded = (np.asarray(fid) >= 0) & (np.asarray(t, np.float64) + _BACKOFF_M < np.abs(off[moved]))
        off[moved[folded]] = 0.0
    out = np.zeros((s * s, 3))
    out[idx] = off[:, None] * a
    return out.reshape(s, s, 3)


def prepare_mesh(
    mesh: FaceMesh,
    size: int,
    *,
    keep_visibility: bool = False,
    occluder: FaceMesh | None = None,
    surface: str = "template",
    surface_distance_m: float = 0.00075,
    surface_origin: np.ndarray | None = None,
    surface_outward_m: float = 0.0,
    surface_folds: bool = False,
) -> PreparedMesh:
    """The baking geometry of ``mesh`` (with UVs) at ``size`` texels (``keep_visibility``:
    see :class:`PreparedMesh`; ``occluder``: the scan, metres, in the mesh's frame, whose
    surface also hides texels from the cameras; ``surface = "scan"`` with an ``occluder``:
    the cameras are asked about the scan's point of each texel within
    ``surface_distance_m`` along its normal, or along the ray from ``surface_origin``,
    or outward within ``surface_outward_m`` where none is that near; ``surface_folds``:
    not where the line crosses the mesh itself first, :func:`scan_surface_points`)."""
    if mesh.uvs is None:
        raise ShapeError("prepare_mesh: the mesh has no UVs")
    geometry = texel_geometry(mesh, size)
    occ = None if occluder is None else raycasting_scene(occluder)
    offset = None
    scene = raycasting_scene(mesh)
    if occluder is not None and surface == "scan":
        offset = scan_surface_points(
            geometry,
            occluder,
            occ,
            surface_distance_m,
            surface_origin,
            outward_m=surface_outward_m,
            template_scene=scene if surface_folds else None,
        )
    return PreparedMesh(
        mesh=mesh,
        size=size,
        geometry=geometry,
        scene=scene,
        keep_visibility=keep_visibility,
        occluder=occ,
        surface_offset=offset,
    )
