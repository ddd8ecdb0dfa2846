"""Face-model heads in template topology: placement, clean geometry, eyes, regions, identity."""

import numpy as np
import pytest

from id2reflectance.capture.geometry.face_model import load_face_model
from id2reflectance.capture.geometry.face_model_heads import (
    TEMPLATE_TO_DLIB,
    face_model_eyes,
    face_model_head,
    face_model_head_basis,
    face_model_regions,
    face_model_skin_mesh,
    face_model_skin_sources,
    template_embedding,
    template_offset,
)
from id2reflectance.capture.geometry.template_mesh import is_template_topology, template_mesh
from id2reflectance.errors import ConfigError
from tests.face_model_data import FOLDER, needs_model

pytestmark = needs_model


@pytest.fixture(scope="module")
def model():
    return load_face_model(FOLDER)


def _edges(mesh):
    f = mesh.faces
    v = mesh.vertices
    return np.linalg.norm(v[f] - v[np.roll(f, 1, axis=1)], axis=-1).ravel()


def test_neutral_head_sits_where_the_template_does(model):
    head = face_model_head(model)
    tmpl = template_mesh()
    assert is_template_topology(head)
    np.testing.assert_array_equal(head.uvs, tmpl.uvs)
    assert head.landmarks == tmpl.landmarks
    # the face model's own landmarks, moved by the embedding's offset, near the template's
    # (mean < 8 mm; dlib's chin point sits on the jaw line, 15 mm from the template's chin)
    offset = template_embedding(model).offset
    d = [
        np.linalg.norm(model.neutral[model.landmarks68[k]] + offset - tmpl.vertices[tmpl.landmarks[name]])
        for name, k in TEMPLATE_TO_DLIB.items()
    ]
    assert np.mean(d) < 8e-3 and max(d) < 0.017, d
    # the template vertex of a landmark lands on the face model's surface near that landmark
    for name in ("nose_tip", "nasion", "mouth_left", "eye_inner_right"):
        p = model.neutral[model.landmarks68[TEMPLATE_TO_DLIB[name]]] + offset
        assert np.linalg.norm(head.vertices[tmpl.landmarks[name]] - p) < 8e-3, name


def test_geometry_is_clean(model):
    emb = template_embedding(model)
    assert emb.hit.mean() > 0.9  # only the neck's bottom rings miss
    for w in (None, np.random.default_rng(1).standard_normal(100)):
        head = face_model_head(model, w)
        e = _edges(head)
        assert np.all(np.isfinite(head.vertices))
        assert np.percentile(e, 50) < 4e-3 and e.max() < 0.05  # no spikes through openings
        r = np.linalg.norm(head.vertices, axis=1)
        assert 0.05 < r.min() and r.max() < 0.32


def test_identities_differ_and_are_deterministic(model):
    rng = np.random.default_rng(7)
    w1, w2 = rng.standard_normal(100), rng.standard_normal(100)
    a, b = face_model_head(model, w1), face_model_head(model, w2)
    np.testing.assert_array_equal(a.vertices, face_model_head(model, w1).vertices)
    face = template_mesh().vertices[:, 2] > 0.05
    rms = np.sqrt(np.mean(np.sum((a.vertices[face] - b.vertices[face]) ** 2, axis=1)))
    assert 2e-3 < rms < 2e-2  # different people: millimetres to a centimetre or two


def test_eyes(model):
    eyes = face_model_eyes(model)
    assert 40 < eyes.weight.sum() < 1000  # the visible eyeball between the lids
    assert eyes.centres[0, 0] > 0.02 and eyes.centres[1, 0] < -0.02  # subject's left first
    np.testing.assert_allclose(np.linalg.norm(eyes.axes, axis=1), 1.0)
    assert np.all(eyes.axes[:, 2] > 0.95)  # looking ahead
    head = face_model_head(model)
    on = eyes.weight > 0.5
    # the eyeball vertices lie in front of the eyeball centre, about an eyeball radius away
    d = np.linalg.norm(head.vertices[on][:, None] - eyes.centres[None], axis=-1).min(axis=1)
    assert np.all((d > 0.009) & (d < 0.016))


