"""The diffuse normals made locally integrable (integrable_normals.py)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.camera import Camera
from id2reflectance.processing.solve import integrable_normals
from id2reflectance.processing.solve.accuracy import angle_between_deg
from id2reflectance.processing.solve.config import numba_available
from id2reflectance.processing.solve.integrable_normals import make_integrable

SIZE = 96
ALBEDO = np.array([0.5, 0.3, 0.2], np.float32)
LIGHTS_TO_WORLD = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # a rotated light frame


def _camera(dist: tuple[float, ...] = ()) -> Camera:
    K = np.array([[300.0, 0.0, 47.5], [0.0, 310.0, 46.0], [0.0, 0.0, 1.0]])
    R = np.diag([1.0, -1.0, -1.0])  # looking along world -z, image y down
    return Camera("front", SIZE, SIZE, K, np.array(dist, np.float64), R, np.array([0.0, 0.0, 1.0]))


def _surface(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First moments (SIZE, SIZE, 9) of a wrinkled bump seen by ``camera``, its lit pixels and
    the specular planes (SIZE, SIZE, 4) of a mirror-like lobe (mean direction the reflected view).

    log depth ``L(x, y)`` is a smooth bump plus fine ripples (period about 5 pixels); the
    normal in camera axes is ``(L_x, L_y, -(1 + x L_x + y L_y))`` (facing the camera).
    """
    from id2reflectance.capture.camera import undistort_pixels

    jj, ii = np.meshgrid(np.arange(SIZE, dtype=np.float64), np.arange(SIZE, dtype=np.float64))
    x, y = undistort_pixels(np.stack([jj.ravel(), ii.ravel()], axis=1), camera.K, np.asarray(camera.dist))
    x, y = x.reshape(SIZE, SIZE), y.reshape(SIZE, SIZE)
    k = 2.0 * np.pi * 300.0 / 5.0  # ripples of about 5 pixels
    ripple = 1e-4 * k * np.cos(k * (y + 0.3 * x))  # tilts of about 2 degrees
    lx = -0.8 * x + 0.3 * ripple  # L = -0.4 (x^2 + y^2) + 1e-4 sin(k (y + 0.3 x))
    ly = -0.8 * y + ripple
    n_cam = np.stack([lx, ly, -(1.0 + x * lx + y * ly)], axis=2)
    n_cam /= np.linalg.norm(n_cam, axis=2, keepdims=True)
    n_light = n_cam @ (camera.R @ LIGHTS_TO_WORLD)  # rows: to_cam^T n
    m1c = np.empty((SIZE, SIZE, 9), np.float32)
    for a in range(3):
        m1c[..., 3 * a : 3 * a + 3] = (2.0 / 3.0) * ALBEDO * n_light[..., a : a + 1]
    signal = np.hypot(x, y) < 0.12
    view = -np.stack([x, y, np.ones_like(x)], axis=2)
    view /= np.linalg.norm(view, axis=2, keepdims=True)
    view = view @ (camera.R @ LIGHTS_TO_WORLD)
    reflected = 2.0 * np.sum(n_light * view, axis=2, keepdims=True) * n_light - view
    spec = np.concatenate([np.ones((SIZE, SIZE, 1)), 0.8 * reflected], axis=2).astype(np.float32)
    return m1c, signal, spec


def _normal(m1c: np.ndarray) -> np.ndarray:
    """(H, W, 3) float64 green-plus-blue first moment (float64: float32 angles resolve only 0.02 deg)."""
    return np.stack([m1c[..., 3 * a + 1] + m1c[..., 3 * a + 2] for a in range(3)], axis=2).astype(np.float64)


