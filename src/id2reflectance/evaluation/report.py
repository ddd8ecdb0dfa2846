"""Report of a swapper evaluation: terminal table, Markdown, self-contained HTML, PNG figures.

``REPORT/`` holds ``report.md``, ``report.html`` (figures inlined as data URIs),
``metrics.json`` (every number, per input and aggregated, and the config used) and
``figures/grid.png`` (photo / predicted / ground-truth maps) and, with at least two
checkpoints whose training-subject count is known, ``figures/scaling.png`` (PSNR vs number
of training subjects). The folder is written atomically. Plots are drawn with OpenCV.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from id2reflectance._shared.atomic import atomic_folder
from id2reflectance.evaluation.swapper import (
    DOMAINS,
    PAPER_DIFFUSE,
    PAPER_FAIR,
    GridSample,
    SwapperEvaluation,
    variant_name,
)

_COLOURS = ((200, 80, 30), (40, 140, 40), (30, 60, 200), (150, 40, 150))  # RGB


_IDENTITY_NOTE = (
    "ID sim.: cosine between the photo's identity embedding and that of the predicted (or the "
    "ground-truth) maps rendered under uniform white light. Top-1: how often, per lighting, a "
    "photo is closer to its own prediction's rendering than to every other held-out subject's; "
    "chance is 1 / subjects. The truth columns bound what the identity network can tell apart."
)


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _template_cell(row: dict[str, Any]) -> str:
    if row["mode"] == "fixed":
        cell = f"fixed {row['template']}"
    else:
        cell = "closest, no swap" if row["mode"] == "template_maps" else "closest"
    output, front_view = row.get("output"), row.get("front_view")
    if output is not None and (output, front_view) != ("decode", "template"):
        cell += f", {variant_name(output, front_view)}"
    return cell


def table_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The main table: header and one row per evaluated row, then the paper's numbers."""
    head = [
        "model",
        "template",
        "train subj.",
        "diffuse PSNR",
        "diffuse SSIM",
        "LPIPS",
        "ID sim.",
        "mean PSNR (views)",
        "mean PSNR (UV)",
        "ITA avg",
        "ITA bias",
        "ITA score",
        "groups",
    ]
    rows = []
    for r in metrics["rows"]:
        a = r["aggregate"]
        d, fair = a["diffuse"], a["fair"]
        rows.append(
            [
                r["label"],
                _template_cell(r),
                "-" if r["train_subjects"] is None else str(r["train_subjects"]),
                _f(d["psnr"]),
                _f(d["ssim"], 3),
                _f(d["lpips"], 4) if metrics["lpips_available"] else "n/a",
                _f(d["id_similarity"], 3),
                _f(a["mean_over_domains"]["view_psnr"]),
                _f(a["mean_over_domains"]["uv_psnr"]),
                _f(fair["average_ita_error"]),
                _f(fair["bias"]),
                _f(fair["score"]),
                f"{fair['populated_groups']}/6",
            ]
        )
    p, pf = PAPER_DIFFUSE, PAPER_FAIR
    rows.append(
        [
            "paper (different data)",
            "-",
            "-",
            f"{p['psnr']:.2f}",
            f"{p['ssim']:.3f}",
            f"{p['lpips']:.4f}",
            f"{p['id_similarity']:.3f}",
            "-",
            "-",
            f"{pf['average_ita_error']:.2f}",
            f"{pf['bias']:.2f}",
            f"{pf['score']:.2f}",
            "-",
        ]
    )
    return head, rows


def format_table(metrics: dict[str, Any]) -> str:
    """Plain-text main table for the terminal."""
    head, rows = table_rows(metrics)
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _domain_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "template"]
    for d in DOMAINS:
        head += [f"{d} PSNR", f"{d} SSIM", f"{d} UV PSNR"]
    rows = []
    for r in metrics["rows"]:
        a = r["aggregate"]
        row = [r["label"], _template_cell(r)]
        for d in DOMAINS:
            uv = a["uv_psnr"][d] if a["uv_psnr"] else None
            row += [_f(a["views_mean"][d]["psnr"]), _f(a["views_mean"][d]["ssim"], 3), _f(uv)]
        rows.append(row)
    return head, rows


def _fair_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = [g["name"] for g in metrics["rows"][0]["aggregate"]["fair"]["groups"]]
    head = ["model", "template", *names]
    rows = []
    for r in metrics["rows"]:
        groups = r["aggregate"]["fair"]["groups"]
        row = [r["label"], _template_cell(r)]
        row += ["empty" if g["ita_error"] is None else f"{g['ita_error']:.2f} (n={g['count']})" for g in groups]
        rows.append(row)
    return head, rows


