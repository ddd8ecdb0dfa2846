"""Validate a whole session: the manifest, then every image and mask.

:func:`validate_session` never raises for problems in the session: it returns a
:class:`ValidationReport` listing each problem with its file and JSON path, plus a summary
of what was found (cameras, patterns, resolution, dynamic range, saturation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from id2reflectance.capture.frames import FrameStats, decode_frame, frame_stats, load_mask, saturation_mask
from id2reflectance.capture.session import Session, load_session
from id2reflectance.errors import InputFileError, SessionInvalidError


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_session`."""

    root: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    session: Session | None = None
    frame_stats: dict[str, FrameStats] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary_lines(self) -> list[str]:
        """Human-readable summary of a valid session."""
        s = self.session
        if s is None:
            return []
        lines = [f"subject {s.subject_id}  rig '{s.rig.name}'  {len(s.cameras)} camera(s), {len(s.frames)} frame(s)"]
        for name, cam in s.cameras.items():
            pats = s.patterns(name, "cross")
            inv = "with inverses" if any(p.startswith("inverse") for p in pats) else "no inverses"
            dark = "dark" if "dark" in pats else "no dark"
            fs = [self.frame_stats[f.file] for f in s.frames if f.camera == name and f.file in self.frame_stats]
            dr = max((x.dynamic_range_stops for x in fs), default=0.0)
            sat = sum(x.saturated for x in fs)
            lines.append(
                f"  {name}: {cam.width}x{cam.height}, {len([p for p in pats if p != 'dark'])} patterns ({inv}, {dark}), "
                f"dynamic range {dr:.1f} stops, {sat} saturated pixel(s) over all frames"
            )
        lines.append(f"  mesh: {s.mesh or 'none'}")
        return lines

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "warnings": self.warnings,
            "frames": {
                k: {"saturated": v.saturated, "dynamic_range_stops": round(v.dynamic_range_stops, 3), "max": v.max}
                for k, v in self.frame_stats.items()
            },
        }


def validate_session(root: str | Path, *, images: bool = True) -> ValidationReport:
    """Check a session folder against the session format.

    Parameters
    ----------
    root : the session folder.
    images : also decode every frame and mask (sizes, NaN/Inf, saturation, readability).
    """
    report = ValidationReport(root=Path(root))
    try:
        session = load_session(root)
    except SessionInvalidError as err:
        report.problems.extend(err.problems)
        return report
    report.session = session
    if session.mesh is not None and not session.path(session.mesh).is_file():
        report.problems.append(f"session.json: mesh names a missing file '{session.mesh}'")
    if not images:
        return report
    for i, f in enumerate(session.frames):
        try:
            img = decode_frame(session, f, i)
        except InputFileError as err:
            report.problems.append(f"session.json: frames[{i}].file '{f.file}': {err.message}")
            continue
        sat = saturation_mask(img, f)
        st = frame_stats(f, img, sat)
        report.frame_stats[f.file] = st
        if st.saturated:
            frac = st.saturated / (img.shape[0] * img.shape[1])
            report.warnings.append(f"{f.file}: {st.saturated} saturated pixel(s) ({100 * frac:.2f}%)")
        if f.pattern != "dark" and st.max <= 0:
            report.problems.append(f"session.json: frames[{i}].file '{f.file}': image is entirely black")
        if f.pattern == "dark" and np.isfinite(st.p999) and st.p999 > 0.05:
            report.warnings.append(f"{f.file}: dark frame is bright (p99.9 = {st.p999:.3g}); lights left on?")
    for cam in session.cameras:
        try:
            load_mask(session, cam)
        except InputFileError as err:
            report.problems.append(str(err))
    return report
