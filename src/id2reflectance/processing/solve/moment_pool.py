"""The diffuse first moments pooled from both polarisations, for the denoiser.

With ideal polarisers both polarisations record half of the diffuse reflection:
``cross = D / 2`` and ``parallel = D / 2 + S``, where the specular ``S`` keeps the light's
colour, the same value in every channel (docs/solve.md section 2). So the parallel
frames hold a second copy of the diffuse signal with independent noise, offset by one
unknown per pixel. Per axis ``a`` and channel ``c``, with ``m_c`` the cross and ``p_c`` the
parallel first moment (``gradient_a - inverse_a``, or ``2 gradient_a - full`` without
inverses) and ``s = mean_c(p_c - m_c)`` the specular first moment, the least-squares
estimate of the diffuse first moment under noise variances ``v_cross`` and ``v_parallel``
is::

    m_c' = (m_c + w (p_c - s)) / (1 + w),    w = v_cross / v_parallel

Only the channel differences of the parallel frames are new information (their common
part is taken by ``s``): for the green plus blue moment that the diffuse normal uses,
the noise variance drops to 5/6 at ``w = 1`` (diffuse normal at the issue-20 noise, ICT
head, 192 px: unfiltered 2.94 -> 2.75 deg, after the radius-2 filter 1.143 -> 1.126;
docs/solve.md section 1c). On noise-free frames that satisfy the model it changes
nothing (to float32 rounding). The specular moments are unchanged (the solver reads
``lum(parallel - cross)``, rebuilt from its own planes).

This is the numpy version; with numba the same arithmetic runs inside the moments' packing
(:func:`~id2reflectance.processing.solve.moments_kernel.pack_moments`'s ``pool``), in the
same pass over the frames.
"""

from __future__ import annotations

import numpy as np

from id2reflectance.processing.solve.separation import AXES

__all__ = ["parallel_weight", "pool_first_moments"]


def parallel_weight(sigma_cross: float, sigma_parallel: float) -> float:
    """``w = v_cross / v_parallel`` from the two polarisations' noise sigmas (0 when the parallel one is 0)."""
    if sigma_parallel <= 0.0:
        return 0.0
    return float((sigma_cross / sigma_parallel) ** 2)


def pool_first_moments(
    images: dict[tuple[str, str], np.ndarray], m1c: np.ndarray, *, inverses: bool, weight: float
) -> None:
    """Pool the parallel frames' diffuse first moments into ``m1c`` in place.

    Parameters
    ----------
    images : ``{(pattern, pol): (h, w, 3) float32}`` the frames of the filtered box
        (views allowed), linear relative radiance, both polarisations.
    m1c : (h, w, 9) float32 C-contiguous, the cross first moments axis-major (x R, G, B,
        y R, G, B, z R, G, B) as :func:`~id2reflectance.processing.solve.moment_planes.moment_planes`
        makes them; overwritten with the pooled estimate.
    inverses : the first moments are ``gradient - inverse`` (else ``2 gradient - full``).
    weight : ``w = v_cross / v_parallel`` (:func:`parallel_weight`); 0 leaves ``m1c`` as it is.
    """
    if weight <= 0.0:
        return
    second = [images[(f"inverse_{a}" if inverses else "full", "parallel")] for a in AXES]
    first = [images[(f"gradient_{a}", "parallel")] for a in AXES]
    f32 = np.float32
    for k in range(3):
        g, o = first[k], second[k]
        p = g - o if inverses else g * f32(2.0) - o
        m = m1c[..., 3 * k : 3 * k + 3]
        p -= m
        p -= p.mean(axis=2, keepdims=True)  # p_c - m_c - s
        p *= f32(weight / (1.0 + weight))
        m += p  # m + w (p - m - s) / (1 + w) = (m + w (p - s)) / (1 + w)
