"""Benchmark of ``id2r solve``: accuracy, throughput and peak memory.

Prints one table, ``figure | value | reference | ratio``:

* accuracy (medians over valid, unshadowed truth pixels) on simulated heads for several
  subjects and sensor-noise levels, and on the analytic sphere; the reference is the
  issue's target figure, ratio = value / target (< 1 passes);
* throughput of the solve alone (decode excluded) for a synthetic 4096 x 4096 camera with
  inverse patterns (14 frames), per backend (the fused numba kernel and the numpy
  reference) and thread count, against the memory-bandwidth-bound rate: the bandwidth of
  a large numpy copy measured in the same run divided by the bytes read and written per
  pixel; ratio = achieved / bound (target >= 0.3). The kernel is compiled (or loaded from
  numba's cache) before timing; its cold compile time and cache load time are measured in
  child processes with an empty cache folder. Decode time separately, against the decode
  that also computes per-frame statistics;
* peak memory of ``solve_session`` on that session (a child process: peak RSS above the
  RSS after imports), against the decoded input frames of the camera (target < 3x).

``--e2e`` measures what a user waits for instead: ``id2r solve`` in a fresh process on a
one-camera 4096 x 4096 session of 8 uncompressed float32 EXR frames, a 3-camera
2048 x 2048 session of 14 ZIP-compressed frames per camera, and one-camera 2048 x 2048
sessions of 16-bit TIFF and of DNG frames (page cache warm; ``--e2e-sessions`` picks),
with the per-stage times of its ``solve.json`` (decode, align, denoise, solve, confidence, stats,
write), the end-to-end Mpix/s, its CPU seconds and peak RSS, and in the same run the
references: reading the same files with ``cat`` to /dev/null and the memcpy bound
(frames in and maps out, each copied once at the measured copy bandwidth). Runs
(``--e2e-runs``): every default stage, ``--align none --denoise none`` (decode, solve
and IO only), ``--threads 1``. ``--baseline-src DIR`` also times the package found at
``DIR`` (another checkout's ``src``) on the same files, for a before/after from one
machine state. ``--encodings``: the write cost, read-back cost and size of the first
session's maps per lossless compression. ``--e2e-cache DIR`` keeps the written sessions
(deterministic; minutes to write on a shared machine) for later runs.

``--noise`` prints issue 20's figures instead (``benchmarks/noise_figures.py``): accuracy,
mask spill and cover under the issue's sensor noise, with and without ambient light, and
clean, beside the issue's limits; and the cost of noise estimation plus denoising against
``cv2.GaussianBlur`` of the same frames.

Run: ``.venv/bin/python benchmarks/bench_solver.py [--quick]`` (quick: 1024 x 1024, one
simulated subject, two noise levels; ``--skip-accuracy`` / ``--skip-speed`` run one part).
The accuracy part also compares the channel choices for the diffuse normal.
``--motion`` adds the figures on sessions whose head moves between exposures
(``bench_motion.py``: accuracy with and without alignment, alignment residual, issue 20's
noise and motion together beside the noise alone, cost at 2048 and 4096 px).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import write_exr, write_png
from id2reflectance.capture.frames import CameraFrames, load_camera_frames, load_mask
from id2reflectance.capture.session import Frame, load_session, session_json, write_session_json
from id2reflectance.capture.simulator.analytic import render_sphere_view, sphere_camera, write_sphere_session
from id2reflectance.processing.solve import kernel as solver_kernel
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.roughness_table import inverse_table
from id2reflectance.processing.solve.solver import (
    CameraMaps,
    SolverConfig,
    solve_camera_frames,
    solve_session,
    spent_frames,
)

TARGETS = {  # the figures
    "diffuse_normal_deg": 1.0,
    "specular_normal_deg": 3.0,
    "diffuse_albedo_rel": 0.02,
    "specular_albedo_rel": 0.05,
    "roughness_abs": 0.05,
}
OUTPUT_BYTES = 20 * 4 + 1  # 20 float32 map channels + the bool mask
NOISE_LEVELS = {  # simulator sensor noise: sigma^2 = gain * x + read^2, stored units (peak 0.8)
    "none": (0.0, 0.0),
    "low": (5e-5, 2e-4),
    "high": (2e-4, 1e-3),
}

Row = tuple[str, str, str, str]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def copy_bandwidth(nbytes: int = 1 << 29, repeats: int = 5) -> tuple[float, float]:
    """Bytes read + written per second by ``np.copyto`` on pre-touched arrays (best of N).

    Returns the rate per wall-clock second and per CPU second of this thread (the second
    discounts time-slicing on a shared machine).
    """
    a = np.ones(nbytes // 4, np.float32)
    b = np.zeros_like(a)
    np.copyto(b, a)
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.thread_time()
        np.copyto(b, a)
        cpu = min(cpu, time.thread_time() - c)
        wall = min(wall, time.perf_counter() - t)
    return 2 * a.nbytes / wall, 2 * a.nbytes / cpu


def accuracy_rows(tmp: Path, *, quick: bool, appearance: str = "auto") -> list[Row]:
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject

    rows: list[Row] = []
    subjects = [0] if quick else [0, 1, 2]
    levels = ["none", "high"] if quick else list(NOISE_LEVELS)
    size = 128 if quick else 192
    for idx in subjects:
        for level in levels:
            gain, read = NOISE_LEVELS[level]
            cfg = SimulatorConfig(
                image_size=size,
                uv_size=256,
                cameras=3,
                noise=gain,
                read_noise=read,
                seed=0,
                appearance_source=appearance,
            )
            session = simulate_subject(tmp / f"sim_{level}", subject_index=idx, config=cfg)
            out = tmp / f"solved_{idx}_{level}"
            solve_session(session, out)
            acc = solve_accuracy(session, out, visibility_min=0.99)["all"]
            for key, target in TARGETS.items():
                v = getattr(acc, key)
                rows.append(
                    (f"sim S{idx:04d} noise={level} {size}px {key}", _fmt(v), f"target {target}", _fmt(v / target))
                )
            if idx == subjects[0]:  # which channel(s) to take the diffuse normal from
                for channel in ("r", "g", "b", "rgb"):
                    out_c = tmp / f"solved_{idx}_{level}_{channel}"
                    solve_session(session, out_c, config=SolverConfig(diffuse_normal_channel=channel))
                    v = solve_accuracy(session, out_c, visibility_min=0.99)["all"].diffuse_normal_deg
                    rows.append(
                        (
                            f"sim S{idx:04d} noise={level} diffuse_normal_deg channel={channel}",
                            _fmt(v),
                            f"gb: {_fmt(acc.diffuse_normal_deg)}",
                            _fmt(v / max(acc.diffuse_normal_deg, 1e-9)),
                        )
                    )
    for inverses in (True, False):
        session = write_sphere_session(tmp / f"sphere_{inverses}", size=128, inverses=inverses)
        out = tmp / f"sphere_out_{inverses}"
        solve_session(session, out)
        acc = solve_accuracy(session, out, visibility_min=0.0)["all"]
        tag = "with" if inverses else "without"
        for key, target in TARGETS.items():
            v = getattr(acc, key)
            rows.append((f"analytic sphere {tag} inverses {key}", _fmt(v), f"target {target}", _fmt(v / target)))
    return rows


def write_big_session(root: Path, size: int) -> Path:
    """A one-camera session with inverses: the analytic sphere at 256 px, upsampled."""
    import cv2

    small = sphere_camera("cam0", 256)
    view = render_sphere_view(small, inverses=True, samples=(32, 8))
    cam = sphere_camera("cam0", size)
    frames = []
    for (pat, pol), img in view.frames.items():
        rel = f"frames/cam0/{pat}_{pol}.exr"
        write_exr(root / rel, cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR))
        frames.append(Frame("cam0", pat, pol, rel, "linear", 1.0))
    mask = cv2.resize(view.truth["mask"], (size, size), interpolation=cv2.INTER_NEAREST)
    write_png(root / "masks" / "cam0.png", mask)
    write_session_json(root, session_json(subject_id="BENCH", cameras={"cam0": cam}, frames=frames))
    return root


def throughput_rows(session_dir: Path, *, repeats: int) -> list[Row]:
    session = load_session(session_dir)
    cam = session.cameras["cam0"]
    inverse_table()
    first_call = solver_kernel.warm_up()  # compile, or load from numba's cache: not timed below
    t = time.perf_counter()
    frames = load_camera_frames(session, "cam0")
    mask = load_mask(session, "cam0")
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    load_camera_frames(session, "cam0", stats=True)
    decode_stats_s = time.perf_counter() - t
    npix = cam.width * cam.height
    n_frames = len(frames.images)
    per_pixel = n_frames * 12 + 2 + OUTPUT_BYTES  # frames + saturation + foreground mask; outputs
    bw, bw_cpu = copy_bandwidth()
    bound = bw / per_pixel / 1e6  # Mpix/s
    bound_cpu = bw_cpu / per_pixel / 1e6
    rows: list[Row] = [
        ("memory copy bandwidth (read + write)", f"{bw / 1e9:.2f} GB/s", "-", "-"),
        ("memory copy bandwidth per CPU second", f"{bw_cpu / 1e9:.2f} GB/s", "-", "-"),
        (f"bytes per pixel ({n_frames} frames in, maps out)", str(per_pixel), "-", "-"),
        (
            f"decode {cam.width}x{cam.height}, {n_frames} frames",
            f"{decode_s:.2f} s",
            f"with frame statistics {decode_stats_s:.2f} s",
            f"{decode_s / decode_stats_s:.3f}",
        ),
        ("decode rate", f"{npix / decode_s / 1e6:.2f} Mpix/s", "-", "-"),
        ("numba kernel first call in this process (before timing)", f"{first_call:.2f} s", "-", "-"),
    ]
    maps = None
    for backend in ("numba", "numpy"):
        for workers in (1, 0):
            cfg = SolverConfig(workers=workers, backend=backend)
            label = f"{backend} workers={cfg.resolved_workers()}"
            t = time.perf_counter()
            fresh_maps = solve_camera_frames(frames, cam, session.rig, mask, cfg)
            fresh = time.perf_counter() - t
            maps = fresh_maps if maps is None else maps
            del fresh_maps
            best = best_cpu = float("inf")
            for _ in range(repeats):
                t, c = time.perf_counter(), time.thread_time()
                solve_camera_frames(frames, cam, session.rig, mask, cfg, out=maps)
                best_cpu = min(best_cpu, time.thread_time() - c)
                best = min(best, time.perf_counter() - t)
            # as solve_session: the three-component maps over the frames the solve has read
            own = CameraFrames(frames.camera, {k: v.copy() for k, v in frames.images.items()}, frames.saturated, {})
            into = CameraMaps.empty(
                cam.name, cam.height, cam.width, reuse=spent_frames(own, cam, mask), planes=maps.planes
            )
            t = time.perf_counter()
            solve_camera_frames(own, cam, session.rig, mask, cfg, out=into)
            in_frames = time.perf_counter() - t
            del own, into
            for name, sec in (
                ("new output buffers", fresh),
                ("reused output buffers", best),
                ("maps in the frames' memory (solve_session)", in_frames),
            ):
                rate = npix / sec / 1e6
                rows.append(
                    (f"solve {label}, {name}", f"{rate:.2f} Mpix/s", f"bound {bound:.1f} Mpix/s", f"{rate / bound:.3f}")
                )
            if workers == 1:  # one thread: its CPU time is the whole solve's
                rate = npix / best_cpu / 1e6
                rows.append(
                    (
                        f"solve {label}, reused buffers, per CPU second",
                        f"{rate:.2f} Mpix/s",
                        f"bound {bound_cpu:.1f} Mpix/s",
                        f"{rate / bound_cpu:.3f}",
                    )
                )
    return rows


def compile_child() -> None:
    """Run in a child process: print the seconds of the kernel's first call (JSON)."""
    print(json.dumps({"first_call": solver_kernel.warm_up()}))


