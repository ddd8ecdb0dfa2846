import errno
import json
import os

import pytest

from id2reflectance._shared.atomic import as_output_error, atomic_folder, atomic_write, atomic_write_json, sha256_file
from id2reflectance.errors import OutputError
from tests.faults import ENOSPC_EXR, leftovers, read_only


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


# ----------------------------------------------------------------------------- full and read-only disks


def test_full_disk_mid_write_names_the_file_and_keeps_the_previous_content(tmp_path):
    dst = tmp_path / "x.bin"
    dst.write_bytes(b"previous")

    def writer(p):
        p.write_bytes(b"half of it")  # the disk fills up after a part of the file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(p))

    with pytest.raises(OutputError, match=r"x.bin: cannot write: no space left on device") as info:
        atomic_write(dst, writer)
    assert info.value.path == str(dst) and info.value.errno == errno.ENOSPC
    assert isinstance(info.value, OSError)  # still an OS error for handlers of those
    assert dst.read_bytes() == b"previous" and leftovers(tmp_path) == []


def test_full_disk_inside_a_folder_names_the_file_under_its_final_name(tmp_path):
    dst = tmp_path / "out"
    with atomic_folder(dst) as tmp:
        (tmp / "a.txt").write_text("one")
    with pytest.raises(OutputError) as info:
        with atomic_folder(dst) as tmp:
            (tmp / "sub").mkdir()
            atomic_write(tmp / "sub" / "b.bin", lambda p: (_ for _ in ()).throw(RuntimeError(ENOSPC_EXR.format(p))))
    assert info.value.path == str(dst / "sub" / "b.bin")  # not the hidden temporary folder
    assert "no space left on device" in str(info.value)
    assert [p.name for p in dst.iterdir()] == ["a.txt"] and leftovers(tmp_path) == []


def test_read_only_folder_is_one_clear_error_and_nothing_is_written(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "old.json").write_text("{}")
    how = read_only(folder, monkeypatch)
    with pytest.raises(OutputError, match=r"ro/new.json: cannot write: (read-only file system|permission denied)"):
        atomic_write_json(folder / "new.json", {"a": 1})
    with pytest.raises(OutputError, match=r"ro/maps: cannot write"):
        with atomic_folder(folder / "maps") as tmp:
            (tmp / "a").write_text("x")
    folder.chmod(0o755)
    assert sorted(p.name for p in folder.iterdir()) == ["old.json"], how


def test_a_permission_error_on_an_input_is_not_reported_as_an_output(tmp_path):
    err = PermissionError(errno.EACCES, "Permission denied", "/somewhere/else/input.exr")
    with pytest.raises(PermissionError):
        with atomic_folder(tmp_path / "out"):
            raise err
    assert as_output_error(err, tmp_path / "out", inside=(tmp_path,)) is None
    assert as_output_error(OSError(errno.ENOSPC, "full"), tmp_path / "o").errno == errno.ENOSPC


def test_an_output_error_of_another_destination_keeps_its_name(tmp_path):
    other = OutputError(tmp_path / "elsewhere" / "log.txt", "cannot write: no space left on device", errno.ENOSPC)
    with pytest.raises(OutputError) as info:
        with atomic_folder(tmp_path / "out"):
            raise other
    assert info.value is other
