"""Compiled resampling through a similarity plus a residual flow (processing/solve/align_flowwarp.py)
against the definition: the 2-D Keys cubic at float64 positions ``M (x + F(x))``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from id2reflectance.processing.solve import align_resample
from id2reflectance.processing.solve.align_cubic import warp_rows
from id2reflectance.processing.solve.align_features import Similarity
from id2reflectance.processing.solve.align_flowwarp import TILE_COLS, warp_flow_rows
from tests.processing.solve.test_align_cubic import keys_sample


def exact_flow_bicubic(
    img: np.ndarray, M: np.ndarray, flow: np.ndarray, scale: int, window: tuple[int, int, int, int]
) -> np.ndarray:
    """(H, W, C) float64: ``img`` sampled by the 2-D Keys cubic (16 taps, the frame's edge replicated) at
    ``M (x + F(x))``, ``F`` the working grid ``flow`` interpolated bilinearly at camera pixel ``x`` (the
    grid's edge replicated) times ``scale``, 0 outside ``window`` (numpy, float64: the definition)."""
    h, w = img.shape[:2]
    wx0, wy0, wx1, wy1 = window
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    hw, ww = flow.shape[:2]
    u = np.clip((xs - wx0 + 0.5) / scale - 0.5, 0, ww - 1)
    v = np.clip((ys - wy0 + 0.5) / scale - 0.5, 0, hw - 1)
    iu, iv = np.floor(u).astype(int), np.floor(v).astype(int)
    iu1, iv1 = np.minimum(iu + 1, ww - 1), np.minimum(iv + 1, hw - 1)
    tu, tv = (u - iu)[..., None], (v - iv)[..., None]
    g = flow.astype(np.float64)
    F = (1 - tv) * ((1 - tu) * g[iv, iu] + tu * g[iv, iu1]) + tv * ((1 - tu) * g[iv1, iu] + tu * g[iv1, iu1])
    F *= scale
    F[~((xs >= wx0) & (xs < wx1) & (ys >= wy0) & (ys < wy1))] = 0.0
    px, py = xs + F[..., 0], ys + F[..., 1]
    X = M[0, 0] * px + M[0, 1] * py + M[0, 2]
    Y = M[1, 0] * px + M[1, 1] * py + M[1, 2]
    return keys_sample(img, X, Y)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(seed).random((h, w, 3)).astype(np.float32), (0, 0), 1.0)


def _flow(hw: int, ww: int, amplitude: float, sigma: float, seed: int = 1) -> np.ndarray:
    """(hw, ww, 2) float32 smooth random flow (working pixels), ``amplitude`` at most, falling to 0 over
    the grid's outer eighth (as the alignment's flow, weighted to the face, does toward its window's edge)."""
    f = cv2.GaussianBlur(np.random.default_rng(seed).normal(0.0, 1.0, (hw, ww, 2)).astype(np.float32), (0, 0), sigma)
    ramp = [np.clip(np.minimum(np.arange(n), n - 1 - np.arange(n)) / (n / 8), 0, 1) for n in (hw, ww)]
    f *= (np.minimum.outer(*ramp) ** 2)[..., None].astype(np.float32)
    return f * np.float32(amplitude / float(np.abs(f).max()))


@pytest.mark.parametrize(
    ("h", "w", "scale", "window"),
    [(120, 2 * TILE_COLS + 70, 4, None), (150, 300, 1, None), (160, 700, 2, (60, 30, 620, 140))],
)
def test_the_flow_warp_is_the_exact_bicubic_of_the_flowed_positions(h, w, scale, window) -> None:  # noqa: ANN001
    """A smooth residual flow (up to 2 camera px, a Gaussian of 40 camera px on noise: the alignment's
    flows are smoothed by a 24th of the face) on a similarity: within 2e-4 rms / 5e-3 at most of the
    exact 2-D bicubic at the same positions (the rigid passes' own order on a rotation), 2.5 times
    closer than ``cv2.remap`` from float32 maps
    (positions rounded to 1/32 px); over several column tiles, a working grid 1, 2 or 4 times coarser, a
    window with no flow beyond it. Not within 4 px of the frame's edge, which the two passes replicate
    along the curves of constant output column (the 2-D cubic: at the output pixel's column), as the
    rigid passes do: the alignment excludes pixels read from within 2 px of the edge."""
    img = _image(h, w)
    wx0, wy0, wx1, wy1 = window or (0, 0, w, h)
    flow = _flow((wy1 - wy0) // scale, (wx1 - wx0) // scale, 2.0 / scale, 40.0 / scale)
    M = Similarity(1.3, -2.1, 0.4, 1.004).matrix(w, h)
    exact = exact_flow_bicubic(img, M, flow, scale, (wx0, wy0, wx1, wy1))
    out = np.empty_like(img)
    assert warp_flow_rows(img, 0, M, flow, scale, (wx0, wy0, wx1, wy1), 0, 0, out)
    inner = np.s_[4:-4, 4:-4]
    err = (out - exact)[inner]
    assert float(np.abs(flow).max()) * scale > 1.9
    assert float(np.sqrt(np.mean(err**2))) < 2e-4
    assert float(np.abs(err).max()) < 5e-3
    # OpenCV from the same positions as float32 maps
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    F = np.zeros((h, w, 2))
    grid = cv2.resize(
        flow, ((wx1 - wx0) // scale * scale, (wy1 - wy0) // scale * scale), interpolation=cv2.INTER_LINEAR
    )
    F[wy0 : wy0 + grid.shape[0], wx0 : wx0 + grid.shape[1]] = grid * scale
    mx = (M[0, 0] * (xs + F[..., 0]) + M[0, 1] * (ys + F[..., 1]) + M[0, 2]).astype(np.float32)
    my = (M[1, 0] * (xs + F[..., 0]) + M[1, 1] * (ys + F[..., 1]) + M[1, 2]).astype(np.float32)
    cv = cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    assert np.sqrt(np.mean(err**2)) < 0.4 * np.sqrt(np.mean((cv[inner] - exact[inner]) ** 2))


def test_a_uniform_flow_is_a_translation_and_no_flow_the_rigid_warp() -> None:
    """A flow of (0.6, -1.1) working px everywhere (scale 2: 1.2, -2.2 camera px) is the rigid warp by
    ``M`` composed with that translation, and a zero flow is ``M``'s: the compiled rigid passes'
    values (the flow's sign, its scale and the passes' positions)."""
    h, w, scale = 140, TILE_COLS + 150, 2
    img = _image(h, w, seed=3)
    M = Similarity(-0.8, 1.7, -0.3, 0.997).matrix(w, h)
    flow = np.empty((h // scale, w // scale, 2), np.float32)
    flow[...] = (0.6, -1.1)
    out = np.empty_like(img)
    assert warp_flow_rows(img, 0, M, flow, scale, (0, 0, w, h), 0, 0, out)
    T = np.array([[1.0, 0.0, 1.2], [0.0, 1.0, -2.2], [0.0, 0.0, 1.0]])
    rigid = np.empty_like(img)
    assert warp_rows(img, 0, M @ T, 0, 0, rigid)
    np.testing.assert_allclose(out, rigid, atol=2e-5)
    assert warp_flow_rows(img, 0, M, np.zeros_like(flow), scale, (0, 0, w, h), 0, 0, out)
    assert warp_rows(img, 0, M, 0, 0, rigid)
    np.testing.assert_allclose(out, rigid, atol=2e-5)


def test_a_band_reads_only_its_rows_and_other_layouts_are_refused() -> None:
    """A band of output rows from the frame's rows ``lo .. hi`` (rows beyond read as the nearest of
    them): the whole frame's values (to the rounding of the curves' solve, which starts at the band's
    first row); a layout the passes do not take returns False."""
    h, w, scale = 200, 260, 2
    img = _image(h, w, seed=4)
    M = Similarity(0.4, 0.9, 0.2, 1.0).matrix(w, h)
    flow = _flow(h // scale, w // scale, 1.0, 6.0)
    whole = np.empty_like(img)
    assert warp_flow_rows(img, 0, M, flow, scale, (0, 0, w, h), 0, 0, whole)
    band = np.empty((60, w - 40, 3), np.float32)
    lo, hi = 50, 130
    assert warp_flow_rows(img[lo:hi], lo, M, flow, scale, (0, 0, w, h), 20, 60, band)
    np.testing.assert_allclose(band, whole[60:120, 20:-20], atol=5e-5)
    planes = np.ascontiguousarray(img.transpose(0, 2, 1)).transpose(0, 2, 1)  # channel planes per row
    assert not warp_flow_rows(planes, 0, M, flow, scale, (0, 0, w, h), 0, 0, np.empty_like(img))


def test_remap_with_flow_uses_the_compiled_passes_and_stays_within_opencvs_rounding(monkeypatch) -> None:  # noqa: ANN001
    """``align_resample.remap_with_flow`` (in place, over the face's box): the compiled passes' result
    differs from the ``cv2.remap`` path (:data:`~id2reflectance.processing.solve.align_resample.COMPILED_FLOW`
    False) by OpenCV's 1/32 px rounding only, and is closer to the exact bicubic."""
    h, w, scale = 260, 300, 2
    img = _image(h, w, seed=5)
    region = np.zeros((h // scale, w // scale), bool)
    region[30:100, 25:120] = True
    flow = _flow(h // scale, w // scale, 1.5, 8.0)
    M = Similarity(1.1, -0.7, 0.3, 1.002).matrix(w, h)
    box = (40.0, 50.0, 250.0, 210.0)
    new = align_resample.remap_with_flow(img.copy(), M, flow, region, scale, box=box, margin=10.0, in_place=True)
    monkeypatch.setattr(align_resample, "COMPILED_FLOW", False)
    old = align_resample.remap_with_flow(img.copy(), M, flow, region, scale, box=box, margin=10.0, in_place=True)
    np.testing.assert_allclose(new, old, atol=6e-3)
    assert not np.array_equal(new, old)
    np.testing.assert_array_equal(new[:39], img[:39])
    # the flow remap_with_flow applies: smoothed and weighted to the face (its definition)
    weight = cv2.GaussianBlur(
        (cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0).astype(np.float32), (0, 0), 3.0
    )
    applied = cv2.GaussianBlur(flow, (0, 0), 1.5) * weight[..., None]
    exact = exact_flow_bicubic(img, M, applied, scale, (0, 0, w, h))
    inner = np.s_[45:215, 35:255]  # inside the resampled box (the face's grown by 10 px)
    assert np.abs(new[inner] - exact[inner]).mean() < 0.5 * np.abs(old[inner] - exact[inner]).mean()
