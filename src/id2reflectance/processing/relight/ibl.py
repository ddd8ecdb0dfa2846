"""Image-based lighting of the reflectance model under an HDR environment.

Fast path (deterministic, no random sampling):

- diffuse: ``albedo * E(n) / pi`` with ``E`` the irradiance of the environment,
  tabulated by exact convolution of the (solid-angle-averaged, 128 x 256) environment
  with the clamped cosine on a 64 x 256 lat-long grid and looked up bilinearly;
- prefiltered GGX levels ``P(R, r)``: the environment convolved with the GGX lobe of
  roughness ``r`` under the assumption n = v = R (Karis 2013), for 19 roughness levels
  (0, 0.1, 0.2, 0.25, ..., 1), interpolated linearly in r. Each level is an exact
  convolution, not a sampled one: at n = v = R the lobe depends only on the angle between
  R and the light, so for each pair of lat-long rows it is a circular convolution in
  azimuth, done with FFTs (:func:`zonal_convolve`; input 32 to 256 rows, a fifth of the
  lobe width), normalised by the kernel's sum so a uniform environment is exact;
- specular ``"split_sum"``: ``k * A(n.v, r) * P(R, r)`` with R the mirror direction,
  one lookup and ``A`` from the directional albedo table of :mod:`brdf_table`; exact at
  normal incidence and for uniform light, worse towards grazing views;
- specular ``"sampled"`` (:func:`specular_sampled`): 4 x 8 stratified GGX visible-normal
  samples per point for the real view (so the lobe is stretched and its peak shifted at
  grazing views), each looked up in the prefiltered level whose lobe matches the
  sample's solid angle (filtered importance sampling, Colbert and Krivanek 2007),
  weighted by F G2 / G1 and scaled by ``k * A(n.v, r)``; ten times slower;
- specular ``"hybrid"`` (default): split sum where n.v >= 0.5, sampled below.

Reference (:func:`reference_shade`): the dense sum over every texel of the environment of
``L(w) (albedo / pi + f_s(n, v, w)) max(n.w, 0) dw`` with the exact texel solid angles and
:func:`id2reflectance.capture.ggx.ggx_brdf`.

All directions here are in the world frame; the environment's ``to_world`` rotation is
applied on lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.ggx import (
    _vndf_local,
    alpha_from_roughness,
    ggx_brdf,
    ggx_d,
    schlick,
    smith_lambda,
    stratified_unit_square,
)
from id2reflectance.capture.ggx import tangent_frame as _tangent_frame
from id2reflectance.errors import ConfigError
from id2reflectance.processing.brdf_table import directional_albedo
from id2reflectance.processing.relight.envmap import (
    Environment,
    bilinear_latlong,
    downsample_latlong,
    latlong_directions,
    latlong_solid_angles,
)

ROUGHNESS_LEVELS = (0.0, 0.1) + tuple(float(x) for x in np.round(np.linspace(0.2, 1.0, 17), 3))
IRRADIANCE_ROWS = 64
SPECULAR_SAMPLES = (4, 8)
HYBRID_MU = 0.5  # hybrid specular: sampled below this n.v, split sum above
IRRADIANCE_SOURCE_ROWS = 128


@dataclass(frozen=True, eq=False)
class PrefilteredEnvironment:
    """Tables of one image environment for the fast path (all in the environment's frame).

    env : the Environment (its ``to_world`` maps table directions to world).
    irradiance : (h, 2h, 3) float32, E(n) (W/m^2 per unit radiance, pi for radiance 1).
    roughness : (L,) float64 roughness of each specular level, increasing from 0.
    levels : L arrays (h_k, 2h_k, 3) float32, GGX-prefiltered radiance.
    """

    env: Environment
    irradiance: np.ndarray
    roughness: np.ndarray
    levels: tuple[np.ndarray, ...]


def mip_chain(img: np.ndarray, *, min_rows: int = 4) -> list[np.ndarray]:
    """Solid-angle-averaged lat-long mip chain, level 0 = ``img`` (h, 2h, 3)."""
    chain = [np.asarray(img, np.float32)]
    while chain[-1].shape[0] % 2 == 0 and chain[-1].shape[0] // 2 >= min_rows:
        chain.append(downsample_latlong(chain[-1]))
    return chain


def _at_rows(chain: list[np.ndarray], rows: int) -> np.ndarray:
    for m in chain:
        if m.shape[0] <= rows:
            return m
    return chain[-1]


def zonal_convolve(
    src: np.ndarray,
    rows_out: int,
    kernel: Callable[[np.ndarray], np.ndarray],
    *,
    max_angle: float = np.pi,
    normalize: bool = False,
    block: int = 16,
) -> np.ndarray:
    """Convolve a lat-long image with a zonal kernel (a function of R.w only), exactly.

    ``out(R) = sum_j L(w_j) K(R.w_j) dw_j`` over every input texel j (optionally divided
    by ``sum_j K(R.w_j) dw_j``). For one output row and one input row the kernel depends
    only on the azimuth difference, so each pair is a circular convolution along the row,
    done with real FFTs and summed over input rows with a matrix product per frequency.

    Parameters
    ----------
    src : (hi, wi, 3) float radiance, lat-long.
    rows_out : output rows (output columns = wi).
    kernel : K(cos) for an array of cosines, even in azimuth by construction.
    max_angle : K is treated as 0 beyond this angle (radians): input rows farther than it
        in polar angle from an output row are skipped.
    normalize : divide by the kernel's discrete sum (a uniform image is then reproduced).

    Returns
    -------
    (rows_out, wi, 3) float64.
    """
    src = np.asarray(src, np.float64)
    hi, wi = src.shape[:2]
    th_in = np.pi * (np.arange(hi) + 0.5) / hi
    th_out = np.pi * (np.arange(rows_out) + 0.5) / rows_out
    cos_dphi = np.cos(2 * np.pi * np.arange(wi) / wi).astype(np.float32)
    om = latlong_solid_angles(hi, wi).astype(np.float32)
    lf = scipy.fft.rfft(src, axis=1, workers=-1).transpose(1, 0, 2)  # (wi/2+1, hi, 3)
    lf_re, lf_im = np.ascontiguousarray(lf.real), np.ascontiguousarray(lf.imag)
    out = np.empty((rows_out, wi, 3))
    margin = max_angle + np.pi / hi
    for s in range(0, rows_out, block):
        to = th_out[s : s + block]
        j = np.flatnonzero((th_in >= to[0] - margin) & (th_in <= to[-1] + margin))
        cos_g = (np.cos(to)[:, None, None] * np.cos(th_in[j])[None, :, None]).astype(np.float32) + (
            (np.sin(to)[:, None, None] * np.sin(th_in[j])[None, :, None]).astype(np.float32) * cos_dphi
        )
        ker = kernel(cos_g) * om[j][None, :, None]  # (o, j, wi)
        # the kernel is even in azimuth: its transform is real and correlation = convolution
        kf = np.ascontiguousarray(scipy.fft.rfft(ker, axis=2, workers=-1).real.transpose(2, 0, 1), np.float64)
        pf = np.matmul(kf, lf_re[:, j]) + 1j * np.matmul(kf, lf_im[:, j])  # (wi/2+1, o, 3)
        res = scipy.fft.irfft(pf.transpose(1, 0, 2), n=wi, axis=1, workers=-1)
        if normalize:
            res /= ker.sum((1, 2), dtype=np.float64)[:, None, None]
        out[s : s + block] = res
    return out


def irradiance_map(
    img: np.ndarray, *, rows: int = IRRADIANCE_ROWS, source_rows: int = IRRADIANCE_SOURCE_ROWS
) -> np.ndarray:
    """Exact clamped-cosine convolution of a lat-long radiance image.

    Parameters
    ----------
    img : (H, 2H, 3) float radiance; it is solid-angle averaged down to ``source_rows``.
    rows : rows of the output table.

    Returns
    -------
    (rows, 2 source_rows, 3) float32: ``E(n) = sum_j L_j max(n.w_j, 0) dw_j`` at the
    output texel centres (same lat-long convention as the input; pi for radiance 1).
    """
    src = _at_rows(mip_chain(img), source_rows)
    e = zonal_convolve(src, rows, lambda c: np.maximum(c, 0.0), max_angle=np.pi / 2)
    return np.maximum(e, 0.0).astype(np.float32)


def _level_rows(r: float, full_rows: int) -> tuple[int, int]:
    """(input rows, output rows) of the prefiltered level for roughness r: input texels
    at most a fifth of the lobe width (about 2 alpha), 32 to 256 rows."""
    alpha = float(alpha_from_roughness(max(r, 1e-3)))
    want = 1 << int(np.ceil(np.log2(2.5 * np.pi / alpha)))
    rows_in = int(np.clip(want, 32, min(256, full_rows)))
    return rows_in, min(rows_in, 128)


def _ggx_kernel(cos_g: np.ndarray, alpha: float) -> np.ndarray:
    """Prefilter kernel at n = v = R: ``f_s(R, R, w) (R.w)`` for k = 1 as a function of
    cos_g = R.w (> 0; 0 elsewhere): D(h) G2 F / 4 with n.h = v.h = sqrt((1 + cos_g) / 2)."""
    c = np.clip(cos_g, 0.0, 1.0)
    ch = np.sqrt((1 + c) / 2)
    a = np.float32(alpha) if c.dtype == np.float32 else alpha
    val = ggx_d(ch, a) * schlick(ch) / (4 * (1 + smith_lambda(np.maximum(c, 1e-6), a)))
    return np.where(cos_g > 0, val, 0.0).astype(c.dtype)


def _ggx_support(alpha: float, tail: float = 1e-4) -> float:
    """Angle (radians) beyond which the GGX lobe at n = v holds less than ``tail`` of its
    energy: the half-vector CDF is tan^2 t / (alpha^2 + tan^2 t), reflected angle 2 t."""
    t = np.arctan(alpha * np.sqrt(1.0 / tail - 1.0))
    return float(min(np.pi, 2 * t))


def prefilter_level(chain: list[np.ndarray], r: float, *, full_rows: int | None = None) -> np.ndarray:
    """GGX-prefiltered radiance for roughness ``r`` under n = v = R, by exact convolution.

    The kernel ``f_s (n.l)`` at n = v = R depends only on the angle between R and the
    light direction (:func:`zonal_convolve`); the result is normalised by the kernel's
    sum, so a uniform environment stays exact. Lobe tails holding < 1e-4 of the energy
    are cut.

    Parameters
    ----------
    chain : solid-angle-averaged mip chain of the environment (level 0 = finest).
    r : perceptual roughness; r = 0 returns the mirror (the chain level of <= 256 rows).

    Returns
    -------
    (h_out, w_in, 3) float32 lat-long table (w_in = 2 * input rows).
    """
    h0 = chain[0].shape[0] if full_rows is None else full_rows
    if r <= 0:
        return _at_rows(chain, min(256, h0)).copy()
    alpha = float(alpha_from_roughness(r))
    rows_in, rows_out = _level_rows(r, h0)
    src = _at_rows(chain, rows_in)
    out = zonal_convolve(src, rows_out, lambda c: _ggx_kernel(c, alpha), max_angle=_ggx_support(alpha), normalize=True)
    return np.maximum(out, 0.0).astype(np.float32)


def prefilter(
    env: Environment,
    *,
    roughness_levels: tuple[float, ...] = ROUGHNESS_LEVELS,
    progress: ProgressFn | None = None,
) -> PrefilteredEnvironment:
    """Irradiance table and GGX prefiltered levels of an image environment.

    Cost: about 1 s for a 512 x 1024 map on 2 CPU cores (independent of the render).
    """
    if env.radiance is None:
        raise ConfigError(f"prefilter: environment {env.name} is a pattern; patterns use the exact moment path")
    rl = np.asarray(roughness_levels, np.float64)
    if rl[0] != 0.0 or np.any(np.diff(rl) <= 0) or rl[-1] < 1.0:
        raise ConfigError(f"roughness levels must increase from 0 to 1, got {roughness_levels}")
    chain = mip_chain(env.radiance)
    irr = irradiance_map(env.radiance)
    levels = []
    for i, r in enumerate(rl):
        levels.append(prefilter_level(chain, float(r)))
        if progress is not None:
            progress(f"prefilter {env.name}", i + 1, len(rl))
    return PrefilteredEnvironment(env=env, irradiance=irr, roughness=rl, levels=tuple(levels))


def prefiltered_radiance(pre: PrefilteredEnvironment, d: np.ndarray, roughness: np.ndarray) -> np.ndarray:
    """P(d, r): (P, 3) float64, bilinear in each level, linear in roughness between levels."""
    local = np.asarray(d, np.float64) @ pre.env.to_world
    r = np.clip(np.asarray(roughness, np.float64), 0.0, 1.0)
    rl = pre.roughness
    k = np.clip(np.searchsorted(rl, r, side="right") - 1, 0, len(rl) - 2)
    f = (r - rl[k]) / (rl[k + 1] - rl[k])
    order = np.argsort(k, kind="stable")
    bounds = np.searchsorted(k[order], np.arange(len(rl)))
    bounds = np.append(bounds, len(k))
    out = np.zeros((len(local), 3))
    for i in range(len(rl) - 1):
        sel = order[bounds[i] : bounds[i + 1]]
        if sel.size:
            fi = f[sel, None]
            out[sel] = (1 - fi) * bilinear_latlong(pre.levels[i], local[sel]) + fi * bilinear_latlong(
                pre.levels[i + 1], local[sel]
            )
    return out


def shade_fast(
    pre: PrefilteredEnvironment,
    n: np.ndarray,
    v: np.ndarray,
    albedo: np.ndarray,
    k: np.ndarray,
    roughness: np.ndarray,
    *,
    specular: Literal["hybrid", "sampled", "split_sum"] = "hybrid",
    samples: tuple[int, int] = SPECULAR_SAMPLES,
) -> tuple[np.ndarray, np.ndarray]:
    """Fast shading of P points: irradiance-table diffuse and prefiltered GGX specular.

    Parameters
    ----------
    n : (P, 3) unit shading normals; v : (P, 3) unit directions to the viewer (world).
    albedo : (P, 3) linear diffuse albedo; k : (P,) GGX scale; roughness : (P,).
    specular : ``"split_sum"`` (one lookup at the mirror direction), ``"sampled"``
        (:func:`specular_sampled`) or ``"hybrid"`` (default: split sum where n.v >= 0.5,
        sampled towards grazing views, where the split sum's error grows).
    samples : GGX sample grid of the sampled specular.

    Returns
    -------
    diffuse, specular : (P, 3) float64 outgoing radiance (relative units of the map).
    """
    n = np.asarray(n, np.float64)
    v = np.asarray(v, np.float64)
    e = bilinear_latlong(pre.irradiance, n @ pre.env.to_world)
    diffuse = np.asarray(albedo, np.float64) * e / np.pi
    if specular not in ("hybrid", "sampled", "split_sum"):
        raise ConfigError(f"specular must be hybrid, sampled or split_sum, got {specular!r}")
    k = np.asarray(k, np.float64)
    rough = np.asarray(roughness, np.float64)
    if specular == "sampled":
        return diffuse, specular_sampled(pre, n, v, k, rough, samples=samples)
    mu = np.sum(n * v, -1)
    d = 2 * mu[:, None] * n - v
    spec = (k * directional_albedo(mu, rough))[:, None] * prefiltered_radiance(pre, d, rough)
    spec[mu <= 0] = 0.0
    if specular == "hybrid":
        g = np.flatnonzero((mu < HYBRID_MU) & (mu > 0))
        if g.size:
            spec[g] = specular_sampled(pre, n[g], v[g], k[g], rough[g], samples=samples)
    return diffuse, spec


def reference_shade(
    env: Environment,
    n: np.ndarray,
    v: np.ndarray,
    albedo: np.ndarray,
    k: np.ndarray,
    roughness: np.ndarray,
    *,
    rows: int | None = None,
    chunk: int = 1 << 22,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense brute-force integration over every environment texel (the reference).

    Parameters as :func:`shade_fast`; ``rows`` solid-angle-averages the environment
    down to that many rows first (default: full resolution).

    Returns diffuse, specular : (P, 3) float64.
    """
    if env.radiance is None:
        raise ConfigError("reference_shade: needs an image environment")
    img = env.radiance if rows is None else _at_rows(mip_chain(env.radiance), rows)
    h, w = img.shape[:2]
    wdir = latlong_directions(h, w).reshape(-1, 3) @ env.to_world.T
    lw = (img.astype(np.float64) * latlong_solid_angles(h, w)[:, None, None]).reshape(-1, 3)
    n = np.asarray(n, np.float64)
    v = np.asarray(v, np.float64)
    k = np.asarray(k, np.float64)
    rough = np.asarray(roughness, np.float64)
    diffuse = np.zeros((len(n), 3))
    spec = np.zeros((len(n), 3))
    step = max(1, chunk // len(wdir))
    for s in range(0, len(n), step):
        sl = slice(s, s + step)
        cos = np.maximum(n[sl] @ wdir.T, 0.0)  # (p, N)
        diffuse[sl] = (cos @ lw) * albedo[sl] / np.pi
        f = ggx_brdf(n[sl, None, :], v[sl, None, :], wdir[None, :, :], rough[sl, None], k[sl, None])
        spec[sl] = (f * cos) @ lw
    return diffuse, spec


def specular_sampled(
    pre: PrefilteredEnvironment,
    n: np.ndarray,
    v: np.ndarray,
    k: np.ndarray,
    roughness: np.ndarray,
    *,
    samples: tuple[int, int] = (4, 8),
) -> np.ndarray:
    """Specular by deterministic filtered importance sampling of the prefiltered levels.

    Per point, a stratified grid of GGX visible-normal samples for the real view (the lobe
    stretched at grazing angles, off-specular peak included); each light direction is
    looked up in the prefiltered table whose lobe matches the sample's solid angle, and
    weighted by ``F G2 / G1``. The weighted mean is scaled by ``k * A(n.v, r)``, so a
    uniform environment stays exact.

    Returns (P, 3) float64 outgoing specular radiance.
    """
    n = np.asarray(n, np.float64)
    v = np.asarray(v, np.float64)
    rough = np.clip(np.asarray(roughness, np.float64), 0.0, 1.0)
    alpha = alpha_from_roughness(rough)
    u1, u2 = stratified_unit_square(*samples)
    t, b = _tangent_frame(n)
    vl = np.stack([np.sum(v * t, -1), np.sum(v * b, -1), np.sum(v * n, -1)], -1)
    front = vl[:, 2] > 1e-4
    vl[:, 2] = np.maximum(vl[:, 2], 1e-4)
    vl /= np.linalg.norm(vl, axis=-1, keepdims=True)
    h = _vndf_local(vl, alpha, u1, u2)  # (P, S, 3)
    vdh = np.sum(vl[:, None, :] * h, -1)
    ll = 2 * vdh[..., None] * h - vl[:, None, :]
    a = alpha[:, None]
    nl = ll[..., 2]
    lam_v = smith_lambda(vl[:, 2:3], a)
    g1v = 1 / (1 + lam_v)
    ok = nl > 0
    w = np.where(ok, schlick(np.clip(vdh, 0, 1)) / (1 + lam_v + smith_lambda(np.maximum(nl, 1e-7), a)) / g1v, 0.0)
    pdf = ggx_d(np.clip(h[..., 2], 0, 1), a) * g1v / (4 * vl[:, 2:3])
    omega = 1.0 / (len(u1) * np.maximum(pdf, 1e-12))
    r_s = np.minimum(np.sqrt(np.sqrt(omega / (4 * np.pi))), rough[:, None])
    lw = ll[..., 0:1] * t[:, None, :] + ll[..., 1:2] * b[:, None, :] + ll[..., 2:3] * n[:, None, :]
    rad = prefiltered_radiance(pre, lw.reshape(-1, 3), r_s.reshape(-1)).reshape(len(n), -1, 3)
    wsum = w.sum(1)
    mean = np.einsum("ps,psc->pc", w, rad) / np.where(wsum > 0, wsum, 1.0)[:, None]
    scale = np.asarray(k, np.float64) * directional_albedo(vl[:, 2], rough) * front
    return scale[:, None] * mean
