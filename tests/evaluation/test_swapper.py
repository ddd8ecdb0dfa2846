"""Swapper evaluation end to end (id2reflectance.evaluation.swapper, eval_report).

Uses the session fixtures ``face_dataset`` (4 subjects at 32 px, S0000 held out) and
``tiny_swapper_run`` (a tiny swapper trained on it) from tests/conftest.py.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.evaluation.inputs import load_subject_truth, read_png, resize_map, shade_full_on, skin_mask
from id2reflectance.evaluation.report import format_table, line_plot, scaling_series, write_report
from id2reflectance.evaluation.swapper import (
    DOMAINS,
    CheckpointSpec,
    IdentityEmbeddings,
    SwapperEvalConfig,
    _scaling_points,
    evaluate_swapper,
    identity_retrieval,
    parse_checkpoint_spec,
    photo_names,
    training_subjects,
)
from id2reflectance.inference.predictor import InferConfig, Inferencer
from id2reflectance.inference.template_subjects import TemplateBank
from id2reflectance.model.image_metrics import psnr

TEST_SUBJECT = "S0000"
TRAIN_SUBJECTS = ("S0001", "S0002", "S0003")


@pytest.fixture(scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _walk_numbers(obj: Any, where: str = "") -> list[tuple[str, float]]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _walk_numbers(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _walk_numbers(v, f"{where}[{i}]")
    elif isinstance(obj, float | int) and not isinstance(obj, bool):
        out.append((where, float(obj)))
    return out


@pytest.fixture(scope="module")
def evaluated(face_dataset: Path, tiny_swapper_run: Path, tmp_path_factory, one_thread):
    """One evaluation: two labelled checkpoints plus the fixed-template row; the fixed
    template is a training subject that retrieval does not choose."""
    tmp = tmp_path_factory.mktemp("eval_swapper")
    cache = str(tmp / "cache")
    photo = read_png(face_dataset / "subjects" / TEST_SUBJECT / "views/front/rgb_full.png")
    probe = Inferencer(tiny_swapper_run, face_dataset, InferConfig(views=("front",), uv_size=256, cache_dir=cache))
    retrieved = probe.predict_aligned(photo, exclude=(TEST_SUBJECT,)).template_id
    fixed = next(s for s in TRAIN_SUBJECTS if s != retrieved)
    cfg = SwapperEvalConfig(fixed_template=fixed, cache_dir=cache, grid_subjects=2)
    specs = [CheckpointSpec("base", tiny_swapper_run), CheckpointSpec("n2", tiny_swapper_run)]
    calls: list[tuple[str, int, int]] = []
    evaluation = evaluate_swapper(face_dataset, specs, cfg, progress=lambda *a: calls.append(a))
    report = write_report(evaluation, tmp / "report")
    return evaluation, report, fixed, calls


def test_metrics_complete_and_finite(evaluated) -> None:
    evaluation, report, fixed, calls = evaluated
    m = json.loads((report / "metrics.json").read_text())
    assert m == json.loads(json.dumps(evaluation.metrics))
    assert m["subjects"] == [TEST_SUBJECT]
    assert m["config"]["environments"] == ["full", "env0"]
    assert m["lpips_available"] is False
    assert [r["name"] for r in m["rows"]] == [
        "base",
        f"base (fixed {fixed})",
        "base (photo-front)",
        "base (template-tone)",
        "n2",
        "template maps (retrieved by base, no swap)",
    ]
    for r in m["rows"]:
        a = r["aggregate"]
        assert a["inputs"] == 2 and len(r["per_input"]) == 2
        for d in DOMAINS:
            for v in ("front", "left", "right"):
                assert set(a["per_view"][v][d]) == {"psnr", "ssim"}
            assert a["uv_psnr"][d] is not None
        assert set(a["diffuse"]) == {"view", "psnr", "ssim", "lpips", "id_similarity", "id_similarity_gt_render"}
        assert a["diffuse"]["lpips"] is None  # no weights: unavailable, never faked
        # the ground-truth maps' rendering is the reference: no prediction's rendering is closer to the photo
        assert -1.0 <= a["diffuse"]["id_similarity"] <= a["diffuse"]["id_similarity_gt_render"] <= 1.0
        fair = a["fair"]
        assert fair["populated_groups"] == sum(g["count"] > 0 for g in fair["groups"]) >= 1
        assert fair["score"] == pytest.approx(fair["average_ita_error"] + fair["bias"])
        for rec in r["per_input"]:
            assert rec["template"] != TEST_SUBJECT
            assert rec["ita"]["error"] == pytest.approx(abs(rec["ita"]["pred"] - rec["ita"]["gt"]))
            assert rec["ita"]["skin_pixels"] > 0
            assert rec["diffuse"]["id_similarity"] <= rec["diffuse"]["id_similarity_gt_render"]
        assert r["train_subjects"] == (None if r["mode"] == "template_maps" else 3)  # from the checkpoint
        # one held-out subject: retrieval among held-out subjects is undefined, never faked
        assert a["identity_retrieval"] == {"top1": None, "top1_gt_render": None, "chance": None, "inputs": 0}
    # the reference depends on the photo and the truth only: the same in every row
    assert len({r["aggregate"]["diffuse"]["id_similarity_gt_render"] for r in m["rows"]}) == 1
    numbers = _walk_numbers(m)
    assert numbers and all(math.isfinite(v) for _, v in numbers)
    assert calls[-1] == ("evaluate", 12, 12)


def test_template_maps_row_scores_the_retrieved_templates_truth(evaluated, face_dataset: Path) -> None:
    """The baseline row: per input, the template the first row retrieved, and PSNRs equal to
    comparing that template's views, as inference reads them (TemplateBank.view_maps: 0
    outside the mask, normals renormalised), with the subject's directly."""
    keys = {"diffuse": "diffuse_albedo", "specular": "specular_albedo", "roughness": "roughness", "normal": "normal"}
    bank = TemplateBank(face_dataset, split="train", cache_dir=str(face_dataset.parent / "bank_cache"))

    evaluation, _, _, _ = evaluated
    closest, baseline = evaluation.metrics["rows"][0], evaluation.metrics["rows"][-1]
    assert baseline["mode"] == "template_maps" and baseline["checkpoint"] is None
    assert [r["template"] for r in baseline["per_input"]] == [r["template"] for r in closest["per_input"]]
    recs = {s["id"]: s for s in json.loads((face_dataset / "dataset.json").read_text())["subjects"]}
    size = closest["resolution"]
    for rec in baseline["per_input"]:
        subj = load_subject_truth(face_dataset, recs[rec["subject"]], views=("front", "left", "right"), environments=())
        for view in ("front", "left", "right"):
            mask = resize_map(subj.views[view].mask, size)
            tmpl = bank.view_maps(rec["template"], view, size)
            for d in DOMAINS:
                t = tmpl[keys[d]] if d != "normal" else np.where(tmpl["mask"][..., None], (tmpl["normal"] + 1) / 2, 0.0)
                expected = psnr(t.astype(np.float32), resize_map(subj.views[view].maps[d], size), mask)
                assert rec["views"][view][d]["psnr"] == pytest.approx(expected, rel=1e-6)
        # UV: the template's own UV maps against the subject's, a finite comparison
        assert all(np.isfinite(v) for v in rec["uv"].values())
    # the swapper's prediction is not the template's maps
    assert closest["aggregate"]["diffuse"]["psnr"] != baseline["aggregate"]["diffuse"]["psnr"]


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_identity_retrieval_counts_own_prediction_first() -> None:
    basis = np.eye(4, dtype=np.float32)
    photos = [_unit(basis[i] + 0.1) for i in range(3)]
    # subject 2's prediction looks more like subject 0 than subject 0's own does, so subject
    # 0's photo retrieves it: 2 of 3 correct; the truth renders are the photos: 3 of 3
    preds = [_unit(basis[0]), _unit(basis[1]), _unit(basis[0] + 0.05 * basis[2])]
    emb = [IdentityEmbeddings(f"S{i}", "full", photos[i], preds[i], photos[i]) for i in range(3)]
    emb.append(IdentityEmbeddings("S0", "env0", photos[0], preds[0], photos[0]))  # alone: not counted
    r = identity_retrieval(emb)
    assert r == {"top1": pytest.approx(2 / 3), "top1_gt_render": 1.0, "chance": pytest.approx(1 / 3), "inputs": 3}
    assert identity_retrieval(emb[3:])["top1"] is None


