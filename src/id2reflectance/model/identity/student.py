"""Differentiable identity networks for the swapper's identity loss.

dlib's face recognition network (:class:`~id2reflectance.face.identity.DlibIdentityEncoder`, 128-d) is not
differentiable. :class:`IdentityStudent` is a small CNN distilled from it: it maps an
aligned face (B, 3, R, R) in [-1, 1] to a unit 128-d vector and is trained with the
cosine loss ``1 - cos(student(x), dlib(x))`` on the training images
(:func:`distill_student`). With ArcFace weights (:class:`ArcFaceIdentityNet`), the ArcFace
IResNet itself is the identity network (512-d), fed by a fixed differentiable crop.

The dlib targets of the distillation come from
:func:`id2reflectance.face.identity.embed_aligned` (the training stage computes them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from id2reflectance.errors import ConfigError, InputFileError, ShapeError
from id2reflectance.model.engine.checkpoint import load_tensors_strict
from id2reflectance.model.identity.iresnet import ARCFACE_TEMPLATE, IResNet, infer_iresnet_layers, read_state_dict

# ArcFace's five points (eyes, nose tip, mouth corners) in an FFHQ-aligned face, fractions of the side
# (measured on skimage.data.astronaut() aligned by face/detect.py)
ALIGNED_FIVE_POINTS = np.array(
    [[0.3747, 0.4771], [0.6247, 0.4801], [0.5076, 0.6175], [0.3730, 0.6934], [0.6323, 0.6920]], np.float64
)


@dataclass(frozen=True)
class StudentConfig:
    """Shape of the distilled identity CNN."""

    input_size: int = 64  # pixels; inputs are resized to this side first
    width: int = 32  # channels of the first layer, doubled per stage
    stages: int = 4  # stride-2 stages
    dim: int = 128  # embedding size (dlib's)

    def __post_init__(self) -> None:
        if self.input_size < 2**self.stages or self.width < 1 or self.stages < 1 or self.dim < 1:
            raise ConfigError(
                f"student: need input_size >= 2**stages, width/stages/dim >= 1; got {self.input_size}, "
                f"{self.width}, {self.stages}, {self.dim}"
            )


class IdentityStudent(nn.Module):
    """Small CNN: aligned face (B, 3, R, R) float32 in [-1, 1] (sRGB code values) -> (B, dim) unit vectors.

    Layers: bilinear resize to ``input_size``; per stage a stride-2 3x3 conv, GroupNorm,
    SiLU, a 3x3 conv, GroupNorm, SiLU; global average pooling; linear; L2 normalisation.
    """

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(cfg.stages):
            c = cfg.width * 2**i
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2, padding=1),
                nn.GroupNorm(min(8, c), c),
                nn.SiLU(),
                nn.Conv2d(c, c, 3, padding=1),
                nn.GroupNorm(min(8, c), c),
                nn.SiLU(),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, cfg.dim)
        self.dim = cfg.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.cfg.input_size
        if x.shape[-1] != s or x.shape[-2] != s:
            x = F.interpolate(x.float(), size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        h = self.features(x.float()).mean(dim=(2, 3))
        return F.normalize(self.fc(h), dim=1)


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking
    ``src`` points onto ``dst`` points.

    Parameters
    ----------
    src, dst : (N, 2) float (x, y) points, N >= 2, not all ``src`` points equal.

    Returns
    -------
    (2, 3) float64 ``[[a, -b, tx], [b, a, ty]]`` minimising ``sum |M [x, y, 1] - dst|^2``:
    what ``cv2.estimateAffinePartial2D`` returns when every point is an inlier (its
    refinement solves the same least squares).
    """
    p, q = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape != q.shape or len(p) < 2:
        raise ShapeError(f"fit_similarity: need two (N, 2) arrays with N >= 2, got {p.shape} and {q.shape}")
    n = len(p)
    a = np.zeros((2 * n, 4))
    a[0::2] = np.stack([p[:, 0], -p[:, 1], np.ones(n), np.zeros(n)], axis=1)  # x' = a x - b y + tx
    a[1::2] = np.stack([p[:, 1], p[:, 0], np.zeros(n), np.ones(n)], axis=1)  # y' = b x + a y + ty
    (ca, cb, tx, ty), _, rank, _ = np.linalg.lstsq(a, q.reshape(-1), rcond=None)
    if rank < 4:
        raise ShapeError("fit_similarity: the source points are all equal")
    return np.array([[ca, -cb, tx], [cb, ca, ty]])


