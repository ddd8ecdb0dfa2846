import dataclasses

import pytest
import torch

from id2reflectance.model.codebook.config import tiny
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN, fusion_losses
from id2reflectance.model.codebook.vqgan import VQGAN

pytestmark = pytest.mark.usefixtures("one_thread")
DOMAINS = ("diffuse", "specular", "roughness", "normal")


def _stage1():
    torch.manual_seed(0)
    return VQGAN(tiny().model)


def test_from_stage1_copies_shared_weights_into_every_codebook():
    s1 = _stage1()
    m = MultiDomainVQGAN.from_stage1(s1, tiny().fusion, DOMAINS)
    assert sorted(m.codebooks) == sorted(("rgb", *DOMAINS))
    for name in m.codebooks:
        assert torch.equal(m.codebooks[name].embedding.weight, s1.quantizer.embedding.weight)
    assert m.codebooks["diffuse"].embedding.weight.data_ptr() != m.codebooks["normal"].embedding.weight.data_ptr()
    for a, b in zip(m.decoder.state_dict().values(), s1.decoder.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    joint = MultiDomainVQGAN.from_stage1(s1, dataclasses.replace(tiny().fusion, mode="joint"), DOMAINS)
    assert list(joint.codebooks) == ["joint"] and joint.codebook("normal") is joint.codebook("rgb")


def test_combine_is_convex_combination_of_codes():
    m = MultiDomainVQGAN(tiny().model, tiny().fusion, DOMAINS)
    book = torch.randn(64, 32)
    logits = torch.full((1, 64, 2, 2), -1e4)
    logits[0, 5, 0, 0] = logits[0, 9, 1, 1] = 1e4  # one-hot positions pick a single code
    logits[0, 3, 0, 1] = logits[0, 4, 0, 1] = 0.0  # equal weights on codes 3 and 4
    logits[0, :, 1, 0] = 0.0  # uniform over all codes
    z = m.fusion.combine(logits, book)
    torch.testing.assert_close(z[0, :, 0, 0], book[5])
    torch.testing.assert_close(z[0, :, 1, 1], book[9])
    torch.testing.assert_close(z[0, :, 0, 1], (book[3] + book[4]) / 2)
    torch.testing.assert_close(z[0, :, 1, 0], book.mean(0))


def test_forward_shapes_losses_and_gradient_routing():
    m = MultiDomainVQGAN.from_stage1(_stage1(), tiny().fusion, DOMAINS)
    imgs = {n: torch.rand(2, 3, 32, 32) * 2 - 1 for n in ("rgb", *DOMAINS)}
    out = m(imgs, decode_fused=True)
    for d in DOMAINS:
        assert out.x_rec[d].shape == (2, 3, 32, 32) and out.x_fused[d].shape == (2, 3, 32, 32)
        assert out.logits[d].shape == (2, 64, 8, 8) and out.z_fused[d].shape == (2, 32, 8, 8)
    ce, lat = fusion_losses(out, DOMAINS)
    assert ce > 0 and lat >= 0
    (ce + lat).backward()
    assert all(p.grad is None for p in m.encoder.parameters())  # fusion input detached from the encoder
    assert all(p.grad is None for p in m.codebooks.parameters())  # codebooks enter fusion detached
    assert all(p.grad is not None for p in m.fusion.parameters())
    pred = m.predict(imgs["rgb"])
    assert sorted(pred) == sorted(DOMAINS) and pred["normal"].shape == (2, 3, 32, 32)
