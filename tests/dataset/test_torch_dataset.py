import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from id2reflectance._shared.imageio import write_png
from id2reflectance.dataset.torch_dataset import ReflectanceDataset, dataset_sha256
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.training.codebook import worker_start_method
from tests.dataset.synthetic import write_synthetic_dataset

ALL = ("rgb", "diffuse", "specular", "roughness", "normal")


@pytest.fixture(scope="module")
def ds_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("tds") / "ds", subjects=4, size=40)


def _srgb_oetf(x: float) -> float:
    # IEC 61966-2-1 encoding, written out independently of the library
    return 12.92 * x if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055


def test_conversions_reference_values(tmp_path):
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=8, views=("front",))
    v = root / "subjects/S0000/views/front"
    left = np.zeros((8, 8), bool)
    left[:, :4] = True
    write_png(v / "rgb_full.png", np.where(left[..., None], 200 / 255, 20 / 255) * np.ones((8, 8, 3)), bits=8)
    write_png(v / "diffuse_albedo.png", np.full((8, 8, 3), 0.2), bits=16)
    write_png(v / "specular_albedo.png", np.where(left, 0.1, 0.3), bits=16)
    write_png(v / "roughness.png", np.full((8, 8), 0.6), bits=16)
    n = np.array([0.6, 0.0, 0.8])
    write_png(v / "normal.png", np.broadcast_to((n + 1) / 2, (8, 8, 3)), bits=16)
    ds = ReflectanceDataset(root, split="train", domains=ALL, views=("front",), resolution=8)
    it = ds[0]
    assert it["subject"] == "S0000" and it["view"] == "front" and it["environment"] == "full"
    for d in ALL:
        assert it[d].shape == (3, 8, 8) and it[d].dtype == torch.float32
    np.testing.assert_allclose(it["rgb"][:, :, 0].numpy(), 2 * 200 / 255 - 1, atol=1e-6)
    np.testing.assert_allclose(it["rgb"][:, :, 7].numpy(), 2 * 20 / 255 - 1, atol=1e-6)
    np.testing.assert_allclose(it["diffuse"].numpy(), 2 * _srgb_oetf(0.2) - 1, atol=1e-4)
    np.testing.assert_allclose(it["specular"][:, :, 0].numpy(), 2 * 0.4 - 1, atol=1e-4)  # min(1, 4 * 0.1)
    np.testing.assert_allclose(it["specular"][:, :, 7].numpy(), 1.0, atol=1e-4)  # min(1, 4 * 0.3)
    np.testing.assert_allclose(it["roughness"].numpy(), 2 * 0.6 - 1, atol=1e-4)
    np.testing.assert_allclose(it["normal"][:, 3, 3].numpy(), n, atol=1e-4)


def test_flip_mirrors_every_domain_and_negates_normal_x(ds_root):
    plain = ReflectanceDataset(ds_root, split="train", domains=ALL, views=("left",), resolution=32)
    aug = ReflectanceDataset(ds_root, split="train", domains=ALL, views=("left",), resolution=32, augment=True)
    flips = [aug.flips(0, e) for e in range(40)]
    assert 10 < sum(flips) < 30  # p = 1/2, varies with the epoch
    e = flips.index(True)
    a, b = plain[0], aug[(0, e)]
    assert b["flipped"] and not a["flipped"]
    for d in ("rgb", "diffuse", "specular", "roughness"):
        torch.testing.assert_close(b[d], torch.flip(a[d], dims=[-1]), rtol=0, atol=0)
    want = torch.flip(a["normal"], dims=[-1])
    want[0] = -want[0]
    # on the face n_x is negated (the synthetic background n = (0, 0, 1) is its own mirror);
    # pixels the resize left partly covered blend the two by the mask
    whole = (b["mask"][0] > 0.999) | (b["mask"][0] < 0.001)
    assert whole.float().mean() > 0.8
    torch.testing.assert_close(b["normal"][:, whole], want[:, whole], rtol=0, atol=1e-4)  # 16-bit 0.5
    torch.testing.assert_close(b["mask"], torch.flip(a["mask"], dims=[-1]))
    # deterministic: the same key gives the same item
    torch.testing.assert_close(aug[(0, e)]["normal"], b["normal"], rtol=0, atol=0)
    g = flips.index(False)
    assert not aug[(0, g)]["flipped"]


def test_items_splits_environments_and_resize(ds_root):
    ds = ReflectanceDataset(
        ds_root, split="train", domains=ALL, views=("front", "left"), resolution=16, environments=("full", "env0")
    )
    assert len(ds) == 2 * 2 * 2  # 2 train subjects x 2 views x 2 environments
    assert ds[0]["rgb"].shape == (3, 16, 16)
    assert {ds[i]["environment"] for i in range(len(ds))} == {"full", "env0"}
    only_maps = ReflectanceDataset(ds_root, split=("val", "test"), domains=("normal",), views=("front",), resolution=40)
    assert len(only_maps) == 2 and "rgb" not in only_maps[0]
    n = only_maps[0]["normal"]
    m = only_maps[0]["mask"][0] > 0.5
    norms = torch.linalg.vector_norm(n, dim=0)[m]
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=2e-3, rtol=0)  # unit normals at full size
    assert len(ReflectanceDataset(ds_root, split="all", domains=("rgb",), views=("front",), resolution=8)) == 4