def test_fixed_template_row_differs(evaluated) -> None:
    evaluation, _, fixed, _ = evaluated
    closest, fixed_row = evaluation.metrics["rows"][0], evaluation.metrics["rows"][1]
    assert closest["mode"] == "closest" and fixed_row["mode"] == "fixed"
    assert set(fixed_row["aggregate"]["templates"]) == {fixed}
    assert fixed not in closest["aggregate"]["templates"]
    # same checkpoint, other template: different predictions
    assert closest["aggregate"]["diffuse"]["psnr"] != fixed_row["aggregate"]["diffuse"]["psnr"]
    # the two closest rows of the same weights agree exactly
    assert closest["aggregate"] == evaluation.metrics["rows"][4]["aggregate"]


def test_prediction_variant_rows(evaluated) -> None:
    """The variant rows of the first checkpoint, on the same templates: photo-front (same
    side views up to float noise, another front view) and template-tone (the template's own
    specular, roughness and normals, its diffuse toned). They stay out of the scaling curve
    and are named in the report."""
    evaluation, report, _, _ = evaluated
    rows = evaluation.metrics["rows"]
    base, photo, tone, maps = rows[0], rows[2], rows[3], rows[-1]
    assert (base["output"], base["front_view"]) == ("decode", "template")
    assert (photo["output"], photo["front_view"]) == ("decode", "photo") and photo["mode"] == "closest"
    assert (tone["output"], tone["front_view"]) == ("template_tone", "template") and tone["mode"] == "closest"
    assert (maps["output"], maps["front_view"]) == (None, None)
    for r in (photo, tone):
        assert [x["template"] for x in r["per_input"]] == [x["template"] for x in base["per_input"]]
    for side in ("left", "right"):
        for d in DOMAINS:
            a, b = base["aggregate"]["per_view"][side][d], photo["aggregate"]["per_view"][side][d]
            assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-4) and a["ssim"] == pytest.approx(b["ssim"], abs=1e-5)
    assert base["aggregate"]["diffuse"]["psnr"] != photo["aggregate"]["diffuse"]["psnr"]
    for view in ("front", "left", "right"):
        for d in ("specular", "roughness", "normal"):
            a, b = maps["aggregate"]["per_view"][view][d], tone["aggregate"]["per_view"][view][d]
            assert a["psnr"] == pytest.approx(b["psnr"], abs=0.05), (view, d)
        assert (
            maps["aggregate"]["per_view"][view]["diffuse"]["psnr"]
            != tone["aggregate"]["per_view"][view]["diffuse"]["psnr"]
        )
    assert [p["label"] for p in evaluation.metrics["scaling"]] == ["n2"]
    md = (report / "report.md").read_text()
    assert "| base | closest, photo-front |" in md and "| base | closest, template-tone |" in md
    assert evaluation.metrics["config"]["variants"] == ["photo-front", "template-tone"]
    with pytest.raises(ConfigError, match="front_view"):
        SwapperEvalConfig(front_view="photo", output="template_tone")
    with pytest.raises(ConfigError, match="front_view"):
        SwapperEvalConfig(front_view="side")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="variants"):
        SwapperEvalConfig(variants=("sharpen",))


