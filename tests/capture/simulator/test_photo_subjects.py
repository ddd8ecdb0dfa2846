"""Simulated subjects with a real person's face shape and albedo detail (the London set's even ids)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.face_photos import default_face_photos_dir, is_subject_donor
from id2reflectance.capture.simulator.photo_subjects import donor_fit, resolve_face_photos
from id2reflectance.capture.simulator.sessions import (
    SimulatorConfig,
    config_subject,
    simulate_subject,
    subject_geometry,
)
from id2reflectance.errors import ConfigError, InputFileError
from tests.face_model_data import needs_model

needs_photos = pytest.mark.skipif(
    not (default_face_photos_dir() / "people.csv").is_file(), reason="face photos (../shared/face-photos) are absent"
)
PHOTO = SimulatorConfig(
    image_size=96, uv_size=128, cameras=1, inverses=False, visibility_directions=32, seed=0, appearance_source="photo"
)


def test_photo_set_choice(tmp_path):
    assert resolve_face_photos("procedural", None) is None
    with pytest.raises(InputFileError, match="people.csv"):
        resolve_face_photos("photo", str(tmp_path))
    with pytest.raises(InputFileError, match="people.csv"):
        resolve_face_photos("auto", str(tmp_path))  # a folder given must hold the set
    with pytest.raises(ConfigError, match="appearance_source"):
        SimulatorConfig(appearance_source="painting")


@pytest.mark.slow
@needs_model
@needs_photos
def test_subjects_take_donors_shape_and_albedo():
    cfg = replace(PHOTO, uv_size=64)
    subjects = [config_subject(cfg, i) for i in range(4)]
    donors = [s.photo for s in subjects]
    assert all(d is not None and is_subject_donor(d.id) for d in donors)  # never a held-out person
    assert len({d.id for d in donors}) == 4 and all(d.gender == s.skin.sex for d, s in zip(donors, subjects))
    model_fit = donor_fit.__wrapped__  # the identity is the face model's fit to the donor's photo
    from id2reflectance.capture.simulator.face_model_subjects import resolve_face_model

    model = resolve_face_model("auto", None)
    fit = model_fit(model, str(donors[0].photo))
    assert np.allclose(subjects[0].face_head.identity[: len(fit.identity)], fit.identity)
    assert not np.any(subjects[0].face_head.identity[len(fit.identity) :])
    plain = replace(cfg, appearance_source="procedural")
    base = config_subject(plain, 0)
    assert base.photo is None and base.skin == subjects[0].skin  # skin and appearance drawn as before
    _, painted, ita_painted = subject_geometry(replace(base, face_head=subjects[0].face_head), plain)
    maps = [subject_geometry(s, cfg) for s in subjects[:2]]
    (_, m0, ita0), (_, m1, _) = maps
    face = (m0.hair < 0.5) & painted.covered
    # the photo changes the face's albedo (detail), not its tone (the simulator's skin draw)
    assert np.abs(m0.diffuse_albedo - painted.diffuse_albedo)[face].mean() > 0.01
    assert abs(ita0 - ita_painted) < 4.0, (ita0, ita_painted)
    # the photo's brows and hair lower the specular like the painted hair does
    assert m0.hair.max() > 0.9 and (m0.specular_albedo[m0.hair > 0.9].mean() < m0.specular_albedo[face].mean())
    assert np.abs(m0.diffuse_albedo - m1.diffuse_albedo)[face & (m1.hair < 0.5)].mean() > 0.01


@pytest.mark.slow
@needs_model
@needs_photos
def test_photo_subject_session_records_its_donor(tmp_path):
    session = simulate_subject(tmp_path, subject_index=1, config=PHOTO)
    params = json.loads((session / "truth" / "uv" / "params.json").read_text())
    subject = config_subject(PHOTO, 1)
    assert params["photo"] == {"set": "london", "id": subject.photo.id}
    assert params["config"]["appearance_source"] == "photo"
    credit = json.loads((session / "session.json").read_text())["subject"]["attributes"]["photo_credit"]
    assert f"person {subject.photo.id} " in credit and "CC BY 4.0" in credit and "DeBruine" in credit  # attribution
    assert params["attributes"]["photo_credit"] == credit
    albedo, _ = read_exr(session / "truth" / "uv" / "diffuse_albedo.exr")
    _, maps, _ = subject_geometry(subject, PHOTO)
    assert np.allclose(albedo, maps.diffuse_albedo, atol=1e-6)  # the photo's albedo is the truth


@needs_model
def test_clone_without_the_photos_keeps_painted_appearances(monkeypatch, tmp_path):
    from id2reflectance.capture.simulator import photo_subjects

    monkeypatch.setattr(photo_subjects, "default_face_photos_dir", lambda: tmp_path / "absent")
    assert resolve_face_photos("auto", None) is None
    auto = replace(PHOTO, appearance_source="auto")
    subject = config_subject(auto, 0)
    assert subject.photo is None and subject.appearance is not None
    assert subject == config_subject(replace(PHOTO, appearance_source="procedural"), 0)
    with pytest.raises(InputFileError, match="face-photo set"):
        config_subject(PHOTO, 0)  # "photo" insists on the set


@needs_photos
def test_donors_repeat_only_when_a_sex_is_used_up():
    from id2reflectance.capture.simulator.photo_subjects import pick_donor
    from id2reflectance.capture.simulator.sessions import make_subject, subject_sex

    root = default_face_photos_dir()
    for sex, size in (("female", 27), ("male", 25)):  # the even ids' donors of each sex
        donors = [pick_donor(root, seed=0, rank=k, sex=sex).id for k in range(size + 1)]
        assert len(set(donors[:size])) == size and donors[size] == donors[0]
        assert all(int(d) % 2 == 0 for d in donors)
        assert donors != [pick_donor(root, seed=1, rank=k, sex=sex).id for k in range(size + 1)]
    assert all(subject_sex(3, i) == make_subject(3, i).skin.sex for i in range(20))


@needs_model
@needs_photos
def test_default_subjects_carry_a_photo_where_the_set_is_found():
    default = replace(PHOTO, appearance_source=SimulatorConfig().appearance_source)
    assert default.appearance_source == "auto" and config_subject(default, 0).photo is not None
