"""Inference over a batch of photos (what ``id2r infer`` runs).

:func:`collect_photos` expands folders into their image files;
:func:`~id2reflectance.face.detect.read_photo` decodes one (a clear
:class:`~id2reflectance.errors.InputFileError` naming the file when it is not an image);
:func:`infer_photos` predicts every face of every photo with an
:class:`~id2reflectance.inference.predictor.Inferencer` and writes each with
:func:`~id2reflectance.inference.output.write_prediction`. A photo that fails (unreadable,
no face, several faces without ``all_faces``) is recorded with its message and leaves
nothing in the output; the others go on. ``OUT/infer.json`` lists every photo's outcome
(written last, atomically).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from id2reflectance._shared.atomic import atomic_write_json
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.errors import Id2rError, InputFileError
from id2reflectance.face.detect import read_photo
from id2reflectance.inference.output import prediction_name, write_prediction
from id2reflectance.inference.predictor import Inferencer

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
REPORT_FILE = "infer.json"


def collect_photos(paths: Sequence[str | Path]) -> list[Path]:
    """Image files named by ``paths``: files as given, folders expanded to their images
    (suffixes in :data:`IMAGE_SUFFIXES`, sorted, not recursive).

    Raises
    ------
    InputFileError
        A path that does not exist, a folder without images, or no path at all.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputFileError(p, None, f"folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputFileError(p, None, "photo not found")
    if not out:
        raise InputFileError(".", None, "no photos given")
    return list(dict.fromkeys(out))


@dataclass
class PhotoResult:
    """Outcome of one photo.

    photo : the file; outputs : ``OUT/<name>`` folders written (one per face);
    faces : per face ``{"face_index", "box", "template_id", "template_score", "ita_deg",
    "coverage_seen", "warnings", "output"}``; error : the message when the photo failed (nothing written).
    """

    photo: Path
    outputs: list[Path] = field(default_factory=list)
    faces: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class InferReport:
    """Every photo's outcome, in input order, and the report file."""

    results: list[PhotoResult]
    path: Path | None = None

    @property
    def failed(self) -> list[PhotoResult]:
        return [r for r in self.results if r.error is not None]

    @property
    def succeeded(self) -> list[PhotoResult]:
        return [r for r in self.results if r.error is None]


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 2
    while out in used:
        suffix = f"_{k}"
        out, k = name[: 64 - len(suffix)] + suffix, k + 1
    used.add(out)
    return out


def infer_photos(
    photos: Sequence[str | Path],
    out_dir: str | Path,
    *,
    inferencer: Inferencer,
    progress: ProgressFn | None = None,
) -> InferReport:
    """Predict and write every face of every photo; failures are recorded, not raised.

    Parameters
    ----------
    photos : image files or folders of images (:func:`collect_photos`).
    out_dir : OUT; each face goes to ``OUT/<name>``
        (:func:`~id2reflectance.inference.output.prediction_name`, made unique across the
        batch) and ``OUT/infer.json`` summarises the run.
    inferencer : the loaded model, template bank and identity encoder.
    progress : optional ``progress("photos", done, total)``.

    Returns
    -------
    InferReport. Raises only for problems that concern the whole batch (a missing
    photo path or folder without images, an unwritable OUT).
    """
    files = collect_photos(photos)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    results: list[PhotoResult] = []
    if progress is not None:
        progress("photos", 0, len(files))
    for k, photo in enumerate(files):
        res = PhotoResult(photo=photo)
        written: list[Path] = []
        try:
            preds = inferencer.predict_image(read_photo(photo), source=str(photo))
            for pred in preds:
                name = _unique(prediction_name(pred), used)
                folder = write_prediction(pred, out, mesh_from=inferencer, name=name)
                written.append(folder)
                res.faces.append(
                    {
                        "face_index": pred.face_index,
                        "box": list(pred.box) if pred.box is not None else None,
                        "template_id": pred.template_id,
                        "template_score": round(float(pred.template_score), 6),
                        "ita_deg": None if pred.ita_deg is None else round(float(pred.ita_deg), 3),
                        "coverage_seen": round(pred.coverage_seen, 5),
                        "warnings": list(pred.warnings),
                        "output": folder.name,
                    }
                )
            res.outputs = written
        except Id2rError as err:
            for folder in written:  # nothing partial for a failed photo
                shutil.rmtree(folder, ignore_errors=True)
            res.faces = []
            res.error = str(err)
            log.info("%s", err)  # the message names the photo; the caller reports failures
        results.append(res)
        if progress is not None:
            progress("photos", k + 1, len(files))
    doc = {
        "format": "id2r-infer",
        "version": 1,
        "checkpoint": inferencer.checkpoint,
        "dataset": str(inferencer.bank.root),
        "photos": [{"photo": str(r.photo), "faces": r.faces, "error": r.error} for r in results],
    }
    path = atomic_write_json(out / REPORT_FILE, doc)
    return InferReport(results=results, path=path)


def summary_table(report: InferReport) -> str:
    """Plain-text table: photo, faces, template (subject), score, ITA (one row per face; failed
    photos show their error)."""
    rows = [("photo", "faces", "template", "score", "ITA")]
    for r in report.results:
        if r.error is not None:
            rows.append((r.photo.name, "-", "failed", "-", "-"))
            continue
        for f in r.faces:
            ita = "-" if f["ita_deg"] is None else f"{f['ita_deg']:.1f}"
            face = f"{f['face_index'] + 1}/{len(r.faces)}"
            rows.append((r.photo.name, face, f["template_id"], f"{f['template_score']:.3f}", ita))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
