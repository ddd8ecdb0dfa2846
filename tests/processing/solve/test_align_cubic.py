"""Separable compiled bicubic resampling (processing/solve/align_cubic.py) against an exact 2-D bicubic."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from id2reflectance.processing.solve.align_cubic import (
    KEYS_A,
    RING_BYTES,
    STRIP_COLS,
    TILE_COLS,
    strip_cols,
    warp_box_in_place,
    warp_rows,
)
from id2reflectance.processing.solve.align_features import Similarity


def _keys(t: np.ndarray) -> np.ndarray:
    a, t = KEYS_A, np.abs(t)
    inner = (a + 2) * t**3 - (a + 3) * t**2 + 1
    outer = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, inner, np.where(t < 2, outer, 0.0))


def exact_bicubic(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(H, W, C) float64: ``img`` sampled at ``M`` (reference pixel -> frame pixel) by the 2-D Keys cubic
    (a = -0.75, 16 taps) at float64 positions, the frame's edge replicated (the definition, in numpy)."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[:h, :w].astype(np.float64)
    X = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
    Y = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
    return keys_sample(img, X, Y)


def keys_sample(img: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(H, W, C) float64: ``img`` (h, w, C) sampled at frame positions ``X``, ``Y`` (H, W) float64 pixels
    by the 2-D Keys cubic (16 taps), the frame's edge replicated."""
    h, w = img.shape[:2]
    ix, iy = np.floor(X).astype(int), np.floor(Y).astype(int)
    out = np.zeros(img.shape, np.float64)
    for dy in range(-1, 3):
        for dx in range(-1, 3):
            wgt = _keys(X - (ix + dx)) * _keys(Y - (iy + dy))
            out += wgt[..., None] * img[np.clip(iy + dy, 0, h - 1), np.clip(ix + dx, 0, w - 1)]
    return out