def compile_rows(tmp: Path) -> list[Row]:
    """Cold compile and cache load of the numba kernel, in child processes with an empty cache."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "numba_cache")}
    times = []
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, __file__, "--compile-child"], check=True, capture_output=True, text=True, env=env
        )
        times.append(json.loads(res.stdout.strip().splitlines()[-1])["first_call"])
    return [
        ("numba kernel compile (empty cache, not in throughput)", f"{times[0]:.2f} s", "-", "-"),
        (
            "numba kernel load from cache (next processes)",
            f"{times[1]:.2f} s",
            f"compile {times[0]:.2f} s",
            f"{times[1] / times[0]:.3f}",
        ),
    ]


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (kB), e.g. ``VmRSS`` or ``VmHWM`` (peak RSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(session_dir: str, out_dir: str) -> None:
    """Run in a child process: print JSON with its RSS after imports and its peak RSS.

    ``VmHWM`` is per address space (reset by exec), unlike ``ru_maxrss``, which Linux
    carries over from the parent across fork and exec.
    """
    inverse_table()
    solver_kernel.warm_up()  # numba and the kernel's code: a fixed cost, not per pixel
    base = _status_kib("VmRSS") * 1024
    solve_session(session_dir, out_dir, config=SolverConfig())
    print(json.dumps({"base": base, "peak": _status_kib("VmHWM") * 1024}))


def memory_rows(session_dir: Path, out_dir: Path) -> list[Row]:
    session = load_session(session_dir)
    cam = session.cameras["cam0"]
    n_frames = sum(1 for f in session.frames if f.pattern != "dark")
    decoded = n_frames * cam.width * cam.height * 12
    res = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(session_dir), str(out_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(res.stdout.strip().splitlines()[-1])
    extra = data["peak"] - data["base"]
    return [
        (f"decoded input frames ({n_frames})", f"{decoded / 2**30:.2f} GiB", "-", "-"),
        (
            "solve_session peak RSS above baseline",
            f"{extra / 2**30:.2f} GiB",
            "3x decoded input",
            f"{extra / decoded:.2f}x",
        ),
    ]


E2E_CHILD = """
import sys
from pathlib import Path
from id2reflectance.cli.main import main
try:
    main()
