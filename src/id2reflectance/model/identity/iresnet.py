"""ArcFace's IResNet backbone, its 5-point alignment template and local weight files.

The network of the ArcFace identity encoder (:class:`~id2reflectance.face.identity.ArcFaceEncoder`,
on photos) and of the differentiable identity network
(:class:`~id2reflectance.model.identity.student.ArcFaceIdentityNet`, on aligned faces).
Weights are read from a local file the user provides (nothing is ever downloaded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.engine.checkpoint import read_safetensors

# ArcFace's canonical 5-point template in a 112 x 112 crop (eyes, nose tip, mouth corners)
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


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


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """ArcFace's 5 points (image-left eye, image-right eye, nose tip, mouth corners)
    from 68 landmarks: (5, 2) float32."""
    lm = np.asarray(landmarks, np.float32)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def infer_iresnet_layers(state: dict[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """Blocks per stage of an IResNet from its state-dict keys (``layer<i>.<j>.…``)."""
    counts = []
    for i in range(1, 5):
        blocks = {k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}
        counts.append(len(blocks))
    if min(counts) < 1:
        raise ConfigError(f"not an IResNet state dict (blocks per stage {counts})")
    return counts[0], counts[1], counts[2], counts[3]


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
            return read_safetensors(path)
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except InputFileError as err:  # a malformed safetensors header, named by read_safetensors
        raise InputFileError(path, err.field, f"cannot read {what}: {err.message}") from err
    except Exception as err:
        raise InputFileError(path, None, f"cannot read {what} ({err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputFileError(path, None, f"{what}: expected a flat state dict of tensors")
    return state
