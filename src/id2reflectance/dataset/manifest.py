"""The dataset manifest (``dataset.json``, docs/dataset-format.md): write, read, check.

Every file of a subject is listed with its SHA-256; :func:`check_dataset` verifies schema
and checksums and returns every mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance._shared.atomic import atomic_write_json, sha256_file
from id2reflectance.capture.geometry.template_mesh import TEMPLATE_NAME
from id2reflectance.errors import InputFileError

FORMAT_NAME = "id2r-dataset"
FORMAT_VERSION = 1
RGB_EXPOSURE_STOPS = 0.0
"""Exposure of the RGB views (stops, before the Reinhard tone curve): fixed, the same for every
subject and lighting (the lighting is mean-normalised), as a light stage's camera settings are.
An auto exposure on the face (median luminance to a key) would normalise each subject's skin
lightness away, leaving a dark and a light subject the same brightness."""
MANIFEST = "dataset.json"
SUBJECT_RECORD = "subject.json"
SPLITS = ("train", "val", "test")
DOMAINS = ("rgb", "diffuse", "specular", "roughness", "normal")
"""The image domains of a subject's views (the model's names)."""
_NOT_A_DATASET = "missing: not a dataset folder (run `id2r dataset build` first)"


@dataclass(frozen=True)
class SubjectRecord:
    """One finished subject: id, attributes and its files' checksums (paths relative to
    ``subjects/<id>/``)."""

    id: str
    attributes: dict[str, Any]
    files: dict[str, str]
    session_sha256: str
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "attributes": self.attributes,
            "files": self.files,
            "session_sha256": self.session_sha256,
            "timings_s": self.timings_s,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> SubjectRecord:
        return SubjectRecord(
            d["id"], d.get("attributes", {}), d["files"], d.get("session_sha256", ""), d.get("timings_s", {})
        )


def verify_subject(root: Path, record: SubjectRecord) -> list[str]:
    """Checksum every file of one subject; return the mismatches (empty when intact)."""
    problems = []
    base = root / "subjects" / record.id
    for rel, digest in record.files.items():
        p = base / rel
        if not p.is_file():
            problems.append(f"subjects/{record.id}/{rel}: missing")
        elif sha256_file(p) != digest:
            problems.append(f"subjects/{record.id}/{rel}: checksum mismatch")
    return problems


def load_subject_record(root: Path, subject_id: str) -> SubjectRecord | None:
    """The completion record ``subjects/<id>/subject.json`` or None if absent/unreadable."""
    p = root / "subjects" / subject_id / SUBJECT_RECORD
    try:
        return SubjectRecord.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_manifest(
    root: Path,
    *,
    records: list[SubjectRecord],
    splits: dict[str, str],
    failed: list[dict[str, str]],
    image_size: int,
    views: tuple[str, ...],
    domains: tuple[str, ...],
    environments: tuple[str, ...],
    provenance: dict[str, Any],
    template: dict[str, str] | None = None,
    eyes: bool | None = None,
) -> Path:
    """Write ``dataset.json`` atomically (call last, after every subject is in place).
    ``template``: the UV layout every subject is baked in, ``{"name", "sha256"}`` (the
    template's, as in asset.json); None: not recorded (read as the procedural template's).
    ``eyes``: whether the RGB views hold eyes (``"eyes"``); None: not recorded (read as False)."""
    data: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "image_size": image_size,
        "views": list(views),
        "domains": list(domains),
        "environments": list(environments),
        "rgb_exposure_stops": RGB_EXPOSURE_STOPS,
        "subjects": [
            {"id": r.id, "split": splits[r.id], "attributes": r.attributes, "files": r.files}
            for r in sorted(records, key=lambda r: r.id)
        ],
        "failed": failed,
        "provenance": provenance,
    }
    if template is not None:
        data["template"] = {"name": str(template["name"]), "sha256": str(template["sha256"])}
    if eyes is not None:
        data["eyes"] = bool(eyes)
    return atomic_write_json(root / MANIFEST, data)


def manifest_eyes(data: dict[str, Any]) -> bool:
    """Whether a dataset's RGB views hold eyes (``dataset.json``'s ``eyes``); a dataset
    built before the field existed has none (False)."""
    return bool(data.get("eyes", False))


def manifest_template(data: dict[str, Any]) -> dict[str, str]:
    """The UV layout of a dataset's subjects from its manifest: ``{"name", "sha256"}``;
    a dataset built before the layout was recorded is the procedural template's
    (``{"name": "id2r-procedural-head-v1"}``, no checksum)."""
    t = data.get("template")
    return {"name": TEMPLATE_NAME} if t is None else {"name": t["name"], "sha256": t["sha256"]}


def dataset_template(root: str | Path) -> dict[str, str]:
    """:func:`manifest_template` of the dataset at ``root``."""
    return manifest_template(read_manifest(root))


def same_layout(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two layout records (``{"name"[, "sha256"]}``; None: the procedural
    template's, as recorded before layouts were) name the same template: same name, and
    the same checksum where both have one."""
    a = a or {"name": TEMPLATE_NAME}
    b = b or {"name": TEMPLATE_NAME}
    if a.get("name") != b.get("name"):
        return False
    return not (a.get("sha256") and b.get("sha256")) or a["sha256"] == b["sha256"]


