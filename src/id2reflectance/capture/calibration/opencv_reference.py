"""OpenCV's own calibration functions on our detections.

:func:`calibrate_intrinsics` (``cv2.calibrateCameraExtended``, Zhang's planar method) gives
each camera's starting intrinsics and board poses for the bundle adjustment;
:func:`opencv_comparison` runs ``cv2.stereoCalibrate`` against the reference camera on
the same detections, so every calibration reports how it differs from OpenCV's result.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from id2reflectance.capture.calibration.board_captures import CameraDetections
from id2reflectance.capture.calibration.boards import BoardSpec, object_points
from id2reflectance.capture.calibration.bundle_adjust import DistModel
from id2reflectance.capture.camera import Camera
from id2reflectance.errors import CaptureError


@dataclass(frozen=True)
class Intrinsics:
    """One camera's intrinsics from its own views (OpenCV ``calibrateCamera``).

    K : (3, 3) float64.  dist : (5,) float64 k1, k2, p1, p2, k3.
    rms_px : RMS reprojection error.  per_image_px : {pose: RMS}.
    poses : {pose: (R (3, 3), t (3,))} board -> camera.
    """

    K: np.ndarray
    dist: np.ndarray
    rms_px: float
    per_image_px: dict[str, float]
    poses: dict[str, tuple[np.ndarray, np.ndarray]]


def _cv_flags(dist_model: str) -> int:
    if dist_model == "k1k2":
        return cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST
    if dist_model == "k1k2p1p2":
        return cv2.CALIB_FIX_K3
    return 0


def calibrate_intrinsics(cam: CameraDetections, spec: BoardSpec, *, dist_model: DistModel = "k1k2") -> Intrinsics:
    """Per-camera intrinsics with OpenCV ``calibrateCamera`` (Zhang's planar method)."""
    obj_all = object_points(spec).astype(np.float32)
    poses = sorted(cam.detections)
    obj = [obj_all[cam.detections[p].ids] for p in poses]
    img = [cam.detections[p].corners.astype(np.float32) for p in poses]
    try:
        _, K, dist, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
            obj, img, cam.size, None, None, flags=_cv_flags(dist_model)
        )
    except cv2.error as err:
        raise CaptureError(f"camera '{cam.camera}': intrinsic calibration failed ({err.msg.strip()})") from err
    dist5 = np.zeros(5)
    dist5[: min(5, dist.size)] = dist.ravel()[:5]
    per = {p: float(e) for p, e in zip(poses, np.asarray(per_view).ravel(), strict=True)}
    n = np.array([len(cam.detections[p]) for p in poses])
    total = float(np.sqrt(np.sum(np.array(list(per.values())) ** 2 * n) / n.sum()))
    board_to_cam = {
        p: (cv2.Rodrigues(r)[0], np.asarray(t, np.float64).ravel()) for p, r, t in zip(poses, rvecs, tvecs, strict=True)
    }
    return Intrinsics(np.asarray(K, np.float64), dist5, total, per, board_to_cam)


def opencv_comparison(
    dets: dict[str, CameraDetections],
    spec: BoardSpec,
    *,
    cameras_ours: dict[str, Camera],
    reference: str,
    intr: dict[str, Intrinsics],
    dist_model: DistModel,
) -> dict:
    """OpenCV's own calibration on the same detections, and how ours differs from it.

    Intrinsics: ``calibrateCamera`` per camera (``intr``). Extrinsics: ``stereoCalibrate``
    of (reference, camera) with fixed intrinsics over the poses both see (common corners).
    Returns per camera: OpenCV's RMS (mono and stereo), its K/dist/R/t, and our
    difference (focal %, principal point px, rotation deg, translation mm).
    """
    obj_all = object_points(spec).astype(np.float32)
    out: dict = {"reference": reference, "cameras": {}}
    ref = dets[reference]
    for n in sorted(dets):
        entry: dict = {"rms_mono_px": intr[n].rms_px, "K": intr[n].K.tolist(), "dist": intr[n].dist.tolist()}
        R, t = np.eye(3), np.zeros(3)
        if n != reference:
            objs, pa, pb = [], [], []
            for p in sorted(set(ref.detections) & set(dets[n].detections)):
                da, db = ref.detections[p], dets[n].detections[p]
                common, ia, ib = np.intersect1d(da.ids, db.ids, return_indices=True)
                if len(common) >= 6:
                    objs.append(obj_all[common])
                    pa.append(da.corners[ia].astype(np.float32))
                    pb.append(db.corners[ib].astype(np.float32))
            if not objs:
                entry["stereo"] = "no pose shared with the reference camera"
                out["cameras"][n] = entry
                continue
            crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
            ret = cv2.stereoCalibrate(
                objs,
                pa,
                pb,
                intr[reference].K,
                intr[reference].dist,
                intr[n].K,
                intr[n].dist,
                ref.size,
                flags=cv2.CALIB_FIX_INTRINSIC,
                criteria=crit,
            )
            R, t = ret[5], np.asarray(ret[6], np.float64).ravel()
            entry["rms_stereo_px"] = float(ret[0])
            entry["shared_poses"] = len(objs)
        ours = cameras_ours[n]
        R_ref, t_ref = cameras_ours[reference].R, cameras_ours[reference].t
        R_rel = ours.R @ R_ref.T  # relative to the reference camera, whatever the world
        t_rel = ours.t - R_rel @ t_ref
        K_o, K_cv = ours.K, intr[n].K
        entry.update(
            {
                "R": np.asarray(R).tolist(),
                "t": t.tolist(),
                "ours_minus_opencv": {
                    "fx_pct": 100 * (K_o[0, 0] - K_cv[0, 0]) / K_cv[0, 0],
                    "fy_pct": 100 * (K_o[1, 1] - K_cv[1, 1]) / K_cv[1, 1],
                    "cx_px": K_o[0, 2] - K_cv[0, 2],
                    "cy_px": K_o[1, 2] - K_cv[1, 2],
                    "rotation_deg": float(np.degrees(Rotation.from_matrix(R_rel @ np.asarray(R).T).magnitude())),
                    "translation_mm": float(1000 * np.linalg.norm(t_rel - t)),
                    # board units are the spec's square_size: relative to the baseline whatever the unit
                    "translation_pct_of_baseline": float(
                        100 * np.linalg.norm(t_rel - t) / max(np.linalg.norm(t), 1e-12)
                    )
                    if n != reference
                    else 0.0,
                },
            }
        )
        out["cameras"][n] = entry
    return out
