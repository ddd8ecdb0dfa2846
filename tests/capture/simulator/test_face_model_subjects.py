"""Simulated subjects from the face model: the choice of head, the draw, the session's files."""

import json
from dataclasses import replace

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.geometry.face_model import FACE_MODEL_NAME
from id2reflectance.capture.geometry.mesh import read_mesh
from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template
from id2reflectance.capture.session import load_session
from id2reflectance.capture.simulator.face_model_subjects import (
    EXPRESSION_POOL,
    FaceModelHead,
    face_model_geometry,
    resolve_face_model,
)
from id2reflectance.capture.simulator.sessions import (
    SimulatorConfig,
    config_subject,
    load_truth,
    make_subject,
    simulate_subject,
    subject_geometry,
)
from id2reflectance.capture.simulator.skin import PUPIL_ALBEDO, SCLERA_ALBEDO
from id2reflectance.errors import ConfigError, InputFileError
from tests.face_model_data import needs_model

# the painted appearance (what these tests draw and check); photo subjects: test_photo_subjects.py
SMALL = SimulatorConfig(
    image_size=96,
    uv_size=128,
    cameras=1,
    inverses=False,
    visibility_directions=64,
    seed=5,
    appearance_source="procedural",
)


def test_head_model_choice(tmp_path):
    assert resolve_face_model("procedural", None) is None
    assert resolve_face_model("procedural", str(tmp_path / "absent")) is None
    with pytest.raises(InputFileError, match="face model folder not found"):
        resolve_face_model("face_model", str(tmp_path / "absent"))
    with pytest.raises(InputFileError, match="face model folder not found"):
        resolve_face_model("auto", str(tmp_path / "absent"))  # a path given must exist
    with pytest.raises(ConfigError, match="head_model"):
        SimulatorConfig(head_model="mannequin")
    with pytest.raises(ConfigError, match="expression"):
        SimulatorConfig(expression=2.0)
    subject = config_subject(SimulatorConfig(head_model="procedural"), 3)
    assert subject.face_head is None


def test_draw_is_seeded_and_keeps_the_skin():
    a = make_subject(4, 7, face_model_modes=100)
    b = make_subject(4, 7, face_model_modes=100)
    plain = make_subject(4, 7)
    assert a == b and a.skin == plain.skin and a.head == plain.head
    w = np.asarray(a.face_head.identity)
    assert w.shape == (100,) and 0.6 < w.std() < 1.4  # N(0, 1)
    other = make_subject(4, 8, face_model_modes=100)
    assert other.face_head.identity != a.face_head.identity
    assert a.face_head.expression == ()  # neutral unless asked
    expr = make_subject(4, 7, face_model_modes=20, expression=1.0).face_head
    names = {n for group, _ in EXPRESSION_POOL for n in group}
    assert expr.expression and all(n in names and 0 < v <= 0.8 for n, v in expr.expression)
    assert len(expr.identity) == 20
    assert FaceModelHead((0.5,), (("mouthSmile_L", 0.3),)).to_json() == {
        "model": FACE_MODEL_NAME,
        "identity": [0.5],
        "expression": {"mouthSmile_L": 0.3},
    }


@needs_model
def test_face_model_session(tmp_path):
    cfg = SMALL
    session = simulate_subject(tmp_path, subject_index=2, config=cfg)
    params = json.loads((session / "truth" / "uv" / "params.json").read_text())
    assert params["head"]["model"] == FACE_MODEL_NAME and len(params["head"]["identity"]) == 100
    assert params["config"]["head_model"] == "auto"
    # by default (template auto) the truth is in the face model's own topology and layout
    assert params["template"] == FACE_TEMPLATE_NAME
    truth_mesh = read_mesh(session / "truth" / "mesh.obj")
    template = resolve_template("auto").mesh
    assert np.array_equal(truth_mesh.faces, template.faces) and np.allclose(truth_mesh.uvs, template.uvs, atol=1e-6)
    eye, _ = read_exr(session / "truth" / "uv" / "eye.exr")
    valid, _ = read_exr(session / "truth" / "uv" / "valid.exr")
    eyes = eye[..., 0] > 0.5  # the eyeballs have their own texels (slots in the strip v < 0.25), never the skin's
    assert not eyes[valid[..., 0] > 0.5].any() and 0.01 < eyes.mean() < 0.25
    albedo, _ = read_exr(session / "truth" / "uv" / "diffuse_albedo.exr")
    on_eye = albedo[eye[..., 0] > 0.99]
    # eyes have their own reflectance: sclera and pupil, whatever the skin
    assert np.isclose(on_eye, SCLERA_ALBEDO, atol=1e-4).all(axis=1).any()
    assert np.isclose(on_eye, PUPIL_ALBEDO, atol=1e-4).all(axis=1).any()
    t = load_truth(session, "front")
    head = t["mask"] > 0.5
    skin = t["skin"] > 0.5
    assert np.all(head[skin]) and 0 < (head & ~skin).sum() < 0.05 * head.sum()  # eyes are not skin
    attrs = load_session(session).attributes
    assert -50 <= attrs["ita_deg"] <= 70
    # the subject's appearance is drawn, recorded and in the truth maps
    look = config_subject(cfg, 2).appearance
    assert params["appearance"] == look.to_json()
    hair, _ = read_exr(session / "truth" / "uv" / "hair.exr")
    _, maps, _ = subject_geometry(config_subject(cfg, 2), cfg)
    assert np.allclose(hair[..., 0], maps.hair, atol=1e-6) and (hair > 0.5).mean() > 0.01
    assert np.allclose(albedo, maps.diffuse_albedo, atol=1e-6)
    # the procedural fallback writes the same files, minus the eyes
    proc = simulate_subject(
        tmp_path / "p", subject_index=2, config=SimulatorConfig(**{**_kw(cfg), "head_model": "procedural"})
    )
    assert not (proc / "truth" / "uv" / "eye.exr").exists()
    assert "skin" not in load_truth(proc, "front")
    pparams = json.loads((proc / "truth" / "uv" / "params.json").read_text())
    assert "width" in pparams["head"]
    # same skin draw: the ITA differs only through the regions and eyes (a few degrees)
    pattrs = load_session(proc).attributes
    assert abs(pattrs["ita_deg"] - attrs["ita_deg"]) < 6.0


