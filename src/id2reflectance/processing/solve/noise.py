"""Sensor noise of a camera's frames: a Poisson-Gaussian model estimated per frame.

A linear sensor's noise variance grows with the signal: ``var(x) = gain * x + read ** 2``
(shot noise with ``gain`` in the frame's units per electron, and Gaussian read noise of
standard deviation ``read``). Both are estimated per frame, in the corrected frame's units
(after dark subtraction and ``scale``):

* **from the image** (:func:`estimate_frame_noise`): a high-pass that removes the signal
  up to its second derivatives (the separable kernel ``[1, -2, 1] x [1, -2, 1] / 6``,
  which keeps the variance of white noise) against the local level (3 x 3 mean), both
  per colour channel. Pixels are binned by level; in each bin the noise standard
  deviation is ``1.4826 * median(|high-pass|)`` over the flattest quarter of the bin's pixels
  (those whose 5 x 5 neighbourhood has the smallest high-pass energy, so that texture and
  edges do not count as noise; the narrowing this selection causes on white noise is
  undone by a factor measured once on white noise); a weighted non-negative least-squares
  fit of ``(level, sigma ** 2)`` by ``gain * level + read ** 2 + texture * level ** 2`` gives
  ``gain`` and ``read ** 2`` (what texture the flattest pixels keep scales with the level:
  the ``level ** 2`` term takes it, and is left out of the model);
* **from dark frames** when the camera has them: the dark frame holds only read noise, so
  its robust standard deviation gives ``read`` (doubled in variance: subtracting the dark
  frame adds its noise to every frame); the image fit then only estimates ``gain``
  (per frame, and on the complementary patterns' residual, where the one dark frame
  subtracted from all three frames counts once).

The noise is white after the pixel's footprint (the sensor adds it to the integrated
signal): the estimate reads it on band-limited frames (a real camera's pixel area and lens
blur) as on point-sampled ones. Its units are the corrected frame's: the stored noise times
the frame's ``scale`` (docs/solve.md section 1c, "Noise").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from id2reflectance.capture.frames import decode_frame
from id2reflectance.capture.session import Session

__all__ = [
    "FrameNoise",
    "camera_noise",
    "dark_read_noise",
    "estimate_frame_noise",
    "highpass",
    "pattern_noise",
    "sensor_noise",
]

_MAD = 1.4826  # standard deviation per median absolute deviation of a Gaussian
_FLAT = 0.25  # fraction of each level bin, the flattest, that measures the noise
TILE = 32  # pixels, side of the tiles large frames are measured on
SEAM = 3  # pixels: the 5 x 5 energy of the 3 x 3 high-pass reaches this far across a tile's seam
_KERNEL = np.array([1.0, -2.0, 1.0], np.float32) / np.float32(np.sqrt(6.0))  # separable, unit noise gain


@dataclass(frozen=True)
class FrameNoise:
    """Noise model of one frame: ``var(x) = gain * x + read ** 2`` (corrected frame units).

    Attributes
    ----------
    gain : shot-noise variance per unit of signal (relative radiance), >= 0.
    read : signal-independent standard deviation (relative radiance), >= 0.
    source : ``"image"`` (both from the frame) or ``"dark"`` (``read`` from dark frames).
    """

    gain: float
    read: float
    source: Literal["image", "dark"] = "image"

    def sigma(self, level: np.ndarray | float) -> np.ndarray:
        """Noise standard deviation at signal ``level`` (same units, any shape)."""
        return np.sqrt(self.gain * np.maximum(np.asarray(level, np.float64), 0.0) + self.read**2)

    def to_json(self) -> dict[str, float | str]:
        return {"gain": float(self.gain), "read": float(self.read), "source": self.source}


def highpass(img: np.ndarray) -> np.ndarray:
    """Second-difference high-pass of each channel, unit gain for white noise.

    Parameters
    ----------
    img : (H, W) or (H, W, C) float32.

    Returns
    -------
    Same shape, float32: zero on any locally quadratic signal; for white noise of standard
    deviation ``s`` its standard deviation is ``s``.
    """
    src = np.ascontiguousarray(img, np.float32)
    return cv2.sepFilter2D(src, cv2.CV_32F, _KERNEL, _KERNEL, borderType=cv2.BORDER_REFLECT)


def _robust_sigma(x: np.ndarray) -> float:
    return float(_MAD * _median(np.abs(x))) if x.size else 0.0


def _median(x: np.ndarray) -> np.floating:
    """``np.median`` of a finite array, flattened (the same value): one partition, without its per-call overhead.

    The fits take medians and quantiles of a few thousand values per level bin; numpy's
    general functions spend most of their time on argument handling there.
    """
    n = x.size
    k = n // 2
    if n % 2:
        return np.partition(x, k, axis=None)[k]
    part = np.partition(x, (k - 1, k), axis=None)
    return part[k - 1 : k + 1].mean()  # as np.median: the mean of the two middle values, in x's dtype


def _quantile(x: np.ndarray, q: float) -> np.floating:
    """``np.quantile(x, q)`` (method ``"linear"``, the same value) of a finite array, flattened, ``q`` in [0, 1]."""
    n = x.size
    v = (n - 1) * q
    lo = int(np.floor(v))
    hi = min(lo + 1, n - 1)
    part = np.partition(x, (lo, hi), axis=None)
    a, b = part[lo], part[hi]
    g = v - lo
    d = b - a
    return b - d * (1.0 - g) if g >= 0.5 else a + d * g  # numpy's _lerp, weak Python floats as there


def dark_read_noise(dark: np.ndarray) -> float:
    """Read-noise standard deviation of a dark frame ``(H, W, 3)`` float32 (decoded units)."""
    return _robust_sigma(highpass(dark)[::2, ::2])


def estimate_frame_noise(
    img: np.ndarray,
    *,
    read: float | None = None,
    bins: int = 24,
    max_samples: int = 1 << 16,
    max_pixels: int = 1 << 16,
) -> FrameNoise:
    """Poisson-Gaussian noise model of one corrected frame.

    Parameters
    ----------
    img : (H, W, 3) float32, linear relative radiance (dark-subtracted, scaled).
    read : the read-noise standard deviation when known (from dark frames); then only
        ``gain`` is fitted and ``source`` is ``"dark"``.
    bins : signal-level bins of the fit (quantiles of the level).
    max_samples : at most this many pixel samples (evenly strided) enter the fit.
    max_pixels : larger frames are measured on evenly spread tiles of ``TILE`` x ``TILE``
        pixels holding about this many pixels (:func:`_tiles`; the cost does not grow with
        the frame).

    Returns
    -------
    FrameNoise with ``gain`` and ``read`` in the frame's units.
    """
    img, tile = _tiles(img, max_pixels)
    img = np.ascontiguousarray(img, np.float32)
    hp = highpass(img)
    level = cv2.blur(img, (3, 3), borderType=cv2.BORDER_REFLECT)
    energy = cv2.blur(hp * hp, (5, 5), borderType=cv2.BORDER_REFLECT)
    step = max(1, int(np.ceil(np.sqrt(img.size / max_samples))))
    sl = _samples(img.shape[:2], step, tile)
    h, lv, en = hp[sl].ravel(), level[sl].ravel(), energy[sl].ravel()
    ok = np.isfinite(h) & np.isfinite(lv)
    h, lv, en = h[ok], lv[ok], en[ok]
    return _fit(h, lv, en, read=read, bins=bins)


def _fit(
    h: np.ndarray,
    lv: np.ndarray,
    en: np.ndarray,
    *,
    read: float | None,
    bins: int,
    reads: float = 1.0,
    texture: bool = True,
) -> FrameNoise:
    """Fit ``sigma(h)^2 = gain * lv + reads * read^2 + t * lv^2`` over equal-count level bins (flattest pixels).

    Texture the flattest pixels still hold scales with the level (albedo and shading
    multiply the light): its high-pass variance grows as ``lv^2``, shot noise as ``lv``.
    The non-negative coefficients are fitted together (:func:`_nonnegative_lstsq`) and the
    texture term ``t`` left out of the model: fitted as a line, the texture steepened it
    (gain 1.3x the sensor's on the simulator's 128 px heads' frames, up to 3.4x on one
    frame; the read noise then pushed towards 0). ``texture=False`` (a residual that holds
    no signal, :func:`pattern_noise`): no such term, which would only take some of the
    shot noise's variance.
    """
    source: Literal["image", "dark"] = "image" if read is None else "dark"
    if h.size < 64:
        return FrameNoise(0.0, 0.0 if read is None else read, source)
    order = _stable_order(lv)  # equal-count level bins
    xs, ys, ws = [], [], []
    for idx in np.array_split(order, bins):
        if idx.size < 32:
            continue
        hb, eb = h[idx], en[idx]
        flat = hb[eb <= _quantile(eb, _FLAT)]  # the flattest pixels: texture and edges excluded
        xs.append(float(_median(lv[idx])))
        ys.append((_robust_sigma(flat) * _FLAT_HALF_BIAS) ** 2)  # undo the flat selection's narrowing
        ws.append(idx.size)
    x, y, w = np.asarray(xs), np.asarray(ys), np.sqrt(np.asarray(ws, np.float64))
    cols = [x, np.ones_like(x), x * x] if texture else [x, np.ones_like(x)]
    if read is not None:
        del cols[1]
        gain = _nonnegative_lstsq(np.stack(cols, axis=1) * w[:, None], (y - reads * read**2) * w)[0]
        return FrameNoise(float(gain), float(read), "dark")
    gain, r2 = _nonnegative_lstsq(np.stack(cols, axis=1) * w[:, None], y * w)[:2]
    return FrameNoise(float(gain), float(np.sqrt(r2 / reads)), "image")


def _nonnegative_lstsq(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares ``A x = b`` with ``x >= 0`` for a few columns: the best of the fits on each subset of them.

    ``A`` (n, k) float64 with k <= 3 here (2^k unconstrained fits of a few dozen rows).
    """
    k = A.shape[1]
    best, best_x = float(b @ b), np.zeros(k)  # x = 0
    for mask in range(1, 1 << k):
        cols = [i for i in range(k) if mask >> i & 1]
        sol = np.linalg.lstsq(A[:, cols], b, rcond=None)[0]
        if np.any(sol < 0):
            continue
        x = np.zeros(k)
        x[cols] = sol
        r = float(np.sum((A @ x - b) ** 2))
        if r < best:
            best, best_x = r, x
    return best_x


