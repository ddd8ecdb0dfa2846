"""Per-frame plots of session and solve reports: saturation and dynamic range of every
frame, and the per-frame motion a solve records when it aligns frames.

The motion is the ``alignment`` block that ``id2r solve`` writes per camera
(docs/solve.md section 1b); its table is :func:`~id2reflectance.report.build.alignment_table`.
"""

from __future__ import annotations

from collections.abc import Mapping

from id2reflectance.capture.frames import FrameStats
from id2reflectance.report import html as H
from id2reflectance.report.plots import line_chart_svg


def frame_stats_plots(stats: Mapping[str, FrameStats]) -> str:
    """Saturated pixels and dynamic range (stops) per frame, frames in file-name order."""
    if not stats:
        return ""
    names = sorted(stats)
    idx = list(range(len(names)))
    sat = line_chart_svg(
        idx,
        {"saturated px": [stats[n].saturated for n in names]},
        title="saturated pixels per frame",
        xlabel="frame (row of the table)",
    )
    dr = line_chart_svg(
        idx,
        {"dynamic range": [stats[n].dynamic_range_stops for n in names]},
        title="dynamic range per frame (stops)",
        xlabel="frame (row of the table)",
    )
    return '<div class="grid">' + sat + dr + "</div>"


MOTION_SERIES = ("tx", "ty", "rotation_deg", "displacement_px", "residual_px")


def motion_series(alignment: object) -> tuple[list[str], dict[str, list[float]]]:
    """(frame labels, {series: value per frame, NaN where missing}) of a camera's
    ``solve.json`` ``alignment`` block (``frames[*]`` with ``tx``, ``ty`` pixels,
    ``rotation_deg``, ``displacement_px``, ``residual_px``); empty without one."""
    frames = alignment.get("frames") if isinstance(alignment, Mapping) else None
    if not isinstance(frames, list):
        return [], {}
    labels, rows = [], []
    for i, f in enumerate(frames):
        if not isinstance(f, Mapping):
            continue
        labels.append(str(f.get("frame", i)))
        rows.append(
            {k: float(f[k]) for k in MOTION_SERIES if isinstance(f.get(k), int | float) and not isinstance(f[k], bool)}
        )
    keys = [k for k in MOTION_SERIES if any(k in r for r in rows)]
    return labels, {k: [r.get(k, float("nan")) for r in rows] for k in keys}


def motion_section(meta: Mapping) -> str:
    """A plot per camera of the per-frame motion that frame alignment recorded in
    ``solve.json`` (``cameras.<cam>.alignment``); nothing when no camera was aligned."""
    out = []
    for cam, info in (meta.get("cameras") or {}).items():
        if not isinstance(info, Mapping):
            continue
        labels, series = motion_series(info.get("alignment"))
        if not series:
            continue
        title = f"motion relative to full cross per frame ({cam}; pixels, degrees)"
        out.append(f"<h3>Per-frame motion: {H.esc(str(cam))}</h3>")
        out.append(line_chart_svg(list(range(len(labels))), series, title=title, xlabel="frame"))
    return "".join(out)
