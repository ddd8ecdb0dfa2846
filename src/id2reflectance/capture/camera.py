"""OpenCV pinhole camera with lens distortion, as the session format defines it.

``x_cam = R @ X_world + t`` (metres); pixel (0, 0) is the centre of the top-left pixel;
``dist`` in OpenCV order ``(k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tx, ty]]]])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from id2reflectance.errors import ShapeError

VALID_DIST_LENGTHS = (0, 4, 5, 8, 12, 14)


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera.

    Attributes
    ----------
    name : camera name (folder name under ``frames/``).
    width, height : image size in pixels.
    K : (3, 3) float64 intrinsic matrix (pixels).
    dist : (n,) float64 OpenCV distortion coefficients, n in {0, 4, 5, 8, 12, 14}.
    R : (3, 3) float64 rotation world -> camera.
    t : (3,) float64 translation world -> camera, metres.
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def center(self) -> np.ndarray:
        """(3,) float64 camera centre in world coordinates (metres)."""
        return -self.R.T @ self.t

    def to_json(self) -> dict:
        """The session format's ``cameras.<name>`` object."""
        return {
            "width": int(self.width),
            "height": int(self.height),
            "K": np.asarray(self.K, float).tolist(),
            "dist": np.asarray(self.dist, float).tolist(),
            "R": np.asarray(self.R, float).tolist(),
            "t": np.asarray(self.t, float).tolist(),
        }

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project world points to pixels, with distortion.

        Parameters
        ----------
        points : (N, 3) float, world metres.

        Returns
        -------
        pixels : (N, 2) float64, (x = column, y = row) in pixels.
        depth : (N,) float64, z in the camera frame (metres); <= 0 is behind the camera.
        """
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ShapeError(f"Camera.project: points must be (N, 3), got {p.shape}")
        xc = p @ self.R.T + self.t
        z = xc[:, 2]
        zs = np.where(np.abs(z) < 1e-12, 1e-12, z)
        x = xc[:, 0] / zs
        y = xc[:, 1] / zs
        xd, yd = distort_normalized(x, y, self.dist)
        K = self.K
        u = K[0, 0] * xd + K[0, 1] * yd + K[0, 2]
        v = K[1, 1] * yd + K[1, 2]
        return np.stack([u, v], axis=1), z

    def pixel_rays(self, pixels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """World-space rays through pixel centres (lens distortion removed).

        Parameters
        ----------
        pixels : (N, 2) float (column, row), or None for every pixel in row-major order.

        Returns
        -------
        origin : (3,) float64 camera centre, metres.
        directions : (N, 3) float64 unit directions in world coordinates.
        """
        if pixels is None:
            jj, ii = np.meshgrid(np.arange(self.width), np.arange(self.height))
            pixels = np.stack([jj.ravel(), ii.ravel()], axis=1).astype(np.float64)
        xn, yn = undistort_pixels(np.asarray(pixels, np.float64), self.K, self.dist)
        d = np.stack([xn, yn, np.ones_like(xn)], axis=1) @ self.R  # R^T applied to rows
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return self.center, d


def distort_normalized(x: np.ndarray, y: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply OpenCV's distortion model to normalised image coordinates (any shape)."""
    d = np.zeros(14)
    d[: len(dist)] = dist
    k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4 = d[:12]
    r2 = x * x + y * y
    r4 = r2 * r2
    r6 = r4 * r2
    radial = (1 + k1 * r2 + k2 * r4 + k3 * r6) / (1 + k4 * r2 + k5 * r4 + k6 * r6)
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) + s1 * r2 + s2 * r4
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y + s3 * r2 + s4 * r4
    return xd, yd


def undistort_pixels(pixels: np.ndarray, K: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) -> undistorted normalised coordinates (x, y), each (N,) float64."""
    if len(dist) == 0 or not np.any(dist):
        xy = (pixels - K[:2, 2]) / np.array([K[0, 0], K[1, 1]])
        xy[:, 0] -= K[0, 1] * xy[:, 1] / K[0, 0]
        return xy[:, 0], xy[:, 1]
    pts = cv2.undistortPointsIter(
        pixels.reshape(-1, 1, 2),
        K,
        np.asarray(dist, np.float64),
        None,
        None,
        (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12),
    )
    return pts[:, 0, 0].astype(np.float64), pts[:, 0, 1].astype(np.float64)


def look_at(
    eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 1.0, 0.0])
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics (R, t) of a camera at ``eye`` looking at ``target``.

    The camera's +z points at the target, +y (image down) points away from ``up``.
    Returns R (3, 3) and t (3,) float64 (world -> camera).
    """
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(-np.asarray(up, float), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye
