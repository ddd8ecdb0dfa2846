"""Monocular inference: templates and retrieval, decoding, stitching, end to end.

End-to-end tests use A's ``tiny_swapper_run`` (trained on ``face_dataset``, 32 px) and the
real photo ``skimage.data.astronaut()``. The ground-truth swapper below returns, for each
template view it is given, that template's own dataset maps in the model encoding: with
it the predicted UV maps must reproduce the template's baked ``uv/*.exr``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

import id2reflectance.inference.predictor as infer_mod
import id2reflectance.inference.template_subjects as template_subjects
from id2reflectance._shared.imageio import read_exr
from id2reflectance.dataset.torch_dataset import ReflectanceDataset
from id2reflectance.errors import ConfigError, Id2rError, InputFileError
from id2reflectance.face.detect import alignment_matrix, alignment_scale, detect_faces, find_faces
from id2reflectance.face.identity import DlibIdentityEncoder
from id2reflectance.inference.output import write_prediction
from id2reflectance.inference.predictor import (
    TONE_GAIN_MAX,
    TONE_GAIN_MIN,
    FacePrediction,
    InferConfig,
    Inferencer,
    decode_view,
    encode_view,
    stitch_config,
)
from id2reflectance.inference.template_subjects import TemplateBank
from id2reflectance.model.loading import load_swapper
from id2reflectance.processing.asset import read_asset
from tests.face_model_data import needs_model
from tests.london_photos import london_photo


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embed_cache")


@pytest.fixture(scope="module")
def bank(face_dataset: Path, cache: Path) -> TemplateBank:
    return TemplateBank(face_dataset, split="train", cache_dir=cache)


@pytest.fixture(scope="module")
def embeddings(bank: TemplateBank) -> dict[str, np.ndarray]:
    return bank.embeddings(DlibIdentityEncoder())


# ----------------------------------------------------------------------------- templates


def test_bank_lists_train_templates_and_caches_outside_dataset(bank, embeddings, cache, face_dataset, monkeypatch):
    assert bank.ids() == ["S0001", "S0002", "S0003"]
    assert bank.mesh("S0001").vertices.shape == np.load(face_dataset / "subjects/S0001/mesh_vertices.npy").shape
    for e in embeddings.values():
        assert e.shape == (128,) and abs(float(np.linalg.norm(e)) - 1.0) < 1e-4
    files = list((cache / "templates").glob("*.json"))
    assert len(files) == 1 and bank.sha256[:16] in files[0].name
    assert not list(face_dataset.rglob("*embed*")) and not list(face_dataset.rglob("templates"))

    # a second bank reads the cache: the encoder is not run again
    def boom(*a, **k):
        raise AssertionError("embedding recomputed despite the cache")

    monkeypatch.setattr(template_subjects, "aligned_landmarks", boom)
    with pytest.raises(AssertionError, match="embedding recomputed"):  # the patch reaches the bank
        TemplateBank(face_dataset, split="train", cache_dir=cache).embeddings(_Dim(128), encoder_key="not-cached")
    second = TemplateBank(face_dataset, split="train", cache_dir=cache)
    again = second.embeddings(_Dim(128), encoder_key="DlibIdentityEncoder-128")
    for sid, e in embeddings.items():
        np.testing.assert_allclose(again[sid], e, atol=1e-6)
    # the front views' photo ITA is cached with the embeddings, and the calibration refitted from it
    entries = json.loads(files[0].read_text())["subjects"]
    assert all("photo_ita_deg" in v for v in entries.values())
    assert second.photo_ita == bank.photo_ita and set(bank.photo_ita) == set(bank.ids())
    assert second.ita_calibration == bank.ita_calibration


class _Dim:
    """An identity encoder of some dimension that embeds nothing (only ``dim`` is read)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed(self, image, landmarks=None):  # pragma: no cover - never called
        raise AssertionError("not expected to embed")


def test_retrieval_exact_template(bank, embeddings):
    for sid, e in embeddings.items():
        r = bank.retrieve(e, embeddings, ita_deg=None, ita_weight=0.01)
        assert r.template_id == sid
        assert r.score == pytest.approx(1.0, abs=1e-5)
        assert set(r.scores) == set(embeddings)


def test_retrieval_ita_term_moves_the_choice(bank, embeddings):
    a, b = "S0001", "S0002"
    ita_b = bank.subject(b).ita_deg
    e = embeddings[a]
    assert bank.retrieve(e, embeddings, ita_deg=ita_b, ita_weight=0.0).template_id == a
    r = bank.retrieve(e, embeddings, ita_deg=ita_b, ita_weight=1.0)
    assert r.template_id == b  # same skin tone outweighs the identity
    expected = float(np.dot(e, embeddings[a])) - abs(ita_b - bank.subject(a).ita_deg)
    assert r.scores[a] == pytest.approx(expected, abs=1e-5)


