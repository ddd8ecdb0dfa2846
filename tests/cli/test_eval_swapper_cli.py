"""``id2r eval swapper`` (uses the face_dataset / tiny_swapper_run / tiny_stage2_run fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli

_register()


def _run(args: list[str]):
    return CliRunner().invoke(cli, ["eval", "swapper", *args, "--no-progress"])


def test_eval_swapper_cli(face_dataset: Path, tiny_swapper_run: Path, tmp_path: Path, one_thread, monkeypatch) -> None:
    monkeypatch.setenv("ID2R_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "report"
    res = _run(
        [
            "--dataset",
            str(face_dataset),
            "--checkpoint",
            f"sw={tiny_swapper_run}",
            "-o",
            str(out),
            "--environments",
            "full",
            "--views",
            "front",
            "--no-uv",
            "--fixed-template",
            "S0002",
            "--no-template-maps",
            "--ita-weight",
            "0.05",
            "--front-view",
            "photo",
        ]
    )
    assert res.exit_code == 0, res.output
    assert list((tmp_path / "cache").rglob("*.json"))  # the template embeddings were cached under $ID2R_CACHE_DIR
    lines = res.output.splitlines()
    assert lines[0].startswith("model") and "diffuse PSNR" in lines[0] and "ITA score" in lines[0]
    assert any(line.startswith("sw ") and "closest" in line for line in lines)
    assert any("fixed S0002" in line for line in lines)
    assert any(line.startswith("paper (different data)") for line in lines)
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["views"] == ["front"] and m["config"]["uv"] is False and m["config"]["ita_weight"] == 0.05
    assert m["rows"][1]["aggregate"]["templates"] == {"S0002": 1}
    assert m["config"]["front_view"] == "photo"
    # no baseline row when asked; the front-view ablation row has the other front view
    assert [(r["mode"], r["output"], r["front_view"]) for r in m["rows"]] == [
        ("closest", "decode", "photo"),
        ("fixed", "decode", "photo"),
        ("closest", "template_tone", "template"),  # the default variants minus the main prediction
    ]
    assert any(line.startswith("sw ") and "closest, photo-front" in line for line in lines)
    assert any(line.startswith("sw ") and "closest, template-tone" in line for line in lines)
    res = _run(
        [
            "--dataset",
            str(face_dataset),
            "--checkpoint",
            str(tiny_swapper_run),
            "-o",
            str(tmp_path / "r2"),
            "--front-view",
            "photo",
            "--prediction",
            "template-residual",
        ]
    )
    assert res.exit_code == 2 and "front_view 'photo' needs output 'decode'" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "r2").exists()
    assert (out / "report.html").is_file() and (out / "figures" / "grid.png").is_file()


def test_eval_swapper_cli_errors(
    face_dataset: Path, tiny_swapper_run: Path, tiny_stage2_run: Path, tmp_path: Path, one_thread
) -> None:
    base = ["--checkpoint", str(tiny_swapper_run), "-o", str(tmp_path / "r"), "--no-uv"]
    # unknown fixed template
    res = _run(["--dataset", str(face_dataset), *base, "--fixed-template", "S0042"])
    assert res.exit_code == 2
    assert "fixed template 'S0042'" in res.output and "Traceback" not in res.output
    # a dataset without a test split
    ds = tmp_path / "ds"
    ds.mkdir()
    doc = json.loads((face_dataset / "dataset.json").read_text())
    for s in doc["subjects"]:
        s["split"] = "train"
    (ds / "dataset.json").write_text(json.dumps(doc))
    res = _run(["--dataset", str(ds), *base])
    assert res.exit_code == 2 and "no subject in the 'test' split" in res.output
    # a checkpoint that is not a swapper (a stage-2 codebook run), and one that is missing
    res = _run(["--dataset", str(face_dataset), "--checkpoint", str(tiny_stage2_run), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and "swapper" in res.output and "Traceback" not in res.output
    res = _run(["--dataset", str(face_dataset), "--checkpoint", f"x={tmp_path / 'nope'}", "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and "not found" in res.output
    assert not (tmp_path / "r").exists()
