"""Geometric rig calibration from board captures: intrinsics, extrinsics, bundle adjustment.

Input: ``CAPTURE_DIR/<camera>/<image>`` or ``CAPTURE_DIR/<camera><number>.<ext>``
(:mod:`capture.board_captures`); images with the same file stem in different camera
folders (the same number) are the same board pose.

Steps:

1. detect the board in every image (:mod:`capture.boards`); detections with fewer than
   ``min_corners`` corners are dropped and listed;
2. per camera, intrinsics ``K``/``dist`` (OpenCV ``calibrateCamera``, Zhang's method,
   :mod:`capture.opencv_calibration`) with the RMS and the per-image errors;
3. extrinsics in one world frame: relative poses of camera pairs from the board poses both
   see (robust rotation / translation averages), chained along a maximum spanning tree of
   the camera graph from the reference camera; a disconnected graph is an error naming the
   cameras;
4. a joint bundle adjustment over all cameras and board poses (:mod:`capture.bundle_adjust`),
   reporting the RMS before and after; images whose RMS stands out are listed as
   outliers, removed, and the adjustment repeated;
5. optionally, the world frame moved to a board pose, and OpenCV's own
   ``calibrateCamera`` / ``stereoCalibrate`` run on the same detections for comparison.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.calibration.board_captures import CameraDetections, detect_capture
from id2reflectance.capture.calibration.boards import BoardSpec, object_points
from id2reflectance.capture.calibration.bundle_adjust import (
    DistModel,
    Loss,
    Observations,
    RigState,
    bundle_adjust,
    rms,
)
from id2reflectance.capture.calibration.labels import Symmetry, agree_labels, pattern_symmetries, relative_pose
from id2reflectance.capture.calibration.opencv_reference import Intrinsics, calibrate_intrinsics, opencv_comparison
from id2reflectance.capture.camera import Camera
from id2reflectance.errors import CaptureError, ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraCalibrationConfig:
    """Options of :func:`calibrate_cameras`."""

    min_corners: int = 10  # detections with fewer corners are dropped
    min_views: int = 3  # usable images a camera needs for its intrinsics
    min_shared_poses: int = 2  # board poses two cameras must share to be linked
    reference_camera: str = ""  # world frame camera; "" = first camera by name
    world: Literal["camera", "board"] = "camera"  # world = reference camera, or a board pose
    world_pose: str = ""  # board pose (image stem) for world="board"; "" = first pose all cameras see
    dist_model: DistModel = "k1k2"  # tangential terms trade off against cx, cy with long lenses
    loss: Loss = "soft_l1"
    loss_scale_px: float = 1.0
    outlier_rms_px: float = 1.0  # an image is an outlier if its RMS exceeds max(this, factor * median)
    outlier_factor: float = 3.0
    max_iterations: int = 200  # function evaluations per adjustment
    encoding: Literal["auto", "linear", "srgb", "raw"] = "auto"
    workers: int = 0  # threads decoding and detecting images; 0 = min(4, CPU count)
    compare_opencv: bool = True  # also run OpenCV calibrateCamera / stereoCalibrate

    def __post_init__(self) -> None:
        if self.min_corners < 6:
            raise ConfigError(f"min_corners must be >= 6, got {self.min_corners}")
        if self.min_views < 2 or self.min_shared_poses < 1:
            raise ConfigError("min_views must be >= 2 and min_shared_poses >= 1")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        if self.loss_scale_px <= 0 or self.outlier_rms_px <= 0 or self.outlier_factor <= 1:
            raise ConfigError("loss_scale_px and outlier_rms_px must be > 0, outlier_factor > 1")


# ------------------------------------------------------------------ extrinsics


def _average_rotation(Rs: list[np.ndarray]) -> np.ndarray:
    """Chordal L2 mean of rotations, after dropping those > 3x the median angle away."""
    stack = np.stack(Rs)

    def project_so3(M: np.ndarray) -> np.ndarray:
        U, _, Vt = np.linalg.svd(M)
        D = np.diag([1.0, 1.0, np.linalg.det(U @ Vt)])
        return U @ D @ Vt

    mean = project_so3(stack.sum(axis=0))
    ang = np.array([Rotation.from_matrix(R @ mean.T).magnitude() for R in stack])
    keep = ang <= max(3 * np.median(ang), 1e-3)
    return project_so3(stack[keep].sum(axis=0))


def _relative_pose(
    a: dict[str, tuple[np.ndarray, np.ndarray]],
    b: dict[str, tuple[np.ndarray, np.ndarray]],
    shared: list[str],
    symmetries: list[Symmetry],
) -> tuple[np.ndarray, np.ndarray]:
    """Camera a -> camera b transform from board poses both see: x_b = R x_a + t.

    For a board that looks the same turned (``symmetries``), b's labelling of each pose is
    the one that agrees with the other shared poses (:func:`labels.relative_pose`).
    """
    transforms, _ = relative_pose(a, b, shared, symmetries)
    Rs = [R for R, _ in transforms]
    ts = [t for _, t in transforms]
    R = _average_rotation(Rs)
    t_all = np.stack(ts)
    t = np.median(t_all, axis=0)
    keep = np.linalg.norm(t_all - t, axis=1) <= max(3 * np.median(np.linalg.norm(t_all - t, axis=1)), 1e-6)
    return R, t_all[keep].mean(axis=0)


def chain_extrinsics(
    intr: dict[str, Intrinsics],
    *,
    reference: str,
    min_shared_poses: int,
    symmetries: list[Symmetry] | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """World (= reference camera) -> camera extrinsics by a maximum spanning tree.

    Edges join cameras sharing at least ``min_shared_poses`` board poses, weighted by
    that count. ``symmetries``: the board's (:func:`labels.pattern_symmetries`), for
    labels that may differ between cameras by a turn of the board. Returns the
    extrinsics and the cameras in the order they were placed. Raises CaptureError naming
    the cameras the reference cannot reach.
    """
    names = sorted(intr)
    shared = {(a, b): sorted(set(intr[a].poses) & set(intr[b].poses)) for a in names for b in names if a != b}
    placed: dict[str, tuple[np.ndarray, np.ndarray]] = {reference: (np.eye(3), np.zeros(3))}
    while len(placed) < len(names):
        best = None
        for a in placed:
            for b in names:
                if b in placed:
                    continue
                n = len(shared[(a, b)])
                if n >= min_shared_poses and (best is None or n > best[0]):
                    best = (n, a, b)
        if best is None:
            rest = [b for b in names if b not in placed]
            counts = ", ".join(f"{a}-{b}: {len(shared[(a, b)])}" for a in sorted(placed) for b in rest)
            raise CaptureError(
                f"cameras {rest} share fewer than {min_shared_poses} board pose(s) with cameras {sorted(placed)} "
                f"(shared poses {counts}); the camera graph is disconnected, capture poses both groups see"
            )
        _, a, b = best
        R_ab, t_ab = _relative_pose(intr[a].poses, intr[b].poses, shared[(a, b)], symmetries or [])
        Ra, ta = placed[a]
        placed[b] = (R_ab @ Ra, R_ab @ ta + t_ab)
    return placed, list(placed)


# ------------------------------------------------------------------ the rig


@dataclass(frozen=True)
class RigCalibration:
    """Result of :func:`calibrate_rig`.

    cameras : {name: Camera} in the world frame (metres).
    board_poses : {pose: (R, t)} board -> world.
    report : JSON-able figures (RMS before/after, per camera and per image, outliers,
        dropped images, OpenCV comparison, timings).
    """

    cameras: dict[str, Camera]
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]]
    report: dict


def _observations(
    dets: dict[str, CameraDetections], names: list[str], poses: list[str], spec: BoardSpec
) -> tuple[Observations, list[tuple[str, str]]]:
    obj_all = object_points(spec)
    pidx = {p: i for i, p in enumerate(poses)}
    cams, pose_i, obj, uv, keys = [], [], [], [], []
    for ci, name in enumerate(names):
        for p, d in dets[name].detections.items():
            if p not in pidx:
                continue
            cams.append(np.full(len(d), ci))
            pose_i.append(np.full(len(d), pidx[p]))
            obj.append(obj_all[d.ids])
            uv.append(d.corners)
            keys.extend([(name, p)] * len(d))
    return (
        Observations(np.concatenate(cams), np.concatenate(pose_i), np.concatenate(obj), np.concatenate(uv)),
        keys,
    )


def _per_image(res: np.ndarray, keys: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    sq = (res**2).sum(axis=1)
    out: dict[tuple[str, str], list[float]] = {}
    for k, v in zip(keys, sq, strict=True):
        out.setdefault(k, []).append(float(v))
    return {k: float(np.sqrt(np.mean(v))) for k, v in out.items()}


@dataclass(frozen=True)
class RigInit:
    """Everything the bundle adjustment starts from (see :func:`initialise_rig`).

    names : cameras in index order.  poses : board poses in index order.
    intrinsics : per-camera OpenCV calibrations.  state : the initial unknowns.
    obs : the observations.  keys : (camera, pose) of every observation.
    reference : the world camera, ``names[fixed]``.
    detections : the detections the observations come from, labels agreeing between
        cameras.  relabelled : ``"camera/pose"`` of the views whose labels were turned.
    """

    detections: dict[str, CameraDetections]
    relabelled: list[str]
    names: list[str]
    poses: list[str]
    intrinsics: dict[str, Intrinsics]
    state: RigState
    obs: Observations
    keys: list[tuple[str, str]]
    reference: str
    fixed: int
    seconds: float


def initialise_rig(
    dets: dict[str, CameraDetections],
    spec: BoardSpec,
    *,
    config: CameraCalibrationConfig = CameraCalibrationConfig(),
    progress: ProgressFn | None = None,
) -> RigInit:
    """Steps 2 and 3: per-camera intrinsics, chained extrinsics, initial board poses."""
    t_start = time.perf_counter()
    names = sorted(dets)
    reference = config.reference_camera or names[0]
    if reference not in dets:
        raise ConfigError(f"reference camera {reference!r} is not among the cameras {names}")
    intr: dict[str, Intrinsics] = {}
    for i, name in enumerate(names):
        intr[name] = calibrate_intrinsics(dets[name], spec, dist_model=config.dist_model)
        if progress is not None:
            progress("intrinsics", i + 1, len(names))
    syms = pattern_symmetries(spec)
    extr, placed = chain_extrinsics(
        intr, reference=reference, min_shared_poses=config.min_shared_poses, symmetries=syms
    )
    turned_dets, turned_poses, relabelled = agree_labels(
        {n: d.detections for n, d in dets.items()}, {n: intr[n].poses for n in names}, extr, syms, order=placed
    )
    if relabelled:
        log.info("labels turned to agree between cameras: %s", relabelled)
        dets = {n: dataclasses.replace(dets[n], detections=turned_dets[n]) for n in names}
        intr = {n: dataclasses.replace(intr[n], poses=turned_poses[n]) for n in names}
    poses = sorted({p for d in dets.values() for p in d.detections})
    # Initial board -> world: from the camera that sees the most corners of that pose.
    pose_R, pose_t = [], []
    for p in poses:
        best = max((n for n in names if p in intr[n].poses), key=lambda n: len(dets[n].detections[p]))
        Rcb, tcb = intr[best].poses[p]
        Rcw, tcw = extr[best]
        pose_R.append(Rcw.T @ Rcb)
        pose_t.append(Rcw.T @ (tcb - tcw))
    intr_rows = np.array(
        [[*(intr[n].K[0, 0], intr[n].K[1, 1], intr[n].K[0, 2], intr[n].K[1, 2]), *intr[n].dist] for n in names]
    )
    state = RigState(
        intr_rows,
        Rotation.from_matrix(np.stack([extr[n][0] for n in names])).as_rotvec(),
        np.stack([extr[n][1] for n in names]),
        Rotation.from_matrix(np.stack(pose_R)).as_rotvec(),
        np.stack(pose_t),
    )
    obs, keys = _observations(dets, names, poses, spec)
    return RigInit(
        dets,
        relabelled,
        names,
        poses,
        intr,
        state,
        obs,
        keys,
        reference,
        names.index(reference),
        time.perf_counter() - t_start,
    )


def calibrate_rig(
    dets: dict[str, CameraDetections],
    spec: BoardSpec,
    *,
    config: CameraCalibrationConfig = CameraCalibrationConfig(),
    progress: ProgressFn | None = None,
) -> RigCalibration:
    """Calibrate every camera and their relative poses from detections (see module doc)."""
    t_start = time.perf_counter()
    warnings: list[str] = []
    if len(dets) == 1:
        only = next(iter(dets))
        warnings.append(
            f"only one camera ('{only}') in the capture: its intrinsics are calibrated, but there is no rig "
            "(cameras are linked by images with the same name in several camera folders)"
        )
    for w in warnings:
        log.info("%s", w)  # in the report's "warnings"; the CLI prints them
    init = initialise_rig(dets, spec, config=config, progress=progress)
    dets = init.detections  # labels agreeing between cameras
    names, poses, intr, reference = init.names, init.poses, init.intrinsics, init.reference
    obs, keys, state = init.obs, init.keys, init.state
    ba_kwargs = dict(
        fixed_cam=init.fixed,
        dist_model=config.dist_model,
        loss=config.loss,
        loss_scale_px=config.loss_scale_px,
        max_iterations=config.max_iterations,
    )
    first = bundle_adjust(state, obs, **ba_kwargs)  # type: ignore[arg-type]
    first_per_img = _per_image(first.residuals, keys)
    med = float(np.median(list(first_per_img.values())))
    limit = max(config.outlier_rms_px, config.outlier_factor * med)
    outliers = sorted(k for k, v in first_per_img.items() if v > limit)
    result = first
    if outliers:
        bad = set(outliers)
        keep = np.array([k not in bad for k in keys])
        obs, keys = obs.subset(keep), [k for k, kk in zip(keys, keep, strict=True) if kk]
        result = bundle_adjust(first.state, obs, **ba_kwargs)  # type: ignore[arg-type]
        log.warning("outlier images (RMS > %.2f px): %s", limit, [f"{c}/{p}" for c, p in outliers])
    final = result.state
    cameras = _cameras_from_state(final, names, dets)
    board_poses = {
        p: (Rotation.from_rotvec(final.pose_rvec[i]).as_matrix(), final.pose_t[i].copy()) for i, p in enumerate(poses)
    }
    world_info = {"frame": "camera", "camera": reference}
    if config.world == "board":
        cameras, board_poses, world_info = _move_world_to_board(cameras, board_poses, dets, config.world_pose)
    per_img = _per_image(result.residuals, keys)
    cam_res = {n: result.residuals[np.array([k[0] == n for k in keys])] for n in names}
    # What the final adjustment used: outlier images left out of every count.
    used = {
        n: dataclasses.replace(dets[n], detections={p: d for p, d in dets[n].detections.items() if (n, p) in per_img})
        for n in names
    }
    report = {
        "board": spec.to_json(),
        "world": world_info,
        "dist_model": config.dist_model,
        "rms_before_px": first.rms_before_px,
        "rms_after_px": result.rms_after_px,
        "corners": len(obs),
        "board_poses": len({p for _, p in per_img}),
        "warnings": warnings,
        "relabelled": [dets[c].files.get(p, p) for c, p in (v.split("/", 1) for v in init.relabelled)],
        "cameras": {
            n: {
                "images": len(used[n].detections),
                "rms_px": rms(cam_res[n]),
                "rms_intrinsics_only_px": intr[n].rms_px,
                "per_image_px": {
                    dets[n].files.get(p, p): round(v, 4) for (c, p), v in sorted(per_img.items()) if c == n
                },
            }
            for n in names
        },
        "outliers": [
            {"image": dets[c].files.get(p, p), "rms_px": round(first_per_img[(c, p)], 4)} for c, p in outliers
        ],
        "outlier_limit_px": limit,
        "dropped": [m for n in names for m in dets[n].dropped],
        "seconds": {
            "initialisation": init.seconds,
            "bundle_adjustment": first.seconds + (result.seconds if outliers else 0.0),
        },
    }
    if config.compare_opencv:
        # OpenCV on exactly the labelled corners the adjustment used.
        try:
            intr_used = {
                n: intr[n]
                if len(used[n].detections) == len(dets[n].detections)
                else calibrate_intrinsics(used[n], spec, dist_model=config.dist_model)
                for n in names
            }
            report["opencv"] = opencv_comparison(
                used, spec, cameras_ours=cameras, reference=reference, intr=intr_used, dist_model=config.dist_model
            )
        except CaptureError as err:  # too few views left for OpenCV: the rig itself stands
            report["opencv"] = {"error": str(err), "cameras": {}}
            warnings.append(f"no comparison with OpenCV: {err}")
    report["seconds"]["total"] = time.perf_counter() - t_start
    return RigCalibration(cameras, board_poses, report)


def _cameras_from_state(state: RigState, names: list[str], dets: dict[str, CameraDetections]) -> dict[str, Camera]:
    out = {}
    for i, n in enumerate(names):
        fx, fy, cx, cy = state.intrinsics[i, :4]
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        R = Rotation.from_rotvec(state.cam_rvec[i]).as_matrix()
        w, h = dets[n].size
        out[n] = Camera(n, int(w), int(h), K, state.intrinsics[i, 4:9].copy(), R, state.cam_t[i].copy())
    return out


def _move_world_to_board(
    cameras: dict[str, Camera],
    board_poses: dict[str, tuple[np.ndarray, np.ndarray]],
    dets: dict[str, CameraDetections],
    world_pose: str,
) -> tuple[dict[str, Camera], dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Re-express everything in the frame of one board pose (its corner (0,0) is the origin)."""
    if world_pose:
        if world_pose not in board_poses:
            raise ConfigError(f"world_pose {world_pose!r} is not a detected board pose ({sorted(board_poses)[:6]} ...)")
        p0 = world_pose
    else:
        seen_by_all = [p for p in sorted(board_poses) if all(p in d.detections for d in dets.values())]
        if not seen_by_all:
            raise CaptureError("world='board': no board pose is seen by every camera; name one with world_pose")
        p0 = seen_by_all[0]
    Rb, tb = board_poses[p0]  # board -> old world
    out = {}
    for n, c in cameras.items():
        # x_cam = R (Rb X_new + tb) + t
        out[n] = Camera(n, c.width, c.height, c.K, c.dist, c.R @ Rb, c.R @ tb + c.t)
    poses = {p: (Rb.T @ R, Rb.T @ (t - tb)) for p, (R, t) in board_poses.items()}
    return out, poses, {"frame": "board", "pose": p0}


def calibrate_cameras(
    capture_dir: str | Path,
    spec: BoardSpec,
    *,
    config: CameraCalibrationConfig = CameraCalibrationConfig(),
    progress: ProgressFn | None = None,
) -> RigCalibration:
    """Detect boards in ``CAPTURE_DIR/<camera>/<image>`` and calibrate the rig (one call)."""
    dets = detect_capture(
        capture_dir,
        spec,
        min_corners=config.min_corners,
        min_views=config.min_views,
        encoding=config.encoding,
        workers=config.workers,
        progress=progress,
    )
    return calibrate_rig(dets, spec, config=config, progress=progress)
