"""Real face detection and identity on scikit-image's astronaut photo (Eileen Collins)."""

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from safetensors.torch import save_file

import id2reflectance.face.detect as face_mod
from id2reflectance.errors import Id2rError, InputFileError
from id2reflectance.face.detect import (
    align_face,
    alignment_scale,
    detect_faces,
    ffhq_quad,
    find_faces,
    greyscale_image,
    read_photo,
    unalign,
    upright,
)
from id2reflectance.face.identity import ArcFaceEncoder, DlibIdentityEncoder
from id2reflectance.model.identity.iresnet import IResNet


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    return faces[0]


def test_detects_one_face_with_landmarks(face):
    l, t, r, b = face.box
    # the face is in the upper-middle of the 512 x 512 photo
    assert 150 < l < 200 and 60 < t < 100 and 240 < r < 290 and 140 < b < 190
    assert face.landmarks.shape == (68, 2)
    lm = face.landmarks
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()  # image-left eye left of image-right eye
    assert lm[48:68, 1].mean() > lm[30, 1] > lm[36:48, 1].mean()  # mouth below nose below eyes


def test_no_face_in_camera_photo():
    assert detect_faces(skimage.data.camera()) == []


def test_find_faces_searches_small_images_harder(astronaut):
    thumb = cv2.resize(astronaut, (112, 112), interpolation=cv2.INTER_AREA)  # the face is about 20 px wide
    assert detect_faces(thumb) == []
    faces = find_faces(thumb)
    assert len(faces) == 1
    l, t, r, b = faces[0].box
    assert 14 < r - l < 30 and 35 < (l + r) / 2 < 60  # the astronaut's face, scaled by 112 / 512
    assert len(find_faces(astronaut)) == 1
    # a large image is not searched again: nothing found stays nothing
    assert find_faces(np.zeros((1100, 1100, 3), np.uint8)) == []


@pytest.mark.slow
def test_find_faces_in_a_turned_photo(astronaut, face):
    for k in (1, 2):  # a quarter turn counter-clockwise, half a turn
        turned = np.ascontiguousarray(np.rot90(astronaut, k))
        assert detect_faces(turned) == []
        found = find_faces(turned)
        assert len(found) == 1 and found[0].turned == (360 - 90 * k) % 360
        img, lm = upright(turned, found[0])
        np.testing.assert_array_equal(img, astronaut)
        np.testing.assert_allclose(lm, face.landmarks)  # the same face, fitted upright
        l, t, r, b = found[0].box  # the box is in the turned photo
        assert 0 <= l < r <= turned.shape[1] and 0 <= t < b <= turned.shape[0] and r - l > 60
    assert face.turned == 0 and upright(astronaut, face)[0] is astronaut
    # a large photo is searched reduced, its landmarks fitted at full resolution
    big = cv2.resize(astronaut, (2000, 2000), interpolation=cv2.INTER_CUBIC)
    ref = find_faces(big)[0]
    found = find_faces(np.ascontiguousarray(np.rot90(big, 3)))
    assert len(found) == 1 and found[0].turned == 90
    img, lm = upright(np.ascontiguousarray(np.rot90(big, 3)), found[0])
    # both refitted at full resolution from a 1600 px search: about a pixel off on a 350 px face
    assert np.linalg.norm(lm - ref.landmarks, axis=1).mean() < 3
    a_ref, _ = align_face(big, ref.landmarks, size=128)
    a_turned, _ = align_face(img, lm, size=128)
    assert np.abs(a_ref.astype(float) - a_turned).mean() < 5  # less than a 2 px shift of the landmarks


@pytest.mark.slow
def test_find_faces_searches_a_large_photo_reduced_first(astronaut, monkeypatch):
    big = cv2.resize(astronaut, (2400, 2400), interpolation=cv2.INTER_CUBIC)
    full = detect_faces(big)
    sizes = []
    real = face_mod.detect_faces
    monkeypatch.setattr(face_mod, "detect_faces", lambda img, **kw: sizes.append(img.shape[:2]) or real(img, **kw))
    found = find_faces(big)
    assert sizes == [(face_mod.DETECT_MAX_PX, face_mod.DETECT_MAX_PX)]  # one pass, on the reduced copy
    assert len(found) == 1 and len(full) == 1
    width = full[0].box[2] - full[0].box[0]
    # the landmarks are fitted at full resolution: within 1 % of the face's width of a full-resolution search
    assert np.linalg.norm(found[0].landmarks - full[0].landmarks, axis=1).mean() < 0.01 * width
    # nothing in the reduced copy: the full-resolution search follows
    sizes.clear()
    assert find_faces(np.zeros((1700, 1200, 3), np.uint8)) == []
    assert sizes[:2] == [(face_mod.DETECT_MAX_PX, round(1200 * face_mod.DETECT_MAX_PX / 1700)), (1700, 1200)]


def test_greyscale_image(astronaut):
    assert not greyscale_image(astronaut)
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert greyscale_image(grey)
    ok, jpeg = cv2.imencode(".jpg", np.repeat(grey[..., None], 3, axis=2), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok and greyscale_image(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))  # JPEG chroma noise is still grey
    # a colour face on a grey background is colour
    mixed = np.repeat(grey[..., None], 3, axis=2)
    mixed[100:300, 150:350] = astronaut[100:300, 150:350]
    assert not greyscale_image(mixed)


