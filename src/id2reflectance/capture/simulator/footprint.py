"""A camera pixel's footprint: the sensor integrates over its area, the lens blurs.

The simulator's cameras do not point-sample the head: each pixel's value is the weighted
mean of the head seen through a grid of ``k x k`` sub-pixel rays per pixel (a supersampled
image, shared by neighbouring pixels), weighted by the pixel's box convolved with a
Gaussian lens blur of ``blur_px`` pixels (separable, truncated at 3 sigma). Images are then
band-limited as a real camera's are, so a head moved between exposures resamples cleanly;
one ray per pixel (``k = 1``, no blur) aliases texel-level detail instead.

Sub-sample ``m`` of pixel ``i`` (per axis) sits at ``i + (m + 0.5) / k - 0.5`` pixels.
Samples that miss the head (or meet its inside) carry no weight: a silhouette pixel is the
mean over the samples that meet the head, no background mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import erf, sqrt

import numpy as np

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, sample_bilinear
from id2reflectance.capture.simulator.motion import HeadMotion


def footprint_taps(pixel_samples: int, blur_px: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D weights of a pixel's footprint on its supersampled grid.

    Parameters
    ----------
    pixel_samples : k, sub-samples per pixel side.
    blur_px : Gaussian lens blur sigma, pixels (0: the box of the pixel alone).

    Returns
    -------
    taps : (T,) int64 sub-sample indices relative to the pixel's first sub-sample
        (``k * i + taps`` on the supersampled axis for pixel ``i``).
    weights : (T,) float64, sum 1: the box [-0.5, 0.5] convolved with the Gaussian,
        evaluated at each tap's offset from the pixel centre.
    """
    k = int(pixel_samples)
    reach = int(np.ceil((0.5 + 3.0 * blur_px) * k))
    taps = np.arange(-reach, k + reach)
    d = (taps + 0.5) / k - 0.5
    if blur_px > 0:
        s = blur_px * sqrt(2.0)
        w = np.array([0.5 * (erf((x + 0.5) / s) - erf((x - 0.5) / s)) for x in d])
    else:
        w = (np.abs(d) < 0.5).astype(np.float64)
    keep = w > 1e-4 * w.max()
    return taps[keep], w[keep] / w[keep].sum()


@dataclass(frozen=True, eq=False)
class Footprint:
    """The supersampled rays of one camera and the footprint weights of its pixels.

    shape : (H, W) of the image; pixel_samples : k.
    hit : (k H, k W) bool, the sub-sample meets the front of the head.
    uv : (P, 2) float64 texture coordinates of the P hit sub-samples (row-major order).
    pixels : (N,) int64 row-major indices of the pixels whose values are wanted.
    taps, weights : per-axis footprint (:func:`footprint_taps`).
    """

    shape: tuple[int, int]
    pixel_samples: int
    hit: np.ndarray
    uv: np.ndarray
    pixels: np.ndarray
    taps: np.ndarray
    weights: np.ndarray

    def _filter(self, dense: np.ndarray) -> np.ndarray:
        """(k H, k W, C) -> (H, W, C): the footprint's weighted sum at each pixel."""
        k, (h, w) = self.pixel_samples, self.shape
        lo, hi = max(0, -int(self.taps[0])), max(0, int(self.taps[-1]) - (k - 1))
        pad = np.pad(dense, ((lo, hi), (0, 0), (0, 0)))
        rows = sum(wt * pad[lo + t : lo + t + k * h : k] for t, wt in zip(self.taps, self.weights, strict=True))
        pad = np.pad(rows, ((0, 0), (lo, hi), (0, 0)))
        return sum(wt * pad[:, lo + t : lo + t + k * w : k] for t, wt in zip(self.taps, self.weights, strict=True))

    def mean(self, texture: np.ndarray, wrap_u: bool) -> np.ndarray:
        """Footprint mean of a bilinear texture lookup at each pixel of ``pixels``.

        Parameters
        ----------
        texture : (S, S) or (S, S, C) texture (see ``sample_bilinear``).

        Returns
        -------
        (N,) or (N, C) float64.
        """
        values = sample_bilinear(texture, self.uv, wrap_u=wrap_u)
        flat = values.reshape(len(values), -1)
        dense = np.zeros(self.hit.shape + (flat.shape[1] + 1,))
        dense[self.hit] = np.concatenate([flat, np.ones((len(flat), 1))], axis=1)
        out = self._filter(dense).reshape(-1, flat.shape[1] + 1)[self.pixels]
        mean = out[:, :-1] / np.maximum(out[:, -1:], 1e-12)
        return mean.reshape((len(self.pixels),) + values.shape[1:])


def camera_footprint(
    camera: Camera,
    mesh: FaceMesh,
    scene,  # open3d.t.geometry.RaycastingScene of ``mesh``
    pixels: np.ndarray,
    *,
    pixel_samples: int,
    blur_px: float,
    motion: HeadMotion | None = None,
) -> Footprint:
    """Cast the supersampled rays of ``camera`` (taken into the head's rest frame by
    ``motion``, as in ``render_camera``) and keep where they meet the head's front side.

    Parameters
    ----------
    pixels : (N,) int64 row-major indices of the pixels to be rendered (those whose
        centre meets the head); each needs at least one hit sample in its footprint, which
        its centre's own sub-sample gives for odd ``pixel_samples``.
    """
    k, h, w = int(pixel_samples), camera.height, camera.width
    t = (np.arange(k * w) + 0.5) / k - 0.5
    s = (np.arange(k * h) + 0.5) / k - 0.5
    jj, ii = np.meshgrid(t, s)
    origin, dirs = camera.pixel_rays(np.stack([jj.ravel(), ii.ravel()], axis=1))
    if motion is not None:
        origin, dirs = motion.rays_to_rest(origin, dirs)
    _, fid, bary = cast_rays(scene, origin, dirs)
    hit = fid >= 0
    hit[hit] &= np.sum(mesh.face_normals()[fid[hit]] * dirs[hit], axis=1) < 0
    uv = interpolate(mesh.uvs, mesh.faces, fid[hit], bary[hit].astype(np.float64))
    taps, weights = footprint_taps(k, blur_px)
    return Footprint((h, w), k, hit.reshape(k * h, k * w), uv, np.asarray(pixels, np.int64), taps, weights)
