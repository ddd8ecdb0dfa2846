import json
import random

import numpy as np
import pytest
import torch

from id2reflectance._shared.atomic import sha256_file
from id2reflectance.errors import InputFileError
from id2reflectance.model.codebook.config import VQGANConfig, config_to_dict, tiny
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.codebook.vqgan import VQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.ema import EMA

pytestmark = pytest.mark.usefixtures("one_thread")
ARCH = {"kind": "vqgan", "config": config_to_dict(tiny())}


def _trained(seed):
    torch.manual_seed(seed)
    cfg = tiny()
    model, disc = VQGAN(cfg.model), PatchDiscriminator(cfg.disc)
    opts = {"gen": torch.optim.Adam(model.parameters(), lr=1e-3), "disc": torch.optim.Adam(disc.parameters(), lr=1e-3)}
    ema = EMA(model, decay=0.9)
    for _ in range(2):
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        out = model(x)
        ((out.x_rec - x).abs().mean() + out.quant.loss).backward()
        disc(out.x_rec.detach()).mean().backward()
        for o in opts.values():
            o.step()
            o.zero_grad()
        ema.update(model)
    return model, disc, opts, ema


def _save(path, model, disc, opts, ema):
    return ck.save_checkpoint(
        path, step=2, arch=ARCH, model=model, ema=ema.shadow, disc=disc, optimizers=opts, meta={"perceptual": False}
    )


def test_round_trip_is_bit_exact(tmp_path, monkeypatch):
    model, disc, opts, ema = _trained(0)
    p = _save(tmp_path / "a", model, disc, opts, ema)
    after_save = (torch.rand(3), np.random.rand(), random.random())
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load (pickle) must not be used"))
    model2, disc2, opts2, ema2 = _trained(1)  # different weights and optimiser moments
    doc = ck.load_checkpoint(p, model=model2, ema=ema2.shadow, disc=disc2, optimizers=opts2, rng=True)
    assert doc["step"] == 2 and doc["meta"]["perceptual"] is False
    assert (torch.rand(3).tolist(), np.random.rand(), random.random()) == (after_save[0].tolist(), *after_save[1:])
    for a, b in ((model, model2), (disc, disc2)):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert ka == kb and torch.equal(va, vb), ka
    for k in ema.shadow:
        assert torch.equal(ema.shadow[k], ema2.shadow[k])
    for name in opts:
        sa, sb = opts[name].state_dict(), opts2[name].state_dict()
        assert sa["param_groups"] == sb["param_groups"]
        for pid in sa["state"]:
            for field, v in sa["state"][pid].items():
                assert torch.equal(v, sb["state"][pid][field]), (name, pid, field)
    q = _save(tmp_path / "b", model2, disc2, opts2, ema2)  # re-saving the loaded objects gives identical files
    for f in ("model.safetensors", "ema.safetensors", "disc.safetensors", "optim.safetensors"):
        assert sha256_file(p / f) == sha256_file(q / f)


def test_other_architecture_names_file_and_first_key(tmp_path):
    model, disc, opts, ema = _trained(0)
    p = _save(tmp_path / "a", model, disc, opts, ema)
    wide = VQGAN(VQGANConfig(**{**config_to_dict(tiny())["model"], "base_channels": 24, "channel_mult": (1, 2, 2)}))
    with pytest.raises(InputFileError) as err:
        ck.load_checkpoint(p, model=wide)
    assert err.value.path.endswith("model.safetensors") and err.value.field == "encoder.conv_in.weight"
    assert "shape (16, 3, 3, 3) in the checkpoint, the model expects (24, 3, 3, 3)" in str(err.value)
    stage2 = MultiDomainVQGAN(tiny().model, tiny().fusion, ("diffuse", "normal"))
    with pytest.raises(InputFileError, match="model.safetensors: codebooks.rgb.usage: missing from the checkpoint"):
        ck.load_checkpoint(p, model=stage2)


def test_corrupted_files_are_refused(tmp_path):
    model, disc, opts, ema = _trained(0)
    p = _save(tmp_path / "a", model, disc, opts, ema)
    f = p / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="model.safetensors: sha256 differs"):
        ck.load_checkpoint(p, model=VQGAN(tiny().model))
    f.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")  # unreadable even when checksums are skipped
    with pytest.raises(InputFileError, match="not a readable safetensors file"):
        ck.load_module_strict(f, VQGAN(tiny().model))
    (p / "checkpoint.json").write_text("{not json")
    with pytest.raises(InputFileError, match="checkpoint.json: not valid JSON"):
        ck.load_checkpoint(p, model=VQGAN(tiny().model))
    doc = {"format": "something-else"}
    (p / "checkpoint.json").write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="format"):
        ck.read_checkpoint_meta(p)


# ----------------------------------------------------------------------------- torn checkpoints


