"""Dataset report extras: the subjects-per-skin-type-and-split plot and one asset page per
subject (the viewer and map statistics of ``subjects/<id>/uv/*.exr`` on the shipped
template mesh with the subject's ``mesh_vertices.npy``), linked from the thumbnail grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_exr
from id2reflectance.capture.geometry.mesh import FaceMesh
from id2reflectance.capture.geometry.template_mesh import load_shipped_template
from id2reflectance.dataset.splits import SPLITS, split_columns, split_table
from id2reflectance.errors import InputFileError
from id2reflectance.processing.asset import Asset, AssetMaps
from id2reflectance.report.plots import bar_chart_svg

UV_MAPS = ("diffuse_albedo", "specular_albedo", "roughness", "normal_object", "coverage")


def split_plot(data: dict) -> str:
    """Grouped bars: subjects per skin type (groups), one bar per split."""
    table = split_table(data)
    cols = split_columns(table)
    return bar_chart_svg(
        [head for _, head in cols],
        {s: [table[s][c] for c, _ in cols] for s in SPLITS},
        title="subjects per skin type (Fitzpatrick) and split",
    )


def dataset_subject_asset(subject_dir: Path, subject_id: str, template: FaceMesh | None = None) -> Asset | None:
    """The subject's UV maps on its registered template mesh as an in-memory Asset, or None
    when the subject has no ``uv/`` maps or ``mesh_vertices.npy`` (e.g. an RGB-only dataset).
    ``template``: the dataset's template mesh (its layout, dataset.json's ``template``);
    None: the shipped procedural template.

    Raises InputFileError for a present but unusable mesh file.
    """
    files = [subject_dir / "uv" / f"{m}.exr" for m in UV_MAPS]
    mesh_file = subject_dir / "mesh_vertices.npy"
    if not mesh_file.is_file() or not all(f.is_file() for f in files):
        return None
    base = load_shipped_template() if template is None else template
    try:
        verts = np.load(mesh_file, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputFileError(mesh_file, None, f"not a readable .npy array: {err}") from err
    if verts.shape != base.vertices.shape or not np.all(np.isfinite(verts)):
        raise InputFileError(mesh_file, None, f"expected finite {base.vertices.shape} vertices, got {verts.shape}")
    arrays = {}
    for name, f in zip(UV_MAPS, files, strict=True):
        a, _ = read_exr(f)
        arrays[name] = a[..., 0] if a.shape[2] == 1 else a
    maps = AssetMaps(**arrays)
    manifest = {"subject": {"id": subject_id}, "size": maps.size, "frame": "template", "source": {"kind": "capture"}}
    return Asset(subject_dir, manifest, base.with_vertices(verts.astype(np.float64)), maps)
