"""Identity encoders: an image of a face -> an L2-normalised identity embedding.

Pluggable through :class:`IdentityEncoder`. The offline default is dlib's face
recognition ResNet (128-d, shipped by ``face-recognition-models``); an ArcFace
IResNet-100 (512-d) loads from a local weights file the user provides (nothing is ever
downloaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from id2reflectance.errors import Id2rError, InputFileError


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
    from id2reflectance.face.detect import as_uint8_rgb, find_faces, upright

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
        import dlib

        from id2reflectance.face.detect import model_file

        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))
        self._sp = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))

    def embed(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        img, lm = _image_and_landmarks(image, landmarks)
        x0, y0 = lm.min(0)
        x1, y1 = lm.max(0)
        rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        shape = self._sp(img, rect)
        d = np.array(self._net.compute_face_descriptor(img, shape), np.float32)
        return l2_normalise(d)


# ----------------------------------------------------------------- ArcFace


class _IBlock(nn.Module):
    """IResNet basic block: BN-conv-BN-PReLU-conv-BN with a (strided) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout, eps=1e-5))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """ArcFace IResNet backbone: (B, 3, 112, 112) in [-1, 1] -> (B, 512) embedding.

    ``layers = (3, 13, 30, 3)`` is IResNet-100. Parameter names follow the common
    insightface layout (conv1, bn1, prelu, layer1..4, bn2, fc, features) so published
    weights converted to safetensors load strictly.
    """

    def __init__(self, layers: tuple[int, int, int, int] = (3, 13, 30, 3), dim: int = 512) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        widths = (64, 128, 256, 512)
        cin = 64
        for i, (n, w) in enumerate(zip(layers, widths), start=1):
            blocks = [_IBlock(cin, w, 2)] + [_IBlock(w, w, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            cin = w
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, dim)
        self.features = nn.BatchNorm1d(dim, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


# ArcFace's canonical 5-point template in a 112 x 112 crop (eyes, nose tip, mouth corners)
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """ArcFace's 5 points (image-left eye, image-right eye, nose tip, mouth corners)
    from 68 landmarks: (5, 2) float32."""
    lm = np.asarray(landmarks, np.float32)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def read_state_dict(path: str | Path, *, what: str = "weights") -> dict[str, torch.Tensor]:
    """Tensors of a local weights file: ``.safetensors``, or a ``.pt``/``.pth`` state dict
    loaded with ``weights_only=True`` (never unpickles arbitrary objects).

    Raises InputFileError naming the file when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, f"{what} file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputFileError(path, None, f"cannot read {what} ({err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputFileError(path, None, f"{what}: expected a flat state dict of tensors")
    return state


class ArcFaceEncoder:
    """ArcFace IResNet-100 from a local weights file (.safetensors, or a .pt/.pth state
    dict loaded with ``weights_only=True``), loaded strictly."""

    dim = 512

    def __init__(self, weights: str | Path, *, layers: tuple[int, int, int, int] = (3, 13, 30, 3), device: str = "cpu"):
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

    @torch.no_grad()
    def embed(self, image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        import cv2

        img, landmarks = _image_and_landmarks(image, landmarks)
        M, _ = cv2.estimateAffinePartial2D(five_points(landmarks), ARCFACE_TEMPLATE, method=cv2.LMEDS)
        crop = cv2.warpAffine(img, M, (112, 112), borderMode=cv2.BORDER_CONSTANT)
        x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(self.device)
        return l2_normalise(self.net(x)[0].cpu().numpy())
