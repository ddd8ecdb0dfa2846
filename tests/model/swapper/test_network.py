"""IdentitySwapper: injection levels, identity initialisation, frozen base, outputs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.model.codebook.config import config_to_dict, cpu_128, tiny
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.swapper.network import (
    IdentityAdaIN,
    IdentitySwapper,
    SwapperConfig,
    available_levels,
    build_swapper,
    decoder_block_resolutions,
    swapper_arch,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _base(preset=tiny) -> MultiDomainVQGAN:
    torch.manual_seed(0)
    c = preset()
    return MultiDomainVQGAN(c.model, c.fusion, c.data.domains).eval()


def _inputs(b: int, r: int, dim: int = 128, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, r, r, generator=g) * 2 - 1
    e = F.normalize(torch.randn(b, dim, generator=g), dim=1)
    return x, e


def _feature_sizes(swapper: IdentitySwapper, x: torch.Tensor, e: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Shapes of the feature maps each AdaIN layer actually receives (forward hooks)."""
    seen: dict[str, tuple[int, ...]] = {}

    def hook(key: str):
        def record(mod, args, out) -> None:
            seen[key] = tuple(args[0].shape)

        return record

    hooks = [m.register_forward_hook(hook(k)) for k, m in swapper.adain.items()]
    try:
        swapper.swap_rgb(x, e)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_levels_map_to_decoder_feature_sizes_tiny():
    base = _base(tiny)
    assert available_levels(base) == (8, 16, 32)
    s = IdentitySwapper(base, SwapperConfig(levels=(16, 32), hidden=16))
    x, e = _inputs(2, 32)
    sizes = _feature_sizes(s, x, e)
    # tiny decoder: 2 ResBlocks per resolution (res_blocks + 1), widths 32 at 16 px, 16 at 32 px
    assert sorted(v[2:] for v in sizes.values()) == [(16, 16), (16, 16), (32, 32), (32, 32)]
    assert sorted(v[1] for v in sizes.values()) == [16, 16, 32, 32]


def test_levels_map_to_decoder_feature_sizes_cpu_128():
    base = _base(cpu_128)
    assert available_levels(base) == (16, 32, 64, 128)
    res = {r for _, r, _ in decoder_block_resolutions(base)}
    assert res == {16, 32, 64, 128}
    s = IdentitySwapper(base, SwapperConfig(levels=(16, 64), hidden=8))
    x, e = _inputs(1, 128)
    sizes = _feature_sizes(s, x, e)
    assert sorted(set(v[2:] for v in sizes.values())) == [(16, 16), (64, 64)]
    assert len(sizes) == 4  # 2 ResBlocks at each of the two levels


def test_unknown_level_raises_config_error_naming_available():
    with pytest.raises(ConfigError, match=r"swapper.levels \[64\].*available resolutions: \[8, 16, 32\]"):
        IdentitySwapper(_base(tiny), SwapperConfig(levels=(16, 64)))
    with pytest.raises(ConfigError, match="256"):
        IdentitySwapper(_base(cpu_128), SwapperConfig(levels=(16, 256)))
    with pytest.raises(ConfigError):
        SwapperConfig(levels=())


def test_zero_init_swapper_reproduces_base_exactly():
    base = _base(tiny)
    s = IdentitySwapper(base, SwapperConfig(levels=(8, 16, 32), hidden=16))
    x, e = _inputs(3, 32)
    with torch.no_grad():
        out = s.predict(x, e)
        ref = base.predict(x)
        rgb = base.decode(base.codebook("rgb")(base.encode(x)).z_q)
    assert set(out) == {"rgb", "diffuse", "specular", "roughness", "normal"}
    assert torch.equal(out["rgb"], rgb)
    for d in ("diffuse", "specular", "roughness", "normal"):
        assert torch.equal(out[d], ref[d]), d
    assert torch.equal(s.swap_rgb(x, e), rgb)


def test_trained_modulation_changes_output_with_identity():
    s = IdentitySwapper(_base(tiny), SwapperConfig(levels=(16,), hidden=16))
    with torch.no_grad():
        for p in s.adain.parameters():
            p.normal_(0, 0.1)
    x, e = _inputs(2, 32)
    with torch.no_grad():
        a = s.swap_rgb(x, e)
        b = s.swap_rgb(x, -e)
    assert float((a - b).abs().max()) > 1e-3


def test_gradients_reach_only_swapper_parameters():
    base = _base(tiny)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    s = IdentitySwapper(base, SwapperConfig(levels=(16, 32), hidden=16))
    s.train()
    assert not base.training and all(not m.training for m in base.modules())
    assert all(not p.requires_grad for p in base.parameters())
    own = s.trainable_parameters()
    assert own and all(p.requires_grad for p in own)
    x, e = _inputs(2, 32)
    with torch.no_grad():  # make the AdaIN non-trivial so gradients reach the mapping MLP too
        for m in s.adain.values():
            m.head.weight.normal_(0, 0.05)
    out = s.predict(x, e)
    sum(v.square().mean() for v in out.values()).backward()
    assert all(p.grad is None for p in base.parameters())
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in own)
    opt = torch.optim.SGD(own, lr=0.1)
    opt.step()
    for k, v in base.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_predict_shapes_and_attributes():
    s = IdentitySwapper(_base(tiny), SwapperConfig(levels=(16,), id_dim=64, hidden=16))
    assert s.resolution == 32 and s.id_dim == 64
    assert s.domains == ("rgb", "diffuse", "specular", "roughness", "normal")
    x, e = _inputs(2, 32, dim=64)
    out = s.predict(x, e)
    assert all(v.shape == (2, 3, 32, 32) and v.dtype == torch.float32 for v in out.values())
    with pytest.raises(ConfigError, match="identity must be"):
        s.swap_rgb(x, e[:, :32])
    with pytest.raises(ConfigError, match="template_rgb"):
        s.swap_rgb(x[:, :, :16, :16], e)


def test_build_swapper_from_arch_round_trip():
    arch = swapper_arch(config_to_dict(tiny()), SwapperConfig(levels=(16, 32), hidden=16))
    s = build_swapper(arch)
    assert isinstance(s, IdentitySwapper) and s.cfg.levels == (16, 32)
    bad = dict(arch, swapper={"levels": [64], "id_dim": 128, "hidden": 16})
    with pytest.raises(InputFileError, match="available resolutions"):
        build_swapper(bad)
    with pytest.raises(InputFileError, match="unknown key"):
        build_swapper(dict(arch, swapper={"levelz": [16]}))


def test_adain_formula_matches_reference():
    """h + gamma (h - mu) + beta sigma == AdaIN with target std sigma (1 + gamma), mean mu + beta sigma."""
    torch.manual_seed(3)
    m = IdentityAdaIN(4, 3)
    with torch.no_grad():
        m.head.weight.normal_()
        m.head.bias.normal_()
    h = torch.randn(2, 3, 5, 5)
    style = torch.randn(2, 4)
    gamma, beta = m.head(style).chunk(2, dim=1)
    mu = h.mean((2, 3), keepdim=True)
    sigma = (h.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    ref = (h - mu) / sigma * (sigma * (1 + gamma[..., None, None])) + mu + beta[..., None, None] * sigma
    np.testing.assert_allclose(m(h, style).detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
