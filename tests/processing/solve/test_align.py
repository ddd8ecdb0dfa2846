"""Frame alignment (processing/solve/align.py, align_features.py) on synthetic textures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from id2reflectance.capture.frames import CameraFrames
from id2reflectance.errors import CaptureError
from id2reflectance.processing.solve.align import _dis, _residual_flow, _smooth, align_camera_frames, alignment_warnings
from id2reflectance.processing.solve.align_features import Similarity, similarity_inverse, similarity_matrix

SIZE = 160


def _scene(x: np.ndarray, y: np.ndarray, shading: tuple[float, float]) -> np.ndarray:
    """A textured ellipse under a linear shading ramp, (H, W, 3) float32 (analytic: exact at any position)."""
    rng = np.random.default_rng(7)
    k = rng.normal(0.0, 0.3, (40, 2))
    ph = rng.random(40) * 2 * np.pi
    tex = 1.0 + 0.25 * sum(np.cos(k[i, 0] * x + k[i, 1] * y + ph[i]) for i in range(40)) / np.sqrt(40)
    inside = ((x - 80) / 50) ** 2 + ((y - 78) / 62) ** 2 < 1
    ramp = 0.5 + shading[0] * (x - 80) / 100 + shading[1] * (y - 80) / 100
    rgb = tex[..., None] * ramp[..., None] * np.array([0.6, 0.4, 0.3]) * inside[..., None]
    return rgb.astype(np.float32)


def _moved(sim: Similarity, shading: tuple[float, float]) -> np.ndarray:
    """The scene seen after the motion ``sim`` (frame(M x) = scene(x))."""
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    Mi = np.linalg.inv(sim.matrix(SIZE, SIZE))
    return _scene(Mi[0, 0] * xx + Mi[0, 1] * yy + Mi[0, 2], Mi[1, 0] * xx + Mi[1, 1] * yy + Mi[1, 2], shading)


def _frames(motions: dict[tuple[str, str], Similarity]) -> CameraFrames:
    shading = {"full": (0.0, 0.0), "gradient_x": (0.3, 0.0), "gradient_y": (0.0, 0.3), "gradient_z": (-0.1, -0.1)}
    images = {("full", "cross"): _moved(Similarity(0, 0, 0, 1), (0.0, 0.0))}
    for key, sim in motions.items():
        images[key] = _moved(sim, shading[key[0]])
    return CameraFrames("cam0", images, np.zeros((SIZE, SIZE), bool), {})


MOTIONS = {
    ("full", "parallel"): Similarity(1.2, -0.7, 0.3, 1.0),
    ("gradient_x", "cross"): Similarity(-0.9, 0.4, -0.35, 1.0),
    ("gradient_y", "cross"): Similarity(0.3, 1.4, 0.1, 1.0),
    ("gradient_z", "parallel"): Similarity(-1.3, -1.1, 0.0, 1.0),
}


def test_estimated_motion_matches_the_true_motion() -> None:
    frames = _frames(MOTIONS)
    aligned, report = align_camera_frames(frames, None, mode="rigid")
    by_name = {f.frame: f for f in report.frames}
    assert by_name["full_cross"].method == "reference"
    for (p, pol), true in MOTIONS.items():
        est = by_name[f"{p}_{pol}"]
        assert est.method == "rigid"
        assert est.motion.tx == pytest.approx(true.tx, abs=0.05)
        assert est.motion.ty == pytest.approx(true.ty, abs=0.05)
        assert est.motion.rotation_deg == pytest.approx(true.rotation_deg, abs=0.15)
        assert est.motion.scale == pytest.approx(1.0, abs=3e-3)
        # displacement error at the face's pixels (the figure that matters): median < 0.1 px
        yy, xx = np.nonzero(
            ((np.mgrid[:SIZE, :SIZE][1] - 80) / 50) ** 2 + ((np.mgrid[:SIZE, :SIZE][0] - 78) / 62) ** 2 < 1
        )
        pts = np.stack([xx, yy, np.ones_like(xx)]).astype(np.float64)
        diff = (est.motion.matrix(SIZE, SIZE) - true.matrix(SIZE, SIZE))[:2] @ pts
        assert np.median(np.hypot(*diff)) < 0.1
        assert est.ncc > 0.9
    # the aligned frame matches the unmoved scene inside the face
    still = _scene(*np.mgrid[:SIZE, :SIZE][::-1].astype(np.float64), (0.0, 0.0))
    inner = np.zeros((SIZE, SIZE), bool)
    inner[50:110, 50:110] = True
    err = np.abs(aligned.images[("full", "parallel")] - still)[inner]
    assert np.median(err) < 0.01 * np.median(still[inner])
    assert frames.images[("full", "parallel")] is not aligned.images[("full", "parallel")]
    # no NaN reaches the solve: pixels whose source is outside a frame are excluded as saturated
    assert all(np.isfinite(img).all() for img in aligned.images.values())
    assert aligned.saturated[:, -1].all() and aligned.saturated[:, 0].all()  # tx = 1.2 and -1.3
    assert not aligned.saturated[40:120, 40:120].any()


def test_align_none_and_still_frames_are_untouched() -> None:
    frames = _frames({("gradient_x", "cross"): Similarity(0, 0, 0, 1), ("full", "parallel"): Similarity(0, 0, 0, 1)})
    same, report = align_camera_frames(frames, None, mode="none")
    assert same is frames and report.frames == []
    aligned, report = align_camera_frames(frames, None, mode="rigid")
    for key, img in frames.images.items():
        assert aligned.images[key] is img  # not resampled: bit-identical
    assert {f.method for f in report.frames} == {"reference", "none"}
    # a frame left as decoded has no residual flow measured, unless the flow mode applies it
    assert all(f.residual_px is None for f in report.frames if f.method == "none")
    _, report = align_camera_frames(frames, None, mode="flow")
    assert all(f.residual_px is not None for f in report.frames)


def test_unalignable_frame_names_the_file() -> None:
    frames = _frames({("gradient_x", "cross"): Similarity(0.5, 0.5, 0, 1)})
    rng = np.random.default_rng(3)
    frames.images[("gradient_y", "cross")] = rng.random((SIZE, SIZE, 3)).astype(np.float32)  # another scene
    with pytest.raises(CaptureError, match="frames/cam0/gradient_y_cross.exr: cannot align"):
        align_camera_frames(
            frames, None, mode="rigid", files={("gradient_y", "cross"): "frames/cam0/gradient_y_cross.exr"}
        )


def test_face_out_of_frame_is_refused() -> None:
    frames = _frames({("gradient_x", "cross"): Similarity(60.0, 0.0, 0.0, 1.0)})
    with pytest.raises(CaptureError, match="gradient_x_cross"):
        align_camera_frames(frames, None, mode="rigid")


def test_warning_past_the_limit() -> None:
    frames = _frames({("gradient_x", "cross"): Similarity(2.5, 0.0, 0.0, 1.0)})
    _, report = align_camera_frames(frames, None, mode="rigid")
    warnings = alignment_warnings("cam0", report, warn_px=1.0, flow_px=2.0)
    assert len(warnings) == 1 and "gradient_x_cross moved 2.5" in warnings[0]
    assert alignment_warnings("cam0", report, warn_px=5.0, flow_px=2.0) == []


def test_a_refused_motion_is_named_in_a_warning() -> None:
    """A significant fitted motion that explains too little of the mismatch is not applied; the
    frame, the motion and the reason are in a ``[motion_refused]`` warning and in its report."""
    from id2reflectance.processing.solve.align import CameraAlignment, FrameAlignment

    refused = FrameAlignment(
        "gradient_x_cross",
        "frames/cam0/gradient_x_cross.exr",
        Similarity(0.8, -0.3, 0.1, 1.0),
        0.85,
        0.2,
        0.9,
        "none",
        sigma_px=0.05,
        explained=0.04,
        refused=True,
    )
    still = FrameAlignment("gradient_y_cross", "g.exr", Similarity(0.02, 0, 0, 1.0), 0.02, 0.1, 0.9, "none", 0.05)
    report = CameraAlignment(mode="auto", frames=[refused, still])
    warnings = alignment_warnings("cam0", report, warn_px=5.0, flow_px=0.5)
    assert len(warnings) == 1
    w = warnings[0]
    assert w.startswith("cam0: [motion_refused] frame frames/cam0/gradient_x_cross.exr")
    assert "0.85 px" in w and "tx +0.80" in w and "ty -0.30" in w and "17 standard deviations" in w
    assert "only 4%" in w and ">= 12%" in w and "used as decoded" in w
    assert report.to_json()["frames"][0]["refused"] is True and report.to_json()["frames"][1]["refused"] is False
    # a refused motion past align_warn_px is named once, as refused (it was not applied)
    assert len(alignment_warnings("cam0", report, warn_px=0.5, flow_px=0.5)) == 1


def test_similarity_round_trip() -> None:
    s = Similarity(1.5, -2.0, 0.7, 1.01)
    back = Similarity.from_matrix(s.matrix(200, 100), 200, 100)
    assert back.tx == pytest.approx(1.5) and back.ty == pytest.approx(-2.0)
    assert back.rotation_deg == pytest.approx(0.7) and back.scale == pytest.approx(1.01)
    M = cv2.invertAffineTransform(s.matrix(200, 100)[:2])
    assert M.shape == (2, 3)


def test_the_closed_form_inverse_of_an_update_is_its_matrix_inverse() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.normal(0.0, 0.05, 2)
        tx, ty = rng.normal(0.0, 3.0, 2)
        cx, cy = rng.uniform(0.0, 600.0, 2)
        inv = similarity_inverse(a, b, tx, ty, cx, cy)
        np.testing.assert_allclose(inv, np.linalg.inv(similarity_matrix(a, b, tx, ty, cx, cy)), rtol=0, atol=1e-12)


def test_a_tiny_face_is_not_aligned() -> None:
    small = CameraFrames(
        "cam0",
        {k: np.ascontiguousarray(v[::4, ::4]) for k, v in _frames(MOTIONS).images.items()},
        np.zeros((SIZE // 4, SIZE // 4), bool),
        {},
    )
    same, report = align_camera_frames(small, None, mode="auto")
    assert same is small and report.frames == [] and "too small to align" in report.skipped
    assert report.to_json()["skipped"] == report.skipped


def test_compiled_sums_match_numpy_bilinear_sampling() -> None:
    from id2reflectance.processing.solve.align_kernel import match_sums

    rng = np.random.default_rng(1)
    img = rng.random((30, 40)).astype(np.float32)
    pts = (rng.random((500, 2)) * [44, 34] - 2).astype(np.float32)  # some outside the image
    tmpl = rng.random(500).astype(np.float32)
    sd = rng.random((500, 4)).astype(np.float32)
    M = Similarity(0.3, -0.2, 1.0, 1.01).matrix(40, 30)
    q = np.c_[pts, np.ones(500)] @ M[:2].T
    ok = (q[:, 0] >= 0) & (q[:, 1] >= 0) & (q[:, 0] <= 39) & (q[:, 1] <= 29)
    v = cv2.remap(img, *[c.astype(np.float32) for c in q.T], cv2.INTER_LINEAR)[:, 0]  # 1/32 px weights
    s = match_sums(img, pts, M, tmpl, sd)
    assert s[0] == ok.sum()
    assert s[1] == pytest.approx(v[ok].sum(), rel=2e-3)
    assert s[3] == pytest.approx((v * tmpl)[ok].sum(), rel=2e-3)
    assert s[5] == pytest.approx((tmpl[ok] ** 2).sum(), rel=1e-6)
    np.testing.assert_allclose(s[6:10], sd[ok].T.astype(np.float64) @ v[ok], rtol=2e-3)
    np.testing.assert_allclose(s[14:18], sd[ok].sum(axis=0), rtol=1e-5)


def test_compiled_steepest_descent_matches_numpy() -> None:
    from id2reflectance.processing.solve.align_kernel import steepest_descent

    rng = np.random.default_rng(2)
    T = rng.random((30, 40)).astype(np.float32)
    ys, xs = np.nonzero(rng.random((30, 40)) < 0.3)
    keep = (ys > 0) & (ys < 29) & (xs > 0) & (xs < 39)
    ys, xs = ys[keep], xs[keep]
    cx, cy = 19.5, 14.5
    pts, sd, tmpl, H = steepest_descent(T, ys, xs, cx, cy)
    tx = 0.5 * (T[ys, xs + 1] - T[ys, xs - 1])
    ty = 0.5 * (T[ys + 1, xs] - T[ys - 1, xs])
    X, Y = (xs - cx).astype(np.float32), (ys - cy).astype(np.float32)
    ref = np.stack([tx * X + ty * Y, ty * X - tx * Y, tx, ty], axis=1)
    np.testing.assert_allclose(sd, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pts, np.stack([xs, ys], axis=1).astype(np.float32))
    np.testing.assert_array_equal(tmpl, T[ys, xs])
    np.testing.assert_allclose(H, ref.T.astype(np.float64) @ ref.astype(np.float64), rtol=1e-5)


def test_a_fit_stopped_at_level_one_is_a_first_estimate() -> None:
    from id2reflectance.processing.solve.align_features import (
        fit_similarity,
        frame_features,
        pyramid,
        reference_pyramid,
        sample_points,
    )

    true = Similarity(1.1, -0.6, 0.2, 1.0)
    ref = frame_features(_moved(Similarity(0, 0, 0, 1), (0.0, 0.0)), eps=0.01)
    frame = pyramid(frame_features(_moved(true, (0.0, 0.0)), eps=0.01), 3)
    face = np.zeros((SIZE, SIZE), bool)
    face[40:120, 45:115] = True
    rp = reference_pyramid(ref, sample_points(face, levels=3, max_samples=1 << 16))
    full, _ = fit_similarity(rp, frame)
    coarse, ncc = fit_similarity(rp, frame, finest=1)
    ys, xs = np.nonzero(face)
    pts = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)

    def error(M: np.ndarray) -> float:  # median displacement error over the face (pixels)
        return float(np.median(np.hypot(*((M - true.matrix(SIZE, SIZE))[:2] @ pts))))

    assert error(full) < 0.05  # the finest level
    assert error(coarse) < 0.3 and ncc > 0.9  # level 1's estimate, in level 0's pixels


def _noisy(frames: CameraFrames, sigma: float, seed: int) -> CameraFrames:
    rng = np.random.default_rng(seed)
    images = {
        k: v if k == ("full", "cross") else v + rng.normal(0, sigma, v.shape).astype(np.float32)
        for k, v in frames.images.items()
    }
    return CameraFrames(frames.camera, images, frames.saturated, {})


def test_noise_is_not_taken_for_motion() -> None:
    """A still, noisy session keeps every frame untouched; the same noise on moved frames does not hide the motion."""
    still = {k: Similarity(0, 0, 0, 1) for k in MOTIONS}
    for seed in range(3):
        _, report = align_camera_frames(_noisy(_frames(still), 0.03, seed), None, mode="auto")
        moved = {f.frame: f for f in report.frames}
        assert {f.method for f in report.frames} == {"reference", "none"}, moved
        assert all(f.displacement_px < 3 * f.sigma_px or f.displacement_px < 0.1 for f in report.frames)
    _, report = align_camera_frames(_noisy(_frames(MOTIONS), 0.03, 0), None, mode="auto")
    by_name = {f.frame: f for f in report.frames}
    for (p, pol), true in MOTIONS.items():
        est = by_name[f"{p}_{pol}"]
        assert est.method == "rigid" and 0 < est.sigma_px < 0.5  # at the face's corners: above the centre's
        assert est.motion.tx == pytest.approx(true.tx, abs=max(0.1, 3 * est.sigma_px))


def test_a_moved_frame_is_resampled_around_the_face_only() -> None:
    from id2reflectance.processing.solve.align_resample import warp_face as _warp_face

    from .test_align_cubic import exact_bicubic

    img = cv2.GaussianBlur(np.random.default_rng(2).random((100, 120, 3)).astype(np.float32), (0, 0), 2.0)
    M = Similarity(0.7, -0.4, 0.3, 1.0).matrix(120, 100)
    full = exact_bicubic(img, M)
    out = _warp_face(img, M, (40.0, 30.0, 60.0, 50.0), margin=5.0)
    # box + margin: the bicubic (separable passes: within 1e-4 of the 2-D cubic at this rotation)
    np.testing.assert_allclose(out[25:56, 35:66], full[25:56, 35:66], atol=1e-4)
    np.testing.assert_array_equal(out[:20], img[:20])  # beyond: as it was
    np.testing.assert_array_equal(out[:, 70:], img[:, 70:])
    np.testing.assert_allclose(_warp_face(img, M, (0.0, 0.0, 119.0, 99.0), margin=5.0), full, atol=1e-4)


def test_the_in_place_resampling_matches_a_new_array() -> None:
    """In place (bands of rows written into the frame one band late, so later bands read decoded rows) the
    resampling gives what it gives into a new array, over several bands and either direction."""
    from id2reflectance.processing.solve.align_resample import BAND_ROWS, warp_face

    h, w = 2 * BAND_ROWS + 70, 150
    img = cv2.GaussianBlur(np.random.default_rng(4).random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    for sim in (Similarity(0.7, -3.4, 0.3, 1.0), Similarity(-1.2, 6.5, -1.5, 1.01), Similarity(0.2, 0.1, 0.4, 0.99)):
        M = sim.matrix(w, h)
        for box in ((30.0, 20.0, 110.0, h - 30.0), (0.0, 0.0, w - 1.0, h - 1.0)):
            frame = img.copy()
            out = warp_face(frame, M, box, margin=5.0, in_place=True)
            assert out is frame
            np.testing.assert_array_equal(out, warp_face(img, M, box, margin=5.0))


@pytest.mark.slow
def test_large_frames_are_aligned_at_a_working_resolution() -> None:
    """A 1440 px face is fitted on frames box-averaged by 2; the motion comes back in camera pixels."""
    size, rng = 1600, np.random.default_rng(11)
    k = rng.normal(0.0, 0.15, (24, 2))
    ph = rng.random(24) * 2 * np.pi

    def scene(x: np.ndarray, y: np.ndarray, shade: float) -> np.ndarray:
        tex = 1.0 + 0.25 * sum(np.cos(k[i, 0] * x + k[i, 1] * y + ph[i]) for i in range(24)) / np.sqrt(24)
        inside = ((x - 800) / 720) ** 2 + ((y - 800) / 740) ** 2 < 1
        ramp = 0.5 + shade * (x - 800) / 1600
        return (tex * ramp * inside).astype(np.float32)[..., None] * np.array([0.6, 0.4, 0.3], np.float32)

    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    images = {("full", "cross"): scene(xx, yy, 0.0)}
    truth = {
        ("gradient_x", "cross"): Similarity(1.3, -0.6, 0.2, 1.0),
        ("full", "parallel"): Similarity(-0.8, 1.1, 0.0, 1.0),
    }
    for key, sim in truth.items():
        Mi = np.linalg.inv(sim.matrix(size, size)).astype(np.float32)
        mx, my = Mi[0, 0] * xx + Mi[0, 1] * yy + Mi[0, 2], Mi[1, 0] * xx + Mi[1, 1] * yy + Mi[1, 2]
        images[key] = scene(mx, my, 0.3 if key[0] == "gradient_x" else 0.0)
    del xx, yy
    frames = CameraFrames("cam0", images, np.zeros((size, size), bool), {})
    _, report = align_camera_frames(frames, None, mode="rigid", workers=2)
    assert report.work_scale == 2
    by_name = {f.frame: f for f in report.frames}
    for (p, pol), true in truth.items():
        est = by_name[f"{p}_{pol}"]
        assert est.method == "rigid"
        diff = est.motion.matrix(size, size) - true.matrix(size, size)
        corners = np.array([[80.0, 60.0, 1.0], [1520.0, 60.0, 1.0], [80.0, 1540.0, 1.0], [1520.0, 1540.0, 1.0]])
        assert np.abs(corners @ diff[:2].T).max() < 0.15, (est, true)


def test_a_still_textureless_sphere_is_left_untouched() -> None:
    """Issue 20: the analytic sphere (smooth, no texture, no inverse patterns) rendered at 256 px and
    enlarged to 512 px. Its shading differs between patterns, which the fit used to take for 0.2-1 px
    of motion on every gradient frame (and the dense flow on the cross-polarised ones); then for
    0.16-0.22 px that the explained-fraction test refused. Matched to the full-on frame times their
    smoothed lighting ratio (align_refine.ratio_template), the cross gradients' fitted motions are
    within the fit's precision: every frame is the decoded one, none refused."""
    from id2reflectance.capture.simulator.analytic import render_sphere_view, sphere_camera

    view = render_sphere_view(sphere_camera("cam0", 256), inverses=False, samples=(32, 8))
    images = {k: cv2.resize(v, (512, 512), interpolation=cv2.INTER_LINEAR) for k, v in view.frames.items()}
    frames = CameraFrames("cam0", images, np.zeros((512, 512), bool), {})
    aligned, report = align_camera_frames(frames, None, mode="auto")
    assert {f.method for f in report.frames} == {"reference", "none"}, [(f.frame, f.method) for f in report.frames]
    assert all(aligned.images[k] is images[k] for k in images)
    assert all(f.explained < 0.1 for f in report.frames)
    assert not aligned.saturated.any()
    # the cross gradients' lighting is no longer fitted as motion (measured 0.01-0.06 px, under 3 sigma)
    cross = [f for f in report.frames if f.frame.startswith("gradient") and f.frame.endswith("cross")]
    assert len(cross) == 3 and all(f.displacement_px < 0.1 for f in cross), [
        (f.frame, f.displacement_px) for f in cross
    ]
    assert not any(f.refused for f in report.frames)
    assert alignment_warnings("cam0", report, warn_px=5.0, flow_px=0.5) == []


