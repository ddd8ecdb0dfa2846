"""Frame alignment: the subject's motion between exposures, undone before the solve.

A sequential light stage takes its 8 to 14 exposures over one to two seconds and the head
moves between them. Per camera, every frame is registered to the reference frame
(``full``, ``cross``) on lighting-invariant features
(:mod:`~id2reflectance.processing.solve.align_features`: high-passed log luminance) and
resampled once into the reference's pixel grid:

* ``rigid``: an image similarity (rotation, scale, translation), fitted coarse to fine by
  Gauss-Newton at the reference's face pixels, sub-pixel;
* ``flow``: the similarity, then a dense optical flow (OpenCV DIS, variational refinement)
  between the reference features and the rigidly aligned frame's features for non-rigid
  drift (expression), smoothed and applied inside the face; one resampling of both together;
* ``auto`` (default): ``rigid``, and ``flow`` for a frame that moved (see below) and
  whose rigid residual (median length of the smoothed residual flow at face pixels)
  exceeds ``align_flow_px``;
* ``none``: frames as decoded (bit-identical to a solve without alignment).

A frame is left untouched (bit-identical) when its fitted motion moves no face pixel by
more than ``min_px`` (0.1 px) or by less than ``significance`` (3) standard deviations
of the fit (Gauss-Newton covariance from the residual of the features, inflated for
neighbouring samples' correlation): sensor noise and lighting then explain the fit, so a
still noisy session solves as with ``none``; or when the motion removes less than
:data:`~id2reflectance.processing.solve.align_refine.MIN_EXPLAINED` of the features'
mismatch with the frame's lighting-matched template
(:func:`~id2reflectance.processing.solve.align_features.explained_fraction`): a systematic
lighting difference fitted as motion (a smooth, textureless surface's shading; the
specular light of a parallel-polarised frame), which the significance test does not see.
Resampling is bicubic; pixels that come from within 2 pixels of a frame's edge or beyond it are excluded like saturated pixels
(the camera's saturation mask; they are counted with them). A face under 48 pixels across
is not aligned (``solve.json`` says so in ``alignment.skipped``; no warning: test-sized
images, not captures). A face 960 pixels across or more is aligned on frames box-averaged
by the largest power of two that keeps it at least
:data:`~id2reflectance.processing.solve.align_work.WORK_PX` (480) pixels across
(:mod:`~id2reflectance.processing.solve.align_work`), and only the face's window of the frames
is read for it (:func:`~id2reflectance.processing.solve.align_work.face_window`); only the
final resampling runs at the camera's resolution
(:mod:`~id2reflectance.processing.solve.align_resample`). Frames
of one camera are aligned concurrently by ``workers`` threads (OpenCV and numpy release
the GIL).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from id2reflectance.capture.frames import CameraFrames
from id2reflectance.errors import CaptureError
from id2reflectance.processing.solve.align_chroma import chroma_features, chroma_floors
from id2reflectance.processing.solve.align_features import (
    FEATURE_SIGMA,
    MATCHED_MISMATCH,
    SMOOTH_SIGMA,
    Similarity,
    displacement_sigma,
    explained_fraction,
    feature_ncc,
    fit_similarity,
    luminance,
    pyramid_ncc,
    reference_pyramid,
    sample_points,
    still_mismatch,
)
from id2reflectance.processing.solve.align_refine import (
    MIN_EXPLAINED,
    FeatureCache,
    build_cache,
    frame_planes,
    predicted,
    refine_motions,
    refitted,
    template_reference,
)
from id2reflectance.processing.solve.align_resample import outside_frame, remap_with_flow, warp_face
from id2reflectance.processing.solve.align_work import (
    ambient_ratio,
    downsample,
    downsample_mask,
    face_region,
    face_window,
    to_camera,
    upsample_mask,
    work_factor,
)
from id2reflectance.processing.solve.separation import has_inverses

log = logging.getLogger(__name__)

REFERENCE = ("full", "cross")
ALIGN_MODES = ("auto", "none", "rigid", "flow")
MIN_NCC = 0.2  # below this the aligned features do not match: not the same face in view
MIN_INSIDE = 0.75  # fraction of the face that must stay inside the frame
SAMPLES = 1 << 16  # sample points per pyramid level of a fit (a regular stride over the face)
MIN_EXTENT = 48  # pixels across the face below which frames are not aligned
BOX_MARGIN = 32  # pixels around the face's box that a moved frame is resampled in (beyond: copied)


def resample_spline(inverses: bool) -> bool:
    """Whether a rigidly moved frame is resampled with the interpolating cubic spline
    (:func:`~id2reflectance.processing.solve.align_resample.spline_prefilter`) instead of Keys' cubic:
    for sessions without inverse patterns.

    Keys' cubic blurs a frame by as much as its sub-pixel shift takes (0.44 % of a skin frame for a
    half-pixel round trip); without inverse patterns the first moment is ``2 gradient - full``, a moved
    frame against the unmoved full-on frame, and that blur became normal error (256 px noisy moving
    heads, seeds 0-3: diffuse normal 1.063 / 1.307 / 1.099 / 0.903 -> 0.997 / 1.308 / 0.994 / 0.888
    deg). With inverse patterns ``gradient - inverse`` are two frames blurred alike and the gain is
    small (0.757 / 0.952 / 0.771 / 0.619 -> 0.756 / 0.929 / 0.748 / 0.625) for the prefilter's pass
    over the box (about as much CPU again as the resampling): Keys' cubic there. docs/solve.md
    section 1b.
    """
    return not inverses


FLOW_WIDTH = 256  # the residual flow is measured on features at most this wide (pixels)
FLOW_SMOOTH = 2.0  # least Gaussian sigma (flow pixels) of the residual flow's smoothing
LOG_EPS = 0.25
"""The features' log floor ``eps`` (:func:`~id2reflectance.processing.solve.align_features.log_features`)
as a fraction of the face's median luminance in the reference frame. The log makes the patterns'
shading additive, but it also weighs a pixel's changes (noise, cavities' light) by ``1 / (Y + eps)``:
with 5 % the dark parts of a pattern-lit face outweighed the lit skin. 25 %, on the 256 px noisy moving
head, seeds 0-3 (docs/results.md, branch resid20): residual 0.084 px mean in the face model's layout
(5 %: 0.105), 0.085 in the procedural one (0.093), without noise 0.085 / 0.066 (0.125 / 0.071);
at 40 % the log no longer removes a textureless surface's shading (the still sphere's frames move).
With inverse patterns only: without them (the ratio template, tuned at 5 %) 25 % gave 0.089 px instead
of 0.074 on the same head (``LOG_EPS_NO_INVERSES``)."""
LOG_EPS_NO_INVERSES = 0.05
CHROMA = True
"""Without inverse patterns the gradient frames are also fitted on their chromaticity inside the face
(:mod:`~id2reflectance.processing.solve.align_chroma`)."""
BACKDROP_LIT = 0.05  # the ring around the face is a lit backdrop when its median is above this share of the face's
SIGNIFICANCE = 3.0  # a fitted displacement under this many standard deviations is noise: the frame stays still


@dataclass(frozen=True)
class FrameAlignment:
    """One frame's estimated motion relative to the reference frame.

    frame : ``"<pattern>_<polarization>"``; file : its file in the session.
    motion : the similarity (reference pixel -> frame pixel; tx, ty in pixels).
    displacement_px : largest displacement of the similarity over the face's bounding box.
    residual_px : median length of the dense residual flow at face pixels after the
        similarity (what rigid alignment leaves); None when not measured: a frame left as
        decoded (``method`` ``"none"``) outside the ``flow`` mode.
    ncc : normalised cross-correlation of the aligned features with the reference's.
    method : ``"reference"``, ``"none"`` (below ``min_px`` or not significant), ``"rigid"``
        or ``"flow"``.
    sigma_px : standard deviation of the fitted displacement (Gauss-Newton covariance,
        pixels, largest over the face's corners).
    explained : share of the features' mismatch with the lighting-matched template that
        the motion removes (:func:`~id2reflectance.processing.solve.align_features.explained_fraction`).
    refused : the fitted motion was significant (beyond ``min_px`` and ``significance``
        standard deviations) but explained under
        :data:`~id2reflectance.processing.solve.align_refine.MIN_EXPLAINED` of the mismatch:
        judged lighting or noise, not applied (``method`` ``"none"``; ``motion`` is the
        refused fit). The ``[motion_refused]`` warning names it.
    """

    frame: str
    file: str
    motion: Similarity
    displacement_px: float
    residual_px: float | None
    ncc: float
    method: str
    sigma_px: float = 0.0
    explained: float = 0.0
    refused: bool = False

    def to_json(self) -> dict[str, Any]:
        m = self.motion
        return {
            "frame": self.frame,
            "file": self.file,
            "tx": round(m.tx, 5),
            "ty": round(m.ty, 5),
            "rotation_deg": round(m.rotation_deg, 5),
            "scale": round(m.scale, 7),
            "displacement_px": round(self.displacement_px, 5),
            "residual_px": None if self.residual_px is None else round(self.residual_px, 5),
            "ncc": round(self.ncc, 5),
            "method": self.method,
            "sigma_px": round(self.sigma_px, 5),
            "explained": round(self.explained, 5),
            "refused": self.refused,
        }


@dataclass
class CameraAlignment:
    """The alignment of one camera's frames (``solve.json`` ``cameras.<name>.alignment``)."""

    mode: str
    frames: list[FrameAlignment] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str | None = None  # why the frames were not aligned (a face too small), else None
    outside: int = 0  # face pixels whose source lies outside some frame (excluded, counted as saturated)
    work_scale: int = 1  # the features and fits ran on frames box-averaged by this factor
    box: tuple[float, float, float, float] | None = None  # the face's box (x0, y0, x1, y1; camera pixels)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "seconds": round(self.seconds, 4),
            "skipped": self.skipped,
            "outside_pixels": self.outside,
            "work_scale": self.work_scale,
            "frames": [f.to_json() for f in self.frames],
        }


