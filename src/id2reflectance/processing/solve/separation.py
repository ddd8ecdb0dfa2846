"""Diffuse/specular separation and the lobe moments of the gradient patterns.

With ideal polarisers (``shared/session-format.md``) a cross-polarised frame records half
of the diffuse response and a parallel-polarised one half of the diffuse plus all of the
specular, so per pattern ``D = 2 * cross`` and ``S = parallel - cross``. The specular
reflection of a dielectric keeps the light's colour, so ``S`` is reduced to one value with
Rec.709 luminance weights.

Every pattern is linear in the light direction (``capture/illumination.py``), so a lobe
is described by its zeroth moment ``m0`` (the response to ``full``) and its first moment
``m1`` (a 3-vector): ``m1_a = 2 gradient_a - full``, or ``gradient_a - inverse_a`` when the
inverse patterns were captured (no ``full`` term, so its noise does not enter). The first
moments are measured in light-stage axes and rotated to world axes with
``rig.lights_to_world``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from id2reflectance.errors import CaptureError, ShapeError

LUMINANCE_709 = np.array([0.2126, 0.7152, 0.0722], np.float32)
AXES = ("x", "y", "z")


def separate(cross: np.ndarray, parallel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split one pattern's frames into diffuse and specular responses.

    Parameters
    ----------
    cross, parallel : (..., 3) float, linear Rec.709 relative radiance, same shape.

    Returns
    -------
    diffuse : (..., 3) float32, ``2 * cross``.
    specular : (...,) float32, Rec.709 luminance of ``parallel - cross`` (may be negative
        where noise exceeds the specular signal; callers clamp where needed).
    """
    cross = np.asarray(cross, np.float32)
    parallel = np.asarray(parallel, np.float32)
    if cross.shape != parallel.shape or cross.shape[-1:] != (3,):
        raise ShapeError(f"separate: cross {cross.shape} and parallel {parallel.shape} must be equal (..., 3)")
    return 2.0 * cross, (parallel - cross) @ LUMINANCE_709


@dataclass
class LobeMoments:
    """Moments of the diffuse and specular lobes for N pixels (world axes, planar).

    Attributes
    ----------
    diffuse_m0 : (3, N) float32, ``D`` under ``full`` per channel (R, G, B): the diffuse
        albedo, linear Rec.709.
    diffuse_m1 : (3, 3, N) float32, first moment of ``D`` indexed ``[axis, channel,
        pixel]``; ``2/3 * albedo * n`` for an unoccluded Lambertian surface.
    specular_m0 : (N,) float32, ``S`` under ``full`` (luminance, may be negative).
    specular_m0_mean : (N,) float32, the estimate of ``m0`` used for ratios: ``S_full``
        averaged with ``S_gradient_a + S_inverse_a`` for each axis when inverses are used
        (weighted by inverse noise variance: 0.4 times the variance of ``S_full``).
    specular_m1 : (3, N) float32, first moment of ``S`` per world axis.
    """

    diffuse_m0: np.ndarray
    diffuse_m1: np.ndarray
    specular_m0: np.ndarray
    specular_m0_mean: np.ndarray
    specular_m1: np.ndarray


def has_inverses(images: Mapping[tuple[str, str], np.ndarray]) -> bool:
    """True when all three inverse patterns exist in both polarisations."""
    return all((f"inverse_{a}", pol) in images for a in AXES for pol in ("cross", "parallel"))


def lobe_moments(
    images: Mapping[tuple[str, str], np.ndarray],
    rows: slice,
    *,
    lights_to_world: np.ndarray | None = None,
    use_inverses: bool = True,
    average_m0: bool = True,
) -> LobeMoments:
    """Separate diffuse and specular and compute their moments for a band of rows.

    Parameters
    ----------
    images : ``{(pattern, polarization): (H, W, 3) float32}`` corrected frames (linear
        Rec.709 relative radiance, dark-subtracted), as ``CameraFrames.images``.
        ``full`` and ``gradient_{x,y,z}`` are required in both polarisations.
    rows : the band of image rows to process (N = rows * W pixels, row-major).
    lights_to_world : (3, 3) rotation from light-stage to world axes (None: identity).
    use_inverses : use ``inverse_a`` patterns when all are present.
    average_m0 : with inverses, average the four estimates of the specular ``m0``
        (``full`` and ``gradient_a + inverse_a``) into ``specular_m0_mean``.

    Returns
    -------
    LobeMoments for the N pixels (newly allocated float32 arrays).
    """
    need = [(p, pol) for p in ("full", "gradient_x", "gradient_y", "gradient_z") for pol in ("cross", "parallel")]
    missing = [k for k in need if k not in images]
    if missing:
        raise CaptureError(f"lobe_moments: missing frame(s) {missing}")
    inverses = use_inverses and has_inverses(images)

    def band(pattern: str, pol: str) -> np.ndarray:
        return images[(pattern, pol)][rows].reshape(-1, 3)

    f32 = np.float32
    two = f32(2.0)
    cf = band("full", "cross")
    pf = band("full", "parallel")
    n = cf.shape[0]
    tmp = np.empty((n, 3), f32)
    d_m0 = np.empty((3, n), f32)
    np.multiply(cf.T, two, out=d_m0)
    np.subtract(pf, cf, out=tmp)
    s_m0 = tmp @ LUMINANCE_709
    # full (noise variance v) and gradient_a + inverse_a (2 v each), inverse-variance weighted:
    # (S_full + sum_a (S_ga + S_ia) / 2) / 2.5 has variance 0.4 v
    s_sum = s_m0.copy() if inverses and average_m0 else None
    d_m1 = np.empty((3, 3, n), f32)
    s_m1 = np.empty((3, n), f32)
    for k, a in enumerate(AXES):
        cg = band(f"gradient_{a}", "cross")
        pg = band(f"gradient_{a}", "parallel")
        if inverses:
            ci = band(f"inverse_{a}", "cross")
            pi = band(f"inverse_{a}", "parallel")
            np.subtract(cg, ci, out=tmp)  # first moment of cross = D/2
        else:
            np.multiply(cg, two, out=tmp)
            tmp -= cf
        np.multiply(tmp.T, two, out=d_m1[k])  # de-interleave to (channel, pixel)
        lum_cross = tmp @ LUMINANCE_709
        if inverses:
            np.subtract(pg, pi, out=tmp)  # first moment of parallel
        else:
            np.multiply(pg, two, out=tmp)
            tmp -= pf
        np.matmul(tmp, LUMINANCE_709, out=s_m1[k])
        s_m1[k] -= lum_cross
        if s_sum is not None:
            np.add(pg, pi, out=tmp)
            tmp -= cg
            tmp -= ci
            s_sum += (tmp @ LUMINANCE_709) * f32(0.5)
    if lights_to_world is not None and not np.allclose(lights_to_world, np.eye(3), atol=1e-12, rtol=0.0):
        L = np.asarray(lights_to_world, f32)
        d_m1 = np.tensordot(L, d_m1, axes=(1, 0))
        s_m1 = L @ s_m1
    s_m0_mean = s_m0 if s_sum is None else np.multiply(s_sum, f32(1.0 / 2.5), out=s_sum)
    return LobeMoments(diffuse_m0=d_m0, diffuse_m1=d_m1, specular_m0=s_m0, specular_m0_mean=s_m0_mean, specular_m1=s_m1)
