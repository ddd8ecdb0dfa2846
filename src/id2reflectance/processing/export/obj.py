"""OBJ + MTL export of a reflectance asset for DCC tools, with the EXR maps.

Output folder (built beside itself and renamed into place)::

    OUT/<subject>.obj            mesh (metres, OBJ UVs, vertex normals), ``mtllib``
    OUT/<subject>.mtl            one material: map_Kd, map_Pr, norm / map_Bump, map_Ks
    OUT/textures/*.png           the glTF textures (base colour sRGB, roughness in G,
                                 tangent-space normal (n+1)/2, specular RGBA)
    OUT/maps/*.exr               the asset's float maps, unchanged

The MTL uses the common PBR extension keys (``Pr``, ``Pm``, ``map_Pr``, ``norm``);
``map_Ks`` points at the specular texture (see
:mod:`~id2reflectance.processing.export.gltf` for its encoding).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from id2reflectance._shared.atomic import atomic_folder
from id2reflectance.capture.geometry.mesh import write_obj
from id2reflectance.processing.asset import MAP_NAMES, Asset
from id2reflectance.processing.export.gltf import _png, material_textures


def export_obj(asset: Asset, out_dir: str | Path, *, texture_size: int | None = None) -> Path:
    """Write the OBJ/MTL/texture/EXR folder of ``asset`` atomically; returns ``out_dir``."""
    out_dir = Path(out_dir)
    name = asset.subject_id
    tex = material_textures(asset, texture_size=texture_size)
    files = {
        "base_color": "textures/base_color.png",
        "metallic_roughness": "textures/metallic_roughness.png",
        "normal": "textures/normal_tangent.png",
        "specular": "textures/specular.png",
    }
    mtl = "\n".join(
        [
            "# id2reflectance material: Lambert albedo + GGX (see export_gltf for the specular encoding)",
            f"newmtl {name}_skin",
            "Ka 0 0 0",
            "Kd 1 1 1",
            "Ks 1 1 1",
            "Pm 0",
            "Pr 1",
            f"map_Kd {files['base_color']}",
            f"map_Pr -imfchan g {files['metallic_roughness']}",
            f"norm {files['normal']}",
            f"map_Bump -bm 1 {files['normal']}",
            f"map_Ks {files['specular']}",
            "",
        ]
    )
    with atomic_folder(out_dir) as tmp:
        write_obj(tmp / f"{name}.obj", asset.mesh, mtl=f"{name}.mtl", material=f"{name}_skin")
        (tmp / f"{name}.mtl").write_text(mtl, encoding="utf-8")
        (tmp / "textures").mkdir()
        for key, rel in files.items():
            (tmp / rel).write_bytes(_png(getattr(tex, key)))
        (tmp / "maps").mkdir()
        for m in MAP_NAMES:
            src = asset.root / asset.manifest["maps"][m]["file"]
            shutil.copyfile(src, tmp / "maps" / f"{m}.exr")
    return out_dir
