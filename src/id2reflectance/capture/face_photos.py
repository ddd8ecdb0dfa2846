"""The real-photo set behind the simulator's photographic albedo, and its fixed split.

The simulator may take a simulated subject's albedo detail and face shape from a real
person's frontal photo (:mod:`~id2reflectance.capture.simulator.photo_albedo`); the same set
(the Face Research Lab London Set, CC BY 4.0, read from ``../shared/face-photos/london`` and
never copied into the repository) is the real-photo benchmark's. So that no benchmark
evaluates on a person whose face the training data used, the split is fixed here:

- people with an **even** id (``002``, ``004``, ...) lend their neutral photo to simulated
  subjects (:func:`read_donors`);
- people with an **odd** id are the evaluation's (:func:`is_held_out`); the real-photo
  benchmarks keep only them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from id2reflectance.errors import InputFileError

PEOPLE_FILE = "people.csv"
CREDIT = (
    "Face Research Lab London Set, Lisa DeBruine and Benedict Jones (2017), CC BY 4.0, "
    "https://doi.org/10.6084/m9.figshare.5047666.v5"
)


def photo_credit(person_id: str) -> str:
    """The attribution a simulated subject carrying person ``person_id``'s photo owes (CC BY 4.0:
    the set, its authors, the licence, the source, and that the photo was altered)."""
    return f"face shape and albedo detail from person {person_id} of the {CREDIT} (altered: fitted, de-lit, re-toned)"


def default_face_photos_dir() -> Path:
    """``<repository>/../shared/face-photos/london`` (may not exist)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "face-photos" / "london"


def is_subject_donor(person_id: str) -> bool:
    """True for a person whose photo simulated subjects may use (an even numeric id)."""
    digits = "".join(c for c in str(person_id) if c.isdigit())
    if not digits:
        raise InputFileError(PEOPLE_FILE, "id", f"person id {person_id!r} has no number")
    return int(digits) % 2 == 0


def is_held_out(person_id: str) -> bool:
    """True for a person the real-photo benchmarks may evaluate on (never a subject's donor)."""
    return not is_subject_donor(person_id)


@dataclass(frozen=True)
class Donor:
    """A person lending a photo: ``id`` (a string, three digits), ``gender`` and the neutral photo."""

    id: str
    gender: str
    photo: Path


def read_donors(root: str | Path) -> tuple[Donor, ...]:
    """The subject donors of the set in ``root`` (even ids, in id order).

    Raises
    ------
    InputFileError
        No ``people.csv``, a missing ``id``, ``gender`` or ``neutral`` field, or a missing photo (named).
    """
    path = Path(root) / PEOPLE_FILE
    if not path.is_file():
        raise InputFileError(path, None, "not found: the face-photo set's people.csv (docs/face-model.md)")
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for k, row in enumerate(csv.DictReader(fh)):
            for col in ("id", "gender", "neutral"):
                if not row.get(col):
                    raise InputFileError(path, f"row {k + 1}.{col}", "missing")
            if not is_subject_donor(row["id"]):
                continue
            photo = Path(root) / row["neutral"]
            if not photo.is_file():
                raise InputFileError(path, f"row {k + 1}.neutral", f"photo {photo} not found")
            out.append(Donor(row["id"], row["gender"], photo))
    return tuple(sorted(out, key=lambda d: d.id))