def test_variant_equal_to_the_main_prediction_is_not_repeated(face_dataset: Path, tiny_swapper_run: Path, tmp_path):
    cfg = SwapperEvalConfig(
        variants=("template-tone", "decode"),
        output="template_tone",
        template_ablation=False,
        template_maps=False,
        environments=("full",),
        views=("front",),
        uv=False,
        cache_dir=str(tmp_path / "cache"),
    )
    m = evaluate_swapper(face_dataset, [CheckpointSpec("a", tiny_swapper_run)], cfg).metrics
    assert [(r["name"], r["output"]) for r in m["rows"]] == [("a", "template_tone"), ("a (decode)", "decode")]


def test_report_files(evaluated, tmp_path) -> None:
    evaluation, report, _, _ = evaluated
    for name in ("report.md", "report.html", "metrics.json", "figures/grid.png"):
        assert (report / name).is_file(), name
    grid = cv2.imread(str(report / "figures/grid.png"))
    assert grid is not None and grid.shape[1] == 9 * 128
    # one held-out subject: the first checkpoint's main row and its two variants, in that order
    assert grid.shape[0] == 24 + 3 * 128
    assert [g.row for g in evaluation.grid] == ["base", "base (photo-front)", "base (template-tone)"]
    # both checkpoints are the same 3-subject run and only "n2" is a scaling label: one
    # point, so no curve is drawn
    assert [p["label"] for p in evaluation.metrics["scaling"]] == ["n2"]
    assert not (report / "figures/scaling.png").exists()
    # with two subject counts the report draws the curve
    metrics = dict(evaluation.metrics)
    metrics["scaling"] = [
        {"label": "n2", "train_subjects": 2, "diffuse_psnr": 20.0, "mean_psnr": 22.0},
        {"label": "n3", "train_subjects": 3, "diffuse_psnr": 21.0, "mean_psnr": 23.0},
    ]
    two = write_report(type(evaluation)(metrics, evaluation.grid), tmp_path / "two")
    plot = cv2.imread(str(two / "figures/scaling.png"))
    assert plot is not None and plot.shape == (420, 640, 3)
    md = (report / "report.md").read_text()
    assert "paper (different data)" in md and "28.47" in md and "18.43" in md
    assert "skin-type groups populated" in md and "n/a" in md
    assert "## Identity" in md and "top-1 (truth)" in md
    html = (report / "report.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    table = format_table(evaluation.metrics)
    assert table.splitlines()[0].startswith("model") and "fixed" in table and "paper" in table


def test_errors(face_dataset: Path, tiny_swapper_run: Path, tmp_path: Path) -> None:
    spec = [CheckpointSpec("a", tiny_swapper_run)]
    with pytest.raises(ConfigError, match="fixed template 'S9999'"):
        evaluate_swapper(face_dataset, spec, SwapperEvalConfig(fixed_template="S9999"))
    with pytest.raises(ConfigError, match="fixed template 'S0000'"):
        evaluate_swapper(face_dataset, spec, SwapperEvalConfig(fixed_template=TEST_SUBJECT))
    with pytest.raises(InputFileError, match="not found"):
        evaluate_swapper(face_dataset, [CheckpointSpec("x", tmp_path / "missing")])
    with pytest.raises(ConfigError, match="distinct"):
        evaluate_swapper(face_dataset, spec * 2)
    with pytest.raises(ConfigError, match="environments"):
        evaluate_swapper(face_dataset, spec, SwapperEvalConfig(environments=("env7",)))
    # a dataset without test subjects
    ds = tmp_path / "ds"
    ds.mkdir()
    doc = json.loads((face_dataset / "dataset.json").read_text())
    for s in doc["subjects"]:
        s["split"] = "train"
    (ds / "dataset.json").write_text(json.dumps(doc))
    (ds / "subjects").symlink_to(face_dataset / "subjects")
    with pytest.raises(InputFileError, match="no subject in the 'test' split"):
        evaluate_swapper(ds, spec)
    # a checkpoint folder that is not a swapper
    not_ckpt = tmp_path / "not_ckpt"
    not_ckpt.mkdir()
    with pytest.raises(InputFileError):
        evaluate_swapper(face_dataset, [CheckpointSpec("x", not_ckpt)], SwapperEvalConfig(uv=False))


# ------------------------------------------------------------------ pieces


def test_shading_reproduces_dataset_photo(face_dataset: Path) -> None:
    rec = {"id": TEST_SUBJECT, "attributes": {}}
    truth = load_subject_truth(face_dataset, rec, views=("front",), environments=("full",), uv=False)
    v = truth.views["front"]
    stops = json.loads((face_dataset / "dataset.json").read_text())["rgb_exposure_stops"]
    render = shade_full_on(v.maps["diffuse"], v.maps["specular"], v.mask, exposure_stops=stops)
    assert render.dtype == np.uint8 and render.shape == v.rgb["full"].shape
    assert psnr(render / 255.0, v.rgb["full"] / 255.0, v.mask) > 26.0
    # and is far from a wrong subject's rendering
    other = load_subject_truth(face_dataset, {"id": "S0001"}, views=("front",), environments=(), uv=False)
    wrong = shade_full_on(other.views["front"].maps["diffuse"] * 0.5, v.maps["specular"], v.mask, exposure_stops=stops)
    assert psnr(wrong / 255.0, v.rgb["full"] / 255.0, v.mask) < psnr(render / 255.0, v.rgb["full"] / 255.0, v.mask)


def test_skin_mask_excludes_features() -> None:
    mask = np.zeros((64, 64), bool)
    mask[8:60, 10:54] = True
    lm = np.zeros((68, 2))
    lm[:, 0], lm[:, 1] = 32, 40  # all points on one spot ...
    lm[36:42] = [[18, 25], [22, 23], [26, 25], [22, 27], [20, 26], [24, 26]]  # ... except one eye
    skin = skin_mask(mask, lm)
    assert not skin[25, 22] and not skin[40, 32]
    assert skin[45, 20] and not skin[9, 11]  # eroded border
    assert skin_mask(mask, None).sum() > skin.sum()


def test_checkpoint_specs_and_training_subjects(tmp_path: Path) -> None:
    assert parse_checkpoint_spec("n8=runs/a") == CheckpointSpec("n8", Path("runs/a"))
    assert parse_checkpoint_spec("runs/sw_b") == CheckpointSpec("sw_b", Path("runs/sw_b"))
    with pytest.raises(ConfigError):
        parse_checkpoint_spec("=runs/a")
    assert training_subjects(CheckpointSpec("n16", tmp_path)) == 16
    assert training_subjects(CheckpointSpec("levels16_32", tmp_path)) is None
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"train_subjects": ["S1", "S2", "S3", "S4", "S5"]}))
    assert training_subjects(CheckpointSpec("n16", run)) == 5
    assert photo_names(["full", "courtyard", "studio"]) == ["full", "env0", "env1"]


