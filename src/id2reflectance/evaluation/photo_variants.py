"""Photos re-exposed and white-balanced in linear light: the variants a skin-tone estimate must not follow.

:func:`photo_variant` decodes 8-bit sRGB to linear light (IEC 61966-2-1), multiplies by
``2 ** stops`` and a per-channel white-balance gain, clips to [0, 1] (as a camera's sensor
and encoder would) and re-encodes to 8-bit sRGB. :data:`VARIANTS` are the five of the
real-photo skin-tone benchmark: -1, 0 and +1 stop, and the unexposed photo made warm and
cool by :data:`WARM` and :data:`COOL` (gains of 1.15 and 0.85 on red and blue, about the
change between daylight and a 4000-5000 K light that a camera's white balance leaves).
"""

from __future__ import annotations

import numpy as np

from id2reflectance._shared.imageio import linear_to_srgb, srgb_to_linear
from id2reflectance.errors import ShapeError

WARM = (1.15, 1.0, 0.85)  # linear RGB gains
COOL = (0.85, 1.0, 1.15)
NEUTRAL = (1.0, 1.0, 1.0)
VARIANTS: dict[str, tuple[float, tuple[float, float, float]]] = {
    "-1 stop": (-1.0, NEUTRAL),
    "as shot": (0.0, NEUTRAL),
    "+1 stop": (1.0, NEUTRAL),
    "warm": (0.0, WARM),
    "cool": (0.0, COOL),
}


def photo_variant(image: np.ndarray, *, stops: float = 0.0, gains: tuple[float, float, float] = NEUTRAL) -> np.ndarray:
    """The photo as if exposed ``stops`` more and white-balanced with ``gains``.

    Parameters
    ----------
    image : (H, W, 3) uint8 sRGB code values.
    stops : exposure change (stops; +1 doubles the linear light).
    gains : per-channel linear RGB multipliers (r, g, b), each > 0.

    Returns
    -------
    (H, W, 3) uint8 sRGB, clipped where the light exceeds the encoding's range.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ShapeError(f"photo_variant: expected (H, W, 3) uint8, got {img.shape} {img.dtype}")
    g = np.asarray(gains, np.float32)
    if g.shape != (3,) or not np.all(g > 0):
        raise ShapeError(f"photo_variant: gains must be 3 positive numbers, got {gains}")
    lin = srgb_to_linear(img.astype(np.float32) / 255.0) * np.float32(2.0**stops) * g
    return np.round(linear_to_srgb(np.clip(lin, 0.0, 1.0)) * 255.0).astype(np.uint8)