def _apply(
    m1c: np.ndarray,
    signal: np.ndarray,
    camera: Camera,
    spec: np.ndarray | None = None,
    weights: tuple[float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    out, spec_out = m1c.copy(), None if spec is None else spec.copy()
    make_integrable(out, signal, camera, LIGHTS_TO_WORLD, (slice(None), slice(None)), spec=spec_out, weights=weights)
    return out, spec_out


@pytest.mark.parametrize("dist", [(), (-0.2, 0.1, 0.0, 0.0, 0.0)])
def test_a_surfaces_normals_stay(dist: tuple[float, ...]) -> None:
    camera = _camera(dist)
    m1c, signal, spec = _surface(camera)
    out, spec_out = _apply(m1c, signal, camera, spec)
    moved = angle_between_deg(_normal(out), _normal(m1c))
    # the 2-degree ripples of 5 pixels are kept to 1 % (the stencils are exact only at low frequencies)
    assert np.median(moved[signal]) < 0.04 and np.percentile(moved[signal], 99) < 0.2
    assert np.array_equal(out[~signal], m1c[~signal])  # pixels off the surface untouched
    # every channel is rotated alike: lengths (albedo) and channel ratios stay
    np.testing.assert_allclose(
        np.linalg.norm(out[..., 0::3], axis=2), np.linalg.norm(m1c[..., 0::3], axis=2), rtol=1e-5
    )


def test_the_noise_loses_its_curl() -> None:
    camera = _camera()
    m1c, signal, spec = _surface(camera)
    rng = np.random.default_rng(0)
    noisy = m1c + rng.normal(0.0, 0.004, m1c.shape).astype(np.float32)  # about 1 degree per pixel
    noisy_spec = spec + rng.normal(0.0, 0.01, spec.shape).astype(np.float32)
    out, spec_out = _apply(noisy, signal, camera, noisy_spec)
    truth = _normal(m1c)
    before = np.median(angle_between_deg(_normal(noisy), truth)[signal])
    after = np.median(angle_between_deg(_normal(out), truth)[signal])
    assert 0.5 < before < 2.0
    assert after < 0.82 * before  # about 1 / sqrt(2) for white noise, less the screening
    lobe = spec[..., 1:].astype(np.float64)
    before = np.median(angle_between_deg(noisy_spec[..., 1:].astype(np.float64), lobe)[signal])
    after = np.median(angle_between_deg(spec_out[..., 1:].astype(np.float64), lobe)[signal])
    assert 0.3 < before < 2.0 and after < 0.85 * before


@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("weights", [None, (1.1, 0.65, 0.25)])
def test_compiled_and_numpy_agree(monkeypatch: pytest.MonkeyPatch, weights: tuple[float, ...] | None) -> None:
    camera = _camera((-0.2, 0.1, 0.0, 0.0, 0.0))
    m1c, signal, spec = _surface(camera)
    rng = np.random.default_rng(1)
    m1c += rng.normal(0.0, 0.004, m1c.shape).astype(np.float32)
    spec += rng.normal(0.0, 0.01, spec.shape).astype(np.float32)
    compiled, spec_compiled = _apply(m1c, signal, camera, spec, weights)
    monkeypatch.setattr(integrable_normals, "numba_available", lambda: False)
    plain, spec_plain = _apply(m1c, signal, camera, spec, weights)
    # the kernels' float32 arithmetic against numpy's float64: about 5e-6 deg
    assert np.max(angle_between_deg(_normal(compiled), _normal(plain))[signal]) < 1e-4
    assert np.median(angle_between_deg(_normal(compiled), _normal(m1c))[signal]) > 0.1
    lobes = [s[..., 1:].astype(np.float64) for s in (spec_compiled, spec_plain, spec)]
    assert np.max(angle_between_deg(lobes[0], lobes[1])[signal]) < 1e-4
    assert np.median(angle_between_deg(lobes[0], lobes[2])[signal]) > 0.1


@pytest.mark.parametrize("compiled", [True, False])
def test_the_weighted_channels_set_the_normal(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    """With weights the solver's green-plus-blue normal is turned onto the weighted channels'
    (corrected) direction: noise in a channel weighted 0 leaves the normal."""
    if not compiled:
        monkeypatch.setattr(integrable_normals, "numba_available", lambda: False)
    elif not numba_available():
        pytest.skip("numba not installed")
    camera = _camera()
    m1c, signal, _ = _surface(camera)
    noisy = m1c.copy()
    rng = np.random.default_rng(2)
    noisy[..., 2::3] += rng.normal(0.0, 0.02, noisy[..., 2::3].shape).astype(np.float32)  # blue only
    assert np.median(angle_between_deg(_normal(noisy), _normal(m1c))[signal]) > 1.0
    out, _ = _apply(noisy, signal, camera, weights=(1.0, 1.0, 0.0))
    assert np.median(angle_between_deg(_normal(out), _normal(m1c))[signal]) < 0.05
    # every lit pixel is turned, also the ones the curl removal leaves out
    assert np.max(angle_between_deg(_normal(out), _normal(m1c))[signal]) < 1.0
    gb, _ = _apply(noisy, signal, camera)  # green plus blue: the blue channel's noise stays (less its curl)
    assert np.median(angle_between_deg(_normal(gb), _normal(m1c))[signal]) > 0.5


def _apply_operator(psi: np.ndarray, kappa: float) -> np.ndarray:
    """``(kappa^2 - Laplacian_4) psi`` with the fourth-order differences applied twice (the FFT's symbol)."""
    d = integrable_normals._d4
    return kappa * kappa * psi - d(d(psi, 0), 0) - d(d(psi, 1), 1)


def test_the_screened_solve_inverts_its_operator() -> None:
    """Every plane of the batched FFT solve (:func:`_solve_padded`) satisfies the screened equation
    inside the box and equals the one-plane solve; the kept buffer's margins are zeroed again."""
    rng = np.random.default_rng(3)
    kappa = integrable_normals.KAPPA
    h, w, pad = 70, 90, integrable_normals.PAD
    curls = rng.normal(0.0, 1.0, (2, h, w)).astype(np.float32)
    buf = integrable_normals._padded(2, (h, w), np.float32)
    buf[...] = 7.0  # stale values everywhere: the margins must be zeroed by the next call
    buf = integrable_normals._padded(2, (h, w), np.float32)
    assert not buf[:, :pad].any() and not buf[:, pad + h :].any() and not buf[:, :, :pad].any()
    buf[:, pad : pad + h, pad : pad + w] = curls
    psi = np.array(integrable_normals._solve_padded(buf, (h, w), kappa))
    for k in range(2):
        residual = _apply_operator(psi[k].astype(np.float64), kappa) - curls[k]
        assert np.max(np.abs(residual[4:-4, 4:-4])) < 1e-4 * np.max(np.abs(curls[k]))
        single = integrable_normals._screened_inverse(curls[k], kappa)
        np.testing.assert_allclose(single, psi[k], rtol=0, atol=1e-6)


@pytest.mark.skipif(integrable_normals._POCKETFFT is None, reason="scipy without its pocketfft binding")
@pytest.mark.parametrize("shape", [(70, 90), (61, 47), (33, 128)])
def test_the_kept_buffer_solve_equals_scipys_transforms(shape: tuple[int, int]) -> None:
    """The screened solve through pocketfft's passes into kept buffers gives ``scipy.fft.rfft2`` /
    ``irfft2``'s values bit for bit (odd and even FFT widths), camera after camera of other sizes."""
    import scipy.fft

    rng = np.random.default_rng(shape[0])
    kappa, pad = integrable_normals.KAPPA, integrable_normals.PAD
    h, w = shape
    for scale in (1.0, 1e-3):  # a second camera: the kept spectrum and padded box reused
        curls = (scale * rng.normal(0.0, 1.0, (2, h, w))).astype(np.float32)
        buf = integrable_normals._padded(2, (h, w), np.float32)
        buf[:, pad : pad + h, pad : pad + w] = curls
        H, W = buf.shape[1:]
        spec = scipy.fft.rfft2(buf.copy(), workers=-1)
        spec *= integrable_normals._inverse_symbol(H, W, kappa, np.float32)[:, ::2]
        want = scipy.fft.irfft2(spec, s=(H, W), workers=-1)[:, pad : pad + h, pad : pad + w]
        got = integrable_normals._solve_padded(buf, (h, w), kappa)
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_the_coordinate_grids_jacobian() -> None:
    """The Jacobian from the neighbouring nodes matches differences over one pixel (a distorted lens)."""
    from id2reflectance.capture.camera import undistort_pixels

    camera = _camera((-0.2, 0.1, 0.0, 0.0, 0.0))
    roi = (slice(5, 90), slice(3, 80))
    grid = integrable_normals.coordinate_grid(camera, roi, (85, 77), 8)
    assert grid.shape == (12, 11, 6)
    vv, uu = np.meshgrid(5.0 + 8.0 * np.arange(12), 3.0 + 8.0 * np.arange(11), indexing="ij")

    def at(du: float, dv: float) -> tuple[np.ndarray, np.ndarray]:
        x, y = undistort_pixels(np.stack([(uu + du).ravel(), (vv + dv).ravel()], axis=1), camera.K, camera.dist)
        return x.reshape(uu.shape), y.reshape(uu.shape)

    x, y = at(0.0, 0.0)
    np.testing.assert_allclose(grid[..., 0], x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(grid[..., 1], y, rtol=0, atol=1e-12)
    (xa, ya), (xb, yb), (xc, yc), (xd, yd) = at(-0.5, 0), at(0.5, 0), at(0, -0.5), at(0, 0.5)
    for k, ref in enumerate([xb - xa, xd - xc, yb - ya, yd - yc]):
        scale = np.max(np.abs(grid[..., 2:]))
        assert np.max(np.abs(grid[..., 2 + k] - ref)) < 5e-4 * scale


@pytest.mark.parametrize("compiled", [True, False])
def test_kept_buffers_carry_nothing_between_calls(monkeypatch: pytest.MonkeyPatch, compiled: bool) -> None:
    """A box after a larger one (the scratch kept between cameras) gives what it gives alone."""
    if not compiled:
        monkeypatch.setattr(integrable_normals, "numba_available", lambda: False)
    elif not numba_available():
        pytest.skip("numba not installed")
    camera = _camera()
    m1c, signal, spec = _surface(camera)
    rng = np.random.default_rng(4)
    m1c += rng.normal(0.0, 0.004, m1c.shape).astype(np.float32)
    spec += rng.normal(0.0, 0.01, spec.shape).astype(np.float32)
    box = (slice(10, 80), slice(20, 90))

    def run() -> tuple[np.ndarray, np.ndarray]:
        out, spec_out = m1c[box].copy(), spec[box].copy()
        make_integrable(out, signal[box], camera, LIGHTS_TO_WORLD, box, spec=spec_out)
        return out, spec_out

    first = run()
    _apply(m1c, signal, camera, spec)  # the whole image: larger buffers, other values
    again = run()
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], m1c[box])  # the step did change the moments
