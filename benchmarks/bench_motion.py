"""Motion section of ``bench_solver.py --motion``: the solve on sessions whose head moves.

Rows (figure | value | reference | ratio):

* accuracy (medians over valid, unshadowed truth pixels, ``solve_accuracy``) of a 256 px
  one-camera simulated session with every frame but full-cross moved up to 1.5 px and
  0.4 deg, solved with ``--align none`` and ``--align rigid`` (reference: the issue's
  target); the same subject without motion, solved with the default ``--align auto``
  (targets 0.1 deg diffuse normal, 0.5 deg specular normal);
* alignment residual: median over frames of the median distance, at face pixels, between
  the estimated motion and the simulator's true displacement (target 0.1 px);
* cost: ``align_camera_frames`` (rigid) on the session's frames tiled to 2048 x 2048
  (14 frames), Mpix/s of camera pixels, against one plain ``cv2.remap`` of the same frames
  in the same run (target >= 5 Mpix/s).
"""

from __future__ import annotations

import time
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
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

Row = tuple[str, str, str, str]
TARGETS = {"diffuse_normal_deg": 1.0, "specular_normal_deg": 3.0, "specular_albedo_rel": 0.05, "roughness_abs": 0.05}
CLEAN_TARGETS = {"diffuse_normal_deg": 0.1, "specular_normal_deg": 0.5}


def _config(size: int, moving: bool) -> SimulatorConfig:
    return SimulatorConfig(
        image_size=size,
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
            M = Similarity(f["tx"], f["ty"], f["rotation_deg"], f["scale"]).matrix(w, h)
            yy, xx = np.nonzero(flow[..., 2] > 0)
            est = np.stack([xx, yy, np.ones_like(xx)]).T.astype(np.float64) @ M[:2].T - np.stack([xx, yy], 1)
            errors.append(float(np.median(np.hypot(*(est - flow[yy, xx, :2]).T))))
    return float(np.median(errors))


def _rows(label: str, acc, targets: dict[str, float]) -> list[Row]:
    return [
        (f"{label}: {k}", f"{getattr(acc, k):.4g}", f"< {t:g}", f"{getattr(acc, k) / t:.3g}")
        for k, t in targets.items()
    ]


def motion_rows(tmp: Path, *, size: int = 256) -> list[Row]:
    rows: list[Row] = []
    moving = simulate_subject(tmp / "moving", subject_index=0, config=_config(size, True))
    still = simulate_subject(tmp / "still", subject_index=0, config=_config(size, False))
    for mode in ("none", "rigid"):
        out = tmp / f"moving_{mode}"
        solve_session(moving, out, config=SolverConfig(align=mode))
        acc = solve_accuracy(moving, out)["all"]
        rows += _rows(f"motion 1.5 px 0.4 deg {size}px, --align {mode}", acc, TARGETS)
        if mode == "rigid":
            r = alignment_residual(moving, out)
            rows.append((f"motion {size}px: alignment residual vs truth (px)", f"{r:.4g}", "< 0.1", f"{r / 0.1:.3g}"))
    solve_session(still, tmp / "still_auto", config=SolverConfig())
    rows += _rows(f"no motion {size}px, --align auto", solve_accuracy(still, tmp / "still_auto")["all"], CLEAN_TARGETS)
    rows += cost_rows(moving)
    return rows


def cost_rows(session_dir: Path, *, size: int = 2048, workers: int = 2) -> list[Row]:
    """Alignment Mpix/s on the session's frames tiled to ``size`` x ``size``, against a plain remap.

    Tiling (not enlarging) keeps the skin's pixel-scale texture that the fit works on; the
    tiles move alike, so the motion is close to one similarity.
    """
    session = load_session(session_dir)
    cam = next(iter(session.cameras))
    small = load_camera_frames(session, cam)
    mask = load_mask(session, cam)
    n = -(-size // mask.shape[0])
    images = {k: np.ascontiguousarray(np.tile(v, (n, n, 1))[:size, :size]) for k, v in small.images.items()}
    big_mask = np.tile(mask, (n, n))[:size, :size]
    frames = CameraFrames(cam, images, np.zeros((size, size), bool), {})
    pixels = len(images) * size * size
    t = time.perf_counter()
    align_camera_frames(frames, big_mask, mode="rigid", workers=workers)
    align_s = time.perf_counter() - t
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32) + 0.3, np.arange(size, dtype=np.float32) - 0.2)
    t = time.perf_counter()
    for img in images.values():
        cv2.remap(img, xs, ys, cv2.INTER_CUBIC)
    remap_s = time.perf_counter() - t
    a, r = pixels / align_s / 1e6, pixels / remap_s / 1e6
    return [
        (
            f"align rigid, {len(images)} frames {size}x{size}, {workers} threads (Mpix/s)",
            f"{a:.3g}",
            ">= 5",
            f"{a / 5:.3g}",
        ),
        ("  reference: one cv2.remap (cubic) of the same frames (Mpix/s)", f"{r:.3g}", "-", f"{a / r:.3g}"),
    ]