def _run_with_two_checkpoints(tmp_path):
    model, disc, opts, ema = _trained(0)
    run = tmp_path / "run"
    for step in (2, 4):
        ck.save_checkpoint(
            ck.step_dir(run, step),
            step=step,
            arch=ARCH,
            model=model,
            ema=ema.shadow,
            disc=disc,
            optimizers=opts,
            meta={},
        )
    return run, ck.step_dir(run, 2), ck.step_dir(run, 4)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("tear", "named"),
    [
        (lambda d: _truncate(d / "model.safetensors"), "model.safetensors"),  # killed mid-write, not atomic
        (lambda d: (d / "optim.safetensors").unlink(), "optim.safetensors"),  # companion file missing
        (lambda d: _flip_byte(d / "ema.safetensors"), "ema.safetensors"),  # bad checksum
        (lambda d: _truncate(d / ck.META_FILE), ck.META_FILE),  # metadata torn
        (lambda d: (d / ck.META_FILE).unlink(), None),  # no checkpoint.json: never complete
    ],
    ids=["truncated", "missing-companion", "bad-checksum", "torn-json", "no-json"],
)
def test_a_torn_newest_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path, caplog, tear, named):
    run, older, newest = _run_with_two_checkpoints(tmp_path)
    tear(newest)
    with caplog.at_level("WARNING", logger=ck.__name__):
        assert ck.newest_intact_checkpoint(run) == older
    if named is not None:
        assert any(named in r.getMessage() and "torn" in r.getMessage() for r in caplog.records), caplog.text
        assert any("step_00000002" in r.getMessage() for r in caplog.records)


def test_no_intact_checkpoint_is_a_clear_error_naming_the_file(tmp_path):
    run, older, newest = _run_with_two_checkpoints(tmp_path)
    _truncate(newest / "model.safetensors")
    _flip_byte(older / "disc.safetensors")
    with pytest.raises(InputFileError, match=r"step_00000004/model.safetensors: sha256 differs.*no intact checkpoint"):
        ck.newest_intact_checkpoint(run)


def test_resume_skips_a_torn_checkpoint_and_removes_an_unfinished_one(tmp_path, caplog):
    run, older, newest = _run_with_two_checkpoints(tmp_path)
    (run / ck.RUN_FILE).write_text(json.dumps({"config": {"train": {"steps": 9}}, "dataset": {"sha256": "d"}}))
    unfinished = run / "checkpoints" / ".step_00000006.abc.tmp"  # what a kill during save leaves
    unfinished.mkdir()
    (unfinished / "model.safetensors").write_bytes(b"partial")
    _truncate(newest / "rng.safetensors")
    with caplog.at_level("WARNING"):
        got = ck.prepare_run_dir(
            run, resume=True, config={"train": {"steps": 9}}, data_sha="d", check_kind=lambda meta, path: None
        )
    assert got == older and not unfinished.exists()
    assert "rng.safetensors" in caplog.text


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ((1 << 62).to_bytes(8, "little") + b"{}", "over the 104857600 byte limit"),
        ((1000).to_bytes(8, "little") + b'{"a": 1}', "claims 1000 bytes but the file has 8"),
        ((4).to_bytes(8, "little") + b"[[[]", "is not a JSON object"),
        (b"\x01\x02", "not a safetensors file: 2 byte"),
    ],
    ids=["oversized", "past-the-end", "not-an-object", "too-short"],
)
def test_hostile_safetensors_headers_are_refused_before_parsing(tmp_path, monkeypatch, payload, message):
    path = tmp_path / "w.safetensors"
    path.write_bytes(payload)
    monkeypatch.setattr(ck, "load_file", lambda *a, **k: pytest.fail("parsed a header that fails the size checks"))
    with pytest.raises(InputFileError, match=message) as info:
        ck.load_tensors_strict(path, {"w": torch.zeros(1)})
    assert info.value.path == str(path)


def test_a_malformed_header_within_bounds_is_an_input_file_error(tmp_path):
    path = tmp_path / "w.safetensors"
    header = b"{" + b"[" * 50_000 + b"]" * 50_000 + b"}"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(InputFileError, match="w.safetensors: not a readable safetensors file"):
        ck.load_tensors_strict(path, {"w": torch.zeros(1)})


def test_a_checkpoint_json_that_drops_a_file_is_torn_too(tmp_path):
    run, older, newest = _run_with_two_checkpoints(tmp_path)
    (newest / "optim.safetensors").unlink()
    doc = json.loads((newest / ck.META_FILE).read_text())
    del doc["files"]["optim.safetensors"]  # removed from the list as well: no checksum to miss
    (newest / ck.META_FILE).write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="files: does not list optim.safetensors"):
        ck.read_checkpoint_meta(newest)
    assert ck.newest_intact_checkpoint(run) == older
