"""Tables that turn a measured specular first moment into a normal and a GGX roughness.

For an isotropic GGX lobe (``capture/ggx.py``: height-correlated Smith, Schlick F0 = 0.028)
seen at angle ``theta_v`` from its normal with perceptual roughness ``r``, the normalised
first moment of the reflected lobe

    m = M1 / M0 = ∫ f_s (n.l) l dl / ∫ f_s (n.l) dl          (the scale k cancels)

is the lobe's mean direction, weighted by cosine and masking. By symmetry it lies in the
plane of ``n`` and ``v``. Two numbers describe it: ``phi``, the angle between ``m`` and
``v`` (``2 theta_v`` for a mirror), and ``|m|`` (1 for a mirror, shorter for rough lobes).

:func:`moment_table` tabulates ``(phi, |m|)`` over ``(theta_v, r)`` with
:func:`~id2reflectance.capture.ggx.specular_moments` (256 x 48 VNDF quadrature: the
midpoint rule converges slowly in the radial direction, where the GGX tails lie); a copy is
packaged as ``data/ggx_moment_table.npz`` and recomputed when its parameters differ.
:func:`inverse_table` resamples the inverse map on a dense regular grid over

    chord = |m / |m| - v| = 2 sin(phi / 2)   in [0, 2]
    q     = (1 - |m|) ** (1 / 4)             in [0, 1]   (about proportional to r)

whose cells hold ``(a, b, r)`` such that the specular normal is ``n = a v + b m``
(``n`` lies in the plane of ``v`` and ``m``, at ``theta_v`` from ``v`` towards ``m``).
Solving a pixel is then arithmetic and one table read (:meth:`InverseTable.lookup`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import atomic_write
from id2reflectance.capture.ggx import specular_moments

log = logging.getLogger(__name__)

THETA_MAX_DEG = 88.0
ROUGHNESS_RANGE = (0.03, 1.0)
TABLE_SHAPE = (89, 98)  # theta_v steps of 1 deg, roughness steps of 0.01
TABLE_SAMPLES = (256, 48)  # VNDF grid: the radial (first) count sets the accuracy of heavy tails
PACKAGED_TABLE = Path(__file__).resolve().parents[2] / "data" / "ggx_moment_table.npz"


@dataclass(frozen=True, eq=False)
class MomentTable:
    """The forward map ``(theta_v, r) -> (phi, |m|)`` of the GGX lobe's first moment.

    Attributes
    ----------
    theta_v : (T,) float64, radians, angle between normal and view, increasing from 0.
    roughness : (R,) float64, GGX perceptual roughness, increasing.
    phi : (T, R) float64, radians, angle between the mean direction ``m`` and ``v``.
    length : (T, R) float64, ``|m|`` in (0, 1].
    samples : quadrature grid used by ``specular_moments``.
    """

    theta_v: np.ndarray
    roughness: np.ndarray
    phi: np.ndarray
    length: np.ndarray
    samples: tuple[int, int]


def lobe_moment(theta_v: np.ndarray, roughness: np.ndarray, *, samples: tuple[int, int] = TABLE_SAMPLES) -> np.ndarray:
    """Normalised first moment ``m = M1 / M0`` for normal +z and view in the x-z plane.

    Parameters
    ----------
    theta_v : (P,) float, radians, view angle from the normal (view ``(sin, 0, cos)``).
    roughness : (P,) float, GGX perceptual roughness.

    Returns
    -------
    (P, 3) float64, unitless; ``m_y = 0`` by symmetry.
    """
    theta_v = np.asarray(theta_v, np.float64).ravel()
    n = np.zeros((theta_v.size, 3))
    n[:, 2] = 1.0
    v = np.stack([np.sin(theta_v), np.zeros_like(theta_v), np.cos(theta_v)], axis=1)
    m0, m1 = specular_moments(n, v, np.asarray(roughness, np.float64).ravel(), samples=samples)
    return m1 / m0[:, None]


def compute_moment_table(
    theta_v: np.ndarray, roughness: np.ndarray, *, samples: tuple[int, int] = TABLE_SAMPLES
) -> MomentTable:
    """Tabulate ``phi`` and ``|m|`` on the grid ``theta_v x roughness``.

    Parameters
    ----------
    theta_v : (T,) float, radians in [0, pi/2).
    roughness : (R,) float in [0.02, 1].
    samples : VNDF quadrature grid (256 x 48 takes about a minute for the default table).
    """
    theta_v = np.asarray(theta_v, np.float64)
    roughness = np.asarray(roughness, np.float64)
    tt, rr = np.meshgrid(theta_v, roughness, indexing="ij")
    m = lobe_moment(tt.ravel(), rr.ravel(), samples=samples)
    length = np.linalg.norm(m, axis=1)
    v = np.stack([np.sin(tt.ravel()), np.zeros(tt.size), np.cos(tt.ravel())], axis=1)
    cos_phi = np.clip(np.sum(m * v, axis=1) / length, -1.0, 1.0)
    return MomentTable(
        theta_v=theta_v,
        roughness=roughness,
        phi=np.arccos(cos_phi).reshape(tt.shape),
        length=length.reshape(tt.shape),
        samples=tuple(samples),
    )


def default_grid() -> tuple[np.ndarray, np.ndarray]:
    """The packaged table's grid: ``theta_v`` (89,) radians and ``roughness`` (98,)."""
    theta_v = np.deg2rad(np.linspace(0.0, THETA_MAX_DEG, TABLE_SHAPE[0]))
    roughness = np.linspace(*ROUGHNESS_RANGE, TABLE_SHAPE[1])
    return theta_v, roughness


