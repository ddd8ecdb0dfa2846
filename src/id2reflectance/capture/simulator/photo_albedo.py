"""Photographic albedo detail for simulated subjects: a real person's frontal photo on a face-model head.

Painted albedo alone does not make simulated subjects look like different people to a face
recogniser (docs/face-model.md, "What a face recogniser sees"): real skin's blotchiness, the
eyebrows', lashes' and lips' texture and the hair framing the face are missing. This module
takes them from a frontal photo of a real person and its 68 dlib landmarks:

1. :func:`fit_photo` fits the face model to the landmarks: a scaled orthographic camera and
   the first identity modes (ridge prior N(0, 1)), alternately. The subject's shape is that
   fit, the identity weights of a real person.
2. :func:`photo_layer` projects the photo onto the fitted head's texels (the face-model
   layout): each texel's point on the fitted head goes through the fitted camera; texels
   facing away, hidden behind the head (a depth buffer of the texels' own points) or outside
   the photo get no weight.
3. De-lighting: the photo (sRGB, decoded to linear) is divided by its own smooth luminance
   over the skin (a masked Gaussian low-pass of the face's skin pixels, normalised), which
   removes the photo's large-scale shading and keeps the chromatic and fine detail (skin
   blotches, brows, lashes, lips, hair); then each channel is scaled so that the photo's skin
   median becomes the simulated subject's own skin median: **the simulator's skin-tone
   distribution is kept** (ITA drawn as before), the photo gives only detail relative to the
   skin.
4. :func:`with_photo_albedo` blends it into the procedural albedo with the layer's weight
   (face, forehead and front of the scalp; eyes stay the simulator's).

The photos are never copied: the caller reads them (``../shared/face-photos/london``, CC BY 4.0;
see docs/face-model.md for the attribution) and passes the pixels and landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from id2reflectance._shared.imageio import srgb_to_linear
from id2reflectance.capture.geometry.face_model import FaceModel
from id2reflectance.capture.geometry.face_model_heads import template_offset
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.regions import UVRaster
from id2reflectance.errors import ShapeError

FIT_MODES = 40  # identity modes fitted to 68 landmarks (more are not determined by them)
FIT_SIGMA = 0.012  # landmark noise, fraction of the face's width in the photo (the ridge weight)
JAW_WEIGHT = 0.5  # the jaw contour's landmarks (0-16) move with the head's pose: half weight
SHADING_SIGMA = 0.22  # the de-lighting low-pass, fraction of the face's width
FACING = (0.25, 0.55)  # the layer fades in between these cosines of the texel's normal and the view
DEPTH_TOL_M = 0.004  # a texel this far behind the nearest point at its pixel is hidden
RATIO_RANGE = (0.02, 2.0)  # the de-lit photo relative to its skin median: clipped below, rolled off above
ALBEDO_SHOULDER = (0.8, 0.95)  # a photo texel's albedo rolls off above 0.8 toward 0.95 (shoulder)
IRIS_BLUE_RED = (
    1.05,
    0.6,
)  # blue / red of the eye's darker half in a photo: at or above a blue-grey iris, at or below a dark brown one
PREFILTER = 0.5  # texel anti-aliasing: Gaussian sigma per photo pixel of footprint beyond one (prefiltered_remap)
PREFILTER_SIGMAS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)  # the blur levels interpolated between, photo pixels
BACKDROP_TOL = 0.12  # a pixel this close (relative) to the photo border's colour is backdrop, not the person


@dataclass(frozen=True)
class PhotoFit:
    """The face model fitted to a photo's 68 landmarks.

    identity : (K,) float64 identity weights (N(0, 1) prior), K = :data:`FIT_MODES`.
    rotation : (3, 3) float64, template frame -> camera (rows: image x, image up, toward the camera).
    scale : pixels per metre.
    shift : (2,) pixels: ``(x, -y) = scale * rotation[:2] @ X + shift`` for a point X (metres,
        template frame), (x, y) the photo's pixel (x right, y down).
    rms_px : root-mean-square landmark residual, pixels.
    """

    identity: np.ndarray
    rotation: np.ndarray
    scale: float
    shift: np.ndarray
    rms_px: float

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) metres -> ((..., 2) pixel (x, y), (...,) depth toward the camera, metres)."""
        cam = points @ self.rotation.T
        xy = self.scale * cam[..., :2] + self.shift
        return np.stack([xy[..., 0], -xy[..., 1]], axis=-1), cam[..., 2]