def test_retrieval_fixed_exclude_and_errors(bank, embeddings, face_dataset, tmp_path):
    e = embeddings["S0001"]
    r = bank.retrieve(e, embeddings, ita_deg=None, ita_weight=0.0, fixed="S0003")
    assert r.template_id == "S0003" and r.score == pytest.approx(float(np.dot(e, embeddings["S0003"])), abs=1e-5)
    assert bank.retrieve(e, embeddings, ita_deg=None, ita_weight=0.0, exclude=("S0001",)).template_id != "S0001"
    with pytest.raises(InputFileError, match=r"'S9999'.*valid: \['S0001', 'S0002', 'S0003'\]"):
        bank.retrieve(e, embeddings, ita_deg=None, ita_weight=0.0, fixed="S9999")
    with pytest.raises(InputFileError, match="not in the template split 'train'"):
        bank.subject("S0000")
    with pytest.raises(Id2rError, match="every template"):
        bank.retrieve(e, embeddings, ita_deg=None, ita_weight=0.0, exclude=tuple(embeddings))
    with pytest.raises(InputFileError, match="no subject in split 'val'"):
        TemplateBank(face_dataset, split="val", cache_dir=tmp_path)
    broken = tmp_path / "ds"
    shutil.copytree(face_dataset, broken)
    for p in broken.glob("subjects/*/mesh_vertices.npy"):
        p.unlink()
    with pytest.raises(InputFileError, match=r"no usable template.*mesh_vertices\.npy") as info:
        TemplateBank(broken, split="train", cache_dir=tmp_path)
    assert str(broken) in str(info.value)


def test_decode_inverts_the_dataset_loader(face_dataset, bank):
    ds = ReflectanceDataset(
        face_dataset,
        split="train",
        domains=("rgb", "diffuse", "specular", "roughness", "normal"),
        views=("front",),
        resolution=bank.image_size,
    )
    item = ds[0]
    dec = decode_view({k: item[k].numpy() for k in ds.domains}, bank.mask(item["subject"], "front", bank.image_size))
    ref = bank.view_maps(item["subject"], "front", bank.image_size)
    m = ref["mask"]
    assert m.sum() > 100
    for name, tol in (("diffuse_albedo", 2e-3), ("specular_albedo", 1e-4), ("roughness", 1e-4), ("normal", 1e-3)):
        np.testing.assert_allclose(dec[name][m], ref[name][m], atol=tol, err_msg=name)
    np.testing.assert_allclose(dec["rgb"], ref["rgb"], atol=1e-6)


# ----------------------------------------------------------------------------- ground-truth swapper


class GroundTruthSwapper:
    """Returns, for every template view in the batch, that template's own dataset maps
    (found by matching the input RGB exactly), in the model's [-1, 1] encoding."""

    domains = ("rgb", "diffuse", "specular", "roughness", "normal")

    def __init__(self, root: Path, resolution: int) -> None:
        self.resolution = resolution
        self.id_dim = 128
        ds = ReflectanceDataset(
            root, split="all", domains=self.domains, views=("front", "left", "right"), resolution=resolution
        )
        self.items = [ds[i] for i in range(len(ds))]

    def predict(
        self, template_rgb: torch.Tensor, identity: torch.Tensor, *, modulate: bool = True
    ) -> dict[str, torch.Tensor]:
        out: dict[str, list[torch.Tensor]] = {d: [] for d in self.domains}
        for x in template_rgb:
            hit = [it for it in self.items if torch.allclose(it["rgb"], x, atol=1e-6)]
            assert len(hit) == 1
            for d in self.domains:
                out[d].append(hit[0][d])
        return {d: torch.stack(v) for d, v in out.items()}


def test_ground_truth_views_reproduce_the_template_uv_maps(face_dataset, bank, embeddings, cache):
    sw = GroundTruthSwapper(face_dataset, bank.image_size)
    # the template is fixed: which one retrieval picks for this photo with another person's
    # identity depends on the tone estimate; this test is about the maps of the chosen template
    config = InferConfig(uv_size=256, cache_dir=str(cache), template="S0002")
    inf = Inferencer.from_swapper(sw, face_dataset, config, DlibIdentityEncoder())
    test_front = bank.root / "subjects/S0000/views/front/rgb_full.png"
    img = cv2.imread(str(test_front))[..., ::-1].copy()
    pred = inf.predict_aligned(img, identity=embeddings["S0002"], source="S0000")
    assert pred.template_id == "S0002"
    assert pred.template_score == pytest.approx(pred.scores["S0002"])
    seen = pred.uv["coverage"][..., 0] > 0.5
    assert seen.mean() > 0.2
    root = bank.subject("S0002").root / "uv"
    truth, _ = read_exr(root / "diffuse_albedo.exr")
    mse = np.mean((pred.uv["diffuse_albedo"][seen] - truth[seen]) ** 2)
    assert 10 * np.log10(1.0 / mse) > 30.0
    n_true, _ = read_exr(root / "normal_object.exr")
    cos = np.sum(pred.uv["normal_object"][seen] * n_true[seen], axis=-1)
    assert np.degrees(np.arccos(np.clip(np.median(cos), -1, 1))) < 3.0


