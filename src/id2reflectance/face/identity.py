"""Identity encoders: an image of a face -> an L2-normalised identity embedding.

Pluggable through :class:`IdentityEncoder`. The offline default is dlib's face
recognition ResNet (128-d, shipped by ``face-recognition-models``); an ArcFace
IResNet-100 (512-d, :mod:`id2reflectance.model.identity.iresnet`) loads from a local
weights file the user provides (nothing is ever downloaded).

Embedding aligned images (:func:`embed_aligned`): dataset views and aligned photos are
small (32 to 512 px) face crops, where dlib's detector often finds nothing. The image is
enlarged (bicubic) to at least :data:`EMBED_MIN_SIZE` pixels; the detector's largest face
is used when it finds one, otherwise dlib's 68-point shape predictor runs inside
:data:`ALIGNED_FACE_BOX`, the box dlib's detector reports on FFHQ-aligned faces (measured
on ``skimage.data.astronaut()`` aligned with :func:`~.detect.align_face`).

dlib and torch (for ArcFace) are imported when first needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from id2reflectance._shared.dlib_faces import model_file
from id2reflectance.errors import Id2rError, InputFileError
from id2reflectance.face.detect import _dlib_models, as_uint8_rgb, detect_faces, find_faces, upright

EMBED_MIN_SIZE = 256  # pixels; aligned images are enlarged to at least this before dlib runs
ALIGNED_FACE_BOX = (0.24, 0.36, 0.76, 0.88)  # (left, top, right, bottom) as fractions of the aligned side


class IdentityEncoder(Protocol):
    """Maps a face image to a unit-length identity embedding."""

    dim: int

    def embed(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """image (H, W, 3) uint8 RGB; landmarks (68, 2) (x, y) or None to detect.
        Returns (dim,) float32 with unit L2 norm."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Unit-length rows: (..., D) float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _image_and_landmarks(image: np.ndarray, landmarks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``image`` as (H, W, 3) uint8 RGB and the 68 landmarks to embed: ``landmarks`` when
    given, else those of the largest face found (:func:`~.face.find_faces`; a face found
    in the image turned comes back with the image turned upright)."""
    img = as_uint8_rgb(image)
    if landmarks is None:
        faces = find_faces(img)
        if not faces:
            raise Id2rError("no face found in the image for the identity embedding")
        img, landmarks = upright(img, faces[0])
    return img, np.asarray(landmarks, np.float64)


class DlibIdentityEncoder:
    """dlib's face recognition network (ResNet-29, 128-d, LFW accuracy 99.38%)."""

    dim = 128

    def __init__(self) -> None:
        import dlib  # heavy: imported when an encoder is made

        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))
        self._sp = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))

    def embed(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        return l2_normalise(self.descriptor(image, landmarks))

    def descriptor(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """dlib's own (128,) float32 descriptor, not normalised: distances between these are
        dlib's face distance (same person below 0.6). Arguments as :meth:`embed`."""
        img, lm = _image_and_landmarks(image, landmarks)
        x0, y0 = lm.min(0)
        x1, y1 = lm.max(0)
        rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        shape = self._sp(img, rect)
        return np.array(self._net.compute_face_descriptor(img, shape), np.float32)


class ArcFaceEncoder:
    """ArcFace IResNet-100 from a local weights file (.safetensors, or a .pt/.pth state
    dict loaded with ``weights_only=True``), loaded strictly."""

    dim = 512

    def __init__(self, weights: str | Path, *, layers: tuple[int, int, int, int] = (3, 13, 30, 3), device: str = "cpu"):
        # torch is heavy outside model/, training/, inference/ and evaluation/
        from id2reflectance.model.identity.iresnet import IResNet, read_state_dict

        path = Path(weights)
        state = read_state_dict(path, what="ArcFace weights")
        self.net = IResNet(layers)
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if missing or unexpected:
            first = (missing or unexpected)[0]
            raise InputFileError(
                path,
                first,
                f"weights do not match IResNet{layers}: {len(missing)} missing, {len(unexpected)} unexpected keys",
            )
        self.net.eval().to(device)
        self.device = device

    def embed(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        import torch  # heavy outside model/, training/, inference/ and evaluation/

        from id2reflectance.model.identity.iresnet import ARCFACE_TEMPLATE, five_points

        img, landmarks = _image_and_landmarks(image, landmarks)
        M, _ = cv2.estimateAffinePartial2D(five_points(landmarks), ARCFACE_TEMPLATE, method=cv2.LMEDS)
        crop = cv2.warpAffine(img, M, (112, 112), borderMode=cv2.BORDER_CONSTANT)
        with torch.no_grad():
            x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(self.device)
            return l2_normalise(self.net(x)[0].cpu().numpy())


# ----------------------------------------------------------------------------- aligned faces


def aligned_landmarks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """68 landmarks of the face in an aligned crop, on an enlarged copy.

    Parameters
    ----------
    image : (S, S, 3) uint8 sRGB, an aligned face (any S).

    Returns
    -------
    enlarged : (S', S', 3) uint8, the image enlarged (bicubic) to ``S' = max(S, EMBED_MIN_SIZE)``.
    landmarks : (68, 2) float64 (x, y) pixels of ``enlarged``.
    method : ``"detected"`` (dlib's detector found a face) or ``"box"`` (shape predictor
        inside :data:`ALIGNED_FACE_BOX`).
    """
    import dlib  # heavy: imported when first needed

    img = as_uint8_rgb(image)
    h, w = img.shape[:2]
    if h != w:
        raise InputFileError("image", None, f"an aligned face must be square, got {w}x{h}")
    if h < EMBED_MIN_SIZE:
        img = np.ascontiguousarray(cv2.resize(img, (EMBED_MIN_SIZE, EMBED_MIN_SIZE), interpolation=cv2.INTER_CUBIC))
    faces = detect_faces(img)
    if faces:
        return img, faces[0].landmarks, "detected"
    s = img.shape[0]
    left, top, right, bottom = (int(round(f * s)) for f in ALIGNED_FACE_BOX)
    _, predictor = _dlib_models()
    shape = predictor(img, dlib.rectangle(left, top, right, bottom))
    return img, np.array([[p.x, p.y] for p in shape.parts()], np.float64), "box"


def embed_aligned(encoder: IdentityEncoder, image: np.ndarray) -> tuple[np.ndarray, str]:
    """Identity embedding of an aligned face with an :class:`IdentityEncoder`.

    Returns ``(embedding (dim,) float32 unit, method)``; see :func:`aligned_landmarks`.
    """
    big, lm, method = aligned_landmarks(image)
    return np.asarray(encoder.embed(big, lm), np.float32), method
