"""model/loading.py: every checkpoint kind rebuilt from its arch record and loaded strictly."""

import json

import pytest
import torch

from id2reflectance.errors import InputFileError
from id2reflectance.model.codebook.config import config_to_dict, tiny
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.ema import EMA
from id2reflectance.model.loading import CHECKPOINT_KINDS, build_model, load_model, load_swapper
from id2reflectance.model.swapper.network import IdentitySwapper, SwapperConfig, swapper_arch

pytestmark = pytest.mark.usefixtures("one_thread")
CONFIG = config_to_dict(tiny())
ARCHS = {
    "vqgan": {"kind": "vqgan", "config": CONFIG},
    "multidomain": {"kind": "multidomain", "config": CONFIG},
    "swapper": swapper_arch(CONFIG, SwapperConfig(levels=(16, 32), hidden=16)),
}


def _save(path, arch, *, seed=0, step=2):
    """A checkpoint of a freshly built model whose weights (and EMA) are perturbed."""
    torch.manual_seed(seed)
    model = build_model(arch)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    ema.update(model)
    ck.save_checkpoint(path, step=step, arch=arch, model=model, ema=ema.shadow, disc=None, optimizers={}, meta={})
    return model, ema


def test_the_table_builds_every_kind():
    assert set(CHECKPOINT_KINDS) == set(ARCHS)
    expected = {"vqgan": VQGAN, "multidomain": MultiDomainVQGAN, "swapper": IdentitySwapper}
    for kind, arch in ARCHS.items():
        assert type(build_model(arch)) is expected[kind], kind
    md = build_model(ARCHS["multidomain"])
    assert md.domains == tuple(tiny().data.domains)


def test_build_model_names_what_is_wrong():
    with pytest.raises(
        InputFileError, match=r"c.json: arch.kind: expected 'vqgan', 'multidomain' or 'swapper', got 'gan'"
    ):
        build_model({"kind": "gan", "config": CONFIG}, where="c.json")
    with pytest.raises(InputFileError, match="arch.kind"):
        build_model(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InputFileError, match="cannot rebuild the model.*unknown key"):
        build_model({"kind": "vqgan", "config": {**CONFIG, "modle": {}}})
    with pytest.raises(InputFileError, match="cannot rebuild the model"):
        build_model({"kind": "multidomain"})
    with pytest.raises(InputFileError, match="cannot rebuild the swapper"):
        build_model({"kind": "swapper", "config": CONFIG})


@pytest.mark.parametrize("kind", sorted(ARCHS))
def test_load_model_rebuilds_each_kind_from_a_run_folder(tmp_path, kind):
    arch = ARCHS[kind]
    _save(ck.step_dir(tmp_path / "run", 2), arch, seed=1)
    model, ema = _save(ck.step_dir(tmp_path / "run", 10), arch, seed=2, step=10)
    assert [c.name for c in ck.list_checkpoints(tmp_path / "run")] == ["step_00000002", "step_00000010"]
    loaded, doc = load_model(tmp_path / "run", weights="model")
    assert type(loaded) is type(model) and not loaded.training
    assert doc["loaded_from"].endswith("step_00000010") and doc["loaded_weights"] == "model.safetensors"
    assert doc["arch"] == json.loads(json.dumps(arch)) and doc["step"] == 10
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    from_ema, doc = load_model(ck.step_dir(tmp_path / "run", 10), weights="ema", kind=kind)
    assert doc["loaded_weights"] == "ema.safetensors"
    for k, v in ema.shadow.items():
        assert torch.equal(from_ema.state_dict()[k], v), k


def test_load_model_checks_the_kind_and_the_folder(tmp_path):
    _save(tmp_path / "ckpt", ARCHS["multidomain"])
    with pytest.raises(InputFileError, match="neither a checkpoint folder nor a run folder"):
        load_model(tmp_path / "empty")
    with pytest.raises(InputFileError, match="neither a swapper checkpoint folder nor a run folder"):
        load_swapper(tmp_path / "empty")
    with pytest.raises(
        InputFileError,
        match=r"arch.kind: expected a swapper checkpoint \('swapper'\), got 'multidomain' "
        r"\(train one with `id2r train swapper`\)",
    ):
        load_swapper(tmp_path / "ckpt")
    with pytest.raises(InputFileError, match=r"expected a stage-1 codebook checkpoint \('vqgan'\)"):
        load_model(tmp_path / "ckpt", kind="vqgan")
    assert isinstance(load_model(tmp_path / "ckpt", kind="multidomain")[0], MultiDomainVQGAN)


def test_weights_of_another_architecture_are_refused(tmp_path):
    _save(tmp_path / "ckpt", ARCHS["vqgan"])
    doc = json.loads((tmp_path / "ckpt" / ck.META_FILE).read_text())
    doc["arch"] = ARCHS["multidomain"]
    (tmp_path / "ckpt" / ck.META_FILE).write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="ema.safetensors: codebooks.* missing from the checkpoint"):
        load_model(tmp_path / "ckpt")


def test_load_swapper_returns_the_swapper(tmp_path):
    model, _ = _save(tmp_path / "ckpt", ARCHS["swapper"])
    swapper, doc = load_swapper(tmp_path / "ckpt", weights="model")
    assert isinstance(swapper, IdentitySwapper) and swapper.cfg.levels == (16, 32)
    for k, v in model.state_dict().items():
        assert torch.equal(swapper.state_dict()[k], v), k
