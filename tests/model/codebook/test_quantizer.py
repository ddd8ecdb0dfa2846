import math

import pytest
import torch

from id2reflectance.model.codebook.quantizer import VectorQuantizer, code_perplexity

pytestmark = pytest.mark.usefixtures("one_thread")


def _vq(k=16, c=4, seed=0):
    torch.manual_seed(seed)
    vq = VectorQuantizer(k, c, beta=0.25)
    with torch.no_grad():
        vq.embedding.weight.normal_()
    return vq


def test_nearest_matches_brute_force_and_lookup():
    vq = _vq()
    z = torch.randn(2, 4, 3, 5)
    idx = vq.nearest(z)
    assert idx.shape == (2, 3, 5) and idx.dtype == torch.int64
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(flat.double(), vq.embedding.weight.double()).argmin(1)
    assert torch.equal(idx.flatten(), brute)
    e = vq.lookup(idx)
    assert e.shape == z.shape
    torch.testing.assert_close(e[1, :, 2, 4], vq.embedding.weight[idx[1, 2, 4]])


def test_losses_and_straight_through_gradient():
    vq = _vq()
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = vq(z)
    e = vq.lookup(out.indices).detach()
    mse = ((z.detach() - e) ** 2).mean()
    torch.testing.assert_close(out.loss, (1 + 0.25) * mse)  # codebook + beta * commitment, same value forward
    torch.testing.assert_close(out.z_q.detach(), e)  # forward value is the code vector
    w = torch.randn_like(z)
    (out.z_q * w).sum().backward()
    torch.testing.assert_close(z.grad, w)  # straight-through: identity Jacobian
    # the codebook loss moves only the used codes
    vq.zero_grad()
    z2 = torch.randn(1, 4, 1, 1)
    vq(z2).loss.backward()
    used = vq.nearest(z2).item()
    grad_rows = vq.embedding.weight.grad.abs().sum(1) > 0
    assert grad_rows.nonzero().flatten().tolist() == [used]


def test_perplexity_reference_values():
    p, used = code_perplexity(torch.tensor([3, 3, 3, 3]), 8)
    assert float(p) == pytest.approx(1.0) and int(used) == 1
    p, used = code_perplexity(torch.arange(8).repeat(5), 8)
    assert float(p) == pytest.approx(8.0) and int(used) == 8
    # histogram (1/2, 1/4, 1/4): exp(1.5 ln 2) = 2 ** 1.5
    p, _ = code_perplexity(torch.tensor([0, 0, 1, 2]), 4)
    assert float(p) == pytest.approx(2**1.5)
    assert math.isclose(float(p), 2.8284271, rel_tol=1e-6)


def test_usage_ema_and_dead_code_restart():
    vq = _vq(k=8, c=4)
    vq.train()
    z = vq.embedding.weight[0].detach().view(1, 4, 1, 1).expand(2, 4, 2, 2).clone()  # every position -> code 0
    for _ in range(300):
        vq(z)
    assert vq.usage[0] > 0.9 and (vq.usage[1:] < 0.01).all()
    fresh = torch.randn(1, 4, 4, 4)
    n = vq.restart_dead_codes(fresh, threshold=0.5, generator=torch.Generator().manual_seed(0))
    assert n == 7
    rows = fresh.permute(0, 2, 3, 1).reshape(-1, 4)
    for k in range(1, 8):  # each restarted code is one of the batch's encoder outputs
        assert (rows - vq.embedding.weight[k]).abs().sum(1).min() < 1e-6
    assert torch.allclose(vq.usage[1:], torch.full((7,), 1 / 8))
    assert vq.restart_dead_codes(fresh, threshold=0.5) == 0
    vq.eval()
    before = vq.usage.clone()
    vq(z)
    assert torch.equal(vq.usage, before)  # no statistics in eval mode
