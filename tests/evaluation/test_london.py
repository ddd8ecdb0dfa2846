"""The London photo set's people table."""

from __future__ import annotations

from collections import Counter

import pytest

from id2reflectance.errors import InputFileError
from id2reflectance.evaluation.london import read_people
from tests.london_photos import london_people


def test_the_set_as_its_readme_describes_it():
    people = london_people()
    assert len(people) == 102
    groups = Counter(p.ethnicity for p in people)
    assert groups == {"white": 69, "black": 13, "west_asian": 10, "east_asian": 9, "east_asian/white": 1}
    p = people[0]
    assert p.id == "001" and p.neutral.name == "001.jpg" and p.neutral.parent.name == "neutral"
    assert p.photo("smiling").parent.name == "smiling"
    assert sum(p.age is None for p in people) == 2


def test_missing_table_column_or_photo_is_named(tmp_path):
    with pytest.raises(InputFileError, match="people.csv"):
        read_people(tmp_path)
    (tmp_path / "people.csv").write_text("id,ethnicity,age,gender,neutral,smiling\n001,white,20,female,,s.jpg\n")
    with pytest.raises(InputFileError, match=r"row 1\.neutral"):
        read_people(tmp_path)
    (tmp_path / "people.csv").write_text("id,ethnicity,age,gender,neutral,smiling\n001,white,20,female,n.jpg,s.jpg\n")
    with pytest.raises(InputFileError, match="n.jpg not found"):
        read_people(tmp_path)


def test_the_held_out_people_are_never_subject_donors():
    from id2reflectance.capture.face_photos import read_donors
    from id2reflectance.evaluation.london import default_london_dir, held_out_people

    people = london_people()
    held = held_out_people(people)
    donors = {d.id for d in read_donors(default_london_dir())}
    assert held and donors and len(held) + len(donors) == len(people)
    assert all(int(p.id) % 2 == 1 for p in held) and all(int(d) % 2 == 0 for d in donors)
    assert not donors & {p.id for p in held}