def test_regions_follow_the_face_models_anatomy(model):
    g = face_model_regions(model, 128)
    assert set(g) >= {"lips", "nose", "eyebrows", "beard", "face"}
    from id2reflectance.capture.geometry.regions import uv_raster

    r = uv_raster(128)
    pos = r.interpolate(face_model_head(model).vertices, template_mesh().faces)
    offset = template_embedding(model).offset
    mouth_y = np.mean([model.neutral[model.landmarks68[k], 1] for k in (62, 66)]) + offset[1]
    w = g["lips"]
    lips_y = float((pos[..., 1] * w).sum() / w.sum())
    assert abs(lips_y - mouth_y) < 3e-3  # the lips region is on the face model's mouth
    w = g["nose"]
    nose_z = float((pos[..., 2] * w).sum() / w.sum())
    assert nose_z > 0.1  # on the nose, in front of the face


def test_skin_mesh_in_the_face_models_topology(model):
    from id2reflectance.capture.geometry.face_model import SKIN_END
    from id2reflectance.capture.geometry.face_model_heads import SKIN_NECK_CUT_Y, face_model_skin_mesh

    w = np.random.default_rng(3).standard_normal(100)
    skin = face_model_skin_mesh(model, w)
    offset = template_embedding(model).offset
    keep = model.uv_source < SKIN_END
    faces = model.uv_mesh.faces[np.all(keep[model.uv_mesh.faces], axis=1)]
    y = model.neutral[model.uv_source, 1] + offset[1]
    faces = faces[y[faces].max(axis=1) > SKIN_NECK_CUT_Y]  # the neck ends where the procedural heads' does
    used = np.zeros(len(keep), bool)
    used[faces] = True
    keep &= used  # the vertices of skin triangles (not those only bordering the mouth or eyes)
    assert len(skin.vertices) == keep.sum() == np.unique(skin.faces).size
    assert y[model.uv_source < SKIN_END].min() < SKIN_NECK_CUT_Y - 0.05  # the face model's neck went farther down
    np.testing.assert_allclose(skin.vertices, model.vertices(w)[model.uv_source[keep]] + offset)
    np.testing.assert_array_equal(skin.uvs, model.uv_mesh.uvs[keep])
    assert len(skin.landmarks) == 68 + len(TEMPLATE_TO_DLIB)
    assert skin.landmarks["nose_tip"] == skin.landmarks["dlib_30"]
    nose = skin.vertices[skin.landmarks["nose_tip"]]
    assert nose[2] > np.percentile(skin.vertices[:, 2], 99.9)  # the nose tip is (nearly) the front-most point
    # counter-clockwise seen from outside: most face normals point away from the head's
    # centre (not all: nostrils, lid rims and the lips' inner side face inward)
    n = skin.face_normals()
    c = skin.vertices[skin.faces].mean(axis=1)
    front = c[:, 2] > 0.05
    assert np.mean(np.sum(n[front] * c[front], axis=1) > 0) > 0.8


def test_basis_reproduces_face_model_heads(model) -> None:
    basis = face_model_head_basis(model, 20)
    w = np.random.default_rng(3).standard_normal(20)
    head = face_model_head(model, w).vertices
    lin = basis.mean + basis.modes @ w
    np.testing.assert_allclose(lin[basis.skin], head[basis.skin], atol=1e-9)  # exactly linear on the skin
    assert np.abs(lin - head).max() < 2e-3  # the neck extension below the model: nearly
    assert 0.8 < basis.skin.mean() < 1.0
    # the vertices blended into the template's neck stub are not on a scan of the real head:
    # they must not constrain the weights (issue 22: under the jaw they slid the fit 0.1 mm)
    emb = template_embedding(model)
    assert not basis.skin[emb.neck > 0].any()
    assert basis.skin[emb.hit & (emb.eye == 0) & (emb.neck == 0)].all()
    with pytest.raises(ConfigError, match="identity modes"):
        face_model_head_basis(model, 0)


@needs_model
def test_skin_sources_name_each_template_vertex_s_model_vertex():
    model = load_face_model(FOLDER)
    src = face_model_skin_sources(model)
    skin = face_model_skin_mesh(model)
    assert src.shape == (len(skin.vertices),) and not src.flags.writeable
    np.testing.assert_allclose(model.neutral[src] + template_offset(model), skin.vertices, atol=1e-12)