def _identity_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "template", "ID sim. (prediction)", "ID sim. (truth)", "top-1 (prediction)", "top-1 (truth)"]
    head.append("chance")
    rows = []
    for r in metrics["rows"]:
        d = r["aggregate"]["diffuse"]
        ret = r["aggregate"].get("identity_retrieval") or {}
        rows.append(
            [
                r["label"],
                _template_cell(r),
                _f(d["id_similarity"], 3),
                _f(d["id_similarity_gt_render"], 3),
                _f(ret.get("top1"), 3),
                _f(ret.get("top1_gt_render"), 3),
                _f(ret.get("chance"), 3),
            ]
        )
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------- figures


def _text(img: np.ndarray, text: str, org: tuple[int, int], *, scale: float = 0.45, colour=(0, 0, 0)) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)  # img is RGB


def line_plot(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[int, int] = (640, 420),
) -> np.ndarray:
    """A line plot with axes, ticks, labels and a legend.

    Parameters
    ----------
    series : name -> (x values, y values), drawn in order with markers.
    size : (width, height) pixels.

    Returns
    -------
    (height, width, 3) uint8 RGB image.
    """
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 52, 55
    xs = np.concatenate([np.asarray(v[0], float) for v in series.values()]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(v[1], float) for v in series.values()]) if series else np.zeros(1)
    x0, x1 = float(xs.min()), float(xs.max())
    y0, y1 = float(ys.min()), float(ys.max())
    if x1 - x0 < 1e-9:
        x0, x1 = x0 - 1, x1 + 1
    pad = max(0.1 * (y1 - y0), 0.5)
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float, y: float) -> tuple[int, int]:
        u = left + (x - x0) / (x1 - x0) * (w - left - right)
        v = h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)
        return int(round(u)), int(round(v))

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for t in np.linspace(y0, y1, 6):
        u, v = px(x0, t)
        cv2.line(img, (left - 4, v), (left, v), (0, 0, 0), 1)
        cv2.line(img, (left + 1, v), (w - right - 1, v), (225, 225, 225), 1)
        _text(img, f"{t:.1f}", (8, v + 4), scale=0.4)
    xticks = sorted(set(float(x) for x in xs))
    for t in xticks:
        u, v = px(t, y0)
        cv2.line(img, (u, h - bottom), (u, h - bottom + 4), (0, 0, 0), 1)
        _text(img, f"{t:g}", (u - 8, h - bottom + 18), scale=0.4)
    _text(img, title, (left, 22), scale=0.55)
    _text(img, xlabel, (left + (w - left - right) // 2 - 60, h - 12))
    _text(img, ylabel, (8, top - 8), scale=0.4)
    for k, (name, (sx, sy)) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        pts = [px(float(x), float(y)) for x, y in sorted(zip(sx, sy, strict=True))]
        for a, b in zip(pts, pts[1:], strict=False):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 4, colour, -1, cv2.LINE_AA)
        ly = top + 18 + 18 * k
        cv2.line(img, (w - right - 170, ly - 4), (w - right - 145, ly - 4), colour, 2)
        _text(img, name, (w - right - 140, ly), scale=0.42)
    return img


def grid_figure(samples: list[GridSample], *, cell: int = 128) -> np.ndarray:
    """Rows of photo | predicted / true maps (diffuse, specular, roughness, normal), each
    labelled ``row: subject (lighting) <- template``.

    Returns
    -------
    (H, W, 3) uint8 RGB.
    """
    cols = ["photo"] + [f"{kind} {d}" for d in DOMAINS for kind in ("pred", "true")]
    header = 24
    img = np.full((header + cell * max(1, len(samples)), cell * len(cols), 3), 255, np.uint8)
    for j, c in enumerate(cols):
        _text(img, c, (j * cell + 4, 16), scale=0.4)
    for i, s in enumerate(samples):
        tiles = [s.photo] + [t for d in DOMAINS for t in (s.pred[d], s.truth[d])]
        for j, t in enumerate(tiles):
            q = np.round(np.clip(t, 0, 1) * 255).astype(np.uint8)
            q = cv2.resize(q, (cell, cell), interpolation=cv2.INTER_NEAREST)
            img[header + i * cell : header + (i + 1) * cell, j * cell : (j + 1) * cell] = q
        _text(
            img,
            f"{s.row}: {s.subject} ({s.environment}) <- {s.template}",
            (4, header + i * cell + cell - 6),
            scale=0.35,
            colour=(255, 255, 0),
        )
    return img


def _png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def scaling_series(metrics: dict[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """PSNR vs training subjects (diffuse, mean over domains) from ``metrics['scaling']``."""
    pts = [s for s in metrics["scaling"] if s["diffuse_psnr"] is not None and s["mean_psnr"] is not None]
    n = [float(s["train_subjects"]) for s in pts]
    return {
        "diffuse PSNR": (n, [s["diffuse_psnr"] for s in pts]),
        "mean PSNR (4 maps)": (n, [s["mean_psnr"] for s in pts]),
    }


# ----------------------------------------------------------------------- report


def write_report(evaluation: SwapperEvaluation, out_dir: str | Path) -> Path:
    """Write the report folder atomically; returns its path."""
    metrics = evaluation.metrics
    figures: dict[str, bytes] = {}
    if evaluation.grid:
        figures["grid.png"] = _png_bytes(grid_figure(evaluation.grid))
    series = scaling_series(metrics)
    if len(series["diffuse PSNR"][0]) >= 2:
        figures["scaling.png"] = _png_bytes(
            line_plot(series, title="PSNR vs training subjects", xlabel="training subjects", ylabel="PSNR (dB)")
        )
    head, rows = table_rows(metrics)
    dhead, drows = _domain_table(metrics)
    fhead, frows = _fair_table(metrics)
    ihead, irows = _identity_table(metrics)
    cfg = metrics["config"]
    fair0 = metrics["rows"][0]["aggregate"]["fair"]
    notes = [
        f"Dataset `{metrics['dataset']['path']}` (sha256 {metrics['dataset']['sha256'][:12]}), split "
        f"`{cfg['split']}`: {len(metrics['subjects'])} subject(s), inputs: aligned front view lit by "
        f"{', '.join(cfg['environments'])}; views compared: {', '.join(cfg['views'])}.",
        "Diffuse PSNR/SSIM: front view, linear albedo in [0, 1] inside the subject's mask. "
        "Per-domain PSNR/SSIM: mean over the views; UV PSNR: against uv/*.exr weighted by coverage.",
        "LPIPS: " + ("local weights given." if metrics["lpips_available"] else "unavailable (no --lpips-weights)."),
        f"ID sim.: cosine ({metrics['identity_metric']}) between the photo and the predicted maps rendered under "
        "uniform white light (see docs/evaluation.md).",
        "Template column, prediction variants (docs/evaluation.md): photo-front predicts the front view from "
        "the photo itself; template-tone is the template's own maps with the diffuse albedo toned to the photo "
        "by the swapper; template-residual adds the swap's change to the template's maps.",
        f"FAIR: {fair0['populated_groups']} of 6 skin-type groups populated (empty groups excluded).",
        "Paper row: ID2Reflectance (CVPR 2024) on its own data; not comparable number for number.",
    ]
    md = ["# Swapper evaluation", "", _md_table(head, rows), "", *[f"- {n}" for n in notes], ""]
    md += ["## Reflectance domains", "", _md_table(dhead, drows), ""]
    md += ["## Skin-tone groups (mean |ITA error|, degrees)", "", _md_table(fhead, frows), ""]
    md += ["## Identity", "", _md_table(ihead, irows), "", f"- {_IDENTITY_NOTE}", ""]
    md += ["## Templates used", ""]
    md += [
        f"- {r['name']}: " + ", ".join(f"{k} x{v}" for k, v in r["aggregate"]["templates"].items())
        for r in metrics["rows"]
    ]
    for name in figures:
        md += ["", f"![{name}](figures/{name})"]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Swapper evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}</style></head><body>",
        "<h1>Swapper evaluation</h1>",
        _html_table(head, rows),
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>",
        "<h2>Reflectance domains</h2>",
        _html_table(dhead, drows),
        "<h2>Skin-tone groups (mean |ITA error|, degrees)</h2>",
        _html_table(fhead, frows),
        "<h2>Identity</h2>",
        _html_table(ihead, irows),
        f"<p>{html.escape(_IDENTITY_NOTE)}</p>",
    ]
    for name, data in figures.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(f"<h2>{html.escape(name)}</h2><img src='{uri}' alt='{html.escape(name)}'>")
    parts.append("</body></html>")
    with atomic_folder(out_dir) as tmp:
        (tmp / "figures").mkdir()
        for name, data in figures.items():
            (tmp / "figures" / name).write_bytes(data)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
        (tmp / "report.html").write_text("".join(parts) + "\n", encoding="utf-8")
    return Path(out_dir)