def _similarity(points: np.ndarray, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Scaled orthographic camera (rotation (3, 3), scale, shift (2,)) taking (68, 3) points
    to (68, 2) targets (y up), weighted least squares then the nearest scaled rotation."""
    w = weight[:, None] / weight.sum()
    pc = points - (w * points).sum(0)
    tc = target - (w * target).sum(0)
    a = np.linalg.lstsq(pc * np.sqrt(w), tc * np.sqrt(w), rcond=None)[0].T  # (2, 3)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    r2 = u @ vt
    rot = np.vstack([r2, np.cross(r2[0], r2[1])])
    scale = float(s.mean())
    shift = (w * target).sum(0) - scale * (w * points).sum(0) @ r2.T
    return rot, scale, shift


def fit_photo(model: FaceModel, landmarks: np.ndarray, *, modes: int = FIT_MODES, iterations: int = 10) -> PhotoFit:
    """Fit the face model's pose and first ``modes`` identity weights to a photo's landmarks.

    Parameters
    ----------
    model : the face model.
    landmarks : (68, 2) float pixels (x right, y down), dlib's order.
    modes : identity modes fitted (the rest 0).
    iterations : pose / identity alternations.

    Returns
    -------
    :class:`PhotoFit` in the template frame (the face model's vertices plus its offset).
    """
    p = np.asarray(landmarks, np.float64)
    if p.shape != (68, 2) or not np.all(np.isfinite(p)):
        raise ShapeError(f"fit_photo: landmarks must be (68, 2) finite pixels, got {p.shape}")
    k = min(modes, model.identity_modes)
    idx = model.landmarks68
    base = model.neutral[idx] + template_offset(model)  # (68, 3)
    basis = np.asarray(model.identity[:k][:, idx], np.float64)  # (k, 68, 3)
    target = np.stack([p[:, 0], -p[:, 1]], axis=1)
    weight = np.ones(68)
    weight[:17] = JAW_WEIGHT
    width = float(np.ptp(p[:17, 0]))
    lam = (FIT_SIGMA * width) ** 2
    w = np.zeros(k)
    for _ in range(iterations):
        pts = base + np.tensordot(w, basis, axes=1)
        rot, scale, shift = _similarity(pts, target, weight)
        a = scale * np.einsum("ij,knj->nik", rot[:2], basis).reshape(-1, k)  # (136, k)
        rhs = (target - scale * base @ rot[:2].T - shift).reshape(-1)
        sw = np.repeat(weight, 2)
        w = np.linalg.solve(a.T @ (sw[:, None] * a) + lam * np.eye(k), a.T @ (sw * rhs))
    pts = base + np.tensordot(w, basis, axes=1)
    rot, scale, shift = _similarity(pts, target, weight)
    res = scale * pts @ rot[:2].T + shift - target
    return PhotoFit(w, rot, scale, shift, float(np.sqrt(np.mean(np.sum(res**2, axis=1)))))


def shoulder(x: np.ndarray, knee: float, ceiling: float) -> np.ndarray:
    """``x`` up to ``knee``, above it rolled off smoothly and strictly increasing toward
    ``ceiling`` (``knee + (ceiling - knee) tanh((x - knee) / (ceiling - knee))``): a hard clip
    would give the brightest texels one value, a plateau the solver takes for a saturated
    sensor (:func:`~id2reflectance.capture.frames.saturation_mask`)."""
    x = np.asarray(x, np.float64)
    w = ceiling - knee
    return np.where(x <= knee, x, knee + w * np.tanh((x - knee) / w))


def _hull_mask(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    return m.astype(bool)


def skin_mask(shape: tuple[int, int], landmarks: np.ndarray) -> np.ndarray:
    """(H, W) bool: the face's bare skin in a photo from its 68 landmarks: the hull of the jaw
    line and brows, without the brows, eyes, nostrils and mouth (each grown a little)."""
    p = np.asarray(landmarks, np.float64)
    face = _hull_mask(shape, np.concatenate([p[:17], p[17:27]]))
    grow = max(1, int(round(0.04 * np.ptp(p[:17, 0]))))
    kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    cut = np.zeros(shape, np.uint8)
    for part in (p[17:22], p[22:27], p[36:42], p[42:48], p[31:36], p[48:60]):
        cut |= _hull_mask(shape, part).astype(np.uint8)
    cut = cv2.dilate(cut, kernel)
    return face & ~cut.astype(bool)


def delit_photo(photo: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo (uint8 sRGB) de-lit.

    Returns
    -------
    ratio : (H, W, 3) float32, the photo in linear RGB divided by its smooth skin luminance
        and by its skin's median colour per channel: 1 on average skin, the brows, hair and
        lips as fractions of the skin's colour (clipped below and rolled off above to :data:`RATIO_RANGE`, :func:`shoulder`).
    usable : (H, W) float32 in [0, 1], the head above the jaw line (the polygon of the jaw's
        landmarks closed upward to the photo's top edge, softened over 2 % of the face's width),
        not the plain backdrop (within :data:`BACKDROP_TOL` of the median colour of the
        photo's border, relative): neck, collar and backdrop stay the simulator's.
    """
    lin = srgb_to_linear(np.asarray(photo, np.float64) / 255.0)
    mask = skin_mask(lin.shape[:2], landmarks)
    if mask.sum() < 50:
        raise ShapeError("delit_photo: too little skin between the landmarks")
    lum = lin @ np.array([0.2126, 0.7152, 0.0722])
    sigma = SHADING_SIGMA * float(np.ptp(np.asarray(landmarks)[:17, 0]))
    m = mask.astype(np.float64)
    num = cv2.GaussianBlur(lum * m, (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    far = np.clip(den / 0.2, 0.0, 1.0)  # away from the skin, the shading fades to the skin's median
    med = float(np.median(lum[mask]))
    shading = far * num / np.maximum(den, 1e-9) + (1.0 - far) * med
    flat = lin / np.maximum(shading, 1e-6)[..., None]
    colour = np.median(flat[mask], axis=0)
    lo, hi = RATIO_RANGE
    ratio = shoulder(np.maximum(flat / np.maximum(colour, 1e-6), lo), 0.75 * hi, hi).astype(np.float32)
    border = np.concatenate([lin[:8].reshape(-1, 3), lin[:, :8].reshape(-1, 3), lin[:, -8:].reshape(-1, 3)])
    backdrop = np.median(border, axis=0)
    off = np.linalg.norm(lin - backdrop, axis=-1) / max(float(np.linalg.norm(backdrop)), 1e-6)
    jaw = np.asarray(landmarks, np.float64)[:17]
    poly = np.concatenate([jaw, [[jaw[16, 0], 0.0], [jaw[0, 0], 0.0]]])
    above = np.zeros(lin.shape[:2], np.uint8)
    cv2.fillPoly(above, [np.round(poly).astype(np.int32)], 1)
    soft = cv2.GaussianBlur(above.astype(np.float32), (0, 0), max(0.02 * float(np.ptp(jaw[:, 0])), 0.5))
    return ratio, (soft * (off > BACKDROP_TOL)).astype(np.float32)


def iris_darkness(photo: np.ndarray, landmarks: np.ndarray) -> float:
    """The iris colour of a photo (uint8 sRGB) as the simulator's iris darkness in [0, 1]
    (0 blue-grey .. 1 dark brown, :func:`~id2reflectance.capture.simulator.skin.subject_maps`):
    blue over red of the darker half of the pixels between each eye's six landmarks (iris,
    pupil and lash line, not the sclera), linear RGB, mapped from :data:`IRIS_BLUE_RED`."""
    lin = srgb_to_linear(np.asarray(photo, np.float64) / 255.0)
    p = np.asarray(landmarks, np.float64)
    colours = []
    for eye in (p[36:42], p[42:48]):
        px = lin[_hull_mask(lin.shape[:2], eye)]
        if len(px) < 4:
            continue
        lum = px @ np.array([0.2126, 0.7152, 0.0722])
        colours.append(np.median(px[lum <= np.quantile(lum, 0.5)], axis=0))
    if not colours:
        return 0.5
    rgb = np.mean(colours, axis=0)
    blue_red = float(rgb[2] / max(float(rgb[0]), 1e-6))
    light, dark = IRIS_BLUE_RED
    return float(np.clip((light - blue_red) / (light - dark), 0.0, 1.0))


def footprint_px(xy: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """(S, S) float64: the photo pixels one texel spans (the longer of its two sides' images).

    ``xy`` (S, S, 2) is each texel's pixel in the photo; each side is the smaller of the
    forward and backward differences (a chart's border does not count its neighbour chart's
    texel), over covered texels only (uncovered: 0).
    """

    def side(axis: int) -> np.ndarray:
        d = np.linalg.norm(np.diff(xy, axis=axis), axis=-1)
        ok = np.logical_and(
            *(
                np.take(covered, r, axis=axis)
                for r in (range(0, covered.shape[axis] - 1), range(1, covered.shape[axis]))
            )
        )
        d = np.where(ok, d, np.inf)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        back = np.pad(d, pad, constant_values=np.inf)
        pad[axis] = (0, 1)
        fwd = np.pad(d, pad, constant_values=np.inf)
        out = np.minimum(back, fwd)
        return np.where(np.isfinite(out), out, 0.0)

    return np.maximum(side(0), side(1)) * covered


def prefiltered_remap(image: np.ndarray, xy: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) float32 sampled at ``xy`` (S, S, 2) float32 pixels, low-passed to
    each sample's ``footprint`` (S, S) photo pixels: a Gaussian of sigma
    ``PREFILTER * sqrt(footprint^2 - 1)`` (none where a texel spans a pixel or less),
    interpolated between the images blurred by :data:`PREFILTER_SIGMAS`. Without it a texel
    spanning several pixels takes one pixel's detail and noise (aliasing: texel-scale
    speckle no camera of the simulated rig could resolve either)."""
    want = PREFILTER * np.sqrt(np.maximum(footprint**2 - 1.0, 0.0))
    levels = np.asarray(PREFILTER_SIGMAS, np.float64)
    out = np.zeros(xy.shape[:2] + image.shape[2:], np.float32)
    pos = np.interp(want, levels, np.arange(len(levels)))
    lower = np.floor(pos).astype(np.int64)
    frac = (pos - lower).astype(np.float32)
    for k, sigma in enumerate(levels):
        use = (lower == k) | ((lower == k - 1) & (frac > 0))
        if not use.any():
            continue
        img = image if sigma == 0 else cv2.GaussianBlur(image, (0, 0), float(sigma))
        s = cv2.remap(img, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        s = s.reshape(out.shape)
        w = np.where(lower == k, 1.0 - frac, np.where(lower == k - 1, frac, 0.0)).astype(np.float32)
        out += (w.reshape(w.shape + (1,) * (out.ndim - 2))) * s
    return out


@dataclass(frozen=True, eq=False)
class PhotoLayer:
    """A photo on a head's texels (:func:`photo_layer`).

    ratio : (S, S, 3) float32, the de-lit photo's colour relative to its skin (1 on average skin).
    weight : (S, S) float32 in [0, 1], how much of it each texel takes.
    donor : the photo's person id (recorded in ``truth/uv/params.json``).
    """

    ratio: np.ndarray
    weight: np.ndarray
    donor: str = ""

    def blend(self, albedo: np.ndarray, hair: np.ndarray, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The layer blended into flat maps of its texels.

        Parameters
        ----------
        albedo : (S*S, 3) linear RGB diffuse albedo (skin with the simulator's hair painted).
        hair : (S*S,) hair coverage in [0, 1].
        skin : (3,) the subject's own skin colour (linear RGB): the photo's skin becomes it, so
            the skin tone stays the simulator's.

        Returns
        -------
        ``(1 - w) albedo + w shoulder(skin ratio)`` (rolled off above 0.8 toward 0.95) and
        ``(1 - w) hair + w photo_hair``: the photo's hair (brows, lashes, hairline) where it is
        darker than half its skin, fully below a fifth.
        """
        w = self.weight.reshape(-1, 1).astype(np.float64)
        ratio = self.ratio.reshape(-1, 3).astype(np.float64)
        photo = shoulder(np.asarray(skin, np.float64)[None, :] * ratio, *ALBEDO_SHOULDER)
        lum = ratio @ np.array([0.2126, 0.7152, 0.0722])
        photo_hair = np.clip((0.5 - lum) / 0.3, 0.0, 1.0)
        return (1.0 - w) * albedo + w * photo, (1.0 - w[:, 0]) * hair + w[:, 0] * photo_hair


def photo_layer(
    delit: tuple[np.ndarray, np.ndarray],
    fit: PhotoFit,
    mesh: FaceMesh,
    raster: UVRaster,
    where: np.ndarray,
    *,
    donor: str = "",
) -> PhotoLayer:
    """The de-lit photo on the fitted head's texels.

    Parameters
    ----------
    delit : ratio and usable mask of :func:`delit_photo`.
    fit : :func:`fit_photo` of the same photo.
    mesh : the fitted head as rendered (template frame, metres) in ``raster``'s layout.
    raster : its UV chart (S x S).
    where : (S, S) float in [0, 1], the texels that may take the photo (face, forehead, scalp).
    donor : the photo's person id.

    Returns
    -------
    :class:`PhotoLayer`: texels facing the camera (cosine above ``FACING``), in front
    (depth buffer) and inside the photo take it.
    """
    pos = raster.interpolate(mesh.vertices, mesh.faces)
    nrm = raster.interpolate(mesh.vertex_normals(), mesh.faces)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-12)
    ratio_img, usable = delit
    xy, depth = fit.project(pos)
    facing = (nrm @ fit.rotation.T)[..., 2]
    h, w = ratio_img.shape[:2]
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1) & raster.covered
    # depth buffer of the texels' own points (front-most per pixel, grown by one pixel)
    zbuf = np.full((h, w), -np.inf)
    ij = np.round(xy[inside]).astype(np.int64)
    np.maximum.at(zbuf, (ij[:, 1], ij[:, 0]), depth[inside])
    zbuf = cv2.dilate(zbuf.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.float64)
    ij_all = np.clip(np.round(xy).astype(np.int64), 0, [w - 1, h - 1])
    seen = depth >= zbuf[ij_all[..., 1], ij_all[..., 0]] - DEPTH_TOL_M
    lo, hi = FACING
    t = np.clip((facing - lo) / (hi - lo), 0.0, 1.0)
    weight = t * t * (3.0 - 2.0 * t)
    weight = weight * inside * seen * np.asarray(where, np.float64)
    m = xy.astype(np.float32)
    ratio = prefiltered_remap(ratio_img, m, footprint_px(xy, raster.covered))
    fg = cv2.remap(usable, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    weight = weight * fg
    return PhotoLayer(ratio.astype(np.float32), weight.astype(np.float32), donor)