def test_template_residual_returns_the_template_maps_when_identity_changes_nothing(
    tiny_swapper_run, face_dataset, bank, embeddings, cache
):
    """``output="template_residual"``: the template's dataset maps plus the swap's change.
    With the AdaIN heads zeroed (an identity that changes nothing) the views are the
    template's own maps, which the plain decoder misses by its reconstruction error; with
    the trained heads the result moves off the template's maps."""
    img = cv2.imread(str(bank.root / "subjects/S0000/views/front/rgb_full.png"))[..., ::-1].copy()
    r = bank.image_size

    def run(swapper, output):
        cfg = InferConfig(uv_size=256, cache_dir=str(cache), template="S0002", output=output)
        inf = Inferencer.from_swapper(swapper, face_dataset, cfg, DlibIdentityEncoder())
        return inf.predict_aligned(img, identity=embeddings["S0001"], source="S0000")

    trained, _ = load_swapper(tiny_swapper_run)
    neutral = copy.deepcopy(trained)
    for m in neutral.adain.values():
        torch.nn.init.zeros_(m.head.weight)
        torch.nn.init.zeros_(m.head.bias)
    for view in ("front", "left", "right"):
        ref = bank.view_maps("S0002", view, r)
        m = ref["mask"]
        # the encoding used for the residual round-trips through decode_view
        back = decode_view({"rgb": np.zeros((3, r, r), np.float32), **encode_view(ref)}, m)
        for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal"):
            np.testing.assert_allclose(back[name][m], ref[name][m], atol=1e-5, err_msg=name)
    res, dec = run(neutral, "template_residual"), run(neutral, "decode")
    moved = run(trained, "template_residual")
    for view in ("front", "left", "right"):
        ref = bank.view_maps("S0002", view, r)
        m = ref["mask"]
        for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal"):
            np.testing.assert_allclose(res.views[view][name][m], ref[name][m], atol=1e-5, err_msg=(view, name))
        err_dec = np.abs(dec.views[view]["diffuse_albedo"][m] - ref["diffuse_albedo"][m]).mean()
        err_moved = np.abs(moved.views[view]["diffuse_albedo"][m] - ref["diffuse_albedo"][m]).mean()
        assert err_dec > 1e-3 and err_moved > 1e-4, (view, err_dec, err_moved)
    with pytest.raises(ConfigError, match="output"):
        InferConfig(output="blend")  # type: ignore[arg-type]


def test_photo_front_view_predicts_the_front_from_the_photo(face_dataset, bank, embeddings, cache):
    """``front_view="photo"``: the swapper gets the aligned photo as the front view and the
    template's views as the sides. With the ground-truth swapper and a dataset view as the
    photo, the front maps are the photo subject's own and the sides the template's."""
    sw = GroundTruthSwapper(face_dataset, bank.image_size)
    img = cv2.imread(str(bank.root / "subjects/S0000/views/front/rgb_full.png"))[..., ::-1].copy()
    r = bank.image_size

    def run(front_view):
        cfg = InferConfig(uv_size=256, cache_dir=str(cache), template="S0002", front_view=front_view)
        inf = Inferencer.from_swapper(sw, face_dataset, cfg, DlibIdentityEncoder())
        return inf.predict_aligned(img, identity=embeddings["S0001"], source="S0000")

    photo, template = run("photo"), run("template")
    assert photo.template_id == template.template_id == "S0002"
    every = TemplateBank(face_dataset, split="all", cache_dir=cache)
    own, tpl = every.view_maps("S0000", "front", r), bank.view_maps("S0002", "front", r)
    m = own["mask"] & tpl["mask"]
    assert m.sum() > 100
    for name, tol in (("diffuse_albedo", 2e-3), ("roughness", 1e-4), ("normal", 1e-3)):
        np.testing.assert_allclose(photo.views["front"][name][m], own[name][m], atol=tol, err_msg=name)
        np.testing.assert_allclose(template.views["front"][name][m], tpl[name][m], atol=tol, err_msg=name)
    assert np.abs(own["diffuse_albedo"][m] - tpl["diffuse_albedo"][m]).mean() > 5e-3  # the test can tell them apart
    for view in ("left", "right"):
        for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal"):
            np.testing.assert_array_equal(photo.views[view][name], template.views[view][name])
    assert not np.allclose(photo.uv["diffuse_albedo"], template.uv["diffuse_albedo"])
    with pytest.raises(ConfigError, match="front_view"):
        InferConfig(front_view="photo", output="template_residual")
    with pytest.raises(ConfigError, match="front_view"):
        InferConfig(front_view="photo", output="template_tone")
    with pytest.raises(ConfigError, match="front_view"):
        InferConfig(front_view="left")  # type: ignore[arg-type]


