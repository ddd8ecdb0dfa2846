"""``id2r infer``: exit codes, messages and outputs (A's tiny swapper on ``face_dataset``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from id2reflectance._shared.imageio import write_png
from id2reflectance.cli.main import _register, cli
from id2reflectance.processing.asset import read_asset

_register()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    d = tmp_path_factory.mktemp("photos")
    write_png(d / "astronaut.png", data.astronaut().astype(np.float32) / 255.0)
    write_png(d / "grey.png", np.full((120, 160, 3), 0.5, np.float32))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return d


def _run(args: list[str], face_dataset: Path, ckpt: Path, cache: Path, out: Path):
    base = ["infer", *args, "-o", str(out), "--dataset", str(face_dataset), "--checkpoint", str(ckpt)]
    return CliRunner().invoke(cli, [*base, "--uv-size", "256", "--cache-dir", str(cache), "--no-progress"])


def test_help_has_examples():
    res = CliRunner().invoke(cli, ["infer", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output and "--all-faces" in res.output


def test_astronaut_then_failures(photos, face_dataset, tiny_swapper_run, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    res = _run([str(photos / "astronaut.png")], face_dataset, tiny_swapper_run, cache, out)
    assert res.exit_code == 0, res.output
    assert "astronaut.png" in res.output and "template" in res.output and "ITA" in res.output
    asset = read_asset(out / "astronaut" / "asset")
    assert asset.manifest["source"]["kind"] == "photo" and asset.size == 256
    doc = json.loads((out / "infer.json").read_text())
    assert doc["photos"][0]["error"] is None and doc["photos"][0]["faces"][0]["output"] == "astronaut"
    pred = json.loads((out / "astronaut" / "prediction.json").read_text())
    assert pred["config"]["ita_calibration"] is None and pred["config"]["skin_tone"] == "eye_white"
    used = "eye_white_ita_deg" if pred["skin_tone_source"] == "eye_white" else "photo_ita_deg"
    assert pred["ita_deg"] == pred[used]
    # the default prediction for photos: template-tone (docs/evaluation.md), its gain recorded
    assert pred["config"]["output"] == "template_tone" and pred["config"]["front_view"] == "template"
    assert len(pred["tone_gain"]) == 3 and all(0.25 <= g <= 4.0 for g in pred["tone_gain"])
    tt_views = out / "astronaut" / "views"

    # --prediction decode: the swapped decoder's maps, no gain, every view different
    res = _run(
        [str(photos / "astronaut.png"), "--prediction", "decode"], face_dataset, tiny_swapper_run, cache, out / "d"
    )
    assert res.exit_code == 0, res.output
    pred = json.loads((out / "d" / "astronaut" / "prediction.json").read_text())
    assert pred["config"]["output"] == "decode" and pred["tone_gain"] is None
    views = out / "d" / "astronaut" / "views"
    for view in ("front", "left", "right"):
        assert (views / view / "diffuse_albedo.png").read_bytes() != (
            tt_views / view / "diffuse_albedo.png"
        ).read_bytes()

    # --front-view photo: the front view comes from the photo, the side views are decode's (its default prediction)
    res = _run(
        [str(photos / "astronaut.png"), "--front-view", "photo"], face_dataset, tiny_swapper_run, cache, out / "pf"
    )
    assert res.exit_code == 0, res.output
    pf_config = json.loads((out / "pf" / "astronaut" / "prediction.json").read_text())["config"]
    assert pf_config["front_view"] == "photo" and pf_config["output"] == "decode"
    pf_views = out / "pf" / "astronaut" / "views"  # against the decode run
    assert (views / "front/diffuse_albedo.png").read_bytes() != (pf_views / "front/diffuse_albedo.png").read_bytes()
    for side in ("left", "right"):
        assert (views / side / "diffuse_albedo.png").read_bytes() == (
            pf_views / side / "diffuse_albedo.png"
        ).read_bytes()
    # --prediction template-tone given: the default's result
    args = [str(photos / "astronaut.png"), "--prediction", "template-tone"]
    res = _run(args, face_dataset, tiny_swapper_run, cache, out / "tt")
    assert res.exit_code == 0, res.output
    assert (out / "tt/astronaut/views/front/diffuse_albedo.png").read_bytes() == (
        tt_views / "front/diffuse_albedo.png"
    ).read_bytes()

    # --ita-calibration with --skin-tone photo: the face's ITA is the photo's, mapped by the templates' fit
    # (None without one); --prediction template-residual is recorded
    args = [str(photos / "astronaut.png"), "--ita-calibration", "--skin-tone", "photo"]
    res = _run([*args, "--prediction", "template-residual"], face_dataset, tiny_swapper_run, cache, out / "cal")
    assert res.exit_code == 0, res.output
    pred = json.loads((out / "cal" / "astronaut" / "prediction.json").read_text())
    assert pred["config"]["output"] == "template_residual" and pred["config"]["skin_tone"] == "photo"
    assert pred["skin_tone_source"] == "photo"
    cal = pred["config"]["ita_calibration"]
    if cal is None:
        assert pred["ita_deg"] is None
    else:
        expected = min(max(cal["offset"] + cal["slope"] * pred["photo_ita_deg"], cal["low"]), cal["high"])
        assert pred["ita_deg"] == pytest.approx(expected, abs=2e-3)

    # no face: exit 2, one clear line naming the file, nothing written for it
    out2 = tmp_path / "out2"
    res = _run([str(photos / "grey.png")], face_dataset, tiny_swapper_run, cache, out2)
    assert res.exit_code == 2, res.output
    assert f"no face found in {photos / 'grey.png'}" in res.output and "Traceback" not in res.output
    assert not (out2 / "grey").exists()

    # unreadable image
    res = _run([str(photos / "broken.jpg")], face_dataset, tiny_swapper_run, cache, tmp_path / "out3")
    assert res.exit_code == 2 and "broken.jpg" in res.output and "not a readable image" in res.output

    # some photos fail, others succeed: exit 1 and the failures listed
    out4 = tmp_path / "out4"
    res = _run([str(photos)], face_dataset, tiny_swapper_run, cache, out4)
    assert res.exit_code == 1, res.output
    assert "2 of 3 photo(s) failed" in res.output and "grey.png" in res.output and "broken.jpg" in res.output
    assert sorted(p.name for p in out4.iterdir() if p.is_dir()) == ["astronaut"]


def test_greyscale_photo_warns_or_is_refused(face_dataset, tiny_swapper_run, tmp_path):
    """A greyscale photo: retrieval by identity alone and (template-tone, the default) the
    template's diffuse untoned, with a warning; refused with --front-view photo."""
    import cv2
    from skimage import data

    bw = tmp_path / "bw.jpg"
    cv2.imwrite(str(bw), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY))
    cache, out = tmp_path / "cache", tmp_path / "out"
    res = _run([str(bw)], face_dataset, tiny_swapper_run, cache, out)
    assert res.exit_code == 0, res.output
    assert "warning: bw.jpg (face 0): greyscale photo" in res.output
    face = json.loads((out / "infer.json").read_text())["photos"][0]["faces"][0]
    assert face["ita_deg"] is None and face["warnings"] and "greyscale" in face["warnings"][0]
    pred = json.loads((out / "bw" / "prediction.json").read_text())
    assert pred["warnings"] == face["warnings"] and pred["photo_ita_deg"] is None
    assert "untoned" in face["warnings"][0] and pred["tone_gain"] == [1.0, 1.0, 1.0]
    # the photo as the front view reads the photo's colour: refused, nothing written
    res = _run([str(bw), "--front-view", "photo"], face_dataset, tiny_swapper_run, cache, out / "pf")
    assert res.exit_code == 2 and "bw.jpg is a greyscale photo" in res.output and "Traceback" not in res.output
    assert not (out / "pf" / "bw").exists()


def test_bad_checkpoint_and_dataset(photos, face_dataset, tiny_stage2_run, tiny_swapper_run, tmp_path):
    cache = tmp_path / "cache"
    res = _run([str(photos / "astronaut.png")], face_dataset, tiny_stage2_run, cache, tmp_path / "o1")
    assert res.exit_code == 2 and "expected a swapper checkpoint" in res.output, res.output
    broken = tmp_path / "ds"
    shutil.copytree(face_dataset, broken)
    for p in broken.glob("subjects/*/mesh_vertices.npy"):
        p.unlink()
    res = _run([str(photos / "astronaut.png")], broken, tiny_swapper_run, cache, tmp_path / "o2")
    assert res.exit_code == 2 and "mesh_vertices.npy" in res.output and str(broken) in res.output, res.output
    assert "Traceback" not in res.output
    res = _run(
        [str(photos / "astronaut.png"), "--template", "S0042"], face_dataset, tiny_swapper_run, cache, tmp_path / "o3"
    )
    assert res.exit_code == 2 and "S0042" in res.output and "valid:" in res.output