def _flow_image(f: np.ndarray, scale: float) -> np.ndarray:
    """Features to the 8-bit image DIS optical flow takes (about +-3 sigma in range)."""
    return np.clip(128.0 + f * (42.0 / scale), 0, 255).astype(np.uint8)


PYRAMID_SIGMA = 6.0
"""The residual flow's Gaussian (:func:`_smooth`) of at least this sigma (flow pixels) runs on the flow's grid
halved (``pyrDown``, a Gaussian of the rest, ``pyrUp``)."""


def _smooth(img: np.ndarray, sigma: float) -> np.ndarray:
    """(h, w[, c]) float32 ``img`` smoothed by a Gaussian of ``sigma`` pixels (borders reflected): where
    ``sigma`` >= :data:`PYRAMID_SIGMA`, on the grid halved (``pyrDown`` and ``pyrUp`` blur about 1 px
    each; the rest, ``sqrt(sigma^2 - 2) / 2`` coarse pixels, between them), a quarter of the pixels for
    the widest pass: the DIS flow it smooths was computed on that coarser grid anyway (the medium preset's
    finest scale), and from that sigma on the two smoothings differ by at most about 1e-3 of the flow's
    size (at the face's edge; 1e-4 rms) (docs/solve.md 1b, "Residual and flow")."""
    if sigma < PYRAMID_SIGMA:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    half = cv2.GaussianBlur(cv2.pyrDown(img), (0, 0), np.sqrt(sigma * sigma - 2.0) / 2.0)
    return cv2.pyrUp(half, dstsize=(w, h))


