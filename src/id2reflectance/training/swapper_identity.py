"""The swapper's identity network: ArcFace or a custom net, or a student distilled from dlib.

:func:`build_identity_net` gives the frozen network the identity loss differentiates
through and the teacher embeddings it is compared with; :func:`heldout_identity_check`
measures, after training, how far the swapper moves template faces towards held-out
identities.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from id2reflectance._shared.atomic import atomic_write, atomic_write_json, sha256_file
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.face.identity import DlibIdentityEncoder, embed_aligned
from id2reflectance.model.engine import checkpoint as ckpt
from id2reflectance.model.identity.student import ArcFaceIdentityNet, IdentityStudent, distill_student
from id2reflectance.model.swapper.config import SwapperRunConfig
from id2reflectance.model.swapper.network import IdentitySwapper
from id2reflectance.training.swapper_data import FaceImages, eval_face_images, teacher_embeddings, to_uint8

log = logging.getLogger(__name__)


STUDENT_FILE = "identity_student.safetensors"


def load_identity_student(run_dir: str | Path) -> tuple[IdentityStudent, int]:
    """The distilled identity student of a swapper run (``RUN/identity_student.safetensors``,
    its shape from ``RUN/config.yaml``), in eval mode, and the run's resolution R (the
    student reads FFHQ-aligned R x R faces).

    Raises
    ------
    InputFileError
        No student in the run (an ArcFace or custom-net run), or weights that do not match.
    """
    from id2reflectance.errors import InputFileError
    from id2reflectance.model.swapper.config import load_swapper_config

    run = Path(run_dir)
    path = run / STUDENT_FILE
    if not path.is_file():
        raise InputFileError(path, None, "no distilled identity student in this run (ArcFace or custom identity net?)")
    cfg = load_swapper_config(run / "config.yaml")
    student = IdentityStudent(cfg.student)
    student.load_state_dict(ckpt.load_tensors_strict(path, student.state_dict()), strict=True)
    return student.eval(), int(cfg.resolution)


def _student_tensors(student: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in student.state_dict().items()}


def build_identity_net(
    cfg: SwapperRunConfig,
    faces: FaceImages,
    run_dir: Path,
    *,
    arcface: str | Path | None,
    custom: nn.Module | None,
    resume: bool,
    device: torch.device,
    progress: ProgressFn | None,
) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    """Identity network (frozen), teacher targets (N, D) and its metadata record."""
    if arcface is not None or custom is not None:
        net = (ArcFaceIdentityNet(arcface) if custom is None else custom).to(device)
        net.requires_grad_(False)
        net.eval()
        kind = "arcface" if custom is None else f"custom:{type(net).__name__}"
        targets = teacher_embeddings(faces, run_dir, network=kind, net=net, device=device, progress=progress)
        info: dict[str, Any] = {"kind": kind, "dim": int(targets.shape[1]), "student_agreement": None}
        if custom is None:
            info.update(
                weights=str(Path(arcface).resolve()),  # type: ignore[arg-type]
                weights_sha256=sha256_file(arcface),  # type: ignore[arg-type]
                layers=list(net.layers),  # type: ignore[arg-type]
            )
        log.info("identity network: %s (%d-d)", kind, info["dim"])
        return net, targets.to(device), info
    targets = teacher_embeddings(faces, run_dir, network="dlib", net=None, progress=progress)
    student = IdentityStudent(cfg.student)
    path = run_dir / STUDENT_FILE
    info_path = run_dir / "identity_student.json"
    if resume and path.is_file() and info_path.is_file():
        student.load_state_dict(ckpt.load_tensors_strict(path, student.state_dict()), strict=True)
        info = json.loads(info_path.read_text(encoding="utf-8"))
        log.info("identity student reloaded from %s (held-out agreement %.3f)", path, info["student_agreement"])
    else:
        tc = cfg.train
        held = faces.held_out_mask(tc.student_holdout, seed=tc.seed)
        images = faces.tensor_all()
        torch.manual_seed(tc.seed + 17)  # the student's initialisation
        student = IdentityStudent(cfg.student)

        def tick(done: int, total: int) -> None:
            if progress is not None:
                progress("distil identity student", done, total)

        res = distill_student(
            student,
            images,
            targets.cpu(),
            held,
            steps=tc.student_steps,
            batch_size=tc.student_batch_size,
            lr=tc.student_lr,
            seed=tc.seed,
            progress=tick,
        )
        info = {
            "kind": "dlib-student",
            "dim": cfg.student.dim,
            "teacher": "dlib_face_recognition_resnet_model_v1",
            "student_agreement": res.agreement,
            "student_train_agreement": res.train_agreement,
            "student_held_out_images": res.held_out,
            "student_held_out_from": faces.held_out_source,
            "student_steps": cfg.train.student_steps,
        }
        tensors = _student_tensors(student)
        atomic_write(path, lambda p: save_file(tensors, str(p)))
        atomic_write_json(info_path, info)
        log.info(
            "identity student distilled from dlib: held-out cosine agreement %.3f (%d images), train %.3f",
            res.agreement,
            res.held_out,
            res.train_agreement,
        )
    student.requires_grad_(False)
    student.eval()
    return student.to(device), targets.to(device), info


@torch.no_grad()
def heldout_identity_check(
    swapper: IdentitySwapper,
    faces: FaceImages,
    data: Path,
    cfg: SwapperRunConfig,
    *,
    teacher_net: nn.Module | None,
    device: torch.device,
) -> dict[str, Any]:
    """Swap training templates towards held-out (``data.eval_split``) identities; measure with the teacher.

    Returns ``{"pairs", "sim_swapped", "sim_template", "teacher"}`` (means of
    cos(teacher(swap(T_a, e_b)), e_b) and cos(teacher(T_a), e_b)), or ``{}`` without held-out images.
    """
    n = cfg.train.eval_pairs
    if n == 0:
        return {}
    held = eval_face_images(data, cfg)
    if held is None or len(held) == 0:
        return {}
    gen = np.random.default_rng(cfg.train.seed + 99991)
    tmpl = gen.integers(0, len(faces), n)
    src = gen.integers(0, held.shape[0], n)
    x = faces.tensor(tmpl.tolist(), flip=[False] * n).to(device)
    h = held[torch.as_tensor(src)].to(device)
    if teacher_net is not None:
        e = teacher_net(h)
        y = swapper.swap_rgb(x, e)
        sim_s = (teacher_net(y) * e).sum(1)
        sim_t = (teacher_net(x) * e).sum(1)
        teacher = type(teacher_net).__name__
    else:
        enc = DlibIdentityEncoder()
        e_np = np.stack([embed_aligned(enc, to_uint8(img))[0] for img in h.cpu()])
        e = torch.from_numpy(e_np).to(device)
        y = swapper.swap_rgb(x, e).clamp(-1, 1)
        ys = np.stack([embed_aligned(enc, to_uint8(img))[0] for img in y.cpu()])
        xs = np.stack([embed_aligned(enc, to_uint8(img))[0] for img in x.cpu()])
        sim_s = torch.from_numpy((ys * e_np).sum(1))
        sim_t = torch.from_numpy((xs * e_np).sum(1))
        teacher = "dlib"
    return {
        "pairs": n,
        "sim_swapped": float(sim_s.mean()),
        "sim_template": float(sim_t.mean()),
        "teacher": teacher,
    }