def test_scaling_plot_from_metrics() -> None:
    metrics = {
        "scaling": [
            {"label": "n2", "train_subjects": 2, "diffuse_psnr": 20.0, "mean_psnr": 22.0},
            {"label": "n8", "train_subjects": 8, "diffuse_psnr": 24.0, "mean_psnr": 25.0},
        ]
    }
    series = scaling_series(metrics)
    assert series["diffuse PSNR"] == ([2.0, 8.0], [20.0, 24.0])
    img = line_plot(series, title="t", xlabel="x", ylabel="y")
    assert img.shape == (420, 640, 3) and img.dtype == np.uint8
    colours = {tuple(c) for c in img.reshape(-1, 3)[::7]}
    assert (200, 80, 30) in colours and (40, 140, 40) in colours  # both series drawn
    ok, _ = cv2.imencode(".png", img)
    assert ok


def test_report_folder_is_replaced(evaluated, tmp_path: Path) -> None:
    evaluation, report, _, _ = evaluated
    dst = tmp_path / "r"
    shutil.copytree(report, dst)
    (dst / "stale.txt").write_text("old")
    write_report(evaluation, dst)
    assert not (dst / "stale.txt").exists() and (dst / "metrics.json").is_file()


def test_scaling_curve_uses_the_scaling_runs_only():
    def row(label, n, mode="closest", psnr=1.0):
        agg = {"diffuse": {"psnr": psnr}, "mean_over_domains": {"view_psnr": psnr}}
        return {"label": label, "mode": mode, "train_subjects": n, "aggregate": agg}

    rows = [row("n36_l16_32", 36, psnr=3.0), row("n36_l16_32", 36, "fixed"), row("l16", 36, psnr=2.0), row("n9", 9)]
    pts = _scaling_points(rows)
    assert [(p["label"], p["train_subjects"], p["diffuse_psnr"]) for p in pts] == [
        ("n9", 9, 1.0),
        ("n36_l16_32", 36, 3.0),
    ]
    # without count labels every retrieval row joins; a repeated count keeps the first
    pts = _scaling_points([row("b", 36, psnr=2.0), row("a", 36, psnr=3.0), row("c", 9)])
    assert [p["label"] for p in pts] == ["c", "b"]


