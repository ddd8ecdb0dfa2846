"""The photo set behind the simulator's photographic albedo: its fixed subject / evaluation split."""

from __future__ import annotations

import pytest

from id2reflectance.capture.face_photos import is_held_out, is_subject_donor, read_donors
from id2reflectance.errors import InputFileError


def test_even_ids_lend_photos_odd_ids_are_held_out():
    assert is_subject_donor("002") and is_subject_donor("104") and not is_subject_donor("001")
    assert is_held_out("001") and is_held_out("173") and not is_held_out("010")
    with pytest.raises(InputFileError, match="no number"):
        is_subject_donor("abc")


def test_read_donors_keeps_even_ids_and_names_bad_rows(tmp_path):
    with pytest.raises(InputFileError, match="people.csv"):
        read_donors(tmp_path)
    (tmp_path / "neutral").mkdir()
    for pid in ("001", "002", "004"):
        (tmp_path / "neutral" / f"{pid}.jpg").write_bytes(b"x")
    rows = "".join(
        f"{pid},{g},neutral/{pid}.jpg\n" for pid, g in (("004", "male"), ("001", "female"), ("002", "female"))
    )
    (tmp_path / "people.csv").write_text("id,gender,neutral\n" + rows)
    donors = read_donors(tmp_path)
    assert [(d.id, d.gender) for d in donors] == [("002", "female"), ("004", "male")]
    assert donors[0].photo == tmp_path / "neutral" / "002.jpg"
    (tmp_path / "people.csv").write_text("id,gender,neutral\n006,male,neutral/006.jpg\n")
    with pytest.raises(InputFileError, match=r"row 1\.neutral.*006.jpg not found"):
        read_donors(tmp_path)
    (tmp_path / "people.csv").write_text("id,gender,neutral\n002,,neutral/002.jpg\n")
    with pytest.raises(InputFileError, match=r"row 1\.gender"):
        read_donors(tmp_path)
