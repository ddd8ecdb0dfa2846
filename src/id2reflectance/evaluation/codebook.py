"""Evaluation of codebook checkpoints: PSNR per domain and codebook usage.

For every item of the evaluation split and every reflectance domain d:

- ``recon``: the map (and the RGB image, reported as domain ``rgb``) autoencoded through the checkpoint's codebook for d
  (``x_d -> E -> Q_d -> G``); for a stage-1 checkpoint Q_d is the single shared codebook,
  for a stage-2 ``joint`` checkpoint the single fine-tuned codebook, for ``multi`` the
  domain's own codebook;
- ``fusion`` (stage 2 only): the map predicted from the item's RGB image through the
  fusion module (``x_rgb -> E -> Q_rgb -> fusion -> G``), from the first configured
  environment's RGB image (``data.environments[0]``, normally ``full``).

PSNR is computed per image in the model's [0, 1] encoding of each domain (see the dataset
format: sRGB-encoded diffuse, ``min(1, 4 s)`` specular, ``r``, ``(n + 1) / 2``), as
``10 log10(1 / MSE)`` over all pixels and channels (``psnr``) and over the face mask only
(``psnr_masked``), then averaged over images. Codebook usage: over all evaluated positions,
the number of distinct codes used and the perplexity ``exp(entropy)`` of the code histogram.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from id2reflectance._shared.progress import ProgressFn
from id2reflectance.model.codebook.config import config_from_dict
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.quantizer import VectorQuantizer, code_perplexity
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.image_metrics import psnr_from_mse
from id2reflectance.model.loading import load_model
from id2reflectance.model.losses import load_perceptual

log = logging.getLogger(__name__)


def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR (dB) of images in [-1, 1], measured in [0, 1].

    Parameters
    ----------
    x, y : (B, C, H, W) float; values are mapped by ``(v + 1) / 2`` and clipped to [0, 1].
    mask : (B, 1, H, W) weights in [0, 1] or None (all pixels).

    Returns
    -------
    (B,) float64 PSNR (:func:`~id2reflectance.model.image_metrics.psnr_from_mse`, data range
    1); MSE is floored at 1e-10 (100 dB).
    """
    a = ((x.double() + 1) / 2).clamp(0, 1)
    b = ((y.double() + 1) / 2).clamp(0, 1)
    err = (a - b).square()
    if mask is None:
        mse = err.mean(dim=(1, 2, 3))
    else:
        w = mask.double().expand_as(err)
        mse = (err * w).sum(dim=(1, 2, 3)) / w.sum(dim=(1, 2, 3)).clamp_min(1e-12)
    return psnr_from_mse(mse)


def _label(model: torch.nn.Module) -> str:
    if isinstance(model, VQGAN):
        return "stage1-shared"
    assert isinstance(model, MultiDomainVQGAN)
    return f"stage2-{model.mode}"


