"""Mirror fill: texels that the cameras see only at grazing angles take the value of the
face's other side where that is seen better.

A face is nearly left-right symmetric, and a texel that the rig's cameras see only below the
bake's ``cos_min`` (behind an ear, the side of the jaw, hair next to a sideburn) often has a
mirror texel that a camera sees better. The template's layout is fixed, so the mirror
correspondence is computed once per template and map size (:func:`texel_mirror`: each
texel's point on the template, x -> -x, the closest point of the template's surface and its
UV) and cached.

:func:`mirror_fill` gives those texels the value at their mirror point, tone-matched to this
side (a smooth per-channel log-ratio between the two sides, estimated where both are seen),
with a share that grows with how much better the mirror point is seen than the texel
itself. Measured (docs/bake.md, "Mirror fill"): it gains on grazing texels (the exact-map
case's left region with hair +0.6 dB; the solved maps' grazing texels +0.3 dB) but taking
the mirror into texels with no grazing sample at all (creases, mask borders) lost on the
solved maps of a photo subject (asymmetric skin): so only grazing texels take it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from id2reflectance.capture.geometry.mesh import FaceMesh, interpolate, raycasting_scene
from id2reflectance.errors import ShapeError
from id2reflectance.processing.bake.views import texel_geometry

MIRROR_TOLERANCE_M = 0.002  # a mirrored texel point farther than this from the surface has no mirror
FILL_CONFIDENCE = 0.2  # what a texel's own fill is worth against a mirror value (a seen texel's trust is 1)
_CACHE: dict[tuple[str, int], TexelMirror] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 4


@dataclass(frozen=True, eq=False)
class TexelMirror:
    """Each texel's mirror texel in one layout at one map size S.

    rows, cols : (S, S) float32 continuous texel coordinates (row, column; texel centres at
        integers) of the mirror point of each texel's point (x -> -x in the template frame).
    valid : (S, S) bool, covered texels whose mirror point lies on the template's surface
        (within :data:`MIRROR_TOLERANCE_M`, normals agreeing) and is not the texel itself
        (texels within one texel of the midline have no other side).
    """

    rows: np.ndarray
    cols: np.ndarray
    valid: np.ndarray

    @property
    def size(self) -> int:
        return int(self.valid.shape[0])


def _mesh_key(mesh: FaceMesh) -> str:
    h = hashlib.sha256()
    for a in (mesh.vertices, mesh.faces, mesh.uvs):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def texel_mirror(template: FaceMesh, size: int) -> TexelMirror:
    """The mirror texel of every texel of ``template``'s layout at ``size`` (cached per
    template and size).

    Parameters
    ----------
    template : the template mesh with UVs, in its own frame (metres; face toward +z, the
        midline at x = 0: the registration maps this frame onto the scan, so left and right
        are the template's).
    size : map size S, texels.

    Returns
    -------
    TexelMirror.

    Raises
    ------
    ShapeError
        The template has no UVs.
    """
    import open3d as o3d

    if template.uvs is None:
        raise ShapeError("texel_mirror: the template has no UVs")
    key = (_mesh_key(template), int(size))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    geom = texel_geometry(template, size)
    cov = geom.covered
    pts = geom.points[cov] * np.array([-1.0, 1.0, 1.0])
    nrm = geom.normals[cov] * np.array([-1.0, 1.0, 1.0])
    scene = raycasting_scene(template)
    ans = scene.compute_closest_points(o3d.core.Tensor(pts.astype(np.float32)))
    fid = ans["primitive_ids"].numpy().astype(np.int64)
    buv = ans["primitive_uvs"].numpy()
    bary = np.stack([1 - buv[:, 0] - buv[:, 1], buv[:, 0], buv[:, 1]], axis=1)
    hit = ans["points"].numpy().astype(np.float64)
    face_n = template.face_normals()[fid]
    uv = interpolate(template.uvs, template.faces, fid, bary)
    rows = np.full((size, size), -1.0, np.float32)
    cols = np.full((size, size), -1.0, np.float32)
    rows[cov] = (1.0 - uv[:, 1]) * size - 0.5
    cols[cov] = uv[:, 0] * size - 0.5
    ii, jj = np.nonzero(cov)
    ok = (np.linalg.norm(hit - pts, axis=1) < MIRROR_TOLERANCE_M) & (np.sum(face_n * nrm, axis=1) > 0.5)
    ok &= np.hypot(rows[cov] - ii, cols[cov] - jj) > 1.0
    valid = np.zeros((size, size), bool)
    valid[ii[ok], jj[ok]] = True
    out = TexelMirror(rows=rows, cols=cols, valid=valid)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = out
    return out


def mirror_sample(values: np.ndarray, weight: np.ndarray, mirror: TexelMirror) -> tuple[np.ndarray, np.ndarray]:
    """``values`` at each texel's mirror point, bilinear over the texels of ``weight`` > 0.

    Parameters
    ----------
    values : (S, S, C) float map.
    weight : (S, S) float >= 0, each texel's trust (0: not a sample).

    Returns
    -------
    ((S, S, C) float32 the weighted bilinear mean at the mirror point (0 where nothing),
    (S, S) float32 the bilinear weight there, 0 where the texel has no mirror).
    """
    w = np.asarray(weight, np.float32)
    v = np.asarray(values, np.float32)
    num = cv2.remap(
        v * w[..., None], mirror.cols, mirror.rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    den = cv2.remap(w, mirror.cols, mirror.rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    num = num.reshape(v.shape)
    den = np.where(mirror.valid, den, 0.0).astype(np.float32)
    out = np.where(den[..., None] > 1e-6, num / np.maximum(den, 1e-6)[..., None], 0.0).astype(np.float32)
    return out, den


def side_ratio(
    values: np.ndarray, seen: np.ndarray, mirrored: np.ndarray, mirrored_w: np.ndarray, *, sigma: float
) -> np.ndarray:
    """Smooth per-channel log-ratio between a texel's side and its mirror side.

    Estimated where both the texel and its mirror point are seen, as a Gaussian-weighted
    (``sigma`` texels) mean of ``log(values) - log(mirrored)`` (each clipped to +-0.5), and
    spread from there; 0 where no such pair lies within about 3 sigma.

    Parameters
    ----------
    values : (S, S, C) float >= 0, this side's values (seen texels).
    seen : (S, S) bool.
    mirrored, mirrored_w : :func:`mirror_sample` of ``values`` over the seen texels.

    Returns
    -------
    (S, S, C) float32 log-ratio (this side over the mirror side).
    """
    pair = seen & (mirrored_w > 0.5)
    e = 1e-3
    d = np.log(np.maximum(values, 0.0) + e) - np.log(np.maximum(mirrored, 0.0) + e)
    d = np.where(pair[..., None], np.clip(d, -0.5, 0.5), 0.0).astype(np.float32)
    k = int(2 * round(3 * sigma) + 1)
    num = cv2.GaussianBlur(d, (k, k), sigma, borderType=cv2.BORDER_CONSTANT).reshape(d.shape)
    den = cv2.GaussianBlur(pair.astype(np.float32), (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.where(den[..., None] > 1e-3, num / np.maximum(den, 1e-3)[..., None], 0.0).astype(np.float32)


def mirror_fill(
    values: np.ndarray,
    confidence: np.ndarray,
    seen: np.ndarray,
    targets: np.ndarray,
    mirror: TexelMirror,
    *,
    trust: float,
    ratio_sigma: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The mirror side's values for the ``targets``, and how much each should count.

    Per target t: ``m(t)`` = the ``confidence``-weighted bilinear mean of ``values`` at
    its mirror point (:func:`mirror_sample`; f(t) the bilinear confidence there) times
    ``exp(side_ratio)`` (the tone match: the two sides' smooth log-ratio near t, estimated
    where both are seen), counted with ``a(t) = trust * f / (f + c(t) + FILL_CONFIDENCE)``,
    c(t) = ``confidence[t]``, the target's own: a texel that its side sees only at a
    grazing angle gives way to a mirror texel seen better and keeps its value against a
    worse one; :data:`FILL_CONFIDENCE` is what its own fill is worth when it has nothing
    else (a mirror point itself seen barely better does not take over).

    Parameters
    ----------
    values : (S, S, C) float >= 0, the current values (linear albedo RGB, specular,
        roughness...).
    confidence : (S, S) float in [0, 1], each texel's trust as a source (seen texels
        high, texels filled from a grazing sample lower, filled texels 0).
    seen : (S, S) bool, texels a camera sees (the tone match's pairs).
    targets : (S, S) bool, the texels to fill.
    mirror : the layout's :class:`TexelMirror` at this size.
    trust : the mirror value's largest share, in [0, 1] (0: off).
    ratio_sigma : Gaussian width of the tone match, texels.

    Returns
    -------
    ((S, S, C) float32 the tone-matched mirror values (0 where a is 0), (S, S) float32 a in
    [0, trust), 0 outside ``targets``).
    """
    conf = np.clip(np.asarray(confidence, np.float32), 0.0, 1.0)
    sample, frac = mirror_sample(values, conf, mirror)
    own = np.where(targets, conf, 0.0)
    weight = np.where(targets & (frac > 1e-4), trust * frac / (frac + own + FILL_CONFIDENCE), 0.0).astype(np.float32)
    if not (weight > 0).any():
        return np.zeros_like(sample), weight
    ratio = side_ratio(values, seen, *mirror_sample(values, seen.astype(np.float32), mirror), sigma=ratio_sigma)
    matched = (sample * np.exp(ratio)).astype(np.float32)
    matched[weight <= 0] = 0.0
    return matched, weight
