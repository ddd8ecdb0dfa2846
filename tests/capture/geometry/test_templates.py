"""The template abstraction: the procedural template unchanged, the face-model template
built at run time (UVs packed into [0, 1] without overlap, landmarks, regions, cache)."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance._shared.atomic import sha256_file
from id2reflectance.capture.geometry import templates as templates_module
from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.face_model_heads import SKIN_NECK_CUT_Y
from id2reflectance.capture.geometry.mesh import FaceMesh, rasterize_uv, wraps_in_u
from id2reflectance.capture.geometry.regions import region_masks, uv_raster
from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, shipped_template_path
from id2reflectance.capture.geometry.templates import (
    FACE_TEMPLATE_NAME,
    face_model_template,
    face_model_template_mesh,
    layout_regions,
    pack_skin_uvs,
    resolve_template,
    template_raster,
    template_regions,
)
from id2reflectance.errors import ConfigError, ShapeError
from tests.face_model_data import FOLDER, needs_model


def _uv_area(uv: np.ndarray, faces: np.ndarray) -> float:
    e1, e2 = uv[faces[:, 1]] - uv[faces[:, 0]], uv[faces[:, 2]] - uv[faces[:, 0]]
    return float(0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum())


@pytest.mark.slow
def test_procedural_template_is_the_shipped_one(monkeypatch) -> None:
    t = resolve_template("procedural")
    assert t.name == TEMPLATE_NAME and t.kind == "procedural"
    assert t.sha256 == sha256_file(shipped_template_path())
    assert template_raster(t, 64) is uv_raster(64)
    assert wraps_in_u(t.mesh)  # the cylindrical chart: u = 0 and u = 1 the same seam
    regions = template_regions(t, 64)
    assert all(np.array_equal(regions[k], v) for k, v in region_masks(64).items())
    # the bake's template: "procedural" is the shipped OBJ, as before
    from id2reflectance.processing.bake.inputs import load_template

    mesh, name, sha = load_template("procedural")
    assert (name, sha) == (TEMPLATE_NAME, t.sha256) and np.array_equal(mesh.uvs, t.mesh.uvs)
    assert mesh.vertices is not t.mesh.vertices  # a copy: the cached template stays intact
    # the default (None) is auto: the face model's layout where the face model is found
    auto = resolve_template("auto")
    assert load_template(None)[1:] == (auto.name, auto.sha256)
    # auto without the face model (a clone without ../shared): the procedural template
    monkeypatch.setattr(templates_module, "default_face_model_dir", lambda: None)
    assert resolve_template("auto").name == TEMPLATE_NAME
    assert load_template(None)[1:] == (TEMPLATE_NAME, t.sha256)


def test_bad_choices_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="template must be one of"):
        resolve_template("cylinder")
    with pytest.raises(ConfigError, match="template 'face_model'.*nowhere"):
        resolve_template("face_model", tmp_path / "nowhere")


def test_packing_puts_the_tiles_side_by_side() -> None:
    uv = np.array([[0.0, 0.0], [1.0 - 1e-9, 1.0], [1.0, 0.0], [1.999, 1.0], [0.5, 0.5]])
    out = pack_skin_uvs(uv)
    np.testing.assert_allclose(out[0], [0.0, 0.25])
    np.testing.assert_allclose(out[1], [0.75, 1.0], atol=1e-8)
    np.testing.assert_allclose(out[2], [0.75, 0.75])
    np.testing.assert_allclose(out[3], [0.99975, 1.0])
    np.testing.assert_allclose(out[4], [0.375, 0.625])
    with pytest.raises(ShapeError, match="tiles 1001 and 1002"):
        pack_skin_uvs(np.array([[2.5, 0.5]]))


@needs_model
@pytest.mark.slow
def test_face_model_template_built_cached_and_identified(tmp_path) -> None:
    model = load_face_model(FOLDER)
    t = face_model_template(model, cache_dir=tmp_path)
    assert t.name == FACE_TEMPLATE_NAME and t.kind == "face_model"
    assert t.path.is_file() and t.path.is_relative_to(tmp_path)
    assert t.sha256 == sha256_file(t.path)
    mtime = t.path.stat().st_mtime_ns
    again = face_model_template(model, cache_dir=tmp_path)
    assert again.sha256 == t.sha256 and t.path.stat().st_mtime_ns == mtime  # read, not rebuilt
    mesh = t.mesh
    fresh = face_model_template_mesh(model)
    assert np.array_equal(mesh.faces, fresh.faces)
    assert np.abs(mesh.vertices - fresh.vertices).max() < 1e-8
    # UVs in [0, 1], every vertex used, and no two UV triangles overlap: the rasterised
    # chart covers as much as the triangles' summed area
    assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
    assert np.unique(mesh.faces).size == len(mesh.vertices)
    assert not wraps_in_u(mesh)  # an atlas of separate charts: texture columns never wrap
    # the neck ends where the procedural heads leave the face model (no flare to the
    # shoulders): every triangle reaches above the cut, none far below it
    y = mesh.vertices[mesh.faces, 1]
    assert y.max(axis=1).min() > SKIN_NECK_CUT_Y and y.min() > SKIN_NECK_CUT_Y - 0.015
    area = _uv_area(mesh.uvs, mesh.faces)
    covered = float((rasterize_uv(mesh, 1024)[0] >= 0).mean())
    assert 0.5 < area < 0.6 and abs(covered - area) < 0.005, (area, covered)
    # the 68 dlib landmarks and the template's names, on the face
    assert all(f"dlib_{k:02d}" in mesh.landmarks for k in range(68))
    lm = {k: mesh.vertices[i] for k, i in mesh.landmarks.items()}
    assert lm["nose_tip"][2] > lm["nasion"][2] > lm["chin"][2] - 0.05
    assert lm["eye_outer_left"][0] > 0.03 and lm["eye_outer_right"][0] < -0.03
    # the face keeps its texels: 0.75 of the face model's own density on the face tile
    face = mesh.uvs[[mesh.landmarks[f"dlib_{k:02d}"] for k in range(68)]]
    assert np.all(face[:, 0] <= 0.75) and np.all(face[:, 1] >= 0.25)


@needs_model
def test_face_model_regions_follow_its_landmarks() -> None:
    t = resolve_template("face_model", FOLDER)
    size = 256
    regions = template_regions(t, size)
    raster = template_raster(t, size)
    assert raster.covered.mean() > 0.5

    def at(name: str) -> tuple[int, int]:
        u, v = t.mesh.uvs[t.mesh.landmarks[name]]
        return int((1 - v) * size), int(u * size)

    assert regions["nose"][at("nose_tip")] > 0.5
    assert regions["lips"][at("dlib_62")] > 0.5  # inner upper lip
    assert regions["chin"][at("chin")] > 0.1 or regions["beard"][at("chin")] > 0.1
    assert regions["forehead"][at("nose_tip")] == 0.0
    assert regions["face"][at("nasion")] > 0.9
    # an asset's mesh in this layout finds these regions (the report's per-region figures)
    found = layout_regions(t.mesh.with_vertices(t.mesh.vertices * 1.05), size)
    assert found is not None and np.array_equal(found["nose"], regions["nose"])
    assert np.array_equal(layout_regions(resolve_template("procedural").mesh, size)["lips"], region_masks(size)["lips"])
    other = FaceMesh(t.mesh.vertices, t.mesh.faces, t.mesh.uvs[:, ::-1].copy())
    assert layout_regions(other, size) is None


def test_layout_records_name_their_template(tmp_path):
    from id2reflectance.capture.geometry.templates import procedural_template, template_from_record, template_record
    from id2reflectance.errors import InputFileError

    proc = procedural_template()
    assert template_record(proc) == {"name": TEMPLATE_NAME, "sha256": proc.sha256}
    assert template_from_record(None, tmp_path / "dataset.json") is proc  # recorded before layouts were
    assert template_from_record({"name": TEMPLATE_NAME}, tmp_path / "dataset.json") is proc
    with pytest.raises(InputFileError, match=r"dataset.json: template: unknown template 'cylinder'"):
        template_from_record({"name": "cylinder"}, tmp_path / "dataset.json")
    with pytest.raises(InputFileError, match=r"dataset.json: template: template id2r-ict-face-skin-v1 is retired"):
        template_from_record({"name": "id2r-ict-face-skin-v1"}, tmp_path / "dataset.json")
    with pytest.raises(InputFileError, match=r"dataset.json: template: template id2r-procedural-head-v1 has SHA-256"):
        template_from_record({"name": TEMPLATE_NAME, "sha256": "ab" * 32}, tmp_path / "dataset.json")


@needs_model
def test_layout_record_of_the_face_model_template(tmp_path):
    from id2reflectance.capture.geometry.templates import template_from_record, template_record

    face = resolve_template("face_model", FOLDER)
    assert template_from_record(template_record(face), tmp_path / "dataset.json").sha256 == face.sha256
