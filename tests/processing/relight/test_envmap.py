"""Environment maps: lat-long convention, rotation, reading and bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import write_exr
from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.processing.relight.envmap import (
    direction_to_pixel,
    latlong_directions,
    latlong_solid_angles,
    load_environment,
    mean_luminance,
    read_environment_image,
)


def test_latlong_convention_reference_directions() -> None:
    d = latlong_directions(64)
    # centre of the image = +z (what the face looks toward); quarter width = +x; 3/4 = -x
    centre = d[31:33, 63:65].mean((0, 1))
    np.testing.assert_allclose(centre / np.linalg.norm(centre), [0, 0, 1], atol=1e-12)
    assert d[32, 32][0] > 0.99 and d[32, 96][0] < -0.99  # u = 0.25 -> +x, u = 0.75 -> -x
    assert d[0, 10][1] > 0.99 and d[63, 10][1] < -0.99  # row 0 up, last row down
    assert d[32, 0][2] < -0.99  # side edges -z
    x, y = direction_to_pixel(d.reshape(-1, 3), 64)
    jj, ii = np.meshgrid(np.arange(128), np.arange(64))
    np.testing.assert_allclose(x, jj.ravel(), atol=1e-9)
    np.testing.assert_allclose(y, ii.ravel(), atol=1e-9)
    np.testing.assert_allclose(latlong_solid_angles(64).sum() * 128, 4 * np.pi, rtol=1e-12)


def _spot_env(path: Path, h: int = 32) -> Path:
    img = np.full((h, 2 * h, 3), 0.01, np.float32)
    img[h // 2 - 1 : h // 2 + 1, h - 1 : h + 1] = 100.0  # a bright patch at +z
    write_exr(path, img)
    return path


def test_rotation_and_lookup(tmp_path: Path) -> None:
    p = _spot_env(tmp_path / "spot.exr")
    env = load_environment(p)
    assert env.radiance_towards(np.array([[0.0, 0.0, 1.0]]))[0, 0] > 50
    rot = load_environment(p, rotate_deg=90)  # +z turns to +x (right-handed about +y)
    got = rot.radiance_towards(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))[:, 0]
    assert got[0] > 50 and got[1] < 1


def test_patterns_and_normalisation(tmp_path: Path) -> None:
    w = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    np.testing.assert_allclose(load_environment("pattern:gradient_x").radiance_towards(w)[:, 0], [1, 0.5, 0.5])
    np.testing.assert_allclose(load_environment("pattern:inverse_y").radiance_towards(w)[:, 0], [0.5, 1, 0.5])
    img = np.random.default_rng(0).uniform(0, 7, (32, 64, 3)).astype(np.float32)
    write_exr(tmp_path / "r.exr", img)
    env = load_environment(tmp_path / "r.exr", normalize="mean")
    assert abs(mean_luminance(env.radiance) - 1.0) < 1e-5
    with pytest.raises(ConfigError, match="unknown pattern"):
        load_environment("pattern:dark")
    with pytest.raises(ConfigError, match="built-in"):
        load_environment("no_such_env_name")


def test_radiance_hdr_file(tmp_path: Path) -> None:
    import cv2

    img = np.random.default_rng(1).uniform(0.01, 50, (16, 32, 3)).astype(np.float32)
    cv2.imwrite(str(tmp_path / "e.hdr"), img[..., ::-1])
    got = read_environment_image(tmp_path / "e.hdr")
    # RGBE shares one exponent per pixel: the error is about 1/256 of the largest channel
    assert np.all(np.abs(got - img) <= img.max(-1, keepdims=True) / 100)


def test_negative_values_clamped_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    img = np.ones((16, 32, 3), np.float32)
    img[2, 3, 1] = -0.5
    write_exr(tmp_path / "neg.exr", img)
    with caplog.at_level(logging.WARNING):
        got = read_environment_image(tmp_path / "neg.exr")
    assert got.min() == 0.0 and got[2, 3, 1] == 0.0
    assert "negative" in caplog.text and "neg.exr" in caplog.text
    # a few texels slightly below zero (filter ringing in published HDRs): clamped quietly
    img[2, 3, 1] = -0.001
    write_exr(tmp_path / "ringing.exr", img)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        got = read_environment_image(tmp_path / "ringing.exr")
    assert got[2, 3, 1] == 0.0 and "negative" not in caplog.text


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("square.exr", lambda p: write_exr(p, np.ones((16, 16, 3))), "2:1"),
        ("nan.exr", lambda p: write_exr(p, np.where(np.eye(16, 32)[..., None] > 0, np.nan, 1.0) * np.ones(3)), "NaN"),
        ("inf.exr", lambda p: write_exr(p, np.where(np.eye(16, 32)[..., None] > 0, np.inf, 1.0) * np.ones(3)), "Inf"),
        ("junk.exr", lambda p: p.write_bytes(b"not an exr at all"), "not a readable OpenEXR"),
        ("junk.hdr", lambda p: p.write_bytes(b"#?RADIANCE\nbroken"), "Radiance"),
        ("env.png", lambda p: p.write_bytes(b"x"), ".exr or .hdr"),
    ],
)
def test_bad_environment_files(tmp_path: Path, name: str, make, message: str) -> None:
    p = tmp_path / name
    make(p)
    with pytest.raises(InputFileError) as info:
        load_environment(p)
    assert name in str(info.value) and message in str(info.value)
    with pytest.raises(InputFileError, match="not found"):
        load_environment(tmp_path / "missing.exr")