def test_template_tone_scales_the_template_diffuse_by_the_photo_to_template_ratio(
    face_dataset, bank, embeddings, cache
):
    """``output="template_tone", tone_from="model"`` with the ground-truth swapper: the (unmodulated) model's
    diffuse for the photo (S0000's own front view) over that for the template's front view
    (S0002's) is the gain; every view is S0002's own maps, the diffuse multiplied by it."""
    sw = GroundTruthSwapper(face_dataset, bank.image_size)
    calls: list[tuple[int, bool]] = []
    plain_predict = sw.predict

    def recording_predict(x, identity, *, modulate=True):
        calls.append((len(x), modulate))
        return plain_predict(x, identity, modulate=modulate)

    sw.predict = recording_predict  # type: ignore[method-assign]
    img = cv2.imread(str(bank.root / "subjects/S0000/views/front/rgb_full.png"))[..., ::-1].copy()
    r = bank.image_size
    cfg = InferConfig(uv_size=256, cache_dir=str(cache), template="S0002", output="template_tone", tone_from="model")
    pred = Inferencer.from_swapper(sw, face_dataset, cfg, DlibIdentityEncoder()).predict_aligned(
        img, identity=embeddings["S0001"], source="S0000"
    )
    # the views with the identity, then the gain's pair (template front, photo) unmodulated
    assert calls == [(3, True), (2, False)]
    every = TemplateBank(face_dataset, split="all", cache_dir=cache)
    tpl_front = bank.view_maps("S0002", "front", r)
    m = tpl_front["mask"]
    own = np.where(m[..., None], every.view_maps("S0000", "front", r)["diffuse_albedo"], 0.0)
    expected = own[m].mean(axis=0) / tpl_front["diffuse_albedo"][m].mean(axis=0)
    assert np.all((expected > TONE_GAIN_MIN) & (expected < TONE_GAIN_MAX)) and np.abs(expected - 1).max() > 0.02
    np.testing.assert_allclose(pred.tone_gain, expected, rtol=2e-3)
    for view in ("front", "left", "right"):
        ref = bank.view_maps("S0002", view, r)
        vm = ref["mask"]
        got = pred.views[view]
        np.testing.assert_allclose(
            got["diffuse_albedo"][vm], np.clip(ref["diffuse_albedo"][vm] * np.array(pred.tone_gain), 0, 1), atol=1e-4
        )
        for name in ("specular_albedo", "roughness", "normal"):
            np.testing.assert_allclose(got[name][vm], ref[name][vm], atol=1e-5, err_msg=(view, name))
    with pytest.raises(ConfigError, match="front view"):
        InferConfig(output="template_tone", views=("left", "right"))


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def inferencer(tiny_swapper_run, face_dataset, cache) -> Inferencer:
    return Inferencer(tiny_swapper_run, face_dataset, InferConfig(uv_size=256, cache_dir=str(cache)))


def _check_prediction(pred: FacePrediction, r: int, views: tuple[str, ...]) -> None:
    assert pred.aligned.shape == (r, r, 3) and pred.aligned.dtype == np.uint8
    assert pred.identity.shape == (128,) and abs(float(np.linalg.norm(pred.identity)) - 1) < 1e-4
    assert set(pred.views) == set(views)
    for v, m in pred.views.items():
        mask = m["mask"]
        assert mask.shape == (r, r) and mask.dtype == bool and mask.sum() > 0.2 * r * r, v
        for name, shape in (("rgb", 3), ("diffuse_albedo", 3), ("specular_albedo", 1), ("roughness", 1), ("normal", 3)):
            a = m[name]
            assert a.shape == (r, r, shape) and a.dtype == np.float32 and np.all(np.isfinite(a)), (v, name)
        for name in ("rgb", "diffuse_albedo", "roughness"):
            assert m[name].min() >= 0 and m[name].max() <= 1
        assert 0 <= m["specular_albedo"].min() and m["specular_albedo"].max() <= 0.25
        np.testing.assert_allclose(np.linalg.norm(m["normal"][mask], axis=-1), 1.0, atol=1e-4)
        assert np.all(m["diffuse_albedo"][~mask] == 0)
    s = 256
    shapes = {"diffuse_albedo": 3, "specular_albedo": 1, "roughness": 1, "normal_object": 3, "normal_tangent": 3}
    for name, c in {**shapes, "coverage": 1}.items():
        a = pred.uv[name]
        assert a.shape == (s, s, c) and a.dtype == np.float32 and np.all(np.isfinite(a)), name
    assert 0 < pred.coverage_seen < 1
    np.testing.assert_allclose(np.linalg.norm(pred.uv["normal_object"], axis=-1), 1.0, atol=1e-4)


