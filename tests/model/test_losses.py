import logging

import pytest
import torch
from safetensors.torch import save_file

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.losses import PerceptualLoss, load_perceptual, reconstruction_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def _weights_file(path, *, drop=None, bad_shape=None):
    torch.manual_seed(0)
    sd = {k: v.clone() for k, v in PerceptualLoss().state_dict().items()}
    for k, v in sd.items():
        if k.startswith("features") and k.endswith("weight"):
            torch.nn.init.kaiming_normal_(v)
        elif k.startswith("lin"):
            v.uniform_(0.0, 0.1)
        else:
            v.zero_()
    if drop:
        del sd[drop]
    if bad_shape:
        sd[bad_shape] = torch.zeros(1)
    save_file(sd, str(path))
    return path


def test_keys_follow_torchvision_and_lpips_layout():
    keys = set(PerceptualLoss().state_dict())
    convs = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    assert keys == {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")} | {
        f"lin.{j}.weight" for j in range(5)
    }


def test_without_weights_logs_and_returns_none(caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        assert load_perceptual(None) is None
    assert "training without perceptual loss" in caplog.text
    with pytest.raises(ConfigError, match="loss.perceptual_weights: file .* does not exist"):
        load_perceptual(tmp_path / "vgg.safetensors")


def test_bad_weight_files_name_the_key(tmp_path):
    with pytest.raises(InputFileError, match=r"p.safetensors: lin.4.weight: missing"):
        load_perceptual(_weights_file(tmp_path / "p.safetensors", drop="lin.4.weight"))
    with pytest.raises(InputFileError, match=r"q.safetensors: features.0.bias: shape \(1,\)"):
        load_perceptual(_weights_file(tmp_path / "q.safetensors", bad_shape="features.0.bias"))


def test_local_weights_give_a_distance(tmp_path):
    net = load_perceptual(_weights_file(tmp_path / "p.safetensors"))
    assert all(not p.requires_grad for p in net.parameters())
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = (x + 0.3 * torch.randn_like(x)).requires_grad_(True)
    d_same, d = net(x, x), net(x, y)
    assert d_same.shape == (2,) and torch.all(d_same.abs() < 1e-6) and torch.all(d > 1e-4)
    loss, parts = reconstruction_loss(x, y, l1_weight=1.0, perceptual=net, perceptual_weight=0.5)
    torch.testing.assert_close(loss, (x - y).abs().mean() + 0.5 * d.mean())
    loss.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0 and set(parts) == {"l1", "perceptual"}
    loss2, parts2 = reconstruction_loss(x, y, l1_weight=2.0, perceptual=None, perceptual_weight=1.0)
    torch.testing.assert_close(loss2, 2 * (x - y).abs().mean())
    assert set(parts2) == {"l1"}
