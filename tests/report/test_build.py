import pytest
from click.testing import CliRunner

from id2reflectance.cli.main import _register, cli
from id2reflectance.errors import InputFileError
from id2reflectance.report.build import build_report
from tests.conftest import make_tiny_session
from tests.processing.chromium import open_page

_register()


def test_session_report_opens_in_chromium(tmp_path):
    root = make_tiny_session(tmp_path / "s", size=32, cameras=("cam0", "cam1"))
    out = build_report(root, tmp_path / "r.html")
    attrs, console = open_page(out, tmp_path / "shot.png")
    assert console == []
    assert attrs.get("data-broken") == "0"
    assert int(attrs["data-images"]) == 4  # full cross + parallel for two cameras
    assert (tmp_path / "shot.png").stat().st_size > 1000
    text = out.read_text()
    assert "saturated pixels per frame" in text and "dynamic range per frame" in text
    assert (
        "valid" in text
        and "cam1" in text
        and "<script src" not in text
        and "http" not in text.replace("http://www.w3.org", "")
    )


def test_report_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="not a session, solve, asset or dataset"):
        build_report(tmp_path / "empty", tmp_path / "r.html")
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "folder not found" in res.output
    assert not (tmp_path / "r.html").exists()


def test_dataset_report_tables_splits_by_skin_type_and_warns_of_missing_test_types(tmp_path):
    import json

    from id2reflectance.dataset.splits import SplitConfig, resplit_dataset
    from tests.dataset.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(tmp_path / "ds", subjects=6, size=16, views=("front",), domains=("rgb",))
    data = json.loads((root / "dataset.json").read_text())
    for k, s in enumerate(data["subjects"]):  # types 1, 1, 1, 5, 5, 5; only the last is test
        s["attributes"] = {"ita_deg": 60.0 if k < 3 else 0.0}
        s["split"] = "test" if k == 5 else "train"
    (root / "dataset.json").write_text(json.dumps(data))
    text = build_report(root, tmp_path / "r.html").read_text()
    assert "Splits by skin type" in text
    assert "no subject of Fitzpatrick type 1:" in text
    resplit_dataset(root, SplitConfig(fractions=(0.5, 0.0, 0.5)))
    assert "no subject of Fitzpatrick type" not in build_report(root, tmp_path / "r2.html").read_text()


@pytest.mark.slow
def test_asset_report_shows_relit_renders_under_each_environment(tmp_path):
    from id2reflectance.processing.asset import read_asset
    from id2reflectance.processing.relight.envmap import builtin_environments
    from id2reflectance.report.build import RELIT_ENVIRONMENTS, ReportConfig, relit_figures
    from tests.processing.asset_fixtures import write_sphere_asset

    assert set(RELIT_ENVIRONMENTS) <= set(builtin_environments())  # Debian blender-data
    root = write_sphere_asset(tmp_path / "asset", size=256)
    figs = relit_figures(read_asset(root), 48)
    assert [f.split("<figcaption>")[1].split("<")[0] for f in figs] == [
        "relit: pattern:full",
        *(f"relit: {e}" for e in RELIT_ENVIRONMENTS),
    ]
    uris = [f.split('src="')[1].split('"')[0] for f in figs]
    assert len(set(uris)) == len(uris)  # each lighting gives its own image
    out = build_report(root, tmp_path / "r.html", config=ReportConfig(render_size=48, viewer_environments=("studio",)))
    attrs, console = open_page(out, tmp_path / "shot.png")
    assert console == [] and attrs.get("data-broken") == "0"
    assert "relit: courtyard" in out.read_text()
    assert 'id="id2r-viewer-data"' in out.read_text()
    quiet = build_report(root, tmp_path / "r2.html", config=ReportConfig(renders=False, viewer=False)).read_text()
    assert "<h3>Relit</h3>" not in quiet and "UV diffuse albedo" in quiet and "id2r-viewer-data" not in quiet


def test_report_cli_rejects_a_bad_viewer_size(tmp_path):
    from tests.processing.asset_fixtures import write_sphere_asset

    root = write_sphere_asset(tmp_path / "asset", size=256)
    res = CliRunner().invoke(cli, ["report", str(root), "-o", str(tmp_path / "r.html"), "--uv-size", "300"])
    assert res.exit_code == 2 and "map_size must be a power of two" in res.output
    assert not (tmp_path / "r.html").exists()


def test_alignment_table_lists_each_frame() -> None:
    from id2reflectance.report.build import alignment_table

    assert alignment_table(None) == "" and alignment_table({"mode": "none", "frames": []}) == ""
    html = alignment_table(
        {
            "mode": "rigid",
            "frames": [
                {"frame": "full_cross", "tx": 0.0, "ty": 0.0, "rotation_deg": 0.0, "scale": 1.0, "method": "reference"},
                {
                    "frame": "gradient_x_cross",
                    "tx": 1.25,
                    "ty": -0.5,
                    "rotation_deg": 0.3,
                    "scale": 1.001,
                    "displacement_px": 1.6,
                    "residual_px": 0.08,
                    "method": "rigid",
                },
                {"frame": "inverse_z_parallel", "tx": 0.4, "explained": 0.07, "method": "none", "refused": True},
            ],
        }
    )
    assert "Frame alignment (rigid" in html and "gradient_x_cross" in html and "1.25" in html
    assert html.count("motion refused") == 1 and "0.07" in html