def _flow_smoothing(region: np.ndarray, down: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, float]:
    """What :func:`_residual_flow` smooths its flows with, the same for every frame of a camera: the face
    ``region`` (working grid) on the flow's grid ``down`` halvings coarser as (h, w) float32 weights
    (``pyrDown``) and as bool (over half), their Gaussian of a 24th of the face's extent (at least
    :data:`FLOW_SMOOTH` px; None when no face pixel is left on that grid) and that sigma."""
    inside = region.astype(np.float32)
    for _ in range(down):
        inside = cv2.pyrDown(inside)
    face = inside > 0.5
    ys, xs = np.nonzero(face)
    if not len(xs):
        return inside, face, None, 0.0
    sigma = max(FLOW_SMOOTH, max(np.ptp(xs), np.ptp(ys)) / 24.0)
    return inside, face, _smooth(inside, sigma), sigma


_THREAD = threading.local()


def _dis() -> cv2.DISOpticalFlow:
    """This thread's DIS optical flow (medium preset), made once per thread: an instance keeps its buffers
    between calls of the same image size (a new instance per frame: 4.1-5.3 ms per 256 px flow, one kept:
    3.6-3.8 ms, the tiled 2048^2 x 14 camera's 13 flows alone), and a call given no initial flow computes
    the same flow whatever came before (bit for bit). Not shared between threads (not thread-safe)."""
    dis = getattr(_THREAD, "dis", None)
    if dis is None:
        dis = _THREAD.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis


