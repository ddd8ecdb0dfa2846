"""Real face detection and identity on scikit-image's astronaut photo (Eileen Collins)."""

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from safetensors.torch import save_file

from id2reflectance.errors import Id2rError, InputFileError
from id2reflectance.model.face import align_face, detect_faces, ffhq_quad, unalign
from id2reflectance.model.identity import ArcFaceEncoder, DlibIdentityEncoder, IResNet


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


def test_dlib_identity_is_unit_and_stable(astronaut, face):
    enc = DlibIdentityEncoder()
    e = enc.embed(astronaut, face.landmarks)
    assert e.shape == (128,) and abs(np.linalg.norm(e) - 1) < 1e-5
    # the same person resized and slightly rotated stays close (dlib: same person if distance < 0.6)
    M = cv2.getRotationMatrix2D((256, 256), 8, 0.8)
    other = cv2.warpAffine(astronaut, M, (512, 512), borderMode=cv2.BORDER_REFLECT)
    e2 = enc.embed(other)
    assert float(e @ e2) > 0.95
    # a different face: the image flipped upside down is not detected as a face at all
    with pytest.raises(Id2rError, match="no face"):
        enc.embed(np.ascontiguousarray(astronaut[::-1]))


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
