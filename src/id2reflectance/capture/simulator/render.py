"""Light-stage rendering of one subject: UV-space diffuse, per-pixel specular.

Reflectance model: :mod:`~id2reflectance.capture.ggx` (Lambert + GGX, height-correlated
Smith, Schlick F0 = 0.028). Illumination: the spherical patterns of
:mod:`~id2reflectance.capture.illumination` with ``lights_to_world`` = identity.

- Diffuse (view independent, texture space): per texel the diffuse moments of the detail
  normal with self-visibility give each pattern's irradiance; subsurface scattering blurs
  each pattern's irradiance per colour channel (Gaussian, red widest) in texture space;
  times the diffuse albedo gives a radiance texture per pattern. Unoccluded, the full
  pattern's irradiance is 1 everywhere, so the full-pattern diffuse response is exactly
  the albedo.
- Specular (per pixel): moments of the GGX lobe for the pixel's normal, view and
  roughness with self-visibility, scaled by ``k = specular_albedo / A(1, r)`` so that a
  pixel seen head-on responds with exactly the UV specular albedo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate
from id2reflectance.capture.geometry.regions import UVRaster
from id2reflectance.capture.ggx import diffuse_moments, normal_incidence_albedo, specular_moments
from id2reflectance.capture.illumination import responses_from_moments
from id2reflectance.capture.simulator.footprint import Footprint, camera_footprint
from id2reflectance.capture.simulator.motion import HeadMotion
from id2reflectance.capture.simulator.skin import SubjectMaps
from id2reflectance.capture.simulator.visibility import VertexVisibility


@dataclass(frozen=True, eq=False)
class DiffuseTextures:
    """Diffuse part of a subject's appearance in UV space.

    radiance : {pattern: (S, S, 3) float32} diffuse radiance D (the cross frame is D/2).
    visibility : (S, S) float32 unoccluded fraction m0 of the cosine lobe (1 = open).
    m1 : (S * S, 3) float64 first moment of the cosine lobe with self-visibility (world
        frame of the head at rest), kept to relight a rotated head (:func:`rotated_radiance`).
    sigmas : subsurface blur sigma per channel (R, G, B), texels.
    wrap_u : the chart is closed in u (the procedural chart; not a layout of several
        charts): the blur and the cameras' texture lookups wrap around u.
    """

    radiance: dict[str, np.ndarray]
    visibility: np.ndarray
    m1: np.ndarray | None = None
    sigmas: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wrap_u: bool = True


def _pattern_radiance(
    albedo: np.ndarray, m0: np.ndarray, m1: np.ndarray, pattern: str, sigmas: tuple[float, ...], wrap_u: bool = True
) -> np.ndarray:
    """(S, S, 3) float32 diffuse radiance of one pattern: irradiance blurred per channel times
    albedo (the blur wraps around u with ``wrap_u``: the procedural chart's seam)."""
    s = albedo.shape[0]
    e = responses_from_moments(m0, m1, pattern).reshape(s, s)
    mode = ("nearest", "wrap" if wrap_u else "nearest")
    blurred = np.stack([ndimage.gaussian_filter(e, sg, mode=mode) for sg in sigmas], axis=-1)
    return (albedo * blurred).astype(np.float32)


def rotated_radiance(maps: SubjectMaps, diffuse: DiffuseTextures, rotation: np.ndarray, pattern: str) -> np.ndarray:
    """Diffuse radiance texture of ``pattern`` for the head turned by ``rotation``.

    The lights stay fixed while the head turns, so the lobe's first moment (head frame)
    is rotated into the light frame: ``m1_world = rotation @ m1``.

    Parameters
    ----------
    rotation : (3, 3) rotation of the head (world frame).

    Returns
    -------
    (S, S, 3) float32 radiance D, linear Rec.709 (the cross frame is D/2).
    """
    if diffuse.m1 is None:
        raise ValueError("rotated_radiance needs DiffuseTextures made by diffuse_textures (with m1)")
    m0 = diffuse.visibility.reshape(-1).astype(np.float64)
    m1 = diffuse.m1 @ np.asarray(rotation, np.float64).T
    return _pattern_radiance(maps.diffuse_albedo.astype(np.float64), m0, m1, pattern, diffuse.sigmas, diffuse.wrap_u)


def diffuse_textures(
    maps: SubjectMaps,
    raster: UVRaster,
    vis: VertexVisibility,
    *,
    patterns: tuple[str, ...],
    sss_mm: tuple[float, float, float],
    texel_size: float,
    samples: tuple[int, int] = (8, 16),
    wrap_u: bool = True,
) -> DiffuseTextures:
    """Diffuse radiance textures for each pattern.

    Parameters
    ----------
    maps : the subject's UV maps (normal_object in the world frame of ``vis``).
    raster : the UV raster of the same size (face ids and barycentrics per texel).
    vis : the subject's vertex visibility.
    patterns : lit patterns to render.
    sss_mm : Gaussian sigma of subsurface scattering per channel (R, G, B), millimetres.
    texel_size : metres per texel (to convert ``sss_mm``).
    samples : cosine-lobe quadrature grid for the occluded texels.
    wrap_u : the subsurface blur wraps around u (True: the procedural chart, whose seam
        is at u = 0 and 1; False: a layout of several charts, clamped at the edges).
    """
    s = maps.size
    n = maps.normal_object.reshape(-1, 3).astype(np.float64)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    fid = raster.face_id.reshape(-1)
    bary = raster.bary.reshape(-1, 3)
    m0, m1 = diffuse_moments(n)
    shadowed = np.flatnonzero(~vis.unoccluded(fid))
    if shadowed.size:
        fn = vis.function(fid[shadowed], bary[shadowed])
        m0[shadowed], m1[shadowed] = diffuse_moments(n[shadowed], samples=samples, visibility=fn)
    sigmas = tuple(float(mm * 1e-3 / texel_size) for mm in sss_mm)
    albedo = maps.diffuse_albedo.astype(np.float64)
    radiance = {p: _pattern_radiance(albedo, m0, m1, p, sigmas, wrap_u) for p in patterns}
    return DiffuseTextures(
        radiance=radiance,
        visibility=m0.reshape(s, s).astype(np.float32),
        m1=m1,
        sigmas=sigmas,  # type: ignore[arg-type]
        wrap_u=wrap_u,
    )


@dataclass(frozen=True, eq=False)
class CameraRender:
    """One camera's noise-free radiance and ground truth (pixels in row-major order).

    hit : (H, W) bool, pixel centre sees the front side of the head.
    cross, parallel : {pattern: (H, W, 3) float32} radiance (D/2 and D/2 + S).
    truth : {name: (H, W) or (H, W, C) float32} diffuse_albedo (RGB), specular_albedo,
        normal (RGB, world), roughness, mask (1 on the head), visibility, uv (RGB: u, v,
        hit), and for heads with eyeballs skin (1 on skin, 0 on the eyes and background).
    """

    hit: np.ndarray
    cross: dict[str, np.ndarray]
    parallel: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]


