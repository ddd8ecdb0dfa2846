"""Building blocks of the self-contained HTML QA report: images as data URIs, tables,
SVG histograms, colour maps. No external files, scripts or fonts.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import cv2
import numpy as np

from id2reflectance._shared.imageio import linear_to_srgb

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1f21;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.meta{color:#666;margin-bottom:16px}
.grid{display:flex;flex-wrap:wrap;gap:10px}.fig{margin:0;background:#fff;border:1px solid #e3e3e3;padding:6px;border-radius:4px}
.fig img{display:block;width:256px;height:auto;image-rendering:auto}.fig figcaption{font-size:12px;color:#444;margin-top:4px;max-width:256px}
table{border-collapse:collapse;margin:6px 0;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;font-size:13px}
th{background:#f0f0f0}td.l,th.l{text-align:left}.warn{color:#8a5300}.err{color:#b00020;font-weight:600}.ok{color:#1b7f3b;font-weight:600}
ul.msgs{margin:4px 0 8px;padding-left:20px}
"""

# Counts images that failed to load into <body data-broken=N> (read by tests/automation).
CHECK_SCRIPT = """
window.addEventListener('load',function(){var n=0;for(const im of document.images){if(!im.complete||im.naturalWidth===0)n++;}
document.body.setAttribute('data-broken',String(n));document.body.setAttribute('data-images',String(document.images.length));});
"""


def esc(x: object) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(x))


def png_data_uri(rgb: np.ndarray, *, max_side: int = 256) -> str:
    """(H, W[, 3]) float in [0, 1] (already display-encoded) -> PNG data URI, downscaled
    (area filter) so the longer side is at most ``max_side``."""
    a = np.clip(np.nan_to_num(np.asarray(rgb, np.float32)), 0, 1)
    h, w = a.shape[:2]
    s = max(h, w) / max_side
    if s > 1:
        a = cv2.resize(a, (max(1, round(w / s)), max(1, round(h / s))), interpolation=cv2.INTER_AREA)
    q = np.round(a * 255).astype(np.uint8)
    if q.ndim == 3:
        q = q[..., ::-1]
    ok, buf = cv2.imencode(".png", q)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def figure(rgb: np.ndarray, caption: str, *, max_side: int = 256) -> str:
    """One captioned image."""
    return (
        f'<figure class="fig"><img alt="{esc(caption)}" src="{png_data_uri(rgb, max_side=max_side)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def grid(items: Sequence[str]) -> str:
    return '<div class="grid">' + "".join(items) + "</div>"


def table(header: Sequence[str], rows: Sequence[Sequence[object]], *, left: int = 1) -> str:
    """A table; the first ``left`` columns are left-aligned. Floats get 4 significant digits."""

    def cell(i: int, v: object, tag: str) -> str:
        cls = ' class="l"' if i < left else ""
        if isinstance(v, float):
            v = f"{v:.4g}"
        return f"<{tag}{cls}>{esc(v)}</{tag}>"

    head = "<tr>" + "".join(cell(i, h, "th") for i, h in enumerate(header)) + "</tr>"
    body = "".join("<tr>" + "".join(cell(i, v, "td") for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def messages(items: Sequence[str], cls: str) -> str:
    if not items:
        return ""
    return f'<ul class="msgs {cls}">' + "".join(f"<li>{esc(m)}</li>" for m in items) + "</ul>"


def histogram_svg(
    values: Sequence[float],
    *,
    bins: Sequence[float],
    label: str,
    width: int = 420,
    height: int = 160,
    annotate: bool = True,
) -> str:
    """An inline SVG bar chart of ``values`` over bin edges ``bins`` (``annotate``: counts on the bars)."""
    counts, edges = np.histogram(np.asarray(values, float), bins=np.asarray(bins, float))
    top = max(1, int(counts.max()) if counts.size else 1)
    pad, n = 28, len(counts)
    bw = (width - 2 * pad) / max(n, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{esc(label)}">'
    ]
    parts.append(f'<rect width="{width}" height="{height}" fill="#fff"/>')
    for i, c in enumerate(counts):
        h = (height - 2 * pad) * c / top
        x = pad + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{height - pad - h:.1f}" width="{bw - 2:.1f}" height="{h:.1f}" fill="#c77d4a"/>'
        )
        if c and annotate:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - pad - h - 3:.1f}" font-size="10" text-anchor="middle">{c}</text>'
            )
    for i, e in enumerate(edges):
        if i % max(1, n // 8) == 0 or i == n:
            parts.append(
                f'<text x="{pad + i * bw:.1f}" y="{height - 10}" font-size="10" text-anchor="middle">{e:g}</text>'
            )
    parts.append(f'<text x="{width / 2}" y="14" font-size="12" text-anchor="middle">{esc(label)}</text></svg>')
    return "".join(parts)


def srgb_preview(linear_rgb: np.ndarray, *, exposure: float = 1.0) -> np.ndarray:
    """Linear values -> display sRGB in [0, 1]."""
    return linear_to_srgb(np.asarray(linear_rgb, np.float32) * exposure)


def normal_preview(n: np.ndarray) -> np.ndarray:
    """Unit normals (H, W, 3) -> (n + 1) / 2 colours."""
    return np.clip((np.asarray(n, np.float32) + 1) / 2, 0, 1)


def grey_preview(x: np.ndarray, *, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scalar map -> grey in [0, 1] between lo and hi (default: 1st/99th percentile)."""
    a = np.asarray(x, np.float32)
    if a.ndim == 3:
        a = a[..., 0]
    finite = a[np.isfinite(a)]
    lo = float(np.percentile(finite, 1)) if lo is None and finite.size else (lo or 0.0)
    hi = float(np.percentile(finite, 99)) if hi is None and finite.size else (hi if hi is not None else 1.0)
    return np.clip((a - lo) / max(hi - lo, 1e-12), 0, 1)


def heat_preview(x: np.ndarray, *, hi: float) -> np.ndarray:
    """Error map -> colours from black (0) through red and yellow to white (>= hi)."""
    t = np.clip(np.asarray(x, np.float32) / max(hi, 1e-12), 0, 1)
    return np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], -1)


def page(title: str, meta: str, body: str) -> str:
    """The whole self-contained HTML document."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style><script>{CHECK_SCRIPT}</script></head>"
        f'<body><h1>{esc(title)}</h1><div class="meta">{meta}</div>{body}</body></html>'
    )
