"""Training views of a built dataset (dataset/views.py): the RGB keeps the skin's lightness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from id2reflectance._shared.imageio import read_png_unit, srgb_to_linear
from id2reflectance.dataset.manifest import RGB_EXPOSURE_STOPS
from tests.face_model_data import needs_model

LUMA = np.array([0.2126, 0.7152, 0.0722])


def _face_luminance(view: Path, name: str, *, srgb: bool) -> float:
    img = read_png_unit(view / name)[..., :3].astype(np.float64)
    mask = np.atleast_3d(read_png_unit(view / "mask.png"))[..., 0] > 0.5
    lin = srgb_to_linear(img) if srgb else img
    return float(np.median(lin[mask] @ LUMA))


def test_rgb_views_share_one_exposure_so_darker_skin_looks_darker(face_dataset: Path) -> None:
    """Every subject's full-on front view is exposed alike: its face luminance follows the
    albedo's (an exposure fitted per image would make them all about equal)."""
    doc = json.loads((face_dataset / "dataset.json").read_text())
    assert doc["rgb_exposure_stops"] == RGB_EXPOSURE_STOPS
    rgb, albedo = [], []
    for s in doc["subjects"]:
        view = face_dataset / "subjects" / s["id"] / "views" / "front"
        rgb.append(_face_luminance(view, "rgb_full.png", srgb=True))
        albedo.append(_face_luminance(view, "diffuse_albedo.png", srgb=False))
    rgb_a, alb_a = np.array(rgb), np.array(albedo)
    alb_spread, rgb_spread = alb_a.max() / alb_a.min() - 1, rgb_a.max() / rgb_a.min() - 1
    assert alb_spread > 0.2, albedo  # the fixture's subjects differ in skin lightness
    assert np.argsort(rgb_a).tolist() == np.argsort(alb_a).tolist(), (rgb, albedo)
    assert np.corrcoef(rgb_a, alb_a)[0, 1] > 0.9, (rgb, albedo)
    # per-image auto exposure would give a spread near 0; the tone curve and the specular
    # highlights (about the same on every face) compress it to about half of the albedo's
    assert rgb_spread > 0.3 * alb_spread, (rgb, albedo)


@needs_model
def test_rgb_views_have_eyes_and_the_maps_stay_the_skin_s(tmp_path: Path) -> None:
    """A face-model asset's RGB views show eyes between the lids (not the black background);
    with ``eyes=False`` they are the skin alone, as before; the maps and the mask are the
    skin's either way."""
    from id2reflectance.dataset.views import render_training_views
    from tests.processing.asset_fixtures import write_face_model_asset

    asset = write_face_model_asset(tmp_path / "A")
    for eyes in (False, True):
        render_training_views(asset, tmp_path / f"v{eyes}", image_size=128, views=("front",), eyes=eyes)
    old, new = tmp_path / "vFalse" / "views" / "front", tmp_path / "vTrue" / "views" / "front"
    for name in ("mask.png", "diffuse_albedo.png", "specular_albedo.png", "roughness.png", "normal.png"):
        np.testing.assert_array_equal(read_png_unit(old / name), read_png_unit(new / name), err_msg=name)
    mask = np.atleast_3d(read_png_unit(old / "mask.png"))[..., 0] > 0.5
    before, after = read_png_unit(old / "rgb_full.png")[..., :3], read_png_unit(new / "rgb_full.png")[..., :3]
    assert np.all(before[~mask] == 0)  # the skin alone: black in the eye openings
    changed = np.any(after != before, axis=-1)
    np.testing.assert_array_equal(changed & mask, np.zeros_like(mask))  # the lids cover the eyeballs
    # the eye openings: inside the face's outline, off the skin's mask
    rows, cols = np.nonzero(mask)
    inside = np.zeros_like(mask)
    for r in np.unique(rows):
        c = cols[rows == r]
        inside[r, c.min() : c.max() + 1] = True
    holes = inside & ~mask
    assert holes.sum() > 20, holes.sum()
    assert changed[holes].mean() > 0.9, changed[holes].mean()
