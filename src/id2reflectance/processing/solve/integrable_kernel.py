"""Compiled per-pixel steps of :mod:`~id2reflectance.processing.solve.integrable_normals` (numba).

:func:`gradient_diffuse` turns the diffuse normals (green plus blue first moments) into the
log-depth gradient ``(G_u, G_v)``, :func:`curl4` takes its curl, :func:`rotate_diffuse` adds the
screened correction, returns to normals and turns every channel's first moment with them, in
one pass; :func:`gradient_both` and :func:`correct_both` do the same for both lobes at once
(the specular lobe's half vectors beside the diffuse normals). The normals and half vectors are recomputed per pixel where needed
rather than stored (each full-size array is a pass over memory). The undistorted normalised
coordinates and their Jacobian are interpolated bilinearly from a coarse grid (nodes
every ``step`` pixels). The arithmetic is float32 (the numpy version's is float64; they agree
to about 1e-5 deg): the passes are bound by their square roots and divisions, which cost about
half as much in float32, and the pixel-ray test, the half vector's gradient and the corrected
normal need fewer of them (squares compared, lengths that a gradient or a normalisation
ignores left as they are). Rows run in parallel threads; compiled on first use and cached on
disk beside this module.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from id2reflectance.processing.solve.threads import start_threads

start_threads()  # numba's workers started before any kernel runs: idle ones sleep (threads.py)

_JIT = {"fastmath": {"contract", "arcp", "afn"}, "error_model": "numpy", "cache": True}
_NO_COORDS = (np.float32(0.0),) * 6  # the coordinates where a pass does not need them


@njit(inline="always", **_JIT)
def _row_nodes(i, step, grid):  # noqa: ANN001, ANN202
    """(nx, 6) float32: ``grid`` (ny, nx, 6) float32 interpolated linearly between its node rows at box
    row ``i`` (once per row; :func:`_coords` then interpolates along the row)."""
    f32 = np.float32
    i0 = min(i // step, grid.shape[0] - 2)
    a = f32(i - i0 * step) / f32(step)  # past the last node row: extrapolated, as the numpy path
    nx = grid.shape[1]
    out = np.empty((nx, 6), np.float32)
    for jn in range(nx):
        for k in range(6):
            out[jn, k] = (f32(1.0) - a) * grid[i0, jn, k] + a * grid[i0 + 1, jn, k]
    return out


@njit(inline="always", **_JIT)
def _coords(j, step, row):  # noqa: ANN001, ANN202
    """(x, y, xu, xv, yu, yv) float32 at pixel j of a box row, linear between the nodes of ``row``
    (:func:`_row_nodes`): bilinear in the coordinate grid."""
    f32 = np.float32
    j0 = min(j // step, row.shape[0] - 2)
    b = f32(j - j0 * step) / f32(step)
    ob = f32(1.0) - b
    return (  # a tuple, not an array: no allocation per pixel
        ob * row[j0, 0] + b * row[j0 + 1, 0],
        ob * row[j0, 1] + b * row[j0 + 1, 1],
        ob * row[j0, 2] + b * row[j0 + 1, 2],
        ob * row[j0, 3] + b * row[j0 + 1, 3],
        ob * row[j0, 4] + b * row[j0 + 1, 4],
        ob * row[j0, 5] + b * row[j0 + 1, 5],
    )


@njit(inline="always", **_JIT)
def _view(c, to_cam):  # noqa: ANN001, ANN202
    """Unit vector (float32) from the surface towards the camera at a pixel of coordinates ``c``
    (:func:`_coords`), light-stage axes."""
    f32 = np.float32
    x, y = c[0], c[1]
    ir = f32(1.0) / np.sqrt(f32(1.0) + x * x + y * y)  # one division, three products
    e0, e1, e2 = -x * ir, -y * ir, -ir
    return (  # to_cam^T e, a tuple: no allocation per pixel
        to_cam[0, 0] * e0 + to_cam[1, 0] * e1 + to_cam[2, 0] * e2,
        to_cam[0, 1] * e0 + to_cam[1, 1] * e1 + to_cam[2, 1] * e2,
        to_cam[0, 2] * e0 + to_cam[1, 2] * e1 + to_cam[2, 2] * e2,
    )


@njit(inline="always", **_JIT)
def _green_blue(m1c, i, j):  # noqa: ANN001, ANN202
    """The green-plus-blue diffuse first moment per axis at (i, j) (float32, as numpy adds them)."""
    return m1c[i, j, 1] + m1c[i, j, 2], m1c[i, j, 4] + m1c[i, j, 5], m1c[i, j, 7] + m1c[i, j, 8]


@njit(inline="always", **_JIT)
def _weighted(m1c, i, j, wt):  # noqa: ANN001, ANN202
    """The channels' diffuse first moments per axis at (i, j) summed with weights ``wt`` (3,) float32."""
    return (
        wt[0] * m1c[i, j, 0] + wt[1] * m1c[i, j, 1] + wt[2] * m1c[i, j, 2],
        wt[0] * m1c[i, j, 3] + wt[1] * m1c[i, j, 4] + wt[2] * m1c[i, j, 5],
        wt[0] * m1c[i, j, 6] + wt[1] * m1c[i, j, 7] + wt[2] * m1c[i, j, 8],
    )


