import logging

import pytest
import torch
from torch import nn

from id2reflectance.model.compiled import check_compiled_gradients, compile_checked
from id2reflectance.model.config import tiny
from id2reflectance.model.vqgan import DecoderBody

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
    with caplog.at_level(logging.WARNING, logger="id2reflectance.model.compiled"):
        fn, res = compile_checked(dec, z, compile_fn=_DetachInput, name="decoder")
    assert fn is dec and not res.ok and res.worst == "input"
    assert "zero gradient into 'input'" in res.reason
    assert "torch.compile rejected for decoder" in caplog.text


def test_wrong_gradient_rejected_under_autocast():
    dec, z = _decoder()
    fn, res = compile_checked(dec, z, compile_fn=_WrongBackward, autocast_dtype=torch.bfloat16)
    assert fn is dec and not res.ok
    assert "gradient of 'input' differs from eager (relative error 1" in res.reason  # |2g - g| / |g| = 1


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
