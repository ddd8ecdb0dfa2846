"""Analytic light-stage sessions: a sphere with smooth reflectance fields and exact frames.

A test object the solver can be checked against without a mesh or a renderer: a sphere of
``radius`` metres at the origin, seen by cameras in front of it (+z). The sphere is convex,
so no light is occluded and every pixel's frames follow from its lobe moments
(``capture/ggx.py``): the Lambertian moments are exact (``m0 = 1``, ``m1 = 2/3 n``), the
GGX moments come from :func:`~id2reflectance.capture.ggx.specular_moments`. With
``D_p = albedo * response(diffuse moments, p)`` and ``S_p = k * response(specular
moments, p)`` (white), the frames are ``cross = D/2`` and ``parallel = D/2 + S``.

Reflectance varies smoothly over the sphere (functions of the normal, so every camera sees
the same surface): albedo in about [0.2, 0.7] per channel, roughness in [0.15, 0.75] and
GGX scale ``k`` in [0.8, 2.2]. The ground truth is written like the simulator's,
``SESSION/truth/<camera>/{diffuse_albedo,specular_albedo,normal,roughness,mask,visibility}.exr``
(specular albedo = ``k * A(n.v, r)``, the unoccluded full-sphere response at that view;
visibility = 1), so :func:`id2reflectance.processing.solve.accuracy.solve_accuracy` applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import write_exr, write_png
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.ggx import specular_moments
from id2reflectance.capture.illumination import LIT_PATTERNS, responses_from_moments
from id2reflectance.capture.session import Frame, session_json, write_session_json

REQUIRED_LIT = ("full", "gradient_x", "gradient_y", "gradient_z")


def reflectance_fields(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth reflectance over the sphere as functions of the unit normal.

    Parameters
    ----------
    normals : (N, 3) float, unit world-space normals (= position / radius).

    Returns
    -------
    albedo : (N, 3) float64, linear Rec.709 diffuse albedo.
    roughness : (N,) float64, GGX perceptual roughness in [0.15, 0.75].
    k : (N,) float64, GGX scale in [0.8, 2.2].
    """
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    albedo = np.stack(
        [0.5 + 0.15 * x + 0.05 * np.sin(5 * y), 0.35 + 0.1 * y + 0.05 * np.cos(4 * x), 0.28 + 0.08 * np.sin(3 * x + z)],
        axis=1,
    )
    roughness = 0.45 + 0.3 * np.sin(3.0 * x + 2.0 * y)
    k = 1.5 + 0.7 * np.cos(2.5 * y - x)
    return albedo, roughness, k


@dataclass
class SphereView:
    """Frames and ground truth of one camera.

    frames : {(pattern, polarization): (H, W, 3) float32} linear Rec.709 radiance.
    truth : {"diffuse_albedo" (H, W, 3), "specular_albedo" (H, W), "normal" (H, W, 3),
        "roughness" (H, W), "mask" (H, W), "visibility" (H, W)} float32, 0 off the sphere.
    """

    frames: dict[tuple[str, str], np.ndarray]
    truth: dict[str, np.ndarray]


def sphere_camera(
    name: str,
    size: int,
    *,
    azimuth_deg: float = 0.0,
    distance: float = 1.0,
    radius: float = 0.1,
    dist: np.ndarray | None = None,
) -> Camera:
    """A square camera at ``azimuth_deg`` around +y, framing the sphere to ~85% of its width."""
    az = np.deg2rad(azimuth_deg)
    eye = np.array([distance * np.sin(az), 0.05 * distance, distance * np.cos(az)])
    R, t = look_at(eye, np.zeros(3))
    f = 0.42 * size / np.tan(np.arcsin(radius / np.linalg.norm(eye)))
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera(name, size, size, K, np.zeros(5) if dist is None else np.asarray(dist, float), R, t)


