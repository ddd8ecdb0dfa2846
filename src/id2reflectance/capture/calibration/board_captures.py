"""Board captures on disk: ``CAPTURE_DIR/<camera>/<image>`` and the boards found in them.

One folder per camera (or, with no camera folders, images named ``<camera><number>.<ext>``
directly in the capture folder, as a stereo camera's ``left01.jpg``/``right01.jpg``), several board poses per camera, in any encoding the session format
reads (EXR, 8/16-bit PNG/TIFF, JPEG, camera RAW). Images with the same file stem in
different camera folders are the same board pose (a synchronised shot); that is how views
are linked across cameras. Images where the board is not found, or with too few corners,
are dropped and listed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from id2reflectance._shared.imageio import RAW_SUFFIXES, read_image
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.calibration.boards import BoardSpec, Detection, detect_board
from id2reflectance.errors import CaptureError, ConfigError, InputFileError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg"} | RAW_SUFFIXES
CAMERA_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass
class CameraDetections:
    """One camera's usable detections.

    size : (width, height) pixels, the same for all its images.
    detections : {pose (image stem): Detection}.
    files : {pose: image path relative to the capture folder}.
    dropped : one message per unusable image (board not found, too few corners).
    """

    camera: str
    size: tuple[int, int]
    detections: dict[str, Detection]
    files: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ detection


def list_capture(capture_dir: str | Path) -> dict[str, dict[str, Path]]:
    """``{camera: {pose: path}}`` for ``CAPTURE_DIR/<camera>/<image>``, or ``CAPTURE_DIR/<camera><number>.<ext>``
    when no camera folder holds an image (hidden files skipped)."""
    root = Path(capture_dir)
    if not root.is_dir():
        raise InputFileError(root, None, "capture folder not found")
    out: dict[str, dict[str, Path]] = {}
    for cam_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images: dict[str, Path] = {}
        for f in sorted(cam_dir.iterdir()):
            if f.name.startswith(".") or not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if f.stem in images:
                raise InputFileError(
                    f"{cam_dir.name}/{f.name}", None, f"same pose name as {cam_dir.name}/{images[f.stem].name}"
                )
            images[f.stem] = f
        if images:
            if not CAMERA_NAME_RE.fullmatch(cam_dir.name):
                raise InputFileError(
                    cam_dir, None, "camera folder names must be 1-64 characters of [A-Za-z0-9_-] (session format)"
                )
            out[cam_dir.name] = images
    if not out:
        out = _flat_listing(root)
    if not out:
        raise InputFileError(
            root, None, "no images found; expected CAPTURE_DIR/<camera>/<image> or CAPTURE_DIR/<camera><number>.<ext>"
        )
    return out


FLAT_NAME_RE = re.compile(r"(?P<camera>[A-Za-z][A-Za-z0-9_-]*?)[_-]?(?P<pose>[0-9]+)")


def _flat_listing(root: Path) -> dict[str, dict[str, Path]]:
    """``{camera: {pose: path}}`` for a folder of ``<camera><number>.<ext>`` images (``left01.jpg``, ``right01.jpg``).

    The name up to its trailing number (an ``_`` or ``-`` before it dropped) is the
    camera, the number the board pose. Empty when the folder holds no image; an image
    not named so is an error naming it.
    """
    images = sorted(
        f for f in root.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
    )
    out: dict[str, dict[str, Path]] = {}
    for f in images:
        m = FLAT_NAME_RE.fullmatch(f.stem)
        if m is None or not CAMERA_NAME_RE.fullmatch(m["camera"]):
            raise InputFileError(
                f,
                None,
                "images directly in the capture folder must be named <camera><number>.<ext> (left01.jpg, "
                "right01.jpg: the same number is the same board pose); or use CAPTURE_DIR/<camera>/<image>",
            )
        cam = out.setdefault(m["camera"], {})
        if m["pose"] in cam:
            raise InputFileError(f, None, f"same camera and pose number as {cam[m['pose']].name}")
        cam[m["pose"]] = f
    return out


def _encoding_for(path: Path, encoding: str) -> str:
    if encoding != "auto":
        return encoding
    suffix = path.suffix.lower()
    if suffix == ".exr":
        return "linear"
    if suffix in RAW_SUFFIXES:
        return "raw"
    return "srgb"  # geometry does not depend on the transfer curve


def _names(paths: list[str], limit: int = 6) -> str:
    head = ", ".join(paths[:limit])
    return head + (f", ... ({len(paths)} in all)" if len(paths) > limit else "")


def detect_capture(
    capture_dir: str | Path,
    spec: BoardSpec,
    *,
    min_corners: int = 10,
    min_views: int = 3,
    encoding: Literal["auto", "linear", "srgb", "raw"] = "auto",
    workers: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, CameraDetections]:
    """Detect the board in every image of a capture folder.

    Parameters
    ----------
    min_corners : detections with fewer corners are dropped (and listed).
    min_views : usable images every camera needs.
    encoding : how to decode; ``auto`` reads OpenEXR as linear, RAW/DNG as raw and the
        rest as sRGB (the board's geometry does not depend on the transfer curve).
    workers : images decoded and searched in parallel threads; 0 = min(4, CPU count).
        Memory: one decoded float32 image per worker.

    Raises
    ------
    InputFileError
        Unreadable image, or images of one camera with different sizes (all named).
    CaptureError
        No board found in any image (images named), or a camera with fewer than
        ``min_views`` usable images (both with a hint when the photos show a board one
        square larger each way: inner corners given for squares); or a chessboard larger
        than ``spec`` in any image (the size seen named).
    """
    root = Path(capture_dir)
    listing = list_capture(root)
    jobs = [(cam, pose, path) for cam, images in listing.items() for pose, path in images.items()]

    def work(job: tuple[str, str, Path]) -> tuple[tuple[int, int], Detection | None]:
        cam, _, path = job
        try:
            img = read_image(path, _encoding_for(path, encoding))  # type: ignore[arg-type]
        except InputFileError as err:
            raise InputFileError(_rel(root, path), err.field, err.message) from err
        return (img.shape[1], img.shape[0]), detect_board(img, spec)

    n_workers = workers if workers > 0 else min(4, os.cpu_count() or 1)
    found: dict[tuple[str, str], tuple[tuple[int, int], Detection | None]] = {}
    with ThreadPoolExecutor(max_workers=n_workers) as pool:  # OpenCV and the decoders release the GIL
        for i, (job, res) in enumerate(zip(jobs, pool.map(work, jobs), strict=True)):
            found[(job[0], job[1])] = res
            if progress is not None:
                progress("detect boards", i + 1, len(jobs))
    out: dict[str, CameraDetections] = {}
    larger: list[tuple[str, tuple[int, int]]] = []
    for cam, images in listing.items():
        sizes: dict[str, tuple[int, int]] = {}
        dets: dict[str, Detection] = {}
        dropped: list[str] = []
        for pose, path in images.items():
            rel = _rel(root, path)
            sizes[rel], det = found[(cam, pose)]
            if det is None:
                dropped.append(f"{rel}: board not found")
            elif det.larger_board is not None:
                larger.append((rel, det.larger_board))
            elif len(det) < min_corners:
                dropped.append(f"{rel}: only {len(det)} corner(s), fewer than {min_corners}")
            else:
                dets[pose] = det
        distinct = sorted(set(sizes.values()))
        if len(distinct) > 1:
            groups = {s: [n for n, v in sizes.items() if v == s] for s in distinct}
            text = "; ".join(f"{w}x{h}: {_names(v, 3)}" for (w, h), v in groups.items())
            raise InputFileError(f"{root.name}/{cam}", None, f"images of camera '{cam}' differ in size ({text})")
        size = distinct[0]
        out[cam] = CameraDetections(cam, size, dets, {p: _rel(root, images[p]) for p in dets}, dropped)
        for msg in dropped:
            log.info("dropped %s", msg)
    if larger:
        raise CaptureError(_larger_message(spec, larger, len(jobs), _paths(root, listing), encoding))
    if not any(d.detections for d in out.values()):
        every = [_rel(root, p) for imgs in listing.values() for p in imgs.values()]
        raise CaptureError(
            f"{root}: no board found in any image ({_names(every)}); check --board{_hint(spec, root, listing, found, encoding)}"
        )
    for cam, d in out.items():
        if len(d.detections) < min_views:
            names = [_rel(root, p) for p in listing[cam].values()]
            raise CaptureError(
                f"camera '{cam}': board usable in {len(d.detections)} of {len(names)} image(s) "
                f"({_names(names)}), at least {min_views} needed{_hint(spec, root, listing, found, encoding)}"
            )
    return out


def _squares_text(nx: int, ny: int) -> str:
    return f"{nx + 1}x{ny + 1} squares ({nx}x{ny} inner corners)"


def _rel(root: Path, path: Path) -> str:
    """An image's name in messages and the report: its path under the capture folder."""
    return path.relative_to(root).as_posix()


def _paths(root: Path, listing: dict[str, dict[str, Path]]) -> dict[str, Path]:
    """``{name under the capture folder: path}`` of every image."""
    return {_rel(root, p): p for imgs in listing.values() for p in imgs.values()}


def _found_whole(spec: BoardSpec, nx: int, ny: int, paths: dict[str, Path], encoding: str) -> str | None:
    """The names (of ``paths``, {name: path}) when a chessboard of ``nx`` x ``ny`` inner corners is found
    whole in every one of them, else None (a board near the image's edge can hide its last squares)."""
    try:
        other = dataclasses.replace(spec, squares_x=nx + 1, squares_y=ny + 1)
    except ConfigError:
        return None
    for path in paths.values():
        try:
            det = detect_board(read_image(path, _encoding_for(path, encoding)), other)  # type: ignore[arg-type]
        except InputFileError:
            return None
        if det is None or det.larger_board is not None:
            return None
    return ", ".join(paths)


def _larger_message(
    spec: BoardSpec,
    larger: list[tuple[str, tuple[int, int]]],
    n_images: int,
    paths: dict[str, Path],
    encoding: str,
    *,
    tries: int = 2,
) -> str:
    """The board spec is smaller than the board in the photos: name the size seen.

    The sizes seen (most frequent first) and the spec read as inner corners (the usual
    mistake) are tried on the images concerned; the first found whole there is named.
    A grid extended over a cluttered background can be wrong: unconfirmed, the sizes are
    only listed.
    """
    sizes = [s for _, s in larger]
    seen = sorted(set(sizes), key=lambda s: (-sizes.count(s), s))
    which = {r: paths[r] for r, _ in larger[:tries]}
    candidates = [*seen[:4], (spec.squares_x, spec.squares_y)]
    text = (
        f"--board gives a chessboard of {_squares_text(spec.squares_x - 1, spec.squares_y - 1)}, but the photos "
        f"show a larger one in {len(larger)} of {n_images} image(s) ({_names([r for r, _ in larger])}): "
        "the grid found is only part of it"
    )
    for nx, ny in dict.fromkeys(candidates):
        name = _found_whole(spec, nx, ny, which, encoding)
        if name is not None:
            text += f"; {_squares_text(nx, ny)} found whole in {name}"
            if (nx, ny) == (spec.squares_x, spec.squares_y):
                text += "; --board counts squares, not inner corners"
            return text + f": use squares_x={nx + 1}, squares_y={ny + 1}"
    listed = ", ".join(f"{_squares_text(nx, ny)} in {sizes.count((nx, ny))}" for nx, ny in seen[:3])
    return text + f" (sizes seen: {listed}); count the board's squares and give squares_x, squares_y"


def _hint(
    spec: BoardSpec,
    root: Path,
    listing: dict[str, dict[str, Path]],
    found: dict[tuple[str, str], tuple[tuple[int, int], Detection | None]],
    encoding: str,
    *,
    tries: int = 3,
) -> str:
    """Why the board may not be found: a board one square larger each way (inner corners given)."""
    try:
        bigger = dataclasses.replace(spec, squares_x=spec.squares_x + 1, squares_y=spec.squares_y + 1)
    except ConfigError:
        bigger = None
    missed = [(c, p) for (c, p), (_, det) in found.items() if det is None][:tries]
    if bigger is not None:
        for cam, pose in missed:
            path = listing[cam][pose]
            try:
                det = detect_board(read_image(path, _encoding_for(path, encoding)), bigger)  # type: ignore[arg-type]
            except InputFileError:
                continue
            if det is not None and det.larger_board is None:
                return (
                    f": {_rel(root, path)} shows a board of {_squares_text(spec.squares_x, spec.squares_y)}; "
                    f"--board counts squares, not inner corners: use squares_x={bigger.squares_x}, "
                    f"squares_y={bigger.squares_y}"
                )
    return (
        f" (--board counts squares: {spec.squares_x}x{spec.squares_y} squares has "
        f"{spec.squares_x - 1}x{spec.squares_y - 1} inner corners)"
    )
