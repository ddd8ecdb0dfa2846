"""Driving the fused kernel (:mod:`~id2reflectance.processing.solve.kernel`) for one camera.

:func:`band_solver` turns a camera's frames, calibration, mask and output maps into the
flat arrays :func:`~id2reflectance.processing.solve.kernel.solve_rows` takes (views, no
copies for C-contiguous float32 frames nor for views of uncompressed EXR files) and returns a per-band function with the contract
of the numpy reference :func:`~id2reflectance.processing.solve.reference.solve_band`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numba import config as numba_config
from numba import get_num_threads, set_num_threads, set_parallel_chunksize

from id2reflectance.capture.camera import Camera
from id2reflectance.capture.frames import CameraFrames
from id2reflectance.errors import CaptureError, ShapeError
from id2reflectance.processing.solve.camera_maps import KERNEL_MAPS, VECTOR_MAPS, CameraMaps, PixelCounts
from id2reflectance.processing.solve.config import DIFFUSE_CHANNELS, SolverConfig
from id2reflectance.processing.solve.kernel import FRAME_ORDER, scratch_buffers, solve_rows
from id2reflectance.processing.solve.reference import normalized_coordinates
from id2reflectance.processing.solve.roughness_table import InverseTable
from id2reflectance.processing.solve.separation import LUMINANCE_709

_ROWS_PER_TASK = 4  # rows a thread takes at a time (dynamic scheduling)


def max_threads() -> int:
    """Threads numba may use in this process (``NUMBA_NUM_THREADS``)."""
    return int(numba_config.NUMBA_NUM_THREADS)


def run_with_threads(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` with numba's thread count set to ``threads`` (capped), then restore it.

    Rows are handed to the threads a few at a time (``numba.set_parallel_chunksize``), not
    in one static split, so a core slowed by other work does not hold the band up.
    """
    previous = get_num_threads()
    set_num_threads(max(1, min(threads, max_threads())))
    previous_chunk = set_parallel_chunksize(_ROWS_PER_TASK)
    try:
        return fn(*args)
    finally:
        set_parallel_chunksize(previous_chunk)
        set_num_threads(previous)


FrameLayout = tuple[tuple[int, ...], int, np.ndarray]
"""``(pixel_step, frame_row, channel_at)``: where :func:`solve_rows` finds a frame's values."""