@njit(inline="always", **_JIT)
def _half_sum(spec, i, j, e):  # noqa: ANN001, ANN202
    """``m1 / |m1| + e``: the specular lobe's unit mean direction (``spec[i, j, 1:4]``, light-stage axes)
    plus the view direction ``e`` (:func:`_view`), the half vector times some length; and ``|m1|``
    (0 and a zero vector where ``m1 = 0``)."""
    f32 = np.float32
    m0, m1, m2 = spec[i, j, 1], spec[i, j, 2], spec[i, j, 3]
    mn = np.sqrt(m0 * m0 + m1 * m1 + m2 * m2)
    if mn <= f32(0.0):
        return f32(0.0), f32(0.0), f32(0.0), f32(0.0)
    im = f32(1.0) / mn
    return m0 * im + e[0], m1 * im + e[1], m2 * im + e[2], mn


@njit(inline="always", **_JIT)
def _gradient(v, i, j, c, to_cam, dmin2, gu, gv, ok):  # noqa: ANN001, ANN202
    """Log-depth gradient of the normal ``v`` (3 float32, any length, light-stage axes) at the lit
    pixel (i, j), coordinates ``c`` (:func:`_coords`), into ``gu, gv`` (0 where not ``ok``) and ``ok``.
    ``dmin2``: the square of ``DMIN``; the test ``|d| > DMIN |n| sqrt(1 + x^2 + y^2)`` on squares
    (no square roots)."""
    f32 = np.float32
    x, y = c[0], c[1]
    v0, v1, v2 = v[0], v[1], v[2]
    n0 = to_cam[0, 0] * v0 + to_cam[0, 1] * v1 + to_cam[0, 2] * v2
    n1 = to_cam[1, 0] * v0 + to_cam[1, 1] * v1 + to_cam[1, 2] * v2
    n2 = to_cam[2, 0] * v0 + to_cam[2, 1] * v1 + to_cam[2, 2] * v2
    length2 = n0 * n0 + n1 * n1 + n2 * n2
    d = n0 * x + n1 * y + n2
    if length2 > f32(0.0) and d * d > dmin2 * length2 * (f32(1.0) + x * x + y * y):
        idd = f32(1.0) / d
        p, q = -n0 * idd, -n1 * idd
        gu[i, j] = p * c[2] + q * c[4]
        gv[i, j] = p * c[3] + q * c[5]
        ok[i, j] = 1
    else:
        gu[i, j] = 0.0
        gv[i, j] = 0.0
        ok[i, j] = 0


@njit(inline="always", **_JIT)
def _unlit(i, j, gu, gv, ok):  # noqa: ANN001, ANN202
    """:func:`_gradient` at a pixel that is not lit: 0 and not ``ok``."""
    gu[i, j] = 0.0
    gv[i, j] = 0.0
    ok[i, j] = 0