def test_predict_aligned_held_out_subject_and_write(inferencer, bank, tmp_path):
    img = cv2.imread(str(bank.root / "subjects/S0000/views/front/rgb_full.png"))[..., ::-1].copy()
    pred = inferencer.predict_aligned(img, source="S0000", exclude=("S0001",))
    assert pred.template_id in ("S0002", "S0003")
    assert pred.box is None
    _check_prediction(pred, inferencer.resolution, ("front", "left", "right"))
    out = write_prediction(pred, tmp_path / "out", mesh_from=inferencer)
    assert out == tmp_path / "out" / "S0000"
    asset = read_asset(out / "asset")
    assert asset.frame == "template" and asset.manifest["source"]["kind"] == "photo"
    assert asset.manifest["source"]["template_id"] == pred.template_id
    assert len(asset.manifest["source"]["checkpoint_sha256"]) == 64
    np.testing.assert_array_equal(asset.mesh.faces, inferencer.template_mesh(pred.template_id).faces)
    np.testing.assert_allclose(asset.maps.diffuse_albedo, pred.uv["diffuse_albedo"], atol=1e-6)
    doc = json.loads((out / "prediction.json").read_text())
    assert doc["template"]["id"] == pred.template_id and doc["asset"] == "asset"
    assert doc["warnings"] == [] and pred.warnings == ()
    for v in ("front", "left", "right"):
        for f in ("rgb", "diffuse_albedo", "specular_albedo", "roughness", "normal", "mask"):
            assert (out / "views" / v / f"{f}.png").is_file()
    assert (out / "aligned.png").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_predict_image_astronaut(inferencer):
    photo = data.astronaut()
    preds = inferencer.predict_image(photo, source="astronaut.png")
    assert len(preds) == 1
    pred = preds[0]
    assert pred.face_index == 0 and pred.box is not None and pred.landmarks.shape == (68, 2)
    assert pred.warnings == ()  # a colour photo, the face reduced to the model's size
    assert pred.template_id in inferencer.template_ids()
    assert pred.photo_ita_deg is not None and 10 < pred.photo_ita_deg < 60  # light skin (Fitzpatrick I-III)
    # retrieval used the eye-white referenced ITA when there is one, else the measured ITA (no calibration by default)
    want = pred.eye_white_ita_deg if pred.eye_white_ita_deg is not None else pred.photo_ita_deg
    assert pred.ita_deg == want and pred.skin_tone_source == (
        "photo" if pred.eye_white_ita_deg is None else "eye_white"
    )
    calibrated = copy.copy(inferencer)
    calibrated.config = dataclasses.replace(inferencer.config, ita_calibration=True)
    est = calibrated.face_ita(pred.photo_ita_deg)
    cal = inferencer.bank.ita_calibration  # fitted on the templates' front views
    if cal is None:
        assert est is None
    else:
        assert est == pytest.approx(cal.albedo_ita(pred.photo_ita_deg)) and cal.low <= est <= cal.high
    _check_prediction(pred, inferencer.resolution, ("front", "left", "right"))
    # the front view predicted from the photo itself is just as plausible
    photo_front = copy.copy(inferencer)
    photo_front.config = dataclasses.replace(inferencer.config, front_view="photo")
    pf = photo_front.predict_image(photo, source="astronaut.png")[0]
    assert pf.template_id == pred.template_id
    _check_prediction(pf, inferencer.resolution, ("front", "left", "right"))
    for p in (pred, pf):
        front = p.views["front"]
        med = np.median(front["diffuse_albedo"][front["mask"]], axis=0)
        assert med[0] > med[1] > med[2], med  # skin-coloured
        assert 0.05 < med[0] < 0.8 and med[2] > 0.01, med
    assert not np.array_equal(pf.views["front"]["diffuse_albedo"], pred.views["front"]["diffuse_albedo"])
    # the identity is the encoder's embedding of the photo's face
    face = detect_faces(photo)[0]
    e = inferencer.encoder.embed(photo, face.landmarks)
    assert float(np.dot(e, pred.identity)) > 0.999


def test_inferencer_keeps_the_baking_geometry_of_recent_templates(inferencer, monkeypatch):
    photo = inferencer.bank.rgb("S0002", "front", inferencer.resolution)
    aligned = np.round(photo * 255).astype(np.uint8)
    first = inferencer.predict_aligned(aligned, source="S0002", exclude=("S0002",))
    tid = first.template_id
    kept = inferencer.prepared_mesh(tid)
    assert inferencer.prepared_mesh(tid) is kept and kept.size == inferencer.config.uv_size
    again = inferencer.predict_aligned(aligned, source="S0002", exclude=("S0002",))
    for k in first.uv:  # the kept geometry bakes exactly what a fresh one does
        np.testing.assert_array_equal(first.uv[k], again.uv[k])
    # room for one 256-texel template: preparing another drops the least recently used
    monkeypatch.setattr(infer_mod, "PREPARED_MESH_TEXELS", 256 * 256)
    other = next(t for t in inferencer.template_ids() if t != tid)
    inferencer.prepared_mesh(other)
    assert list(inferencer._prepared) == [other]
    assert inferencer.prepared_mesh(tid) is not kept


def test_predict_image_greyscale_photo(inferencer, embeddings):
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    pred = inferencer.predict_image(grey, source="bw.png")[0]
    assert pred.photo_ita_deg is None and pred.ita_deg is None
    assert len(pred.warnings) == 1 and "greyscale photo" in pred.warnings[0]
    # retrieval by identity alone: every score is the plain cosine
    for tid, score in pred.scores.items():
        assert score == pytest.approx(float(np.dot(pred.identity, embeddings[tid])), abs=1e-5)
    _check_prediction(pred, inferencer.resolution, ("front", "left", "right"))
    # the photo as the front view reads the photo's colour: refused
    other = copy.copy(inferencer)
    other.config = dataclasses.replace(inferencer.config, front_view="photo")
    with pytest.raises(Id2rError, match="bw.png is a greyscale photo"):
        other.predict_image(grey, source="bw.png")
    with pytest.raises(Id2rError, match="S0000 is a greyscale photo"):
        aligned = cv2.cvtColor(pred.aligned, cv2.COLOR_RGB2GRAY)
        other.predict_aligned(np.repeat(aligned[..., None], 3, axis=2), source="S0000")
    # template-tone: the template subject's own diffuse, untoned (gain 1), with the warning
    toned = copy.copy(inferencer)
    toned.config = dataclasses.replace(inferencer.config, output="template_tone")
    tt = toned.predict_image(grey, source="bw.png")[0]
    assert tt.tone_gain == (1.0, 1.0, 1.0) and "untoned" in tt.warnings[0] and tt.ita_deg is None
    tid, r = tt.template_id, inferencer.resolution
    ref = inferencer.bank.view_maps(tid, "front", r)
    m = ref["mask"]
    np.testing.assert_allclose(tt.views["front"]["diffuse_albedo"][m], ref["diffuse_albedo"][m], atol=1e-6)


