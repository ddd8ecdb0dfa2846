"""The one resampling of a moved frame onto the reference frame's pixel grid.

A frame moved by a similarity is resampled bicubically (Keys' cubic, ``a = -0.75``, in two
separable compiled passes: :mod:`~id2reflectance.processing.solve.align_cubic`; no dense
coordinate maps) inside the face's bounding box grown by a margin;
the pixels beyond it are background, never solved, and stay as decoded. In place
(:func:`warp_face` with ``in_place=True``, what the solver does) the box is resampled into the
frame itself: no second frame-sized array is allocated (a fresh array's first write costs about
a quarter of a warp in page faults on the shared machine); the compiled passes write each output
row straight into the frame (strips of columns,
:func:`~id2reflectance.processing.solve.align_cubic.warp_box_in_place`: three contiguous channels
per pixel, or an EXR file's view), other layouts go in bands of rows read from the frame's own rows
and written back one band later (two band buffers, no copy of the source rows).
A frame with a residual dense flow is resampled by two compiled passes as well
(:func:`remap_with_flow`, :mod:`~id2reflectance.processing.solve.align_flowwarp`; ``cv2.remap`` from
each band's coordinate maps for other layouts), over the same box in bands of rows.

Pixel coordinates: ``(x = column, y = row)``, ``(0, 0)`` the centre of the top-left pixel;
``M`` (3, 3) maps a reference pixel to the frame pixel it is read from.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from id2reflectance.processing.solve.align_cubic import prefilter_box, warp_box_in_place, warp_rows
from id2reflectance.processing.solve.align_flowwarp import warp_flow_rows

SPLINE_REACH = 6
"""Half width (pixels) of the cubic spline's prefilter as a finite kernel (its taps fall as
``(2 - sqrt 3)^k``: 3.7e-4 of the centre's weight at 6 pixels, renormalised to a unit sum; at 4
pixels the cut left 0.45 % of a near-Nyquist texture's range, at 6 0.03 %)."""
BAND_ROWS = 128
"""Rows of the reference grid resampled per band by the in-place warp (at least twice the motion's reach)."""
_FLAGS = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
COMPILED_FLOW = True
"""A frame with a residual flow is resampled by the compiled passes of
:mod:`~id2reflectance.processing.solve.align_flowwarp` where they apply (``cv2.remap`` from coordinate
maps otherwise, and when False: the tests' reference)."""


def _spline_kernel() -> np.ndarray:
    """(2 K + 1, 1) float32: the inverse of the sampled cubic B-spline ``[1, 4, 1] / 6``,
    ``sqrt(3) z^|k|`` with ``z = sqrt(3) - 2``, cut at ``K`` = :data:`SPLINE_REACH` and summing to 1."""
    z = np.sqrt(3.0) - 2.0
    k = np.sqrt(3.0) * z ** np.abs(np.arange(-SPLINE_REACH, SPLINE_REACH + 1))
    return (k / k.sum()).astype(np.float32).reshape(-1, 1)


_SPLINE_KERNEL = _spline_kernel()


