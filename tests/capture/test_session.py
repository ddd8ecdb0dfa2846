import json
import os

import numpy as np
import pytest

from id2reflectance.capture.session import load_session
from id2reflectance.errors import SessionInvalidError
from tests.conftest import make_tiny_session


def _edit(root, fn):
    p = root / "session.json"
    data = json.loads(p.read_text())
    fn(data)
    p.write_text(json.dumps(data))


def test_valid_session_loads(tiny_session):
    s = load_session(tiny_session)
    assert s.subject_id == "T0001"
    assert list(s.cameras) == ["cam0"]
    assert len(s.frames) == 8
    assert s.patterns("cam0", "cross") == ["full", "gradient_x", "gradient_y", "gradient_z"]
    assert s.frame("cam0", "full", "parallel").file == "frames/cam0/full_parallel.exr"
    np.testing.assert_allclose(s.rig.lights_to_world, np.eye(3))


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d.update(format="x"), "format must be 'id2r-session'"),
        (lambda d: d.update(version=2), "version must be 1"),
        (lambda d: d["subject"].update(id="bad id!"), "subject.id"),
        (lambda d: d["frames"][3].update(scale=-1), "frames[3].scale must be > 0, got -1"),
        (lambda d: d["frames"][0].update(pattern="gradient_w"), "frames[0].pattern"),
        (lambda d: d["frames"][0].update(polarization="circular"), "frames[0].polarization"),
        (lambda d: d["frames"][0].update(encoding="jpeg"), "frames[0].encoding"),
        (lambda d: d["frames"][0].update(camera="nope"), "frames[0].camera names an unknown camera"),
        (lambda d: d["frames"][0].update(file="../../etc/passwd"), "frames[0].file must be a relative path inside"),
        (lambda d: d["frames"][0].update(file="/etc/passwd"), "frames[0].file must be a relative path inside"),
        (lambda d: d["frames"].pop(0), "lacks cross-polarised frame(s) for pattern(s) ['full']"),
        (lambda d: d["frames"].append(dict(d["frames"][0])), "duplicates frames[0]"),
        (
            lambda d: d["cameras"]["cam0"].update(R=[[1, 0, 0], [0, 1, 0], [0, 0, 2]]),
            "cameras.cam0.R must be a rotation",
        ),
        (lambda d: d["cameras"]["cam0"].update(K=[[0, 0, 1], [0, 1, 1], [0, 0, 1]]), "cameras.cam0.K"),
        (lambda d: d["cameras"]["cam0"].update(dist=[0.1, 0.2]), "cameras.cam0.dist"),
        (lambda d: d["cameras"]["cam0"].update(width=0), "cameras.cam0.width must be a positive integer"),
        (lambda d: d["cameras"]["cam0"].pop("t"), "cameras.cam0.t is missing"),
        (lambda d: d["rig"].update(color_matrix=[[1, 0], [0, 1]]), "rig.color_matrix must have shape"),
        (lambda d: d.update(mesh="mesh/scan.fbx"), "mesh must be an .obj or .ply"),
        (lambda d: d.update(extra=1), "unknown top-level field"),
    ],
)
def test_invalid_manifests_name_the_field(tiny_session, edit, expected):
    _edit(tiny_session, edit)
    with pytest.raises(SessionInvalidError) as exc:
        load_session(tiny_session)
    assert any(expected in p for p in exc.value.problems), exc.value.problems
    assert all(p.startswith("session.json") for p in exc.value.problems)


def test_every_problem_is_listed(tiny_session):
    def edit(d):
        d["frames"][0]["scale"] = 0
        d["frames"][1]["pattern"] = "sideways"

    _edit(tiny_session, edit)
    with pytest.raises(SessionInvalidError) as exc:
        load_session(tiny_session)
    text = "\n".join(exc.value.problems)
    assert "frames[0].scale" in text and "frames[1].pattern" in text


def test_bad_json_and_missing(tmp_path):
    make_tiny_session(tmp_path / "s")
    (tmp_path / "s" / "session.json").write_text("{ not json")
    with pytest.raises(SessionInvalidError, match="bad JSON at line 1"):
        load_session(tmp_path / "s")
    with pytest.raises(SessionInvalidError, match="not found"):
        load_session(tmp_path / "nothing")


def test_symlink_escaping_session_is_refused(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    outside = tmp_path / "outside.exr"
    outside.write_bytes((root / "frames/cam0/full_cross.exr").read_bytes())
    os.symlink(outside, root / "frames/cam0/link.exr")
    _edit(root, lambda d: d["frames"][0].update(file="frames/cam0/link.exr"))
    with pytest.raises(SessionInvalidError, match="leaves the session folder"):
        load_session(root)


def test_session_json_nested_a_million_levels_is_a_named_error(tmp_path):
    root = make_tiny_session(tmp_path / "s")
    (root / "session.json").write_text('{"format": ' + "[" * 1_000_000 + "]" * 1_000_000 + "}")
    with pytest.raises(SessionInvalidError, match=r"^session.json: bad JSON: nested too deeply to parse") as info:
        load_session(root)
    assert len(info.value.problems) == 1


def test_session_json_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    from id2reflectance._shared import jsonfile

    root = make_tiny_session(tmp_path / "s")
    size = (root / "session.json").stat().st_size
    monkeypatch.setattr(jsonfile, "JSON_MAX_BYTES", size - 1)
    monkeypatch.setattr(jsonfile.Path, "read_text", lambda *a, **k: pytest.fail("read a file over the limit"))
    with pytest.raises(SessionInvalidError, match=rf"session.json: {size} bytes, over the {size - 1} byte limit"):
        load_session(root)