def layout_name(t: dict[str, Any] | None) -> str:
    """A layout record for messages: ``name`` (``sha256`` prefix)."""
    t = t or {"name": TEMPLATE_NAME}
    sha = t.get("sha256")
    return f"{t.get('name')}" + (f" ({str(sha)[:12]})" if sha else "")


def dataset_sha256(root: str | Path) -> str:
    """SHA-256 of a dataset's ``dataset.json`` (identifies the dataset a run trained on)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise InputFileError(path, None, _NOT_A_DATASET)
    return sha256_file(path)


def read_manifest(root: str | Path) -> dict[str, Any]:
    """Read ``dataset.json`` and check its schema (not the files' checksums: :func:`check_dataset`).

    Raises
    ------
    InputFileError
        Missing, unreadable or not JSON; wrong ``format`` or ``version``; a top-level field
        (``image_size``, ``views``, ``domains``, ``environments``, ``subjects``) missing or
        of the wrong type; a ``template`` that is not ``{"name", "sha256"}``; an ``eyes`` that is not a boolean; a subject without an ``id`` string, a ``files`` object or a
        known ``split``. Each names the field.
    """
    p = Path(root) / MANIFEST
    if not p.is_file():
        raise InputFileError(p, None, _NOT_A_DATASET)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(p, None, f"cannot read dataset manifest: {err}") from err
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError, nested too deeply
        raise InputFileError(p, None, f"not valid JSON ({err})") from err
    found = data.get("format") if isinstance(data, dict) else None
    if found != FORMAT_NAME:
        raise InputFileError(p, "format", f"must be '{FORMAT_NAME}', got {found!r}")
    if data.get("version") != FORMAT_VERSION:
        raise InputFileError(p, "version", f"must be {FORMAT_VERSION}, got {data.get('version')!r}")
    for key, typ, kind in (
        ("image_size", int, "an integer"),
        ("views", list, "a list"),
        ("domains", list, "a list"),
        ("environments", list, "a list"),
        ("subjects", list, "a list"),
    ):
        if not isinstance(data.get(key), typ):
            raise InputFileError(p, key, f"is missing or not {kind}")
    t = data.get("template")
    if t is not None and not (
        isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("sha256"), str)
    ):
        raise InputFileError(p, "template", "must be an object with 'name' and 'sha256' strings")
    if "eyes" in data and not isinstance(data["eyes"], bool):
        raise InputFileError(p, "eyes", f"must be true or false, got {data['eyes']!r}")
    for i, s in enumerate(data["subjects"]):
        if not isinstance(s, dict) or not isinstance(s.get("id"), str) or not isinstance(s.get("files"), dict):
            raise InputFileError(p, f"subjects[{i}]", "must have an 'id' string and a 'files' object")
        if s.get("split") not in SPLITS:
            raise InputFileError(p, f"subjects[{i}].split", f"must be one of {list(SPLITS)}, got {s.get('split')!r}")
    return data


def check_dataset(root: str | Path) -> list[str]:
    """Verify schema and every checksum; return the list of problems (empty = intact)."""
    root = Path(root)
    data = read_manifest(root)
    problems: list[str] = []
    for s in data["subjects"]:
        rec = SubjectRecord(s["id"], s.get("attributes", {}), s["files"], "")
        problems.extend(verify_subject(root, rec))
    return problems


def dataset_info(root: str | Path) -> dict[str, Any]:
    """Summary of a built dataset: counts per split, Fitzpatrick histogram, ITA range,
    files and bytes on disk."""
    root = Path(root)
    data = read_manifest(root)
    subs = data["subjects"]
    splits = {k: sum(1 for s in subs if s["split"] == k) for k in SPLITS}
    fitz: dict[str, int] = {}
    itas = []
    for s in subs:
        a = s.get("attributes", {})
        if "fitzpatrick" in a:
            fitz[str(a["fitzpatrick"])] = fitz.get(str(a["fitzpatrick"]), 0) + 1
        if "ita_deg" in a:
            itas.append(float(a["ita_deg"]))
    files = sum(len(s["files"]) for s in subs)
    size = sum(
        (root / "subjects" / s["id"] / rel).stat().st_size
        for s in subs
        for rel in s["files"]
        if (root / "subjects" / s["id"] / rel).is_file()
    )
    return {
        "subjects": len(subs),
        "failed": len(data.get("failed", [])),
        "splits": splits,
        "fitzpatrick": dict(sorted(fitz.items())),
        "ita_deg": {"min": min(itas), "max": max(itas)} if itas else None,
        "image_size": data["image_size"],
        "views": data["views"],
        "environments": data["environments"],
        "template": manifest_template(data)["name"],
        "eyes": manifest_eyes(data),
        "files": files,
        "bytes": size,
    }
