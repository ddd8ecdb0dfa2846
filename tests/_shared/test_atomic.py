import json

import pytest

from id2reflectance._shared.atomic import atomic_folder, atomic_write_json, sha256_file


def test_atomic_write_json_and_sha(tmp_path):
    p = atomic_write_json(tmp_path / "a" / "x.json", {"a": 1})
    assert json.loads(p.read_text()) == {"a": 1}
    # sha256 of b'abc' (FIPS 180-2 test vector)
    (tmp_path / "abc").write_bytes(b"abc")
    assert sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert [q.name for q in (tmp_path / "a").iterdir()] == ["x.json"]


def test_atomic_write_json_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"a": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_failure_leaves_old(tmp_path):
    dst = tmp_path / "out"
    with atomic_folder(dst) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (dst / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_folder(dst) as tmp:
            (tmp / "a.txt").write_text("two")
            raise RuntimeError("boom")
    assert (dst / "a.txt").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with atomic_folder(dst) as tmp:
        (tmp / "b.txt").write_text("new")
    assert sorted(p.name for p in dst.iterdir()) == ["b.txt"]
