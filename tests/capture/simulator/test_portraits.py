"""Portraits of simulated subjects: what a face recogniser (dlib) sees in them."""

import numpy as np
import pytest

from id2reflectance.capture.simulator.portraits import portraits
from id2reflectance.capture.simulator.sessions import SimulatorConfig, config_subject
from id2reflectance.errors import ConfigError
from tests.face_model_data import needs_model

CONFIG = SimulatorConfig(
    image_size=320, uv_size=128, visibility_directions=48, specular_samples=(8, 8), diffuse_samples=(4, 8), seed=0
)


def test_portraits_are_photos():
    cfg = SimulatorConfig(image_size=48, uv_size=32, visibility_directions=16, head_model="procedural")
    imgs = portraits(config_subject(cfg, 0), cfg)
    assert set(imgs) == {"full", "gradient_x"}
    for img in imgs.values():
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8
        assert img[0, 0].max() == 0 and img[24, 24].min() > 20  # black background, a lit face
    # the side light is brighter on the subject's left (image right) than on the right
    side = imgs["gradient_x"].astype(float).mean(axis=(0, 2))
    assert side[26:40].mean() > side[8:22].mean()
    with pytest.raises(ConfigError, match="unknown lighting"):
        portraits(config_subject(cfg, 0), cfg, lightings=("sunset",))


@pytest.mark.slow
@needs_model
def test_face_model_subjects_are_different_people():
    from id2reflectance.face.detect import find_faces
    from id2reflectance.face.identity import DlibIdentityEncoder

    enc = DlibIdentityEncoder()
    emb = []
    for i in range(3):
        views = portraits(config_subject(CONFIG, i), CONFIG)
        row = []
        for img in views.values():
            faces = find_faces(img)
            assert faces, f"subject {i}: no face found"
            row.append(enc.descriptor(img, faces[0].landmarks))  # dlib's own distance scale
        emb.append(row)
    e = np.asarray(emb)  # (subject, lighting, 128)
    same = np.linalg.norm(e[:, 0] - e[:, 1], axis=-1)
    diff = [
        np.linalg.norm(e[i, a] - e[j, b]) for i in range(3) for j in range(i + 1, 3) for a in (0, 1) for b in (0, 1)
    ]
    # one subject under two lightings stays one person (dlib: < 0.6); different subjects are apart.
    # Here (3 subjects, UV 128): same 0.22-0.36, different 0.52-0.67, median 0.62, 7 of 12 pairs > 0.6
    assert same.max() < 0.45, same
    assert min(diff) > same.max() + 0.1 and np.median(diff) > 0.58, (diff, same)
    assert np.mean(np.asarray(diff) > 0.6) >= 0.5, diff


@pytest.mark.slow
@needs_model
def test_photo_subjects_are_as_far_apart_as_real_people():
    from dataclasses import replace

    from id2reflectance.capture.face_photos import default_face_photos_dir
    from id2reflectance.face.detect import find_faces
    from id2reflectance.face.identity import DlibIdentityEncoder

    if not (default_face_photos_dir() / "people.csv").is_file():
        pytest.skip("face photos (../shared/face-photos) are absent")
    # a sharp lens (pixels box-integrated, no lens blur): with a 0.5 px lens blur (issue 20;
    # the simulator's default is 0.25 px) 9 of 12 pairs are > 0.6 (0.589-0.727, median 0.68):
    # dlib's descriptor moves by ~0.01 under a blur that small, and three pairs sit just at its
    # 0.6 line
    cfg = replace(CONFIG, appearance_source="photo", lens_blur_px=0.0)
    enc = DlibIdentityEncoder()
    emb = []
    for i in range(3):
        row = []
        for img in portraits(config_subject(cfg, i), cfg).values():
            faces = find_faces(img)
            assert faces, f"subject {i}: no face found"
            row.append(enc.descriptor(img, faces[0].landmarks))
        emb.append(row)
    e = np.asarray(emb)
    same = np.linalg.norm(e[:, 0] - e[:, 1], axis=-1)
    diff = [
        np.linalg.norm(e[i, a] - e[j, b]) for i in range(3) for j in range(i + 1, 3) for a in (0, 1) for b in (0, 1)
    ]
    # a real person's face shape and albedo detail per subject (issue 22: >= 80 % of pairs > 0.6).
    # Here (UV 128): 12 of 12 pairs > 0.6, median 0.693 (0.739 before the photo was low-passed
    # to the texels' footprint: at UV 128 a texel spans ~3 photo pixels, and one pixel's detail
    # per texel was aliased speckle) (painted appearances, the test above: median 0.62, 7 of 12)
    assert same.max() < 0.35, same
    assert np.mean(np.asarray(diff) > 0.6) >= 0.8 and np.median(diff) > 0.66, diff