@njit(parallel=True, **_JIT)
def gradient_both(
    m1c: np.ndarray,
    spec: np.ndarray,
    signal: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
    dmin2: np.float32,
    weights: np.ndarray,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
    gus: np.ndarray,
    gvs: np.ndarray,
    oks: np.ndarray,
) -> None:
    """:func:`gradient_diffuse` (into gu, gv, ok) and the same of the specular half vectors
    (``spec`` (h, w, 4 or 5) float32; into gus, gvs, oks) in one pass: each lit pixel's
    coordinates interpolated once. The half vector's gradient is that of ``m1 / |m1| + e``
    (:func:`_half_sum`; a gradient does not depend on the normal's length)."""
    h, w = signal.shape
    for i in prange(h):
        row = _row_nodes(i, step, grid)
        for j in range(w):
            if signal[i, j]:
                c = _coords(j, step, row)
                _gradient(_weighted(m1c, i, j, weights), i, j, c, to_cam, dmin2, gu, gv, ok)
                hs = _half_sum(spec, i, j, _view(c, to_cam))
                _gradient((hs[0], hs[1], hs[2]), i, j, c, to_cam, dmin2, gus, gvs, oks)
            else:
                _unlit(i, j, gu, gv, ok)
                _unlit(i, j, gus, gvs, oks)