def _five_point_crop_grid(size: int, *, batch: int, device: torch.device) -> torch.Tensor:
    """affine_grid sampling an aligned image so ArcFace's 5-point template lands where it should."""
    src = (ALIGNED_FIVE_POINTS * 2.0 - 1.0).astype(np.float32)  # aligned image, normalised [-1, 1]
    dst = (ARCFACE_TEMPLATE + 0.5) / 112.0 * 2.0 - 1.0  # crop, normalised [-1, 1]
    M = fit_similarity(dst.astype(np.float32), src)  # crop -> aligned
    theta = torch.from_numpy(M.astype(np.float32))[None].expand(batch, 2, 3).to(device)
    return F.affine_grid(theta, [batch, 3, size, size], align_corners=False)


class ArcFaceIdentityNet(nn.Module):
    """ArcFace IResNet as a differentiable identity network on FFHQ-aligned faces.

    ``forward``: (B, 3, R, R) float32 in [-1, 1] -> (B, 512) unit vectors, through a fixed
    similarity crop mapping :data:`ALIGNED_FIVE_POINTS` onto ArcFace's 112 px template
    (bilinear ``grid_sample``). Frozen, eval mode.

    Parameters
    ----------
    weights : local IResNet weights (.safetensors, or a .pt/.pth state dict loaded with
        ``weights_only=True``); the depth is read from the keys.
    """

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        path = Path(weights)
        state = read_state_dict(path, what="ArcFace weights")
        try:
            layers = infer_iresnet_layers(state)
        except ValueError as err:
            raise InputFileError(path, None, f"cannot read ArcFace weights ({err})") from err
        self.net = IResNet(layers)
        if path.suffix == ".safetensors":
            self.net.load_state_dict(load_tensors_strict(path, self.net.state_dict()), strict=True)
        else:
            try:
                self.net.load_state_dict(state, strict=True)
            except RuntimeError as err:
                raise InputFileError(path, None, f"weights do not match IResNet{layers}: {err}") from err
        self.layers = layers
        self.dim = 512
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ArcFaceIdentityNet:  # always eval (BatchNorm statistics frozen)
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = _five_point_crop_grid(112, batch=x.shape[0], device=x.device)
        crop = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return F.normalize(self.net(crop), dim=1)


# ----------------------------------------------------------------------------- distillation


@dataclass(frozen=True)
class DistillResult:
    """Outcome of :func:`distill_student`.

    Attributes
    ----------
    agreement : mean cosine between student and teacher embeddings on the held-out images.
    train_agreement : the same on the training images.
    held_out : number of held-out images.
    losses : per-step cosine loss (1 - mean cos) on the training batch.
    """

    agreement: float
    train_agreement: float
    held_out: int
    losses: list[float]


def distill_student(
    student: IdentityStudent,
    images: torch.Tensor,
    targets: torch.Tensor,
    held_out: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> DistillResult:
    """Train ``student`` (in place) to reproduce ``targets`` with the cosine loss.

    Parameters
    ----------
    images : (N, 3, R, R) float32 in [-1, 1], aligned faces.
    targets : (N, D) float32 unit teacher embeddings (e.g. dlib's).
    held_out : (N,) bool, images kept out of training and used for ``agreement``
        (when none is held out, ``agreement`` is measured on the training images).
    steps, batch_size, lr, seed : optimisation (Adam, batches drawn with a seeded generator).
    """
    if images.shape[0] != targets.shape[0] or held_out.shape[0] != images.shape[0]:
        raise ConfigError("distill_student: images, targets and held_out must have the same length")
    train_idx = torch.nonzero(~held_out).flatten()
    if train_idx.numel() == 0:
        raise ConfigError("distill_student: no training image left after the hold-out")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    student.train()
    losses = []
    for step in range(steps):
        pick = train_idx[torch.randint(train_idx.numel(), (min(batch_size, train_idx.numel()),), generator=gen)]
        x = images[pick]
        if torch.rand((), generator=gen) < 0.5:  # identity is mirror-invariant
            x = x.flip(-1)
        loss = 1.0 - (student(x) * targets[pick]).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, steps)
    student.eval()
    with torch.no_grad():
        cos = (student(images) * targets).sum(dim=1)
    test = held_out if bool(held_out.any()) else ~held_out
    return DistillResult(
        agreement=float(cos[test].mean()),
        train_agreement=float(cos[~held_out].mean()),
        held_out=int(held_out.sum()),
        losses=losses,
    )
