"""Deterministic, resolution-independent procedural noise on 3-D points.

Value noise on an integer lattice with a 64-bit integer hash (no random state, no
platform dependence): the same point, frequency and seed give the same value on every
machine and at every texture size. Used for the simulator's skin maps, evaluated at the
template surface point of each texel so that every subject's features land on the same
texels.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0x9E3779B185EBCA87)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M3 = np.uint64(0x165667B19E3779F9)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_OFFSET = 1 << 24  # keeps lattice indices positive for |p * f| < 2^24


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Uniform values in [-1, 1) from integer lattice coordinates (splitmix64 finaliser)."""
    s = np.uint64((seed * 0x27D4EB2F165667C5 + 0x632BE59BD9B4E019) % (1 << 64))
    h = (ix.astype(np.uint64) * _M1) ^ (iy.astype(np.uint64) * _M2) ^ (iz.astype(np.uint64) * _M3) ^ s
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * (2.0 / 2.0**53) - 1.0


def value_noise(points: np.ndarray, *, frequency: float, seed: int) -> np.ndarray:
    """Smooth value noise.

    Parameters
    ----------
    points : (N, 3) float64, metres.
    frequency : lattice cells per metre (feature size about 1 / frequency).
    seed : any integer; different seeds give independent fields.

    Returns
    -------
    (N,) float64 in [-1, 1], zero mean, C2-continuous (quintic fade).
    """
    p = np.asarray(points, np.float64) * frequency
    base = np.floor(p)
    f = p - base
    w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)
    i = base.astype(np.int64) + _OFFSET
    out = np.zeros(len(p))
    for dx in (0, 1):
        wx = w[:, 0] if dx else 1.0 - w[:, 0]
        for dy in (0, 1):
            wy = w[:, 1] if dy else 1.0 - w[:, 1]
            for dz in (0, 1):
                wz = w[:, 2] if dz else 1.0 - w[:, 2]
                out += wx * wy * wz * _hash01(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out


def band_fade(frequency: float, max_frequency: float | None) -> float:
    """Weight in [0, 1] of a pattern of ``frequency`` cells per metre on a texture that holds
    up to ``max_frequency`` (e.g. its Nyquist limit; None: no limit): 1 up to the limit,
    falling linearly to 0 at twice it, so detail finer than a texel fades out instead of
    aliasing into texel-scale speckle."""
    return 1.0 if max_frequency is None else float(np.clip(2.0 - frequency / max_frequency, 0.0, 1.0))


def band_limited(
    pattern: np.ndarray, where: np.ndarray, *, frequency: float, max_frequency: float | None
) -> np.ndarray:
    """``pattern`` (N,) faded toward its mean over ``where`` (N,) weights by :func:`band_fade`.

    For patterns built from :func:`value_noise` of ``frequency`` (its finest direction) and
    then shaped (clipped, scaled): fading the shaped pattern toward its ``where``-weighted
    mean keeps its mean (a texel holds the area's average coverage of hairs finer than it)
    where fading the noise itself would shift it. Returns (N,) float64.
    """
    fade = band_fade(frequency, max_frequency)
    if fade >= 1.0:
        return np.asarray(pattern, np.float64)
    w = np.asarray(where, np.float64)
    mean = float(np.average(pattern, weights=w)) if w.sum() > 0 else float(np.mean(pattern))
    return mean + fade * (np.asarray(pattern, np.float64) - mean)


def fbm(
    points: np.ndarray,
    *,
    frequency: float,
    octaves: int,
    seed: int,
    gain: float = 0.5,
    lacunarity: float = 2.0,
    max_frequency: float | None = None,
) -> np.ndarray:
    """Fractal sum of value-noise octaves, normalised to unit peak amplitude.

    Octaves above ``max_frequency`` (cells per metre; e.g. the texture's Nyquist limit)
    fade out smoothly instead of aliasing, so the normalisation keeps the octaves' nominal
    weights: a coarser texture holds less fine detail, not a louder one.

    Returns (N,) float64, roughly in [-1, 1].
    """
    out = np.zeros(len(points))
    amp, freq, total = 1.0, frequency, 0.0
    for k in range(octaves):
        total += amp
        fade = band_fade(freq, max_frequency)
        if fade > 0:
            out += fade * amp * value_noise(points, frequency=freq, seed=seed * 131 + k)
        amp *= gain
        freq *= lacunarity
    return out / total
