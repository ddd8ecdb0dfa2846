"""glTF / OBJ export: read-back checks and the Khronos glTF validator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import srgb_to_linear
from id2reflectance.capture.geometry.mesh import read_obj
from id2reflectance.processing.asset import read_asset
from id2reflectance.processing.brdf_table import specular_scale
from id2reflectance.processing.export.gltf import export_glb, read_glb
from id2reflectance.processing.export.obj import export_obj
from id2reflectance.processing.tangents import vertex_tangents
from tests.processing.asset_fixtures import write_sphere_asset

REPO = Path(__file__).resolve().parents[3]
VALIDATOR_SCRIPT = REPO / "scripts" / "validate_gltf.cjs"
VALIDATOR_PACKAGE = REPO / "tools" / "gltf" / "node_modules" / "gltf-validator"
INSTALL_HINT = (
    "the Khronos glTF validator is needed: apt-get install -y nodejs npm && "
    "npm install --prefix tools/gltf gltf-validator@2.0.0-dev.3.10 (run in the repository root)"
)


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory):
    return read_asset(write_sphere_asset(tmp_path_factory.mktemp("export") / "SPH01"))


@pytest.fixture(scope="module")
def glb_path(asset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_glb(asset, tmp_path_factory.mktemp("glb") / "sphere.glb")


def test_glb_reads_back(asset, glb_path: Path) -> None:
    glb = read_glb(glb_path)
    g = glb.gltf
    assert g["asset"]["version"] == "2.0" and g["extensionsUsed"] == ["KHR_materials_specular"]
    prim = g["meshes"][0]["primitives"][0]
    mesh = asset.mesh
    pos = glb.accessor(prim["attributes"]["POSITION"])
    assert pos.shape == (len(mesh.vertices), 3)
    np.testing.assert_allclose(pos, mesh.vertices, atol=1e-7)
    uv = glb.accessor(prim["attributes"]["TEXCOORD_0"])
    np.testing.assert_allclose(uv[:, 0], mesh.uvs[:, 0], atol=1e-7)
    np.testing.assert_allclose(uv[:, 1], 1 - mesh.uvs[:, 1], atol=1e-7)  # glTF v runs down
    nrm = glb.accessor(prim["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1, atol=1e-6)
    tan = glb.accessor(prim["attributes"]["TANGENT"])
    np.testing.assert_allclose(tan, vertex_tangents(mesh), atol=1e-6)  # the frame normal_tangent uses
    assert set(np.unique(tan[:, 3])) <= {-1.0, 1.0}
    np.testing.assert_array_equal(glb.accessor(prim["indices"]).reshape(-1, 3), mesh.faces)
    images = [glb.image(i) for i in range(len(g["images"]))]
    assert [im.shape for im in images] == [(256, 256, 3), (256, 256, 3), (256, 256, 3), (256, 256, 4)]
    mat = g["materials"][0]
    assert mat["pbrMetallicRoughness"]["metallicFactor"] == 0.0
    base, mr, normal, spec = images
    np.testing.assert_allclose(srgb_to_linear(base / 255.0), asset.maps.diffuse_albedo, atol=0.01)
    np.testing.assert_allclose(mr[..., 1] / 255.0, asset.maps.roughness, atol=0.5 / 255 + 1e-6)
    assert mr[..., 2].max() == 0
    np.testing.assert_allclose(normal / 255.0 * 2 - 1, asset.maps.normal_tangent, atol=0.005)
    # KHR_materials_specular: weight * F0 / 0.028 recovers k (see export_gltf's docstring)
    ext = mat["extensions"]["KHR_materials_specular"]
    weight = ext["specularFactor"] * spec[..., 3] / 255.0
    f0 = 0.04 * ext["specularColorFactor"][0] * srgb_to_linear(spec[..., 0] / 255.0)
    k = specular_scale(asset.maps.specular_albedo, asset.maps.roughness)
    k_back = np.where(k <= 1, weight, f0 / 0.028)
    np.testing.assert_allclose(k_back, k, rtol=0.02)


def test_khronos_validator_reports_no_errors(glb_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None and VALIDATOR_PACKAGE.is_dir(), INSTALL_HINT
    proc = subprocess.run([node, str(VALIDATOR_SCRIPT), str(glb_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    assert report["info"]["totalVertexCount"] == len(read_glb(glb_path).accessor(0))


def test_obj_export(asset, tmp_path: Path) -> None:
    out = export_obj(asset, tmp_path / "obj")
    back = read_obj(out / "SPH01.obj")
    np.testing.assert_allclose(back.vertices, asset.mesh.vertices, atol=1e-9)
    np.testing.assert_allclose(back.uvs, asset.mesh.uvs, atol=1e-9)
    mtl = (out / "SPH01.mtl").read_text()
    assert "map_Kd textures/base_color.png" in mtl and "norm textures/normal_tangent.png" in mtl
    for rel in ("textures/base_color.png", "textures/metallic_roughness.png", "textures/specular.png"):
        assert (out / rel).stat().st_size > 0
    for name, entry in asset.manifest["maps"].items():
        assert (out / "maps" / f"{name}.exr").read_bytes() == (asset.root / entry["file"]).read_bytes()
