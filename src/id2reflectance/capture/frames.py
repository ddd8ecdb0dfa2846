"""Load a camera's frames decoded, dark-subtracted, scaled and colour-corrected.

For a frame ``F`` with dark frame ``Dk`` of the same camera and polarisation, the linear
value is ``(decode(F) - decode(Dk)) * F.scale``, then ``rig.color_matrix`` (camera RGB to
linear Rec.709) when given. Saturation is detected on the decoded values before any of
that: integer encodings at their maximum code, float EXR at a plateau at the frame's max.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from id2reflectance._shared.imageio import check_image_header, read_frame, read_mask
from id2reflectance._shared.pages import mapped_empty
from id2reflectance.capture.session import Frame, Session
from id2reflectance.errors import InputFileError

T = TypeVar("T")
_CHECK_BAND_ELEMENTS = 1 << 20  # values compared per band by the frame checks (a 1 MB bool buffer)


@dataclass(frozen=True)
class FrameStats:
    """Per-frame statistics for validation and reports (values after decoding)."""

    file: str
    saturated: int  # pixels with any channel saturated
    p001: float  # 0.1th percentile of positive luminance
    p999: float  # 99.9th percentile of luminance
    max: float

    @property
    def dynamic_range_stops(self) -> float:
        """log2(p99.9 / p0.1) of positive luminance, 0 when undefined."""
        if self.p001 <= 0 or self.p999 <= 0:
            return 0.0
        return float(np.log2(self.p999 / self.p001))


def _band_rows(w: int, c: int) -> int:
    """Rows per band of the frame checks (about ``_CHECK_BAND_ELEMENTS`` values: in cache)."""
    return max(1, _CHECK_BAND_ELEMENTS // max(1, w * c))


def _band_extremes(img: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Minimum and maximum of ``img`` (H, W, C) and the maximum of each band of
    :func:`_band_rows` rows (three numpy calls on a C-contiguous image: few GIL hand-overs
    while a side thread runs Python; band by band on a strided one, e.g. a view of a file,
    which a reshape would copy). NaN propagates to the minimum and the maximum."""
    h, w, c = img.shape
    rows = _band_rows(w, c)
    whole = h // rows
    highs = np.empty(-(-h // rows), img.dtype)
    if not img.flags.c_contiguous:
        lows = np.empty_like(highs)
        for b, r0 in enumerate(range(0, h, rows)):
            lows[b], highs[b] = img[r0 : r0 + rows].min(), img[r0 : r0 + rows].max()
        return float(lows.min()), float(highs.max()), highs
    flat = img.reshape(h, w * c)
    if whole:
        highs[:whole] = flat[: whole * rows].reshape(whole, -1).max(axis=1)
    if whole < len(highs):
        highs[whole] = flat[whole * rows :].max()
    return float(img.min()), float(highs.max()), highs


def _any_channel_at_least(img: np.ndarray, threshold: float, band_max: np.ndarray | None = None) -> np.ndarray | None:
    """(H, W) bool: any channel of ``img`` (H, W, C) >= ``threshold``; None when no pixel is.

    Compared band by band of rows into one small reused buffer (no image-sized temporary:
    fresh memory costs page faults; ``img`` may be strided, e.g. a view of a file); the
    per-pixel reduction runs only on bands with a hit.
    ``band_max`` (each band's maximum, :func:`_band_extremes`): bands below the threshold
    are not compared at all.
    """
    h, w, c = img.shape
    thr = np.asarray(threshold, img.dtype)
    rows = _band_rows(w, c)
    ge = np.empty((min(rows, h), w, c), bool)
    out: np.ndarray | None = None
    for b, r0 in enumerate(range(0, h, rows)):
        if band_max is not None and not band_max[b] >= thr:
            continue
        band = img[r0 : r0 + rows]
        hit = ge[: band.shape[0]]
        np.greater_equal(band, thr, out=hit)
        if not hit.any():
            continue
        if out is None:
            out = np.zeros((h, w), bool)
        dst = out[r0 : r0 + band.shape[0]]
        for ch in range(c):
            dst |= hit[..., ch]
    return out


def saturation_mask(
    img: np.ndarray, frame: Frame, *, peak: float | None = None, band_max: np.ndarray | None = None
) -> np.ndarray:
    """(H, W) bool: pixels clipped by the sensor or the encoding.

    ``img`` : (H, W, 3) float32 decoded values (before dark, scale and colour matrix).
    Integer encodings saturate at their maximum code (1.0); a linear EXR at a plateau of
    at least ``max(4, 1e-5 * H * W)`` pixels at the frame's maximum (``peak``, the
    maximum of ``img`` when the caller already has it; ``band_max``: its bands' maxima,
    :func:`_band_extremes`, so that only the bands reaching the threshold are compared).
    """
    sat = _saturated_or_none(img, frame, peak=peak, band_max=band_max)
    return np.zeros(img.shape[:2], bool) if sat is None else sat


def _saturated_or_none(
    img: np.ndarray, frame: Frame, *, peak: float | None = None, band_max: np.ndarray | None = None
) -> np.ndarray | None:
    """:func:`saturation_mask`, None when no pixel is saturated (no image-sized array of
    zeros: fresh memory costs a page fault per 4 KiB)."""
    if frame.encoding != "linear" or not frame.file.lower().endswith(".exr"):
        return _any_channel_at_least(img, 1.0 - 1e-6, band_max)
    if peak is None:
        peak = float(img.max()) if img.size else 0.0
    if peak <= 0:
        return None
    at_peak = _any_channel_at_least(img, peak * (1 - 1e-6), band_max)
    return at_peak if at_peak is not None and np.count_nonzero(at_peak) >= max(4, int(1e-5 * at_peak.size)) else None


def decode_frame(session: Session, frame: Frame, index: int | None = None) -> np.ndarray:
    """Decode one frame and check it against its camera: (H, W, 3) float32, no correction."""
    return _decode_checked(session, frame, index)[0]


def _decode_checked(session: Session, frame: Frame, index: int | None) -> tuple[np.ndarray, float, np.ndarray | None]:
    """:func:`decode_frame`, the frame's maximum (0 when empty) and its bands' maxima
    (:func:`_band_extremes`; None when empty).

    The finite check is the minimum and maximum (NaN propagates through both, +Inf is the
    maximum, -Inf the minimum): reductions without an image-sized temporary; the maximum
    is the saturation check's peak, and the bands' maxima spare that check every band
    below its threshold (on a frame without a plateau, all but one: a pass over the frame
    fewer); the bad pixels are counted only for the error.
    """
    path = session.path(frame.file)
    field = f"frames[{index}].file" if index is not None else "file"
    cam = session.cameras[frame.camera]
    try:
        if path.is_file():  # the header's size first: a hostile header is refused undecoded
            check_image_header(path, (cam.height, cam.width), what=f"camera '{cam.name}'")
        img, extremes = read_frame(path, frame.encoding, band_rows=_band_rows(cam.width, 3))
    except InputFileError as err:
        raise InputFileError(frame.file, field, err.message) from err
    if img.shape[:2] != (cam.height, cam.width):
        raise InputFileError(
            frame.file, field, f"is {img.shape[1]}x{img.shape[0]} but camera '{cam.name}' is {cam.width}x{cam.height}"
        )
    if not img.size:
        return img, 0.0, None
    lo, hi, band_max = extremes if extremes is not None else _band_extremes(img)  # taken by the reader: free
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int((~np.isfinite(img)).any(axis=2).sum())
        raise InputFileError(frame.file, field, f"contains NaN or Inf in {bad} pixel(s)")
    return img, hi, band_max


def frame_stats(frame: Frame, img: np.ndarray, saturated: np.ndarray) -> FrameStats:
    """Statistics of one decoded frame."""
    lum = img @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    pos = lum[lum > 0]
    p001 = float(np.percentile(pos, 0.1)) if pos.size else 0.0
    p999 = float(np.percentile(lum, 99.9)) if lum.size else 0.0
    return FrameStats(frame.file, int(saturated.sum()), p001, p999, float(img.max()) if img.size else 0.0)


@dataclass
class CameraFrames:
    """Corrected frames of one camera.

    images : {(pattern, polarization): (H, W, 3) float32 linear Rec.709 radiance}
        Dark frames are consumed (subtracted) and not included.
    saturated : (H, W) bool, any frame saturated at that pixel.
    stats : {file: FrameStats} of the non-dark frames when loaded with ``stats=True``,
        else empty.
    """

    camera: str
    images: dict[tuple[str, str], np.ndarray]
    saturated: np.ndarray
    stats: dict[str, FrameStats]


def load_camera_frames(
    session: Session, camera: str, *, color: bool = True, stats: bool = False, workers: int = 1
) -> CameraFrames:
    """Load every frame of ``camera``: decode, subtract dark, scale, colour-correct.

    Parameters
    ----------
    session : a loaded session.
    camera : the camera's name.
    color : apply ``rig.color_matrix`` when the rig has one.
    stats : also compute :func:`frame_stats` per non-dark frame into
        ``CameraFrames.stats`` (percentiles: about as long as the decode itself; the
        solver does not need them, ``validate_session`` computes its own).
    workers : frames decoded and corrected concurrently (threads: the decoders and numpy
        release the GIL); the result does not depend on it. On a bad frame the error names
        the first bad frame in session order, as with one worker.

    Memory: one float32 (H, W, 3) array per non-dark frame plus up to ``workers``
    transient decodes. An uncompressed float32 EXR frame is a view of its file
    (``exr_plain.file_view``: the page cache's pages, no copy; writable, copy on write)
    unless it is corrected (dark frame, scale, colour matrix), which makes it an array of
    its own.
    """
    index = {f: i for i, f in enumerate(session.frames)}
    cam = session.cameras[camera]
    own = [f for f in session.frames if f.camera == camera]
    M = session.rig.color_matrix
    mt = None if not color or M is None else M.T.astype(np.float32)

    def run(fn: Callable[[Frame], T], items: list[Frame]) -> list[T]:
        if workers <= 1 or len(items) <= 1:
            return [fn(f) for f in items]
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            return list(pool.map(fn, items))

    dark_frames = [f for f in own if f.pattern == "dark"]
    darks = dict(
        zip(
            (f.polarization for f in dark_frames),
            run(lambda f: decode_frame(session, f, index[f]), dark_frames),
            strict=True,
        )
    )

    def lit(f: Frame) -> tuple[np.ndarray, np.ndarray | None, FrameStats | None]:
        img, peak, band_max = _decode_checked(session, f, index[f])
        sat = _saturated_or_none(img, f, peak=peak, band_max=band_max)
        fs = frame_stats(f, img, np.zeros(img.shape[:2], bool) if sat is None else sat) if stats else None
        if (f.polarization in darks or f.scale != 1.0) and not img.flags.c_contiguous:
            # a view of the file (copy on write): corrected in memory of its own, mapped up front,
            # not copied page by page on the first write of each
            img = _own_copy(img)
        if f.polarization in darks:
            img -= darks[f.polarization]
        if f.scale != 1.0:
            img *= np.float32(f.scale)
        if mt is not None:
            img = (img.reshape(-1, 3) @ mt).reshape(img.shape)
        return img, sat, fs

    lit_frames = [f for f in own if f.pattern != "dark"]
    saturated = np.zeros((cam.height, cam.width), bool)
    images: dict[tuple[str, str], np.ndarray] = {}
    per_frame: dict[str, FrameStats] = {}
    for f, (img, sat, fs) in zip(lit_frames, run(lit, lit_frames), strict=True):
        if sat is not None:
            saturated |= sat
        if fs is not None:
            per_frame[f.file] = fs
        images[(f.pattern, f.polarization)] = img
    return CameraFrames(camera=camera, images=images, saturated=saturated, stats=per_frame)


def _own_copy(img: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``img`` in memory mapped up front (one kernel call, not a fault per page)."""
    out = mapped_empty(img.shape, np.float32)
    np.copyto(out, img)
    return out


def load_mask(session: Session, camera: str) -> np.ndarray | None:
    """The optional foreground mask ``masks/<camera>.png``: (H, W) bool or None."""
    path = session.root / "masks" / f"{camera}.png"
    if not path.exists():
        return None
    try:
        m = read_mask(path)
    except InputFileError as err:
        raise InputFileError(f"masks/{camera}.png", None, err.message) from err
    cam = session.cameras[camera]
    if m.shape != (cam.height, cam.width):
        raise InputFileError(
            f"masks/{camera}.png",
            None,
            f"is {m.shape[1]}x{m.shape[0]} but camera '{camera}' is {cam.width}x{cam.height}",
        )
    return m


def session_relpath(session: Session, path: Path) -> str:
    """A path shown relative to the session folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(session.root.resolve()))
    except ValueError:
        return str(path)
