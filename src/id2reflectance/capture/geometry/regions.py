"""The template's UV space: which triangle covers each texel, and named facial regions.

Everything here depends only on the template's topology, UVs and neutral geometry, so a
texel means the same place on every subject: a region mask computed once lands on the
same texels for every face. Results are cached per texture size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from id2reflectance.capture.geometry.mesh import FaceMesh, interpolate, rasterize_uv
from id2reflectance.capture.geometry.template_mesh import template_mesh
from id2reflectance.errors import ConfigError

REGION_NAMES = (
    "front",
    "face",
    "forehead",
    "nose",
    "chin",
    "tzone",
    "cheeks",
    "lips",
    "eyebrows",
    "lash_line",
    "eyelids",
    "crows_feet",
    "beard",
    "ears",
    "neck",
)


@dataclass(frozen=True, eq=False)
class UVRaster:
    """Rasterised template UV chart at one texture size S.

    Attributes
    ----------
    size : S.
    covered : (S, S) bool, texel centre inside a UV triangle.
    face_id : (S, S) int64, triangle of each texel; uncovered texels take the triangle
        (and barycentrics) of their nearest covered texel, so per-vertex values
        interpolate to a seamless padded texture.
    bary : (S, S, 3) float32 barycentric weights.
    position : (S, S, 3) float64 template (neutral head) surface point, metres.
    texel_size : mean edge of a texel on the face, metres (UV chart scale over the face).
    """

    size: int
    covered: np.ndarray
    face_id: np.ndarray
    bary: np.ndarray
    position: np.ndarray
    texel_size: float

    def interpolate(self, values: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Per-vertex ``values`` (V, C) -> (S, S, C) float64 texture (padded)."""
        return interpolate(values, faces, self.face_id, self.bary)


def face_texel_size(mesh: FaceMesh, size: int) -> float:
    """Mean texel edge (metres) over the face region of ``mesh`` (template topology, UVs)."""
    v, f, uv = mesh.vertices, mesh.faces, mesh.uvs
    a3 = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    auv = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    c = v[f].mean(axis=1)
    face = (c[:, 2] > 0.04) & (c[:, 1] > -0.11) & (c[:, 1] < 0.09) & (np.abs(c[:, 0]) < 0.06)
    return float(np.sqrt(a3[face].sum() / auv[face].sum()) / size)


@lru_cache(maxsize=4)
def uv_raster(size: int) -> UVRaster:
    """The template's UV chart rasterised at ``size`` x ``size`` texels (cached)."""
    return mesh_uv_raster(template_mesh(), size)


def mesh_uv_raster(mesh: FaceMesh, size: int) -> UVRaster:
    """The UV chart of any ``mesh`` with UVs rasterised at ``size`` x ``size`` texels
    (``position`` is on ``mesh``; not cached)."""
    if not isinstance(size, int) or size < 16:
        raise ConfigError(f"uv size must be an integer >= 16, got {size!r}")
    fid, bary = rasterize_uv(mesh, size)
    covered = fid >= 0
    _, (ii, jj) = ndimage.distance_transform_edt(~covered, return_indices=True)
    fid = fid[ii, jj]
    bary = bary[ii, jj]
    pos = interpolate(mesh.vertices, mesh.faces, fid, bary)
    return UVRaster(size, covered, fid, bary, pos, face_texel_size(mesh, size))


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float, soft: float = 0.25
) -> np.ndarray:
    """1 inside the ellipse, 0 outside, smooth over a relative band ``soft``."""
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return _smoothstep(1.0, 1.0 - soft, r)


@lru_cache(maxsize=4)
def region_masks(size: int) -> dict[str, np.ndarray]:
    """Named facial regions as (S, S) float32 weights in [0, 1] (see ``REGION_NAMES``).

    Defined on the neutral template's surface points (metres, subject's left = +x), so
    they are identical for every subject. Symmetric regions cover both sides.
    """
    return regions_at(uv_raster(size).position)


def regions_by_landmarks(
    pos: np.ndarray, landmarks: dict[str, np.ndarray], *, width_m: float = 0.03
) -> dict[str, np.ndarray]:
    """Named facial regions on a head whose anatomy differs from the template's: points
    ``pos`` (..., 3) metres are warped (Gaussian radial basis of width ``width_m``) so that
    the head's ``landmarks`` ({template landmark name: (3,) metres}) meet the neutral
    template's, and the region shapes of :func:`regions_at` are evaluated there.

    Returns
    -------
    {name: (...) float32 weight in [0, 1]}.
    """
    return regions_at(landmark_warp(pos, landmarks, width_m=width_m))


