import pytest
import torch

from id2reflectance.model.codebook.config import VQGANConfig, cpu_128, paper_512, tiny
from id2reflectance.model.codebook.vqgan import VQGAN, AttnBlock
from id2reflectance.model.discriminator import (
    DiscConfig,
    PatchDiscriminator,
    adaptive_weight,
    hinge_d_loss,
    hinge_g_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tiny_shapes_and_gradients():
    torch.manual_seed(0)
    cfg = tiny().model
    m = VQGAN(cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    z = m.encode(x)
    assert z.shape == (2, cfg.latent_channels, 8, 8) == (2, 32, cfg.latent_resolution, cfg.latent_resolution)
    out = m(x)
    assert out.x_rec.shape == x.shape and out.quant.indices.shape == (2, 8, 8)
    (out.x_rec.abs().mean() + out.quant.loss).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []  # every parameter (encoder via straight-through, codebook via VQ loss) is trained
    assert any(isinstance(b, AttnBlock) for b in m.encoder.down)  # attention at the 8x8 level


def test_presets_latent_grid():
    for cfg, res, lat in ((paper_512().model, 512, 16), (cpu_128().model, 128, 16), (tiny().model, 32, 8)):
        assert cfg.resolution == res and cfg.latent_resolution == lat
    p = paper_512().model
    assert (p.latent_channels, p.codebook_size, p.beta) == (256, 1024, 0.25)


def test_paper_decoder_output_size_from_latent():
    # the paper-size decoder maps 16x16x256 to 512x512 (checked on the decoder alone, eval, no grad)
    cfg = VQGANConfig(base_channels=8, norm_groups=8)  # paper depth and latent, narrow widths for speed
    m = VQGAN(cfg).eval()
    with torch.no_grad():
        y = m.decode(torch.zeros(1, 256, 16, 16))
    assert y.shape == (1, 3, 512, 512)


def test_discriminator_and_hinge_reference_values():
    d = PatchDiscriminator(DiscConfig(base_channels=8, layers=3))
    logits = d(torch.zeros(2, 3, 64, 64))
    assert logits.shape == (2, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6 (PatchGAN 70x70-style head)
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.0])
    # relu(1 - real) = (0, 0.5, 2) -> 5/6; relu(1 + fake) = (0, 1, 2) -> 1; average -> 11/12
    assert float(hinge_d_loss(real, fake)) == pytest.approx(11 / 12)
    assert float(hinge_g_loss(fake)) == pytest.approx(1 / 3)


def test_adaptive_weight_is_gradient_norm_ratio():
    w = torch.ones(4, requires_grad=True)
    rec = 3.0 * w.sum()  # gradient 3 per element, norm 6
    g = 0.5 * w.sum()  # gradient 0.5 per element, norm 1
    lam = adaptive_weight(rec, g, w)
    assert float(lam) == pytest.approx(6.0 / (1.0 + 1e-4))
    assert not lam.requires_grad
    assert float(adaptive_weight(rec, 0.0 * g, w, max_weight=100.0)) == pytest.approx(100.0)  # clamped
