"""Checks of a bake's inputs that run before any heavy work, and the template's loading.

Each failure names the file or camera at fault: the scan must project into some camera;
every camera must see part of the scan inside its solver mask; the output folder must
not replace an input or an unrelated folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import FaceMesh, read_obj
from id2reflectance.capture.geometry.templates import TEMPLATE_KINDS, resolve_template
from id2reflectance.errors import CaptureError, ConfigError, InputFileError


def _in_image(cam: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pix, depth = cam.project(points)
    inside = (depth > 0) & (pix[:, 0] >= 0) & (pix[:, 0] <= cam.width - 1)
    inside &= (pix[:, 1] >= 0) & (pix[:, 1] <= cam.height - 1)
    return inside, pix


def check_scan_in_view(scan: FaceMesh, cameras: dict[str, Camera], *, where: str) -> None:
    """Raise CaptureError when no scan vertex projects into any camera's image."""
    if not any(_in_image(cam, scan.vertices)[0].any() for cam in cameras.values()):
        raise CaptureError(
            f"{where}: the mesh lies outside every camera's view (no vertex projects into any image); "
            "it must be in the session's world frame, in metres"
        )


def check_cameras_see_scan(scan: FaceMesh, cameras: dict[str, Camera], solved_dir: str | Path) -> None:
    """Raise CaptureError naming each camera that sees no scan vertex inside its solver mask.

    A vertex counts when it projects into the image, faces the camera and lands on a
    valid pixel of ``SOLVED/<camera>/mask.exr``.
    """
    normals = scan.vertex_normals()
    blind = []
    for name, cam in cameras.items():
        inside, pix = _in_image(cam, scan.vertices)
        facing = np.sum(normals * (cam.center - scan.vertices), axis=1) > 0
        sel = inside & facing
        if sel.any():
            path = Path(solved_dir) / name / "mask.exr"
            try:
                mask, _ = read_exr(path)
            except InputFileError as err:
                raise InputFileError(f"{Path(solved_dir).name}/{name}/mask.exr", None, err.message) from err
            r = np.clip(np.rint(pix[sel, 1]).astype(np.int64), 0, mask.shape[0] - 1)
            c = np.clip(np.rint(pix[sel, 0]).astype(np.int64), 0, mask.shape[1] - 1)
            if not (mask[r, c, 0] > 0.5).any():
                sel = np.zeros(0, bool)
        if not sel.any():
            blind.append(name)
    if blind:
        raise CaptureError(
            f"camera(s) {blind} see nothing of the face: no point of the scan projects into their image, faces them "
            "and lies inside their solver mask (check cameras.<name> in session.json and SOLVED/<name>/mask.exr)"
        )


def check_out_dir(out_dir: Path, *, inputs: tuple[Path, ...]) -> None:
    """Refuse an output folder that would replace an input or an unrelated folder.

    ``out_dir`` must not be (or contain) any of ``inputs``; if it exists it must be a
    folder that is empty or holds a previous asset (``asset.json``).
    """
    out = out_dir.resolve()
    for p in inputs:
        q = Path(p).resolve()
        if out == q or out in q.parents:
            raise ConfigError(f"output folder {out_dir} must not be the input folder {p} or contain it")
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"output folder {out_dir} exists and is not a folder")
        if any(out.iterdir()) and not (out / "asset.json").is_file():
            raise ConfigError(
                f"output folder {out_dir} exists and is not an asset folder (no asset.json); "
                "choose another folder or remove it"
            )


def load_template(template: str | Path | None, face_model: str | Path | None = None) -> tuple[FaceMesh, str, str]:
    """The face template: (mesh, name, sha256 of its OBJ file).

    ``template`` is ``"procedural"``, ``"face_model"`` or ``"auto"``
    (:func:`~id2reflectance.capture.geometry.templates.resolve_template`, the face model
    from ``face_model``), an OBJ path, or None for ``"auto"`` (the face model's layout
    when the face model is found, else the shipped procedural template).
    """
    if template is None or str(template) in TEMPLATE_KINDS:
        t = resolve_template("auto" if template is None else str(template), face_model)
        m = t.mesh  # a copy: the template is cached and shared
        return FaceMesh(m.vertices.copy(), m.faces.copy(), m.uvs.copy(), dict(m.landmarks)), t.name, t.sha256
    path = Path(template)
    if not path.is_file():
        raise InputFileError(path, None, "face template OBJ not found")
    mesh = read_obj(path)
    if mesh.uvs is None:
        raise InputFileError(path, "vt", "the face template has no UVs")
    return mesh, path.stem, sha256_file(path)
