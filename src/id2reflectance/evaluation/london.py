"""The London real-photo set (Face Research Lab London Set, CC BY 4.0): people and photo paths.

The photos are never part of the repository: they are read from ``../shared/face-photos/london``
next to the repository (:func:`default_london_dir`) or a folder the user gives; users get
them from the figshare DOIs listed in ``docs/evaluation.md``. Layout (the set's README):
``people.csv`` with ``id, ethnicity, age, gender, neutral, smiling, ...``; ``neutral/<id>.jpg``
and ``smiling/<id>.jpg``, 512 x 512 sRGB JPEG, one frontal face each.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from id2reflectance.capture.face_photos import default_face_photos_dir, is_held_out
from id2reflectance.errors import InputFileError

PEOPLE = "people.csv"
EXPRESSIONS = ("neutral", "smiling")
# self-reported groups, in the order of their photos' skin ITA (lightest first; docs/evaluation.md)
GROUP_ORDER = ("white", "east_asian", "west_asian", "black")


@dataclass(frozen=True)
class Person:
    """One person of the set: ``id`` (three digits, a string), self-reported ``ethnicity``,
    ``gender`` and ``age`` (None when not given), and the ``neutral`` and ``smiling`` photo paths."""

    id: str
    ethnicity: str
    gender: str
    age: int | None
    neutral: Path
    smiling: Path

    def photo(self, expression: str) -> Path:
        """Path of the ``neutral`` or ``smiling`` photo."""
        return self.neutral if expression == "neutral" else self.smiling


def default_london_dir() -> Path:
    """``<repository>/../shared/face-photos/london`` (may not exist)."""
    return default_face_photos_dir()


def held_out_people(people: list[Person]) -> list[Person]:
    """The people the real-photo benchmarks of a model may evaluate on: those whose photo no
    simulated subject uses (odd ids; :mod:`~id2reflectance.capture.face_photos`)."""
    return [p for p in people if is_held_out(p.id)]


def read_people(root: str | Path) -> list[Person]:
    """The people of the set in ``root``, in ``people.csv`` order.

    Raises
    ------
    InputFileError
        No ``people.csv``, a missing column, or a row whose photo file is missing (named).
    """
    root = Path(root)
    path = root / PEOPLE
    if not path.is_file():
        raise InputFileError(path, None, "not found: the London photo set's people.csv (see docs/evaluation.md)")
    people = []
    with path.open(newline="", encoding="utf-8") as fh:
        for k, row in enumerate(csv.DictReader(fh)):
            for col in ("id", "ethnicity", "gender", *EXPRESSIONS):
                if not row.get(col):
                    raise InputFileError(path, f"row {k + 1}.{col}", "missing")
            files = {e: root / row[e] for e in EXPRESSIONS}
            for e, f in files.items():
                if not f.is_file():
                    raise InputFileError(path, f"row {k + 1}.{e}", f"photo {f} not found")
            age = row.get("age") or ""
            people.append(
                Person(
                    id=row["id"],
                    ethnicity=row["ethnicity"],
                    gender=row["gender"],
                    age=int(age) if age.strip().isdigit() else None,
                    neutral=files["neutral"],
                    smiling=files["smiling"],
                )
            )
    return people