def spline_prefilter(img: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Turn the ``box`` (x0, y0, x1, y1; end exclusive) of ``img`` (H, W, 3) float32, resampled with the
    cubic B-spline's weights (``spline=True`` of the compiled passes), into the interpolating cubic
    spline's values, in place.

    Interpolating with the cubic spline is the B-spline's weights applied to the image's spline
    coefficients, the image filtered by the inverse of ``[1, 4, 1] / 6`` on each axis; for a
    translation (and, to second order in the angle, the small similarities of a moving head) that
    filter commutes with the resampling, so it runs once, on the resampled box (reflected at its edges,
    which lie in the background; one compiled sweep,
    :func:`~id2reflectance.processing.solve.align_cubic.prefilter_box`, OpenCV's ``sepFilter2D`` for
    other layouts). Against Keys' cubic the spline keeps the image's detail at every sub-pixel shift
    (Keys' blurs it by as much as a shift of half a pixel takes), so a moved frame keeps the
    reference frame's sharpness: without inverse patterns, where the first moment is ``2 gradient -
    full``, Keys' blur left albedo texture in the normals (docs/solve.md section 1b).
    """
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0 or prefilter_box(img, box, _SPLINE_KERNEL):  # one compiled sweep, one thread
        return
    # other layouts (an EXR file's channel planes) and tiny boxes: OpenCV on a copy
    view = img[y0:y1, x0:x1]
    out = cv2.sepFilter2D(
        np.ascontiguousarray(view), cv2.CV_32F, _SPLINE_KERNEL, _SPLINE_KERNEL, borderType=cv2.BORDER_REFLECT_101
    )
    view[...] = out


def _grown_box(
    shape: tuple[int, int], box: tuple[float, float, float, float], margin: float
) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0 = max(int(box[0] - margin), 0), max(int(box[1] - margin), 0)
    x1, y1 = min(int(np.ceil(box[2] + margin)) + 1, w), min(int(np.ceil(box[3] + margin)) + 1, h)
    return x0, y0, x1, y1


def _shifted(M: np.ndarray, x0: float, y0: float, src_y0: float = 0.0) -> np.ndarray:
    """(2, 3) ``M`` for output pixels counted from ``(x0, y0)`` and source rows from ``src_y0``."""
    out = M[:2] @ np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    out[1, 2] -= src_y0
    return out


def warp_face(
    img: np.ndarray,
    M: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    margin: float,
    in_place: bool = False,
    spline: bool = False,
) -> np.ndarray:
    """``img`` (H, W, C) float32 resampled bicubically through ``M`` inside the face's ``box``
    (x0, y0, x1, y1; camera pixels) grown by ``margin``; the pixels beyond it (background, never
    solved) are kept as they are.

    ``in_place``: ``img`` itself is overwritten and returned (bands of :data:`BAND_ROWS` rows,
    top to bottom, each written one band after it was resampled, so that every row a band reads
    is still as decoded); else a new array (the same values). Three float32 channels whose pixels
    are contiguous (any row stride) are resampled by the separable compiled cubic
    (:func:`~id2reflectance.processing.solve.align_cubic.warp_rows`: exact float64 positions), other
    layouts by ``cv2.warpAffine`` (bicubic; source positions rounded to 1/32 px). ``spline``: the
    compiled passes interpolate with the cubic spline instead of Keys' cubic (:func:`spline_prefilter`;
    what the solver's alignment uses); the other layouts stay Keys'.
    """
    h, w = img.shape[:2]
    x0, y0, x1, y1 = _grown_box((h, w), box, margin)
    return _warp_in_place(img if in_place else img.copy(), M, (x0, y0, x1, y1), spline=spline)


def _warp_in_place(
    img: np.ndarray, M: np.ndarray, box: tuple[int, int, int, int], *, spline: bool = False
) -> np.ndarray:
    """:func:`warp_face` in place over ``box`` (x0, y0, x1, y1; end exclusive): by
    :func:`~id2reflectance.processing.solve.align_cubic.warp_box_in_place` where it applies, else in
    bands of rows.

    Each band is resampled from the frame's own rows (a view: no copy of the source) into one of
    two band buffers, and written into the frame only after the next band has been resampled:
    a band reads at most ``reach`` rows beyond its own, fewer than a band's height, so every row
    it reads is still as decoded when it is read.
    """
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return img
    if warp_box_in_place(img, M, box, spline=spline):  # strips written straight into the frame
        if spline:
            spline_prefilter(img, box)
        return img
    # how far (rows) a reference pixel of the box reads from its own row, plus the cubic's taps
    reach = int(np.ceil(_row_shift(M, box))) + 3
    compiled = [True]

    def resample(r: int, e: int, lo: int, hi: int, band: np.ndarray) -> None:
        compiled[0] &= _warp_band(img[lo:hi], lo, M, x0, r, band, spline=spline)

    _in_bands(img, box, reach, resample)
    if spline and compiled[0]:  # OpenCV's fallback (other layouts) stays Keys' cubic
        spline_prefilter(img, box)
    return img


def _warp_band(
    src: np.ndarray, lo: int, M: np.ndarray, x0: int, r: int, band: np.ndarray, *, spline: bool = False
) -> bool:
    """Resample ``band`` (rows from ``r``, columns from ``x0`` of the aligned frame) from ``src``,
    the frame's rows from ``lo``: by the compiled passes (``spline``: the B-spline's weights, to be
    prefiltered), or by OpenCV where they do not apply (not three float32 channels of contiguous
    pixels; Keys' cubic). Returns whether the compiled passes ran."""
    if warp_rows(src, lo, M, x0, r, band, spline=spline):
        return True
    cv2.warpAffine(
        src,
        _shifted(M, x0, r, lo),
        (band.shape[1], band.shape[0]),
        dst=band,
        flags=_FLAGS,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return False


def _row_shift(M: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The largest vertical displacement (rows) ``M`` gives a corner of ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    corners = np.array([[x, y, 1.0] for x in (x0, x1 - 1) for y in (y0, y1 - 1)])
    return float(np.max(np.abs(corners @ M[1] - corners[:, 1])))


def _in_bands(
    out: np.ndarray,
    box: tuple[int, int, int, int],
    reach: int,
    resample: Callable[[int, int, int, int, np.ndarray], None],
) -> np.ndarray:
    """``out``'s ``box`` (x0, y0, x1, y1; end exclusive) filled in bands of at least
    :data:`BAND_ROWS` and ``2 reach`` rows: ``resample(r, e, lo, hi, band)`` writes rows ``r:e``
    into ``band`` reading source rows ``lo:hi`` (``reach`` beyond its own), and each band goes into
    ``out`` only after the next one was resampled, so that a source that is ``out`` itself is still
    as decoded wherever a band reads it. Returns ``out``."""
    x0, y0, x1, y1 = box
    rows = max(BAND_ROWS, 2 * reach)
    buffers = [np.empty((rows, x1 - x0) + out.shape[2:], out.dtype) for _ in range(2)]
    pending = None  # (first row, last row + 1, buffer) of the band resampled last, not yet written
    for i, r in enumerate(range(y0, y1, rows)):
        e = min(r + rows, y1)
        band = buffers[i % 2][: e - r]
        resample(r, e, max(r - reach, 0), min(e + reach, out.shape[0]), band)
        if pending is not None:
            out[pending[0] : pending[1], x0:x1] = pending[2]
        pending = (r, e, band)
    if pending is not None:
        out[pending[0] : pending[1], x0:x1] = pending[2]
    return out


def outside_frame(M: np.ndarray, w: int, h: int, *, margin: float, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool reference pixels that ``M`` maps within ``margin`` pixels of the frame's edge or beyond.

    Only a band along the image's edges can be affected (as wide as the largest
    displacement of a corner plus the margin), so only that band is evaluated. ``out``: an (H, W) bool
    array those pixels are added to (OR; returned), instead of a new one (a camera's frames into one mask:
    no frame-sized array and pass per frame).
    """
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    reach = float(np.max(np.linalg.norm(corners @ M[:2, :2].T + M[:2, 2] - corners, axis=1)))
    k = int(min(np.ceil(reach + margin + 1), max(w, h)))
    if out is None:
        out = np.zeros((h, w), bool)
    strips = [(slice(0, k), slice(None)), (slice(max(h - k, 0), h), slice(None))]
    strips += [(slice(None), slice(0, k)), (slice(None), slice(max(w - k, 0), w))]
    for rows, cols in strips:
        ys = np.arange(h, dtype=np.float64)[rows][:, None]
        xs = np.arange(w, dtype=np.float64)[cols][None, :]
        qx = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
        qy = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
        out[rows, cols] |= (qx < margin) | (qx > w - 1 - margin) | (qy < margin) | (qy > h - 1 - margin)
    return out


def remap_with_flow(
    img: np.ndarray,
    M: np.ndarray,
    flow: np.ndarray,
    region: np.ndarray,
    scale: int,
    *,
    window: tuple[int, int, int, int] | None = None,
    box: tuple[float, float, float, float] | None = None,
    margin: float = 0.0,
    in_place: bool = False,
) -> np.ndarray:
    """Resample ``img`` once through the similarity ``M`` plus the residual ``flow`` inside the face.

    ``flow`` (h, w, 2) is in the rigidly aligned frame's working coordinates (``region``'s
    grid, ``scale`` camera pixels per working pixel; ``M`` in camera pixels): reference
    pixel x matches aligned pixel x + flow(x), i.e. frame pixel M (x + flow(x)). ``window``
    (x0, y0, x1, y1): the camera pixels the working grid covers (default the whole frame); no
    flow beyond it. Only the face's ``box`` (x0, y0, x1, y1; camera pixels; default the whole
    frame) grown by ``margin`` is resampled, in bands of rows (Keys' cubic: the compiled passes of
    :func:`~id2reflectance.processing.solve.align_flowwarp.warp_flow_rows`, float64 positions, for three
    contiguous float32 channels per pixel while :data:`COMPILED_FLOW`; else ``cv2.remap`` from the
    coordinate maps of one band at a time), as :func:`warp_face`: the pixels beyond stay as decoded;
    ``in_place`` writes into ``img`` (each band one band late, so that every row a band reads is
    still as decoded), else into a copy.
    """
    h, w = img.shape[:2]
    wx0, wy0, wx1, wy1 = window or (0, 0, w, h)
    weight = cv2.GaussianBlur(
        (cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0).astype(np.float32), (0, 0), 3.0
    )
    f = cv2.GaussianBlur(flow, (0, 0), 1.5) * weight[..., None]  # working grid
    x0, y0, x1, y1 = (0, 0, w, h) if box is None else _grown_box((h, w), box, margin)
    out = img if in_place else img.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    A = M[:2, :2].astype(np.float32)
    t = M[:2, 2].astype(np.float32)
    reach = int(np.ceil(_row_shift(M, (x0, y0, x1, y1)) + scale * float(np.abs(f).max()))) + 4
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    compiled = COMPILED_FLOW

    def resample(r: int, e: int, lo: int, hi: int, band: np.ndarray) -> None:
        if compiled and warp_flow_rows(img[lo:hi], lo, M, f, scale, (wx0, wy0, wx1, wy1), x0, r, band):
            return  # the two compiled passes (three contiguous float32 channels per pixel)
        # other layouts: the flow on this band's camera pixels: camera x = scale x_w + (scale - 1) / 2 + window origin
        # (bilinear, as a resize of the working grid to the window's camera size), 0 beyond the window
        S = np.array(
            [[1.0 / scale, 0.0, (x0 - wx0 + 0.5) / scale - 0.5], [0.0, 1.0 / scale, (r - wy0 + 0.5) / scale - 0.5]]
        )
        fb = cv2.warpAffine(
            f, S, (x1 - x0, e - r), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        fb *= np.float32(scale)
        cols = (np.arange(x0, x1) >= wx0) & (np.arange(x0, x1) < wx1)
        fb[:, ~cols] = 0.0
        fb[(np.arange(r, e) < wy0) | (np.arange(r, e) >= wy1)] = 0.0
        px = xs + fb[..., 0]
        py = np.arange(r, e, dtype=np.float32)[:, None] + fb[..., 1]
        mx = A[0, 0] * px + A[0, 1] * py + t[0]
        my = A[1, 0] * px + A[1, 1] * py + (t[1] - np.float32(lo))
        cv2.remap(img[lo:hi], mx, my, cv2.INTER_CUBIC, dst=band, borderMode=cv2.BORDER_REPLICATE)

    return _in_bands(out, (x0, y0, x1, y1), reach, resample)