finally:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            print("peak_rss_kib", line.split()[1], file=sys.stderr)
"""


def _write_dng(path: Path, rgb: np.ndarray) -> None:
    """A minimal DNG of ``rgb`` (H, W, 3) in [0, 1]: an RGGB Bayer mosaic, 16-bit, white
    level 65535, black 0, identity colour matrix (DNG 1.4 tags; LibRaw demosaics it)."""
    import tifffile

    q = np.round(np.clip(rgb, 0, 1) * 65535).astype(np.uint16)
    cfa = np.empty(q.shape[:2], np.uint16)
    cfa[0::2, 0::2] = q[0::2, 0::2, 0]
    cfa[0::2, 1::2] = q[0::2, 1::2, 1]
    cfa[1::2, 0::2] = q[1::2, 0::2, 1]
    cfa[1::2, 1::2] = q[1::2, 1::2, 2]
    identity = (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1)
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: RGGB
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50708, "s", 0, "id2r bench camera", True),  # UniqueCameraModel
        (50717, "I", 1, (65535,), True),  # WhiteLevel
        (50714, "I", 1, (0,), True),  # BlackLevel
        (50721, "2i", 9, identity, True),  # ColorMatrix1
        (50778, "H", 1, (21,), True),  # CalibrationIlluminant1: D65
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags)


def skin_texture(size: int, *, seed: int = 0) -> np.ndarray:
    """A fixed band-limited diffuse-albedo texture, ``(size, size, 1)`` float32 in about
    [0.7, 1.3], mean 1, features of a few pixels (white noise at a quarter of ``size``,
    blurred with sigma 1 px there and upsampled linearly): something for the frame
    alignment to lock onto, as skin pores give it on a real capture."""
    import cv2

    small = max(size // 4, 8)
    noise = np.random.default_rng(seed).standard_normal((small, small)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.0)
    noise *= 0.1 / noise.std()
    t = cv2.resize(noise, (size, size), interpolation=cv2.INTER_LINEAR)
    np.clip(t, -0.3, 0.3, out=t)
    t += 1.0
    return t[:, :, None]


def write_e2e_session(root: Path, size: int, *, cameras: int = 1, inverses: bool = False, fmt: str = "none") -> Path:
    """``cameras`` cameras of ``size`` x ``size`` (the same view of the analytic sphere,
    rendered at 256 px, upsampled and given a fixed diffuse texture, :func:`skin_texture`:
    each cross frame times the texture, each parallel frame that plus its specular
    ``parallel - cross``; a still head, which the alignment should leave untouched:
    every frame ``none`` in solve.json), 8 frames each (full and gradients, two
    polarisations; 14 with the inverse patterns), and a foreground mask per camera (the
    sphere's, eroded by 2 % of ``size``: on the limb, textureless at any scale, the
    gradient patterns' shading moves the edge, which the alignment fits as motion). ``fmt``: float32 RGB EXR with that compression
    (``none``, ``zip``, ...), ``tiff`` (16-bit linear TIFF) or ``dng`` (camera RAW)."""
    import cv2

    from id2reflectance._shared.imageio import write_tiff16

    small = sphere_camera("cam0", 256)
    view = render_sphere_view(small, inverses=inverses, samples=(32, 8))
    mask = cv2.resize(view.truth["mask"], (size, size), interpolation=cv2.INTER_NEAREST)
    r = max(1, size // 50)  # a skin mask stops short of the silhouette (grazing light, hair, ears)
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    texture = skin_texture(size)
    suffix, encoding = {"tiff": (".tif", "linear"), "dng": (".dng", "raw")}.get(fmt, (".exr", "linear"))
    cams, frames = {}, []
    for c in range(cameras):
        name = f"cam{c}"
        cams[name] = sphere_camera(name, size)
        for (pat, pol), img in view.frames.items():
            rel = f"frames/{name}/{pat}_{pol}{suffix}"
            cross = cv2.resize(view.frames[(pat, "cross")], (size, size), interpolation=cv2.INTER_LINEAR)
            big = cross * texture
            if pol == "parallel":  # the specular (parallel - cross) untextured
                big += cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR) - cross
            del cross
            if fmt == "tiff":
                write_tiff16(root / rel, big)
            elif fmt == "dng":
                _write_dng(root / rel, big)
            else:
                write_exr(root / rel, big, compression=fmt)  # type: ignore[arg-type]
            frames.append(Frame(name, pat, pol, rel, encoding, 1.0))
        write_png(root / "masks" / f"{name}.png", mask)
    write_session_json(root, session_json(subject_id="E2E", cameras=cams, frames=frames))
    return root


def _cat_seconds(files: list[Path], repeats: int = 3) -> float:
    """Best wall time of ``cat FILES > /dev/null`` (the page cache warmed by a first run)."""
    best = float("inf")
    for _ in range(repeats + 1):
        t = time.perf_counter()
        subprocess.run(["cat", *map(str, files)], check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def _e2e_run(
    session_dir: Path, out_dir: Path, src: str | None, extra: list[str]
) -> tuple[float, dict, int, tuple[float, float]]:
    """Wall seconds of ``id2r solve`` in a fresh process, its solve.json, peak RSS (bytes)
    and CPU seconds (user, system: what the run costs when the machine is shared)."""
    import resource

    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-c", E2E_CHILD, "solve", str(session_dir), "-o", str(out_dir), "--no-progress", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"id2r solve failed:\n{res.stderr}")
    peak = next(int(x.split()[1]) for x in res.stderr.splitlines() if x.startswith("peak_rss_kib"))
    cpu = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
    return wall, json.loads((out_dir / "solve.json").read_text()), peak * 1024, cpu


E2E_SESSIONS = {  # key: (label, cameras, inverses, frame format, size divisor); sizes from main()
    "exr": ("1 camera, 8 frames, uncompressed EXR", 1, False, "none", 1),
    "zip": ("3 cameras, 14 frames, ZIP EXR", 3, True, "zip", 2),
    "tiff": ("1 camera, 8 frames, 16-bit TIFF", 1, False, "tiff", 2),
    "dng": ("1 camera, 8 frames, DNG (camera RAW)", 1, False, "dng", 2),
}
E2E_RUNS = {  # key: (label, extra id2r solve options)
    "default": ("every default stage", []),
    "io": ("--align none --denoise none", ["--align", "none", "--denoise", "none"]),
    "threads1": ("--threads 1", ["--threads", "1"]),
}


def encoding_rows(maps_dir: Path, tmp: Path) -> list[Row]:
    """Write cost, read cost and size of one camera's solved maps per lossless OpenEXR
    compression (one thread, in this process: the maps read back first), against ``"none"``."""
    from id2reflectance._shared.imageio import EXR_COMPRESSIONS, read_exr

    images = {p.stem: read_exr(p)[0] for p in sorted(maps_dir.glob("*.exr"))}
    channels = sum(a.shape[2] for a in images.values())
    side = next(iter(images.values())).shape[0]
    results: dict[str, tuple[float, float, int]] = {}
    for comp in ("none", "rle", "zips", "zip", "piz"):
        assert comp in EXR_COMPRESSIONS
        out = tmp / f"enc_{comp}"
        t = time.perf_counter()
        for name, img in images.items():
            write_exr(out / f"{name}.exr", img, compression=comp)  # type: ignore[arg-type]
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        for name, img in images.items():
            back = read_exr(out / f"{name}.exr")[0]
            assert np.array_equal(back, img, equal_nan=True), f"{comp} is not lossless on {name}"
        read_s = time.perf_counter() - t
        size = sum(f.stat().st_size for f in out.glob("*.exr"))
        results[comp] = (write_s, read_s, size)
        shutil.rmtree(out)
    w0, r0, s0 = results["none"]
    rows: list[Row] = []
    for comp, (w, r, size) in results.items():
        label = f"[{side}x{side} maps, {len(images)} files, {channels} channels] {comp}"
        rows += [
            (f"{label}: write (1 thread)", f"{w:.2f} s", f"none {w0:.2f} s", f"{w / w0:.2f}"),
            (f"{label}: read back (checked equal)", f"{r:.2f} s", f"none {r0:.2f} s", f"{r / r0:.2f}"),
            (f"{label}: size", f"{size / 1e6:.0f} MB", f"none {s0 / 1e6:.0f} MB", f"{size / s0:.2f}"),
        ]
    return rows


def e2e_rows(
    tmp: Path,
    size: int,
    *,
    repeats: int,
    baseline_src: str | None,
    sessions: list[str],
    runs: list[str],
    encodings: bool,
    session_cache: Path | None = None,
    solve_config: Path | None = None,
) -> list[Row]:
    """End to end ``id2r solve`` on the sessions of :data:`E2E_SESSIONS` with the runs of
    :data:`E2E_RUNS`, with the cat and memcpy references measured in the same run (and
    each run again with the package at ``baseline_src``); ``encodings``: also the
    write cost and size of the first session's maps per compression; ``session_cache``: a
    folder keeping the written sessions for later runs (they are deterministic); ``solve_config``:
    a SolverConfig TOML file passed to every run (``--config``)."""
    bw, _ = copy_bandwidth()
    rows: list[Row] = [("memory copy bandwidth (read + write)", f"{bw / 1e9:.2f} GB/s", "-", "-")]
    checkouts: list[tuple[str, str | None]] = [("this checkout", None)]
    if baseline_src:
        checkouts.append(("baseline " + baseline_src, baseline_src))
    for key in sessions:
        s_label, cameras, inverses, fmt, divisor = E2E_SESSIONS[key]
        side = size // divisor
        tag = f"{side}x{side}, {s_label}"
        t = time.perf_counter()
        session_dir = (session_cache or tmp) / f"e2e_{key}_{side}"
        if session_cache is None or not (session_dir / "session.json").is_file():
            shutil.rmtree(session_dir, ignore_errors=True)
            write_e2e_session(session_dir, side, cameras=cameras, inverses=inverses, fmt=fmt)
            rows.append((f"write the session ({tag})", f"{time.perf_counter() - t:.1f} s", "-", "-"))
        else:
            rows.append((f"session reused ({tag})", str(session_dir), "-", "-"))
        files = sorted(p for p in (session_dir / "frames").rglob("*") if p.is_file())
        npix = side * side * cameras
        in_bytes = sum(f.stat().st_size for f in files)
        out_bytes = npix * (20 * 4 + 4)  # 20 float32 map channels and the float32 mask
        decoded = len(files) * side * side * 12 // cameras  # one camera's frames are in memory at a time
        cat_s = _cat_seconds(files)
        memcpy_s = 2 * (in_bytes + out_bytes) / bw  # each byte read and written once
        rows += [
            (f"[{tag}] cat {len(files)} frames ({in_bytes / 1e9:.2f} GB) > /dev/null", f"{cat_s:.2f} s", "-", "-"),
            (
                f"[{tag}] memcpy bound: frames in + maps out ({(in_bytes + out_bytes) / 1e9:.2f} GB)",
                f"{memcpy_s:.2f} s",
                f"cat {cat_s:.2f} s",
                f"{memcpy_s / cat_s:.2f}",
            ),
        ]
        for run in runs:
            r_label, extra = E2E_RUNS[run]
            if solve_config is not None:  # e.g. direct_io = false
                r_label, extra = f"{r_label}, --config {solve_config.name}", [*extra, "--config", str(solve_config)]
            for c_label, src in checkouts:
                label = f"{c_label}, {r_label}"
                walls = []
                for i in range(repeats):
                    out = tmp / f"e2e_out_{key}_{i}"
                    walls.append(_e2e_run(session_dir, out, src, extra))
                    if encodings and key == sessions[0] and src is None and i == 0 and run == runs[0]:
                        rows += encoding_rows(out / "cam0", tmp)
                    shutil.rmtree(out, ignore_errors=True)
                wall, report, peak, (user, system) = min(walls, key=lambda x: x[0])
                stages = report["timings_s"]
                rate = npix / wall / 1e6
                rows += [
                    (
                        f"[{tag}] [{label}] CPU seconds of that run (user + system)",
                        f"{user + system:.2f} s",
                        f"user {user:.2f} s, system {system:.2f} s",
                        "-",
                    ),
                    (
                        f"[{tag}] [{label}] id2r solve wall (fresh process, best of {repeats})",
                        f"{wall:.2f} s",
                        f"cat {cat_s:.2f} s",
                        f"{wall / cat_s:.2f}",
                    ),
                    (f"[{tag}] [{label}] end to end", f"{rate:.2f} Mpix/s", "target 5 Mpix/s", f"{rate / 5:.2f}"),
                ]
                for k in ("table", "decode", "align", "denoise", "solve", "confidence", "stats", "write", "total"):
                    if k in stages:
                        rows.append((f"[{tag}] [{label}] solve.json {k}", f"{stages[k]:.2f} s", "-", "-"))
                aligned = [c["alignment"] for c in report["cameras"].values() if c.get("alignment")]
                if aligned:  # a still session: the alignment should resample no frame
                    frames = [f for a in aligned for f in a["frames"] if f["method"] != "reference"]
                    moved = sum(f["method"] in ("rigid", "flow") for f in frames)
                    rows.append(
                        (f"[{tag}] [{label}] frames resampled by the alignment", str(moved), f"of {len(frames)}", "-")
                    )
                rows.append(
                    (
                        f"[{tag}] [{label}] peak RSS (whole process)",
                        f"{peak / 2**30:.2f} GiB",
                        f"one camera's decoded frames {decoded / 2**30:.2f} GiB",
                        f"{peak / decoded:.2f}x",
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1024 x 1024, fewer subjects and noise levels")
    parser.add_argument("--skip-accuracy", action="store_true", help="only throughput and memory")
    parser.add_argument("--skip-speed", action="store_true", help="only accuracy")
    parser.add_argument("--e2e", action="store_true", help="end-to-end id2r solve with cat and memcpy references")
    parser.add_argument("--noise", action="store_true", help="issue 20: sensor noise, ambient light, denoise cost")
    parser.add_argument("--baseline-src", help="with --e2e or --noise: also time the package in this src folder")
    parser.add_argument("--repeats", type=int, default=2, help="with --e2e: runs per checkout (best reported)")
    parser.add_argument(
        "--e2e-sessions", default=",".join(E2E_SESSIONS), help=f"with --e2e: any of {','.join(E2E_SESSIONS)}"
    )
    parser.add_argument("--e2e-runs", default=",".join(E2E_RUNS), help=f"with --e2e: any of {','.join(E2E_RUNS)}")
    parser.add_argument("--encodings", action="store_true", help="with --e2e: write cost and size per compression")
    parser.add_argument("--e2e-cache", help="with --e2e: keep the written sessions in this folder and reuse them")
    parser.add_argument("--e2e-config", help="with --e2e: a SolverConfig TOML file every run passes to id2r solve")
    parser.add_argument("--motion", action="store_true", help="also the motion figures (bench_motion.py)")
    parser.add_argument(
        "--appearance", choices=("auto", "procedural", "photo"), default="auto", help="accuracy subjects' appearance"
    )
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--compile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    if args.compile_child:
        compile_child()
        return
    size = 1024 if args.quick else 4096
    rows: list[Row] = [("load average (1 min) at start", f"{os.getloadavg()[0]:.2f}", f"{os.cpu_count()} CPUs", "-")]
    with tempfile.TemporaryDirectory(prefix="bench_solver_") as tmpdir:
        tmp = Path(tmpdir)
        if args.noise:
            import noise_figures  # beside this script

            if not args.skip_accuracy:
                rows += noise_figures.accuracy_rows(tmp, quick=args.quick)
            if not args.skip_speed:
                rows += noise_figures.speed_rows(tmp, quick=args.quick, baseline_src=args.baseline_src)
        elif args.e2e:
            rows += e2e_rows(
                tmp,
                size,
                repeats=args.repeats,
                baseline_src=args.baseline_src,
                sessions=[k for k in args.e2e_sessions.split(",") if k],
                runs=[k for k in args.e2e_runs.split(",") if k],
                encodings=args.encodings,
                session_cache=Path(args.e2e_cache) if args.e2e_cache else None,
                solve_config=Path(args.e2e_config).absolute() if args.e2e_config else None,
            )
        elif not args.skip_accuracy:
            rows += accuracy_rows(tmp, quick=args.quick, appearance=args.appearance)
        if args.motion:
            from bench_motion import motion_rows  # beside this script

            rows += motion_rows(tmp)
        if not args.skip_speed and not args.e2e and not args.noise:
            t = time.perf_counter()
            big = write_big_session(tmp / "big", size)
            rows.append((f"write synthetic {size}x{size} session", f"{time.perf_counter() - t:.1f} s", "-", "-"))
            rows += compile_rows(tmp)
            rows += throughput_rows(big, repeats=2 if args.quick else 1)
            rows += memory_rows(big, tmp / "big_out")
    widths = [max(len(r[i]) for r in rows + [("figure", "value", "reference", "ratio")]) for i in range(4)]
    line = " | ".join(h.ljust(w) for h, w in zip(("figure", "value", "reference", "ratio"), widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