def _stable_order(x: np.ndarray) -> np.ndarray:
    """``np.argsort(x, kind="stable")`` of a 1-D float32 array, by an unstable sort of unique keys.

    Each key is the value's bits mapped to an order-preserving unsigned integer (-0.0 as
    +0.0, ties kept in index order by the index in the low 32 bits): numpy's vectorised
    integer sort is about 4x faster than the stable (merge) sort of the floats.
    """
    if x.dtype != np.float32 or x.size >= 1 << 32:
        return np.argsort(x, kind="stable")
    bits = (x + np.float32(0.0)).view(np.uint32).astype(np.uint64)
    keys = np.where(bits >> np.uint64(31), ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))
    keys <<= np.uint64(32)
    keys |= np.arange(x.size, dtype=np.uint64)
    keys.sort()
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.intp)


def pattern_noise(
    images: dict[tuple[str, str], np.ndarray],
    *,
    read: float | None = None,
    max_samples: int = 1 << 17,
    max_pixels: int = 1 << 16,
) -> FrameNoise | None:
    """One noise model for a camera from its complementary patterns (None without inverses).

    ``gradient_a + inverse_a - full`` holds no stage signal, only the three frames' noise
    (variance ``gain * 2 full + 3 read^2``) and the ambient light (smooth over a few pixels:
    the high-pass removes it), so texture cannot pass for noise as it can in one frame.
    The six residuals (three axes, two polarisations) are pooled; the level is the local
    mean of ``full``. ``source`` is ``"image"``. Frames over ``max_pixels`` pixels are
    measured on the same evenly spread tiles of each (:func:`_tiles`).

    ``read``: a corrected frame's read noise when the camera has dark frames (``sqrt(2)``
    times the dark frame's, :func:`camera_noise`); then only ``gain`` is fitted and
    ``source`` is ``"dark"``. The one dark frame subtracted from all three frames appears
    once in the residual (``+ - -``): its read variance is ``3 r^2 + r^2 = 2 read^2``, not
    ``3 read^2`` (fitted as ``3 read^2`` it read ``sqrt(2/3)`` of the true read noise).
    """
    pols = [p for p in ("cross", "parallel") if all((f"inverse_{a}", p) in images for a in "xyz")]
    if not pols:
        return None
    hs, lvs, ens = [], [], []
    per = max_samples // (3 * len(pols))
    for pol in pols:
        full, tile = _tiles(images[("full", pol)], max_pixels)
        level = 2.0 * cv2.blur(full, (3, 3), borderType=cv2.BORDER_REFLECT)
        for a in "xyz":
            e = (
                _tiles(images[(f"gradient_{a}", pol)], max_pixels)[0]
                + _tiles(images[(f"inverse_{a}", pol)], max_pixels)[0]
            )
            e -= full
            hp = highpass(e)
            en = cv2.blur(hp * hp, (5, 5), borderType=cv2.BORDER_REFLECT)
            step = max(1, int(np.ceil(np.sqrt(e.size / per))))
            sl = _samples(e.shape[:2], step, tile)
            hs.append(hp[sl].ravel())
            lvs.append(level[sl].ravel())
            ens.append(en[sl].ravel())
    h, lv, en = np.concatenate(hs), np.concatenate(lvs), np.concatenate(ens)
    return _fit(h, lv, en, read=read, bins=24, reads=3.0 if read is None else 2.0, texture=False)