def _planar_rows(a: np.ndarray, *, writeable: bool = False) -> tuple[np.ndarray, int, np.ndarray] | None:
    """A float32 (H, W, 3) view of rows of channel planes (strides ``(row, 4, -4 W)``, as
    ``exr_plain.file_view``) as a flat array from its first row's last (``B``) plane, the
    values per row and the offsets of ``R, G, B``; None for any other array (or, with
    ``writeable``, a read-only one)."""
    h, w, _ = a.shape
    row, pix, chan = a.strides
    if a.dtype != np.float32 or pix != 4 or chan != -4 * w or row % 4 or row < 12 * w:
        return None
    if writeable and not a.flags.writeable:
        return None
    n = (h - 1) * (row // 4) + 3 * w
    flat = np.lib.stride_tricks.as_strided(a[:, :, 2], (n,), (4,), writeable=writeable)
    return flat, row // 4, np.array([2 * w, w, 0], np.int64)


def kernel_frames(
    images: Mapping[tuple[str, str], np.ndarray], *, inverses: bool
) -> tuple[tuple[np.ndarray, ...], FrameLayout]:
    """The frames as :func:`solve_rows` takes them: 14 flat read-only float32 arrays and
    their :data:`FrameLayout`.

    No copy for C-contiguous float32 (H, W, 3) frames, nor for views of uncompressed EXR
    files (rows of ``B, G, R`` planes, ``exr_plain.file_view``) when every frame is one
    with the same row length (the kernel then reads each row's planes: consecutive values).
    Any other mix is copied to C-contiguous frames (those not already so). Without
    ``inverses`` the ``full`` frames stand in for the inverse ones (the first moment is
    ``2 gradient - full``).

    Raises
    ------
    CaptureError
        ``full`` or a gradient frame is missing.
    """
    missing = [k for k in FRAME_ORDER[:8] if k not in images]
    if missing:
        raise CaptureError(f"missing frame(s) {missing}")
    keys = [("full" if not inverses and p.startswith("inverse") else p, pol) for p, pol in FRAME_ORDER]
    planar = [p for p in (_planar_rows(images[k]) for k in keys) if p is not None]
    if len(planar) == len(keys) and len({p[1] for p in planar}) == 1:
        return tuple(p[0] for p in planar), ((0,), planar[0][1], planar[0][2])
    out = []
    for k in keys:
        view = np.ascontiguousarray(images[k], dtype=np.float32).reshape(-1)
        view.flags.writeable = False  # one array type whatever the caller's flags
        out.append(view)
    w = images[keys[0]].shape[1]
    return tuple(out), ((0, 0, 0), 3 * w, np.arange(3, dtype=np.int64))


def _flat(a: np.ndarray, name: str) -> np.ndarray:
    """A writable flat view of a C-contiguous output map (no copy: the kernel writes through it)."""
    if not (a.flags.c_contiguous and a.flags.writeable):
        raise ShapeError(f"output map {name} must be a writable C-contiguous array")
    return a.reshape(-1).view(np.uint8) if a.dtype == bool else a.reshape(-1)


def _flat_rows(a: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """A writable flat view of a float32 (H, W) map whose rows are contiguous (a view of a
    mapped file, or C-contiguous) from its first value, and the values per row."""
    if a.dtype != np.float32 or not a.flags.writeable or a.strides[1] != 4 or a.strides[0] % 4 or a.strides[0] <= 0:
        raise ShapeError(f"output map {name} must be a writable float32 array of contiguous rows")
    h, w = a.shape
    return np.lib.stride_tricks.as_strided(a, ((h - 1) * (a.strides[0] // 4) + w,), (4,)), a.strides[0] // 4


def kernel_maps(maps: CameraMaps) -> tuple[tuple[np.ndarray, ...], tuple[tuple[int, ...], int, np.ndarray, int]]:
    """The maps as :func:`solve_rows` writes them (flat views, no copies) and their layout
    ``(map_step, map_row, map_at, plane_row)``: C-contiguous maps, or three-component maps
    that are all rows of channel planes of one row length (maps mapped from their files,
    ``exr_plain.mapped_lines``) with one-channel maps of contiguous rows.

    Raises
    ------
    ShapeError
        A map of another layout or a mix (the mask must be C-contiguous).
    """
    vectors = [getattr(maps, n) for n in VECTOR_MAPS]
    planar = [p for p in (_planar_rows(a, writeable=True) for a in vectors) if p is not None]
    if len(planar) == len(vectors) and len({p[1] for p in planar}) == 1:
        flat = dict(zip(VECTOR_MAPS, (p[0] for p in planar), strict=True))
        spec, plane_row = _flat_rows(maps.specular_albedo, "specular_albedo")
        rough, rough_row = _flat_rows(maps.roughness, "roughness")
        if rough_row != plane_row:
            raise ShapeError("specular_albedo and roughness must have rows of one length")
        flat |= {"specular_albedo": spec, "roughness": rough, "mask": _flat(maps.mask, "mask")}
        layout = ((0,), planar[0][1], planar[0][2], plane_row)
    else:
        flat = {name: _flat(getattr(maps, name), name) for name in KERNEL_MAPS}
        w = maps.mask.shape[1]
        layout = ((0, 0, 0), 3 * w, np.arange(3, dtype=np.int64), w)
    return tuple(flat[name] for name in KERNEL_MAPS), layout


def band_solver(
    frames: CameraFrames,
    camera: Camera,
    lights_to_world: np.ndarray,
    foreground: np.ndarray | None,
    maps: CameraMaps,
    config: SolverConfig,
    table: InverseTable,
    *,
    inverses: bool,
) -> Callable[[slice], PixelCounts]:
    """Prepare one camera for :func:`solve_rows`; returns ``solve(rows) -> PixelCounts``.

    The returned function has the contract of the numpy reference
    :func:`~id2reflectance.processing.solve.reference.solve_band`: it writes every map of
    ``maps`` at ``rows`` and returns that band's counts. numba's thread count
    (``numba.set_num_threads`` in the calling thread) sets how many threads share a band.

    Parameters
    ----------
    frames : the camera's corrected frames, (H, W, 3) float32 each.
    lights_to_world : (3, 3) float rotation from light-stage to world axes.
    foreground : (H, W) bool mask or None (every pixel).
    inverses : whether the inverse frames are used (``use_inverses`` and all present).
    """
    f32 = np.float32
    images, layout = kernel_frames(frames.images, inverses=inverses)
    # bool arrays as uint8 views (numba's alias analysis treats bool elements as mutable)
    saturated = np.ascontiguousarray(frames.saturated, dtype=bool).reshape(-1).view(np.uint8)
    fg = saturated if foreground is None else np.ascontiguousarray(foreground, dtype=bool).reshape(-1).view(np.uint8)
    l2w = np.asarray(lights_to_world, np.float64)
    if np.allclose(l2w, np.eye(3), atol=1e-12, rtol=0.0):  # as lobe_moments: no rotation
        l2w = np.eye(3)
    R = np.asarray(camera.R, np.float64)
    rot = np.stack([-R[0], -R[1], R[2]]).astype(f32)
    weights = np.zeros(3, f32)
    weights[list(DIFFUSE_CHANNELS[config.diffuse_normal_channel])] = 1.0
    params = np.array(
        [config.min_diffuse, config.min_specular, max(config.min_specular, 1e-12), config.default_roughness], f32
    )
    cells = np.ascontiguousarray(table.cells, f32).reshape(-1)
    shape = np.asarray(table.shape, np.int64)
    no_y_field = np.zeros(camera.width, f32)
    scratch = scratch_buffers(max_threads())

    outputs, map_layout = kernel_maps(maps)

    def solve(rows: slice) -> PixelCounts:
        r0, r1, _ = rows.indices(camera.height)
        xn, yn = normalized_coordinates(camera, rows)
        if yn.shape[1] == 1:  # y per row (no distortion)
            y_rows, y_field = np.ascontiguousarray(yn[:, 0], f32), no_y_field
        else:
            y_rows, y_field = np.zeros(r1 - r0, f32), np.ascontiguousarray(yn, f32).reshape(-1)
        n_fg, n_sat, n_valid, n_ok, n_neg = solve_rows(
            *images,
            *layout,
            inverses,
            inverses and config.average_m0,
            l2w.astype(f32),
            LUMINANCE_709,
            weights,
            r0,
            r1,
            camera.width,
            np.ascontiguousarray(xn, f32).reshape(-1),
            y_rows,
            y_field,
            rot,
            saturated,
            fg,
            foreground is not None,
            params,
            cells,
            shape,
            *map_layout,
            *outputs,
            *scratch,
        )
        n = (r1 - r0) * camera.width
        return PixelCounts(
            pixels=n,
            foreground=n_fg,
            saturated=n_sat,
            low_signal=n_fg - n_sat - n_valid,
            valid=n_valid,
            specular_fallback=n_valid - n_ok,
            negative_specular=n_neg,
        )

    return solve
