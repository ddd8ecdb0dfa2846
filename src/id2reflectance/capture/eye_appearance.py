"""How eyes reflect light: sclera, iris and pupil, shared by the simulator and the renders of assets.

An eyeball is shaded as a diffuse layer (this module's albedo) under a thin wet
specular layer (the cornea and conjunctiva): GGX specular albedo :data:`EYE_SPECULAR`
at perceptual roughness :data:`EYE_ROUGHNESS`, the same over the whole ball. The
diffuse albedo of a point on the ball depends on its angle from the gaze axis seen from
the ball's centre: the pupil inside :data:`PUPIL_HALF_ANGLE_DEG`, the iris inside
:data:`IRIS_HALF_ANGLE_DEG`, the sclera beyond, with soft edges (2 and 1 degrees).

The iris colour runs from blue-grey (darkness 0) to dark brown (1), a log-linear blend
of :data:`IRIS_LIGHT` and :data:`IRIS_DARK`. The simulator draws it per subject from its
appearance; an asset has no iris colour, so its renders take one drawn from the
subject id (:func:`subject_iris_darkness`).

Colour space: linear Rec.709, D65 white. Lengths in metres.
"""

from __future__ import annotations

import hashlib

import numpy as np

from id2reflectance.errors import ShapeError

SCLERA_ALBEDO = (0.56, 0.48, 0.42)  # linear Rec.709
PUPIL_ALBEDO = (0.012, 0.012, 0.012)
IRIS_LIGHT = (0.10, 0.13, 0.15)  # blue-grey
IRIS_DARK = (0.045, 0.022, 0.010)  # dark brown
EYE_SPECULAR = 0.03  # wet cornea and conjunctiva (cornea n = 1.376: F0 = 0.025)
EYE_ROUGHNESS = 0.22
IRIS_HALF_ANGLE_DEG = 30.0  # iris edge seen from the eyeball's centre (6 mm on a 12 mm radius)
PUPIL_HALF_ANGLE_DEG = 10.0
DARK_SKIN_ITA_DEG = 28.0  # below this ITA (tan, brown, dark skin) an asset's irises are drawn brown
DARK_SKIN_MIN_IRIS = 0.75  # their least iris darkness


def iris_albedo(darkness: float) -> np.ndarray:
    """(3,) float64 linear Rec.709 iris albedo for ``darkness`` in [0, 1] (clipped):
    0 blue-grey (:data:`IRIS_LIGHT`), 1 dark brown (:data:`IRIS_DARK`), log-linear between."""
    t = float(np.clip(darkness, 0.0, 1.0))
    return np.exp((1 - t) * np.log(IRIS_LIGHT) + t * np.log(IRIS_DARK))


def eye_albedo(points: np.ndarray, centres: np.ndarray, axes: np.ndarray, iris_darkness: float) -> np.ndarray:
    """Diffuse albedo of points on the eyeballs: sclera, iris, pupil.

    Parameters
    ----------
    points : (N, 3) float, metres, points on the eyeballs' surface.
    centres : (E, 3) float, metres, the eyeballs' centres (each point takes the nearest).
    axes : (E, 3) float, unit gaze directions (centre toward the cornea's apex).
    iris_darkness : 0 blue-grey .. 1 dark brown (clipped to [0, 1]).

    Returns
    -------
    (N, 3) float64, linear Rec.709 albedo in [0, 1].
    """
    p = np.asarray(points, np.float64)
    c = np.asarray(centres, np.float64)
    a = np.asarray(axes, np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or c.ndim != 2 or c.shape[1] != 3 or a.shape != c.shape or len(c) == 0:
        raise ShapeError(
            f"eye_albedo: expected points (N, 3), centres and axes (E, 3), got {p.shape}, {c.shape}, {a.shape}"
        )
    k = np.argmin(np.linalg.norm(p[:, None, :] - c[None], axis=-1), axis=1)
    d = p - c[k]
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    ang = np.degrees(np.arccos(np.clip(np.sum(d * a[k], axis=1), -1.0, 1.0)))

    def inside(edge: float, soft: float) -> np.ndarray:
        return np.clip((edge + soft - ang) / (2 * soft), 0.0, 1.0)[:, None]

    iris, pupil = inside(IRIS_HALF_ANGLE_DEG, 2.0), inside(PUPIL_HALF_ANGLE_DEG, 1.0)
    out = np.asarray(SCLERA_ALBEDO) * (1 - iris) + iris_albedo(iris_darkness) * iris
    return out * (1 - pupil) + np.asarray(PUPIL_ALBEDO) * pupil


def subject_iris_darkness(subject_id: str, ita_deg: float | None = None) -> float:
    """The iris darkness in [0, 1] an asset's renders give subject ``subject_id``.

    Deterministic: ``u`` = the first 8 bytes of SHA-256 of ``"iris:" + subject_id`` as a
    number in [0, 1), darkness ``1 - (1 - u)^2`` (more brown than blue, mean 2/3). With a
    skin ITA below :data:`DARK_SKIN_ITA_DEG` (the asset's ``subject.attributes.ita_deg``)
    the darkness is at least :data:`DARK_SKIN_MIN_IRIS`: light irises are rare in darker skin.
    """
    digest = hashlib.sha256(f"iris:{subject_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    darkness = 1.0 - (1.0 - u) ** 2
    if ita_deg is not None and np.isfinite(ita_deg) and ita_deg < DARK_SKIN_ITA_DEG:
        darkness = max(darkness, DARK_SKIN_MIN_IRIS)
    return float(darkness)
