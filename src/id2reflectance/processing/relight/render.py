"""Render a reflectance asset under an environment from a camera.

Per pixel: a primary ray through the pixel centre (lens distortion respected) is cast
against the asset's mesh with Open3D's ``RaycastingScene``; a hit on the front side of a
triangle gives the UV, where the maps are sampled bilinearly (rows clamp; columns wrap
in a chart closed in u, such as the procedural template's, and clamp in a layout of
separate charts such as the face model's: :func:`~id2reflectance.capture.geometry.mesh.wraps_in_u`); the shading normal is ``normal_object`` (the mesh's frame is the
render frame), ``v`` is minus the ray direction, and the GGX scale is
``k = specular_albedo / A(1, r)``.

- Image environments use the fast path of :mod:`id2reflectance.processing.relight.ibl`
  (irradiance table + GGX-prefiltered levels, hybrid split-sum / sampled specular).
- Pattern environments use the exact moment formulation of the simulator:
  ``D = albedo * response(diffuse moments)``, ``S = k * response(GGX moments)`` with
  :func:`~id2reflectance.capture.illumination.responses_from_moments`, so a ground-truth
  asset reproduces the simulator's frames (its subsurface blur of the irradiance aside).

Eyes (``eyes``, an :class:`~id2reflectance.processing.relight.eyes.EyeShading`): the
eyeballs placed into a face-model-layout asset are cast in the same scene as the skin
(:func:`~id2reflectance.processing.relight.eyes.scene_mesh`: the lids occlude them); a hit
on an eyeball takes the eyeball's interpolated vertex normal and the eye reflectance of
:mod:`~id2reflectance.capture.eye_appearance` (sclera / iris / pupil albedo at the hit
point, specular albedo 0.03, roughness 0.22) instead of the maps.

Polarisation as in the session format: ``none`` gives D + S, ``cross`` D / 2 and
``parallel`` D / 2 + S (background only with ``none``).

Shadowing (``shadows=True``): rays towards stratified directions are cast from the hit
point (offset 0.1 mm along the geometric normal). For patterns the visibility enters the
moment quadratures exactly. For images it scales each term by the visible share of the
light it integrates, ``sum V L w / sum L w`` over cosine-distributed (diffuse) or
GGX-distributed (specular) directions, with ``L`` the environment blurred to 32 rows.

Tone mapping for the PNGs (:func:`tone_map`): exposure ``2^stops`` (auto: the median
foreground luminance goes to 0.25), then Reinhard's extended operator on luminance with
white point 4, ``L' = L (1 + L / 16) / (1 + L)``, colours scaled by ``L' / L``, clipped
to [0, 1] and encoded with the sRGB transfer function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from id2reflectance._shared.imageio import tone_map  # noqa: F401  (re-exported: the tone curve of the PNGs)
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.eye_appearance import EYE_ROUGHNESS, EYE_SPECULAR, eye_albedo
from id2reflectance.capture.geometry.mesh import (
    FaceMesh,
    cast_rays,
    interpolate,
    raycasting_scene,
    sample_bilinear,
    wraps_in_u,
)
from id2reflectance.capture.ggx import diffuse_moments, specular_moments
from id2reflectance.capture.illumination import responses_from_moments
from id2reflectance.errors import ConfigError
from id2reflectance.processing.asset import Asset
from id2reflectance.processing.brdf_table import specular_scale
from id2reflectance.processing.relight.envcache import cached_prefilter
from id2reflectance.processing.relight.envmap import LUMA, Environment, bilinear_latlong
from id2reflectance.processing.relight.eyes import EyeShading, scene_mesh
from id2reflectance.processing.relight.ibl import PrefilteredEnvironment, mip_chain, shade_fast

log = logging.getLogger(__name__)

Polarization = Literal["none", "cross", "parallel"]
Background = Literal["environment", "black"]
SHADOW_OFFSET_M = 1e-4


@dataclass(frozen=True)
class RelightConfig:
    """Options of ``id2r relight`` (all defaults here)."""

    polarization: Polarization = "none"
    background: Background = "environment"
    shadows: bool = False
    shadow_samples: int = 6  # per axis: shadow_samples^2 rays per pixel and term
    pattern_samples: int = 16  # per axis: GGX quadrature of the pattern path (simulator's)
    specular: Literal["hybrid", "sampled", "split_sum"] = "hybrid"  # image environments, see processing.ibl
    exposure_stops: float | None = None  # PNG exposure; None = auto (median face luminance -> 0.25)
    orbit: int = 1  # cameras around the head when no session is given
    image_size: int = 512  # pixels per side of orbit cameras
    fov_deg: float = 20.0  # full field of view of orbit cameras
    elevation_deg: float = 0.0  # orbit camera elevation above the head's centre
    env_rotate_deg: float = 0.0  # environment rotation about +y (right-handed)
    normalize: Literal["none", "mean"] = "none"  # environment intensity normalisation
    chunk: int = 32768  # pixels shaded per batch
    env_cache: bool = True  # prefiltered environments through the on-disk cache (processing.relight.envcache)
    eyes: bool = False  # id2r relight: eyeballs with face-model-layout assets (processing.relight.eyes)

    def __post_init__(self) -> None:
        if self.polarization not in ("none", "cross", "parallel"):
            raise ConfigError(f"polarization must be none, cross or parallel, got {self.polarization!r}")
        if self.background not in ("environment", "black"):
            raise ConfigError(f"background must be environment or black, got {self.background!r}")
        if self.specular not in ("hybrid", "sampled", "split_sum"):
            raise ConfigError(f"specular must be hybrid, sampled or split_sum, got {self.specular!r}")
        if self.normalize not in ("none", "mean"):
            raise ConfigError(f"normalize must be none or mean, got {self.normalize!r}")
        for name, lo in (("shadow_samples", 1), ("pattern_samples", 1), ("orbit", 1), ("image_size", 8)):
            if getattr(self, name) < lo:
                raise ConfigError(f"{name} must be >= {lo}, got {getattr(self, name)}")
        if not 1.0 <= self.fov_deg <= 120.0:
            raise ConfigError(f"fov_deg must be in [1, 120], got {self.fov_deg}")


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered view.

    diffuse, specular : (H, W, 3) float32 linear radiance D and S (0 off the head).
    background : (H, W, 3) float32 environment radiance seen past the head (0 on it).
    mask : (H, W) bool, pixel centre sees the front side of the mesh (or of an eyeball).
    """

    diffuse: np.ndarray
    specular: np.ndarray
    background: np.ndarray
    mask: np.ndarray

    def image(self, polarization: Polarization = "none", *, background: bool = True) -> np.ndarray:
        """(H, W, 3) float32: D + S (+ background), D / 2, or D / 2 + S."""
        if polarization == "cross":
            return 0.5 * self.diffuse
        if polarization == "parallel":
            return 0.5 * self.diffuse + self.specular
        out = self.diffuse + self.specular
        return out + self.background if background else out