def _flat_half_bias() -> float:
    """Factor undoing the selection of the flatter half (computed once on white noise)."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((256, 256)).astype(np.float32)
    hp = highpass(noise)
    en = cv2.blur(hp * hp, (5, 5), borderType=cv2.BORDER_REFLECT)
    hp, en = hp[2:-2, 2:-2].ravel(), en[2:-2, 2:-2].ravel()
    return float(np.std(hp) / _robust_sigma(hp[en <= np.quantile(en, _FLAT)]))


_FLAT_HALF_BIAS = _flat_half_bias()


def _row_blocks(img: np.ndarray, max_pixels: int, block: int = 32) -> np.ndarray:
    """Evenly spaced blocks of ``block`` rows holding at most about ``max_pixels`` pixels."""
    h, w = img.shape[:2]
    if h * w <= max_pixels or h <= 2 * block:
        return img
    n = max(1, max_pixels // (block * w))
    starts = np.linspace(0, h - block, n).astype(int)
    return np.concatenate([img[s : s + block] for s in starts], axis=0)


def _tiles(img: np.ndarray, max_pixels: int, tile: int = TILE) -> tuple[np.ndarray, int | None]:
    """Evenly spread ``tile`` x ``tile`` tiles holding about ``max_pixels`` pixels, side by side.

    Returns the (ny tile, nx tile, ...) mosaic (a copy) and ``tile``; or ``img`` itself and
    None when it holds at most ``max_pixels`` pixels (or is under two tiles a side). The
    same frame shape gives the same tiles. Filters run across the mosaic's seams: sample it
    with :func:`_samples`, which leaves them out.
    """
    h, w = img.shape[:2]
    if h * w <= max_pixels or h < 2 * tile or w < 2 * tile:
        return img, None
    n = max(4, max_pixels // (tile * tile))
    ny = int(min(h // tile, max(2, round(np.sqrt(n * h / w)))))
    nx = int(min(w // tile, max(2, n // ny)))
    out = np.empty((ny * tile, nx * tile, *img.shape[2:]), img.dtype)
    for a, r in enumerate(np.linspace(0, h - tile, ny).astype(np.intp)):
        for b, c in enumerate(np.linspace(0, w - tile, nx).astype(np.intp)):
            out[a * tile : (a + 1) * tile, b * tile : (b + 1) * tile] = img[r : r + tile, c : c + tile]
    return out, tile


def _samples(
    shape: tuple[int, int], step: int, tile: int | None
) -> tuple[np.ndarray, np.ndarray] | tuple[slice, slice]:
    """Rows and columns sampled every ``step`` pixels, ``SEAM`` pixels clear of the frame's border
    and, in a mosaic of tiles (:func:`_tiles`), of the tiles' seams (where the filters mix tiles)."""
    if tile is None:
        return slice(2, -2, step), slice(2, -2, step)

    def keep(n: int) -> np.ndarray:
        i = np.arange(n)
        return i[(i % tile >= SEAM) & (i % tile < tile - SEAM)][::step]

    return np.ix_(keep(shape[0]), keep(shape[1]))


