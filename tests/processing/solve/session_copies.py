"""Variants of a stored session for the solver's write paths: its frames uncompressed, and a record
of the cameras whose maps the solver wrote straight into their mapped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from id2reflectance._shared.imageio import read_exr, write_exr


def uncompressed_copy(session: Path, out: Path) -> Path:
    """``session`` copied to ``out`` with its frames rewritten uncompressed: the solver reads them as
    views of their files, which cannot hold the maps, so it solves into the maps' mapped files
    (``CameraMaps.in_files``)."""
    for src in session.rglob("*"):
        dst = out / src.relative_to(session)
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        elif src.suffix == ".exr" and "frames" in src.parts:
            write_exr(dst, read_exr(src)[0], compression="none")
        else:
            dst.write_bytes(src.read_bytes())
    return out


def record_maps_in_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The cameras for which ``CameraMaps.in_files`` is called from now on (appended as called)."""
    from id2reflectance.processing.solve import camera_maps

    made: list[str] = []
    real = camera_maps.CameraMaps.in_files.__func__

    def spy(cls, camera, *args, **kwargs):
        made.append(camera)
        return real(cls, camera, *args, **kwargs)

    monkeypatch.setattr(camera_maps.CameraMaps, "in_files", classmethod(spy))
    return made
