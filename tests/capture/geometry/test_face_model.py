"""The face-model loader: shapes, units, landmarks, linear heads and named errors on bad files."""

import os
import shutil

import numpy as np
import pytest

from id2reflectance.capture.geometry import face_model as fm
from id2reflectance.capture.geometry.face_model import (
    EXPRESSION_FILE,
    IDENTITY_FILE,
    MESH_FILE,
    SKIN_END,
    default_face_model_dir,
    load_face_model,
)
from id2reflectance.errors import ConfigError, InputFileError
from tests.face_model_data import FOLDER, needs_model


@pytest.fixture(scope="module")
def model():
    return load_face_model(FOLDER)


@needs_model
def test_shapes_units_and_seams(model):
    assert model.neutral.shape == (26719, 3)
    assert model.identity.shape == (100, 26719, 3) and model.identity.dtype == np.float32
    assert model.expression.shape == (53, 26719, 3) and len(model.expression_names) == 53
    # metres: a head is about 0.25-0.35 m from the neck's cut to the crown
    skin = model.neutral[:SKIN_END]
    assert 0.25 < np.ptp(skin[:, 1]) < 0.4
    # mode 0 has the largest variance (README: RMS 0.37 cm), mode 99 the smallest
    rms = np.sqrt(np.mean(np.sum(model.identity**2, axis=-1), axis=1))
    assert 3e-3 < rms[0] < 4.5e-3 and rms[99] < 1e-4
    # quads became two triangles each, seams split: one UV per uv_mesh vertex
    assert len(model.uv_mesh.vertices) >= 28911 > 26719
    np.testing.assert_array_equal(model.uv_mesh.vertices, model.neutral[model.uv_source])
    assert model.triangles.max() < 26719
    np.testing.assert_array_equal(model.triangles, model.uv_source[model.uv_mesh.faces])


@needs_model
def test_landmarks_are_dlib_ordered(model):
    lm = model.neutral[model.landmarks68]
    # subject's right eye outer corner (dlib 36) at -x, left (45) mirrored at +x
    assert lm[36, 0] < -0.03 and lm[45, 0] > 0.03
    np.testing.assert_allclose(lm[36, 0], -lm[45, 0], atol=2e-3)
    # nose tip (30) the most forward, chin (8) the lowest of the inner face
    assert np.argmax(lm[:, 2]) in (30, 31, 32, 33, 34, 35)
    assert lm[8, 1] == lm[:, 1].min()
    # the eyes above the mouth above the chin
    assert lm[36, 1] > lm[48, 1] > lm[8, 1]


@needs_model
def test_heads_are_linear_in_the_weights(model):
    w = np.random.default_rng(0).standard_normal(100)
    v = model.vertices(w)
    np.testing.assert_allclose(v - model.neutral, np.tensordot(w, model.identity, axes=1), atol=1e-9)
    v2 = model.vertices(w[:10])
    np.testing.assert_allclose(v2 - model.neutral, np.tensordot(w[:10], model.identity[:10], axes=1), atol=1e-9)
    smile = model.vertices(expression={"mouthSmile_L": 1.0})
    assert np.abs(smile - model.neutral).max() > 2e-3  # a smile moves the mouth corner by mm
    with pytest.raises(ConfigError, match="unknown expression 'grin'"):
        model.vertices(expression={"grin": 0.5})
    with pytest.raises(ConfigError, match=r"must be in \[0, 1\]"):
        model.vertices(expression={"mouthSmile_L": 1.5})
    with pytest.raises(ConfigError, match="identity needs <= 100"):
        model.vertices(np.zeros(101))


@needs_model
def test_bad_files_raise_named_errors(tmp_path):
    for name in (MESH_FILE, EXPRESSION_FILE):
        os.symlink(FOLDER / name, tmp_path / name)
    np.savez(tmp_path / IDENTITY_FILE, deltas=np.zeros((4, 100, 3), np.float16))
    with pytest.raises(InputFileError) as err:
        load_face_model(tmp_path)
    assert str(err.value.path).endswith(IDENTITY_FILE) and err.value.field == "deltas"
    np.savez(tmp_path / IDENTITY_FILE, other=np.zeros(3))
    with pytest.raises(InputFileError, match="deltas"):
        load_face_model(tmp_path)
    with pytest.raises(InputFileError, match="face model folder not found"):
        load_face_model(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match="mesh file not found"):
        load_face_model(empty)


def test_absent_data_is_reported_not_crashed(tmp_path, monkeypatch):
    monkeypatch.setenv(fm.FACE_MODEL_ENV, str(tmp_path))
    with pytest.raises(InputFileError, match="ID2R_FACE_MODEL"):
        default_face_model_dir()
    monkeypatch.delenv(fm.FACE_MODEL_ENV)
    copy = tmp_path / "repo" / "src" / "id2reflectance" / "capture" / "geometry"
    copy.mkdir(parents=True)
    shutil.copy(fm.__file__, copy / "face_model.py")
    # the package location decides the default: a clone without ../shared has none
    monkeypatch.setattr(fm, "__file__", str(copy / "face_model.py"))
    assert default_face_model_dir() is None
    with pytest.raises(InputFileError, match="face model not found"):
        load_face_model()
