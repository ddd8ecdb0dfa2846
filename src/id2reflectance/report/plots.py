"""Inline SVG charts of the HTML report: grouped bars and line plots (no script, no library)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from id2reflectance.report.html import esc

PALETTE = ("#c77d4a", "#3b7dd8", "#5aa05a", "#9b59b6", "#d4a017", "#7f7f7f", "#d9534f", "#17a2b8")


def _legend(names: Sequence[str], x0: float, y: float) -> list[str]:
    out, x = [], x0
    for i, n in enumerate(names):
        out.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y}" font-size="11">{esc(n)}</text>')
        x += 24 + 6.5 * len(n)
    return out


def _axis(lo: float, hi: float, pad: int, width: int, height: int, top: int) -> tuple[list[str], float, float]:
    """Horizontal grid lines and tick labels for values lo..hi; returns (parts, lo, hi)."""
    if hi <= lo:
        hi = lo + 1.0
    ticks = np.linspace(lo, hi, 5)
    parts = []
    for t in ticks:
        y = height - pad - (height - pad - top) * (t - lo) / (hi - lo)
        parts.append(f'<line x1="{pad}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{pad - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{t:.3g}</text>')
    return parts, lo, hi


def bar_chart_svg(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = 480,
    height: int = 200,
) -> str:
    """Grouped bars: one group per label, one bar per series (NaN values are left out)."""
    names = list(series)
    vals = np.array([[float(v) for v in series[n]] for n in names], float).reshape(len(names), len(labels))
    finite = vals[np.isfinite(vals)]
    hi = float(finite.max()) if finite.size else 1.0
    pad, top = 44, 34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{esc(title)}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="14" font-size="12" text-anchor="middle">{esc(title)}</text>',
    ]
    grid, lo, hi = _axis(min(0.0, float(finite.min()) if finite.size else 0.0), hi, pad, width, height, top)
    parts += grid
    gw = (width - pad - 8) / max(len(labels), 1)
    bw = 0.8 * gw / max(len(names), 1)
    for j, lab in enumerate(labels):
        x0 = pad + j * gw + 0.1 * gw
        for i in range(len(names)):
            v = vals[i, j]
            if not np.isfinite(v):
                continue
            y0 = height - pad - (height - pad - top) * (0 - lo) / (hi - lo)
            y1 = height - pad - (height - pad - top) * (v - lo) / (hi - lo)
            parts.append(
                f'<rect x="{x0 + i * bw:.1f}" y="{min(y0, y1):.1f}" width="{max(bw - 1, 1):.1f}" '
                f'height="{abs(y1 - y0):.1f}" fill="{PALETTE[i % len(PALETTE)]}"><title>{esc(names[i])} {esc(lab)}: {v:.4g}</title></rect>'
            )
        parts.append(
            f'<text x="{pad + (j + 0.5) * gw:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{esc(lab)}</text>'
        )
    if len(names) > 1:
        parts += _legend(names, pad, 28)
    parts.append("</svg>")
    return "".join(parts)


def line_chart_svg(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    xlabel: str,
    width: int = 480,
    height: int = 200,
) -> str:
    """Lines with markers, one per series, over the shared x values."""
    xs = np.asarray(x, float)
    names = list(series)
    vals = np.array([[float(v) for v in series[n]] for n in names], float).reshape(len(names), len(xs))
    finite = vals[np.isfinite(vals)]
    pad, top = 44, 34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{esc(title)}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="14" font-size="12" text-anchor="middle">{esc(title)}</text>',
        f'<text x="{width / 2}" y="{height - 6}" font-size="10" text-anchor="middle">{esc(xlabel)}</text>',
    ]
    grid, lo, hi = _axis(
        float(finite.min()) if finite.size else 0.0,
        float(finite.max()) if finite.size else 1.0,
        pad,
        width,
        height,
        top,
    )
    parts += grid
    x0, x1 = (float(xs.min()), float(xs.max())) if xs.size else (0.0, 1.0)
    span = x1 - x0 if x1 > x0 else 1.0

    def px(xv: float, yv: float) -> tuple[float, float]:
        return pad + (width - pad - 16) * (xv - x0) / span, height - pad - (height - pad - top) * (yv - lo) / (hi - lo)

    for i in range(len(names)):
        pts = [px(a, b) for a, b in zip(xs, vals[i], strict=True) if np.isfinite(b)]
        colour = PALETTE[i % len(PALETTE)]
        if len(pts) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour}"/>' for a, b in pts]
    for t in np.linspace(x0, x1, min(len(xs), 6)) if xs.size else []:
        parts.append(
            f'<text x="{px(t, lo)[0]:.1f}" y="{height - pad + 14}" font-size="10" text-anchor="middle">{t:.3g}</text>'
        )
    parts += _legend(names, pad, 28)
    parts.append("</svg>")
    return "".join(parts)
