"""Rendering of printed planar targets (boards, colour charts) through the session's camera.

Inverse mapping: every sub-pixel sample of the image is undistorted with the camera model
(``capture/camera.py``, OpenCV distortion), cast as a ray, intersected with the target's
plane and looked up in a high-resolution texture of the print (bilinear); the samples of
a pixel are averaged (box filter). Optics and sensor come after (:func:`apply_sensor`):
Gaussian blur, a vignette, Poisson-Gaussian noise. Corner positions rendered this way are
sub-pixel exact, so a detector's error against the truth can be measured.
"""

from __future__ import annotations

import cv2
import numpy as np

from id2reflectance.capture.camera import Camera


def rotation_about(axis: int, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about coordinate axis 0 (x), 1 (y) or 2 (z)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def _undistort_grid(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Undistorted normalised coordinates of pixel centres, padded by one pixel.

    Returns x, y : (H + 2, W + 2) float32; entry [i + 1, j + 1] belongs to pixel (row i, col j).
    Cached on the camera (``Camera._cache``), as every render of that camera needs it.
    """
    key = "sim_render.undistort_grid"
    if key in camera._cache:
        return camera._cache[key]
    jj, ii = np.meshgrid(np.arange(-1, camera.width + 1), np.arange(-1, camera.height + 1))
    pix = np.stack([jj.ravel(), ii.ravel()], 1).astype(np.float64).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    xy = cv2.undistortPointsIter(pix, camera.K, np.asarray(camera.dist, np.float64), None, None, crit)
    grid = (
        xy[:, 0, 0].reshape(jj.shape).astype(np.float32),
        xy[:, 0, 1].reshape(jj.shape).astype(np.float32),
    )
    camera._cache[key] = grid
    return grid


def render_plane(
    camera: Camera,
    pose: tuple[np.ndarray, np.ndarray],
    texture: np.ndarray,
    *,
    texel_size: float,
    origin_texel: tuple[float, float],
    background: float | tuple[float, float, float],
    supersample: int = 4,
    two_sided: bool = False,
) -> np.ndarray:
    """Render a textured plane (a printed target) as the camera sees it, without noise.

    Parameters
    ----------
    pose : (R (3, 3), t (3,)) plane -> world; the plane is z = 0 of its frame, printed
        side facing -z.
    texture : (Ht, Wt) or (Ht, Wt, C) float32 reflectance of the print.
    texel_size : metres per texel.
    origin_texel : texel coordinates (column, row) of the outer edge where plane point
        (0, 0) lies (texel (i, j) covers [j, j+1) x [i, i+1)).
    background : reflectance seen where the ray misses the print or hits its back.
    supersample : s x s samples per pixel (box filter).
    two_sided : the print is seen from its back too, mirrored (a target on glass or a
        backlit film); otherwise the back shows ``background``.

    Returns
    -------
    (H, W) or (H, W, C) float32 reflectance seen through each pixel.
    """
    R, t = pose
    Rc = camera.R @ R
    tc = camera.R @ t + camera.t
    Hinv = np.linalg.inv(np.column_stack([Rc[:, 0], Rc[:, 1], tc]))
    facing = two_sided or (-(Rc.T @ tc))[2] < 0
    gx, gy = _undistort_grid(camera)
    H, W = camera.height, camera.width
    tex = np.ascontiguousarray(texture, np.float32)
    nch = 1 if tex.ndim == 2 else tex.shape[2]
    bg = np.broadcast_to(np.asarray(background, np.float32), (nch,))
    acc = np.zeros((H, W, nch), np.float64)
    ones = np.ones(tex.shape[:2], np.float32)
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for oy in offsets:
        by = int(np.floor(oy))
        fy = oy - by
        for ox in offsets:
            bx = int(np.floor(ox))
            fx = ox - bx
            r0, c0 = 1 + by, 1 + bx

            def interp(g: np.ndarray, r0: int = r0, c0: int = c0, fx: float = fx, fy: float = fy) -> np.ndarray:
                a = g[r0 : r0 + H, c0 : c0 + W] * (1 - fx) + g[r0 : r0 + H, c0 + 1 : c0 + 1 + W] * fx
                b = g[r0 + 1 : r0 + 1 + H, c0 : c0 + W] * (1 - fx) + g[r0 + 1 : r0 + 1 + H, c0 + 1 : c0 + 1 + W] * fx
                return a * (1 - fy) + b * fy

            x, y = interp(gx), interp(gy)
            q0 = Hinv[0, 0] * x + Hinv[0, 1] * y + Hinv[0, 2]
            q1 = Hinv[1, 0] * x + Hinv[1, 1] * y + Hinv[1, 2]
            q2 = Hinv[2, 0] * x + Hinv[2, 1] * y + Hinv[2, 2]
            front = q2 > 1e-12
            q2s = np.where(front, q2, 1.0)
            u = (q0 / q2s / texel_size + origin_texel[0] - 0.5).astype(np.float32)
            v = (q1 / q2s / texel_size + origin_texel[1] - 0.5).astype(np.float32)
            hit = front & facing
            u[~hit] = -10.0
            v[~hit] = -10.0
            s_in = cv2.remap(tex, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT).reshape(H, W, nch)
            w_in = cv2.remap(ones, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            s = s_in + (1.0 - w_in) * bg  # texels outside the print blend with the background
            acc += s
    out = (acc / supersample**2).astype(np.float32)
    return out[..., 0] if tex.ndim == 2 else out


def apply_sensor(
    radiance: np.ndarray,
    *,
    blur_sigma_px: float,
    read_noise: float,
    shot_noise: float,
    rng: np.random.Generator,
    vignette: float = 0.2,
) -> np.ndarray:
    """Optics and sensor: Gaussian blur, vignette ``1 - vignette * r^2``, noise, clip at 0.

    ``radiance`` : (H, W) or (H, W, C) float32 linear. Returns the same shape, float32 >= 0.
    """
    img = np.asarray(radiance, np.float32)
    if blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma_px, borderType=cv2.BORDER_REFLECT)
    H, W = img.shape[:2]
    yy, xx = np.mgrid[0:H, 0:W]
    r2 = ((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2)
    vig = (1.0 - vignette * r2).astype(np.float32)
    img = img * (vig if img.ndim == 2 else vig[..., None])
    sigma = np.sqrt(read_noise**2 + shot_noise * np.clip(img, 0, None))
    img = img + rng.normal(0.0, 1.0, img.shape).astype(np.float32) * sigma.astype(np.float32)
    return np.clip(img, 0.0, None).astype(np.float32)