def test_a_small_face_is_aligned_on_its_window_of_the_frames() -> None:
    """The motion is estimated on the face's window (align_work.face_window) of a frame much larger
    than the face: the same motions as on the face's own frames, in the large frame's pixels; the
    resampling covers only the face's box, the rest of the frame stays as decoded."""
    from id2reflectance.processing.solve.align import _working_frame

    big, (ox, oy) = 480, (230, 150)
    small = _frames(MOTIONS)
    images = {}
    for key, img in small.images.items():
        canvas = np.zeros((big, big, 3), np.float32)
        canvas[oy : oy + SIZE, ox : ox + SIZE] = img
        images[key] = canvas
    f, window = _working_frame(images[("full", "cross")], None)
    assert f == 1 and window != (0, 0, big, big) and (window[2] - window[0]) * (window[3] - window[1]) < 0.5 * big**2
    _, own = align_camera_frames(small, None, mode="rigid")
    frames = CameraFrames("cam0", {k: v.copy() for k, v in images.items()}, np.zeros((big, big), bool), {})
    aligned, report = align_camera_frames(frames, None, mode="rigid")
    T = np.array([[1.0, 0.0, ox], [0.0, 1.0, oy], [0.0, 0.0, 1.0]])
    for a, b in zip(own.frames, report.frames, strict=True):
        assert a.frame == b.frame and a.method == b.method
        expected = T @ a.motion.matrix(SIZE, SIZE) @ np.linalg.inv(T)
        corners = np.array([[ox, oy, 1.0], [ox + SIZE, oy, 1.0], [ox, oy + SIZE, 1.0], [ox + SIZE, oy + SIZE, 1.0]])
        assert np.abs(corners @ (b.motion.matrix(big, big) - expected)[:2].T).max() < 0.02, (a, b)
    for key in MOTIONS:  # outside the face's box grown by its margin: as decoded
        np.testing.assert_array_equal(aligned.images[key][:, : window[0]], images[key][:, : window[0]])
        np.testing.assert_array_equal(aligned.images[key][: window[1]], images[key][: window[1]])
    # the dense flow (``flow``) is placed at the window too: inside the face the same frames as unwindowed
    own_frames, _ = align_camera_frames(small, None, mode="flow")
    frames = CameraFrames("cam0", {k: v.copy() for k, v in images.items()}, np.zeros((big, big), bool), {})
    aligned, report = align_camera_frames(frames, None, mode="flow")
    assert {f.method for f in report.frames} == {"reference", "flow"}
    for key in MOTIONS:
        inside = aligned.images[key][oy + 50 : oy + 110, ox + 50 : ox + 110]
        np.testing.assert_allclose(inside, own_frames.images[key][50:110, 50:110], atol=5e-3)


