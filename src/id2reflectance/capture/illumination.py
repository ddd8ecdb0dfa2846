"""Spherical gradient illumination patterns and their moments.

For a light in direction ``w`` (unit vector from the subject to the light, light-stage
axes; ``rig.lights_to_world`` rotates them to world axes) the patterns have radiance
``full = 1``, ``gradient_a = (1 + w_a) / 2``, ``inverse_a = (1 - w_a) / 2``.

Every pattern is linear in ``w``, so the response of any pixel to any pattern follows from
two integrals of its reflectance lobe ``f`` over the sphere: the zeroth moment
``M0 = ∫ f(w) dw`` and the first moment ``M1 = ∫ f(w) w dw`` (a 3-vector):
``full = M0``, ``gradient_a = (M0 + M1_a) / 2``, ``inverse_a = (M0 - M1_a) / 2``.
"""

from __future__ import annotations

import numpy as np

LIT_PATTERNS = ("full", "gradient_x", "gradient_y", "gradient_z", "inverse_x", "inverse_y", "inverse_z")
AXES = {"x": 0, "y": 1, "z": 2}


def pattern_radiance(pattern: str, w: np.ndarray) -> np.ndarray:
    """Radiance of ``pattern`` towards directions ``w`` ((..., 3) unit, light-stage axes)."""
    w = np.asarray(w)
    if pattern == "full":
        return np.ones(w.shape[:-1], w.dtype)
    if pattern == "dark":
        return np.zeros(w.shape[:-1], w.dtype)
    kind, _, axis = pattern.partition("_")
    a = w[..., AXES[axis]]
    return (1 + a) / 2 if kind == "gradient" else (1 - a) / 2


def responses_from_moments(m0: np.ndarray, m1: np.ndarray, pattern: str) -> np.ndarray:
    """Response to ``pattern`` from moments ``m0`` (...,) and ``m1`` (..., 3)."""
    if pattern == "full":
        return m0
    if pattern == "dark":
        return np.zeros_like(m0)
    kind, _, axis = pattern.partition("_")
    a = m1[..., AXES[axis]]
    return (m0 + a) / 2 if kind == "gradient" else (m0 - a) / 2


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) float64 near-uniform unit directions (equal solid angle 4*pi/n each)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    r = np.sqrt(np.maximum(0.0, 1 - z * z))
    phi = np.pi * (3 - np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