def camera_noise(
    session: Session, camera: str, images: dict[tuple[str, str], np.ndarray]
) -> dict[tuple[str, str], FrameNoise]:
    """Noise model of every corrected frame of one camera.

    Parameters
    ----------
    session : the loaded session (its dark frames, when the camera has them, give the read noise).
    camera : the camera's name.
    images : ``{(pattern, pol): (H, W, 3) float32}`` corrected frames (``CameraFrames.images``).

    Returns
    -------
    ``{(pattern, pol): FrameNoise}`` in corrected-frame units.
    """
    own = [(i, f) for i, f in enumerate(session.frames) if f.camera == camera]
    darks = {
        f.polarization: dark_read_noise(_row_blocks(decode_frame(session, f, i), 1 << 20))
        for i, f in own
        if f.pattern == "dark"
    }
    out = {}
    for _, f in own:
        key = (f.pattern, f.polarization)
        if key not in images:
            continue
        img = images[key]
        read = None
        if f.polarization in darks:  # lit - dark: the dark frame's read noise twice
            read = float(np.sqrt(2.0) * darks[f.polarization] * f.scale)
        out[key] = estimate_frame_noise(img, read=read)
    return out


def sensor_noise(
    session: Session, camera: str, images: dict[tuple[str, str], np.ndarray]
) -> tuple[dict[tuple[str, str], FrameNoise], FrameNoise | None]:
    """The noise models of one camera's frames as decoded: per frame and from the complementary patterns.

    :func:`camera_noise` and :func:`pattern_noise` of the frames before the alignment
    resamples any: interpolation averages neighbouring pixels, so a resampled frame's
    high-pass holds a fraction of the sensor's noise that depends on the sub-pixel shift
    (about half of the variance, a 1-camera head moved by up to 1.5 px: 2.0e-5 against the
    sensor's 3.7e-5 gain), while the filters, the mask and the confidence deal with the noise
    at the scale of their windows, which the resampling keeps (its weights sum to 1).
    With dark frames the complementary-pattern model takes the read noise the frames'
    dark frames give (their median) and fits only the gain.
    """
    frames = camera_noise(session, camera, images)
    dark = [m.read for m in frames.values() if m.source == "dark"]  # lit - dark, corrected units
    return frames, pattern_noise(images, read=float(np.median(dark)) if dark else None)