def test_a_frame_matching_its_template_is_never_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Noise-free frames: a still frame matches its lighting-matched template to float32 rounding, so
    its noise-based precision is about 0 and a tiny fitted bias read as many standard deviations that
    explained an absurd share of a mismatch of ~1e-12 (seen: "-18910273850 %"): a ``[motion_refused]``
    false alarm. The frame has nothing a motion could explain: it stays still, without a warning."""
    import id2reflectance.processing.solve.align as align

    frames = _frames({("full", "parallel"): Similarity(0, 0, 0, 1), ("gradient_x", "cross"): Similarity(0, 0, 0, 1)})
    # the parallel frame is its cross twin to float32 rounding (no specular light on this scene)
    jitter = np.random.default_rng(5).normal(0.0, 1e-7, (SIZE, SIZE, 3)).astype(np.float32)
    frames.images[("full", "parallel")] = frames.images[("full", "parallel")] * (1 + jitter)
    bias = np.array([[1.0, 0.0, 0.15], [0.0, 1.0, -0.05], [0.0, 0.0, 1.0]])  # a fitted bias of 0.16 px
    real = align.refine_motions

    def biased(*args, **kwargs):
        motions, refused = real(*args, **kwargs)
        return {**motions, ("full", "parallel"): bias}, refused

    monkeypatch.setattr(align, "refine_motions", biased)
    aligned, report = align_camera_frames(frames, None, mode="auto")
    fa = {f.frame: f for f in report.frames}["full_parallel"]
    assert fa.method == "none" and not fa.refused
    assert aligned.images[("full", "parallel")] is frames.images[("full", "parallel")]
    assert alignment_warnings("cam0", report, warn_px=5.0, flow_px=0.5) == []
    assert -1.0 <= fa.explained <= 1.0 and fa.sigma_px > 0.0


def test_a_refused_motion_prints_a_sane_share() -> None:
    """A near-zero precision prints sanely (no astronomic count of standard deviations); a motion
    that fits worse than none (explained below 0, as on the frames of a noisy still capture) is
    kept in the report as refused but is no warning: the frame's features say it is still."""
    from id2reflectance.processing.solve.align import CameraAlignment, FrameAlignment

    def frame(explained: float) -> FrameAlignment:
        return FrameAlignment(
            "gradient_x_cross", "g.exr", Similarity(0.15, 0, 0, 1.0), 0.15, None, 0.99, "none", 1e-12, explained, True
        )

    (w,) = alignment_warnings("cam0", CameraAlignment(mode="auto", frames=[frame(0.05)]), warn_px=5.0, flow_px=0.5)
    assert "[motion_refused]" in w and "only 5% of" in w
    assert "e+" not in w
    n_sd = int(w.split(" standard deviations")[0].rsplit(" ", 1)[1].replace(">", ""))
    assert n_sd <= 1000
    worse = CameraAlignment(mode="auto", frames=[frame(-1.9e8)])
    assert alignment_warnings("cam0", worse, warn_px=5.0, flow_px=0.5) == []
    assert worse.to_json()["frames"][0]["refused"] is True