@pytest.mark.parametrize("eyes", [True, False])
def test_renders_take_the_views_eyes_where_the_dataset_has_them(
    face_dataset: Path, tiny_swapper_run: Path, tmp_path: Path, monkeypatch, one_thread, eyes: bool
) -> None:
    """The identity renders of the prediction and of the ground truth show the front view's
    eyes off the skin's mask when the dataset's views have eyes (``"eyes": true``), and stay
    black there when they have none (as every render did before)."""
    import id2reflectance.evaluation.swapper as swapper_module
    from id2reflectance.evaluation.inputs import eye_layer, eye_layer_at, read_eye_photo, read_mask
    from tests.evaluation.eye_dataset import SUBJECT, dataset_with_eye_openings, eye_openings

    ds = dataset_with_eye_openings(face_dataset, tmp_path / "ds", eyes=eyes)
    renders: list[np.ndarray] = []

    def recording(*args, **kwargs):
        out = shade_full_on(*args, **kwargs)
        renders.append(out)
        return out

    monkeypatch.setattr(swapper_module, "shade_full_on", recording)
    cfg = SwapperEvalConfig(
        views=("front",),
        environments=("full",),
        variants=(),
        template_ablation=False,
        template_maps=False,
        uv=False,
        grid_subjects=0,
        cache_dir=str(tmp_path / "cache"),
    )
    evaluation = evaluate_swapper(ds, [CheckpointSpec("base", tiny_swapper_run)], cfg)
    assert [r["subject"] for r in evaluation.metrics["rows"][0]["per_input"]] == [SUBJECT]
    assert len(renders) == 2  # the prediction's and the ground truth's
    view = ds / "subjects" / SUBJECT / "views" / "front"
    mask = read_mask(view)
    size = renders[0].shape[0]
    holes = resize_map(eye_openings(mask.shape[0]).astype(np.float32), size) > 0
    small_mask = resize_map(mask, size)
    assert holes.any() and not (holes & small_mask).any()
    expected = np.round(eye_layer_at(eye_layer(read_eye_photo(view), mask), mask, size) * 255.0).astype(np.uint8)
    assert expected[holes].min() > 0  # the views' (lit) pixels there
    for render in renders:
        if eyes:
            np.testing.assert_array_equal(render[holes], expected[holes])
        else:
            assert not render[holes].any()
        assert not render[~small_mask & ~holes].any()  # the background stays black
