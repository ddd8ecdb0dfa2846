"""Capture folders: camera sub-folders, or a stereo camera's flat ``left01.jpg``/``right01.jpg``."""

from __future__ import annotations

import pytest

from id2reflectance.capture.calibration.board_captures import list_capture
from id2reflectance.errors import InputFileError


def _touch(root, *names) -> None:
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).write_bytes(b"")


def test_a_flat_folder_is_read_as_camera_and_pose_number(tmp_path) -> None:
    _touch(tmp_path, "left01.jpg", "left02.jpg", "right01.jpg", "right02.jpg", "cam_b-7.png", "notes.txt")
    listing = list_capture(tmp_path)
    assert {c: sorted(v) for c, v in listing.items()} == {"left": ["01", "02"], "right": ["01", "02"], "cam_b": ["7"]}
    assert listing["right"]["02"] == tmp_path / "right02.jpg"


def test_camera_folders_win_over_images_beside_them(tmp_path) -> None:
    _touch(tmp_path, "a/p0.png", "b/p0.png", "left01.jpg")
    assert sorted(list_capture(tmp_path)) == ["a", "b"]


@pytest.mark.parametrize("name", ["board.jpg", "01.jpg"])
def test_a_flat_image_without_camera_and_number_is_named(tmp_path, name: str) -> None:
    _touch(tmp_path, "left01.jpg", name)
    with pytest.raises(InputFileError, match="<camera><number>") as info:
        list_capture(tmp_path)
    assert name in str(info.value)


def test_the_same_pose_twice_is_refused(tmp_path) -> None:
    _touch(tmp_path, "left01.jpg", "left01.png")
    with pytest.raises(InputFileError, match="same camera and pose number as left01"):
        list_capture(tmp_path)


def test_an_empty_folder_names_both_layouts(tmp_path) -> None:
    with pytest.raises(InputFileError, match=r"<camera>/<image> or CAPTURE_DIR/<camera><number>"):
        list_capture(tmp_path)