def _residual_flow(
    template_f: np.ndarray,
    frame_pyr: list[np.ndarray],
    M: np.ndarray,
    region: np.ndarray,
    smoothing: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense flow from the template's features to the aligned frame's, at the flow's own resolution.

    OpenCV DIS (medium preset, variational refinement) on 8-bit images of the features
    (about +-3 standard deviations of the template's features in the face), at most
    :data:`FLOW_WIDTH` pixels wide (the frame's feature pyramid warped by ``M`` at that level), averaged inside
    the face (Gaussian of a 24th of the face's extent, at least :data:`FLOW_SMOOTH` px): the
    non-rigid drift it measures is smooth, the flow that noise and lighting changes produce is not.

    ``smoothing``: a dict the caller keeps per camera, where the face's weights on the flow's grid and
    their Gaussian (:func:`_flow_smoothing`, the same for every frame) are made once; None: made here.

    Returns
    -------
    (h, w, 2) float32 flow in working pixels (``template_f``'s) on a grid ``2^k`` times coarser
    (:func:`_enlarged` brings it to ``template_f``'s grid), and (h, w) bool the face on that grid
    (where the residual is measured).
    """
    h, w = template_f.shape
    down = 0
    while (w >> down) > FLOW_WIDTH:
        down += 1
    a = template_f
    for _ in range(down):
        a = cv2.pyrDown(a)
    lv = min(down, len(frame_pyr) - 1)
    b = frame_pyr[lv]
    for _ in range(down - lv):
        b = cv2.pyrDown(b)
    Ml = np.array(M, np.float64)
    Ml[:2, 2] /= float(1 << down)
    b = cv2.warpAffine(
        b,
        Ml[:2],
        (a.shape[1], a.shape[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    scale = float(np.std(template_f[region])) or 1.0
    flow = _dis().calc(_flow_image(a, scale), _flow_image(b, scale), None)
    # non-rigid drift is smooth over the face, the flow of noise and of lighting changes is not:
    # averaged inside the face (normalised convolution) over a 24th of its extent
    kept = None if smoothing is None else smoothing.get(down)
    if kept is None:  # the same for every frame of the camera: made once where the caller keeps it
        kept = _flow_smoothing(region, down)
        if smoothing is not None:
            smoothing[down] = kept
    inside, face, weight, sigma = kept
    if weight is not None:
        flow = _smooth(flow * inside[..., None], sigma) / np.maximum(weight, 1e-3)[..., None]
    else:
        face = cv2.resize(region.astype(np.uint8), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return flow * np.float32(1 << down), face


def _enlarged(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32: a :func:`_residual_flow` flow on the working grid ``shape`` (bilinear)."""
    h, w = shape
    return flow if flow.shape[:2] == (h, w) else cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)


def align_camera_frames(
    frames: CameraFrames,
    mask: np.ndarray | None,
    *,
    mode: str = "auto",
    files: dict[tuple[str, str], str] | None = None,
    flow_px: float = 0.5,
    min_px: float = 0.1,
    workers: int = 1,
    pair_passes: int = 4,
    significance: float = SIGNIFICANCE,
    in_place: bool = False,
) -> tuple[CameraFrames, CameraAlignment]:
    """Estimate each frame's motion relative to the reference and resample it onto the reference.

    Parameters
    ----------
    frames : the camera's decoded frames, ``images`` (H, W, 3) float32 linear Rec.709;
        ``("full", "cross")`` is the reference (not moved).
    mask : (H, W) bool face mask of the reference frame, or None (found from the frames).
    mode : ``"auto"``, ``"rigid"``, ``"flow"`` or ``"none"`` (see the module docstring).
    files : frame file per key, for reports and errors (default ``"<pattern>_<pol>"``).
    flow_px : ``auto`` uses the dense flow for frames whose rigid residual exceeds this (pixels).
    min_px : a frame whose similarity moves no face pixel by more than this is not resampled.
    workers : frames aligned concurrently.
    pair_passes : with inverse patterns, refinement passes of each gradient/inverse frame
        against the lighting-matched template ``full - (its aligned complement)``.
    significance : a frame whose fitted displacement is under this many of its standard
        deviations (Gauss-Newton covariance) is not resampled: sensor noise, not motion.
    in_place : a moved frame is resampled into its own array (rigid; the caller gives the
        decoded frames up), so no second frame-sized array is allocated per moved frame.

    Returns
    -------
    The aligned frames (new ``CameraFrames``; unless ``in_place``, inputs are not modified;
    frames not resampled are shared) and the per-frame report.

    Raises
    ------
    CaptureError
        A frame cannot be aligned: its features do not match the reference's (another
        subject, a blank frame) or the face is mostly outside it; names the frame's file.
    """
    if mode not in ALIGN_MODES:
        raise ValueError(f"align mode must be one of {list(ALIGN_MODES)}, got {mode!r}")
    t0 = time.perf_counter()
    report = CameraAlignment(mode=mode)
    if mode == "none":
        return frames, report
    if REFERENCE not in frames.images:
        raise CaptureError(f"camera '{frames.camera}': alignment needs the full cross-polarised reference frame")
    files = files or {}
    ref = frames.images[REFERENCE]
    h, w = ref.shape[:2]
    f, window = _working_frame(ref, mask)
    x0, y0, x1, y1 = window
    # the estimation runs on the face's window of the frames (views), the resampling on the frames
    views = {k: v[y0:y1, x0:x1] for k, v in frames.images.items()} if window != (0, 0, w, h) else frames.images
    keys = list(frames.images)
    inverses = has_inverses(frames.images)
    motions: dict[tuple[str, str], np.ndarray] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(keys))))
    try:
        lum, opp = frame_planes(views, f, pool=pool)
        small_mask = None if mask is None else downsample_mask(mask[y0:y1, x0:x1], f)
        region = face_region(lum, small_mask, REFERENCE, inverses=inverses)
        if not region.any():
            raise CaptureError(f"camera '{frames.camera}': no face found in the reference frame to align to")
        ys, xs = np.nonzero(region)
        extent = f * max(xs.max() - xs.min(), ys.max() - ys.min())
        if extent < MIN_EXTENT:
            report.skipped = (
                f"the face is {extent:.0f} px across in the reference frame, too small to align "
                f"(at least {MIN_EXTENT} px); frames used as decoded"
            )
            log.info("%s: %s", frames.camera, report.skipped)
            return frames, report
        box = (
            float(x0 + f * xs.min()),
            float(y0 + f * ys.min()),
            float(x0 + f * xs.max() + f - 1),
            float(y0 + f * ys.max() + f - 1),
        )
        levels = int(np.clip(np.floor(np.log2(max(extent / f, 1.0) / 24.0)) + 1, 1, 6))
        face_lum = float(np.median(lum[REFERENCE][region]))
        eps = max((LOG_EPS if inverses else LOG_EPS_NO_INVERSES) * face_lum, 1e-6)
        region_u8 = region.astype(np.uint8)
        fit_region = cv2.dilate(region_u8, np.ones((3, 3), np.uint8)) > 0  # the silhouette included
        # the silhouette lies behind the face, where a translation moves the image less
        # (perspective): the refinement fits inside it only
        margin = 2 * int(np.ceil(FEATURE_SIGMA)) + 1
        interior = cv2.erode(region_u8, np.ones((2 * margin + 1,) * 2, np.uint8)) > 0
        if interior.sum() < 0.3 * region.sum():
            interior = fit_region
        ring = (cv2.dilate(region_u8, np.ones((2 * margin + 1,) * 2, np.uint8)) > 0) & ~fit_region
        if ring.any() and float(np.median(lum[REFERENCE][ring])) > max(BACKDROP_LIT * face_lum, 1e-6):
            fit_region = interior  # a lit backdrop: the silhouette's contrast changes with the pattern
        cache = build_cache(lum, opp, eps=eps, levels=levels, inverses=inverses, pool=pool)
        if not inverses and CHROMA:  # the gradient frames' chromaticity (module align_chroma)
            floors = chroma_floors(downsample(views[REFERENCE], f), region)
            ckeys = [k for k in keys if k == REFERENCE or predicted(k, cache)]
            cache.chroma = dict(
                zip(ckeys, pool.map(lambda k: chroma_features(views[k], f, floors), ckeys), strict=True)
            )
        cache.ambient = ambient_ratio(cache.lum, interior)
        del lum, opp
        ref_pyr = reference_pyramid(cache.log[REFERENCE], sample_points(fit_region, levels=levels, max_samples=SAMPLES))
        if not ref_pyr.levels:
            raise CaptureError(f"camera '{frames.camera}': the reference frame has no texture to align on")

        def first_fit(key: tuple[str, str]) -> tuple[np.ndarray, float]:
            if key == REFERENCE:
                return np.eye(3), 1.0
            pyr = cache.log[key][: len(ref_pyr.levels)]
            # a frame that refine_motions refits at the two finest levels: a first estimate down to level 1
            M, ncc = fit_similarity(ref_pyr, pyr, finest=1 if refitted(key, cache) else 0)
            # a motion the features do not support better than none is noise fitted: keep the frame still
            if feature_ncc(ref_pyr, pyr, np.eye(3)) >= feature_ncc(ref_pyr, pyr, M):
                return np.eye(3), pyramid_ncc(ref_pyr, pyr, np.eye(3))
            return M, ncc

        fits = dict(zip(keys, pool.map(first_fit, keys), strict=True))
        motions = {k: m for k, (m, _) in fits.items()}
        inner = sample_points(interior, levels=2, max_samples=SAMPLES)
        outline = sample_points(fit_region, levels=2, max_samples=SAMPLES) if not inverses else None
        motions, refused = refine_motions(cache, motions, inner, pool=pool, passes=pair_passes, outline=outline)
        stride = max(1.0, float(np.ceil(np.sqrt(interior.sum() / SAMPLES))))
        inflation = max(1.0, 4.0 * np.pi * SMOOTH_SIGMA**2 / stride**2)
        face_pts = np.stack([xs, ys], axis=1).astype(np.float64)[:: max(1, len(xs) // SAMPLES)] * f + (f - 1) / 2
        face_pts += (x0, y0)
        checks = _Checks(
            box,
            face_pts,
            region,
            inner[:1],
            inflation,
            f,
            mode,
            flow_px,
            min_px,
            significance,
            (h, w),
            files,
            in_place,
            window,
            resample_spline(inverses),
        )
        results = list(
            pool.map(lambda k: _finish(k, frames.images[k], motions, fits[k][1], cache, checks, refused.get(k)), keys)
        )
    finally:
        pool.shutdown()
    images = {k: img for k, img, _ in results}
    report.frames = [fa for _, _, fa in results]
    saturated = frames.saturated
    moved = [fa.displacement_px for fa in report.frames if fa.method in ("rigid", "flow")]
    if moved and saturated.any():  # saturation is known per camera only: grow it by the motion
        r = int(np.ceil(max(moved))) + 1
        saturated = cv2.dilate(saturated.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    if moved:  # pixels whose source lies outside some frame are excluded like saturated ones
        outside = np.zeros((h, w), bool)
        for fa in report.frames:
            if fa.method in ("rigid", "flow"):
                outside_frame(fa.motion.matrix(w, h), w, h, margin=2.0 + 2.0 * (fa.method == "flow"), out=outside)
        if outside.any():
            report.outside = int(np.count_nonzero(outside & upsample_mask(region, f, (h, w), window) & ~saturated))
        saturated = saturated | outside
    report.seconds = time.perf_counter() - t0
    report.work_scale = f
    report.box = box
    log.info("%s: aligned %d frame(s) (%s) in %.2f s", frames.camera, len(moved), mode, report.seconds)
    return CameraFrames(camera=frames.camera, images=images, saturated=saturated, stats=frames.stats), report


def _working_frame(ref: np.ndarray, mask: np.ndarray | None) -> tuple[int, tuple[int, int, int, int]]:
    """The box-averaging factor of the alignment's working images, from the face's extent (the
    mask's, else the bright pixels' on a coarse copy of the reference), and the window of the
    frames they cover (:func:`~id2reflectance.processing.solve.align_work.face_window`)."""
    if mask is None or not mask.any():
        c = work_factor(max(ref.shape[:2]))
        y = luminance(downsample(ref, c))
        mask, scale = y > 0.05 * float(np.percentile(y, 99.5)), c
    else:
        scale = 1
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))  # no full-size index arrays
    h, w = ref.shape[:2]
    if not len(cols):
        return 1, (0, 0, w, h)
    extent = scale * max(cols[-1] - cols[0], rows[-1] - rows[0])
    f = work_factor(extent)
    box = (scale * cols[0], scale * rows[0], scale * (cols[-1] + 1), scale * (rows[-1] + 1))
    return f, face_window(box, extent, (h, w), f)


@dataclass(frozen=True, eq=False)
class _Checks:
    """What :func:`_finish` needs besides the frame: the face (camera pixels: ``box``, ``face_pts``
    (N, 2); working pixels: ``region``, ``points``), the covariance ``inflation``, the
    working factor ``f`` and the options."""

    box: tuple[float, float, float, float]
    face_pts: np.ndarray
    region: np.ndarray
    points: list[tuple[np.ndarray, np.ndarray]]
    inflation: float
    f: int
    mode: str
    flow_px: float
    min_px: float
    significance: float
    shape: tuple[int, int]
    files: dict[tuple[str, str], str]
    in_place: bool = False
    window: tuple[int, int, int, int] | None = None  # camera pixels the working frames cover (None: all)
    spline: bool = False  # rigid frames resampled with the cubic spline (:func:`resample_spline`)
    flow_smoothing: dict = field(default_factory=dict)  # :func:`_residual_flow`'s, made once per camera


def _finish(
    key: tuple[str, str],
    img: np.ndarray,
    motions: dict[tuple[str, str], np.ndarray],
    ncc: float,
    cache: FeatureCache,
    c: _Checks,
    refused: np.ndarray | None = None,
) -> tuple[tuple[str, str], np.ndarray, FrameAlignment]:
    """Check one frame's fitted motion, decide how to resample it, and resample it (camera resolution).

    ``refused``: the motion :func:`~id2reflectance.processing.solve.align_refine.refine_motions`
    fitted to this cross-polarised frame and replaced by none (it explained too little): the
    frame stays still and its report describes that motion."""
    name = f"{key[0]}_{key[1]}"
    file = c.files.get(key, name)
    h, w = c.shape
    if key == REFERENCE:
        return key, img, FrameAlignment(name, file, Similarity(0.0, 0.0, 0.0, 1.0), 0.0, 0.0, 1.0, "reference", 0.0)
    Mw = motions[key]
    origin = (0, 0) if c.window is None else c.window[:2]
    M = to_camera(Mw, c.f, origin)
    sim = Similarity.from_matrix(M, w, h)
    bx0, by0, bx1, by1 = c.box  # the face's points lie in its box: all inside when its corners are
    q = np.array([[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1]]) @ M[:2, :2].T + M[:2, 2]
    if not ((q >= 0).all() and (q[:, 0] <= w - 1).all() and (q[:, 1] <= h - 1).all()):
        q = c.face_pts @ M[:2, :2].T + M[:2, 2]
    inside_frac = float(np.mean((q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)))
    if not np.isfinite(ncc) or ncc < MIN_NCC or inside_frac < MIN_INSIDE or abs(np.log(sim.scale)) > 0.2:
        raise CaptureError(
            f"{file}: cannot align this frame to the reference {c.files.get(REFERENCE, 'full_cross')} "
            f"(feature correlation {ncc:.2f}, need >= {MIN_NCC}; {100 * inside_frac:.0f}% of the face inside "
            f"the frame, need >= {100 * MIN_INSIDE:.0f}%): another subject, or the face out of frame?"
        )
    disp = sim.max_displacement(c.box, w, h)
    tref, template, frame_pyr = template_reference(key, cache, motions, c.points)
    sigma = c.f * displacement_sigma(tref, frame_pyr, Mw, inflation=c.inflation) if tref.levels else 0.0
    explained = explained_fraction(tref, frame_pyr, Mw) if tref.levels else 0.0
    # a frame that matches its template without motion (to float32 rounding: noise-free frames) has no
    # mismatch a motion could explain: whatever was fitted is the fit's bias, not significant
    matched = bool(tref.levels) and still_mismatch(tref, frame_pyr) < MATCHED_MISMATCH
    # still: a displacement within the fit's precision or noise, or a motion that removes little of
    # the features' mismatch with the template (lighting or noise fitted as motion)
    insignificant = matched or disp < max(c.min_px, c.significance * sigma)
    still = insignificant or explained < MIN_EXPLAINED
    # the residual flow: what a moved frame keeps after the similarity (a frame left as decoded
    # keeps its lighting's and noise's, not motion: not measured, unless the flow is to be applied)
    flow, residual = None, None
    if c.mode == "flow" or not still:
        flow, flow_face = _residual_flow(template, frame_pyr, Mw, c.region, c.flow_smoothing)
        # measured on the flow's own (smooth, at most FLOW_WIDTH wide) grid: as on the enlarged one
        residual = c.f * float(np.median(np.linalg.norm(flow[flow_face], axis=1))) if flow_face.any() else 0.0
    # auto: the flow for a frame that moved and keeps a large residual (a still frame's residual
    # is the lighting's and the noise's, not motion: measured up to 0.8 px on a 128 px face)
    use_flow = c.mode == "flow" or (c.mode == "auto" and not still and residual is not None and residual > c.flow_px)
    if not use_flow and still:
        if refused is not None:  # refused before the parallel frames: report the motion that was fitted
            Mr = to_camera(refused, c.f, origin)
            sim = Similarity.from_matrix(Mr, w, h)
            disp = sim.max_displacement(c.box, w, h)
            sigma = c.f * displacement_sigma(tref, frame_pyr, refused, inflation=c.inflation) if tref.levels else 0.0
            explained = explained_fraction(tref, frame_pyr, refused) if tref.levels else 0.0
            insignificant = matched or disp < max(c.min_px, c.significance * sigma)
        # refused: a motion beyond the fit's precision that explains too little of the mismatch
        spurious = not insignificant and explained < MIN_EXPLAINED
        return key, img, FrameAlignment(name, file, sim, disp, residual, ncc, "none", sigma, explained, spurious)
    if use_flow and flow is not None:
        out = remap_with_flow(
            img,
            M,
            _enlarged(flow, c.region.shape),
            c.region,
            c.f,
            window=c.window,
            box=c.box,
            margin=BOX_MARGIN + disp,
            in_place=c.in_place,
        )
        method = "flow"
    else:
        out = warp_face(img, M, c.box, margin=BOX_MARGIN + disp, in_place=c.in_place, spline=c.spline)
        method = "rigid"
    return key, out, FrameAlignment(name, file, sim, disp, residual, ncc, method, sigma, explained)


def _deviations(displacement: float, sigma: float) -> str:
    """``displacement / sigma`` for a warning: whole numbers, ``>1000`` beyond (a precision near 0)."""
    n = displacement / max(sigma, 1e-12)
    return f"{n:.0f}" if n <= 1000 else ">1000"


def alignment_warnings(camera: str, alignment: CameraAlignment, *, warn_px: float, flow_px: float) -> list[str]:
    """One line per frame that moved more than ``warn_px``, that rigid alignment moved and
    left with a residual above ``flow_px`` without the dense flow, or whose significant fitted
    motion was refused (``[motion_refused]``: it explained too little of the frame's mismatch
    with its lighting-matched template, so the frame was used as decoded; a refused motion that
    fits worse than no motion is no warning: the frame's features say it is still, as on every
    frame of a noisy still capture, and solve.json keeps it); empty when all is well (a frame
    found still keeps the residual of lighting and noise, not of motion)."""
    out = []
    if alignment.outside:
        out.append(
            f"{camera}: {alignment.outside} face pixel(s) come from outside a moved frame (at the image edge), "
            "excluded from the mask and counted as saturated"
        )
    for f in alignment.frames:
        if f.refused and f.explained <= 0.0:
            # the fitted motion fits worse than none: the frame is still as far as its features
            # tell (noise on a still capture: several frames a session); in solve.json, no warning
            continue
        if f.refused:
            m = f.motion
            out.append(
                f"{camera}: [motion_refused] frame {f.file}: a motion of {f.displacement_px:.2f} px was fitted "
                f"(tx {m.tx:+.2f} px, ty {m.ty:+.2f} px, rotation {m.rotation_deg:+.3f} deg, "
                f"{_deviations(f.displacement_px, f.sigma_px)} standard deviations) but it removes "
                + f"only {100 * f.explained:.0f}% of"
                + " the frame's feature mismatch with its lighting-matched template "
                f"(need >= {100 * MIN_EXPLAINED:.0f}%): taken for lighting or noise, the frame is used as decoded; "
                "if the subject did move, this frame is not aligned"
            )
        elif f.displacement_px > warn_px:
            out.append(
                f"{camera}: frame {f.file} moved {f.displacement_px:.2f} px relative to the reference "
                f"(more than align_warn_px = {warn_px:g}); aligned ({f.method}), check the capture"
            )
        if f.residual_px is not None and f.residual_px > flow_px and f.method == "rigid":
            out.append(
                f"{camera}: frame {f.file} keeps a residual motion of {f.residual_px:.2f} px after rigid "
                f"alignment (non-rigid motion?); use --align flow or auto"
            )
    return out
