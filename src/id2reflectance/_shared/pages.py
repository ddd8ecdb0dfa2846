"""Large arrays whose memory is mapped up front (one kernel call instead of a page fault per 4 KiB),
scratch arrays kept between calls (per thread), and strided images handed to C-contiguous-only
functions a band at a time (no image-sized copy)."""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterator

import numpy as np


def mapped_empty(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """``np.empty`` whose memory is mapped up front when large (Linux ``MAP_POPULATE``).

    One kernel call maps every page instead of a page fault per 4 KiB on first write;
    on virtual machines, where faults are expensive, this makes fresh arrays faster to
    fill (the kernel still zeroes every page). Elsewhere, or for arrays under 4 MiB,
    plain ``np.empty``. The array is writable and C-contiguous and keeps its mapping
    alive (unmapped when the array is freed).
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or nbytes < 1 << 22:
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return np.frombuffer(buf, dtype).reshape(shape)  # the array keeps the mapping alive


_KEPT = threading.local()  # each thread's kept arrays by name


def kept_empty(name: str, n: int, dtype: type, *, mapped: bool = True) -> np.ndarray:
    """An uninitialised C-contiguous (n,) array of ``dtype``: the memory of the last one asked for under
    ``name`` by this thread when large enough (valid until this thread asks for ``name`` again), else a
    fresh one (:func:`mapped_empty` when ``mapped``, else ``np.empty``) kept in its place.

    Per thread: two solves in one process (a Dask worker with several threads runs several subjects at
    once) each get their own, where one array per process had let the second overwrite the first's
    planes mid-solve.
    """
    arrays = getattr(_KEPT, "arrays", None)
    if arrays is None:
        arrays = _KEPT.arrays = {}
    dt = np.dtype(dtype)
    buf = arrays.get(name)
    if buf is None or buf.dtype != dt or buf.size < n:
        buf = arrays[name] = mapped_empty((n,), dt) if mapped else np.empty(n, dt)
    return buf[:n]


_BAND_BYTES = 1 << 20  # bytes of a band of rows copied at a time (in the core's cache)


def contiguous_bands(img: np.ndarray, *, multiple: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """``(r0, band)``: the rows of ``img`` (H, W[, C]) a band at a time as C-contiguous arrays,
    for functions that take only such arrays (OpenCV copies any other whole).

    An ``img`` whose rows are each contiguous (C-contiguous, or a window of such an array)
    gives one band, itself. Any other (e.g. a strided view of a file: ``exr_plain.file_view``)
    gives bands of about a megabyte, a multiple of
    ``multiple`` rows each (the last one possibly shorter), copied one after the other into
    one reused buffer (still in the core's cache when used; no image-sized fresh memory):
    a band is valid until the next one is asked for.
    """
    h = img.shape[0]
    if rows_contiguous(img) or h == 0:
        yield 0, img
        return
    row_bytes = max(1, img[:1].nbytes)
    rows = max(multiple, _BAND_BYTES // row_bytes // multiple * multiple)
    stage = np.empty((min(rows, h), *img.shape[1:]), img.dtype)
    planes = img.ndim == 3 and 1 < img.shape[2] <= 4 and img.strides[1] == img.itemsize  # rows of channel planes
    for r0 in range(0, h, rows):
        band = stage[: min(rows, h - r0)]
        part = img[r0 : r0 + len(band)]
        if planes:  # OpenCV interleaves planes about 2.5x faster than numpy copies across strides
            _merge([part[..., c] for c in range(img.shape[2])], band)
        else:
            band[...] = part
        yield r0, band


def _merge(planes: list[np.ndarray], out: np.ndarray) -> None:
    """``out[..., c] = planes[c]`` (``cv2.merge``, the GIL released)."""
    import cv2  # here, not above: imageio sets OpenCV's environment before OpenCV is first imported

    got = cv2.merge(planes, out)
    if got.__array_interface__["data"][0] != out.__array_interface__["data"][0]:
        out[...] = got  # OpenCV chose other memory (never seen): copied into place


def rows_contiguous(img: np.ndarray) -> bool:
    """Whether each row of ``img`` (H, W[, C]) is contiguous and the rows follow at a positive
    step (what OpenCV takes without a copy: a C-contiguous array or a window of one)."""
    if img.flags.c_contiguous or img.size == 0:
        return True
    inner = np.lib.stride_tricks.as_strided(img, img.shape[1:], img.strides[1:], writeable=False)
    return img.strides[0] > 0 and inner.flags.c_contiguous
