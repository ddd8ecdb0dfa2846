"""Per-pixel reflectance solve of one camera's frames, band of rows by band of rows.

For every pixel (``shared/session-format.md``, "Solver outputs"):

* diffuse albedo = ``D`` under ``full`` (model-free), linear Rec.709;
* diffuse normals = ``normalize(m1_D)`` per colour channel (an unoccluded Lambertian
  surface has ``m1 = 2/3 albedo n``); the normal used is chosen by
  :attr:`SolverConfig.diffuse_normal_channel` (default ``"gb"``: the first moment of
  green plus blue; subsurface scattering blurs red most);
* specular albedo = ``S`` under ``full`` (model-free, luminance);
* specular normal and roughness from ``m = m1_S / m0_S`` through the inverse GGX moment
  table (:mod:`~id2reflectance.processing.solve.roughness_table`): ``n = a v + b m`` and ``r``
  at ``(|m/|m| - v|, (1 - |m|)^(1/4))``, with ``v`` the unit vector from the pixel's
  surface point to the camera (minus the undistorted pixel ray; no depth needed).

A pixel is valid (``mask``) when it is inside ``masks/<camera>.png`` (if present), not
saturated in any frame, finite, and its diffuse luminance exceeds ``min_diffuse``. The
specular normal and roughness also need ``S_full`` (and the averaged ``m0``) above
``min_specular``; elsewhere inside the mask they fall back to the diffuse normal and
``default_roughness`` (counted). Every output is 0 outside the mask and finite everywhere.

Two backends compute the same maps (:attr:`SolverConfig.backend`): ``"numpy"``, the
reference (array operations per band, about 250 passes over the band's pixels), and
``"numba"``, one fused compiled kernel per band (:mod:`~id2reflectance.processing.solve.kernel`)
that reads every input pixel once. They agree to float32 rounding (see that module).

Memory: the outputs (20 float32 and 1 bool per pixel) plus per-band temporaries (numpy
backend); the bands are independent, so ``workers`` threads solve them in parallel (numpy
releases the GIL; the numba kernel splits each band's rows over ``workers`` threads).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from id2reflectance._shared import exr_plain
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json
from id2reflectance._shared.collector import collector_paused
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.frames import CameraFrames, load_camera_frames, load_mask
from id2reflectance.capture.session import Rig, Session, load_session
from id2reflectance.errors import ConfigError, InputFileError, ShapeError
from id2reflectance.processing.solve.camera_maps import VECTOR_MAPS, CameraMaps, PixelCounts, new_planes, small_pages
from id2reflectance.processing.solve.config import SolverConfig, numba_available
from id2reflectance.processing.solve.outputs import (
    SOLVE_JSON,
    CameraReport,
    RowGate,
    SolveReport,
    Stats,
    camera_warnings,
    map_statistics,
    write_camera_maps,
)
from id2reflectance.processing.solve.reference import normalized_coordinates, solve_band, view_directions
from id2reflectance.processing.solve.roughness_table import InverseTable, inverse_table
from id2reflectance.processing.solve.scan_normals import (
    ScanFusion,
    SessionScan,
    fuse_camera_normals,
    load_session_scan,
)
from id2reflectance.processing.solve.separation import has_inverses

if TYPE_CHECKING:
    from id2reflectance.processing.solve.denoise import PreparedCamera

__all__ = [
    "CameraMaps",
    "PixelCounts",
    "SolverConfig",
    "auto_tile_rows",
    "normalized_coordinates",
    "numba_available",
    "solve_camera_frames",
    "solve_session",
    "spent_frames",
    "view_directions",
]

log = logging.getLogger(__name__)


def auto_tile_rows(width: int, *, pixels: int = 1 << 16) -> int:
    """Rows per band giving about ``pixels`` pixels (Python overhead vs cache footprint)."""
    return max(1, -(-pixels // max(1, width)))


def solve_camera_frames(
    frames: CameraFrames,
    camera: Camera,
    rig: Rig,
    mask: np.ndarray | None,
    config: SolverConfig = SolverConfig(),
    *,
    table: InverseTable | None = None,
    progress: ProgressFn | None = None,
    out: CameraMaps | None = None,
    rows_done: Callable[[int], None] | None = None,
) -> CameraMaps:
    """Solve every pixel of one camera.

    Parameters
    ----------
    frames : the camera's corrected frames (``load_camera_frames``), (H, W, 3) float32.
    camera : its calibration (for the per-pixel view directions).
    rig : the light stage (``lights_to_world`` rotates the measured moments to world).
    mask : (H, W) bool foreground (``masks/<camera>.png``) or None for every pixel.
    config : solver options.
    table : inverse GGX moment table (default :func:`inverse_table`; tests inject others).
    progress : ``progress(stage, done, total)`` called after each band.
    out : maps of the same size to overwrite (reuses their memory: fresh pages cost
        time on first write); None allocates new ones. Its three-component maps may be
        the memory of frames other than ``full`` (:func:`spent_frames`): both backends
        read a pixel's frame values before writing its maps, and a pixel's map values
        occupy exactly that pixel's frame values (the frames are then overwritten).
    rows_done : called with ``r`` once rows ``0 .. r - 1`` of every map are final (after
        each band, in order: a writer can follow the solve).

    Returns
    -------
    CameraMaps with the maps, the mask and the pixel counts (``out`` when given).
    """
    h, w = camera.height, camera.width
    for key, img in frames.images.items():
        if img.shape != (h, w, 3):
            raise ShapeError(f"frame {key} of camera '{camera.name}' is {img.shape}, expected ({h}, {w}, 3)")
    if frames.saturated.shape != (h, w):
        raise ShapeError(f"saturation mask of camera '{camera.name}' is {frames.saturated.shape}, expected ({h}, {w})")
    if mask is not None and mask.shape != (h, w):
        raise ShapeError(f"mask of camera '{camera.name}' is {mask.shape}, expected ({h}, {w})")
    table = inverse_table() if table is None else table
    if out is not None and out.mask.shape == (h, w):
        maps = out  # every band writes every map: no zero fill needed
        maps.camera, maps.counts = camera.name, PixelCounts()
    else:
        maps = CameraMaps.empty(camera.name, h, w)
    maps.inverses = config.use_inverses and has_inverses(frames.images)
    backend = config.resolved_backend()
    step = config.tile_rows or auto_tile_rows(w, pixels=1 << 18 if backend == "numba" else 1 << 16)
    bands = [slice(r, min(r + step, h)) for r in range(0, h, step)]
    l2w = np.asarray(rig.lights_to_world, np.float64)
    stage = f"solve {camera.name}"
    t0 = time.perf_counter()
    if backend == "numba":
        from id2reflectance.processing.solve import fused  # imports numba (slow): only when used

        solve = fused.band_solver(frames, camera, l2w, mask, maps, config, table, inverses=maps.inverses)

        def run_all() -> None:
            for i, rows in enumerate(bands):
                maps.counts += solve(rows)
                if rows_done is not None:
                    rows_done(rows.stop)
                if progress is not None:
                    progress(stage, i + 1, len(bands))

        fused.run_with_threads(config.resolved_workers(), run_all)
    else:

        def run(rows: slice) -> PixelCounts:
            return solve_band(frames, camera, l2w, mask, rows, maps, config, table)

        workers = min(config.resolved_workers(), len(bands))
        if workers <= 1:
            for i, rows in enumerate(bands):
                maps.counts += run(rows)
                if rows_done is not None:
                    rows_done(rows.stop)
                if progress is not None:
                    progress(stage, i + 1, len(bands))
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, counts in enumerate(pool.map(run, bands)):  # in band order
                    maps.counts += counts
                    if rows_done is not None:
                        rows_done(bands[i].stop)
                    if progress is not None:
                        progress(stage, i + 1, len(bands))
    log.info(
        "%s: %d valid pixel(s), %d specular fallback(s) in %.2f s (%s)",
        camera.name,
        maps.counts.valid,
        maps.counts.specular_fallback,
        time.perf_counter() - t0,
        backend,
    )
    return maps


def _check_out_dir(session: Session, out_dir: Path) -> None:
    """Refuse output folders that would replace the session or an unrelated folder."""
    out = out_dir.resolve()
    root = session.root.resolve()
    if out == root or out in root.parents:
        raise ConfigError(f"output folder {out_dir} must not be the session folder or contain it")
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"output folder {out_dir} exists and is not a folder")
        if any(out.iterdir()) and not (out / SOLVE_JSON).is_file():
            raise ConfigError(
                f"output folder {out_dir} exists and is not a solve output (no {SOLVE_JSON}); "
                "choose another folder or remove it"
            )


def _check_frame_files(session: Session) -> None:
    """Fail before any work when a frame file is missing."""
    for i, f in enumerate(session.frames):
        if not session.path(f.file).is_file():
            raise InputFileError(f.file, f"frames[{i}].file", "file not found")


def _import_stages() -> None:
    """Import the alignment and the preparation (about 0.3 s of Python: they import numba).

    Run by a side thread while the first camera's frames decode (the decoders release the
    GIL), not before the decode starts; the collector paused meanwhile, and what the first
    import built frozen (:mod:`~id2reflectance._shared.collector`)."""
    with collector_paused(freeze_after="id2reflectance.processing.solve.align" not in sys.modules):
        from id2reflectance.processing.solve import align, denoise  # noqa: F401 (imported for the side effect)


def _timed_table() -> tuple[InverseTable, float]:
    """:func:`inverse_table` and its seconds (built by the side thread during the first decode)."""
    t = time.perf_counter()
    return inverse_table(), time.perf_counter() - t


def _load_kernel(planar_maps: bool) -> float:
    """Import the fused kernel and load (or compile) its machine code (for maps mapped from
    their files with ``planar_maps``); returns seconds."""
    with collector_paused(freeze_after="id2reflectance.processing.solve.kernel" not in sys.modules):
        from id2reflectance.processing.solve import kernel  # imports numba (slow): only when used

        return kernel.warm_up(planar_maps=planar_maps)


def _maps_in_files(config: SolverConfig) -> bool:
    """Whether the solve may write its maps straight into their mapped files (uncompressed, through
    the page cache, where the own EXR writer runs, with the numba backend, which writes rows of
    planes: ``CameraMaps.in_files``); it does for a camera whose frames cannot hold the maps
    (``spent_frames``: views of their files), whose maps would otherwise take fresh memory."""
    plain = config.compression == "none" and not config.direct_io and exr_plain.AVAILABLE
    return plain and config.resolved_backend() == "numba"


def _file_maps(folder: Path, camera: Camera, config: SolverConfig, spare: np.ndarray | None) -> CameraMaps:
    """:meth:`CameraMaps.in_files` for ``camera`` (run beside the alignment, off the solve's path)."""
    names = [n for n in config.maps if n != "mask"]
    return CameraMaps.in_files(camera.name, folder, camera.height, camera.width, names, mask=spare)


def _timed_load(session: Session, name: str, workers: int) -> tuple[CameraFrames, np.ndarray | None, float]:
    """One camera's decoded frames, its mask file and the seconds they took (run ahead, beside
    the previous camera's writing)."""
    t = time.perf_counter()
    frames = load_camera_frames(session, name, workers=workers)
    return frames, load_mask(session, name), time.perf_counter() - t


def _timed_statistics(maps: CameraMaps, max_samples: int) -> tuple[dict[str, Stats], float]:
    """:func:`map_statistics` and its seconds (run beside the writing of the maps)."""
    t = time.perf_counter()
    return map_statistics(maps, max_samples=max_samples), time.perf_counter() - t


def _smooth_roughness(maps: CameraMaps, frames: CameraFrames, config: SolverConfig, radius: int) -> None:
    """:func:`~id2reflectance.processing.solve.roughness_filter.smooth_roughness` of ``maps.roughness``
    (in place) over the valid pixels whose specular solve did not fall back (those hold the diffuse
    normal as their specular normal and ``default_roughness``), guided by the prepared full-on cross
    luminance."""
    from id2reflectance.processing.solve.roughness_filter import smooth_roughness

    solved = maps.mask & (maps.roughness != np.float32(config.default_roughness))
    rows, cols = np.nonzero(maps.mask & ~solved)  # few: the fallbacks among them are left out
    real = np.any(maps.normal_specular[rows, cols] != maps.normal_diffuse[rows, cols], axis=1)
    solved[rows[real], cols[real]] = True  # solved to exactly the default roughness
    smooth_roughness(maps.roughness, frames.images[("full", "cross")], solved, radius=radius)


def _timed_confidence(
    frames: CameraFrames, prep: PreparedCamera, maps: CameraMaps, config: SolverConfig
) -> tuple[list[str], float]:
    """Set ``maps.confidence`` (:func:`~id2reflectance.processing.solve.denoise.camera_confidence`
    of the prepared frames: their full-on ones suffice); its noise warnings and seconds (run
    beside the writing of the other maps)."""
    from id2reflectance.processing.solve.denoise import camera_confidence

    t = time.perf_counter()
    maps.confidence, warnings = camera_confidence(frames, prep, maps, config)
    return warnings, time.perf_counter() - t


def spent_frames(frames: CameraFrames, camera: Camera, *keep: np.ndarray | None) -> list[np.ndarray]:
    """The frames whose memory the maps can take once the solve has read them: every
    frame but the ``full`` ones (the confidence map reads those afterwards), when it is a
    writable C-contiguous float32 (H, W, 3) array of the camera's size that shares no
    memory with another frame or with an array of ``keep`` (the saturation and
    foreground masks). In the order of ``frames.images``."""
    images = list(frames.images.items())
    masks = [frames.saturated, *(k for k in keep if k is not None)]
    out = []
    for i, ((pattern, _), img) in enumerate(images):
        if pattern == "full" or img.dtype != np.float32 or img.shape != (camera.height, camera.width, 3):
            continue
        if not (img.flags.c_contiguous and img.flags.writeable):
            continue
        others = [a for j, (_, a) in enumerate(images) if j != i] + masks
        if any(np.may_share_memory(o, img) for o in others):
            continue
        out.append(img)
    return out


def _spare_planes(
    spare: tuple[np.ndarray, np.ndarray, np.ndarray] | None, camera: Camera
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(specular_albedo, roughness, mask)`` for ``camera``: ``spare`` when of the camera's
    size, else new ones (mapped up front: run beside the alignment, off the solve's path)."""
    if spare is not None and spare[2].shape == (camera.height, camera.width):
        return spare
    return new_planes(camera.height, camera.width)


def _session_scan(session: Session, scan: SessionScan | None) -> SessionScan:
    """The session's scan, loaded on first use (``scan`` once loaded)."""
    return scan if scan is not None else load_session_scan(session)


def _scan_fusion(config: SolverConfig) -> ScanFusion:
    """The fusion's settings from the solver's options."""
    return ScanFusion(
        sigma_px=config.scan_normals_sigma_px,
        weight=config.scan_normals_weight,
        gain=config.scan_normals_gain,
        gate_deg=config.scan_normals_gate_deg,
        gate_noise=config.scan_normals_gate_noise,
        register=config.scan_normals_register,
    )


def solve_session(
    session_dir: str | Path,
    out_dir: str | Path,
    *,
    config: SolverConfig = SolverConfig(),
    progress: ProgressFn | None = None,
) -> SolveReport:
    """Solve every camera of a session and write the maps and ``solve.json``.

    Each camera's frames are decoded and its maps written by ``config.resolved_workers()``
    threads, right after the solve, or, where the machine has more cores than the solve's
    workers, each map file's lines as soon as the solve has finished them (``timings_s.write``
    is what remains after the solve); a side thread loads the compiled kernel during the
    first decode and computes each camera's statistics while its maps are written, and a
    reader thread decodes the next camera's frames meanwhile (its ``timings_s.decode`` is the
    reader's time, which overlaps the previous camera's write). The maps do not depend on
    any of it.

    Parameters
    ----------
    session_dir : a session folder (``shared/session-format.md``).
    out_dir : output folder, written beside as a temporary folder and renamed into place
        (an existing solve output there is replaced only when the new one is complete).
    config : solver options.
    progress : ``progress(stage, done, total)``: per band (``"solve <camera>"``) and per
        camera (``"cameras"``).

    Returns
    -------
    SolveReport (also written as ``out_dir/solve.json``).

    Raises
    ------
    SessionInvalidError, InputFileError
        Invalid manifest, missing/unreadable/mis-sized/non-finite frames or masks; nothing
        is written.
    ConfigError
        ``out_dir`` is the session folder, contains it, or is an unrelated existing folder.
    """
    t_start = time.perf_counter()
    session = load_session(session_dir)
    out_dir = Path(out_dir)
    _check_out_dir(session, out_dir)
    _check_frame_files(session)
    report = SolveReport(out_dir=out_dir, session_dir=Path(session_dir), subject_id=session.subject_id, config=config)
    totals = {
        "table": 0.0,
        "decode": 0.0,
        "align": 0.0,
        "denoise": 0.0,
        "solve": 0.0,
        "confidence": 0.0,
        "stats": 0.0,
        "write": 0.0,
    }
    names = list(session.cameras)
    scan: SessionScan | None = None  # loaded when a camera first fuses its normals with it
    spare: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    workers = config.resolved_workers()
    files_ok = _maps_in_files(config)
    # One side thread: imports the stages, builds the inverse table and loads the compiled
    # kernel while the first frames decode, maps the one-channel maps' memory during the
    # alignment (the three-component maps take the memory of frames the solve no longer
    # needs: spent_frames), and computes each camera's confidence map and statistics while its other maps are
    # written. One reader thread decodes the next camera's frames meanwhile.
    with (
        small_pages(),
        atomic_folder(out_dir) as tmp,
        ThreadPoolExecutor(max_workers=1) as side,
        ThreadPoolExecutor(max_workers=1) as reader,
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
        stages_ready = side.submit(_import_stages)
        table_ready = side.submit(_timed_table)
        kernel_ready = side.submit(_load_kernel, files_ok) if config.resolved_backend() == "numba" else None
        ahead: list[Future[tuple[CameraFrames, np.ndarray | None, float]]] = []
        for i, name in enumerate(names):
            camera = session.cameras[name]
            # the first camera here, beside the kernel's load; later ones were read ahead
            frames, mask, decode_s = ahead.pop().result() if ahead else _timed_load(session, name, workers)
            ta = time.perf_counter()
            # maps in their mapped files where the frames cannot hold them (views of their files)
            in_files = files_ok and len(spent_frames(frames, camera, mask)) < len(VECTOR_MAPS)
            out_planes: Future[CameraMaps | tuple[np.ndarray, np.ndarray, np.ndarray]]
            if in_files:  # the maps' files created and mapped beside the alignment
                out_planes = side.submit(_file_maps, tmp / name, camera, config, None if spare is None else spare[2])
            else:
                out_planes = side.submit(_spare_planes, spare, camera)
            spare = None
            stages_ready.result()
            from id2reflectance.processing.solve.align import align_camera_frames, alignment_warnings
            from id2reflectance.processing.solve.denoise import prepare_camera
            from id2reflectance.processing.solve.noise import sensor_noise

            files = {(f.pattern, f.polarization): f.file for f in session.frames if f.camera == name}
            tn = time.perf_counter()
            noise = sensor_noise(session, name, frames.images)  # before any resampling: the sensor's noise
            tn = time.perf_counter() - tn  # counted as denoising time, not alignment
            frames, alignment = align_camera_frames(
                frames,
                mask,
                mode=config.align,
                files=files,
                flow_px=config.align_flow_px,
                workers=workers,
                in_place=True,
            )
            t1 = time.perf_counter()
            if config.separation == "white_specular":  # on aligned frames: a pixel's frames see one point
                from id2reflectance.processing.solve.white_specular import white_specular_frames

                white_specular_frames(frames.images, noise[0], frames.saturated)  # counted as denoising
            frames, prep = prepare_camera(session, name, frames, mask, config, in_place=True, noise=noise)
            t_prep = time.perf_counter()
            table, totals["table"] = table_ready.result()
            if kernel_ready is not None:
                kernel_ready.result()  # the rest of the kernel's load counts as solve time
            try:
                made = out_planes.result()
            except OSError as err:  # an output file system that cannot map files: maps in memory
                if not in_files:
                    raise
                log.info("%s: maps not mapped into their files (%s); written after the solve", name, err)
                made, in_files = new_planes(camera.height, camera.width), False
            if isinstance(made, CameraMaps):
                out_maps = made
            else:
                out_maps = CameraMaps.empty(
                    name,
                    camera.height,
                    camera.width,
                    reuse=spent_frames(frames, camera, prep.mask),
                    planes=made,
                )
            # the maps are written while they are solved (each file's lines once the solve has
            # finished them) where cores are left beside the solve's workers; else right after
            # it (on 2 cores the writers slowed the kernel: 0.31 -> 0.44 s, 3.77 -> 3.99 s end to
            # end); either way the confidence map afterwards, beside the statistics
            # (maps in their mapped files are written by the solve itself: only the mask then)
            # where the specular lobe was filtered the roughness map is filtered once more after the
            # solve (roughness_filter): then written afterwards, beside the confidence map
            rough_r = prep.report.radius_roughness
            later = ("confidence", "roughness") if rough_r > 0 else ("confidence",)
            # the scan's low frequencies in the normals of the denoised lobes (scan_normals), after the solve
            noisy_diffuse = prep.report.diffuse_noise_deg >= config.scan_normals_min_diffuse_noise_deg
            fuse_lobes = (prep.report.radius_diffuse > 0 and noisy_diffuse, prep.report.radius_specular > 0)
            fuse_lobes = fuse_lobes if config.scan_normals == "auto" and session.mesh is not None else (False, False)
            later += tuple(f"normal_{n}" for n, on in zip(("diffuse", "specular"), fuse_lobes) if on)
            first = tuple(n for n in config.maps if n not in later and (n == "mask" or not in_files))
            follow = (os.cpu_count() or 1) > workers
            gate = RowGate()
            writing = writer.submit(
                write_camera_maps,
                tmp / name,
                out_maps,
                names=first,
                compression=config.compression,
                workers=workers,
                rows_ready=gate.wait,
                direct=config.direct_io,
            )
            try:
                maps = solve_camera_frames(
                    frames,
                    camera,
                    session.rig,
                    prep.mask,
                    config,
                    table=table,
                    progress=progress,
                    out=out_maps,
                    rows_done=gate.advance if follow else None,
                )
            except BaseException:
                gate.fail()
                wait([writing])  # the writers stop at the first unfinished line; the solve's error is raised
                raise
            if not follow:
                gate.advance(camera.height)
            del out_maps
            if rough_r > 0:
                _smooth_roughness(maps, frames, config, rough_r)
            t2 = time.perf_counter()
            scan_record: dict = {"used": False}
            if any(fuse_lobes):
                scan = _session_scan(session, scan)
                scan_record = fuse_camera_normals(maps, camera, scan, fuse_lobes, _scan_fusion(config))
            t_scan = time.perf_counter() - t2
            if scan_record["used"]:
                scan_record["seconds"] = round(t_scan, 4)
            t2 += t_scan
            # beside the writing of the other maps: the confidence map (from the full-on
            # frames: the others now hold maps or are freed, those after it), the statistics, and the
            # next camera's decode
            full = CameraFrames(
                frames.camera, {k: v for k, v in frames.images.items() if k[0] == "full"}, frames.saturated, {}
            )
            confidence_job = side.submit(_timed_confidence, full, prep, maps, config)
            del full
            stats_job = side.submit(_timed_statistics, maps, config.stats_samples)
            del frames
            if i + 1 < len(names):
                ahead.append(reader.submit(_timed_load, session, names[i + 1], workers))
            writing.result()
            noise_warnings, confidence_s = confidence_job.result()
            late = tuple(n for n in later if n in config.maps and (n == "confidence" or not in_files))
            if late:
                write_camera_maps(
                    tmp / name,
                    maps,
                    names=late,
                    compression=config.compression,
                    workers=workers,
                    direct=config.direct_io,
                )
            t3 = time.perf_counter()
            stats, stats_s = stats_job.result()
            timings = {
                "decode": decode_s,
                "align": t1 - ta - tn,
                "denoise": t_prep - t1 + tn + t_scan,  # the scan's fusion counts as denoising
                "solve": t2 - t_prep,
                "confidence": confidence_s,
                "stats": stats_s,
                "write": t3 - t2,
            }
            for k, v in timings.items():
                totals[k] += v
            report.cameras[name] = CameraReport(
                camera=name,
                width=camera.width,
                height=camera.height,
                inverses=maps.inverses,
                mask_file=mask is not None,
                counts=maps.counts,
                stats=stats,
                timings=timings,
                warnings=camera_warnings(
                    name, maps.counts, mask_file=mask is not None, warn_fraction=config.warn_fraction
                )
                + alignment_warnings(name, alignment, warn_px=config.align_warn_px, flow_px=config.align_flow_px)
                + noise_warnings,
                alignment=None if config.align == "none" else alignment.to_json(),
                noise=prep.report.to_json(),
                scan_normals=scan_record,
            )
            spare = maps.planes  # reused by the next camera of the same size
            del maps
            for w in report.cameras[name].warnings:
                log.warning("%s", w)
            if progress is not None:
                progress("cameras", i + 1, len(names))
        report.timings = {**totals, "total": time.perf_counter() - t_start}
        atomic_write_json(tmp / SOLVE_JSON, report.to_json())
    return report