def orbit_cameras(
    mesh: FaceMesh, count: int, *, size: int = 512, fov_deg: float = 20.0, elevation_deg: float = 0.0
) -> list[Camera]:
    """``count`` pinhole cameras on a circle about +y around the mesh, the first frontal.

    The circle is centred on the mesh's bounding-box centre; its radius fits the bounding
    sphere into the field of view with a 5 % margin. Azimuths 360 * i / count degrees,
    counter-clockwise seen from above, starting at +z. Names ``orbit000``, ...
    """
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    centre = 0.5 * (lo + hi)
    radius = float(np.linalg.norm(mesh.vertices - centre, axis=1).max())
    half = np.deg2rad(fov_deg) / 2
    dist = 1.05 * radius / np.sin(half)
    f = (size / 2) / np.tan(half)
    K = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    el = np.deg2rad(elevation_deg)
    cams = []
    for i in range(count):
        az = 2 * np.pi * i / count
        eye = centre + dist * np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        R, t = look_at(eye, centre)
        cams.append(Camera(f"orbit{i:03d}", size, size, K, np.zeros(0), R, t))
    return cams


@dataclass(frozen=True, eq=False)
class SurfaceSamples:
    """Shading inputs of the P pixels whose ray hits the front of the mesh (world frame)."""

    idx: np.ndarray  # (P,) flat pixel indices
    points: np.ndarray  # (P, 3) hit points, offset along the geometric normal
    n: np.ndarray  # (P, 3) unit shading normals
    v: np.ndarray  # (P, 3) unit directions to the camera
    albedo: np.ndarray  # (P, 3)
    k: np.ndarray  # (P,)
    rough: np.ndarray  # (P,)
    eye: np.ndarray | None = None  # (P,) bool, the hit is on an eyeball (None: rendered without eyes)


