"""A simulated X-Rite ColorChecker Classic under the light stage's ``full`` pattern.

A Lambertian patch of linear Rec.709 reflectance ``rho`` facing the camera under the
uniform full sphere records ``white_level * rho`` in Rec.709 (``white_level`` 1 for an
unpolarised capture, 0.5 for a cross-polarised one: ``cross = D/2``), and the camera
stores ``inv(color_matrix) @ that`` (camera RGB, clipped at 0), blurred and noisy.
"""

from __future__ import annotations

import numpy as np

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.simulator.target_render import apply_sensor, render_plane, rotation_about

#: A plausible camera-RGB -> linear Rec.709 matrix: a colour-correction matrix whose rows
#: sum to 1, times the white balance of a sensor recording white as (0.5, 1.0, 0.71).
SIM_COLOR_MATRIX = np.array([[1.60, -0.45, -0.15], [-0.25, 1.50, -0.25], [0.05, -0.55, 1.50]], np.float64) @ np.diag(
    [2.0, 1.0, 1.4]
)

CHART_PATCH_M = 0.040  # side of one ColorChecker patch, metres
CHART_GAP_M = 0.005  # black gap between patches
CHART_BORDER_M = 0.008  # black frame around the patches
CHART_FRAME_REFLECTANCE = 0.03


def chart_texture(reflectance: np.ndarray, *, px_per_m: float = 2500.0) -> tuple[np.ndarray, float]:
    """A ColorChecker Classic print: 6 x 4 patches, row-major from dark skin to black.

    Parameters
    ----------
    reflectance : (24, 3) float linear Rec.709 reflectance of the patches.

    Returns
    -------
    texture : (Ht, Wt, 3) float32 reflectance; plane point (0, 0) is texel corner (0, 0).
    texel_size : metres per texel.
    """
    rho = np.asarray(reflectance, np.float64).reshape(24, 3)
    texel = 1.0 / px_per_m
    width = 6 * CHART_PATCH_M + 5 * CHART_GAP_M + 2 * CHART_BORDER_M
    height = 4 * CHART_PATCH_M + 3 * CHART_GAP_M + 2 * CHART_BORDER_M
    wt, ht = int(round(width / texel)), int(round(height / texel))
    tex = np.full((ht, wt, 3), CHART_FRAME_REFLECTANCE, np.float32)
    for k in range(24):
        r, c = divmod(k, 6)
        x0 = CHART_BORDER_M + c * (CHART_PATCH_M + CHART_GAP_M)
        y0 = CHART_BORDER_M + r * (CHART_PATCH_M + CHART_GAP_M)
        j0, i0 = int(round(x0 / texel)), int(round(y0 / texel))
        n = int(round(CHART_PATCH_M / texel))
        tex[i0 : i0 + n, j0 : j0 + n] = rho[k]
    return tex, texel


def render_chart_image(
    camera: Camera,
    reflectance: np.ndarray,
    color_matrix: np.ndarray,
    *,
    white_level: float,
    rng: np.random.Generator,
    read_noise: float = 0.002,
    shot_noise: float = 1e-4,
    blur_sigma_px: float = 0.7,
    supersample: int = 2,
) -> np.ndarray:
    """A ColorChecker facing the camera at the origin, under the full pattern.

    Returns (H, W, 3) float32 linear camera RGB: ``inv(color_matrix) @ (white_level *
    rho)`` on the patches, a neutral 0.2 background, blur, noise, clipped at 0.
    """
    tex, texel = chart_texture(reflectance)
    h_m, w_m = tex.shape[0] * texel, tex.shape[1] * texel
    toward = camera.center / np.linalg.norm(camera.center)
    z = -toward  # printed side faces the camera
    x = np.cross(np.array([0.0, 1.0, 0.0]), z * -1.0)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.column_stack([x, y, z])
    R = R @ rotation_about(2, np.radians(4.0))  # slightly rotated in its plane
    t = -R @ np.array([w_m / 2, h_m / 2, 0.0])
    refl = render_plane(
        camera,
        (R, t),
        tex,
        texel_size=texel,
        origin_texel=(0.0, 0.0),
        background=(0.2, 0.2, 0.2),
        supersample=supersample,
    )
    rec709 = white_level * refl
    cam_rgb = (rec709.reshape(-1, 3) @ np.linalg.inv(color_matrix).T.astype(np.float32)).reshape(rec709.shape)
    return apply_sensor(
        np.clip(cam_rgb, 0, None),
        blur_sigma_px=blur_sigma_px,
        read_noise=read_noise,
        shot_noise=shot_noise,
        rng=rng,
        vignette=0.0,
    )