def render_camera(
    camera: Camera,
    mesh: FaceMesh,
    scene,  # open3d.t.geometry.RaycastingScene of ``mesh``
    maps: SubjectMaps,
    diffuse: DiffuseTextures,
    vis: VertexVisibility,
    *,
    patterns: tuple[str, ...],
    samples: tuple[int, int] = (16, 16),
    chunk: int = 1024,
    motion: HeadMotion | None = None,
    pixel_samples: int = 1,
    blur_px: float = 0.0,
) -> CameraRender:
    """Render one camera: primary rays through pixel centres, textures sampled bilinearly
    (columns wrap around only with ``diffuse.wrap_u``, the procedural chart; else clamp).

    Each pixel integrates over its footprint (:mod:`~id2reflectance.capture.simulator.footprint`:
    ``pixel_samples`` x ``pixel_samples`` sub-pixel rays per pixel, odd, weighted by the
    pixel's box convolved with a Gaussian lens blur of sigma ``blur_px`` pixels): the diffuse
    radiance and the truth's albedo-like maps (diffuse albedo, visibility, skin) are the
    footprint means of their lookups over the samples that meet the head; the specular
    response is evaluated once, for the pixel centre's view, with the footprint's mean
    normal (normalised), roughness and specular albedo, which are also the truth. A pixel
    belongs to the head when its centre does (silhouette pixels average the samples that
    hit, no background mixed in); ``uv`` stays the centre's. ``pixel_samples = 1`` with no
    blur is one point sample per pixel (aliases texel-level detail when the head moves
    between frames).

    The view vector is minus the ray direction; lens distortion is respected through
    :meth:`Camera.pixel_rays`. Pixels whose ray misses the head or meets its inside (the
    open neck) are background: zero radiance, mask 0.

    With ``motion`` the head is rendered moved rigidly by it: the rays are taken into the
    head's rest frame (``mesh``, ``scene`` and ``diffuse`` must be those of the moved head
    in that frame: any expression displacement applied, ``diffuse`` relit with
    :func:`rotated_radiance`) and the specular first moments turned back to the fixed
    lights. The truth is then that of the moved head.
    """
    h, w = camera.height, camera.width
    origin, dirs = camera.pixel_rays()
    if motion is not None:
        origin, dirs = motion.rays_to_rest(origin, dirs)
    _, fid, bary = cast_rays(scene, origin, dirs)
    hit = fid >= 0
    face_n = mesh.face_normals()
    hit[hit] &= np.sum(face_n[fid[hit]] * dirs[hit], axis=1) < 0
    idx = np.flatnonzero(hit)
    fid_h, bary_h = fid[idx], bary[idx].astype(np.float64)
    uv = interpolate(mesh.uvs, mesh.faces, fid_h, bary_h)
    wrap = diffuse.wrap_u  # columns wrap only in the procedural chart (closed in u)
    v = -dirs[idx]
    if pixel_samples % 2 != 1:
        raise ValueError(f"render_camera: pixel_samples must be odd (a sub-sample at the centre), got {pixel_samples}")
    if pixel_samples > 1 or blur_px > 0:
        foot = camera_footprint(camera, mesh, scene, idx, pixel_samples=pixel_samples, blur_px=blur_px, motion=motion)
    else:  # one point sample per pixel: the centre rays
        foot = Footprint((h, w), 1, hit.reshape(h, w), uv, idx, np.zeros(1, np.int64), np.ones(1))
    n = foot.mean(maps.normal_object, wrap)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    rough = foot.mean(maps.roughness, wrap)
    k = foot.mean(maps.specular_albedo, wrap) / normal_incidence_albedo(rough, samples=samples)

    # Moments with self-visibility; points on open triangles skip the lookup (it would
    # return exactly 1). The truth needs the unoccluded m0 as well: it differs only where
    # a quadrature direction met a shadow, and only there is it computed again.
    open_ = vis.unoccluded(fid_h)
    m0 = np.empty(len(idx))
    m1 = np.empty((len(idx), 3))
    op = np.flatnonzero(open_)
    if op.size:
        m0[op], m1[op] = specular_moments(n[op], v[op], rough[op], samples=samples, chunk=chunk)
    m0_open = m0.copy()
    closed = np.flatnonzero(~open_)
    if closed.size:
        shaded = np.zeros(closed.size, bool)

        n_closed = n[closed]

        def note(i: np.ndarray, dirs: np.ndarray, values: np.ndarray) -> None:
            # directions below the shading normal's horizon carry zero weight
            above = np.einsum("pk,psk->ps", n_closed[i], dirs) > -1e-6
            shaded[i] |= np.any((values < 1.0) & above, axis=1)

        fn = vis.function(fid_h[closed], bary_h[closed], on_call=note)
        m0[closed], m1[closed] = specular_moments(
            n[closed], v[closed], rough[closed], samples=samples, visibility=fn, chunk=chunk
        )
        m0_open[closed] = m0[closed]
        sh = closed[shaded]
        if sh.size:
            m0_open[sh], _ = specular_moments(n[sh], v[sh], rough[sh], samples=samples, chunk=chunk)

    def image(values: np.ndarray) -> np.ndarray:
        out = np.zeros((h * w,) + values.shape[1:], np.float32)
        out[idx] = values
        return out.reshape((h, w) + values.shape[1:])

    if motion is not None:
        m1 = m1 @ motion.rotation.T  # head frame -> fixed light frame
    cross, parallel = {}, {}
    for p in patterns:
        d = foot.mean(diffuse.radiance[p], wrap)
        spec = k * responses_from_moments(m0, m1, p)
        cross[p] = image(0.5 * d)
        parallel[p] = image(0.5 * d + spec[:, None])
    ones = np.ones(len(idx))
    truth = {
        "diffuse_albedo": image(foot.mean(maps.diffuse_albedo, wrap)),
        "specular_albedo": image(k * m0_open),
        "normal": image(n),
        "roughness": image(rough),
        "mask": image(ones),
        "visibility": image(foot.mean(diffuse.visibility, wrap)),
        "uv": image(np.concatenate([uv, ones[:, None]], axis=1)),
    }
    if maps.eye is not None:
        truth["skin"] = image((foot.mean(maps.eye, wrap) < 0.5).astype(np.float64))
    return CameraRender(hit=hit.reshape(h, w), cross=cross, parallel=parallel, truth=truth)
