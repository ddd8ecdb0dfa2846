"""Strided images handed a band of rows at a time to functions that take only contiguous rows."""

import numpy as np
import pytest

from id2reflectance._shared import pages
from id2reflectance._shared.pages import contiguous_bands, rows_contiguous


def _planar_view(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """An (H, W, 3) view of rows of B, G, R planes (as a view of an EXR file) and its values."""
    rows = np.arange(h * (2 + 3 * w), dtype=np.float32).reshape(h, 2 + 3 * w)
    view = np.lib.stride_tricks.as_strided(rows[:, 2 + 2 * w :], (h, w, 3), (rows.strides[0], 4, -4 * w))
    return view, np.stack([rows[:, 2 + 2 * w :], rows[:, 2 + w : 2 + 2 * w], rows[:, 2 : 2 + w]], axis=2)


def test_rows_contiguous() -> None:
    a = np.zeros((6, 5, 3), np.float32)
    assert rows_contiguous(a) and rows_contiguous(a[1:4, 1:3]) and rows_contiguous(np.zeros((6, 5))[1:3, 1:4])
    assert not rows_contiguous(a[..., 0])
    assert not rows_contiguous(a[::-1]) and not rows_contiguous(a[:, ::2]) and not rows_contiguous(a[..., ::-1])
    assert not rows_contiguous(_planar_view(4, 5)[0])


@pytest.mark.parametrize("multiple", [1, 4])
def test_bands_cover_every_row_once_with_the_values(monkeypatch, multiple: int) -> None:
    monkeypatch.setattr(pages, "_BAND_BYTES", 600)  # bands of a few rows
    view, want = _planar_view(23, 7)
    got, starts = np.full_like(want, np.nan), []
    for r0, band in contiguous_bands(view, multiple=multiple):
        assert band.flags.c_contiguous and (r0 % multiple == 0)
        got[r0 : r0 + len(band)] = band
        starts.append(r0)
    np.testing.assert_array_equal(got, want)
    assert len(starts) > 2 and starts == sorted(set(starts))
    a = np.ascontiguousarray(want)
    ((r0, band),) = contiguous_bands(a)  # contiguous rows: the array itself, one band
    assert r0 == 0 and band is a


def _in_thread(fn):  # noqa: ANN001, ANN202
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_kept_arrays_are_reused_within_a_thread_and_separate_between_threads() -> None:
    a = pages.kept_empty("test.kept", 1000, np.float32)
    b = pages.kept_empty("test.kept", 500, np.float32)  # smaller: the same memory
    assert a.shape == (1000,) and b.shape == (500,) and b.dtype == np.float32
    assert np.shares_memory(a, b)
    c = pages.kept_empty("test.kept", 2000, np.float32)  # larger: a fresh array kept in its place
    assert c.shape == (2000,) and not np.shares_memory(a, c)
    assert np.shares_memory(c, pages.kept_empty("test.kept", 10, np.float32))
    assert pages.kept_empty("test.kept", 10, np.float64).dtype == np.float64  # another dtype: its own
    assert not np.shares_memory(pages.kept_empty("test.other", 10, np.float32), c)
    # another thread (a Dask worker's second task) gets its own memory under the same name
    d = _in_thread(lambda: pages.kept_empty("test.kept", 10, np.float32))
    assert not np.shares_memory(d, pages.kept_empty("test.kept", 10, np.float32))