def _image(h: int, w: int, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    return cv2.GaussianBlur(np.random.default_rng(seed).random((h, w, 3)).astype(np.float32), (0, 0), sigma)


def test_a_translation_is_the_exact_bicubic() -> None:
    """For a translation the two 1-D passes are the 2-D cubic's tensor product: the same weights."""
    img = _image(90, 130)
    M = Similarity(0.37, -1.61, 0.0, 1.0).matrix(130, 90)
    out = np.empty_like(img)
    assert warp_rows(img, 0, M, 0, 0, out)
    np.testing.assert_allclose(out, exact_bicubic(img, M), atol=2e-6)  # edges (replicated) included


@pytest.mark.parametrize("sim", [Similarity(0.7, -1.3, 0.4, 1.002), Similarity(-2.2, 0.9, -1.5, 0.99)])
def test_a_similarity_is_closer_to_the_exact_bicubic_than_opencv(sim: Similarity) -> None:
    """A rotation: the vertical pass interpolates along the slanted line of constant output column; the
    result stays much closer to the exact 2-D bicubic than OpenCV's (its source positions rounded to
    1/32 px), over several column tiles."""
    h, w = 150, 2 * TILE_COLS + 77
    img = _image(h, w, 0.7)
    M = sim.matrix(w, h)
    exact = exact_bicubic(img, M)
    out = np.empty_like(img)
    assert warp_rows(img, 0, M, 0, 0, out)
    opencv = cv2.warpAffine(
        img, M[:2], (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    inner = (slice(6, -6), slice(6, -6))
    ours, theirs = np.sqrt(np.mean((out - exact)[inner] ** 2)), np.sqrt(np.mean((opencv - exact)[inner] ** 2))
    assert ours < 0.4 * theirs and ours < 5e-3 * img.std()


def test_bands_strided_rows_and_a_window_give_the_same_values() -> None:
    """Output rows and columns from any origin, source rows of any stride (a view of a larger array), a
    band of source rows: the same values as the whole frame at once (to float32 rounding)."""
    img = _image(200, 160, seed=3)
    M = Similarity(1.1, -0.8, 0.3, 1.0).matrix(160, 200)
    whole = np.empty_like(img)
    assert warp_rows(img, 0, M, 0, 0, whole)
    wide = np.zeros((200, 170, 3), np.float32)
    wide[:, 5:165] = img
    view = wide[:, 5:165]  # rows of 170 pixels' stride
    band = np.empty((40, 90, 3), np.float32)
    assert warp_rows(view[50:110], 50, M, 30, 60, band)
    np.testing.assert_allclose(band, whole[60:100, 30:120], atol=1e-6)  # float32 sums, SIMD or not


def test_layouts_it_does_not_take_are_refused() -> None:
    img = _image(40, 50)
    M = Similarity(0.5, 0.5, 0.0, 1.0).matrix(50, 40)
    out = np.empty_like(img)
    assert not warp_rows(np.ascontiguousarray(img.transpose(1, 0, 2)).transpose(1, 0, 2), 0, M, 0, 0, out)
    assert not warp_rows(img.astype(np.float64), 0, M, 0, 0, out)
    assert not warp_rows(img[..., :2], 0, M, 0, 0, out[..., :2])


@pytest.mark.parametrize("strip", [TILE_COLS, None])
@pytest.mark.parametrize(
    "sim", [Similarity(0.7, -3.4, 0.3, 1.0), Similarity(-1.2, 6.5, -1.5, 1.01), Similarity(-9.0, -12.0, 1.5, 1.02)]
)
def test_the_box_resampled_into_the_frame_itself_is_the_new_arrays(sim: Similarity, strip: int | None) -> None:
    """In place (strips of columns written straight into the frame, the next strip's columns and a
    strip's later rows read as decoded): what the passes give into a new array, to float32 rounding, over
    several strips and rows (or the one strip :func:`strip_cols` chooses here), a box inside the frame or
    all of it, rows of any stride (a view of a larger array); the pixels beyond the box untouched. Not bit
    for bit: the kernels contract multiply-adds (``fastmath={"contract"}``), and on a CPU with FMA a
    strip's vectorised loop body and its scalar remainder round differently (2 ulp seen at a tile's last
    columns on one machine, none on another)."""
    h, w = 260, 2 * TILE_COLS + 77
    img = _image(h, w, seed=5)
    M = sim.matrix(w, h)
    for (x0, y0, x1, y1), strided in itertools.product(((0, 0, w, h), (40, 25, w - 60, h - 35)), (False, True)):
        wide = np.zeros((h, w + 9, 3), np.float32)
        wide[:, 4 : 4 + w] = img
        frame = wide[:, 4 : 4 + w] if strided else img.copy()  # rows of w + 9 pixels' stride
        assert warp_box_in_place(frame, M, (x0, y0, x1, y1), strip=strip)
        new = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        assert warp_rows(img, 0, M, x0, y0, new)
        np.testing.assert_allclose(frame[y0:y1, x0:x1], new, rtol=0, atol=1e-6)
        beyond = np.ones((h, w), bool)
        beyond[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(frame[beyond], img[beyond])


def test_an_exr_files_view_is_resampled_in_place_like_a_contiguous_frame() -> None:
    """The view of an EXR file's lines (each row ``[y][size][B row][G row][R row]``: channel stride ``-4 W``,
    :func:`~id2reflectance._shared.exr_plain.file_view`) is resampled in place by the same passes: the
    values of a contiguous copy's (to float32 rounding), the lines' headers and the pixels beyond the box
    untouched."""
    h, w = 150, TILE_COLS + 90
    img = _image(h, w, seed=6)
    M = Similarity(-1.4, 2.3, 0.6, 1.004).matrix(w, h)
    lines = np.full((h, 2 + 3 * w), 7.0, np.float32)
    lines[:, 2:] = img[:, :, ::-1].transpose(0, 2, 1).reshape(h, 3 * w)  # B, G, R rows
    view = np.ndarray(
        (h, w, 3), np.float32, buffer=lines, offset=(2 + 2 * w) * 4, strides=(lines.strides[0], 4, -4 * w)
    )
    np.testing.assert_array_equal(view, img)
    box = (30, 12, w - 40, h - 20)
    contiguous = img.copy()
    assert warp_box_in_place(contiguous, M, box)
    assert warp_box_in_place(view, M, box, strip=TILE_COLS)  # two strips (the saved columns)
    np.testing.assert_allclose(view, contiguous, atol=1e-6)
    np.testing.assert_array_equal(view[:12], img[:12])
    np.testing.assert_array_equal(lines[:, :2], 7.0)
    # the whole frame: the strips read past its edges (the edge replicated) and the saved columns
    lines[:, 2:] = img[:, :, ::-1].transpose(0, 2, 1).reshape(h, 3 * w)
    contiguous = img.copy()
    assert warp_box_in_place(contiguous, M, (0, 0, w, h))
    assert warp_box_in_place(view, M, (0, 0, w, h), strip=TILE_COLS)
    np.testing.assert_allclose(view, contiguous, atol=1e-6)
    new = np.empty((h, w, 3), np.float32)
    assert warp_rows(img, 0, M, 0, 0, new)
    np.testing.assert_allclose(view, new, atol=1e-6)
    np.testing.assert_array_equal(lines[:, :2], 7.0)


def test_the_spline_weights_and_prefilter_are_the_interpolating_cubic_spline() -> None:
    """``spline=True`` (the cubic B-spline's weights) followed by ``spline_prefilter`` is the interpolating
    cubic spline (scipy's order-3 spline at the same positions) for a translation, away from the
    edges (its finite prefilter: within 1e-3 of the values' spread); at integer shifts it returns the
    image itself."""
    from scipy.ndimage import shift as nd_shift

    from id2reflectance.processing.solve.align_resample import spline_prefilter

    img = _image(90, 130, 0.8)
    inner = (slice(12, -12), slice(12, -12))
    for tx, ty in ((0.37, -1.61), (0.5, 0.5), (2.0, -1.0)):
        M = Similarity(tx, ty, 0.0, 1.0).matrix(130, 90)
        out = np.empty_like(img)
        assert warp_rows(img, 0, M, 0, 0, out, spline=True)
        spline_prefilter(out, (0, 0, 130, 90))
        # reference pixel x reads frame pixel x + t: scipy's shift by -t
        exact = np.stack(
            [nd_shift(img[..., c].astype(np.float64), (-M[1, 2], -M[0, 2]), order=3, mode="mirror") for c in range(3)],
            -1,
        )
        assert np.max(np.abs(out - exact)[inner]) < 1e-3 * np.ptp(img)
        if float(tx).is_integer():
            np.testing.assert_allclose(
                out[inner], np.roll(img, (-int(ty), -int(tx)), (0, 1))[inner], atol=1e-3 * np.ptp(img)
            )


def test_the_in_place_spline_passes_are_the_rows_passes() -> None:
    """``warp_box_in_place(spline=True)`` writes what ``warp_rows(spline=True)`` gives, to float32
    rounding (multiply-adds contracted: see the test above)."""
    h, w = 120, TILE_COLS + 90
    img = _image(h, w, 0.7, seed=3)
    M = Similarity(0.8, -1.2, 0.3, 1.0).matrix(w, h)
    box = (10, 8, w - 12, h - 9)
    rows = np.empty((box[3] - box[1], box[2] - box[0], 3), np.float32)
    assert warp_rows(img, 0, M, box[0], box[1], rows, spline=True)
    frame = img.copy()
    assert warp_box_in_place(frame, M, box, spline=True)
    np.testing.assert_allclose(frame[box[1] : box[3], box[0] : box[2]], rows, rtol=0, atol=1e-6)


def test_the_compiled_prefilter_is_the_separable_filter_on_its_box_only() -> None:
    """``prefilter_box``: the separable kernel over the box, reflected at the box's edges (OpenCV's
    ``sepFilter2D`` with ``BORDER_REFLECT_101`` on the box as reference), on a view with a row stride
    of its own; every pixel outside the box untouched; a layout it does not take is refused."""
    from id2reflectance.processing.solve.align_cubic import prefilter_box
    from id2reflectance.processing.solve.align_resample import _SPLINE_KERNEL

    img = np.random.default_rng(5).random((70, 90, 3)).astype(np.float32)
    frame = np.zeros((80, 100, 3), np.float32)
    frame[5:75, 4:94] = img
    view = frame[5:75, 4:94]  # rows strided
    before = frame.copy()
    box = (7, 3, 83, 61)
    assert prefilter_box(view, box, _SPLINE_KERNEL)
    ref = cv2.sepFilter2D(
        np.ascontiguousarray(img[3:61, 7:83]),
        cv2.CV_32F,
        _SPLINE_KERNEL,
        _SPLINE_KERNEL,
        borderType=cv2.BORDER_REFLECT_101,
    )
    np.testing.assert_allclose(view[3:61, 7:83], ref, atol=3e-6)
    inside = np.zeros(frame.shape[:2], bool)
    inside[5 + 3 : 5 + 61, 4 + 7 : 4 + 83] = True
    np.testing.assert_array_equal(frame[~inside], before[~inside])
    planar = np.ascontiguousarray(img.transpose(2, 0, 1)).transpose(1, 2, 0)  # channel planes
    assert not prefilter_box(planar, box, _SPLINE_KERNEL)


def _runs_one_by_one(cell: np.ndarray, step: int) -> list[int]:
    """The runs' ends of equal ``cell[i] - step i``, pixel by pixel (the definition)."""
    key = cell - step * np.arange(cell.size)
    return [i + 1 for i in range(cell.size) if i + 1 == cell.size or key[i + 1] != key[i]]


@pytest.mark.parametrize("step", [0, 1])
def test_the_runs_are_those_of_a_pixel_by_pixel_scan(step: int) -> None:
    from id2reflectance.processing.solve.align_cubic import _run_ends

    rng = np.random.default_rng(3)
    n = TILE_COLS
    ends = np.empty(n, np.int64)
    cases = []
    for slope in (1.0, 1.0004, 0.9996, 1.02, 0.97, 0.005, -0.004, 0.0, 1.7):  # similarities: monotone keys
        cases.append(np.floor(slope * np.arange(n) + rng.uniform(-50, 50)).astype(np.int64))
    for _ in range(20):  # a flow's curves: keys up and down, runs of every length (the scan's path)
        steps = rng.choice([0, 0, 0, 1, -1, 2], size=n) if step == 0 else rng.choice([1, 1, 1, 0, 2, 3], size=n)
        cases.append(np.cumsum(steps).astype(np.int64))
    cases.append(np.full(n, 7, np.int64) + step * np.arange(n))  # one run
    cases.append(np.arange(n, dtype=np.int64) * 3)  # every pixel its own run
    for cell in cases:
        for m_px in (n, 1, 9, 200):
            m = _run_ends(cell, m_px, step, ends)
            assert list(ends[:m]) == _runs_one_by_one(cell[:m_px], step)


def test_the_strip_is_the_widest_whose_ring_fits() -> None:
    """Strips as wide as the ring of intermediate rows allows: the widest for a small rotation of a 2048 px
    frame, narrower as the rotation's vertical reach grows, never under TILE_COLS; the ring of the chosen
    width within RING_BYTES (but for the narrowest); the values do not depend on it (test above)."""
    for n in (2048, 4096):
        box = (0, 0, n, n)
        widths = [strip_cols(Similarity(0.8, -1.4, deg, 1.0).matrix(n, n), box) for deg in (0.0, 0.3, 1.5, 5.0)]
        assert widths == sorted(widths, reverse=True) and widths[-1] == TILE_COLS
        assert widths[0] == STRIP_COLS[0]
        for deg, cols in zip((0.0, 0.3, 1.5, 5.0), widths, strict=True):
            m = Similarity(0.8, -1.4, deg, 1.0).matrix(n, n)
            dy = max(abs(m[1, 0] * x + m[1, 1] * y + m[1, 2] - y) for x in (0, n - 1) for y in (0, n - 1))
            ring = (int(np.ceil(abs(m[1, 0]) * cols + dy)) + 8) * 12 * cols
            assert ring <= RING_BYTES or cols == TILE_COLS
            wider = [c for c in STRIP_COLS if c > cols]
            if wider:  # the next wider one would not fit
                c = min(wider)
                assert (int(np.ceil(abs(m[1, 0]) * c + dy)) + 8) * 12 * c > RING_BYTES