def save_moment_table(table: MomentTable, path: str | Path) -> Path:
    """Write ``table`` as a compressed ``.npz`` file, atomically."""

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                theta_v=table.theta_v,
                roughness=table.roughness,
                phi=table.phi,
                length=table.length,
                samples=np.asarray(table.samples, np.int64),
            )

    return atomic_write(path, _write)


def load_moment_table(path: str | Path) -> MomentTable:
    """Read a table written by :func:`save_moment_table`."""
    with np.load(path) as z:
        return MomentTable(
            theta_v=z["theta_v"],
            roughness=z["roughness"],
            phi=z["phi"],
            length=z["length"],
            samples=(int(z["samples"][0]), int(z["samples"][1])),
        )


@lru_cache(maxsize=1)
def moment_table() -> MomentTable:
    """The default forward table: packaged copy when it matches the grid, else computed."""
    theta_v, roughness = default_grid()
    if PACKAGED_TABLE.is_file():
        table = load_moment_table(PACKAGED_TABLE)
        if (
            table.samples == TABLE_SAMPLES
            and table.phi.shape == TABLE_SHAPE
            and np.allclose(table.theta_v, theta_v)
            and np.allclose(table.roughness, roughness)
        ):
            return table
        log.warning("%s does not match the table grid; recomputing", PACKAGED_TABLE)
    log.info("computing the GGX moment table (%d x %d, %s samples)", *TABLE_SHAPE, TABLE_SAMPLES)
    return compute_moment_table(theta_v, roughness, samples=TABLE_SAMPLES)


# ----------------------------------------------------------------------- inverse


