"""Rig calibration figures: accuracy against the truth, time, and OpenCV's own result.

Usage::

    .venv/bin/python benchmarks/bench_calibration.py [--quick] [--seeds N]
    .venv/bin/python benchmarks/bench_calibration.py --photos PATH [--board SPEC]

``--photos``: only the real-photo section, on a folder of stereo board photos
(``left01.jpg``/``right01.jpg`` ... or ``<camera>/<image>``; default board: OpenCV's
sample chessboard, 9x6 inner corners = 10x7 squares, squares of 1 unit). Per camera:
poses used / given, RMS after our bundle adjustment, OpenCV ``calibrateCamera`` on the
same labelled corners, and the rig (baseline, rotation) against ``stereoCalibrate`` on
the same corners; then OpenCV's own pipeline end to end (its detector's corners in its
own order, ``cornerSubPix`` 11 x 11, ``calibrateCamera`` + ``stereoCalibrate``), which is
what a user of OpenCV alone gets.

Sections (each row: figure | value | reference measured in the same run | ratio):

1. The figure rig: 3 cameras x 20 board poses, 4096 x 3072, 30 degree field, corner
   detections with 0.3 px RMS noise. Ours = per-camera init + joint bundle adjustment;
   reference = OpenCV ``calibrateCamera`` per camera + ``stereoCalibrate`` (fixed
   intrinsics) to the front camera, on the same detections. Worst camera over the seeds.
   Then the same with tangential distortion estimated (``k1k2p1p2``).
2. Bundle adjustment: ``jac_sparsity`` + LSMR steps (default) vs the dense grouped-
   difference Jacobian with exact steps, from the same initial state, clean and with one
   image of 4 px corner noise (robust loss at work), with the default ``soft_l1`` loss
   and with ``huber``.
3. Rendered captures end to end (800 x 600 or 1600 x 1200 PNGs, 3 x 20 poses): the
   detector's corner error against the truth, and the calibration from those images.
4. Colour: CIEDE2000 of the simulated ColorChecker with the fitted matrix, against the
   true matrix applied to the same patch readings.
5. The solver (``processing/solve/solver.py``) on the analytic sphere (``capture/simulator/analytic.py``)
   seen by the figure rig's cameras binned 16 x (256 x 192): calibrated rig against the
   true rig, and camera-RGB frames corrected by the fitted colour matrix against truth.

``OPENBLAS_NUM_THREADS`` defaults to 1 here: on a shared 2-core machine multithreaded
BLAS made the exact trust-region steps several times slower and the timings erratic.
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from id2reflectance._shared.imageio import linear_to_srgb, write_exr, write_png  # noqa: E402
from id2reflectance.capture.calibration import cameras as cc  # noqa: E402
from id2reflectance.capture.calibration.boards import Detection, detect_board  # noqa: E402
from id2reflectance.capture.calibration.bundle_adjust import bundle_adjust  # noqa: E402
from id2reflectance.capture.calibration.colour import (  # noqa: E402
    ColourCalibrationConfig,
    calibrate_colour,
    delta_e_2000,
    reference_rec709,
)
from id2reflectance.capture.calibration.opencv_reference import calibrate_intrinsics, opencv_comparison  # noqa: E402
from id2reflectance.capture.camera import Camera  # noqa: E402
from id2reflectance.capture.rig import RigFile, apply_rig  # noqa: E402
from id2reflectance.capture.session import Frame, session_json, write_session_json  # noqa: E402
from id2reflectance.capture.simulator.analytic import render_sphere_view  # noqa: E402
from id2reflectance.capture.simulator.calibration_captures import (  # noqa: E402
    FIGURE_RIG,
    SimCalibrationConfig,
    detections_as_capture,
    project_board,
    random_board_poses,
    render_board_image,
    rig_errors,
    sim_rig,
    simulate_detections,
)
from id2reflectance.capture.simulator.chart import SIM_COLOR_MATRIX, render_chart_image  # noqa: E402
from id2reflectance.processing.solve.accuracy import solve_accuracy  # noqa: E402
from id2reflectance.processing.solve.solver import solve_session  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []


def row(figure: str, value: float, reference: float | None, fmt: str = "{:.4f}") -> None:
    ref = "-" if reference is None else fmt.format(reference)
    ratio = "-" if reference in (None, 0) else f"{value / reference:.3f}"
    ROWS.append((figure, fmt.format(value), ref, ratio))


def worst(errs: dict[str, dict[str, float]]) -> dict[str, float]:
    return {
        "focal_pct": max(max(abs(e["fx_pct"]), abs(e["fy_pct"])) for e in errs.values()),
        "pp_pct": max(max(abs(e["cx_pct"]), abs(e["cy_pct"])) for e in errs.values()),
        "rotation_deg": max(e["rotation_deg"] for e in errs.values()),
        "centre_mm": max(e["centre_mm"] for e in errs.values()),
    }


def opencv_cameras(dets: dict, spec, reference: str, dist_model: str) -> tuple[dict[str, Camera], float, float]:
    """OpenCV calibrateCamera + stereoCalibrate on the same detections; (cameras, seconds, stereo RMS)."""
    t0 = time.perf_counter()
    intr = {n: calibrate_intrinsics(d, spec, dist_model=dist_model) for n, d in dets.items()}
    dummy = {n: Camera(n, *dets[n].size, intr[n].K, intr[n].dist, np.eye(3), np.zeros(3)) for n in dets}
    rep = opencv_comparison(dets, spec, cameras_ours=dummy, reference=reference, intr=intr, dist_model=dist_model)
    seconds = time.perf_counter() - t0
    cams, rms = {}, []
    for n, e in rep["cameras"].items():
        w, h = dets[n].size
        cams[n] = Camera(n, w, h, np.array(e["K"]), np.array(e["dist"]), np.array(e["R"]), np.array(e["t"]))
        if "rms_stereo_px" in e:
            rms.append(e["rms_stereo_px"])
    return cams, seconds, float(np.mean(rms))


def figure_rig_section(seeds: int, dist_model: str) -> None:
    tag = f"[{dist_model}]"
    ours_w: dict[str, float] = {}
    cv_w: dict[str, float] = {}
    t_ours, t_cv, rms_b, rms_a, rms_cv = [], [], [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        truth = sim_rig(FIGURE_RIG)
        poses = random_board_poses(truth, FIGURE_RIG, rng=rng)
        det = simulate_detections(truth, poses, FIGURE_RIG.board, noise_px=0.3, rng=rng)
        dets = detections_as_capture(det, (FIGURE_RIG.width, FIGURE_RIG.height))
        config = cc.CameraCalibrationConfig(reference_camera="front", compare_opencv=False, dist_model=dist_model)
        t0 = time.perf_counter()
        res = cc.calibrate_rig(dets, FIGURE_RIG.board, config=config)
        t_ours.append(time.perf_counter() - t0)
        cv_cams, t, r = opencv_cameras(dets, FIGURE_RIG.board, "front", dist_model)
        t_cv.append(t)
        rms_cv.append(r)
        rms_b.append(res.report["rms_before_px"])
        rms_a.append(res.report["rms_after_px"])
        for acc, cams in ((ours_w, res.cameras), (cv_w, cv_cams)):
            for k, v in worst(rig_errors(cams, truth, reference="front")).items():
                acc[k] = max(acc.get(k, 0.0), v)
    n = f"{seeds} seed(s), worst camera"
    row(f"{tag} focal error % (bound 0.2), {n}; ref OpenCV", ours_w["focal_pct"], cv_w["focal_pct"])
    row(f"{tag} principal point error % (bound 0.2); ref OpenCV", ours_w["pp_pct"], cv_w["pp_pct"])
    row(f"{tag} rotation error deg (bound 0.05); ref OpenCV", ours_w["rotation_deg"], cv_w["rotation_deg"])
    row(f"{tag} camera centre error mm (bound 0.5); ref OpenCV", ours_w["centre_mm"], cv_w["centre_mm"])
    row(f"{tag} RMS after BA px (bound 0.35); ref OpenCV stereo RMS", max(rms_a), max(rms_cv))
    row(f"{tag} RMS after BA px; ref RMS before BA", float(np.mean(rms_a)), float(np.mean(rms_b)))
    row(
        f"{tag} calibration time s (3 cams x 20 poses); ref OpenCV mono+stereo",
        float(np.median(t_ours)),
        float(np.median(t_cv)),
        "{:.3f}",
    )


def jacobian_section() -> None:
    rng = np.random.default_rng(100)
    truth = sim_rig(FIGURE_RIG)
    poses = random_board_poses(truth, FIGURE_RIG, rng=rng)
    det = simulate_detections(truth, poses, FIGURE_RIG.board, noise_px=0.3, rng=rng)
    dets = detections_as_capture(det, (FIGURE_RIG.width, FIGURE_RIG.height))
    config = cc.CameraCalibrationConfig(reference_camera="front", compare_opencv=False)
    d = dets["left"].detections["pose_003"]
    bad = Detection(d.ids, d.corners + np.random.default_rng(1).normal(0, 4.0, d.corners.shape))
    with_outlier = {
        **dets,
        "left": dataclasses.replace(dets["left"], detections={**dets["left"].detections, "pose_003": bad}),
    }
    for tag, capture, loss in (
        ("clean, soft_l1", dets, "soft_l1"),
        ("one 4 px image, soft_l1", with_outlier, "soft_l1"),
        ("one 4 px image, huber", with_outlier, "huber"),
    ):
        init = cc.initialise_rig(capture, FIGURE_RIG.board, config=config)
        kw = dict(fixed_cam=init.fixed, dist_model=config.dist_model, loss=loss, loss_scale_px=config.loss_scale_px)
        sparse = bundle_adjust(init.state, init.obs, jacobian="sparse", **kw)
        dense = bundle_adjust(init.state, init.obs, jacobian="dense", **kw)
        row(f"BA [{tag}] time s, jac_sparsity + LSMR; ref dense + exact steps", sparse.seconds, dense.seconds, "{:.3f}")
        row(f"BA [{tag}] function evaluations, jac_sparsity; ref dense", sparse.iterations, dense.iterations, "{:.0f}")
        row(f"BA [{tag}] final RMS px, jac_sparsity; ref dense", sparse.rms_after_px, dense.rms_after_px, "{:.5f}")


def rendered_section(quick: bool) -> None:
    cfg = SimCalibrationConfig(
        width=800 if quick else 1600, height=600 if quick else 1200, n_poses=8 if quick else 20, chart=False
    )
    rng = np.random.default_rng(5)
    truth = sim_rig(cfg)
    poses = random_board_poses(truth, cfg, rng=rng)
    err = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for name, cam in truth.items():
            for i, pose in enumerate(poses):
                img8 = linear_to_srgb(render_board_image(cam, pose, cfg, rng=rng))
                write_png(Path(tmp) / name / f"pose_{i:03d}.png", img8)
                det = detect_board(np.round(img8 * 255).astype(np.uint8), cfg.board)
                if det is None:
                    continue
                ids, px = project_board(cam, pose, cfg.board)
                tr = dict(zip(ids.tolist(), px, strict=True))
                err += [c - tr[int(j)] for j, c in zip(det.ids, det.corners, strict=True) if int(j) in tr]
        t_render = time.perf_counter() - t0
        config = cc.CameraCalibrationConfig(reference_camera="front")
        t0 = time.perf_counter()
        res = cc.calibrate_cameras(tmp, cfg.board, config=config)
        t_cal = time.perf_counter() - t0
    e = np.array(err)
    tag = f"[rendered {cfg.width}x{cfg.height}, {cfg.n_poses} poses, 8-bit PNG]"
    row(f"{tag} detector corner RMS vs truth px; ref 0.3 px figure noise", float(np.sqrt((e**2).sum(1).mean())), 0.3)
    ours = worst(rig_errors(res.cameras, truth, reference="front"))
    cvrep = res.report["opencv"]["cameras"]
    cv_cams = {
        n: Camera(n, cfg.width, cfg.height, np.array(v["K"]), np.array(v["dist"]), np.array(v["R"]), np.array(v["t"]))
        for n, v in cvrep.items()
    }
    ref = worst(rig_errors(cv_cams, truth, reference="front"))
    row(f"{tag} focal error %; ref OpenCV", ours["focal_pct"], ref["focal_pct"])
    row(f"{tag} principal point error %; ref OpenCV", ours["pp_pct"], ref["pp_pct"])
    row(f"{tag} rotation error deg; ref OpenCV", ours["rotation_deg"], ref["rotation_deg"])
    row(f"{tag} camera centre error mm; ref OpenCV", ours["centre_mm"], ref["centre_mm"])
    stereo = float(np.mean([v["rms_stereo_px"] for v in cvrep.values() if "rms_stereo_px" in v]))
    row(f"{tag} RMS after BA px; ref OpenCV stereo RMS", res.report["rms_after_px"], stereo)
    row(f"{tag} detect + calibrate time s; ref render time", t_cal, t_render, "{:.2f}")


def colour_section() -> None:
    cam = sim_rig(SimCalibrationConfig(width=800, height=600))["left"]
    img = render_chart_image(cam, reference_rec709(), SIM_COLOR_MATRIX, white_level=0.5, rng=np.random.default_rng(2))
    with tempfile.TemporaryDirectory() as tmp:
        write_exr(Path(tmp) / "chart.exr", img)
        t0 = time.perf_counter()
        res = calibrate_colour(
            [Path(tmp) / "chart.exr"], camera="left", config=ColourCalibrationConfig(white_level=0.5)
        )
        seconds = time.perf_counter() - t0
    with_truth = delta_e_2000(res.readings[0].patches @ SIM_COLOR_MATRIX.T / 0.5, res.reference)
    row(
        "colour: mean CIEDE2000 fitted matrix (bound 1.0); ref true matrix",
        float(res.delta_e.mean()),
        float(with_truth.mean()),
        "{:.3f}",
    )
    row(
        "colour: max CIEDE2000 fitted matrix; ref true matrix",
        float(res.delta_e.max()),
        float(with_truth.max()),
        "{:.3f}",
    )
    rel = np.linalg.norm(res.color_matrix - SIM_COLOR_MATRIX) / np.linalg.norm(SIM_COLOR_MATRIX)
    row("colour: matrix relative error (Frobenius)", float(rel), None)
    row("colour: detect + fit time s", seconds, None, "{:.2f}")


def _binned(c: Camera, f: int) -> Camera:
    K = c.K.copy()
    K[0, 0], K[1, 1] = K[0, 0] / f, K[1, 1] / f
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) / f - 0.5, (K[1, 2] + 0.5) / f - 0.5
    return Camera(c.name, c.width // f, c.height // f, K, c.dist, c.R, c.t)


def _sphere_session(root: Path, cams: dict[str, Camera], to_camera_rgb: np.ndarray | None = None) -> Path:
    frames = []
    for name, cam in cams.items():
        view = render_sphere_view(cam, inverses=False, samples=(16, 8))
        for (pat, pol), img in view.frames.items():
            if to_camera_rgb is not None:
                img = (img.reshape(-1, 3) @ to_camera_rgb.T).reshape(img.shape).astype(np.float32)
            rel = f"frames/{name}/{pat}_{pol}.exr"
            write_exr(root / rel, img)
            frames.append(Frame(name, pat, pol, rel, "linear", 1.0))
        for key, img in view.truth.items():
            write_exr(root / "truth" / name / f"{key}.exr", img)
    write_session_json(root, session_json(subject_id="SPHERE", cameras=cams, frames=frames))
    return root


def solver_section() -> None:
    rng = np.random.default_rng(21)
    truth = sim_rig(FIGURE_RIG)
    poses = random_board_poses(truth, FIGURE_RIG, rng=rng)
    det = simulate_detections(truth, poses, FIGURE_RIG.board, noise_px=0.3, rng=rng)
    config = cc.CameraCalibrationConfig(reference_camera="front", compare_opencv=False)
    cal = cc.calibrate_rig(
        detections_as_capture(det, (FIGURE_RIG.width, FIGURE_RIG.height)), FIGURE_RIG.board, config=config
    )
    true_b = {n: _binned(c, 16) for n, c in truth.items()}
    cal_b = {n: _binned(c, 16) for n, c in cal.cameras.items()}
    cam = sim_rig(SimCalibrationConfig(width=800, height=600))["front"]
    chart = render_chart_image(cam, reference_rec709(), SIM_COLOR_MATRIX, white_level=0.5, rng=np.random.default_rng(4))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        true_sess = _sphere_session(t / "true", true_b)
        cal_sess = Path(shutil.copytree(true_sess, t / "cal"))
        apply_rig(RigFile("cal", cal_b), [cal_sess], align=True)
        acc = {}
        for name, sess in (("true", true_sess), ("cal", cal_sess)):
            solve_session(sess, t / f"solved_{name}")
            acc[name] = solve_accuracy(sess, t / f"solved_{name}")["all"]
        a, b = acc["cal"], acc["true"]
        row(
            "solver, calibrated rig: diffuse normal median error deg; ref true rig",
            a.diffuse_normal_deg,
            b.diffuse_normal_deg,
            "{:.4g}",
        )
        row(
            "solver, calibrated rig: specular normal median error deg; ref true rig",
            a.specular_normal_deg,
            b.specular_normal_deg,
            "{:.4g}",
        )
        row(
            "solver, calibrated rig: diffuse albedo median rel error; ref true rig",
            a.diffuse_albedo_rel,
            b.diffuse_albedo_rel,
            "{:.4g}",
        )
        row(
            "solver, calibrated rig: specular albedo median rel error; ref true rig",
            a.specular_albedo_rel,
            b.specular_albedo_rel,
            "{:.4g}",
        )
        row(
            "solver, calibrated rig: roughness median abs error; ref true rig",
            a.roughness_abs,
            b.roughness_abs,
            "{:.4g}",
        )
        write_exr(t / "chart.exr", chart)
        fit = calibrate_colour([t / "chart.exr"], camera="front", config=ColourCalibrationConfig(white_level=0.5))
        front = {"front": true_b["front"]}
        raw = _sphere_session(t / "raw", front, to_camera_rgb=np.linalg.inv(SIM_COLOR_MATRIX))
        apply_rig(RigFile("cal", front), [raw], color_matrix=fit.color_matrix)
        solve_session(raw, t / "solved_fit")
        fitted = solve_accuracy(raw, t / "solved_fit")["all"]
        apply_rig(RigFile("cal", front), [raw], color_matrix=SIM_COLOR_MATRIX)
        solve_session(raw, t / "solved_truem")
        true_m = solve_accuracy(raw, t / "solved_truem")["all"]
        row(
            "solver, fitted colour matrix: diffuse albedo median rel error (bound 0.02); ref true matrix",
            fitted.diffuse_albedo_rel,
            true_m.diffuse_albedo_rel,
            "{:.4g}",
        )


def photos_section(folder: Path, board: str) -> None:
    """Real stereo photos (see the module doc)."""
    import cv2
    from scipy.spatial.transform import Rotation

    from id2reflectance.capture.calibration.board_captures import list_capture
    from id2reflectance.capture.calibration.boards import object_points, parse_board_spec

    spec = parse_board_spec(board)
    listing = list_capture(folder)
    t0 = time.perf_counter()
    res = cc.calibrate_cameras(folder, spec)
    seconds = time.perf_counter() - t0
    rep = res.report
    cv = rep["opencv"]
    names = sorted(res.cameras)
    for n in names:
        c = rep["cameras"][n]
        row(f"photos {n}: poses used / given", c["images"], len(listing[n]), "{:.0f}")
        row(
            f"photos {n}: RMS after BA px (ref: OpenCV calibrateCamera, same corners)",
            c["rms_px"],
            cv["cameras"][n]["rms_mono_px"],
        )
    row("photos: outlier images", len(rep["outliers"]), None, "{:.0f}")
    row("photos: views relabelled", len(rep["relabelled"]), None, "{:.0f}")
    ref, other = cv["reference"], [n for n in names if n != cv["reference"]]
    for n in other:
        e = cv["cameras"][n]
        a, b = res.cameras[ref], res.cameras[n]
        R_rel = b.R @ a.R.T
        t_rel = b.t - R_rel @ a.t
        row(
            f"photos {n}: all-view RMS px (ref: stereoCalibrate, fixed intrinsics, same corners)",
            rep["rms_after_px"],
            e["rms_stereo_px"],
        )
        row(
            f"photos {n}: baseline (units of square_size; ref: stereoCalibrate)",
            float(np.linalg.norm(t_rel)),
            float(np.linalg.norm(e["t"])),
        )
        row(
            f"photos {n}: rotation deg (ref: stereoCalibrate)",
            float(np.degrees(Rotation.from_matrix(R_rel).magnitude())),
            float(np.degrees(Rotation.from_matrix(np.array(e["R"])).magnitude())),
        )
        d = e["ours_minus_opencv"]
        row(f"photos {n}: rig difference from stereoCalibrate, deg", d["rotation_deg"], None)
        row(f"photos {n}: rig difference from stereoCalibrate, % of baseline", d["translation_pct_of_baseline"], None)
    row("photos: calibrate_cameras seconds", seconds, None, "{:.2f}")
    # OpenCV alone: its detector, its corner order, its calibration.
    nx, ny = spec.squares_x - 1, spec.squares_y - 1
    obj = object_points(spec).astype(np.float32)
    found: dict[str, dict[str, np.ndarray]] = {n: {} for n in names}
    size = {}
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    for n in names:
        for pose, path in listing[n].items():
            gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            size[n] = gray.shape[::-1]
            ok, c = cv2.findChessboardCorners(gray, (nx, ny), flags=cv2.CALIB_CB_ADAPTIVE_THRESH)
            if ok:
                found[n][pose] = cv2.cornerSubPix(gray, c, (11, 11), (-1, -1), crit)
    flags = cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST
    own = {}
    for n in names:
        poses = sorted(found[n])
        rms, K, dist, _, _ = cv2.calibrateCamera(
            [obj] * len(poses), [found[n][p] for p in poses], size[n], None, None, flags=flags
        )
        own[n] = (K, dist)
        row(f"OpenCV alone {n}: poses found / given", len(poses), len(listing[n]), "{:.0f}")
        row(f"OpenCV alone {n}: calibrateCamera RMS px (ref: ours after BA)", rms, rep["cameras"][n]["rms_px"])
    for n in other:
        shared = sorted(set(found[ref]) & set(found[n]))
        out = cv2.stereoCalibrate(
            [obj] * len(shared),
            [found[ref][p] for p in shared],
            [found[n][p] for p in shared],
            own[ref][0],
            own[ref][1],
            own[n][0],
            own[n][1],
            size[n],
            flags=flags | cv2.CALIB_USE_INTRINSIC_GUESS,
            criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-10),
        )
        row(f"OpenCV alone {n}: stereoCalibrate RMS px (ref: ours, all views)", out[0], rep["rms_after_px"])
        row(
            f"OpenCV alone {n}: baseline (ref: ours)",
            float(np.linalg.norm(out[6])),
            float(np.linalg.norm(res.cameras[n].t - res.cameras[n].R @ res.cameras[ref].R.T @ res.cameras[ref].t)),
        )


def print_table(t0: float) -> None:
    widths = [max(len(r[i]) for r in [("figure", "value", "reference", "ratio"), *ROWS]) for i in range(4)]
    line = " | ".join
    print(line(h.ljust(w) for h, w in zip(("figure", "value", "reference", "ratio"), widths, strict=True)))
    print(line("-" * w for w in widths))
    for r in ROWS:
        print(line(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\n(total {time.perf_counter() - t0:.0f} s; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 800x600 renders with 8 poses")
    ap.add_argument("--seeds", type=int, default=None, help="seeds of the figure rig (default 5, quick 1)")
    ap.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="only the real-photo section, on this folder of stereo board photos (e.g. $ID2R_STEREO_PHOTOS)",
    )
    ap.add_argument(
        "--board",
        default="type=chessboard,squares_x=10,squares_y=7,square_size=1",
        help="board SPEC of --photos (default: OpenCV's sample chessboard, 9x6 inner corners)",
    )
    args = ap.parse_args()
    seeds = args.seeds or (1 if args.quick else 5)
    t0 = time.perf_counter()
    if args.photos is not None:
        photos_section(args.photos, args.board)
        print_table(t0)
        return
    figure_rig_section(seeds, "k1k2")
    figure_rig_section(seeds, "k1k2p1p2")
    jacobian_section()
    rendered_section(args.quick)
    colour_section()
    solver_section()
    print_table(t0)


if __name__ == "__main__":
    main()
