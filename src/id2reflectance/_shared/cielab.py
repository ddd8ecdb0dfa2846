"""CIELAB and the individual typology angle (ITA) of linear Rec.709 colours (numpy only).

One definition for the simulator's skin attributes (``capture/simulator/skin.py``), the photo and
albedo skin tone of inference (``face/skin_tone.py``) and the FAIR metrics
(``evaluation/fairness.py``): the IEC 61966-2-1 sRGB matrix, the D65 white of that matrix
(RGB = (1, 1, 1)), CIE 1976 L*a*b*.
"""

from __future__ import annotations

import numpy as np

from id2reflectance.errors import ShapeError

# linear sRGB/Rec.709 -> XYZ (D65), IEC 61966-2-1
RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
WHITE_D65 = RGB_TO_XYZ.sum(axis=1)  # XYZ of RGB = (1, 1, 1)


def linear_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of linear Rec.709 colours.

    Parameters
    ----------
    rgb : (..., 3) float, linear Rec.709, reflectance-scaled (white = 1).

    Returns
    -------
    (..., 3) float64 ``(L*, a*, b*)``; L* in [0, 100] for rgb in [0, 1].
    """
    a = np.asarray(rgb, np.float64)
    if a.shape[-1:] != (3,):
        raise ShapeError(f"expected (..., 3) RGB, got shape {a.shape}")
    xyz = a @ RGB_TO_XYZ.T / WHITE_D65
    d = 6.0 / 29.0
    f = np.where(xyz > d**3, np.cbrt(np.maximum(xyz, d**3)), xyz / (3 * d * d) + 4.0 / 29.0)
    lightness = 116.0 * f[..., 1] - 16.0
    a_star = 500.0 * (f[..., 0] - f[..., 1])
    b_star = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a_star, b_star], axis=-1)


def ita_from_lab(lab: np.ndarray) -> np.ndarray:
    """ITA in degrees from (..., 3) CIELAB: ``atan2(L* - 50, b*)``; returns (...) float64."""
    lab = np.asarray(lab, np.float64)
    return np.degrees(np.arctan2(lab[..., 0] - 50.0, lab[..., 2]))


def ita_deg(rgb_linear: np.ndarray) -> np.ndarray:
    """ITA in degrees of (..., 3) linear Rec.709 colours (white = 1); returns (...) float64.

    ``atan2(L* - 50, b*)``, equal to the usual ``atan((L* - 50) / b*)`` for b* > 0 (skin).
    """
    return ita_from_lab(linear_rgb_to_lab(rgb_linear))


FITZPATRICK_BOUNDS_DEG = (55.0, 41.0, 28.0, 10.0, -30.0)  # I | II | III | IV | V | VI


def fitzpatrick_from_ita(ita: np.ndarray | float) -> np.ndarray:
    """Fitzpatrick skin type (1-6) from ITA degrees.

    Bins: > 55 I, (41, 55] II, (28, 41] III, (10, 28] IV, (-30, 10] V, <= -30 VI.
    Returns int64 array of the input's shape (0-d for a scalar).
    """
    a = np.asarray(ita, np.float64)
    return 1 + np.sum(a[..., None] <= np.asarray(FITZPATRICK_BOUNDS_DEG), axis=-1).astype(np.int64)
