"""What the swapper evaluation reads and renders (id2reflectance.evaluation.inputs): the eyes.

A dataset with eyes (``"eyes": true``) renders its RGB views with the face model's
eyeballs while its maps and mask are the skin's; the evaluation's renders of reflectance
maps (``shade_full_on``) take the views' eyes (``eye_layer``) so that they compare with
photos that have eyes, and stay as before for a dataset without.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from id2reflectance.errors import InputFileError, ShapeError
from id2reflectance.evaluation.inputs import (
    eye_layer,
    eye_layer_at,
    has_eye_layer,
    load_subject_truth,
    read_eye_photo,
    read_mask,
    resize_map,
    shade_full_on,
    subject_eye_layer,
)
from tests.evaluation.eye_dataset import SUBJECT, dataset_with_eye_openings, eye_openings
from tests.face_model_data import needs_model


def _maps(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.7, (size, size, 3)).astype(np.float32), rng.uniform(0, 0.1, (size, size, 1)).astype(
        np.float32
    )


def test_the_eye_layer_is_the_full_on_view_off_the_skin() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(1, 256, (8, 8, 3), dtype=np.uint8)
    mask = np.ones((8, 8), bool)
    mask[3, 2:5] = False
    layer = eye_layer(rgb, mask)
    assert layer.dtype == np.uint8 and layer.shape == rgb.shape
    np.testing.assert_array_equal(layer[~mask], rgb[~mask])
    assert not layer[mask].any()
    with pytest.raises(InputFileError, match=r"views/front/rgb_full.png.*mask's size"):
        eye_layer(rgb[:4], mask, path="views/front/rgb_full.png")


def test_the_eye_layer_keeps_the_eye_colour_at_a_smaller_render() -> None:
    """Area resampling of the eyes alone would fade an eye pixel to black where its
    footprint is part skin: the layer's colour is the mean over the off-skin part."""
    mask = np.ones((16, 16), bool)
    mask[3:6, 3:9] = False  # straddles the 4 x 4 footprints of two rows and three columns
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[~mask] = (200, 150, 100)
    at4 = eye_layer_at(eye_layer(rgb, mask), mask, 4)
    assert at4.dtype == np.float32 and at4.shape == (4, 4, 3)
    seen = resize_map((~mask).astype(np.float32), 4) > 0
    np.testing.assert_allclose(
        at4[seen], np.broadcast_to(np.array([200, 150, 100]) / 255.0, (seen.sum(), 3)), atol=1e-6
    )
    assert not at4[~seen].any() and seen.sum() == 6
    np.testing.assert_array_equal(eye_layer_at(eye_layer(rgb, mask), mask, 16), rgb / np.float32(255.0))


def test_renders_show_the_eyes_off_the_skin_and_are_unchanged_without() -> None:
    diffuse, specular = _maps(12)
    mask = np.zeros((12, 12), bool)
    mask[2:10, 2:10] = True
    mask[5, 4:8] = False  # an eye opening
    eyes = np.zeros((12, 12, 3), np.float32)
    eyes[5, 4:8] = (0.8, 0.7, 0.6)
    plain = shade_full_on(diffuse, specular, mask, exposure_stops=0.0)
    assert not plain[~mask].any()  # no eyes: black off the skin
    with_eyes = shade_full_on(diffuse, specular, mask, exposure_stops=0.0, eyes=eyes)
    np.testing.assert_array_equal(with_eyes[mask], plain[mask])
    np.testing.assert_array_equal(with_eyes[5, 4:8], np.tile([204, 178, 153], (4, 1)))
    assert not with_eyes[0].any()  # the background stays black
    with pytest.raises(ShapeError, match="eyes"):
        shade_full_on(diffuse, specular, mask, exposure_stops=0.0, eyes=eyes[:6])


def test_the_manifest_says_whether_there_are_eyes() -> None:
    assert has_eye_layer({"eyes": True, "environments": ["full", "courtyard"]})
    assert not has_eye_layer({"eyes": False, "environments": ["full"]})
    assert not has_eye_layer({"environments": ["full"]})  # built before the field: no eyes
    assert not has_eye_layer({"eyes": True, "environments": ["courtyard"]})  # no full-on view to cut them from


@pytest.mark.parametrize("eyes", [True, False])
def test_a_dataset_s_eye_layer_is_read_only_when_its_views_have_eyes(
    face_dataset: Path, tmp_path: Path, eyes: bool
) -> None:
    ds = dataset_with_eye_openings(face_dataset, tmp_path / "ds", eyes=eyes)
    doc = json.loads((ds / "dataset.json").read_text())
    view = ds / "subjects" / SUBJECT / "views" / "front"
    rgb, holes = read_eye_photo(view), eye_openings(32)
    truth = load_subject_truth(
        ds, {"id": SUBJECT}, views=("front", "left"), environments=(), uv=False, eyes=has_eye_layer(doc)
    )
    layer = subject_eye_layer(ds, doc, SUBJECT, 32)
    assert truth.views["left"].eyes is None
    if not eyes:
        assert truth.views["front"].eyes is None and layer is None
        return
    np.testing.assert_array_equal(truth.views["front"].eyes[holes], rgb[holes])
    assert not truth.views["front"].eyes[~holes].any()
    np.testing.assert_array_equal(layer, truth.views["front"].eyes / np.float32(255.0))
    (view / "rgb_full.png").unlink()
    with pytest.raises(InputFileError, match="rgb_full.png"):
        subject_eye_layer(ds, doc, SUBJECT, 32)


@needs_model
def test_renders_of_a_face_model_view_have_the_views_eyes(tmp_path: Path) -> None:
    """The views of a face-model asset rendered with eyes: the evaluation's render of the
    view's own maps shows the views' eyes in the eye openings (not black), at the view's
    size and at a model's smaller one."""
    from id2reflectance._shared.imageio import read_png_unit
    from id2reflectance.dataset.views import render_training_views
    from tests.processing.asset_fixtures import write_face_model_asset

    asset = write_face_model_asset(tmp_path / "A")
    render_training_views(asset, tmp_path / "v", image_size=64, views=("front",), eyes=True)
    view = tmp_path / "v" / "views" / "front"
    mask, rgb = read_mask(view), read_eye_photo(view)
    diffuse = read_png_unit(view / "diffuse_albedo.png")[..., :3].astype(np.float32)
    specular = np.atleast_3d(read_png_unit(view / "specular_albedo.png"))[..., :1].astype(np.float32)
    layer = eye_layer(rgb, mask)
    eye = layer.max(axis=-1) > 0
    assert eye.sum() >= 10, eye.sum()  # the eyeballs between the lids
    rows, cols = np.nonzero(eye)
    assert rows.max() - rows.min() < 12 and cols.max() - cols.min() > 20  # two eyes side by side
    plain = shade_full_on(diffuse, specular, mask, exposure_stops=0.0)
    render = shade_full_on(diffuse, specular, mask, exposure_stops=0.0, eyes=eye_layer_at(layer, mask, 64))
    assert not plain[eye].any()  # before: holes
    np.testing.assert_array_equal(render[eye], rgb[eye])
    assert np.median(render[eye].astype(float).mean(axis=1)) > 60  # sclera and iris, not black
    for size in (32,):
        small_mask = resize_map(mask, size)
        d, s = resize_map(diffuse, size), resize_map(specular, size)
        small = shade_full_on(d, s, small_mask, exposure_stops=0.0, eyes=eye_layer_at(layer, mask, size))
        seen = (resize_map(eye.astype(np.float32), size) > 0) & ~small_mask
        assert seen.any() and np.median(small[seen].astype(float).mean(axis=1)) > 60