def landmark_warp(pos: np.ndarray, landmarks: dict[str, np.ndarray], *, width_m: float = 0.03) -> np.ndarray:
    """The warp of :func:`regions_by_landmarks`: points ``pos`` (..., 3) metres moved so
    that ``landmarks`` meet the neutral template's; (..., 3) float64 metres."""
    tmpl = template_mesh()
    names = list(landmarks)
    src = np.asarray([landmarks[k] for k in names], np.float64)
    dst = tmpl.vertices[[tmpl.landmarks[k] for k in names]]

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = np.sum((a[..., None, :] - b) ** 2, axis=-1)
        return np.exp(-d2 / (2 * width_m**2))

    coef = np.linalg.solve(kernel(src, src) + 1e-6 * np.eye(len(src)), dst - src)
    return pos + kernel(pos, src) @ coef


def regions_at(pos: np.ndarray) -> dict[str, np.ndarray]:
    """Named facial regions (see ``REGION_NAMES``) at surface points of a head placed like
    the neutral template (its landmarks where the template's are).

    Parameters
    ----------
    pos : (..., 3) float64 metres, y up, face toward +z, subject's left = +x.

    Returns
    -------
    {name: (...) float32 weight in [0, 1]}.
    """
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    ax = np.abs(x)
    phi = np.degrees(np.arctan2(x, z))
    front = _smoothstep(78.0, 58.0, np.abs(phi))
    face = front * _smoothstep(-0.128, -0.108, y) * _smoothstep(0.096, 0.08, y)
    forehead = front * _smoothstep(0.036, 0.046, y) * _smoothstep(0.098, 0.084, y) * _smoothstep(0.058, 0.04, ax)
    nose = _ellipse(x, y, 0.0, -0.004, 0.021, 0.027, 0.3) * _smoothstep(0.084, 0.092, z)
    chin = _ellipse(x, y, 0.0, -0.094, 0.018, 0.014, 0.5) * front
    tzone = np.maximum.reduce([forehead * _smoothstep(0.05, 0.02, ax), nose, 0.6 * chin])
    cheeks = front * np.exp(-(((ax - 0.046) / 0.017) ** 2 + ((y + 0.022) / 0.02) ** 2))
    upper = _ellipse(x, y, 0.0, -0.0442, 0.026, 0.0068, 0.2)
    lower = _ellipse(x, y, 0.0, -0.0568, 0.0235, 0.0078, 0.2)
    lips = np.maximum(upper, lower) * _smoothstep(0.08, 0.088, z)
    t = np.clip((ax - 0.012) / 0.046, 0.0, 1.0)
    brow_y = 0.0255 + 0.0075 * np.sin(np.pi * (0.35 + 0.65 * t))
    brow_half = 0.0052 - 0.0024 * t
    eyebrows = (
        front
        * _smoothstep(0.011, 0.015, ax)
        * _smoothstep(0.06, 0.054, ax)
        * _smoothstep(1.0, 0.55, np.abs(y - brow_y) / brow_half)
    )
    lid_y = 0.0085 + 0.0015 * (1 - ((ax - 0.033) / 0.015) ** 2)
    lash_line = (
        _smoothstep(0.017, 0.02, ax)
        * _smoothstep(0.049, 0.046, ax)
        * _smoothstep(0.0011, 0.0005, np.abs(y - lid_y))
        * _smoothstep(0.07, 0.076, z)
    )
    eyelids = front * np.exp(-(((ax - 0.033) / 0.014) ** 2 + ((y - 0.012) / 0.008) ** 2))
    crows = front * np.exp(-(((ax - 0.058) / 0.009) ** 2 + ((y - 0.008) / 0.012) ** 2))
    beard = (
        _smoothstep(85.0, 70.0, np.abs(phi))
        * _smoothstep(-0.029, -0.036, y)
        * _smoothstep(-0.14, -0.118, y)
        * (1.0 - lips)
        * (1.0 - nose)
    )
    ears = (
        _smoothstep(0.066, 0.072, ax)
        * _smoothstep(0.04, 0.028, np.abs(y))
        * _smoothstep(0.016, 0.008, np.abs(z + 0.01))
    )
    neck = _smoothstep(-0.1, -0.125, y) * (1.0 - beard)
    out = {
        "front": front,
        "face": face,
        "forehead": forehead,
        "nose": nose,
        "chin": chin,
        "tzone": tzone,
        "cheeks": cheeks,
        "lips": lips,
        "eyebrows": eyebrows,
        "lash_line": lash_line,
        "eyelids": eyelids,
        "crows_feet": crows,
        "beard": beard,
        "ears": ears,
        "neck": neck,
    }
    return {k: np.clip(v, 0.0, 1.0).astype(np.float32) for k, v in out.items()}
