"""The asset folder contract: round trip, atomic writing and every rejection."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.imageio import read_exr, write_exr
from id2reflectance.capture.geometry.mesh import FaceMesh, write_obj
from id2reflectance.errors import ConfigError, InputFileError, ShapeError
from id2reflectance.processing.asset import MAP_NAMES, read_asset, write_asset
from tests.processing.asset_fixtures import sphere_maps, uv_sphere, write_sphere_asset


@pytest.fixture(scope="module")
def sphere_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sphere_asset(tmp_path_factory.mktemp("asset") / "SPH01", previews=True)


def test_round_trip(sphere_asset: Path) -> None:
    a = read_asset(sphere_asset)
    maps = sphere_maps(256)
    for name in ("diffuse_albedo", "specular_albedo", "roughness", "normal_object", "coverage"):
        np.testing.assert_array_equal(getattr(a.maps, name), getattr(maps, name))
    assert a.maps.normal_tangent.shape == (256, 256, 3)
    np.testing.assert_allclose(np.linalg.norm(a.maps.normal_tangent, axis=-1), 1.0, atol=1e-5)
    man = json.loads((sphere_asset / "asset.json").read_text())
    assert man["format"] == "id2r-asset" and man["version"] == 1 and man["size"] == 256
    assert man["subject"] == {"id": "SPH01", "attributes": {"ita_deg": 30.0}}
    assert man["frame"] == "template" and man["source"]["kind"] == "photo"
    assert set(man["maps"]) == set(MAP_NAMES)
    for name, entry in man["maps"].items():
        assert entry["file"] == f"uv/{name}.exr"
        assert entry["sha256"] == sha256_file(sphere_asset / entry["file"])
        assert (sphere_asset / "previews" / f"{name}.png").is_file()
    ref = uv_sphere()
    np.testing.assert_allclose(a.mesh.vertices, ref.vertices, atol=1e-9)
    np.testing.assert_allclose(a.mesh.uvs, ref.uvs, atol=1e-9)
    np.testing.assert_array_equal(a.mesh.faces, ref.faces)
    _, names = read_exr(sphere_asset / "uv" / "roughness.exr")
    assert names == ("Y",)
    assert not [p for p in sphere_asset.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _set_manifest(root: Path, edit) -> None:
    man = json.loads((root / "asset.json").read_text())
    edit(man)
    (root / "asset.json").write_text(json.dumps(man))


def _rewrite_map(root: Path, name: str, arr: np.ndarray) -> None:
    write_exr(root / "uv" / f"{name}.exr", arr)
    _set_manifest(root, lambda m: m["maps"][name].update(sha256=sha256_file(root / "uv" / f"{name}.exr")))


def _missing_map(root: Path) -> None:
    (root / "uv" / "roughness.exr").unlink()


def _sha_mismatch(root: Path) -> None:
    arr, _ = read_exr(root / "uv" / "roughness.exr")
    write_exr(root / "uv" / "roughness.exr", arr * 0.5)


def _other_size(root: Path) -> None:
    _rewrite_map(root, "specular_albedo", np.full((512, 512), 0.04, np.float32))


def _not_pow2(root: Path) -> None:
    _set_manifest(root, lambda m: m.update(size=300))


def _too_small(root: Path) -> None:
    _set_manifest(root, lambda m: m.update(size=128))


def _nan(root: Path) -> None:
    arr, _ = read_exr(root / "uv" / "diffuse_albedo.exr")
    arr[3, 4, 1] = np.nan
    _rewrite_map(root, "diffuse_albedo", arr)


def _inf(root: Path) -> None:
    arr, _ = read_exr(root / "uv" / "roughness.exr")
    arr[0, 0] = np.inf
    _rewrite_map(root, "roughness", arr[..., 0])


def _no_uvs(root: Path) -> None:
    m = uv_sphere()
    write_obj(root / "mesh.obj", FaceMesh(m.vertices, m.faces))


def _version(root: Path) -> None:
    _set_manifest(root, lambda m: m.update(version=2))


def _format(root: Path) -> None:
    _set_manifest(root, lambda m: m.update(format="something-else"))


def _map_entry_missing(root: Path) -> None:
    _set_manifest(root, lambda m: m["maps"].pop("coverage"))


def _bad_json(root: Path) -> None:
    (root / "asset.json").write_text("{not json")


def _wrong_channels(root: Path) -> None:
    _rewrite_map(root, "roughness", np.zeros((256, 256, 3), np.float32))


CASES = [
    (_missing_map, "roughness.exr", "missing"),
    (_sha_mismatch, "roughness.exr", "SHA-256 mismatch"),
    (_other_size, "specular_albedo.exr", "512x512"),
    (_not_pow2, "asset.json: size", "power of two"),
    (_too_small, "asset.json: size", "power of two"),
    (_nan, "diffuse_albedo.exr", "NaN or Inf"),
    (_inf, "roughness.exr", "NaN or Inf"),
    (_no_uvs, "mesh.obj: vt", "no UVs"),
    (_version, "asset.json: version", "must be 1"),
    (_format, "asset.json: format", "id2r-asset"),
    (_map_entry_missing, "asset.json: maps.coverage", "missing"),
    (_bad_json, "asset.json", "bad JSON"),
    (_wrong_channels, "roughness.exr: channels", "must be Y"),
]


@pytest.mark.parametrize(("breaker", "where", "what"), CASES, ids=[c[0].__name__ for c in CASES])
def test_rejections_name_file_and_field(sphere_asset: Path, tmp_path: Path, breaker, where: str, what: str) -> None:
    root = _copy(sphere_asset, tmp_path / "broken")
    breaker(root)
    with pytest.raises(InputFileError) as info:
        read_asset(root)
    msg = str(info.value)
    assert where in msg and what in msg, msg


def test_verify_false_skips_hash(sphere_asset: Path, tmp_path: Path) -> None:
    root = _copy(sphere_asset, tmp_path / "changed")
    _sha_mismatch(root)
    a = read_asset(root, verify=False)
    np.testing.assert_allclose(a.maps.roughness, sphere_maps(256).roughness * 0.5)


def test_write_rejects_bad_maps_and_writes_nothing(tmp_path: Path) -> None:
    maps = sphere_maps(256)
    bad = [
        (dataclasses.replace(maps, roughness=np.full((256, 256), np.nan, np.float32)), ShapeError),
        (dataclasses.replace(maps, coverage=np.ones((128, 128), np.float32)), ShapeError),
        (sphere_maps(256 - 56), ShapeError),
    ]
    for m, err in bad:
        with pytest.raises(err):
            write_asset(
                tmp_path / "A",
                mesh=uv_sphere(),
                maps=m,
                subject_id="S1",
                template_name="t",
                template_sha256="0" * 64,
                frame="world",
                source={"kind": "capture"},
            )
    with pytest.raises(ConfigError):
        write_asset(
            tmp_path / "A",
            mesh=uv_sphere(),
            maps=maps,
            subject_id="bad id!",
            template_name="t",
            template_sha256="0" * 64,
            frame="world",
            source={"kind": "capture"},
        )
    with pytest.raises(ShapeError):
        m = uv_sphere()
        write_asset(
            tmp_path / "A",
            mesh=FaceMesh(m.vertices, m.faces),
            maps=maps,
            subject_id="S1",
            template_name="t",
            template_sha256="0" * 64,
            frame="world",
            source={"kind": "capture"},
        )
    assert list(tmp_path.iterdir()) == []
