"""``id2r export``: a reflectance asset as glTF 2.0 binary, or OBJ + MTL + EXR maps."""

from __future__ import annotations

from pathlib import Path

import click

from id2reflectance._shared.lock import output_lock
from id2reflectance.cli.options import out_option, uv_size_option
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.export.gltf import export_glb
from id2reflectance.processing.export.obj import export_obj


@click.command("export")
@click.argument("asset", type=click.Path(path_type=Path))
@out_option(help="face.glb, or a folder for OBJ.")
@uv_size_option(
    type=click.IntRange(16, 8192),
    help="Size of the exported textures, texels [default: the maps' size].",
    retired=("--texture-size",),
)
def export_cmd(asset: Path, out: Path, uv_size: int | None) -> None:
    """Export ASSET (an asset folder) for viewers and DCC tools.

    OUT ending in .glb: glTF 2.0 binary with embedded PNG textures (base colour sRGB,
    roughness in G, tangent-space normal map, KHR_materials_specular from the measured
    specular albedo). Any other OUT: a folder with <subject>.obj, .mtl, textures/*.png and
    the float maps/*.exr. Bad input: one line naming the file, exit code 2, nothing written.

    \b
    Examples:
      id2r export assets/S0000 -o S0000.glb
      id2r export assets/S0000 -o S0000_obj/ --uv-size 1024
    """
    with output_lock(out):
        a = read_asset(asset)
        if out.suffix.lower() == ".glb":
            path = export_glb(a, out, texture_size=uv_size)
        else:
            path = export_obj(a, out, texture_size=uv_size)
    click.echo(f"wrote {path}")