def test_predict_image_warns_about_exposure(inferencer):
    photo = data.astronaut().astype(np.float64)
    over = inferencer.predict_image(np.clip(photo * 1.6, 0, 255).astype(np.uint8), source="over.png")[0]
    assert len(over.warnings) == 2 and "skin is clipped (over-exposed)" in over.warnings[0]
    assert "eye whites are clipped in every channel" in over.warnings[1]  # its tone from the wider set
    dark = inferencer.predict_image(np.clip(photo * 0.08, 0, 255).astype(np.uint8), source="dark.png")[0]
    assert dark.photo_ita_deg is None and dark.ita_deg is None
    assert "nearly black (under-exposed)" in dark.warnings[0] and "too little usable skin" in dark.warnings[1]


def test_predict_image_of_a_sideways_photo(inferencer):
    photo = data.astronaut()
    ref = inferencer.predict_image(photo, source="astronaut.png")[0]
    pred = inferencer.predict_image(np.ascontiguousarray(np.rot90(photo, 3)), source="sideways.png")[0]
    assert len(pred.warnings) == 1 and "turned 90 degrees" in pred.warnings[0]
    # the same face, read upright: identity, skin tone, template and maps as for the upright photo
    assert float(np.dot(pred.identity, ref.identity)) > 0.9999
    assert pred.photo_ita_deg == pytest.approx(ref.photo_ita_deg, abs=1e-6)
    assert pred.template_id == ref.template_id
    np.testing.assert_array_equal(pred.aligned, ref.aligned)
    np.testing.assert_allclose(pred.uv["diffuse_albedo"], ref.uv["diffuse_albedo"], atol=1e-5)
    assert pred.box != ref.box  # reported in the photo as given


def test_predict_image_warns_about_an_enlarged_face(inferencer, monkeypatch):
    thumb = cv2.resize(data.astronaut(), (112, 112), interpolation=cv2.INTER_AREA)  # a face about 20 px wide
    face = find_faces(thumb)[0]
    scale = alignment_scale(alignment_matrix(face.landmarks, inferencer.resolution))
    monkeypatch.setattr(infer_mod, "MAX_UPSCALE", scale * 1.01)
    assert inferencer.predict_image(thumb, source="thumb.png")[0].warnings == ()
    monkeypatch.setattr(infer_mod, "MAX_UPSCALE", scale * 0.99)
    pred = inferencer.predict_image(thumb, source="thumb.png")[0]
    width = face.box[2] - face.box[0]
    assert pred.warnings == (
        f"the face is {width} px wide in the photo and is enlarged {scale:.1f}x to the model's "
        f"{inferencer.resolution} px: the maps carry little of this face's detail",
    )


def test_predict_image_errors(inferencer, tiny_swapper_run, face_dataset, cache):
    grey = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(Id2rError, match="no face found in grey.png"):
        inferencer.predict_image(grey, source="grey.png")
    two = np.concatenate([data.astronaut(), data.astronaut()], axis=1)
    with pytest.raises(Id2rError, match=r"2 faces found in two.png .*\(175, 76, 265, 166\).*--all-faces"):
        inferencer.predict_image(two, source="two.png")
    with pytest.raises(ConfigError, match="128-d identities but the identity encoder _Dim gives 512-d"):
        Inferencer(tiny_swapper_run, face_dataset, InferConfig(cache_dir=str(cache)), identity=_Dim(512))
    with pytest.raises(InputFileError, match="valid:"):
        Inferencer(tiny_swapper_run, face_dataset, InferConfig(template="S0000", cache_dir=str(cache)))
    # a model trained in another UV layout than the dataset's: one error naming the checkpoint's field
    swapper, meta = load_swapper(tiny_swapper_run)
    assert meta["meta"]["template"]["name"] == "id2r-procedural-head-v1"  # trained on a procedural dataset
    other = {**meta, "meta": {**meta["meta"], "template": {"name": "id2r-ict-face-skin-v1", "sha256": "ab" * 32}}}
    with pytest.raises(InputFileError, match=r"checkpoint.json: meta.template: the model was trained in the UV layout"):
        Inferencer.from_swapper(swapper, face_dataset, InferConfig(cache_dir=str(cache)), meta=other)
    old = {**meta, "meta": {k: v for k, v in meta["meta"].items() if k != "template"}}  # before layouts were recorded
    assert Inferencer.from_swapper(swapper, face_dataset, InferConfig(cache_dir=str(cache)), meta=old).bank
    with pytest.raises(ConfigError, match="views"):
        InferConfig(views=("front", "top"))
    with pytest.raises(ConfigError, match="uv_size"):
        InferConfig(uv_size=100)