@dataclass(frozen=True, eq=False)
class InverseTable:
    """Dense inverse map ``(chord, q) -> (a, b, r)`` for nearest-cell lookups.

    Attributes
    ----------
    cells : (C * Q, 4) float32, per grid node ``(a, b, r, 0)``, row-major over
        ``chord_i = i * 2 / (C - 1)``, ``q_j = j / (Q - 1)``; the normal is ``a v + b m``.
    shape : ``(C, Q)``.
    records : (C * Q,) complex128 view of ``cells`` (one 16-byte record per node).
    """

    cells: np.ndarray
    shape: tuple[int, int]
    records: np.ndarray

    def index(self, chord: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Nearest-node indices: (N,) float32 ``chord`` and ``q`` -> (N,) intp.

        Values outside [0, 2] and [0, 1] are clamped to the table's edge. ``chord`` and
        ``q`` are overwritten (scaled and rounded) to avoid temporaries.
        """
        c, nq = self.shape
        np.multiply(chord, np.float32((c - 1) / 2.0), out=chord)
        np.multiply(q, np.float32(nq - 1), out=q)
        np.clip(chord, 0.0, np.float32(c - 1), out=chord)
        np.clip(q, 0.0, np.float32(nq - 1), out=q)
        np.rint(chord, out=chord)
        np.rint(q, out=q)
        np.multiply(chord, np.float32(nq), out=chord)
        np.add(chord, q, out=chord)
        with np.errstate(invalid="ignore"):  # NaN -> arbitrary index, clamped by take(mode="clip")
            return chord.astype(np.intp)

    def lookup(self, chord: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``(a, b, r)`` at the nearest node: (N,) float chord, q -> (N, 4) float32."""
        chord = np.array(chord, np.float32, copy=True).ravel()
        q = np.array(q, np.float32, copy=True).ravel()
        return self.records.take(self.index(chord, q), mode="clip").view(np.float32).reshape(-1, 4)


def inverse_from_table(table: MomentTable, *, shape: tuple[int, int] = (1025, 513)) -> InverseTable:
    """Resample the inverse of ``table`` on a regular ``(chord, q)`` grid.

    Two passes of 1-D linear interpolation: along each roughness column of the forward
    table, ``theta_v`` and ``q`` as functions of ``chord`` (``chord`` grows with
    ``theta_v``); then, at each chord node, ``theta_v`` and ``r`` as functions of ``q``
    over the roughness values that reach that chord (``q`` grows with ``r``). Nodes
    outside the reachable region (noisy measurements) clamp to the closest valid lobe at
    the same chord (roughness clamps to the table's range), or to the nearest reachable
    chord.
    """
    c, nq = shape
    chord_s = 2.0 * np.sin(table.phi / 2.0)  # (T, R)
    q_s = np.clip(1.0 - table.length, 0.0, 1.0) ** 0.25
    gchord = np.linspace(0.0, 2.0, c)
    gq = np.linspace(0.0, 1.0, nq)
    n_r = len(table.roughness)
    theta_c = np.empty((c, n_r))
    q_c = np.empty((c, n_r))
    for j in range(n_r):
        x = np.maximum.accumulate(chord_s[:, j])
        theta_c[:, j] = np.interp(gchord, x, table.theta_v)
        q_c[:, j] = np.interp(gchord, x, q_s[:, j])
    reach = gchord[:, None] <= chord_s[-1][None, :] + 1e-12  # (C, R)
    theta = np.empty((c, nq))
    rough = np.empty((c, nq))
    cols = np.flatnonzero(reach.any(axis=1))
    for i in cols:
        js = np.flatnonzero(reach[i])
        x = np.maximum.accumulate(q_c[i, js])
        theta[i] = np.interp(gq, x, theta_c[i, js])
        rough[i] = np.interp(gq, x, table.roughness[js])
    nearest = cols[np.abs(cols[None, :] - np.arange(c)[:, None]).argmin(axis=1)]
    theta = theta[nearest]
    rough = rough[nearest]
    gc = np.broadcast_to(gchord[:, None], shape)
    phi = 2.0 * np.arcsin(np.clip(gc / 2.0, 0.0, 1.0))
    length = np.maximum(1.0 - gq[None, :] ** 4, 1e-3)
    # n = cos(theta) v + sin(theta) e, e = (m_hat - cos(phi) v) / sin(phi):
    # n = (cos(theta) - s cos(phi)) v + (s / |m|) m with s = sin(theta) / sin(phi).
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(theta) / np.sin(phi)
    s[0] = 2.0 * s[1] - s[2]  # phi -> 0: s tends to d theta / d phi (linear extrapolation)
    s[-1] = s[-2]  # phi = 180 deg is outside the table: keep the last finite ratio
    a = np.cos(theta) - s * np.cos(phi)
    b = s / length
    cells = np.zeros((c * nq, 4), np.float32)
    cells[:, 0] = a.ravel()
    cells[:, 1] = b.ravel()
    cells[:, 2] = rough.ravel()
    return InverseTable(cells=cells, shape=(c, nq), records=cells.view(np.complex128).ravel())


@lru_cache(maxsize=1)
def inverse_table() -> InverseTable:
    """The default inverse table (1025 x 513 nodes, 8.4 MB), built once per process."""
    return inverse_from_table(moment_table())


def invert_lobe(m: np.ndarray, v: np.ndarray, *, table: InverseTable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Specular normal and roughness from normalised first moments (reference path).

    Parameters
    ----------
    m : (N, 3) float, ``M1 / M0`` of the specular lobe, world axes, unitless.
    v : (N, 3) float, unit directions towards the viewer, world axes.
    table : inverse table (default :func:`inverse_table`).

    Returns
    -------
    normal : (N, 3) float64 unit world-space normals.
    roughness : (N,) float64 GGX perceptual roughness.
    """
    table = inverse_table() if table is None else table
    m = np.asarray(m, np.float64)
    v = np.asarray(v, np.float64)
    length = np.linalg.norm(m, axis=1)
    cos_phi = np.sum(m * v, axis=1) / np.maximum(length, 1e-12)
    chord = np.sqrt(np.maximum(2.0 - 2.0 * cos_phi, 0.0))
    q = np.sqrt(np.sqrt(np.maximum(1.0 - length, 0.0)))
    abr = table.lookup(chord, q).astype(np.float64)
    n = abr[:, 0:1] * v + abr[:, 1:2] * m
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n, abr[:, 2]
