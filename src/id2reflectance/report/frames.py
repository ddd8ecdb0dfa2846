"""Per-frame plots of session and solve reports: saturation and dynamic range of every
frame, and the per-frame motion a solve records when it aligns frames.

The motion is read defensively: any ``frames`` list (top level of ``solve.json`` or under
``cameras.<cam>``) whose items carry a ``motion`` that is a number, a list of numbers or a
(nested) object of numbers; every numeric leaf becomes one plotted series
(``motion.dx_px``, ``motion.rotation_deg``, ``motion[0]``, ...).
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


def _leaves(value: object, prefix: str) -> dict[str, float]:
    if isinstance(value, bool):
        return {}
    if isinstance(value, int | float):
        return {prefix: float(value)}
    if isinstance(value, list | tuple):
        out: dict[str, float] = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}[{i}]"))
        return out
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}"))
        return out
    return {}


def motion_series(frames: object) -> tuple[list[str], dict[str, list[float]]]:
    """(frame labels, {series name: value per frame (NaN where missing)}) of ``frames[*].motion``."""
    if not isinstance(frames, list):
        return [], {}
    labels, rows = [], []
    for i, f in enumerate(frames):
        if not isinstance(f, Mapping) or "motion" not in f:
            continue
        labels.append(str(f.get("file", f.get("name", i))))
        rows.append(_leaves(f["motion"], "motion"))
    keys = sorted({k for r in rows for k in r})
    return labels, {k: [r.get(k, float("nan")) for r in rows] for k in keys}


def motion_section(meta: Mapping) -> str:
    """Plots and a table of the per-frame motion in ``solve.json`` (nothing when absent)."""
    groups = [("all cameras", meta.get("frames"))]
    groups += [
        (str(cam), info.get("frames")) for cam, info in (meta.get("cameras") or {}).items() if isinstance(info, Mapping)
    ]
    out = []
    for name, frames in groups:
        labels, series = motion_series(frames)
        if not series:
            continue
        out.append(f"<h3>Per-frame motion: {H.esc(name)}</h3>")
        out.append(line_chart_svg(list(range(len(labels))), series, title=f"motion per frame ({name})", xlabel="frame"))
        rows = [[lab, *(series[k][i] for k in series)] for i, lab in enumerate(labels)]
        out.append(H.table(["frame", *series], rows))
    return "".join(out)
