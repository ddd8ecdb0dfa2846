"""Noise, ambient light and the robust mask end to end: issue 20's figures on small sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.frames import load_camera_frames
from id2reflectance.capture.session import load_session
from id2reflectance.processing.solve import denoise
from id2reflectance.processing.solve.accuracy import solve_accuracy
from id2reflectance.processing.solve.noise import FrameNoise, camera_noise, pattern_noise
from id2reflectance.processing.solve.solver import SolverConfig, solve_session

from .noisy_sessions import ISSUE_NOISE, derive_session, shared_clean, shared_noisy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # painted subjects, where these figures were measured (photo subjects, the default where
    # ../shared holds the photos: figures within the limits too, but the aligner takes one
    # still ambient-lit frame for a rigid motion; bench_solver.py --noise measures them);
    # 128 px, seed 0, shared with test_white_specular (read-only)
    return {
        "clean": shared_clean(tmp_path_factory, 0),
        "noisy": shared_noisy(tmp_path_factory, 0, **ISSUE_NOISE),
        "ambient": shared_noisy(tmp_path_factory, 0, ambient=0.05, backdrop=0.1, **ISSUE_NOISE),
    }


def _mask_figures(session: Path, solved: Path) -> tuple[float, float]:
    """(spill over the background, cover of the head) of the solved mask."""
    m = read_exr(solved / "front" / "mask.exr")[0][..., 0] > 0.5
    t = read_exr(session / "truth" / "front" / "mask.exr")[0][..., 0] > 0.5
    return float((m & ~t).sum() / (~t).sum()), float((m & t).sum() / t.sum())


def test_noise_estimate_matches_the_simulators_sigma(sessions: dict[str, Path]) -> None:
    session = load_session(sessions["noisy"])
    frames = load_camera_frames(session, "front")
    scale = session.frames[0].scale  # stored units -> radiance
    true = FrameNoise(ISSUE_NOISE["noise"] * scale, ISSUE_NOISE["read_noise"] * scale)
    model = pattern_noise(frames.images)  # the camera's model, used by the filter
    assert model is not None
    for level in (0.0, 0.2, 0.5):
        assert model.sigma(level) == pytest.approx(true.sigma(level), rel=0.15), (level, model)
    est = camera_noise(session, "front", frames.images)  # per frame, each from its own image
    assert set(est) == set(frames.images)
    for key, frame_model in est.items():  # texture makes one 128 px frame's estimate rougher
        assert frame_model.source == "image"
        for level in (0.0, 0.2):
            assert 0.6 < frame_model.sigma(level) / true.sigma(level) < 2.0, (key, level, frame_model)


@pytest.mark.parametrize("variant", ["noisy", "ambient"])
def test_noisy_session_meets_the_figures(sessions: dict[str, Path], tmp_path: Path, variant: str) -> None:
    session = sessions[variant]
    out = tmp_path / "solved"
    # the sessions are still: the default alignment (auto) must find no motion in the noise and
    # leave every frame untouched (docs/solve.md section 1b), so these are the denoiser's figures
    report = solve_session(session, out)
    alignment = json.loads((out / "solve.json").read_text())["cameras"]["front"]["alignment"]
    assert alignment["mode"] == "auto" and alignment["skipped"] is None
    assert {f["method"] for f in alignment["frames"]} == {"reference", "none"}
    acc = solve_accuracy(session, out)["all"]
    spill, cover = _mask_figures(session, out)
    assert spill <= 0.01 and cover >= 0.95
    # here: specular normal 1.41-1.43 deg, diffuse normal 0.59-0.60 deg (0.82-0.83 with green plus
    # blue as the denoised direction instead of the SNR-weighted channels; 0.92-0.94 before the
    # polarisations were pooled and the normals made integrable); roughness 0.0226 / 0.0229 with
    # the solved roughness map filtered (radius 2 here, roughness_filter), 0.0262 / 0.0269 without
    assert acc.specular_normal_deg < 2.0
    assert acc.diffuse_albedo_rel < 0.02 and acc.specular_albedo_rel < 0.05
    assert acc.roughness_abs < 0.025
    assert acc.diffuse_normal_deg < 0.8
    noise = json.loads((out / "solve.json").read_text())["cameras"]["front"]["noise"]
    assert noise["radius_diffuse"] >= 1 and noise["radius_specular"] >= 1 and noise["radius_roughness"] == 2
    assert noise["ambient_removed"] is (variant == "ambient")
    r0, r1, c0, c1 = noise["filtered_box"]  # the head's box, not the whole image
    assert 0 <= r0 < r1 <= 128 and 0 <= c0 < c1 <= 128 and (r1 - r0) * (c1 - c0) < 128 * 128
    assert len(noise["frames"]) == 14 and not report.warnings
    # without denoising the same session is much worse (the step is what gives the figures)
    raw = tmp_path / "raw"
    solve_session(session, raw, config=SolverConfig(denoise="none"))
    worse = solve_accuracy(session, raw)["all"]
    assert worse.specular_normal_deg > 1.5 * acc.specular_normal_deg
    assert worse.diffuse_normal_deg > 1.5 * acc.diffuse_normal_deg


def test_clean_session_is_not_blurred(sessions: dict[str, Path], tmp_path: Path) -> None:
    session = sessions["clean"]
    auto, none = tmp_path / "auto", tmp_path / "none"
    solve_session(session, auto)
    solve_session(session, none, config=SolverConfig(denoise="none"))
    noise = json.loads((auto / "solve.json").read_text())["cameras"]["front"]["noise"]
    assert noise["radius_diffuse"] == 0 and noise["radius_specular"] == 0 and noise["radius_roughness"] == 0
    assert noise["filtered_box"] == [None, None, None, None]
    for name in ("diffuse_albedo", "normal_diffuse", "normal_specular", "roughness", "mask"):
        np.testing.assert_array_equal(
            read_exr(auto / "front" / f"{name}.exr")[0], read_exr(none / "front" / f"{name}.exr")[0]
        )
    acc = solve_accuracy(session, auto)["all"]
    assert acc.diffuse_normal_deg < 0.1 and acc.specular_normal_deg < 0.5
    # the still clean session is also untouched by the default alignment: as with --align none
    still = tmp_path / "align_none"
    solve_session(session, still, config=SolverConfig(align="none"))
    for name in ("diffuse_albedo", "normal_diffuse", "normal_specular", "roughness", "mask"):
        np.testing.assert_array_equal(
            read_exr(auto / "front" / f"{name}.exr")[0], read_exr(still / "front" / f"{name}.exr")[0]
        )


def test_confidence_is_written_and_follows_the_noise(sessions: dict[str, Path], tmp_path: Path) -> None:
    conf = {}
    for variant in ("clean", "noisy"):
        solve_session(sessions[variant], tmp_path / variant)
        c = read_exr(tmp_path / variant / "front" / "confidence.exr")[0][..., 0]
        mask = read_exr(tmp_path / variant / "front" / "mask.exr")[0][..., 0] > 0.5
        assert c.dtype == np.float32 and np.all((c >= 0) & (c <= 1)) and np.all(c[~mask] == 0)
        conf[variant] = float(np.median(c[mask]))
    assert conf["clean"] > 0.9 and conf["noisy"] < conf["clean"]


def test_specular_below_the_noise_floor_is_named(sessions: dict[str, Path], tmp_path: Path) -> None:
    """parallel = cross + noise: no specular signal anywhere -> a warning naming the maps."""
    session = derive_session(sessions["clean"], tmp_path / "nospec", masks=True)
    rng = np.random.default_rng(5)
    for f in load_session(session).frames:
        if f.polarization == "parallel":
            cross = read_exr(session / f.file.replace("_parallel", "_cross"))[0]
            write_exr(session / f.file, cross + 0.004 * rng.standard_normal(cross.shape).astype(np.float32))
    report = solve_session(session, tmp_path / "solved")
    named = [w for w in report.warnings if "[specular_below_noise]" in w]
    assert len(named) == 1 and "normal_specular" in named[0] and "roughness" in named[0]
    assert named[0].startswith("front:")


def test_in_place_preparation_equals_the_copying_one(sessions: dict[str, Path]) -> None:
    """``in_place=True`` (the solver's way) writes the same frames into the inputs; the default copies."""
    from id2reflectance.capture.frames import CameraFrames
    from id2reflectance.processing.solve.denoise import prepare_frames

    session = load_session(sessions["ambient"])
    frames = load_camera_frames(session, "front")
    noise = camera_noise(session, "front", frames.images)
    model = pattern_noise(frames.images)
    before = {k: v.copy() for k, v in frames.images.items()}
    copied, prep = prepare_frames(frames, noise, camera_model=model)
    assert prep.radius_diffuse >= 1 and prep.ambient_removed
    for key, img in frames.images.items():  # the inputs are untouched
        np.testing.assert_array_equal(img, before[key])
    own = CameraFrames(frames.camera, {k: v.copy() for k, v in frames.images.items()}, frames.saturated, {})
    inputs = dict(own.images)
    changed, _ = prepare_frames(own, noise, camera_model=model, in_place=True)
    for key, img in changed.images.items():
        assert img is inputs[key]  # written into the caller's arrays
        np.testing.assert_array_equal(img, copied.images[key])
    assert not np.array_equal(changed.images[("gradient_x", "cross")], before[("gradient_x", "cross")])


def test_a_mask_files_window_denoises_only_what_reaches_it(sessions: dict[str, Path]) -> None:
    """With a window (the mask file's box) the filtered box stops where the filters and the integrable
    step's screened solve stop reaching into it: inside the window the frames are the same."""
    from id2reflectance.processing.solve.denoise import prepare_frames

    session = load_session(sessions["noisy"])
    frames = load_camera_frames(session, "front")
    noise = camera_noise(session, "front", frames.images)
    model = pattern_noise(frames.images)
    geometry = (session.cameras["front"], session.rig.lights_to_world)
    whole, prep = prepare_frames(frames, noise, camera_model=model, geometry=geometry)
    rows = prep.roi[0].indices(128)
    window = (slice(rows[0] + 2, rows[0] + 20), slice(50, 80))  # the top of the head
    cut, prep_cut = prepare_frames(frames, noise, camera_model=model, geometry=geometry, window=window)
    assert prep.radius_diffuse >= 1
    r_cut = prep_cut.roi[0].indices(128)
    assert r_cut[1] - r_cut[0] < rows[1] - rows[0]  # fewer rows filtered
    for key, img in whole.images.items():
        np.testing.assert_allclose(cut.images[key][window], img[window], rtol=1e-4, atol=1e-6)
    assert not np.array_equal(whole.images[("gradient_x", "cross")], cut.images[("gradient_x", "cross")])


def test_dark_skinned_noisy_head_meets_the_diffuse_normal_limit(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # painted (photo subject, the default where ../shared holds the photos: 1.05 deg here, at
    # 128 px and UV 128; 0.91 deg at 192 px and UV 256 in bench_solver.py --noise); seed 1,
    # shared with test_scan_normals (read-only)
    noisy = shared_noisy(tmp_path_factory, 1, **ISSUE_NOISE)
    out = tmp_path / "solved"
    solve_session(noisy, out, config=SolverConfig(align="none"))
    acc = solve_accuracy(noisy, out)["all"]
    # here 0.79 deg (192 px, 3 cameras: 0.94); green plus blue alone 1.50 (1.55 at 192 px)
    assert acc.diffuse_normal_deg < 1.0
    # (roughness 0.0253 with the solved roughness map filtered at radius 1 here, 0.0261 without)
    # with the simulator's pixel footprint (box * 0.5 px lens blur) roughness 0.026, specular normal
    # 0.98 deg (noise-free 0.012, 0.18 deg). The noise estimate reads the true noise there (read
    # 0.00105 in corrected units: the stored 0.002 x scale 0.517); before branch noise20 the
    # specular lobe went unfiltered at this noise (5.1 deg per pixel, under the old 5.66 deg
    # threshold): 0.047 and 1.90 deg (docs/solve.md section 1c)
    assert acc.specular_normal_deg < 2.0 and acc.roughness_abs < 0.035
    # the same filter with the solver's green plus blue as the denoised direction misses the limit
    monkeypatch.setattr(denoise, "channel_weights", lambda levels, model: (np.array([0.0, 1.0, 1.0]), 0.02))
    gb = tmp_path / "green_blue"
    solve_session(noisy, gb, config=SolverConfig(align="none"))
    assert solve_accuracy(noisy, gb)["all"].diffuse_normal_deg > 1.3 * acc.diffuse_normal_deg


def _without_inverses(session: Path, out: Path) -> Path:
    """A copy of ``session`` without its inverse patterns (their files and ``session.json`` entries)."""
    import shutil

    shutil.copytree(session, out)
    doc = json.loads((out / "session.json").read_text())
    for f in doc["frames"]:
        if f["pattern"].startswith("inverse_"):
            (out / f["file"]).unlink()
    doc["frames"] = [f for f in doc["frames"] if not f["pattern"].startswith("inverse_")]
    (out / "session.json").write_text(json.dumps(doc))
    return out


def test_noisy_session_without_inverses_meets_the_diffuse_normal_limit(
    sessions: dict[str, Path], tmp_path: Path
) -> None:
    noisy = derive_session(_without_inverses(sessions["clean"], tmp_path / "clean"), tmp_path / "noisy", **ISSUE_NOISE)
    out = tmp_path / "solved"
    solve_session(noisy, out, config=SolverConfig(align="none"))
    acc = solve_accuracy(noisy, out)["all"]
    # here 0.94 deg; 1.10 when the first moment 2 gradient - full was filtered guided by the
    # full-on image alone (its noise taken for that of gradient - inverse: docs/solve.md section 1c)
    assert acc.diffuse_normal_deg < 1.0
    assert acc.specular_normal_deg < 3.0 and acc.roughness_abs < 0.05
    noise = json.loads((out / "solve.json").read_text())["cameras"]["front"]["noise"]
    assert len(noise["frames"]) == 8 and noise["radius_diffuse"] >= 1
    # the normal's noise follows the estimator: 2 gradient - full has 2.5-3x the variance of
    # gradient - inverse on the same frames (the same session with its inverses: here 2.06x the
    # noise, the per-frame models reading some texture as noise, the complementary patterns' not)
    inv = tmp_path / "with_inverses"
    solve_session(sessions["noisy"], inv, config=SolverConfig(align="none"))
    with_inv = json.loads((inv / "solve.json").read_text())["cameras"]["front"]["noise"]
    assert 1.5 < noise["diffuse_noise_deg"] / with_inv["diffuse_noise_deg"] < 2.5


def test_clean_session_without_inverses_is_not_blurred(sessions: dict[str, Path], tmp_path: Path) -> None:
    """Without inverse patterns the noise is read from single frames, which take some of the skin's
    texture for noise (here 0.146 deg of normal noise on the noise-free head): at the with-inverses
    threshold (0.12 deg) the clean capture was filtered at radius 1 (diffuse normal 0.168 deg, over the
    issue's 0.1); radius 1 pays from about 0.2 deg without inverses (denoise_strength)."""
    clean = _without_inverses(sessions["clean"], tmp_path / "clean")
    out = tmp_path / "solved"
    solve_session(clean, out)
    noise = json.loads((out / "solve.json").read_text())["cameras"]["front"]["noise"]
    assert noise["radius_diffuse"] == 0 and noise["diffuse_noise_deg"] > 0.12
    acc = solve_accuracy(clean, out)["all"]
    assert acc.diffuse_normal_deg < 0.1 and acc.specular_normal_deg < 0.5


def test_noise_is_measured_before_the_alignment_resamples(
    sessions: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cv2

    from id2reflectance.processing.solve import align

    session = sessions["noisy"]
    still = tmp_path / "still"
    solve_session(session, still, config=SolverConfig(align="none"))
    real = align.align_camera_frames

    shift = np.float32([[1, 0, 0.5], [0, 1, 0.5]])

    def moved(frames, mask, **kwargs):  # noqa: ANN001, ANN202 - the alignment, then a sub-pixel resampling
        frames, report = real(frames, mask, **kwargs)
        for key, img in frames.images.items():
            if key != ("full", "cross"):  # as the alignment resamples every frame but its reference
                img[...] = cv2.warpAffine(
                    img, shift, img.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
                )
        return frames, report

    monkeypatch.setattr(align, "align_camera_frames", moved)
    resampled = tmp_path / "resampled"
    solve_session(session, resampled, config=SolverConfig(align="none"))
    before = json.loads((still / "solve.json").read_text())["cameras"]["front"]["noise"]
    after = json.loads((resampled / "solve.json").read_text())["cameras"]["front"]["noise"]
    # the sensor's noise, not the resampled frames' (a half-pixel bicubic shift leaves about a third
    # of the high-pass's noise variance): the radii and the models as on the untouched frames
    assert after["cross"] == before["cross"] and after["frames"] == before["frames"]
    assert after["radius_specular"] == before["radius_specular"] >= 1
    # measured on a resampled frame it would be much lower: the step the solver's order avoids
    loaded = load_session(session)
    gx = load_camera_frames(loaded, "front").images[("gradient_x", "cross")]
    shifted = cv2.warpAffine(gx, shift, gx.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    key = ("gradient_x", "cross")
    on, off = (camera_noise(loaded, "front", {key: img})[key] for img in (gx, shifted))
    assert off.sigma(0.2) < 0.8 * on.sigma(0.2)


def test_dark_hair_along_the_silhouette_is_in_the_mask(tmp_path: Path) -> None:
    """Seed 3's head: dark hair (albedo about 0.05 against the skin's 0.2-0.35) along the top and
    sides of the silhouette and at the hairline. The robust mask before (half of the brightest
    5 x 5 neighbour, tested everywhere) dropped it: cover 0.88 here (0.94 at 256 px)."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_subject

    cfg = SimulatorConfig(image_size=128, uv_size=128, cameras=1, seed=3, appearance_source="procedural")
    clean = simulate_subject(tmp_path / "clean", subject_index=0, config=cfg)
    variants = {
        "inverses": derive_session(clean, tmp_path / "noisy", **ISSUE_NOISE),
        "no inverses": derive_session(
            _without_inverses(clean, tmp_path / "clean8"), tmp_path / "noisy8", **ISSUE_NOISE
        ),
    }
    for name, session in variants.items():
        out = tmp_path / f"solved {name}"
        solve_session(session, out, config=SolverConfig(align="none"))
        spill, cover = _mask_figures(session, out)
        assert cover >= 0.95 and spill <= 0.01, (name, cover, spill)
