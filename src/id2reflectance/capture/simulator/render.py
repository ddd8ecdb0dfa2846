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
from id2reflectance.capture.geometry.mesh import FaceMesh, cast_rays, interpolate, sample_bilinear
from id2reflectance.capture.geometry.regions import UVRaster
from id2reflectance.capture.ggx import diffuse_moments, normal_incidence_albedo, specular_moments
from id2reflectance.capture.illumination import responses_from_moments
from id2reflectance.capture.simulator.skin import SubjectMaps
from id2reflectance.capture.simulator.visibility import VertexVisibility


@dataclass(frozen=True, eq=False)
class DiffuseTextures:
    """Diffuse part of a subject's appearance in UV space.

    radiance : {pattern: (S, S, 3) float32} diffuse radiance D (the cross frame is D/2).
    visibility : (S, S) float32 unoccluded fraction m0 of the cosine lobe (1 = open).
    """

    radiance: dict[str, np.ndarray]
    visibility: np.ndarray


def diffuse_textures(
    maps: SubjectMaps,
    raster: UVRaster,
    vis: VertexVisibility,
    *,
    patterns: tuple[str, ...],
    sss_mm: tuple[float, float, float],
    texel_size: float,
    samples: tuple[int, int] = (8, 16),
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
    sigmas = [mm * 1e-3 / texel_size for mm in sss_mm]
    albedo = maps.diffuse_albedo.astype(np.float64)
    radiance = {}
    for p in patterns:
        e = responses_from_moments(m0, m1, p).reshape(s, s)
        blurred = np.stack([ndimage.gaussian_filter(e, sg, mode=("nearest", "wrap")) for sg in sigmas], axis=-1)
        radiance[p] = (albedo * blurred).astype(np.float32)
    return DiffuseTextures(radiance=radiance, visibility=m0.reshape(s, s).astype(np.float32))


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
) -> CameraRender:
    """Render one camera: primary rays through pixel centres, textures sampled bilinearly.

    The view vector is minus the ray direction; lens distortion is respected through
    :meth:`Camera.pixel_rays`. Pixels whose ray misses the head or meets its inside (the
    open neck) are background: zero radiance, mask 0.
    """
    h, w = camera.height, camera.width
    origin, dirs = camera.pixel_rays()
    _, fid, bary = cast_rays(scene, origin, dirs)
    hit = fid >= 0
    face_n = mesh.face_normals()
    hit[hit] &= np.sum(face_n[fid[hit]] * dirs[hit], axis=1) < 0
    idx = np.flatnonzero(hit)
    fid_h, bary_h = fid[idx], bary[idx].astype(np.float64)
    uv = interpolate(mesh.uvs, mesh.faces, fid_h, bary_h)
    v = -dirs[idx]
    n = sample_bilinear(maps.normal_object, uv)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    rough = sample_bilinear(maps.roughness, uv)
    k = sample_bilinear(maps.specular_albedo, uv) / normal_incidence_albedo(rough, samples=samples)

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

    cross, parallel = {}, {}
    for p in patterns:
        d = sample_bilinear(diffuse.radiance[p], uv)
        spec = k * responses_from_moments(m0, m1, p)
        cross[p] = image(0.5 * d)
        parallel[p] = image(0.5 * d + spec[:, None])
    ones = np.ones(len(idx))
    truth = {
        "diffuse_albedo": image(sample_bilinear(maps.diffuse_albedo, uv)),
        "specular_albedo": image(k * m0_open),
        "normal": image(n),
        "roughness": image(rough),
        "mask": image(ones),
        "visibility": image(sample_bilinear(diffuse.visibility, uv)),
        "uv": image(np.concatenate([uv, ones[:, None]], axis=1)),
    }
    if maps.eye is not None:
        truth["skin"] = image((sample_bilinear(maps.eye, uv) < 0.5).astype(np.float64))
    return CameraRender(hit=hit.reshape(h, w), cross=cross, parallel=parallel, truth=truth)
