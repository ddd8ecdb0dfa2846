"""The reflectance model shared by the simulator, the solver and relighting.

Diffuse: Lambertian, BRDF ``albedo / pi``. Specular: isotropic GGX microfacet BRDF

    f_s = k * D(h) * G2(v, l) * F(v.h) / (4 (n.v) (n.l))

with perceptual roughness ``r`` (``alpha = r * r``), the height-correlated Smith masking
term ``G2 = 1 / (1 + Lambda(v) + Lambda(l))`` and Schlick's Fresnel with ``F0 = 0.028``.
``k`` is a unitless scale; the specular albedo (response to the uniform full sphere)
is ``k * A(n.v, r)`` with ``A`` the directional albedo of the lobe.

Integrals over light directions use deterministic stratified quadratures: the GGX lobe is
sampled by its distribution of visible normals (Heitz 2018), whose weight
``F * G2 / G1(v)`` is smooth and bounded, and the diffuse lobe by cosine-weighted
hemisphere sampling. All directions are unit (..., 3) arrays in one frame (world).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

F0 = 0.028
ROUGHNESS_MIN = 0.02

# visibility(idx, dirs) -> (P, S) float in [0, 1]: idx (P,) int indices of the shading
# points in the caller's arrays, dirs (P, S, 3) light directions from those points.
VisibilityFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def alpha_from_roughness(r: np.ndarray | float) -> np.ndarray:
    """GGX alpha = r^2 with r clamped to [ROUGHNESS_MIN, 1]."""
    r = np.clip(np.asarray(r, dtype=np.float64), ROUGHNESS_MIN, 1.0)
    return r * r


def ggx_d(cos_h: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """GGX normal distribution D(h) for cos(theta_h) = n.h (any broadcastable shape)."""
    a2 = alpha * alpha
    c2 = cos_h * cos_h
    return a2 / (np.pi * (c2 * (a2 - 1) + 1) ** 2)


def smith_lambda(cos_t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Smith Lambda for GGX: (-1 + sqrt(1 + alpha^2 tan^2 theta)) / 2, cos_t > 0."""
    c2 = np.maximum(cos_t * cos_t, 1e-12)
    tan2 = np.maximum(1 - c2, 0) / c2
    return 0.5 * (-1 + np.sqrt(1 + alpha * alpha * tan2))


def schlick(cos_d: np.ndarray, f0: float = F0) -> np.ndarray:
    """Schlick Fresnel F0 + (1 - F0)(1 - cos)^5."""
    return f0 + (1 - f0) * np.clip(1 - cos_d, 0, 1) ** 5


def ggx_brdf(
    n: np.ndarray, v: np.ndarray, l: np.ndarray, roughness: np.ndarray, k: np.ndarray | float = 1.0
) -> np.ndarray:
    """Specular BRDF value (1/sr), zero where n.v <= 0 or n.l <= 0. Shapes broadcast (..., 3)."""
    alpha = alpha_from_roughness(roughness)
    nv = np.sum(n * v, -1)
    nl = np.sum(n * l, -1)
    h = v + l
    h /= np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
    nh = np.clip(np.sum(n * h, -1), 0, 1)
    vh = np.clip(np.sum(v * h, -1), 0, 1)
    ok = (nv > 0) & (nl > 0)
    nvc = np.where(ok, nv, 1)
    nlc = np.where(ok, nl, 1)
    g2 = 1 / (1 + smith_lambda(nvc, alpha) + smith_lambda(nlc, alpha))
    f = k * ggx_d(nh, alpha) * g2 * schlick(vh) / (4 * nvc * nlc)
    return np.where(ok, f, 0.0)