def test_dataloader_workers_match_direct_access(ds_root):
    ds = ReflectanceDataset(ds_root, split="train", domains=ALL, views=("front",), resolution=16, augment=True, seed=3)
    keys = [[(0, 0), (1, 0)], [(0, 1), (1, 1)]]
    # forkserver as in training: a forked worker can hang on a lock held by an earlier test's Dask threads
    loader = DataLoader(ds, batch_sampler=keys, num_workers=2, multiprocessing_context=worker_start_method(2))
    for batch_keys, batch in zip(keys, loader, strict=True):
        for j, key in enumerate(batch_keys):
            direct = ds[key]
            for d in ALL:
                torch.testing.assert_close(batch[d][j], direct[d], rtol=0, atol=0)
            assert batch["subject"][j] == direct["subject"]


def test_missing_domain_named(tmp_path):
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=8, domains=("rgb", "diffuse", "specular"))
    with pytest.raises(InputFileError) as err:
        ReflectanceDataset(root, split="train", domains=ALL, views=("front",), resolution=8)
    assert err.value.field == "domains" and err.value.path.endswith("dataset.json")
    assert "roughness" in str(err.value) and "normal" in str(err.value)
    with pytest.raises(InputFileError, match="views"):
        ReflectanceDataset(root, split="train", domains=("rgb",), views=("back",), resolution=8)
    with pytest.raises(InputFileError, match="environments"):
        ReflectanceDataset(
            root, split="train", domains=("rgb",), views=("front",), resolution=8, environments=("env9",)
        )


def test_missing_file_and_bad_options(tmp_path):
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=8, views=("front",))
    (root / "subjects/S0000/views/front/roughness.png").unlink()
    with pytest.raises(InputFileError, match="S0000/views/front/roughness.png"):
        ReflectanceDataset(root, split="train", domains=ALL, views=("front",), resolution=8)
    with pytest.raises(ConfigError, match="split"):
        ReflectanceDataset(root, split="training", domains=("rgb",), views=("front",), resolution=8)
    with pytest.raises(ConfigError, match="domains"):
        ReflectanceDataset(root, split="train", domains=("albedo",), views=("front",), resolution=8)
    doc = json.loads((root / "dataset.json").read_text())
    doc["version"] = 2
    (root / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="version"):
        ReflectanceDataset(root, split="train", domains=("rgb",), views=("front",), resolution=8)
    with pytest.raises(InputFileError, match="dataset.json"):
        dataset_sha256(tmp_path / "nowhere")


def test_flip_keeps_the_background_normal_code(tmp_path):
    """The builder stores a zero normal code off the face; a flip must not turn it into
    (1, 0, 0), or flipped and unflipped items disagree on the background."""
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=16)
    from id2reflectance.dataset.torch_dataset import _read_png

    for sid in ("S0000",):
        vdir = root / "subjects" / sid / "views" / "left"
        n = _read_png(vdir / "normal.png")
        mask = _read_png(vdir / "mask.png")[..., 0] > 0.5
        n[~mask] = 0.0
        write_png(vdir / "normal.png", n, bits=16)
    plain = ReflectanceDataset(root, split="train", domains=("normal",), views=("left",), resolution=16)
    aug = ReflectanceDataset(root, split="train", domains=("normal",), views=("left",), resolution=16, augment=True)
    e = [aug.flips(0, k) for k in range(40)].index(True)
    a, b = plain[0], aug[(0, e)]
    off = b["mask"][0] < 0.5
    assert off.sum() > 20
    torch.testing.assert_close(b["normal"][:, off], torch.full_like(b["normal"][:, off], -1.0))
    on = b["mask"][0] > 0.99
    want = torch.flip(a["normal"], dims=[-1])
    torch.testing.assert_close(b["normal"][0][on], -want[0][on], rtol=0, atol=1e-6)
    torch.testing.assert_close(b["normal"][1:, on], want[1:, on], rtol=0, atol=1e-6)


def test_environment_by_manifest_name_or_index(tmp_path):
    """The builder lists environments by name (full, courtyard) and writes rgb_env<k>.png."""
    root = write_synthetic_dataset(tmp_path / "ds", subjects=3, size=8)
    doc = json.loads((root / "dataset.json").read_text())
    doc["environments"] = ["full", "courtyard"]
    (root / "dataset.json").write_text(json.dumps(doc))
    by_name = ReflectanceDataset(
        root, split="train", domains=("rgb",), views=("front",), resolution=8, environments=("courtyard",)
    )
    by_index = ReflectanceDataset(
        root, split="train", domains=("rgb",), views=("front",), resolution=8, environments=("env0",)
    )
    full = ReflectanceDataset(
        root, split="train", domains=("rgb",), views=("front",), resolution=8, environments=("full",)
    )
    torch.testing.assert_close(by_name[0]["rgb"], by_index[0]["rgb"], rtol=0, atol=0)
    assert not torch.equal(by_name[0]["rgb"], full[0]["rgb"])
    with pytest.raises(InputFileError, match="sunset"):
        ReflectanceDataset(
            root, split="train", domains=("rgb",), views=("front",), resolution=8, environments=("sunset",)
        )
