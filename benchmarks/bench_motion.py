"""Motion section of ``bench_solver.py --motion``: the solve on sessions whose head moves.

Rows (figure | value | reference | ratio):

* accuracy (medians over valid, unshadowed truth pixels, ``solve_accuracy``) of a 256 px
  one-camera simulated session with every frame but full-cross moved up to 1.5 px and
  0.4 deg, solved with ``--align none`` and ``--align rigid`` (reference: the issue's
  target); the same subject without motion, solved with the default ``--align auto``
  (targets 0.1 deg diffuse normal, 0.5 deg specular normal);
* alignment residual: median over frames of the median distance, at face pixels, between
  the applied motion (identity for a frame left untouched) and the simulator's true
  displacement (target 0.1 px);
* noise and motion together (``noise_motion_rows``): the same subject with the issue's
  sensor noise (read 0.002, shot 5e-5 x value), moved as above and still, no mask file,
  solved with the default options (``--align auto``): the issue's figures, mask spill and
  cover, the alignment residual and the number of ``[motion_refused]`` warnings, each beside
  the noise-only (still) figure of the same run; ``--part noinv``: the same without the inverse
  patterns (8 frames);
* cost (``cost_rows``): ``align_camera_frames`` (rigid) alone on the sessions' frames tiled to
  2048 x 2048 (14 moving frames) and 4096 x 4096 (8 frames, no inverses: moving, and still), and
  2048 x 2048 with the mask kept to a centred 1024 px square (a face smaller than the frame),
  in Mpix/s of camera pixels (height x width, the unit of the issue's 5 Mpix/s target for
  alignment plus denoising), in place as the solver runs it, against one plain ``cv2.remap``
  (bicubic) and one 5 x 5 ``cv2.GaussianBlur`` of the same frames in the same run; its parts
  (the estimation, the resampling: the same warps alone), in wall and in CPU seconds (every
  thread of the process: on a loaded machine the figure that compares); ``--repeats N`` the
  fastest of N alignments; with ``--baseline-src DIR`` the same rows of the package in ``DIR``
  (a fresh process, the same sessions, run first) and the speed-ups; and per case the issue's
  figure itself: the same frames with the issue's sensor noise added, aligned (``auto``, as the
  solver) and denoised (noise estimates, denoise, robust mask, confidence), in camera Mpix/s of
  the wall time and of twice the CPU time (two cores perfectly shared: on the loaded machine the
  load-independent figure; with ``--repeats N`` the run of least CPU of N); and the scan fusion
  that follows the solve (``fuse_camera_normals``: the session's scan rendered into the camera
  scaled to the case's size, both lobes fused; noisy stand-ins for the solved normals) alone and
  added to alignment plus denoising, in the same units.

With ``--scan-variant sim|noise|decimate|taubin|shift|all`` the noise parts degrade the session's scan
first (``scan_variants.py``: a realistic scan) and print the normals' figures of ``scan_normals="off"``
beside the default's (the scan fusion's gain, or loss).

Run alone: ``python benchmarks/bench_motion.py [--part motion|noise|noinv|cost] [--seed S] [--scan-variant V] [--baseline-src DIR]``
(one part under about three minutes on the shared 2-core machine; ``--part cost`` with a baseline
about six).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.frames import CameraFrames, load_camera_frames, load_mask
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.align import align_camera_frames
from id2reflectance.processing.solve.align_features import Similarity
from id2reflectance.processing.solve.align_resample import warp_face
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

Row = tuple[str, str, str, str]
TARGETS = {"diffuse_normal_deg": 1.0, "specular_normal_deg": 3.0, "specular_albedo_rel": 0.05, "roughness_abs": 0.05}
CLEAN_TARGETS = {"diffuse_normal_deg": 0.1, "specular_normal_deg": 0.5}


def _config(size: int, moving: bool, *, inverses: bool = True) -> SimulatorConfig:
    return SimulatorConfig(
        image_size=size,
        inverses=inverses,
        uv_size=256,
        cameras=1,
        motion_px=1.5 if moving else 0.0,
        motion_deg=0.4 if moving else 0.0,
        visibility_directions=256,
    )


def alignment_residual(session: Path, solved: Path) -> float:
    """Median over frames of the median |estimated - true| displacement at face pixels (px)."""
    import json

    doc = json.loads((solved / "solve.json").read_text())
    errors = []
    for cam, rep in doc["cameras"].items():
        for f in rep["alignment"]["frames"]:
            if f["method"] == "reference":
                continue
            flow, _ = read_exr(session / "truth" / cam / "motion" / f"{f['frame']}.exr")
            h, w = flow.shape[:2]
            moved = f["method"] in ("rigid", "flow")  # a frame left untouched keeps its whole motion
            M = Similarity(f["tx"], f["ty"], f["rotation_deg"], f["scale"]).matrix(w, h) if moved else np.eye(3)
            yy, xx = np.nonzero(flow[..., 2] > 0)
            est = np.stack([xx, yy, np.ones_like(xx)]).T.astype(np.float64) @ M[:2].T - np.stack([xx, yy], 1)
            errors.append(float(np.median(np.hypot(*(est - flow[yy, xx, :2]).T))))
    return float(np.median(errors))


def _rows(label: str, acc, targets: dict[str, float]) -> list[Row]:
    return [
        (f"{label}: {k}", f"{getattr(acc, k):.4g}", f"< {t:g}", f"{getattr(acc, k) / t:.3g}")
        for k, t in targets.items()
    ]


def motion_rows(
    tmp: Path,
    *,
    size: int = 256,
    parts: tuple[str, ...] = ("motion", "noise", "noinv", "cost"),
    seed: int = 0,
    scan_variant: str | None = None,
) -> list[Row]:
    rows: list[Row] = []
    if "motion" in parts:
        moving = simulate_subject(tmp / "moving", subject_index=0, config=_config(size, True))
    if "motion" in parts:
        still = simulate_subject(tmp / "still", subject_index=0, config=_config(size, False))
        for mode in ("none", "rigid"):
            out = tmp / f"moving_{mode}"
            solve_session(moving, out, config=SolverConfig(align=mode))
            acc = solve_accuracy(moving, out)["all"]
            rows += _rows(f"motion 1.5 px 0.4 deg {size}px, --align {mode}", acc, TARGETS)
            if mode == "rigid":
                r = alignment_residual(moving, out)
                rows.append(
                    (f"motion {size}px: alignment residual vs truth (px)", f"{r:.4g}", "< 0.1", f"{r / 0.1:.3g}")
                )
        solve_session(still, tmp / "still_auto", config=SolverConfig())
        acc = solve_accuracy(still, tmp / "still_auto")["all"]
        rows += _rows(f"no motion {size}px, --align auto", acc, CLEAN_TARGETS)
    if "noise" in parts:
        rows += noise_motion_rows(tmp, size=size, seed=seed, scan_variant=scan_variant)
    if "noinv" in parts:
        rows += noise_motion_rows(tmp, size=size, inverses=False, seed=seed, scan_variant=scan_variant)
    if "cost" in parts:
        moving_dir, still_dir = _sessions(tmp, size)
        rows += cost_rows(moving_dir, still_dir)
    return rows


def noise_motion_rows(
    tmp: Path, *, size: int = 256, inverses: bool = True, seed: int = 0, scan_variant: str | None = None
) -> list[Row]:
    """Issue 20's figures with the issue's noise and motion together, beside noise alone (same run);
    ``inverses=False``: sessions without the inverse patterns (8 frames: no complementary templates,
    every cross-polarised frame is matched to the full-on reference); ``seed``: the simulator's
    (another head, its noise and motion; ``--seed``); ``scan_variant``: the session's scan degraded
    first (``scan_variants.degrade_scan``, seeded by ``seed``: ``sim`` keeps the simulator's), and
    both sessions solved again with ``scan_normals="off"``: the normals' figures of the default beside
    those of ``off`` (the fusion's gain or loss; ``--scan-variant``)."""
    import shutil

    from noise_figures import ISSUE_NOISE, LIMITS, _mask_figures  # beside this script
    from scan_variants import degrade_session_scan  # beside this script

    solved, fusion_rows = {}, []
    variant = "" if inverses else " no inverses"
    for tag, moving in (("noise", False), ("noise+motion", True)):
        cfg = replace(_config(size, moving, inverses=inverses), seed=seed, **ISSUE_NOISE)
        session = simulate_subject(tmp / f"{tag}{variant}", subject_index=0, config=cfg)
        shutil.rmtree(session / "masks")  # the solver finds the head itself
        if scan_variant is not None:
            degrade_session_scan(session, scan_variant, seed=seed)
        out = tmp / f"{tag}{variant}_solved"
        report = solve_session(session, out, config=SolverConfig())
        acc = solve_accuracy(session, out, visibility_min=0.99)["all"]
        if scan_variant is not None:
            solve_session(session, out.with_name(out.name + "_off"), config=SolverConfig(scan_normals="off"))
            off = solve_accuracy(session, out.with_name(out.name + "_off"), visibility_min=0.99)["all"]
            for key in ("diffuse_normal_deg", "specular_normal_deg"):
                v, ref = getattr(acc, key), getattr(off, key)
                label = f"{tag} {size}px{variant}, scan {scan_variant}: {key}, default vs scan_normals off"
                fusion_rows.append((label, f"{v:.4g}", f"off {ref:.4g}", f"{v / ref:.3g}"))
        spill, cover = _mask_figures(session, out)
        figures = {k: getattr(acc, k) for k in LIMITS} | {"mask spill": spill, "mask cover": cover}
        if moving:
            figures["alignment residual vs truth (px)"] = alignment_residual(session, out)
        refused = [w for w in report.warnings if "[motion_refused]" in w]
        figures["frames refused ([motion_refused] warnings)"] = float(len(refused))
        solved[tag] = figures
    limits = LIMITS | {
        "mask spill": 0.01,
        "mask cover": 0.95,
        "alignment residual vs truth (px)": 0.1,
        "frames refused ([motion_refused] warnings)": 1,
    }
    rows: list[Row] = []
    for key, v in solved["noise+motion"].items():
        ref = solved["noise"].get(key)
        bound = f">= {limits[key]:g}" if key == "mask cover" else f"< {limits[key]:g}"
        rows.append(
            (
                f"noise+motion {size}px{variant}, --align auto: {key}",
                f"{v:.4g}",
                f"limit {bound}" + ("" if ref is None else f"; noise only {ref:.4g}"),
                "-" if ref is None or ref == 0 else f"{v / ref:.3g}",
            )
        )
    return rows + fusion_rows


COST_CASES = ((2048, 14, True, None), (4096, 8, True, None), (4096, 8, False, None), (2048, 14, True, 1024))
"""(size, frames, moving, face) of the cost rows: 8 frames are the session without its inverse patterns;
``face``: the mask kept to a centred square of that many pixels (a face smaller than the frame, as in a
capture; None: the tiled heads' mask over the whole frame)."""


def _tiled(session_dir: Path, size: int | None, nframes: int) -> tuple[str, dict, np.ndarray]:
    """The session's first camera's frames and mask tiled to ``size`` x ``size`` (None: as they are;
    ``nframes`` 8: without the inverse patterns)."""
    session = load_session(session_dir)
    cam = next(iter(session.cameras))
    small = load_camera_frames(session, cam)
    mask = load_mask(session, cam)
    size = size or mask.shape[0]
    n = -(-size // mask.shape[0])
    keys = [k for k in small.images if nframes >= 14 or not k[0].startswith("inverse")]
    images = {k: np.ascontiguousarray(np.tile(small.images[k], (n, n, 1))[:size, :size]) for k in keys}
    return cam, images, np.tile(mask, (n, n))[:size, :size]


def _clock() -> tuple[float, float]:
    """(wall, CPU of every thread of this process) seconds."""
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> tuple[float, float]:
    t1 = _clock()
    return t1[0] - t0[0], t1[1] - t0[1]


def cost_rows(
    moving_dir: Path,
    still_dir: Path | None = None,
    *,
    cases=COST_CASES,
    workers: int = 2,
    repeats: int = 1,
    tag: str = "",
) -> list[Row]:
    """Alignment alone, in Mpix/s of camera pixels, on the sessions' frames tiled to ``size`` x ``size``.

    Tiling (not enlarging) keeps the skin's pixel-scale texture that the fit works on; the
    tiles move alike, so the motion is close to one similarity. ``align_camera_frames``
    (rigid) runs in place as the solver runs it, after one alignment and denoising of the
    untiled frames and one scan fusion (numba's compiled code loaded, or compiled into a fresh checkout's
    cache: before, the first noisy case's denoising paid the compilation), the fastest of ``repeats``
    runs; references of the same frames in the same run: one bicubic ``cv2.remap`` and one
    5 x 5 ``cv2.GaussianBlur``; and the part of
    it that is the resampling (the same warps alone). Wall and CPU seconds (every thread of the
    process: the steadier figure on a shared machine). ``still_dir``: the still session, for the
    cases with ``moving`` False.
    """
    rows: list[Row] = []
    cam, small, small_mask = _tiled(moving_dir, None, 14)
    align_camera_frames(CameraFrames(cam, small, np.zeros(small_mask.shape, bool), {}), small_mask, mode="rigid")
    # the denoising's compiled kernels loaded (or compiled: a fresh checkout's cache) before any clock runs
    _align_denoise(cam, small, small_mask, _geometry(moving_dir, small_mask.shape[0]), workers=workers)
    # and the scan fusion's (at four times the size: rays every 2nd pixel, the interpolation's kernel too)
    _fusion_seconds(moving_dir, 4 * small_mask.shape[0], np.tile(small_mask, (4, 4)))
    for size, nframes, moving, face in cases:
        if not moving and still_dir is None:
            continue
        cam, images, big_mask = _tiled(moving_dir if moving else still_dir, size, nframes)
        if face:
            lo = (size - face) // 2
            centre = np.zeros_like(big_mask)
            centre[lo : lo + face, lo : lo + face] = True
            big_mask = big_mask & centre
        best = None
        for _ in range(repeats):
            frames = CameraFrames(cam, {k: v.copy() for k, v in images.items()}, np.zeros((size, size), bool), {})
            t0 = _clock()  # in place, as the solver runs it
            _, report = align_camera_frames(frames, big_mask, mode="rigid", workers=workers, in_place=True)
            took = _since(t0)
            del _, frames
            best = took if best is None or took[0] < best[0] else best
        (align_s, align_cpu) = best
        # the part of it that is the resampling: the same warps again, alone (in place, as above)
        ys, xs = np.flatnonzero(big_mask.any(axis=1)), np.flatnonzero(big_mask.any(axis=0))
        box = (float(xs[0]), float(ys[0]), float(xs[-1]), float(ys[-1]))  # the face's, as the alignment's
        moved = [f for f in report.frames if f.method == "rigid"]
        copies = {f.frame: images[tuple(f.frame.rsplit("_", 1))].copy() for f in moved}
        t0 = _clock()
        for f in moved:
            margin = 32.0 + f.displacement_px
            warp_face(copies[f.frame], f.motion.matrix(size, size), box, margin=margin, in_place=True)
        warp_s, warp_cpu = _since(t0)
        del copies
        xs, ys = np.meshgrid(np.arange(size, dtype=np.float32) + 0.3, np.arange(size, dtype=np.float32) - 0.2)
        t0 = _clock()
        for img in images.values():
            cv2.remap(img, xs, ys, cv2.INTER_CUBIC)
        remap_s, remap_cpu = _since(t0)
        t0 = _clock()
        for img in images.values():
            cv2.GaussianBlur(img, (5, 5), 0)
        blur_s, blur_cpu = _since(t0)
        camera = size * size / 1e6
        a, r, b = camera / align_s, camera / remap_s, camera / blur_s
        est_s, est_cpu = max(align_s - warp_s, 1e-9), max(align_cpu - warp_cpu, 1e-9)
        n = len(images)
        label = f"{tag}align rigid, {n} {'moving' if moving else 'still'} frames {size}x{size}, {workers} threads"
        label += f", face {face} px" if face else ""
        # the issue's figure: the least CPU of ``repeats`` runs (one run on a loaded machine varied by 30 %)
        geometry = _geometry(moving_dir, size)
        runs = [_align_denoise(cam, images, big_mask, geometry, workers=workers) for _ in range(repeats)]
        noisy = min(runs, key=lambda r: r["cpu"])
        fusion = min(
            (_fusion_seconds(moving_dir if moving else still_dir, size, big_mask) for _ in range(repeats)),
            key=lambda r: r["cpu"],
        )
        rows += [
            (
                f"{label} (Mpix/s of camera pixels; {align_s:.2f} s, {len(moved)} resampled)",
                f"{a:.3g}",
                "issue: align + denoise >= 5",
                f"{a / 5:.3g}",
            ),
            (f"  reference: one cv2.remap (bicubic) of the same {n} frames", f"{r:.3g}", "-", f"{a / r:.3g}"),
            (f"  reference: one 5x5 cv2.GaussianBlur of the same {n} frames", f"{b:.3g}", "-", f"{a / b:.3g}"),
            (
                f"  part: the estimation (all but the resampling: {est_s:.2f} s; camera Mpix/s)",
                f"{camera / est_s:.3g}",
                "-",
                "-",
            ),
            (
                f"  part: the in-place bicubic resampling alone ({warp_s:.2f} s; camera Mpix/s)",
                f"{camera / warp_s:.3g}" if moved else "-",
                "-",
                "-",
            ),
            (
                "  CPU s: alignment / estimation / resampling (all threads; vs the remap's, the blur's CPU s)",
                f"{align_cpu:.2f} / {est_cpu:.2f} / {warp_cpu:.2f}",
                f"remap {remap_cpu:.2f}, blur {blur_cpu:.2f}",
                f"{align_cpu / remap_cpu:.3g}",
            ),
            (
                "  align (auto) + denoise, the issue's noise added: camera Mpix/s, wall / 2 x camera Mpix per CPU s",
                f"{camera / noisy['wall']:.3g} / {2 * camera / noisy['cpu']:.3g}",
                "issue: >= 5",
                f"{2 * camera / noisy['cpu'] / 5:.3g}",
            ),
            (
                "  align + denoise CPU s: alignment / denoising (noise, denoise, mask, confidence) / total",
                f"{noisy['align cpu']:.2f} / {noisy['denoise cpu']:.2f} / {noisy['cpu']:.2f}",
                f"{noisy['moved']} resampled",
                "-",
            ),
            (
                f"  scan fusion (render + both lobes, {fusion['fused'] / 1e6:.2f} Mpix fused): camera Mpix/s, wall / 2 x per CPU s",
                f"{camera / fusion['wall']:.3g} / {2 * camera / fusion['cpu']:.3g}",
                "-",
                "-",
            ),
            (
                "  align + denoise + scan fusion: camera Mpix/s, wall / 2 x camera Mpix per CPU s",
                f"{camera / (noisy['wall'] + fusion['wall']):.3g} / {2 * camera / (noisy['cpu'] + fusion['cpu']):.3g}",
                "issue: >= 5",
                f"{2 * camera / (noisy['cpu'] + fusion['cpu']) / 5:.3g}",
            ),
        ]
    return rows


def _geometry(session_dir: Path, size: int) -> tuple:
    """The session's first camera scaled to ``size`` and the rig's lights: ``prepare_frames``' geometry."""
    from noise_figures import scaled_geometry  # beside this script

    session = load_session(session_dir)
    return scaled_geometry(session, next(iter(session.cameras)), size)


def _fusion_seconds(session_dir: Path, size: int, mask: np.ndarray) -> dict[str, float]:
    """The scan fusion (``fuse_camera_normals``: the scan rendered over the mask's box, both lobes fused)
    of the session's first camera scaled to ``size`` (its head as framed there, the session's scan),
    ``mask`` (size, size) bool as the maps' mask; the photometric normals' stand-ins: the scan's own
    normals with noise. Wall and CPU seconds (every thread), and the pixels fused (specular lobe)."""
    from id2reflectance.processing.solve.camera_maps import CameraMaps
    from id2reflectance.processing.solve.scan_normals import (
        ScanFusion,
        fuse_camera_normals,
        load_session_scan,
        render_scan_normals,
    )

    scan = load_session_scan(load_session(session_dir))
    camera = _geometry(session_dir, size)[0]
    seen = render_scan_normals(scan.mesh, scan.scene, scan.vertex_normals, camera)
    maps = CameraMaps.empty(camera.name, size, size)
    maps.mask[...] = mask
    rng = np.random.default_rng(0)
    for name, sigma in (("diffuse", 0.02), ("specular", 0.03)):
        n = seen.normals + np.float32(sigma) * rng.standard_normal(seen.normals.shape, dtype=np.float32)
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        getattr(maps, f"normal_{name}")[...] = np.where(mask[..., None], n, np.float32(0))
    t0 = _clock()
    record = fuse_camera_normals(maps, camera, scan, (True, True), ScanFusion())
    wall, cpu = _since(t0)
    return {"wall": wall, "cpu": cpu, "fused": float(record["specular"]["pixels"])}


def _align_denoise(
    cam: str, images: dict, mask: np.ndarray, geometry: tuple, *, workers: int, seed: int = 0
) -> dict[str, float]:
    """The issue's sensor noise added to ``images`` (read 0.002, shot 5e-5 x value), then the alignment
    (``auto``, in place) and the denoising stage (noise estimates, ambient check and denoise, confidence:
    ``noise_figures._stage_seconds``, as the solver runs them with ``mask`` as the mask file) of the aligned
    frames: wall and
    CPU seconds (every thread), and the number of frames resampled."""
    from noise_figures import ISSUE_NOISE, _stage_seconds  # beside this script

    rng = np.random.default_rng(seed)
    noisy = {}
    for k, img in images.items():
        sigma = np.sqrt(ISSUE_NOISE["noise"] * np.maximum(img, 0) + ISSUE_NOISE["read_noise"] ** 2)
        noisy[k] = (img + sigma * rng.standard_normal(img.shape, dtype=np.float32)).astype(np.float32)
    frames = CameraFrames(cam, noisy, np.zeros(mask.shape, bool), {})
    t0 = _clock()
    frames, report = align_camera_frames(frames, mask, mode="auto", workers=workers, in_place=True)
    a_wall, a_cpu = _since(t0)
    stage = _stage_seconds(frames, geometry, mask)  # on a copy made before its clock starts; the mask as a file's
    moved = sum(f.method in ("rigid", "flow") for f in report.frames)
    return {
        "wall": a_wall + stage["total"],
        "cpu": a_cpu + stage["cpu"],
        "align cpu": a_cpu,
        "denoise cpu": stage["cpu"],
        "moved": moved,
    }


def baseline_cost_rows(baseline_src: str, moving_dir: Path, still_dir: Path, *, repeats: int = 1) -> list[Row]:
    """:func:`cost_rows` of the package in ``baseline_src`` (this script in a fresh process, the
    same simulated sessions), its rows marked ``[baseline]``."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(baseline_src).resolve()))
    cmd = [
        sys.executable,
        __file__,
        "--part",
        "cost",
        "--sessions",
        str(moving_dir.parent.parent),
        "--tag",
        "[baseline] ",
        "--repeats",
        str(repeats),
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [tuple(line.split(" | ")) for line in out.splitlines() if line.count(" | ") == 3]


def _speedups(rows: list[Row]) -> list[Row]:
    """Per case, this checkout's camera Mpix/s against the baseline's (same run): the alignment,
    and its estimation part (all but the resampling)."""
    figures: dict[str, dict[str, float]] = {}
    case = ""
    for label, value, *_ in rows:
        if "(Mpix/s of camera pixels" in label:
            case = label.split(" (Mpix/s")[0]
            figures.setdefault(case, {})["alignment"] = float(value)
        elif label.strip().startswith("part: the estimation") and case:
            figures[case]["estimation"] = float(value)
        elif label.strip().startswith("CPU s:") and case:
            cpu = [float(v) for v in value.split(" / ")]
            figures[case]["alignment CPU s"], figures[case]["estimation CPU s"] = cpu[0], cpu[1]
        elif label.strip().startswith("align + denoise CPU s") and case:
            cpu = [float(v) for v in value.split(" / ")]
            figures[case]["noisy: alignment CPU s"], figures[case]["noisy: denoising CPU s"] = cpu[0], cpu[1]
            figures[case]["noisy: align + denoise CPU s"] = cpu[2]
    out = []
    for case, own in figures.items():
        base = figures.get("[baseline] " + case)
        if case.startswith("[baseline] ") or not base:
            continue
        for part, rate in own.items():
            if part in base:
                cpu = part.endswith("CPU s")  # seconds: the speed-up is baseline / this
                out.append(
                    (
                        f"{case}: {part}, this checkout vs baseline" + ("" if cpu else " (camera Mpix/s)"),
                        f"{rate:.3g}",
                        f"baseline {base[part]:.3g}",
                        f"speed-up {(base[part] / rate if cpu else rate / base[part]):.3g}",
                    )
                )
    return out


def _sessions(root: Path, size: int) -> tuple[Path, Path]:
    """The moving and still one-camera sessions for the cost rows, simulated into ``root`` unless there."""
    out = []
    for name, moving in (("moving", True), ("still", False)):
        found = sorted((root / name).glob("*/session.json"))
        out.append(
            found[0].parent if found else simulate_subject(root / name, subject_index=0, config=_config(size, moving))
        )
    return out[0], out[1]


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["motion", "noise", "noinv", "cost"], action="append", help="default: all")
    parser.add_argument("--size", type=int, default=256, help="simulated image size (pixels)")
    parser.add_argument("--baseline-src", help="--part cost: also the package in this src folder (a fresh process)")
    parser.add_argument("--sessions", help="--part cost: simulated sessions kept (or reused) in this folder")
    parser.add_argument("--repeats", type=int, default=1, help="--part cost: the fastest of this many alignments")
    parser.add_argument("--seed", type=int, default=0, help="--part noise / noinv: the simulator's seed (another head)")
    parser.add_argument(
        "--scan-variant",
        choices=["sim", "noise", "decimate", "taubin", "shift", "all"],
        help="--part noise / noinv: the session's scan degraded so (benchmarks/scan_variants.py, seeded by --seed; "
        "sim: as simulated) and each session solved again with scan_normals off, printed beside",
    )
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)  # the baseline process's row prefix
    args = parser.parse_args()
    parts = tuple(args.part or ("motion", "noise", "noinv", "cost"))
    with tempfile.TemporaryDirectory(prefix="bench_motion_") as tmpdir:
        table = motion_rows(
            Path(tmpdir),
            size=args.size,
            parts=tuple(p for p in parts if p != "cost"),
            seed=args.seed,
            scan_variant=args.scan_variant,
        )
        if "cost" in parts:
            moving, still = _sessions(Path(args.sessions or tmpdir), args.size)
            if args.baseline_src:
                table += baseline_cost_rows(args.baseline_src, moving, still, repeats=args.repeats)
            own = cost_rows(moving, still, repeats=args.repeats, tag=args.tag)
            table += own
            table += _speedups(table) if args.baseline_src else []
    for row in table:
        print(" | ".join(row))