@pytest.mark.parametrize("in_place", [False, True])
def test_the_flow_is_resampled_in_bands_around_the_face(in_place: bool) -> None:
    """``remap_with_flow`` over the face's box in bands of rows (in place: each band written one band late)
    gives the frame-wide dense maps' resampling inside the box; beyond the box the frame stays as decoded."""
    from id2reflectance.processing.solve.align_resample import BAND_ROWS, remap_with_flow

    h, w, scale = 2 * BAND_ROWS + 90, 200, 2
    rng = np.random.default_rng(6)
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    region = np.zeros((h // scale, w // scale), bool)
    region[30:140, 20:80] = True
    flow = cv2.GaussianBlur(rng.normal(0.0, 3.0, (h // scale, w // scale, 2)).astype(np.float32), (0, 0), 6.0)
    M = Similarity(1.3, -2.1, 0.4, 1.004).matrix(w, h)
    # the definition: dense maps over the whole frame (the flow enlarged bilinearly, weighted to the face)
    weight = cv2.GaussianBlur(
        (cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0).astype(np.float32), (0, 0), 3.0
    )
    f = (
        cv2.resize(cv2.GaussianBlur(flow, (0, 0), 1.5) * weight[..., None], (w, h), interpolation=cv2.INTER_LINEAR)
        * scale
    )
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    px, py = xs + f[..., 0], ys + f[..., 1]
    mx = (M[0, 0] * px + M[0, 1] * py + M[0, 2]).astype(np.float32)
    my = (M[1, 0] * px + M[1, 1] * py + M[1, 2]).astype(np.float32)
    full = cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    box = (40.0, 60.0, 160.0, 280.0)
    frame = img.copy()
    out = remap_with_flow(frame, M, flow, region, scale, box=box, margin=10.0, in_place=in_place)
    assert (out is frame) == in_place
    np.testing.assert_allclose(out[50:291, 30:171], full[50:291, 30:171], atol=2e-3)  # OpenCV's 1/32 px
    np.testing.assert_array_equal(out[:49], img[:49])
    np.testing.assert_array_equal(out[:, 172:], img[:, 172:])


def test_a_pair_adding_up_to_the_full_frame_unmoved_is_still() -> None:
    """Noise-free frames with inverse patterns: ``gradient_y + inverse_y`` is the full-on frame exactly
    when neither moved. ``align_refine.pair_still`` tells that from the frames alone (not from the
    two frames' estimates, which on noise-free renders of photo-textured skin carried the pattern's
    shading as opposite shifts of 0.12-0.16 px, and both frames were resampled): true for the still
    pair, false once one frame of it moved by 0.3 px, and the whole alignment leaves the still
    frames as decoded."""
    from id2reflectance.processing.solve.align import _working_frame
    from id2reflectance.processing.solve.align_features import sample_points
    from id2reflectance.processing.solve.align_refine import build_cache, frame_planes, pair_still

    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    full = _scene(xx, yy, (0.0, 0.0))
    w = (0.5 + 0.4 * (yy - 80) / 100).astype(np.float32)[..., None]
    still = {("full", "cross"): full, ("gradient_y", "cross"): full * w, ("inverse_y", "cross"): full - full * w}
    moved = dict(still)
    moved[("gradient_y", "cross")] = _moved(Similarity(0.0, 0.3, 0.0, 1.0), (0.0, 0.0)) * w
    face = full.sum(-1) > 0
    points = sample_points(face, levels=2, max_samples=4000)
    with ThreadPoolExecutor(1) as pool:
        for images, expected in ((still, True), (moved, False)):
            f, _ = _working_frame(full, None)
            assert f == 1
            lum, opp = frame_planes(images, 1, pool=pool)
            cache = build_cache(
                lum, opp, eps=0.05 * float(np.median(lum[("full", "cross")][face])), levels=2, inverses=True, pool=pool
            )
            for key in (("gradient_y", "cross"), ("inverse_y", "cross")):
                assert pair_still(key, cache, points) is expected, (key, expected)
    frames = CameraFrames("cam0", still, np.zeros((SIZE, SIZE), bool), {})
    aligned, report = align_camera_frames(frames, None, mode="auto")
    assert {f.method for f in report.frames} == {"reference", "none"}
    assert all(aligned.images[k] is still[k] for k in still) and not any(f.refused for f in report.frames)


def test_a_moved_frame_keeps_the_scenes_detail() -> None:
    """A frame moved by a sub-pixel similarity and resampled through its true motion as the alignment
    resamples it in a session without inverse patterns (the interpolating cubic spline) matches the
    scene seen unmoved; Keys' cubic (before, and still with inverse patterns) blurred it by as much as
    the sub-pixel shift takes, which without inverse patterns went into the normals (``2 gradient -
    full``)."""
    from id2reflectance.processing.solve.align import BOX_MARGIN, resample_spline
    from id2reflectance.processing.solve.align_resample import warp_face

    assert resample_spline(inverses=False) and not resample_spline(inverses=True)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    inner = ((xx - 80) / 42) ** 2 + ((yy - 78) / 54) ** 2 < 1  # away from the ellipse's edge
    reference = _scene(xx, yy, (0.0, 0.0))
    errors = {}
    for sim in (Similarity(0.5, -0.5, 0.0, 1.0), Similarity(-0.9, 0.4, -0.35, 1.0), Similarity(1.3, 0.7, 0.4, 1.0)):
        moved = _moved(sim, (0.0, 0.0))
        M = sim.matrix(SIZE, SIZE)
        for spline in (True, False):
            out = warp_face(moved.copy(), M, (20.0, 10.0, 140.0, 150.0), margin=BOX_MARGIN, spline=spline)
            errors[spline] = max(errors.get(spline, 0.0), float(np.sqrt(np.mean((out - reference)[inner] ** 2))))
    # the texture's amplitude is about 0.25 x 0.5 x 0.6: Keys' loses about 2 % of it at half a pixel
    assert errors[True] < 0.35 * errors[False]
    assert errors[True] < 1e-3


@pytest.mark.parametrize("sigma", [3.0, 6.25, 10.7])
def test_the_residual_flows_smoothing_is_the_gaussian(sigma: float) -> None:
    """The normalised smoothing of a residual flow inside the face, on the halved grid for wide
    Gaussians, against the Gaussian itself: within 2e-3 of the flow's size (its rms) at the face's edge,
    3e-4 rms."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:256, :256]
    inside = ((((xx - 128) / 100.0) ** 2 + ((yy - 128) / 110.0) ** 2) < 1).astype(np.float32)
    flow = 20.0 * cv2.GaussianBlur(rng.normal(0.0, 1.0, (256, 256, 2)).astype(np.float32), (0, 0), 3.0)
    exact = cv2.GaussianBlur(flow * inside[..., None], (0, 0), sigma)
    exact /= np.maximum(cv2.GaussianBlur(inside, (0, 0), sigma), 1e-3)[..., None]
    smoothed = _smooth(flow * inside[..., None], sigma) / np.maximum(_smooth(inside, sigma), 1e-3)[..., None]
    face = inside > 0.5
    size = np.sqrt(np.mean(exact[face] ** 2))
    diff = np.abs(smoothed - exact)[face]
    assert diff.max() < 2e-3 * size and np.sqrt(np.mean(diff**2)) < 3e-4 * size, (diff.max(), size)


def test_the_residual_flow_is_the_same_from_a_kept_flow_instance() -> None:
    """One DIS instance per thread (``_dis``), kept between frames: each flow is the one a new instance
    computes, bit for bit, whatever it computed before (on other images, of another size), and another
    thread gets its own instance."""
    rng = np.random.default_rng(12)
    region = np.zeros((200, 200), bool)
    region[30:170, 40:160] = True
    pairs = []
    for seed in range(3):
        t = cv2.GaussianBlur(rng.normal(0.0, 1.0, (200, 200)).astype(np.float32), (0, 0), 1.5)
        f = np.roll(t, (seed, 1 - seed), axis=(0, 1)) + 0.05 * rng.normal(0.0, 1.0, (200, 200)).astype(np.float32)
        pairs.append((t, [f, cv2.pyrDown(f)]))
    first = [_residual_flow(t, pyr, np.eye(3), region) for t, pyr in pairs]
    _residual_flow(
        cv2.resize(pairs[0][0], (96, 96)), [cv2.resize(pairs[0][1][0], (96, 96))], np.eye(3), region[::2, ::2][:96, :96]
    )
    for (t, pyr), (flow, face) in zip(reversed(pairs), reversed(first), strict=True):
        again, face2 = _residual_flow(t, pyr, np.eye(3), region)
        np.testing.assert_array_equal(again, flow)
        np.testing.assert_array_equal(face2, face)
    assert _dis() is _dis() and not np.array_equal(first[0][0], first[1][0])
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(_dis).result() is not _dis()
    # a new instance's flow of the same 8-bit images: the kept one's
    a, b = (np.clip(128.0 + 40.0 * x, 0, 255).astype(np.uint8) for x in (pairs[1][0], pairs[1][1][0]))
    fresh = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    np.testing.assert_array_equal(_dis().calc(a, b, None), fresh)