def surface_samples(
    asset: Asset, camera: Camera, scene=None, eyes: EyeShading | None = None
) -> tuple[SurfaceSamples, np.ndarray]:
    """Cast the camera's primary rays and sample the asset's maps at the hits.

    With ``eyes`` the rays meet the skin and the eyeballs (``scene``, when given, must be
    the scene of :func:`~id2reflectance.processing.relight.eyes.scene_mesh`), and a hit on
    an eyeball is shaded as an eye (``SurfaceSamples.eye``).

    Returns the SurfaceSamples (k from :func:`specular_scale`, hit points offset 0.1 mm
    along the geometric normal) and the (H*W, 3) unit ray directions of every pixel.
    """
    both = scene_mesh(asset.mesh, eyes)
    scene = raycasting_scene(both) if scene is None else scene
    origin, dirs = camera.pixel_rays()
    t, fid, bary = cast_rays(scene, origin, dirs)
    hit = fid >= 0
    face_n = both.face_normals()
    hit[hit] &= np.sum(face_n[fid[hit]] * dirs[hit], axis=1) < 0
    idx = np.flatnonzero(hit)
    fid_h, bary_h = fid[idx], bary[idx].astype(np.float64)
    points = origin + t[idx, None].astype(np.float64) * dirs[idx]
    if eyes is None:
        n, albedo, k, rough = _map_samples(asset, fid_h, bary_h)
        on_eye = None
    else:
        on_eye = fid_h >= len(asset.mesh.faces)
        skin = ~on_eye
        p = len(idx)
        n, albedo, k, rough = np.empty((p, 3)), np.empty((p, 3)), np.empty(p), np.empty(p)
        n[skin], albedo[skin], k[skin], rough[skin] = _map_samples(asset, fid_h[skin], bary_h[skin])
        ball = eyes.eyes.mesh
        fe, be = fid_h[on_eye] - len(asset.mesh.faces), bary_h[on_eye]
        n[on_eye] = interpolate(ball.vertex_normals(), ball.faces, fe, be)
        albedo[on_eye] = eye_albedo(points[on_eye], eyes.eyes.centres, eyes.eyes.axes, eyes.iris_darkness)
        rough[on_eye] = EYE_ROUGHNESS
        k[on_eye] = specular_scale(np.full(int(on_eye.sum()), EYE_SPECULAR), rough[on_eye])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    points = points + SHADOW_OFFSET_M * face_n[fid_h]
    surf = SurfaceSamples(idx, points, n, -dirs[idx], albedo, k, rough, on_eye)
    return surf, dirs


def _map_samples(asset: Asset, fid: np.ndarray, bary: np.ndarray) -> tuple[np.ndarray, ...]:
    """The asset's maps at hits (face ids ``fid`` (P,) of its mesh, barycentrics (P, 3)):
    normal (P, 3) not yet unit, albedo (P, 3), GGX scale k (P,), roughness (P,)."""
    mesh = asset.mesh
    uv = interpolate(mesh.uvs, mesh.faces, fid, bary)
    m = asset.maps
    wrap = wraps_in_u(mesh)  # columns wrap only in a chart closed in u (the procedural one)
    n = sample_bilinear(m.normal_object, uv, wrap_u=wrap)
    rough = sample_bilinear(m.roughness, uv, wrap_u=wrap)
    k = specular_scale(sample_bilinear(m.specular_albedo, uv, wrap_u=wrap), rough)
    albedo = sample_bilinear(m.diffuse_albedo, uv, wrap_u=wrap)
    return n, albedo, k, rough


def _visibility_fn(scene, points: np.ndarray, weight: Callable[[np.ndarray], np.ndarray] | None = None):
    """VisibilityFn for the ggx quadratures: 1 where the ray from the point escapes.

    With ``weight`` the value is ``V * weight(dirs)`` (used for light-weighted ratios).
    """

    def fn(i: np.ndarray, d: np.ndarray) -> np.ndarray:
        p, s = d.shape[:2]
        o = np.repeat(points[i], s, axis=0)
        tt, _, _ = cast_rays(scene, o, d.reshape(-1, 3))
        vis = (~np.isfinite(tt)).reshape(p, s).astype(np.float64)
        return vis if weight is None else vis * weight(d)

    return fn


def _blurred_luminance(env: Environment) -> Callable[[np.ndarray], np.ndarray]:
    """Luminance of the environment blurred to 32 rows, as a function of world dirs (P, S, 3)."""
    if env.radiance is None:
        return lambda d: env.radiance_towards(d.reshape(-1, 3))[:, 0].reshape(d.shape[:2])
    low = next((m for m in mip_chain(env.radiance) if m.shape[0] <= 32), env.radiance)
    lum = (low.astype(np.float64) @ LUMA)[..., None]
    return lambda d: bilinear_latlong(lum, d.reshape(-1, 3) @ env.to_world)[:, 0].reshape(d.shape[:2])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1.0), 1.0)


