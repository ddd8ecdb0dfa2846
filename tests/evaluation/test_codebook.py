import numpy as np
import pytest
import torch

from id2reflectance.evaluation.codebook import evaluate_codebook, psnr
from id2reflectance.model.codebook.config import config_to_dict, tiny
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.image_metrics import psnr as image_psnr
from tests.model.test_losses import _weights_file

pytestmark = pytest.mark.usefixtures("one_thread")


def test_psnr_reference_values():
    x = torch.zeros(2, 3, 4, 4)  # 0.5 in [0, 1]
    y = x.clone()
    y[0] += 0.2  # +0.1 in [0, 1] everywhere: MSE 0.01 -> 20 dB
    y[1, :, :, :2] += 0.2  # half the pixels: MSE 0.005 -> 23.01 dB
    p = psnr(y, x)
    assert p.dtype == torch.float64 and p.shape == (2,)
    assert p.tolist() == pytest.approx([20.0, 10 * torch.log10(torch.tensor(200.0)).item()])
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, :, :2] = 1
    assert psnr(y, x, mask).tolist() == pytest.approx([20.0, 20.0])
    assert psnr(x, x).tolist() == pytest.approx([100.0, 100.0])  # MSE floor
    assert psnr(torch.full((1, 3, 2, 2), 5.0), torch.ones(1, 3, 2, 2)).item() == pytest.approx(100.0)  # clipped to 1


def test_psnr_equals_the_numpy_metric_per_image():
    """The batched torch PSNR and image_metrics.psnr share one formula: equal per image,
    with and without a mask, at the 100 dB cap too."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    y = (x + 0.1 * torch.randn(3, 3, 8, 8, generator=g)).clamp(-1, 1)
    y[2] = x[2]  # identical images: the cap
    mask = (torch.rand(3, 1, 8, 8, generator=g) > 0.5).float()

    def hwc(t: torch.Tensor) -> np.ndarray:
        return ((t.double() + 1) / 2).permute(1, 2, 0).numpy()

    for m in (None, mask):
        got = psnr(y, x, m)
        for i in range(3):
            expected = image_psnr(hwc(y[i]), hwc(x[i]), None if m is None else m[i, 0].numpy())
            assert got[i].item() == pytest.approx(expected, rel=1e-12)
    assert psnr(y, x)[2].item() == image_psnr(hwc(y[2]), hwc(x[2])) == 100.0


def test_evaluate_with_local_lpips_weights(synthetic_dataset, tmp_path):
    torch.manual_seed(0)
    model = VQGAN(tiny().model)
    arch = {"kind": "vqgan", "config": config_to_dict(tiny())}
    p = ck.save_checkpoint(
        tmp_path / "c", step=0, arch=arch, model=model, ema=None, disc=None, optimizers={}, meta={"perceptual": False}
    )
    w = _weights_file(tmp_path / "lpips.safetensors")
    r = evaluate_codebook(p, synthetic_dataset, split="val", max_items=2, lpips_weights=w)
    assert r["items"] == 2 and r["weights"] == "model.safetensors" and r["perceptual"] is False
    assert set(r["lpips"]["recon"]) == {"rgb", "diffuse", "specular", "roughness", "normal"}
    assert all(v > 0 for v in r["lpips"]["recon"].values())
    assert "lpips" not in evaluate_codebook(p, synthetic_dataset, split="val", max_items=1)
    assert r["codebooks"]["shared"]["size"] == 64 and 1 <= r["codebooks"]["shared"]["used"] <= 64
