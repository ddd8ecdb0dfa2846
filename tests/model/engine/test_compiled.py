import logging

import pytest
import torch
from torch import nn

from id2reflectance.model.codebook.config import tiny
from id2reflectance.model.codebook.vqgan import DecoderBody
from id2reflectance.model.engine.compiled import check_compiled_gradients, compile_checked

pytestmark = pytest.mark.usefixtures("one_thread")


class _DetachInput(nn.Module):
    """Mimics the torch 2.13 CPU bug: same outputs, no gradient into the input."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.detach())


class _DoubleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class _WrongBackward(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(_DoubleGrad.apply(x))


def _decoder():
    torch.manual_seed(0)
    return DecoderBody(tiny().model), torch.randn(2, 32, 8, 8)


def test_identity_compile_accepted():
    dec, z = _decoder()
    res = check_compiled_gradients(dec, dec, z)
    assert res.ok and res.max_rel_err == 0.0 and res.reason == ""
    assert all(p.grad is None for p in dec.parameters())  # grads cleared afterwards


def test_zero_input_gradient_rejected_and_falls_back(caplog):
    dec, z = _decoder()
    with caplog.at_level(logging.WARNING, logger="id2reflectance.model.engine.compiled"):
        fn, res = compile_checked(dec, z, compile_fn=_DetachInput, name="decoder")
    assert fn is dec and not res.ok and res.worst == "input"
    assert "zero gradient into 'input'" in res.reason
    assert "torch.compile rejected for decoder" in caplog.text


def test_wrong_gradient_rejected_under_autocast():
    dec, z = _decoder()
    fn, res = compile_checked(dec, z, compile_fn=_WrongBackward, autocast_dtype=torch.bfloat16)
    assert fn is dec and not res.ok
    assert "gradient of 'input' differs from eager" in res.reason
    assert 0.95 < res.max_rel_err <= 1.0  # |2g - g| / (|g| + floor), floor << |g|


def test_compiler_failure_rejected():
    dec, z = _decoder()

    def boom(_m):
        raise RuntimeError("no C++ compiler")

    fn, res = compile_checked(dec, z, compile_fn=boom)
    assert fn is dec and not res.ok and "compilation failed: RuntimeError: no C++ compiler" in res.reason


@pytest.mark.slow
def test_real_torch_compile_aot_eager_accepted():
    dec, z = _decoder()
    fn, res = compile_checked(dec, z, compile_fn=lambda m: torch.compile(m, backend="aot_eager"))
    assert res.ok, res.reason
    assert fn is not dec and res.graphs >= 1 and res.max_rel_err < 1e-5


class _Float64(nn.Module):
    """A 'compiled' variant with other round-off: the same module evaluated in float64."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        params = {k: v.double() for k, v in self.inner.named_parameters()}
        return torch.func.functional_call(self.inner, params, (x.double(),)).float()


def test_round_off_of_analytically_zero_gradients_is_not_a_mismatch():
    torch.manual_seed(0)
    # the first conv's bias is cancelled by the one-channel-per-group GroupNorm: its gradient is round-off
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GroupNorm(4, 4), nn.SiLU(), nn.Conv2d(4, 3, 1))
    x = torch.randn(2, 3, 8, 8)
    res = check_compiled_gradients(m, _Float64(m), x)
    assert res.ok, res.reason
    assert res.max_rel_err < 1e-3  # without the round-off floor the error of 0.bias would be 1 (measured)
    w = m[0].bias
    g = torch.autograd.grad((m(x) * torch.randn(2, 3, 8, 8)).sum(), w)[0]
    assert g.norm() < 1e-4 * m[0].weight.numel() ** 0.5  # indeed round-off, so a plain relative error is meaningless
