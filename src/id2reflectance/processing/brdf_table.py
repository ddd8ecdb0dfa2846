"""Tabulated directional albedo of the GGX lobe and the asset's specular scale.

``A(mu, r)`` is the specular albedo for ``k = 1`` (the response to the uniform full
sphere, :func:`id2reflectance.capture.ggx.specular_moments` ``m0``) at ``mu = n.v`` and
perceptual roughness ``r``. It is the split-sum "BRDF table" of this model: with F0 fixed
at 0.028 it has one channel.

The asset's ``specular_albedo`` map holds that response at normal incidence,
``k * A(1, r)`` (what the simulator writes as ground truth), so the GGX scale of a texel
is ``k = specular_albedo / A(1, r)`` (:func:`specular_scale`), with ``A(1, r)`` from
:func:`id2reflectance.capture.ggx.normal_incidence_albedo`, the simulator's own table.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

from id2reflectance.capture.ggx import ROUGHNESS_MIN, normal_incidence_albedo, specular_moments

log = logging.getLogger(__name__)

MU_MIN = 1e-3
N_THETA = 64
N_ROUGH = 64
TABLE_SAMPLES = (96, 96)
TABLE_FILE = Path(__file__).resolve().parent.parent / "data" / "ggx_directional_albedo.npy"


def table_grid() -> tuple[np.ndarray, np.ndarray]:
    """(theta (T,), roughness (R,)) float64 grid of the table; theta = arccos(mu)."""
    return np.linspace(0.0, np.arccos(MU_MIN), N_THETA), np.linspace(ROUGHNESS_MIN, 1.0, N_ROUGH)


def build_table(samples: tuple[int, int] = TABLE_SAMPLES) -> np.ndarray:
    """(T, R) float64 A(cos theta, r) by :func:`specular_moments` (slow: a minute at 96 x 96)."""
    theta, rough = table_grid()
    tt, rr = np.meshgrid(theta, rough, indexing="ij")
    n = np.tile([0.0, 0.0, 1.0], (tt.size, 1))
    v = np.stack([np.sin(tt.ravel()), np.zeros(tt.size), np.cos(tt.ravel())], 1)
    m0, _ = specular_moments(n, v, rr.ravel(), samples=samples)
    return m0.reshape(tt.shape)


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta grid (T,), roughness grid (R,), A (T, R)): the shipped table, else computed."""
    theta, rough = table_grid()
    if TABLE_FILE.is_file():
        table = np.load(TABLE_FILE)
        if table.shape == (N_THETA, N_ROUGH):
            return theta, rough, table
    log.warning("%s missing or stale; computing the GGX albedo table (slow)", TABLE_FILE)
    return theta, rough, build_table((40, 40))


def directional_albedo(mu: np.ndarray, roughness: np.ndarray) -> np.ndarray:
    """Specular albedo of the lobe for k = 1, bilinear in (arccos mu, r).

    Parameters
    ----------
    mu : (...) float, n.v, clamped to [1e-3, 1].
    roughness : (...) float perceptual roughness, clamped to [0.02, 1]; broadcasts with mu.

    Returns
    -------
    (...) float64 in (0, 1): the fraction of uniform incident radiance reflected by the
    GGX lobe (Schlick F0 = 0.028) towards v, from the shipped 64 x 64 table
    ``data/ggx_directional_albedo.npy`` (``specular_moments`` with 96 x 96 samples per
    entry; the simulator's 16 x 16 quadrature is off by up to 1.5 %). Regenerate with
    ``python -m id2reflectance.processing.brdf_table``.
    """
    theta, rough, table = _table()
    th = np.arccos(np.clip(np.asarray(mu, np.float64), MU_MIN, 1.0))
    r = np.clip(np.asarray(roughness, np.float64), ROUGHNESS_MIN, 1.0)
    th, r = np.broadcast_arrays(th, r)
    x = np.clip(th / theta[-1] * (len(theta) - 1), 0, len(theta) - 1)
    y = np.clip((r - rough[0]) / (rough[-1] - rough[0]) * (len(rough) - 1), 0, len(rough) - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), len(theta) - 2)
    y0 = np.minimum(np.floor(y).astype(np.int64), len(rough) - 2)
    fx = x - x0
    fy = y - y0
    a = table[x0, y0] * (1 - fy) + table[x0, y0 + 1] * fy
    b = table[x0 + 1, y0] * (1 - fy) + table[x0 + 1, y0 + 1] * fy
    return a * (1 - fx) + b * fx


def specular_scale(specular_albedo: np.ndarray, roughness: np.ndarray) -> np.ndarray:
    """GGX scale k of the asset's specular albedo: ``specular_albedo / A(1, r)``.

    Parameters
    ----------
    specular_albedo : (...) float, the asset map (full-sphere response at normal incidence).
    roughness : (...) float perceptual roughness (same shape).

    Returns
    -------
    (...) float64 k >= 0 (unitless; k = 1 is a smooth dielectric with F0 = 0.028).
    """
    s = np.maximum(np.asarray(specular_albedo, np.float64), 0.0)
    return s / normal_incidence_albedo(roughness)


if __name__ == "__main__":
    TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.save(TABLE_FILE, build_table())
    log.warning("wrote %s", TABLE_FILE)
