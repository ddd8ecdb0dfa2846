import json

from click.testing import CliRunner

from id2reflectance.capture.validate import validate_session
from id2reflectance.cli.main import _register, cli

_register()


def test_simulate_writes_valid_sessions(tmp_path):
    cfg = tmp_path / "sim.toml"
    cfg.write_text("visibility_directions = 32\nspecular_samples = [6, 6]\n")
    out = tmp_path / "out"
    args = ["simulate", "-o", str(out), "-n", "1", "--first", "2", "--seed", "4", "--image-size", "40"]
    args += ["--uv-size", "32", "--cameras", "1", "--no-inverses", "--dark-offset", "0.01", "--config", str(cfg)]
    args += ["--no-progress"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith("S0002")
    report = validate_session(out / "S0002")
    assert report.ok, report.problems
    s = report.session
    assert list(s.cameras) == ["front"] and s.cameras["front"].width == 40
    assert s.patterns("front", "cross") == ["full", "gradient_x", "gradient_y", "gradient_z", "dark"]
    params = json.loads((out / "S0002" / "truth" / "uv" / "params.json").read_text())
    assert params["config"]["seed"] == 4 and params["config"]["visibility_directions"] == 32


def test_simulate_bad_config_is_one_line_error(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("image_sise = 64\n")
    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "o"), "--config", str(cfg)])  # retired positional OUT
    assert res.exit_code == 2
    assert "unknown key(s) ['image_sise']" in res.output
    assert not (tmp_path / "o").exists()


def test_simulate_help_has_examples():
    res = CliRunner().invoke(cli, ["simulate", "--help"])
    assert res.exit_code == 0 and "id2r simulate -o sessions/ --subjects 4 --seed 0" in res.output


def test_simulate_ambient_and_backdrop_light_every_frame(tmp_path):
    import numpy as np

    from id2reflectance._shared.imageio import read_exr, read_mask

    cfg = tmp_path / "sim.toml"
    cfg.write_text("visibility_directions = 32\nspecular_samples = [6, 6]\n")
    common = ["-n", "1", "--image-size", "40", "--uv-size", "32", "--cameras", "1", "--config", str(cfg)]
    frames = {}
    for tag, extra in (("plain", []), ("room", ["--ambient", "0.1", "--backdrop", "0.2"])):
        res = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / tag), *common, *extra, "--no-progress"])
        assert res.exit_code == 0, res.output
        root = tmp_path / tag / "S0000"
        frames[tag] = {p: read_exr(root / "frames" / "front" / f"{p}_cross.exr")[0] for p in ("full", "gradient_x")}
        hit = read_mask(root / "masks" / "front.png")
    full_p = read_exr(tmp_path / "plain" / "S0000" / "frames" / "front" / "full_parallel.exr")[0]
    added = {p: frames["room"][p] - frames["plain"][p] for p in frames["plain"]}
    # the same room light in every pattern: 0.1 x the mean of the full-on polarisations on the head
    expected = 0.1 * 0.5 * (frames["plain"]["full"] + full_p)
    for p in added:
        np.testing.assert_allclose(added[p][hit], expected[hit], rtol=1e-4, atol=1e-6)
    backdrop = added["full"][~hit]  # 0.2 +- 25 %, RGB (1, 0.95, 0.85)
    assert np.all(backdrop > 0.2 * 0.75 * 0.85 - 1e-6) and np.all(backdrop < 0.2 * 1.25 + 1e-6)
    truth = [read_exr(tmp_path / t / "S0000" / "truth" / "front" / "diffuse_albedo.exr")[0] for t in ("plain", "room")]
    np.testing.assert_array_equal(truth[0], truth[1])  # ground truth unchanged


def test_simulate_head_model_options(tmp_path):
    from id2reflectance.capture.geometry.face_model import default_face_model_dir

    small = ["-n", "1", "--image-size", "32", "--uv-size", "32", "--cameras", "1", "--no-inverses", "--no-progress"]
    res = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "p"), "--head-model", "procedural", *small])
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "p" / "S0000" / "truth" / "uv" / "params.json").read_text())
    assert "width" in params["head"] and params["config"]["head_model"] == "procedural"
    # a face model folder that is not there: one line naming it, exit code 2, nothing written
    missing = tmp_path / "no-model"
    res = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "m"), "--face-model", str(missing), *small])
    assert res.exit_code == 2 and "no-model" in res.output and "face model folder not found" in res.output
    assert not (tmp_path / "m" / "S0000").exists()
    folder = default_face_model_dir()
    if folder is None:
        return
    args = ["simulate", "-o", str(tmp_path / "f"), "--face-model", str(folder), "--expression", "0.8", *small]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    params = json.loads((tmp_path / "f" / "S0000" / "truth" / "uv" / "params.json").read_text())
    assert params["head"]["model"] == "ict-facekit-light" and params["config"]["face_model"] == str(folder)
    assert params["head"]["expression"] and params["config"]["expression"] == 0.8


def test_simulate_motion_options_move_the_head(tmp_path):
    cfg = tmp_path / "sim.toml"
    cfg.write_text("visibility_directions = 32\nspecular_samples = [6, 6]\n")
    out = tmp_path / "out"
    args = ["simulate", "-o", str(out), "--image-size", "48", "--uv-size", "32", "--cameras", "1", "--no-inverses"]
    args += ["--motion-px", "1.0", "--motion-deg", "0.3", "--expression-mm", "0.5", "--config", str(cfg)]
    res = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert res.exit_code == 0, res.output
    truth = json.loads((out / "S0000" / "truth" / "motion.json").read_text())
    assert len(truth["cameras"]["front"]) == 7  # every lit frame but full-cross
    assert (out / "S0000" / "truth" / "front" / "motion" / "gradient_x_cross.exr").is_file()
    params = json.loads((out / "S0000" / "truth" / "uv" / "params.json").read_text())
    assert params["config"]["motion_px"] == 1.0 and params["config"]["expression_mm"] == 0.5
    assert validate_session(out / "S0000").ok
    res = CliRunner().invoke(cli, ["simulate", "-o", str(out), "--motion-px", "-1"])
    assert res.exit_code == 2


def test_simulate_face_model_template_needs_face_model_heads(tmp_path):
    args = ["simulate", "-o", str(tmp_path / "o"), "-n", "1", "--image-size", "40", "--uv-size", "32"]
    args += [
        "--cameras",
        "1",
        "--no-inverses",
        "--head-model",
        "procedural",
        "--template",
        "face_model",
        "--no-progress",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    # with the face model: procedural heads have no face-model truth; without it: the model is missing
    assert "face-model heads" in res.output or "template 'face_model'" in res.output, res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "S0000").exists()
    res = CliRunner().invoke(cli, ["simulate", "-o", str(tmp_path / "p"), "--template", "cylinder"])
    assert res.exit_code == 2 and "cylinder" in res.output