def test_read_photo_formats_and_errors(tmp_path, astronaut, capfd):
    bgr = np.ascontiguousarray(astronaut[..., ::-1])
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]))
    cv2.imwrite(str(tmp_path / "a16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    ref = read_photo(tmp_path / "a.png")
    np.testing.assert_array_equal(ref, astronaut)
    np.testing.assert_array_equal(read_photo(tmp_path / "rgba.png"), astronaut)
    np.testing.assert_array_equal(read_photo(tmp_path / "a16.png"), astronaut)
    grey = read_photo(tmp_path / "grey.png")
    assert grey.shape == astronaut.shape and np.array_equal(grey[..., 0], grey[..., 2])
    # a camera JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.rot90(astronaut, 1)).save(tmp_path / "exif.jpg", exif=exif.tobytes(), quality=95)
    upright = read_photo(tmp_path / "exif.jpg")
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(float) - astronaut).mean() < 4  # JPEG loss only
    cv2.imwrite(str(tmp_path / "float.tiff"), astronaut.astype(np.float32) / 255.0)
    capfd.readouterr()
    with pytest.raises(InputFileError, match="float.tiff.*not a readable image"):
        read_photo(tmp_path / "float.tiff")
    assert "WARN" not in capfd.readouterr().err  # OpenCV's decoder warning is silenced
    (tmp_path / "cut.png").write_bytes((tmp_path / "a.png").read_bytes()[:2000])
    with pytest.raises(InputFileError, match="cut.png"):
        read_photo(tmp_path / "cut.png")
    with pytest.raises(InputFileError, match="photo not found"):
        read_photo(tmp_path / "missing.jpg")


def test_alignment_scale(astronaut, face):
    _, m256 = align_face(astronaut, face.landmarks, size=256)
    _, m512 = align_face(astronaut, face.landmarks, size=512)
    assert alignment_scale(m512) == pytest.approx(2 * alignment_scale(m256))
    assert 2.5 < alignment_scale(m512) < 3.5  # the face box is 90 px wide, its FFHQ crop about 175 px


def test_ffhq_alignment_levels_eyes_and_round_trips(astronaut, face):
    aligned, M = align_face(astronaut, face.landmarks, size=256)
    assert aligned.shape == (256, 256, 3) and aligned.dtype == np.uint8
    lm = np.c_[face.landmarks, np.ones(68)] @ M.T
    eye_l, eye_r = lm[36:42].mean(0), lm[42:48].mean(0)
    assert abs(eye_l[1] - eye_r[1]) < 1.0  # level
    # FFHQ centres the crop 0.1 eye-to-mouth below the eyes: eyes at ~0.47 of the height
    mid = (eye_l + eye_r) / 2
    assert abs(mid[0] - 128) < 3 and 0.44 * 256 < mid[1] < 0.49 * 256
    back = unalign(aligned, M, astronaut.shape[:2])
    l, t, r, b = face.box
    err = np.abs(back[t:b, l:r].astype(float) - astronaut[t:b, l:r].astype(float)).mean()
    assert err < 12  # resampled twice
    q = ffhq_quad(face.landmarks)
    assert q.shape == (4, 2)


@pytest.mark.slow
def test_dlib_identity_is_unit_and_stable(astronaut, face):
    enc = DlibIdentityEncoder()
    e = enc.embed(astronaut, face.landmarks)
    assert e.shape == (128,) and abs(np.linalg.norm(e) - 1) < 1e-5
    # the same person resized and slightly rotated stays close (dlib: same person if distance < 0.6)
    M = cv2.getRotationMatrix2D((256, 256), 8, 0.8)
    other = cv2.warpAffine(astronaut, M, (512, 512), borderMode=cv2.BORDER_REFLECT)
    e2 = enc.embed(other)
    assert float(e @ e2) > 0.95
    # upside down (flipped vertically) is the mirrored face turned half a turn: found and read upright
    mirrored = enc.embed(np.ascontiguousarray(astronaut[:, ::-1]))
    assert float(enc.embed(np.ascontiguousarray(astronaut[::-1])) @ mirrored) > 0.999
    with pytest.raises(Id2rError, match="no face"):
        enc.embed(np.full((200, 300, 3), 120, np.uint8))


def test_arcface_loads_local_weights_strictly(tmp_path, astronaut, face):
    torch.manual_seed(0)
    net = IResNet((1, 1, 1, 1))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    enc = ArcFaceEncoder(tmp_path / "w.safetensors", layers=(1, 1, 1, 1))
    e = enc.embed(astronaut, face.landmarks)
    assert e.shape == (512,) and abs(np.linalg.norm(e) - 1) < 1e-5
    with pytest.raises(InputFileError, match="do not match"):
        ArcFaceEncoder(tmp_path / "w.safetensors", layers=(1, 2, 1, 1))
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(InputFileError, match="cannot read"):
        ArcFaceEncoder(tmp_path / "bad.safetensors")
