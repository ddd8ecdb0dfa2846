"""One self-contained HTML QA report for a session, a solve, an asset or a dataset.

``build_report(path, out_html)`` looks at what ``path`` holds (``session.json``,
``solve.json``, ``asset.json`` or ``dataset.json``) and writes every section that
applies: input thumbnails with saturation overlay and validation messages; solved maps,
statistics and warnings (with error maps where the simulator's ground truth exists);
UV maps, coverage and relit renders of an asset; for a dataset, per-subject
status and the skin-tone (ITA) histogram. Images are embedded as PNG data URIs.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_write
from id2reflectance._shared.imageio import read_exr, read_image, tone_map
from id2reflectance.capture.frames import decode_frame, saturation_mask
from id2reflectance.capture.geometry.mesh import raycasting_scene
from id2reflectance.capture.geometry.templates import template_from_record
from id2reflectance.capture.validate import validate_session
from id2reflectance.dataset.manifest import check_dataset, manifest_template, read_manifest
from id2reflectance.dataset.splits import SKIN_TYPES, SPLITS, split_columns, split_table
from id2reflectance.errors import InputFileError
from id2reflectance.processing.asset import Asset, read_asset
from id2reflectance.processing.relight.envmap import builtin_environments, load_environment
from id2reflectance.processing.relight.render import RelightConfig, orbit_cameras, render_view
from id2reflectance.processing.solve.accuracy import angle_between_deg, solve_accuracy
from id2reflectance.report import html as H
from id2reflectance.report.asset_stats import map_section, region_section, residual_section, truth_section
from id2reflectance.report.frames import frame_stats_plots, motion_section
from id2reflectance.report.subjects import dataset_subject_asset, split_plot
from id2reflectance.report.viewer import ViewerConfig, viewer_section

log = logging.getLogger(__name__)
FITZPATRICK_ITA = [-90, -30, 10, 28, 41, 55, 90]
RELIT_ENVIRONMENTS = ("courtyard", "studio", "sunset")  # built-in HDR maps of the asset report


@dataclass(frozen=True)
class ReportConfig:
    """What to include. ``renders``: relit renders of an asset from the front, under the full
    light-stage pattern and :data:`RELIT_ENVIRONMENTS` (those installed), ``render_size``
    pixels square; ``max_subjects``: dataset thumbnails shown."""

    renders: bool = True
    render_size: int = 256
    max_subjects: int = 24
    session: Path | None = None  # the session of a solve (or of an asset, for accuracy against its truth)
    viewer: bool = True  # the interactive WebGL viewer of an asset (see report.viewer)
    viewer_map_size: int = 512  # texels per side of the maps in the page
    viewer_environments: tuple[str, ...] | None = None  # built-in environments of the viewer; None = all installed
    env_cache: bool = True  # prefiltered environments through the on-disk cache (processing.relight.envcache)
    subject_pages: bool = False  # dataset: also write an asset page per subject (OUT_subjects/<id>.html), linked

    def __post_init__(self) -> None:
        _viewer_config(self)  # raises ConfigError for a bad viewer size


def _exr(path: Path) -> np.ndarray:
    img, _ = read_exr(path)
    return img[..., 0] if img.shape[2] == 1 else img


def detect_kind(path: Path) -> str:
    """``session``, ``solve``, ``asset`` or ``dataset`` from the manifest present."""
    for name, kind in (
        ("session.json", "session"),
        ("solve.json", "solve"),
        ("asset.json", "asset"),
        ("dataset.json", "dataset"),
    ):
        if (path / name).is_file():
            return kind
    raise InputFileError(
        path,
        None,
        "not a session, solve, asset or dataset folder (no session.json, solve.json, asset.json or dataset.json)",
    )


# ----------------------------------------------------------------- sections


def session_section(root: Path) -> str:
    """Validation messages, frame statistics and full-pattern thumbnails per camera."""
    rep = validate_session(root)
    out = ["<h2>Session</h2>"]
    status = '<span class="ok">valid</span>' if rep.ok else f'<span class="err">{len(rep.problems)} problem(s)</span>'
    out.append(f"<p>{H.esc(root)}: {status}</p>")
    out.append(H.messages(rep.problems, "err") + H.messages(rep.warnings, "warn"))
    s = rep.session
    if s is None:
        return "".join(out)
    out.extend(f"<div>{H.esc(line)}</div>" for line in rep.summary_lines())
    rows = [[f, st.saturated, st.dynamic_range_stops, st.max] for f, st in sorted(rep.frame_stats.items())]
    out.append("<h3>Frames</h3>" + frame_stats_plots(rep.frame_stats))
    out.append(H.table(["file", "saturated px", "dynamic range (stops)", "max"], rows))
    for cam in s.cameras:
        figs = []
        for pol in ("cross", "parallel"):
            f = s.frame(cam, "full", pol)
            if f is None or f.file not in rep.frame_stats:
                continue
            img = decode_frame(s, f)
            sat = saturation_mask(img, f)
            p99 = float(np.percentile(img, 99.5)) or 1.0
            disp = H.srgb_preview(img, exposure=0.9 / p99)
            disp[sat] = [1.0, 0.0, 0.0]
            figs.append(H.figure(disp, f"{cam} full {pol} (red = saturated, {int(sat.sum())} px)"))
        out.append(f"<h3>{H.esc(cam)}</h3>" + H.grid(figs))
    return "".join(out)


def _truth_errors(session: Path, solved: Path, cam: str) -> list[str]:
    truth = session / "truth" / cam
    if not (truth / "normal.exr").is_file():
        return []
    mask = (_exr(solved / cam / "mask.exr") > 0.5) & (_exr(truth / "mask.exr") > 0.5)
    dn = np.where(mask, angle_between_deg(_exr(solved / cam / "normal_diffuse.exr"), _exr(truth / "normal.exr")), 0)
    td = _exr(truth / "diffuse_albedo.exr")
    da = np.where(
        mask, np.abs(_exr(solved / cam / "diffuse_albedo.exr") - td).mean(-1) / np.maximum(td.mean(-1), 1e-6), 0
    )
    dr = np.where(mask, np.abs(_exr(solved / cam / "roughness.exr") - _exr(truth / "roughness.exr")), 0)
    return [
        H.figure(H.heat_preview(dn, hi=5.0), f"{cam}: diffuse normal error (white = 5 deg)"),
        H.figure(H.heat_preview(da, hi=0.1), f"{cam}: diffuse albedo relative error (white = 10%)"),
        H.figure(H.heat_preview(dr, hi=0.2), f"{cam}: roughness error (white = 0.2)"),
    ]


ALIGNMENT_COLUMNS = (
    "frame",
    "tx",
    "ty",
    "rotation_deg",
    "scale",
    "displacement_px",
    "residual_px",
    "explained",
    "method",
)


def alignment_table(alignment: dict | None) -> str:
    """Per-frame motion relative to the reference frame (``solve.json`` ``alignment``); empty without.
    A frame whose fitted motion was refused (``refused``: it explained too little) reads
    ``none (motion refused)``."""
    if not alignment or not alignment.get("frames"):
        return ""
    rows = [[f.get(c) if f.get(c) is not None else "-" for c in ALIGNMENT_COLUMNS] for f in alignment["frames"]]
    for row, f in zip(rows, alignment["frames"], strict=True):
        if f.get("refused"):
            row[-1] = f"{row[-1]} (motion refused)"
    caption = f"<h4>Frame alignment ({H.esc(alignment.get('mode', '?'))}, motion relative to full cross; pixels, degrees)</h4>"
    return caption + H.table(list(ALIGNMENT_COLUMNS), rows)


def solve_section(root: Path, session: Path | None) -> str:
    """Solved maps per camera, statistics, warnings, and error maps against the truth."""
    meta = json.loads((root / "solve.json").read_text(encoding="utf-8"))
    out = ["<h2>Solve</h2>", H.messages(meta.get("warnings", []), "warn"), motion_section(meta)]
    if session is None and meta.get("session", {}).get("path"):
        cand = Path(meta["session"]["path"])
        session = cand if (cand / "session.json").is_file() else None
    for cam, info in meta.get("cameras", {}).items():
        folder = root / cam
        figs = [
            H.figure(H.srgb_preview(_exr(folder / "diffuse_albedo.exr")), f"{cam}: diffuse albedo"),
            H.figure(H.grey_preview(_exr(folder / "specular_albedo.exr"), lo=0.0), f"{cam}: specular albedo"),
            H.figure(H.normal_preview(_exr(folder / "normal_diffuse.exr")), f"{cam}: diffuse normal"),
            H.figure(H.normal_preview(_exr(folder / "normal_specular.exr")), f"{cam}: specular normal"),
            H.figure(H.grey_preview(_exr(folder / "roughness.exr"), lo=0.0, hi=1.0), f"{cam}: roughness"),
            H.figure(H.grey_preview(_exr(folder / "mask.exr"), lo=0.0, hi=1.0), f"{cam}: mask"),
        ]
        if (folder / "confidence.exr").is_file():
            conf = H.grey_preview(_exr(folder / "confidence.exr"), lo=0.0, hi=1.0)
            figs.append(H.figure(conf, f"{cam}: confidence (white = 1)"))
        if session is not None:
            figs.extend(_truth_errors(session, root, cam))
        stats = info.get("stats", {})
        rows = [
            [k, *(v.get(q, float("nan")) for q in ("mean", "median", "p5", "p95"))]
            for k, v in stats.items()
            if isinstance(v, dict)
        ]
        out.append(f"<h3>{H.esc(cam)}</h3>" + H.grid(figs))
        if rows:
            out.append(H.table(["map", "mean", "median", "p5", "p95"], rows))
        fr = info.get("fractions", {})
        if fr:
            out.append(H.table(list(fr), [[f"{100 * v:.2f}%" for v in fr.values()]], left=0))
        out.append(alignment_table(info.get("alignment")))
    if session is not None and (session / "truth").is_dir():
        acc = solve_accuracy(session, root)
        rows = [
            [
                k,
                a.pixels,
                a.diffuse_normal_deg,
                a.specular_normal_deg,
                100 * a.diffuse_albedo_rel,
                100 * a.specular_albedo_rel,
                a.roughness_abs,
            ]
            for k, a in acc.items()
        ]
        out.append("<h3>Accuracy against the simulator's ground truth (medians, unshadowed pixels)</h3>")
        out.append(
            H.table(
                [
                    "camera",
                    "pixels",
                    "diffuse normal deg",
                    "specular normal deg",
                    "diffuse albedo %",
                    "specular albedo %",
                    "roughness abs",
                ],
                rows,
            )
        )
    return "".join(out)


def asset_section(root: Path, cfg: ReportConfig) -> str:
    """UV maps, coverage, statistics and relit renders of an asset folder."""
    asset = read_asset(root)
    m = asset.maps
    figs = [
        H.figure(H.srgb_preview(m.diffuse_albedo), "UV diffuse albedo"),
        H.figure(H.grey_preview(m.specular_albedo, lo=0.0), "UV specular albedo"),
        H.figure(H.grey_preview(m.roughness, lo=0.0, hi=1.0), "UV roughness"),
        H.figure(H.normal_preview(m.normal_object), "UV normal (object)"),
        H.figure(
            H.normal_preview(m.normal_tangent) if m.normal_tangent is not None else np.zeros((4, 4)),
            "UV normal (tangent)",
        ),
        H.figure(H.grey_preview(m.coverage, lo=0.0, hi=1.0), "coverage (black = filled)"),
    ]
    man = json.loads((root / "asset.json").read_text(encoding="utf-8"))
    out = [
        "<h2>Asset</h2>",
        f"<p>subject {H.esc(man['subject']['id'])}, {man['size']}x{man['size']}, frame {H.esc(man['frame'])}, source {H.esc(man['source'].get('kind'))}</p>",
    ]
    if cfg.viewer:
        conf_path = root / "uv" / "confidence.exr"
        confidence = _exr(conf_path) if conf_path.is_file() else None
        out.append(viewer_section(asset, config=_viewer_config(cfg), confidence=confidence))
    out.append("<h3>UV maps</h3>" + H.grid(figs))
    out.append(map_section(asset) + region_section(asset) + residual_section(man) + truth_section(asset, cfg.session))
    if cfg.renders:
        out.append("<h3>Relit</h3>" + H.grid(relit_figures(asset, cfg.render_size, env_cache=cfg.env_cache)))
    return "".join(out)


def _viewer_config(cfg: ReportConfig) -> ViewerConfig:
    return ViewerConfig(map_size=cfg.viewer_map_size, environments=cfg.viewer_environments, env_cache=cfg.env_cache)


def write_subject_pages(root: Path, data: dict, out_dir: Path, cfg: ReportConfig) -> dict[str, str]:
    """One asset page (viewer, map and region statistics) per dataset subject with UV maps
    and a registered mesh, the first ``cfg.max_subjects``; returns {subject id: page path
    relative to the folder of ``out_dir``}."""
    links = {}
    # the subjects' meshes have the dataset's layout (dataset.json's template)
    layout = template_from_record(manifest_template(data), root / "dataset.json") if data["subjects"] else None
    for s in data["subjects"][: cfg.max_subjects]:
        asset = dataset_subject_asset(root / "subjects" / s["id"], s["id"], None if layout is None else layout.mesh)
        if asset is None:
            continue
        body = (
            f"<h2>Subject {H.esc(s['id'])}</h2><p>split {H.esc(s['split'])}, attributes {H.esc(s['attributes'])}</p>"
            + (viewer_section(asset, config=_viewer_config(cfg)) if cfg.viewer else "")
            + map_section(asset)
            + region_section(asset)
        )
        doc = H.page(f"id2reflectance QA: {s['id']}", f"subject of the dataset {H.esc(root)}", body)
        page = atomic_write(out_dir / f"{s['id']}.html", lambda p, doc=doc: p.write_text(doc, encoding="utf-8"))
        links[s["id"]] = f"{out_dir.name}/{page.name}"
    return links


def relit_figures(asset: Asset, size: int, *, env_cache: bool = True) -> list[str]:
    """Figures of ``asset`` seen by a frontal ``size`` px camera under the full light-stage
    pattern and each installed :data:`RELIT_ENVIRONMENTS` map (tone-mapped sRGB, auto
    exposure on the face, environment behind it); ``env_cache``: prefilter through the disk cache."""
    camera = orbit_cameras(asset.mesh, 1, size=size)[0]
    scene = raycasting_scene(asset.mesh)
    installed = builtin_environments()
    figs = []
    for name in ("pattern:full", *(e for e in RELIT_ENVIRONMENTS if e in installed)):
        r = render_view(asset, camera, load_environment(name), config=RelightConfig(env_cache=env_cache), scene=scene)
        figs.append(H.figure(tone_map(r.image(), mask=r.mask), f"relit: {name}"))
    return figs


def split_section(data: dict) -> str:
    """Subjects per split and skin type, with a warning for every skin type (2+ subjects)
    the test split lacks (the FAIR scores would leave it out)."""
    table = split_table(data)
    cols = split_columns(table)
    rows = [[s, *(table[s][c] for c, _ in cols), sum(table[s].values())] for s in SPLITS]
    types = [str(t) for t in SKIN_TYPES]
    missing = [c for c in types if sum(table[s][c] for s in SPLITS) >= 2 and table["test"][c] == 0]
    warn = (
        [
            f"the test split has no subject of Fitzpatrick type {', '.join(missing)}: the FAIR skin-tone "
            "scores will leave these types out; re-split with `id2r dataset split` (stratified by skin type)"
        ]
        if missing
        else []
    )
    return (
        "<h3>Splits by skin type</h3>"
        + H.table(["split", *(head for _, head in cols), "total"], rows)
        + H.messages(warn, "warn")
    )


def dataset_section(root: Path, cfg: ReportConfig, links: dict[str, str] | None = None) -> str:
    """Per-subject status, splits by skin type (table and plot), the ITA histogram and
    front-view thumbnails (linked to the subject pages in ``links``: id -> relative href)."""
    links = links or {}
    data = read_manifest(root)
    problems = check_dataset(root)
    subs = data["subjects"]
    out = [
        "<h2>Dataset</h2>",
        f"<p>{len(subs)} subject(s), {len(data.get('failed', []))} failed, image size {data['image_size']}</p>",
    ]
    out.append(H.messages([f"{p}" for p in problems], "err"))
    out.append(H.messages([f"{f['id']} failed in {f['stage']}: {f['error']}" for f in data.get("failed", [])], "err"))
    rows = [
        [
            s["id"],
            s["split"],
            s["attributes"].get("ita_deg", ""),
            s["attributes"].get("fitzpatrick", ""),
            len(s["files"]),
            "ok",
        ]
        for s in subs
    ]
    rows += [[f["id"], "", "", "", 0, f"failed ({f['stage']})"] for f in data.get("failed", [])]
    out.append(H.table(["subject", "split", "ITA deg", "Fitzpatrick", "files", "status"], rows))
    out.append(split_section(data))
    out.append(split_plot(data))
    itas = [float(s["attributes"]["ita_deg"]) for s in subs if "ita_deg" in s["attributes"]]
    if itas:
        out.append(H.histogram_svg(itas, bins=FITZPATRICK_ITA, label="skin tone: ITA (deg) by Fitzpatrick bins VI..I"))
    figs = []
    for s in subs[: cfg.max_subjects]:
        p = root / "subjects" / s["id"] / "views" / "front" / "rgb_full.png"
        if p.is_file():
            fig = H.figure(np.clip(read_image(p, "srgb") ** (1 / 2.2), 0, 1), f"{s['id']} front")
            href = links.get(s["id"])
            figs.append(f'<a href="{H.esc(href)}">{fig}</a>' if href else fig)
    if figs:
        out.append("<h3>Front views</h3>" + H.grid(figs))
    return "".join(out)


def build_report(path: str | Path, out_html: str | Path, *, config: ReportConfig = ReportConfig()) -> Path:
    """Write the QA report of ``path`` to ``out_html`` (atomic). Returns the HTML path."""
    root = Path(path)
    if not root.is_dir():
        raise InputFileError(root, None, "folder not found")
    kind = detect_kind(root)
    if kind == "session":
        body = session_section(root)
        truth_asset = root / "truth"
        if truth_asset.is_dir():
            body += "<p>Ground truth present under truth/.</p>"
    elif kind == "solve":
        session = config.session
        body = (session_section(session) if session is not None else "") + solve_section(root, session)
    elif kind == "asset":
        body = asset_section(root, config)
    else:
        out_path = Path(out_html)
        links = (
            write_subject_pages(root, read_manifest(root), out_path.parent / f"{out_path.stem}_subjects", config)
            if config.subject_pages
            else {}
        )
        body = dataset_section(root, config, links)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = f"{H.esc(kind)} report of {H.esc(root)} &middot; id2reflectance {H.esc(__version__)} &middot; {stamp}"
    doc = H.page(f"id2reflectance QA: {root.name}", meta, body)
    return atomic_write(out_html, lambda p: p.write_text(doc, encoding="utf-8"))