def test_retrieval_tone_of_the_astronaut_follows_her_not_the_exposure(inferencer):
    """The ITA retrieval uses stays within a few degrees over -1 .. +0.75 stop and warm / cool
    light; over-exposed beyond what the eye whites can reference, retrieval uses identity alone
    (formerly the photo ITA, 40 degrees lighter at +0.75 stop) and says so."""
    from id2reflectance.evaluation.photo_variants import COOL, WARM, photo_variant

    photo = data.astronaut()
    base = inferencer.predict_image(photo)[0]
    assert base.skin_tone_source == "eye_white" and base.ita_deg is not None
    for stops, gains in ((-1.0, (1.0, 1.0, 1.0)), (0.0, WARM), (0.0, COOL), (0.75, (1.0, 1.0, 1.0))):
        pred = inferencer.predict_image(photo_variant(photo, stops=stops, gains=gains))[0]
        assert pred.skin_tone_source == "eye_white", (stops, gains)
        assert pred.ita_deg == pytest.approx(base.ita_deg, abs=3.5), (stops, gains)
    lost = inferencer.predict_image(photo_variant(photo, stops=2.0))[0]  # eye whites clipped in every channel
    assert lost.skin_tone_source == "none" and lost.ita_deg is None and lost.eye_white_ita_deg is None
    assert lost.photo_ita_deg is not None and any("identity alone" in w for w in lost.warnings)
    assert any("clipped" in w for w in lost.warnings)


def test_template_tone_of_the_astronaut_follows_her_not_the_exposure_nor_the_template(inferencer, monkeypatch):
    """Output ``template_tone``: the predicted front skin's ITA is the calibrated eye-white
    tone's (reached where the template's gain allows, else its closest tone), the same within 2.5
    degrees over -1 .. +0.75 stop and warm / cool light on each of two templates; the model's reading of the photo (the gain until 2026-12-07) gave the same
    photo an ITA that depends on the template retrieved (23.6 and 32.9 degrees here), which on
    the London photos moved the tone whenever retrieval switched template between variants.
    The astronaut smiles broadly (mouth lift ~0.12): with the smile gain (2026-12-07) her target is
    darker than any tone the tiny test templates reach, so the exposure checks run without it (the
    end of the test: with it, the same target darker by the gain, still stable)."""
    from id2reflectance.evaluation.photo_variants import COOL, WARM, photo_variant
    from id2reflectance.face import white_reference
    from id2reflectance.inference.albedo_tone import GAIN_RANGE, albedo_ita_from_eye_white, skin_ita, skin_pixels

    shipped = white_reference.SMILE_GAIN
    monkeypatch.setattr(white_reference, "SMILE_GAIN", 0.0)

    photo = data.astronaut()
    variants = ((0.0, (1.0, 1.0, 1.0)), (-1.0, (1.0, 1.0, 1.0)), (0.0, WARM), (0.0, COOL), (0.75, (1.0, 1.0, 1.0)))

    def front_ita(template: str, tone_from: str, stops: float, gains: tuple[float, float, float]):
        inf = copy.copy(inferencer)
        inf.config = dataclasses.replace(
            inferencer.config, output="template_tone", template=template, tone_from=tone_from
        )
        p = inf.predict_image(photo_variant(photo, stops=stops, gains=gains))[0]
        return skin_ita(p.views["front"]["diffuse_albedo"], skin_pixels(p.views["front"]["mask"])), p

    new, per_template, targets = [], {}, []
    for template in ("S0002", "S0003"):
        for stops, gains in variants:
            ita, p = front_ita(template, "eye_white", stops, gains)
            assert p.skin_tone_source == "eye_white" and p.template_id == template
            assert p.albedo_ita_target == pytest.approx(albedo_ita_from_eye_white(p.eye_white_ita_deg))
            targets.append(p.albedo_ita_target)
            per_template.setdefault(template, []).append(ita)
            if GAIN_RANGE[0] < min(p.tone_gain) and max(p.tone_gain) < GAIN_RANGE[1]:
                assert ita == pytest.approx(p.albedo_ita_target, abs=0.05)
                new.append(ita)
            else:  # a gain at its bound: the template's closest tone, lighter than the target here
                assert ita > p.albedo_ita_target
    # the calibrated target moves < 4.5 degrees over the variants, and so does the prediction on each
    # template, whether it reaches the target or stops at its gain's bound: the tiny test templates cannot go
    # as dark as the line refitted on photo subjects (2026-12-07, -5.78 + 0.831 x) asks for most variants.
    # (< 2.5 until the skin sample left hair out, branch tone22e: her light-brown fringe reads 0.3-0.5 of the
    # skin's median luminance, about the cut, and the forehead band's top edge, placed by the landmarks found
    # in each variant, moves along it: 4.0 degrees now, 2.3 before; with the landmarks of the photo as shot
    # 2.9, 2.5 before, most of it the +0.75 stop's clipping)
    assert new and np.ptp(targets) < 4.5, targets
    assert all(np.ptp(v) < 4.5 for v in per_template.values()), per_template
    old = [front_ita(template, "model", 0.0, (1.0, 1.0, 1.0)) for template in ("S0002", "S0003")]
    assert all(p.albedo_ita_target is None for _, p in old)
    assert abs(old[0][0] - old[1][0]) > 5.0
    # the shipped smile gain: every variant's eye white read brighter by her smile, the target darker
    monkeypatch.setattr(white_reference, "SMILE_GAIN", shipped)
    smiling = [front_ita("S0002", "eye_white", stops, gains)[1] for stops, gains in variants]
    print("targets with the smile gain", [p.albedo_ita_target for p in smiling], "without", targets[:5])
    for p, before in zip(smiling, targets[:5]):
        assert p.albedo_ita_target < before - 1.0
    assert np.ptp([p.albedo_ita_target for p in smiling]) < 4.5  # 4.1 (2.5 before branch tone22e: above)