def render_sphere_view(
    camera: Camera,
    *,
    radius: float = 0.1,
    lights_to_world: np.ndarray | None = None,
    inverses: bool = True,
    samples: tuple[int, int] = (96, 24),
) -> SphereView:
    """Exact noise-free frames of the analytic sphere seen by ``camera``.

    Parameters
    ----------
    camera : any calibrated camera looking at the origin.
    radius : sphere radius, metres.
    lights_to_world : (3, 3) rotation from light-stage to world axes (None: identity).
    inverses : also render ``inverse_{x,y,z}``.
    samples : quadrature grid of the GGX moments.
    """
    L = np.eye(3) if lights_to_world is None else np.asarray(lights_to_world, np.float64)
    h, w = camera.height, camera.width
    origin, dirs = camera.pixel_rays()
    b = dirs @ origin
    disc = b * b - (origin @ origin - radius * radius)
    hit = disc > 0
    t = -b[hit] - np.sqrt(disc[hit])
    p = origin + t[:, None] * dirs[hit]
    n = p / np.linalg.norm(p, axis=1, keepdims=True)
    v = -dirs[hit]
    albedo, rough, k = reflectance_fields(n)
    sm0, sm1 = specular_moments(n, v, rough, samples=samples)
    dm1_light = (2.0 / 3.0) * n @ L  # L^T n per row: world -> light-stage axes
    sm1_light = sm1 @ L
    patterns = LIT_PATTERNS if inverses else REQUIRED_LIT
    frames: dict[tuple[str, str], np.ndarray] = {}
    for pat in patterns:
        d = albedo * responses_from_moments(np.ones(len(n)), dm1_light, pat)[:, None]
        s = k * responses_from_moments(sm0, sm1_light, pat)
        for pol, img in (("cross", d / 2), ("parallel", d / 2 + s[:, None])):
            full = np.zeros((h * w, 3), np.float32)
            full[hit] = img
            frames[(pat, pol)] = full.reshape(h, w, 3)

    def image(values: np.ndarray, channels: int) -> np.ndarray:
        out = np.zeros((h * w, channels), np.float32)
        out[hit] = values.reshape(len(n), channels)
        return out.reshape(h, w, channels) if channels > 1 else out.reshape(h, w)

    truth = {
        "diffuse_albedo": image(albedo, 3),
        "specular_albedo": image(k * sm0, 1),
        "normal": image(n, 3),
        "roughness": image(rough, 1),
        "mask": image(np.ones(len(n)), 1),
        "visibility": image(np.ones(len(n)), 1),
    }
    return SphereView(frames=frames, truth=truth)


def write_sphere_session(
    root: str | Path,
    *,
    size: int = 96,
    cameras: int = 1,
    inverses: bool = True,
    lights_to_world: np.ndarray | None = None,
    noise: float = 0.0,
    seed: int = 0,
    write_mask: bool = True,
    dist: np.ndarray | None = None,
    samples: tuple[int, int] = (96, 24),
    subject_id: str = "SPHERE0",
) -> Path:
    """Write an analytic sphere session (frames, optional masks, truth) under ``root``.

    Parameters
    ----------
    size : image width and height, pixels.
    cameras : number of cameras, 35 degrees apart around +y.
    inverses : include the inverse patterns.
    lights_to_world : rig rotation written to session.json and used to render.
    noise : standard deviation of additive Gaussian noise per frame value
        (relative radiance); 0 for exact frames.
    write_mask : write ``masks/<camera>.png`` (the sphere's silhouette).
    dist : OpenCV distortion coefficients of every camera (None: none).

    Returns
    -------
    ``root`` as a Path.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    cams: dict[str, Camera] = {}
    frames: list[Frame] = []
    for c in range(cameras):
        name = f"cam{c}"
        cam = sphere_camera(name, size, azimuth_deg=35.0 * (c - (cameras - 1) / 2), dist=dist)
        cams[name] = cam
        view = render_sphere_view(cam, lights_to_world=lights_to_world, inverses=inverses, samples=samples)
        for (pat, pol), img in view.frames.items():
            if noise > 0:
                img = (img + rng.normal(0.0, noise, img.shape)).astype(np.float32)
            rel = f"frames/{name}/{pat}_{pol}.exr"
            write_exr(root / rel, img)
            frames.append(Frame(name, pat, pol, rel, "linear", 1.0))
        for key, img in view.truth.items():
            write_exr(root / "truth" / name / f"{key}.exr", img)
        if write_mask:
            write_png(root / "masks" / f"{name}.png", view.truth["mask"])
    manifest = session_json(subject_id=subject_id, cameras=cams, frames=frames, lights_to_world=lights_to_world)
    write_session_json(root, manifest)
    return root