def tangent_frame(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal tangents (t, b) for unit normals n (..., 3) (Duff et al. 2017)."""
    x, y, z = n[..., 0], n[..., 1], n[..., 2]
    s = np.where(z >= 0, 1.0, -1.0)
    a = -1.0 / (s + z)
    bb = x * y * a
    t = np.stack([1 + s * x * x * a, s * bb, -s * x], -1)
    b = np.stack([bb, s + y * y * a, -y], -1)
    return t, b


def stratified_unit_square(n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of an n1 x n2 grid on [0, 1)^2, flattened: (u1, u2) each (n1*n2,)."""
    u1 = (np.arange(n1) + 0.5) / n1
    u2 = (np.arange(n2) + 0.5) / n2
    a, b = np.meshgrid(u1, u2, indexing="ij")
    return a.ravel(), b.ravel()


def _vndf_local(v: np.ndarray, alpha: np.ndarray, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Sample visible GGX normals. v (P, 3) local (z = normal, v_z > 0), alpha (P,),
    u1, u2 (S,). Returns h (P, S, 3) local unit half vectors."""
    a = alpha[:, None]
    vh = np.stack([a[:, 0] * v[:, 0], a[:, 0] * v[:, 1], v[:, 2]], -1)
    vh /= np.linalg.norm(vh, axis=-1, keepdims=True)
    lensq = vh[:, 0] ** 2 + vh[:, 1] ** 2
    inv = np.where(lensq > 1e-14, 1 / np.sqrt(np.maximum(lensq, 1e-14)), 0.0)
    t1 = np.stack(
        [
            np.where(lensq > 1e-14, -vh[:, 1] * inv, 1.0),
            np.where(lensq > 1e-14, vh[:, 0] * inv, 0.0),
            np.zeros_like(inv),
        ],
        -1,
    )
    t2 = np.cross(vh, t1)
    r = np.sqrt(u1)[None, :]
    phi = 2 * np.pi * u2[None, :]
    p1 = r * np.cos(phi)
    p2 = r * np.sin(phi)
    s = 0.5 * (1 + vh[:, 2:3])
    p2 = (1 - s) * np.sqrt(np.maximum(0.0, 1 - p1 * p1)) + s * p2
    p3 = np.sqrt(np.maximum(0.0, 1 - p1 * p1 - p2 * p2))
    nh = p1[..., None] * t1[:, None, :] + p2[..., None] * t2[:, None, :] + p3[..., None] * vh[:, None, :]
    h = np.stack([a * nh[..., 0], a * nh[..., 1], np.maximum(nh[..., 2], 1e-7)], -1)
    h /= np.linalg.norm(h, axis=-1, keepdims=True)
    return h


def specular_moments(
    n: np.ndarray,
    v: np.ndarray,
    roughness: np.ndarray,
    *,
    samples: tuple[int, int] = (16, 16),
    visibility: VisibilityFn | None = None,
    chunk: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Zeroth and first moments of the GGX lobe (k = 1) times cosine over the sphere.

    Parameters
    ----------
    n : (P, 3) unit shading normals; v : (P, 3) unit directions towards the viewer;
    roughness : (P,) perceptual roughness; visibility : optional light visibility.

    Returns
    -------
    m0 : (P,) float64, ``∫ V f_s (n.l) dl`` (the specular albedo for k = 1).
    m1 : (P, 3) float64, ``∫ V f_s (n.l) l dl`` in the frame of ``n`` and ``v``.
    """
    n = np.asarray(n, np.float64)
    v = np.asarray(v, np.float64)
    rough = np.broadcast_to(np.asarray(roughness, np.float64), n.shape[:1])
    u1, u2 = stratified_unit_square(*samples)
    m0 = np.zeros(len(n))
    m1 = np.zeros((len(n), 3))
    step = max(1, chunk * 256 // len(u1))
    for s0 in range(0, len(n), step):
        sl = slice(s0, s0 + step)
        nn, vv = n[sl], v[sl]
        alpha = alpha_from_roughness(rough[sl])
        t, b = tangent_frame(nn)
        vl = np.stack([np.sum(vv * t, -1), np.sum(vv * b, -1), np.sum(vv * nn, -1)], -1)
        front = vl[:, 2] > 1e-4
        vl[:, 2] = np.maximum(vl[:, 2], 1e-4)
        vl /= np.linalg.norm(vl, axis=-1, keepdims=True)
        h = _vndf_local(vl, alpha, u1, u2)
        vdh = np.sum(vl[:, None, :] * h, -1)
        ll = 2 * vdh[..., None] * h - vl[:, None, :]
        a = alpha[:, None]
        nl = ll[..., 2]
        g1v = 1 / (1 + smith_lambda(vl[:, 2:3], a))
        g2 = np.where(nl > 0, 1 / (1 + smith_lambda(vl[:, 2:3], a) + smith_lambda(np.maximum(nl, 1e-7), a)), 0.0)
        w = schlick(np.clip(vdh, 0, 1)) * g2 / g1v
        lw = ll[..., 0:1] * t[:, None, :] + ll[..., 1:2] * b[:, None, :] + ll[..., 2:3] * nn[:, None, :]
        if visibility is not None:
            w = w * visibility(np.arange(s0, s0 + len(nn)), lw)
        w = w * front[:, None]
        m0[sl] = w.mean(1)
        m1[sl] = np.einsum("ps,psk->pk", w, lw) / w.shape[1]
    return m0, m1


def diffuse_moments(
    n: np.ndarray,
    *,
    samples: tuple[int, int] = (8, 16),
    visibility: VisibilityFn | None = None,
    chunk: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Zeroth and first moments of the Lambertian lobe (albedo 1) over the sphere.

    Unoccluded they are exactly ``m0 = 1`` and ``m1 = 2/3 n``; with ``visibility`` the
    occluded part is integrated by cosine-weighted stratified quadrature and removed.

    Returns m0 (P,) and m1 (P, 3) float64.
    """
    n = np.asarray(n, np.float64)
    m0 = np.ones(len(n))
    m1 = (2.0 / 3.0) * n.copy()
    if visibility is None:
        return m0, m1
    u1, u2 = stratified_unit_square(*samples)
    r = np.sqrt(u1)
    local = np.stack([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2), np.sqrt(1 - u1)], -1)
    step = max(1, chunk * 128 // len(u1))
    for s0 in range(0, len(n), step):
        sl = slice(s0, s0 + step)
        nn = n[sl]
        t, b = tangent_frame(nn)
        lw = (
            local[None, :, 0:1] * t[:, None, :]
            + local[None, :, 1:2] * b[:, None, :]
            + local[None, :, 2:3] * nn[:, None, :]
        )
        occ = 1.0 - visibility(np.arange(s0, s0 + len(nn)), lw)
        m0[sl] -= occ.mean(1)
        m1[sl] -= np.einsum("ps,psk->pk", occ, lw) / len(u1)
    return m0, m1


@lru_cache(maxsize=8)
def _normal_incidence_table(samples: tuple[int, int], n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    r = np.linspace(0.0, 1.0, n)
    z = np.tile([0.0, 0.0, 1.0], (n, 1))
    m0, _ = specular_moments(z, z, r, samples=samples)
    return r, m0


def normal_incidence_albedo(roughness: np.ndarray, *, samples: tuple[int, int] = (16, 16)) -> np.ndarray:
    """A(1, r): specular albedo (k = 1) of a GGX lobe viewed along its normal.

    Computed with :func:`specular_moments` on a fine roughness table (4096 entries,
    linear interpolation, relative error < 1e-6) with the same quadrature ``samples``.
    """
    r, a = _normal_incidence_table(tuple(samples))
    return np.interp(np.asarray(roughness, np.float64), r, a)