def test_predict_image_warns_about_a_face_cut_by_the_frame(inferencer):
    photo, lm = london_photo("001")
    whole = inferencer.predict_image(photo, source="001.jpg")[0]
    assert not [w for w in whole.warnings if "frame" in w or "mirror" in w]
    assert whole.eye_white_ita_deg is not None and whole.skin_tone_source == "eye_white"
    assert whole.ita_deg == whole.eye_white_ita_deg
    cut = np.ascontiguousarray(photo[:, : int(lm[:, 0].mean() + 0.15 * np.ptp(lm[:, 0]))])  # made here, not saved
    pred = inferencer.predict_image(cut, source="cut.jpg")[0]
    assert any("cut by the photo's frame" in w for w in pred.warnings)
    assert any("mirroring the photo" in w for w in pred.warnings)
    # the photo's own colour when asked for it
    photo_tone = copy.copy(inferencer)
    photo_tone.config = dataclasses.replace(inferencer.config, skin_tone="photo")
    again = photo_tone.predict_image(photo, source="001.jpg")[0]
    assert again.skin_tone_source == "photo" and again.ita_deg == again.photo_ita_deg
    with pytest.raises(ConfigError, match="skin_tone"):
        InferConfig(skin_tone="sclera")  # type: ignore[arg-type]


def test_a_face_whose_eye_whites_are_clipped_in_every_channel_gets_a_warning():
    """London 001 one stop over: with the landmarks found in that photo the eye whites' usual set is clipped
    in every channel, so their colour comes from a wider set times a typical factor: the photo's warnings
    say so (the tone still exists); as shot, no such warning."""
    from id2reflectance.evaluation.photo_variants import photo_variant
    from id2reflectance.face.white_reference import CLIPPED_WARNING

    photo, lm = london_photo("001")
    assert not [w for w in infer_mod._skin_tone(photo, lm, eye_white=True)[2] if "eye whites" in w]
    plus1 = photo_variant(photo, stops=1.0)
    ita, eye, warnings, _ = infer_mod._skin_tone(plus1, find_faces(plus1)[0].landmarks, eye_white=True)
    assert eye.ita_deg is not None and CLIPPED_WARNING in warnings
    assert CLIPPED_WARNING not in infer_mod._skin_tone(plus1, lm, eye_white=False)[2]  # photo ITA: not its concern


def test_stitching_wraps_in_u_only_in_a_chart_closed_in_u():
    from id2reflectance.capture.geometry.mesh import FaceMesh
    from tests.processing.asset_fixtures import uv_sphere

    closed = uv_sphere()  # u = 0 and u = 1 the same seam, as in the procedural template's chart
    cfg = stitch_config(256, closed)
    assert cfg.size == 256 and cfg.wrap_u
    atlas = FaceMesh(closed.vertices, closed.faces, closed.uvs * [0.5, 1.0])  # a chart open in u
    assert not stitch_config(256, atlas).wrap_u


@needs_model
def test_a_model_trained_in_the_procedural_layout_keeps_its_layout(inferencer, tiny_swapper_run):
    """The default layout is the face model's, but a model trained in the procedural one
    (every model trained before) runs on its own dataset's layout, stitched with the wrap."""
    from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME, is_template_topology
    from id2reflectance.capture.geometry.templates import FACE_TEMPLATE_NAME, resolve_template

    assert resolve_template("auto").name == FACE_TEMPLATE_NAME
    _, meta = load_swapper(tiny_swapper_run)
    assert meta["meta"]["template"]["name"] == TEMPLATE_NAME == inferencer.bank.layout["name"]
    tid = inferencer.template_ids()[0]
    mesh = inferencer.template_mesh(tid)
    assert is_template_topology(mesh) and stitch_config(256, mesh).wrap_u
    pred = inferencer.predict_aligned(
        np.round(inferencer.bank.rgb(tid, "front", inferencer.resolution) * 255).astype(np.uint8), source=tid
    )
    assert pred.uv["diffuse_albedo"].shape == (256, 256, 3) and 0 < pred.coverage_seen < 1