@njit(parallel=True, **_JIT)
def gradient_diffuse(
    m1c: np.ndarray,
    signal: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
    dmin2: np.float32,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Log-depth gradient of the diffuse normals (the first moments of ``m1c`` summed over the
    channels with ``weights``).

    m1c (h, w, 9) float32 axis-major first moments (light-stage axes); signal (h, w) bool;
    grid (ny, nx, 6) float32 coordinates and Jacobian; to_cam (3, 3) float32 light-stage -> camera;
    dmin2 float32 the square of ``DMIN``; weights (3,) float32 per channel (R, G, B); writes gu, gv
    (h, w) float32 (0 where not ok) and ok (h, w) uint8.
    """
    h, w = signal.shape
    for i in prange(h):
        row = _row_nodes(i, step, grid)
        for j in range(w):
            if signal[i, j]:
                c = _coords(j, step, row)
                _gradient(_weighted(m1c, i, j, weights), i, j, c, to_cam, dmin2, gu, gv, ok)
            else:
                _unlit(i, j, gu, gv, ok)


@njit(inline="always", **_JIT)
def _d4r(a, i, j):  # noqa: ANN001, ANN202
    """Fourth-order central difference along rows (d/dv) at (i, j); 0 within 2 of the border."""
    if i < 2 or i >= a.shape[0] - 2:
        return 0.0
    return (8.0 * (a[i + 1, j] - a[i - 1, j]) - (a[i + 2, j] - a[i - 2, j])) * (1.0 / 12.0)


@njit(inline="always", **_JIT)
def _d4c(a, i, j):  # noqa: ANN001, ANN202
    """Fourth-order central difference along columns (d/du) at (i, j); 0 within 2 of the border."""
    if j < 2 or j >= a.shape[1] - 2:
        return 0.0
    return (8.0 * (a[i, j + 1] - a[i, j - 1]) - (a[i, j + 2] - a[i, j - 2])) * (1.0 / 12.0)


@njit(inline="always", **_JIT)
def _d4r32(a, i, j):  # noqa: ANN001, ANN202
    """:func:`_d4r` of a float32 array in float32 arithmetic."""
    f32 = np.float32
    if i < 2 or i >= a.shape[0] - 2:
        return f32(0.0)
    return (f32(8.0) * (a[i + 1, j] - a[i - 1, j]) - (a[i + 2, j] - a[i - 2, j])) * f32(1.0 / 12.0)


@njit(inline="always", **_JIT)
def _d4c32(a, i, j):  # noqa: ANN001, ANN202
    """:func:`_d4c` of a float32 array in float32 arithmetic."""
    f32 = np.float32
    if j < 2 or j >= a.shape[1] - 2:
        return f32(0.0)
    return (f32(8.0) * (a[i, j + 1] - a[i, j - 1]) - (a[i, j + 2] - a[i, j - 2])) * f32(1.0 / 12.0)


@njit(parallel=True, **_JIT)
def curl4(gu: np.ndarray, gv: np.ndarray, inner: np.ndarray, out: np.ndarray) -> None:
    """``out = dG_v/du - dG_u/dv`` (fourth order) where ``inner`` (h, w) uint8, else 0."""
    h, w = gu.shape
    for i in prange(h):
        for j in range(w):
            out[i, j] = _d4c(gv, i, j) - _d4r(gu, i, j) if inner[i, j] else 0.0


@njit(inline="always", **_JIT)
def _corrected(v, psi, gu, gv, i, j, c, to_cam):  # noqa: ANN001, ANN202
    """``G' = G - (dpsi/dv, -dpsi/du)`` at (i, j), coordinates ``c`` (:func:`_coords`), back to a unit
    normal (float32, light-stage axes, on the side of ``v`` along the pixel ray).

    With ``(p, q) = J^-T G'`` the normal is along ``(-p, -q, 1 + p x + q y)``; that vector times the
    Jacobian's determinant ``det`` is computed instead (no division by it) and normalised, its sign
    taken with ``det``'s."""
    f32 = np.float32
    x, y, xu, xv, yu, yv = c[0], c[1], c[2], c[3], c[4], c[5]
    g_u = gu[i, j] - _d4r32(psi, i, j)
    g_v = gv[i, j] + _d4c32(psi, i, j)
    det = xu * yv - xv * yu
    p = g_u * yv - g_v * yu  # det times J^-T G'
    q = g_v * xu - g_u * xv
    v0, v1, v2 = v[0], v[1], v[2]
    c0 = to_cam[0, 0] * v0 + to_cam[0, 1] * v1 + to_cam[0, 2] * v2
    c1 = to_cam[1, 0] * v0 + to_cam[1, 1] * v1 + to_cam[1, 2] * v2
    c2 = to_cam[2, 0] * v0 + to_cam[2, 1] * v1 + to_cam[2, 2] * v2
    sign = f32(1.0) if c0 * x + c1 * y + c2 > f32(0.0) else f32(-1.0)
    if det < f32(0.0):
        sign = -sign
    e0, e1, e2 = -p, -q, det + p * x + q * y
    ie = sign / np.sqrt(e0 * e0 + e1 * e1 + e2 * e2)
    e0, e1, e2 = e0 * ie, e1 * ie, e2 * ie
    return (  # back: to_cam^T e
        to_cam[0, 0] * e0 + to_cam[1, 0] * e1 + to_cam[2, 0] * e2,
        to_cam[0, 1] * e0 + to_cam[1, 1] * e1 + to_cam[2, 1] * e2,
        to_cam[0, 2] * e0 + to_cam[1, 2] * e1 + to_cam[2, 2] * e2,
    )


@njit(inline="always", **_JIT)
def _rotate_pixel(m1c, psi, gu, gv, ok, i, j, c, to_cam, weights):  # noqa: ANN001, ANN202
    """:func:`rotate_diffuse` at the lit pixel (i, j), coordinates ``c`` (used only where ``ok``).

    The rotation taking the unit ``a`` (green plus blue) onto the unit ``b`` is applied as
    ``R u = u cos + k x u + k (k . u) / (1 + cos)`` with ``k = a x b`` (``|k| = sin``, ``cos = a . b``):
    no square root for the sine, no cancellation in ``1 - cos`` at the small angles of the
    correction. Float32 arithmetic."""
    f32 = np.float32
    vw = _weighted(m1c, i, j, weights)
    if ok[i, j]:
        n2 = _corrected(vw, psi, gu, gv, i, j, c, to_cam)
    else:
        wn2 = vw[0] * vw[0] + vw[1] * vw[1] + vw[2] * vw[2]
        if wn2 <= f32(0.0):
            return
        iw = f32(1.0) / np.sqrt(wn2)
        n2 = (vw[0] * iw, vw[1] * iw, vw[2] * iw)
    v = _green_blue(m1c, i, j)
    norm2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
    if norm2 <= f32(0.0):
        return
    inorm = f32(1.0) / np.sqrt(norm2)
    a0, a1, a2 = v[0] * inorm, v[1] * inorm, v[2] * inorm
    b0, b1, b2 = n2[0], n2[1], n2[2]
    k0, k1, k2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0
    cos = a0 * b0 + a1 * b1 + a2 * b2
    opc = f32(1.0) + cos
    if opc <= f32(1e-6):  # opposite directions: no rotation defined
        return
    iopc = f32(1.0) / opc
    for ch in range(3):
        u0, u1, u2 = m1c[i, j, ch], m1c[i, j, 3 + ch], m1c[i, j, 6 + ch]
        kd = (k0 * u0 + k1 * u1 + k2 * u2) * iopc
        m1c[i, j, ch] = u0 * cos + (k1 * u2 - k2 * u1) + k0 * kd
        m1c[i, j, 3 + ch] = u1 * cos + (k2 * u0 - k0 * u2) + k1 * kd
        m1c[i, j, 6 + ch] = u2 * cos + (k0 * u1 - k1 * u0) + k2 * kd


@njit(parallel=True, **_JIT)
def rotate_diffuse(
    m1c: np.ndarray,
    psi: np.ndarray,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
    weights: np.ndarray,
    signal: np.ndarray,
) -> None:
    """Every channel's first moment of ``m1c`` (h, w, 9) rotated (Rodrigues) by the rotation taking
    the green-plus-blue direction (the solver's diffuse normal) to the corrected normal
    (:func:`_corrected` of ``psi`` (h, w) float32 and ``gu, gv`` from :func:`gradient_diffuse`
    with the same ``weights``) where ``ok``, to the weighted direction itself at the other
    ``signal`` (h, w) bool pixels (grazing normals)."""
    h, w = ok.shape
    for i in prange(h):
        row = _row_nodes(i, step, grid)
        for j in range(w):
            if signal[i, j]:
                c = _coords(j, step, row) if ok[i, j] else _NO_COORDS
                _rotate_pixel(m1c, psi, gu, gv, ok, i, j, c, to_cam, weights)


@njit(inline="always", **_JIT)
def _reflect_pixel(spec, psi, gu, gv, i, j, c, to_cam):  # noqa: ANN001, ANN202
    """The specular first moment ``spec[i, j, 1:4]`` turned with its half vector ``nh`` at the
    pixel (i, j) (``ok`` there), coordinates ``c``: the unit mean direction moves by
    ``reflect(v, n2) - reflect(v, nh)`` (``n2`` the corrected half vector, :func:`_corrected`),
    its length stays. Float32 arithmetic."""
    f32 = np.float32
    e = _view(c, to_cam)
    h0, h1, h2, mn = _half_sum(spec, i, j, e)
    hn2 = h0 * h0 + h1 * h1 + h2 * h2
    if mn <= f32(0.0) or hn2 <= f32(0.0):
        return
    ih = f32(1.0) / np.sqrt(hn2)
    a0, a1, a2 = h0 * ih, h1 * ih, h2 * ih
    n2 = _corrected((a0, a1, a2), psi, gu, gv, i, j, c, to_cam)
    b0, b1, b2 = n2[0], n2[1], n2[2]
    da = f32(2.0) * (a0 * e[0] + a1 * e[1] + a2 * e[2])
    db = f32(2.0) * (b0 * e[0] + b1 * e[1] + b2 * e[2])
    # the unit mean direction h - e (h the unnormalised half sum) moved, then given the length |m1|
    r0 = h0 - e[0] + db * b0 - da * a0
    r1 = h1 - e[1] + db * b1 - da * a1
    r2 = h2 - e[2] + db * b2 - da * a2
    rn2 = r0 * r0 + r1 * r1 + r2 * r2
    if rn2 <= f32(0.0):
        return
    scale = mn / np.sqrt(rn2)
    spec[i, j, 1] = r0 * scale
    spec[i, j, 2] = r1 * scale
    spec[i, j, 3] = r2 * scale


@njit(parallel=True, **_JIT)
def correct_both(
    m1c: np.ndarray,
    spec: np.ndarray,
    psi: np.ndarray,
    psis: np.ndarray,
    gu: np.ndarray,
    gv: np.ndarray,
    ok: np.ndarray,
    gus: np.ndarray,
    gvs: np.ndarray,
    oks: np.ndarray,
    grid: np.ndarray,
    step: int,
    to_cam: np.ndarray,
    weights: np.ndarray,
    signal: np.ndarray,
) -> None:
    """:func:`rotate_diffuse` (``psi``, gu, gv, ok) and :func:`_reflect_pixel` (``psis``, gus, gvs,
    oks) in one pass: each pixel's coordinates interpolated once."""
    h, w = ok.shape
    for i in prange(h):
        row = _row_nodes(i, step, grid)
        for j in range(w):
            if not signal[i, j]:
                continue
            c = _coords(j, step, row) if ok[i, j] or oks[i, j] else _NO_COORDS
            _rotate_pixel(m1c, psi, gu, gv, ok, i, j, c, to_cam, weights)
            if oks[i, j]:
                _reflect_pixel(spec, psis, gus, gvs, i, j, c, to_cam)