@needs_model
def test_subjects_differ_in_appearance():
    cfg = replace(SMALL, uv_size=64)
    subjects = [config_subject(cfg, i) for i in range(4)]
    looks = [s.appearance for s in subjects]
    assert all(look is not None for look in looks) and len(set(looks)) == 4
    assert config_subject(replace(cfg, head_model="procedural"), 0).appearance is None  # fallback unchanged
    bald = config_subject(replace(cfg, appearance=False), 0)
    assert bald.appearance is None and bald.face_head == subjects[0].face_head and bald.skin == subjects[0].skin
    hair = []
    for subject in subjects[:2]:
        _, maps, _ = subject_geometry(subject, cfg)
        _, bare, _ = subject_geometry(replace(subject, appearance=None), cfg)
        on = maps.hair > 0.9
        assert on.mean() > 0.005  # at least the eyebrows
        # the hair is in the albedo truth: it replaces the skin's colour there
        assert np.abs(maps.diffuse_albedo[on] - bare.diffuse_albedo[on]).mean() > 0.02
        hair.append(maps.hair)
    assert np.abs(hair[0] - hair[1]).mean() > 0.01  # two subjects, two heads of hair and brows


@pytest.mark.slow
@needs_model
def test_hair_volume_and_lashes_reach_the_truth():
    cfg = replace(SMALL, uv_size=128)
    model = resolve_face_model("face_model", None)
    subject = config_subject(cfg, 0)
    look = replace(subject.appearance, scalp="short", hair_volume=0.015, lash_width=0.0025, lash_density=0.9)
    bare = face_model_geometry(model, subject.face_head, uv_size=64)
    full = face_model_geometry(model, subject.face_head, uv_size=64, appearance=look)
    lift = np.linalg.norm(full.mesh.vertices - bare.mesh.vertices, axis=1)
    assert lift.max() == pytest.approx(0.015, abs=0.001)  # the crown stands off by the hair's thickness
    for name in ("nose_tip", "chin", "eye_outer_left", "mouth_left"):
        assert lift[bare.mesh.landmarks[name]] == 0.0, name  # the face keeps its shape
    top = bare.mesh.vertices[:, 1] > 0.1
    assert np.all(np.sum((full.mesh.vertices - bare.mesh.vertices)[top] * bare.mesh.vertex_normals()[top], 1) > 0)
    # with hair_volume the session's mesh is the hair's outer surface (off by default)
    mesh, _, _ = subject_geometry(replace(subject, appearance=look), replace(cfg, hair_volume=True))
    assert np.allclose(mesh.vertices, full.mesh.vertices)
    # (rendered in the procedural layout: with template auto, hair_volume keeps that layout)
    flat, _, _ = subject_geometry(replace(subject, appearance=look), replace(cfg, template="procedural"))
    assert np.allclose(flat.vertices, bare.mesh.vertices)
    _, maps, _ = subject_geometry(replace(subject, appearance=look), cfg)  # the default layout
    # the lashes are hair in the truth maps
    _, no_lash, _ = subject_geometry(replace(subject, appearance=replace(look, lash_width=0.0)), cfg)
    lashes = (maps.hair - no_lash.hair) > 0.5
    assert lashes.sum() > 20 and maps.eye[lashes].max() < 0.5  # on the lid margin, not on the eyeballs
    assert maps.diffuse_albedo[lashes].mean() < 0.5 * no_lash.diffuse_albedo[lashes].mean()
    subjects = [config_subject(cfg, i).appearance for i in range(6)]
    assert len({round(a.lash_width, 6) for a in subjects}) == 6
    assert len({round(a.hair_volume, 6) for a in subjects if a.scalp != "bald"}) > 1


def _kw(cfg):
    from dataclasses import asdict

    return asdict(cfg)


def test_clone_without_the_data_falls_back_to_procedural_heads(monkeypatch):
    from id2reflectance.capture.geometry import face_model
    from id2reflectance.capture.simulator import face_model_subjects

    for module in (face_model, face_model_subjects):
        monkeypatch.setattr(module, "default_face_model_dir", lambda: None)
    assert resolve_face_model("auto", None) is None
    cfg = SimulatorConfig(image_size=32, uv_size=32, cameras=1, inverses=False, visibility_directions=16)
    assert config_subject(cfg, 0).face_head is None
    with pytest.raises(InputFileError, match="face model not found"):
        resolve_face_model("face_model", None)
