"""Aligned training views of a subject's asset, for every domain (docs/dataset-format.md).

Three views (front, left, right) share one intrinsic matrix. The front camera looks at
the face along -z and is fitted FFHQ-style: the midpoint of the eyes and the midpoint of
the mouth (template landmarks, projected) land where FFHQ's alignment puts them, eyes
level. The side views turn that camera about the vertical axis through the head by
``side_yaw_deg``. Each view stores the RGB face under the full-on pattern and under
environment maps (sRGB at the fixed exposure :data:`~.manifest.RGB_EXPOSURE_STOPS`, Reinhard
tone curve, black background) and the reflectance maps sampled
at the visible surface: diffuse albedo, specular albedo, roughness, and the normal in
the view's camera frame with OpenGL axes.

Eyes (``eyes=True``, the default): an asset in the face-model layout is skin only, so its
RGB views would show the background through the eyes, which no photo does. The RGB views
are rendered with the face model's eyeballs placed into the asset's mesh and an iris
colour drawn from the subject id (:func:`~id2reflectance.processing.relight.eyes.asset_eyes`).
The reflectance-map views and ``mask.png`` stay the skin's (the asset's maps hold no eyes):
on the eyes they are 0, as before. An asset in the procedural layout (closed lids) and a
machine without the face model render as before.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import atomic_write
from id2reflectance._shared.imageio import write_png
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.geometry.mesh import FaceMesh, raycasting_scene
from id2reflectance.capture.geometry.template_mesh import template_mesh
from id2reflectance.dataset.manifest import RGB_EXPOSURE_STOPS
from id2reflectance.errors import ConfigError
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.brdf_table import directional_albedo
from id2reflectance.processing.relight.envcache import cached_prefilter
from id2reflectance.processing.relight.envmap import load_environment
from id2reflectance.processing.relight.eyes import asset_eyes, scene_mesh
from id2reflectance.processing.relight.render import RelightConfig, render_view, surface_samples, tone_map

# FFHQ alignment in a unit square: the eye midpoint at (0.5, 0.47), the mouth midpoint
# at (0.5, 0.47 + 1.0 / 3.6) when the crop is sized by 1.8x the eye-to-mouth distance
# (processing of faces whose eye distance is the smaller term, as for a frontal face).
EYE_Y = 0.5 - 0.1 / 3.6
MOUTH_Y = EYE_Y + 1.0 / 3.6
VIEW_YAW = {"front": 0.0, "left": 1.0, "right": -1.0}


def _landmark_points(mesh: FaceMesh) -> tuple[np.ndarray, np.ndarray]:
    """World points of the eye midpoint and mouth midpoint from template landmarks."""
    lm = mesh.landmarks or template_mesh().landmarks
    v = mesh.vertices
    eyes = np.mean(
        [v[lm[k]] for k in ("eye_outer_left", "eye_inner_left", "eye_inner_right", "eye_outer_right")], axis=0
    )
    mouth = np.mean([v[lm["mouth_left"]], v[lm["mouth_right"]]], axis=0)
    return eyes, mouth


def aligned_cameras(
    mesh: FaceMesh, *, size: int, views: tuple[str, ...], side_yaw_deg: float = 40.0, distance_m: float = 1.0
) -> dict[str, Camera]:
    """One camera per view, sharing intrinsics fitted to FFHQ alignment in the front view.

    Parameters
    ----------
    mesh : the subject's mesh (template topology), world frame, face towards +z.
    size : image size in pixels.
    views : subset of ``front``, ``left`` (subject's left, camera at +x), ``right``.
    """
    unknown = set(views) - set(VIEW_YAW)
    if unknown:
        raise ConfigError(f"unknown view(s) {sorted(unknown)}; known: {sorted(VIEW_YAW)}")
    eyes, mouth = _landmark_points(mesh)
    mid = 0.5 * (eyes + mouth)
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    pivot = np.array([0.5 * (lo[0] + hi[0]), mid[1], 0.5 * (lo[2] + hi[2])])
    # front camera straight ahead of the face, level; focal from the eye-mouth distance
    eye_pos = np.array([mid[0], mid[1], pivot[2] + distance_m])
    R, t = look_at(eye_pos, np.array([mid[0], mid[1], pivot[2]]))
    z_face = (R @ mid + t)[2]
    f = (MOUTH_Y - EYE_Y) * size / (abs(eyes[1] - mouth[1]) / z_face)
    # principal point so the eye/mouth midpoint projects to the FFHQ position
    xc = R @ mid + t
    cx = 0.5 * size - 0.5 - f * xc[0] / xc[2]
    cy = 0.5 * (EYE_Y + MOUTH_Y) * size - 0.5 - f * xc[1] / xc[2]
    K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    cams = {}
    for name in views:
        yaw = np.deg2rad(side_yaw_deg * VIEW_YAW[name])
        rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        eye_v = pivot + rot @ (eye_pos - pivot)
        Rv, tv = look_at(eye_v, pivot + rot @ (np.array([mid[0], mid[1], pivot[2]]) - pivot))
        cams[name] = Camera(name, size, size, K, np.zeros(0), Rv, tv)
    return cams


@lru_cache(maxsize=16)
def _environment(spec: str):  # -> Environment
    """The environment of a dataset spec (``full`` = the full-on pattern), mean-normalised."""
    return load_environment("pattern:full" if spec == "full" else spec, normalize="mean")


def check_environments(specs: tuple[str, ...]) -> None:
    """Load every lighting spec once so a bad name fails before any subject is processed."""
    if not specs:
        raise ConfigError("environments: at least one lighting spec is needed (e.g. 'full')")
    for spec in specs:
        _environment(spec)


@lru_cache(maxsize=16)
def _prefiltered(spec: str):  # -> PrefilteredEnvironment | None, cached per worker process
    env = _environment(spec)
    return None if env.is_pattern else cached_prefilter(env)


def _scatter(values: np.ndarray, idx: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Per-hit values (P, C) -> (size, size[, C]) float32 image, 0 off the surface."""
    img = np.zeros((size * size, channels), np.float32)
    img[idx] = np.asarray(values, np.float32).reshape(len(idx), channels)
    return img.reshape(size, size, channels) if channels > 1 else img.reshape(size, size)


def _encode16(path: Path, values: np.ndarray) -> None:
    write_png(path, np.clip(values, 0.0, 1.0), bits=16)


def render_training_views(
    asset_dir: str | Path,
    out_dir: str | Path,
    *,
    image_size: int = 512,
    views: tuple[str, ...] = ("front", "left", "right"),
    environments: tuple[str, ...] = ("full",),
    eyes: bool = True,
) -> list[Path]:
    """Write ``out_dir/views/<view>/*.png``, ``out_dir/uv/*.exr`` and ``out_dir/mesh_vertices.npy``.

    ``mesh_vertices.npy``: (V, 3) float32, metres, the subject's registered mesh on the
    template topology (vertex order of ``data/template_head.obj``); with the template's
    faces and UVs it rebuilds the mesh, and with :func:`aligned_cameras` the views' cameras
    (what inference needs to stitch predicted views into UV space).

    ``environments``: ``full`` (the full-on light-stage pattern) and/or built-in HDR map
    names or files; files are ``rgb_full.png`` and ``rgb_env<k>.png`` in that order
    (k counts the non-``full`` entries).

    ``eyes``: render the RGB views with eyes where the asset can have them (the
    face-model layout, the face model found); the maps and ``mask.png`` are the skin's
    either way. Returns the written paths.
    """
    asset = read_asset(asset_dir)
    out = Path(out_dir)
    written: list[Path] = []
    scene = raycasting_scene(asset.mesh)
    shading = asset_eyes(asset) if eyes else None
    rgb_scene = scene if shading is None else raycasting_scene(scene_mesh(asset.mesh, shading))
    cams = aligned_cameras(asset.mesh, size=image_size, views=views)
    envs = [(e, _environment(e)) for e in environments]
    cfg = RelightConfig(background="black", pattern_samples=8)
    for name, cam in cams.items():
        vdir = out / "views" / name
        surf, _ = surface_samples(asset, cam, scene)
        hw = image_size * image_size
        mask = np.zeros(hw, bool)
        mask[surf.idx] = True
        mask2 = mask.reshape(image_size, image_size)
        k_env = 0
        for spec, env in envs:
            res = render_view(
                asset, cam, env, config=cfg, scene=rgb_scene, prefiltered=_prefiltered(spec), eyes=shading
            )
            rgb = tone_map(res.image("none", background=False), exposure_stops=RGB_EXPOSURE_STOPS)
            fname = "rgb_full.png" if spec == "full" else f"rgb_env{k_env}.png"
            if spec != "full":
                k_env += 1
            written.append(write_png(vdir / fname, rgb * res.mask[..., None]))

        _encode16(vdir / "diffuse_albedo.png", _scatter(surf.albedo, surf.idx, image_size, 3))
        spec_alb = surf.k * directional_albedo(np.ones_like(surf.rough), surf.rough)  # the asset's map value
        _encode16(vdir / "specular_albedo.png", _scatter(spec_alb, surf.idx, image_size, 1))
        _encode16(vdir / "roughness.png", _scatter(surf.rough, surf.idx, image_size, 1))
        n_cam = surf.n @ cam.R.T * np.array([1.0, -1.0, -1.0])  # OpenCV -> OpenGL camera axes
        _encode16(vdir / "normal.png", _scatter((n_cam + 1) / 2, surf.idx, image_size, 3))
        written.append(write_png(vdir / "mask.png", mask2.astype(np.float32)))
        written.extend(vdir / f for f in ("diffuse_albedo.png", "specular_albedo.png", "roughness.png", "normal.png"))
    verts = np.ascontiguousarray(asset.mesh.vertices, np.float32)
    written.append(atomic_write(out / "mesh_vertices.npy", lambda p: np.save(p, verts, allow_pickle=False)))
    uv = out / "uv"
    uv.mkdir(parents=True, exist_ok=True)
    for p in sorted((Path(asset_dir) / "uv").glob("*.exr")):
        shutil.copyfile(p, uv / p.name)
        written.append(uv / p.name)
    return written