def _shade_pattern(env: Environment, s: SurfaceSamples, sl: slice, config: RelightConfig, scene) -> tuple:
    n, v, rough = s.n[sl], s.v[sl], s.rough[sl]
    vis = _visibility_fn(scene, s.points[sl]) if config.shadows else None
    dm0, dm1 = diffuse_moments(n, visibility=vis)
    ps = config.pattern_samples
    sm0, sm1 = specular_moments(n, v, rough, samples=(ps, ps), visibility=vis)
    to_env = env.to_world  # rows: world -> environment (light-stage) axes is to_world.T @ m
    d = responses_from_moments(dm0, dm1 @ to_env, env.pattern)
    sp = s.k[sl] * responses_from_moments(sm0, sm1 @ to_env, env.pattern)
    return s.albedo[sl] * d[:, None], np.repeat(sp[:, None], 3, axis=1)


def _shade_image(
    pre: PrefilteredEnvironment, s: SurfaceSamples, sl: slice, config: RelightConfig, scene, lum_fn
) -> tuple:
    n, v, rough = s.n[sl], s.v[sl], s.rough[sl]
    diffuse, spec = shade_fast(pre, n, v, s.albedo[sl], s.k[sl], rough, specular=config.specular)
    if config.shadows:
        q = config.shadow_samples
        pts = s.points[sl]
        num_d, _ = diffuse_moments(n, samples=(q, q), visibility=_visibility_fn(scene, pts, lum_fn))
        den_d, _ = diffuse_moments(n, samples=(q, q), visibility=lambda i, d: lum_fn(d))
        num_s, _ = specular_moments(n, v, rough, samples=(q, q), visibility=_visibility_fn(scene, pts, lum_fn))
        den_s, _ = specular_moments(n, v, rough, samples=(q, q), visibility=lambda i, d: lum_fn(d))
        diffuse = diffuse * _ratio(num_d, den_d)[:, None]
        spec = spec * _ratio(num_s, den_s)[:, None]
    return diffuse, spec


def render_view(
    asset: Asset,
    camera: Camera,
    env: Environment,
    *,
    config: RelightConfig | None = None,
    scene=None,
    prefiltered: PrefilteredEnvironment | None = None,
    progress: ProgressFn | None = None,
    eyes: EyeShading | None = None,
) -> RenderResult:
    """Render ``asset`` seen by ``camera`` under ``env``.

    Parameters
    ----------
    asset : a read asset (mesh + maps) whose mesh frame is the camera's world frame.
    camera : pinhole camera (OpenCV convention, optional distortion).
    env : image or pattern environment.
    config : options (polarisation is applied later by :meth:`RenderResult.image`).
    scene : RaycastingScene of ``asset.mesh``, or with ``eyes`` of
        ``scene_mesh(asset.mesh, eyes)`` (built when None).
    prefiltered : tables of ``env`` (when None and ``env`` is an image: :func:`~.envcache.cached_prefilter`).
    progress : ``progress(stage, done, total)`` per batch of pixels.
    eyes : eyeballs rendered with the skin (:func:`~.eyes.asset_eyes`); None: the skin only.

    Returns
    -------
    RenderResult with (camera.height, camera.width) images, float32 linear radiance.
    """
    config = config or RelightConfig()
    scene = raycasting_scene(scene_mesh(asset.mesh, eyes)) if scene is None else scene
    if env.radiance is not None and prefiltered is None:
        prefiltered = cached_prefilter(env, use_cache=config.env_cache)
    surf, dirs = surface_samples(asset, camera, scene, eyes)
    h, w = camera.height, camera.width
    diffuse = np.zeros((h * w, 3), np.float32)
    spec = np.zeros((h * w, 3), np.float32)
    lum_fn = _blurred_luminance(env) if config.shadows and not env.is_pattern else None
    total = len(surf.idx)
    step = max(1, config.chunk)
    for s0 in range(0, total, step):
        sl = slice(s0, min(s0 + step, total))
        if env.is_pattern:
            d, sp = _shade_pattern(env, surf, sl, config, scene)
        else:
            d, sp = _shade_image(prefiltered, surf, sl, config, scene, lum_fn)
        diffuse[surf.idx[sl]] = d
        spec[surf.idx[sl]] = sp
        if progress is not None:
            progress(f"render {camera.name}", sl.stop, total)
    background = np.zeros((h * w, 3), np.float32)
    if config.background == "environment":
        miss = np.ones(h * w, bool)
        miss[surf.idx] = False
        background[miss] = env.radiance_towards(dirs[miss])
    mask = np.zeros(h * w, bool)
    mask[surf.idx] = True
    shape = (h, w, 3)
    return RenderResult(diffuse.reshape(shape), spec.reshape(shape), background.reshape(shape), mask.reshape(h, w))
