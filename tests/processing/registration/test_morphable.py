"""The face model as the registration's shape prior: basis, weight fit, the prior's choice."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.face_model_heads import face_model_head, face_model_head_basis
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.template_mesh import template_mesh
from id2reflectance.errors import ConfigError
from id2reflectance.processing.registration import register as register_module
from id2reflectance.processing.registration.morphable import fit_morphable
from id2reflectance.processing.registration.register import RegistrationConfig, register_template
from tests.face_model_data import FOLDER, needs_model

FAST = RegistrationConfig(
    icp_samples=3000, icp_yaw_deg=(-15.0, 0.0, 15.0), icp_pitch_deg=(0.0,), residual_samples=20_000
)


def _face(tmpl: FaceMesh) -> np.ndarray:
    return (tmpl.vertices[:, 2] > 0.02) & (tmpl.vertices[:, 1] > -0.12)


def _similarity(angle_deg: float, scale: float, t: tuple[float, float, float]) -> np.ndarray:
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    out = np.eye(4)
    out[:3, :3] = scale * rot
    out[:3, 3] = t
    return out


@needs_model
def test_fit_morphable_recovers_weights_and_pose() -> None:
    model = load_face_model(FOLDER)
    tmpl = template_mesh()
    basis = face_model_head_basis(model, 30)
    w = np.zeros(30)
    w[:30] = np.random.default_rng(5).standard_normal(30)
    truth_t = _similarity(6.0, 1.03, (0.004, -0.003, 0.006))
    truth = (basis.mean + basis.modes @ w) @ truth_t[:3, :3].T + truth_t[:3, 3]
    scan = FaceMesh(truth, tmpl.faces)
    start = _similarity(0.0, 1.0, (0.0, 0.0, 0.0))
    fit = fit_morphable(basis, tmpl, scan, start, modes=(10, 30), iterations_per_stage=5, sigma_m=2e-4)
    err = np.linalg.norm(fit.vertices - truth, axis=1)[_face(tmpl)] * 1000
    assert np.median(err) < 0.1 and np.percentile(err, 95) < 0.3, (np.median(err), np.percentile(err, 95))
    assert abs(fit.scale - 1.03) < 0.005
    assert np.abs(fit.weights[:10] - w[:10]).max() < 0.15
    assert fit.matched_fraction > 0.95


@needs_model
@pytest.mark.slow
def test_prior_registers_a_face_model_head_near_its_truth() -> None:
    from id2reflectance.capture.simulator.sessions import scan_mesh

    model = load_face_model(FOLDER)
    tmpl = template_mesh()
    w = np.random.default_rng(2000).standard_normal(model.identity_modes)
    truth = face_model_head(model, w)
    scan = scan_mesh(truth, decimation=0.6, noise_mm=0.1, rng=np.random.default_rng(7))
    err = {}
    for prior in ("face_model", "none"):
        reg = register_template(tmpl, scan, config=RegistrationConfig(**{**FAST.__dict__, "prior": prior}))
        assert reg.prior == prior
        err[prior] = np.linalg.norm(reg.mesh.vertices - truth.vertices, axis=1)[_face(tmpl)] * 1000
    assert np.median(err["face_model"]) < 0.5 and np.percentile(err["face_model"], 95) < 1.5
    assert np.median(err["none"]) > 3 * np.median(err["face_model"])


def test_prior_face_model_missing_is_a_config_error(tmp_path) -> None:
    cfg = RegistrationConfig(prior="face_model", face_model=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="prior 'face_model'.*nowhere"):
        register_module.resolve_prior(cfg, template_mesh())
    with pytest.raises(ConfigError, match="prior must be"):
        RegistrationConfig(prior="morphable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="prior_refine"):
        RegistrationConfig(prior_refine="radial")  # type: ignore[arg-type]


def test_prior_auto_without_a_model_or_on_another_template_is_none(monkeypatch) -> None:
    monkeypatch.setattr(register_module, "default_face_model_dir", lambda: None)
    assert register_module.resolve_prior(RegistrationConfig(), template_mesh()) is None
    assert register_module.resolve_prior(RegistrationConfig(prior="none"), template_mesh()) is None


@needs_model
def test_prior_needs_the_project_template() -> None:
    tmpl = template_mesh()
    other = FaceMesh(tmpl.vertices[:-3], tmpl.faces[:10], tmpl.uvs[:-3])
    assert register_module.resolve_prior(RegistrationConfig(), other) is None
    with pytest.raises(ConfigError, match="project's template"):
        register_module.resolve_prior(RegistrationConfig(prior="face_model"), other)


@needs_model
@pytest.mark.slow
def test_prior_on_the_face_model_template() -> None:
    # the face model's own topology: the basis is its modes at the template's vertices
    from id2reflectance.capture.geometry.face_model_heads import face_model_skin_basis
    from id2reflectance.capture.geometry.templates import face_model_template_mesh, resolve_template
    from id2reflectance.capture.simulator.sessions import scan_mesh

    model = load_face_model(FOLDER)
    tmpl = resolve_template("face_model", FOLDER).mesh
    basis = register_module.prior_basis(model, tmpl, 10)
    assert basis is not None and basis.modes.shape == (len(tmpl.vertices), 3, 10)
    assert basis is face_model_skin_basis(model, 10)
    w = np.random.default_rng(2001).standard_normal(model.identity_modes)
    truth = face_model_template_mesh(model, w)
    np.testing.assert_allclose(basis.mean + face_model_skin_basis(model).modes @ w, truth.vertices, atol=1e-6)
    scan = scan_mesh(truth, decimation=0.6, noise_mm=0.1, rng=np.random.default_rng(7))
    reg = register_template(tmpl, scan, config=RegistrationConfig(**{**FAST.__dict__, "prior": "face_model"}))
    assert reg.prior == "face_model"
    err = np.linalg.norm(reg.mesh.vertices - truth.vertices, axis=1)[_face(truth) & basis.skin] * 1000
    assert np.median(err) < 0.3 and np.percentile(err, 95) < 1.0, (np.median(err), np.percentile(err, 95))


@needs_model
def test_bare_face_is_the_front_below_the_forehead() -> None:
    from id2reflectance.processing.registration.morphable import bare_face

    p = np.array([[0.0, -0.02, 0.09], [0.03, 0.03, 0.08], [0.0, 0.06, 0.08], [0.08, 0.0, 0.0], [0.0, 0.0, -0.09]])
    assert bare_face(p).tolist() == [True, True, False, False, False]


@needs_model
@pytest.mark.slow
def test_prior_fits_the_skull_under_scalp_hair() -> None:
    # hair standing 15 mm off the scalp is not skull: the gated prior is kept and lands the
    # face where it is; fitted like skin (no gate) the hair pulls the head and "auto" drops it
    from dataclasses import replace

    from id2reflectance.capture.simulator.appearance import Appearance
    from id2reflectance.capture.simulator.face_model_subjects import with_hair_volume
    from id2reflectance.capture.simulator.sessions import scan_mesh
    from id2reflectance.processing.registration.morphable import bare_face

    model = load_face_model(FOLDER)
    tmpl = template_mesh()
    w = np.random.default_rng(2002).standard_normal(model.identity_modes)
    truth = with_hair_volume(face_model_head(model, w), model, Appearance(scalp="short", hair_volume=0.015))
    lift = np.linalg.norm(truth.vertices - face_model_head(model, w).vertices, axis=1)
    assert lift.max() > 0.012  # the scan has the hair
    scan = scan_mesh(truth, decimation=0.6, noise_mm=0.1, rng=np.random.default_rng(7))
    face = _face(tmpl) & bare_face(tmpl.vertices)
    reg = register_template(tmpl, scan, config=FAST)
    assert reg.prior == "face_model", reg.extras
    err = np.linalg.norm(reg.mesh.vertices - truth.vertices, axis=1) * 1000
    assert np.median(err[face]) < 0.5, np.median(err[face])
    # the hair's outer surface, 10-15 mm out: the skull under it fitted with a smooth thickness
    on_hair = lift > 0.01
    assert np.median(err[on_hair]) < 1.5 and reg.residual.p95 < 3.0, (np.median(err[on_hair]), reg.residual.p95)
    assert reg.extras["prior_rms_mm"] < 0.3
    ungated = register_template(tmpl, scan, config=replace(FAST, prior_gate_m=None, prior_outward_m=None))
    assert ungated.prior == "none" and ungated.extras["prior_rejected"] == 1.0
