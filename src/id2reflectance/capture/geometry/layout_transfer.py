"""Moving UV maps between two layouts of the same surface.

A texel of the target layout is a point on the target mesh; its closest point on the
source mesh (the same head in another topology) gives a UV of the source layout, where
the source map is sampled bilinearly. Used to express the simulator's truth maps, drawn in
the procedural template's layout, in the face-model template's
(:mod:`~id2reflectance.capture.geometry.templates`).

Where the two meshes are not the same surface (farther apart than ``max_distance_m``:
undercuts that the source does not follow, parts only one of them has) the target texel
is marked invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene
from id2reflectance.capture.geometry.regions import mesh_uv_raster
from id2reflectance.errors import ShapeError

MAX_DISTANCE_M = 0.0005  # metres: farther, a target texel has no counterpart on the source


@dataclass(frozen=True, eq=False)
class LayoutCorrespondence:
    """Where each texel of a target layout lies in a source layout.

    source_uv : (S, S, 2) float64 source UV (OBJ convention) of every target texel
        (uncovered texels take their nearest covered texel's, as in the UV raster).
    valid : (S, S) bool, the texel is covered and its source point is within the distance.
    distance_m : (S, S) float64 metres from the target texel's point to the source surface.
    """

    source_uv: np.ndarray
    valid: np.ndarray
    distance_m: np.ndarray

    @property
    def size(self) -> int:
        """S, the target's texture size."""
        return int(self.valid.shape[0])


def layout_correspondence(
    source: FaceMesh, target: FaceMesh, size: int, *, max_distance_m: float = MAX_DISTANCE_M
) -> LayoutCorrespondence:
    """The correspondence of target texels (``size`` x ``size``) to the source layout.

    Parameters
    ----------
    source, target : the same head (metres, one frame) in two topologies, both with UVs.
    size : the target texture size S.
    max_distance_m : target points farther from the source surface are invalid.
    """
    import open3d as o3d

    if source.uvs is None or target.uvs is None:
        raise ShapeError("layout_correspondence: both meshes need UVs")
    raster = mesh_uv_raster(target, size)
    pos = raster.position.reshape(-1, 3)
    scene = raycasting_scene(source)
    ans = scene.compute_closest_points(o3d.core.Tensor(pos.astype(np.float32)))
    fid = ans["primitive_ids"].numpy().astype(np.int64)
    uv = ans["primitive_uvs"].numpy().astype(np.float64)
    bary = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
    src_uv = np.einsum("nk,nkc->nc", bary, source.uvs[source.faces[fid]])
    dist = np.linalg.norm(ans["points"].numpy().astype(np.float64) - pos, axis=1).reshape(size, size)
    valid = raster.covered & (dist <= max_distance_m)
    return LayoutCorrespondence(src_uv.reshape(size, size, 2), valid, dist)


def transfer_map(image: np.ndarray, corr: LayoutCorrespondence, *, unit_vectors: bool = False) -> np.ndarray:
    """A source-layout map (H, W[, C]) float resampled into the target layout: (S, S[, C])
    float32, bilinear; invalid texels keep their (clamped) nearest sample. With
    ``unit_vectors`` the result is renormalised per texel (normal maps)."""
    import cv2

    img = np.asarray(image, np.float32)
    if img.ndim not in (2, 3):
        raise ShapeError(f"transfer_map: expected (H, W[, C]) map, got {img.shape}")
    h, w = img.shape[:2]
    x = (corr.source_uv[..., 0] * w - 0.5).astype(np.float32)
    y = ((1.0 - corr.source_uv[..., 1]) * h - 0.5).astype(np.float32)
    out = cv2.remap(img, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if img.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    if unit_vectors:
        out = out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
    return out.astype(np.float32)