@torch.no_grad()
def evaluate_codebook(
    checkpoint: str | Path,
    data: str | Path,
    *,
    split: str | None = None,
    weights: str = "ema",
    batch_size: int = 8,
    device: str | None = None,
    max_items: int | None = None,
    lpips_weights: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Evaluate a stage-1 or stage-2 checkpoint on a dataset split.

    Parameters
    ----------
    checkpoint : a checkpoint folder or a run folder (newest checkpoint).
    data : dataset folder.
    split : default: the run config's ``data.eval_split`` (held-out subjects).
    weights : ``"ema"`` (when saved) or ``"model"``.
    batch_size : images per forward pass.
    device : default CUDA when available, else CPU.
    max_items : evaluate only the first items (for quick checks).
    lpips_weights : local LPIPS-style weights (see :mod:`~id2reflectance.model.losses`);
        when given the result also holds ``lpips`` ``{"recon": {domain: mean}, "fusion":
        ...}``; without it no LPIPS figure is produced.
    progress : ``progress(stage, done, total)`` callback.

    Returns
    -------
    JSON-able dict: ``label``, ``checkpoint``, ``step``, ``split``, ``items``,
    ``perceptual`` (as trained), ``psnr`` / ``psnr_masked`` ``{"recon": {domain: dB},
    "fusion": {domain: dB}}`` (fusion only for stage 2), ``codebooks`` ``{name: {"size",
    "used", "perplexity"}}``, and ``lpips`` only when ``lpips_weights`` is given.
    """
    model, doc = load_model(checkpoint, weights=weights)
    cfg = config_from_dict(doc["arch"]["config"])
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev)
    lpips_net = load_perceptual(lpips_weights, device=dev) if lpips_weights is not None else None
    split = split or cfg.data.eval_split
    domains = cfg.data.domains
    # the dataset module imports OpenCV; this module stays importable without it (model-only GPU boxes)
    from id2reflectance.dataset.torch_dataset import ReflectanceDataset

    dataset = ReflectanceDataset(
        data,
        split=split,
        domains=("rgb", *domains),
        views=cfg.data.views,
        resolution=cfg.model.resolution,
        environments=cfg.data.environments[:1],
        augment=False,
    )
    n = len(dataset) if max_items is None else min(len(dataset), max_items)
    metrics = ("psnr", "psnr_masked", "lpips") if lpips_net is not None else ("psnr", "psnr_masked")
    sums: dict[str, dict[str, dict[str, float]]] = {key: {"recon": {}, "fusion": {}} for key in metrics}
    codes: dict[str, list[torch.Tensor]] = {}
    books: dict[str, VectorQuantizer]

    def quantise(name: str, book: VectorQuantizer, x: torch.Tensor) -> torch.Tensor:
        q = book(model.encode(x))
        codes.setdefault(name, []).append(q.indices.flatten().cpu())
        return model.decode(q.z_q).float()

    def add(kind: str, d: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        for key, m in (("psnr", None), ("psnr_masked", mask)):
            sums[key][kind][d] = sums[key][kind].get(d, 0.0) + float(psnr(pred, target, m).sum())
        if lpips_net is not None:
            sums["lpips"][kind][d] = sums["lpips"][kind].get(d, 0.0) + float(lpips_net(pred, target).sum())

    if isinstance(model, VQGAN):
        books = {"shared": model.quantizer}
    else:
        books = dict(model.codebooks.items())
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in range(start, min(n, start + batch_size))]
        batch = {k: torch.stack([it[k] for it in items]).to(dev) for k in ("rgb", "mask", *domains)}
        mask = batch["mask"]
        for d in ("rgb", *domains):
            if isinstance(model, VQGAN):
                add("recon", d, quantise("shared", model.quantizer, batch[d]), batch[d], mask)
            else:
                name = "joint" if model.mode == "joint" else d
                add("recon", d, quantise(name, model.codebook(d), batch[d]), batch[d], mask)
        if isinstance(model, MultiDomainVQGAN):
            pred = model.predict(batch["rgb"])
            for d in domains:
                add("fusion", d, pred[d].float(), batch[d], mask)
        if progress is not None:
            progress("evaluate", min(n, start + batch_size), n)
    result: dict[str, Any] = {
        "label": _label(model),
        "checkpoint": doc["loaded_from"],
        "weights": doc["loaded_weights"],
        "step": doc["step"],
        "split": split,
        "items": n,
        "perceptual": bool(doc["meta"].get("perceptual", False)),
    }
    for key in metrics:
        result[key] = {kind: {d: v / n for d, v in per.items()} for kind, per in sums[key].items() if per}
    result["codebooks"] = {}
    for name, book in books.items():
        if name not in codes:
            continue
        perplexity, used = code_perplexity(torch.cat(codes[name]), book.num_codes)
        result["codebooks"][name] = {"size": book.num_codes, "used": int(used), "perplexity": float(perplexity)}
    return result


def format_table(results: list[dict[str, Any]], *, domains: tuple[str, ...] | None = None) -> str:
    """Plain-text table: one row per (checkpoint, kind) with PSNR per domain and perplexity."""
    if not results:
        return ""
    domains = domains or tuple(d for d in results[0]["psnr"]["recon"] if d != "rgb")
    head = ["model", "kind", *domains, "mean", "masked mean", "rgb", "perplexity (used/size)"]
    rows = [head]
    for r in results:
        usage = "; ".join(
            f"{k} {v['perplexity']:.1f} ({v['used']}/{v['size']})" for k, v in sorted(r["codebooks"].items())
        )
        for kind, per in r["psnr"].items():
            masked = r["psnr_masked"][kind]
            rows.append(
                [
                    f"{r['label']} @{r['step']}",
                    kind,
                    *[f"{per[d]:.2f}" for d in domains],
                    f"{sum(per[d] for d in domains) / len(domains):.2f}",
                    f"{sum(masked[d] for d in domains) / len(domains):.2f}",
                    f"{per['rgb']:.2f}" if "rgb" in per else "-",
                    usage if kind == "recon" else "",
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(" |") for row in rows)
