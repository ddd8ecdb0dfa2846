"""Swapper training: identity loss, checkpoints, resume, base checks, dlib embeddings, ArcFace."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from id2reflectance.errors import ConfigError, InputFileError
from id2reflectance.face.identity import aligned_landmarks, embed_aligned
from id2reflectance.model.engine.runlog import read_metrics
from id2reflectance.model.identity.iresnet import IResNet, infer_iresnet_layers
from id2reflectance.model.identity.student import ArcFaceIdentityNet
from id2reflectance.model.loading import load_swapper
from id2reflectance.model.swapper.config import cpu_128, load_swapper_config
from id2reflectance.model.swapper.network import IdentitySwapper
from id2reflectance.training.swapper import load_base, train_swapper
from tests.model_runs import tiny_swapper_config

pytestmark = pytest.mark.usefixtures("one_thread")


class _PixelIdentity(torch.nn.Module):
    """A fixed, clearly discriminative differentiable identity network for tests: a random
    projection of the 8x8 average-pooled image minus its mean colour, normalised."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.register_buffer("proj", torch.randn(192, 128, generator=g) / 192**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.adaptive_avg_pool2d(x.float(), 8)
        h = (h - h.mean(dim=(2, 3), keepdim=True)).flatten(1)
        return torch.nn.functional.normalize(h @ self.proj, dim=1)


def _random_identity_net() -> torch.nn.Module:
    return _PixelIdentity()


def test_identity_loss_falls(face_dataset, tiny_stage2_run, tmp_path):
    net = _random_identity_net()
    cfg = tiny_swapper_config(
        60, l1_weight=0.0, same_identity_prob=0.0, adversarial_weight=0.0, lr=1e-2, log_interval=5, eval_pairs=4
    )
    res = train_swapper(
        cfg, data=face_dataset, base=tiny_stage2_run, out=tmp_path / "run", device="cpu", identity_net=net
    )
    ident = [r["identity"] for r in read_metrics(res.run_dir)]
    assert len(ident) == 12
    assert np.mean(ident[-3:]) < 0.7 * np.mean(ident[:3]), ident  # measured: 0.033 -> 0.015
    assert res.identity_network == "custom:_PixelIdentity" and res.student_agreement is None
    # held-out identities (the test split's S0000): the swap is closer to them than the template
    assert res.heldout["pairs"] == 4 and res.heldout["sim_swapped"] > res.heldout["sim_template"], res.heldout


def test_tiny_swapper_run_contents(tiny_swapper_run):
    run = json.loads((tiny_swapper_run / "run.json").read_text())
    assert run["kind"] == "swapper" and run["train_subjects"] == ["S0001", "S0002", "S0003"]
    assert len(run["base"]["sha256"]) == 64 and run["base"]["weights"] in ("ema.safetensors", "model.safetensors")
    assert run["identity_network"]["kind"] == "dlib-student"
    assert 0.0 < run["identity_network"]["student_agreement"] <= 1.0
    assert load_swapper_config(tiny_swapper_run / "config.yaml") == tiny_swapper_config()
    keys = json.loads((tiny_swapper_run / "identity_targets.json").read_text())["keys"]
    targets = np.load(tiny_swapper_run / "identity_targets.npy")
    assert targets.shape == (len(keys), 128) and keys[0] == "S0001/front/rgb_full.png"
    np.testing.assert_allclose(np.linalg.norm(targets, axis=1), 1.0, atol=1e-5)
    records = read_metrics(tiny_swapper_run)
    assert records[-1]["step"] == 40 and all(r["identity"] is not None for r in records)
    assert records[-1]["gan_active"] == 1.0 and "d_loss" in records[-1]  # disc_start 30 < 40


def test_checkpoint_round_trip_is_bit_exact(tiny_swapper_run):
    model, doc = load_swapper(tiny_swapper_run)
    assert isinstance(model, IdentitySwapper) and not model.training
    assert doc["step"] == 40 and doc["arch"]["kind"] == "swapper"
    assert doc["meta"]["identity_network"]["kind"] == "dlib-student" and doc["meta"]["perceptual"] is False
    saved = load_file(str(tiny_swapper_run / "checkpoints" / "step_00000040" / doc["loaded_weights"]))
    state = model.state_dict()
    assert set(saved) == set(state)
    assert all(torch.equal(saved[k], state[k]) for k in state)
    again, _ = load_swapper(tiny_swapper_run / "checkpoints" / "step_00000040")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    e = torch.nn.functional.normalize(torch.randn(2, 128), dim=1)
    with torch.no_grad():
        a, b = model.predict(x, e), again.predict(x, e)
    assert all(torch.equal(a[k], b[k]) for k in a)
    trained = [v for k, v in state.items() if k.startswith("adain.")]
    assert any(float(v.abs().max()) > 0 for v in trained)  # the modulation did train


def test_resume_continues_the_same_run(face_dataset, tiny_stage2_run, tiny_swapper_run, tmp_path):
    out = tmp_path / "part"
    part = train_swapper(tiny_swapper_config(20), data=face_dataset, base=tiny_stage2_run, out=out, device="cpu")
    assert part.step == 20
    resumed = train_swapper(tiny_swapper_config(40), data=face_dataset, base=None, out=out, resume=True, device="cpu")
    assert resumed.step == 40
    run = json.loads((out / "run.json").read_text())
    assert [r["from_step"] for r in run["resumes"]] == [20]
    full, mine = read_metrics(tiny_swapper_run), read_metrics(out)
    assert [r["step"] for r in mine] == [r["step"] for r in full]
    for a, b in zip(full, mine, strict=True):  # identical losses, GAN terms included
        for key in ("loss", "identity", "l1_same", "g_loss", "d_loss"):
            assert a.get(key) == b.get(key), (a["step"], key)
    with pytest.raises(ConfigError, match="already holds a run"):
        train_swapper(tiny_swapper_config(40), data=face_dataset, base=tiny_stage2_run, out=out, device="cpu")
    changed = dataclasses.replace(
        tiny_swapper_config(50), swapper=dataclasses.replace(tiny_swapper_config().swapper, hidden=8)
    )
    with pytest.raises(ConfigError, match="swapper.hidden"):
        train_swapper(changed, data=face_dataset, base=None, out=out, resume=True, device="cpu")


def test_sigint_stops_at_the_current_step_with_a_checkpoint(face_dataset, tiny_stage2_run, tmp_path):
    import os
    import signal

    def interrupt_at_7(stage, done, total):
        if stage == "train swapper" and done == 7:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C or `timeout -s INT` would

    out = tmp_path / "stopped"
    res = train_swapper(
        tiny_swapper_config(40), data=face_dataset, base=tiny_stage2_run, out=out, device="cpu", progress=interrupt_at_7
    )
    assert res.step == 7 and res.checkpoint.name == "step_00000007"
    assert load_swapper(out)[1]["step"] == 7


def test_stage1_base_is_refused(face_dataset, tiny_stage2_run, tmp_path):
    stage1 = tiny_stage2_run.parent / "stage1"
    with pytest.raises(InputFileError, match="stage-2 base.*'vqgan'"):
        train_swapper(tiny_swapper_config(2), data=face_dataset, base=stage1, out=tmp_path / "r", device="cpu")
    with pytest.raises(ConfigError, match="128"):
        load_base(tiny_stage2_run, cpu_128())
    with pytest.raises(InputFileError, match="expected a swapper checkpoint"):
        load_swapper(tiny_stage2_run)


def test_max_subjects_and_photos(face_dataset, tiny_stage2_run, tmp_path):
    import cv2
    import skimage.data

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "astronaut.png"), skimage.data.astronaut()[..., ::-1])
    cv2.imwrite(str(photos / "blank.png"), np.full((64, 64, 3), 128, np.uint8))
    (photos / "broken.jpg").write_bytes(b"not an image")
    cfg = tiny_swapper_config(2, student_steps=2, eval_pairs=0)
    res = train_swapper(
        cfg, data=face_dataset, base=tiny_stage2_run, out=tmp_path / "r", photos=photos, max_subjects=1, device="cpu"
    )
    run = json.loads((res.run_dir / "run.json").read_text())
    assert run["train_subjects"] == ["S0001"] and run["max_subjects"] == 1
    assert run["photos"]["used"] == ["photo:astronaut.png"]
    assert sorted(s["file"] for s in run["photos"]["skipped"]) == ["blank.png", "broken.jpg"]
    keys = json.loads((res.run_dir / "identity_targets.json").read_text())["keys"]
    assert keys == [
        "S0001/front/rgb_full.png",
        "S0001/left/rgb_full.png",
        "S0001/right/rgb_full.png",
        "photo:astronaut.png",
    ]


def test_embed_aligned_on_a_real_photo_and_a_tiny_crop():
    import skimage.data

    from id2reflectance.face.detect import align_face, detect_faces
    from id2reflectance.face.identity import DlibIdentityEncoder

    img = skimage.data.astronaut()
    face = detect_faces(img)[0]
    enc = DlibIdentityEncoder()
    ref = enc.embed(img, face.landmarks)
    for size in (48, 128):
        aligned, _ = align_face(img, face.landmarks, size=size)
        e, method = embed_aligned(enc, aligned)
        assert e.shape == (128,) and e.dtype == np.float32 and abs(np.linalg.norm(e) - 1) < 1e-5
        assert method in ("detected", "box")
        assert float(e @ ref) > 0.9, (size, float(e @ ref))  # same person (dlib's threshold: distance 0.6)
    # a face-free grey crop: no detection, landmarks fitted in the canonical box
    big, lm, method = aligned_landmarks(np.full((40, 40, 3), 120, np.uint8))
    assert big.shape == (256, 256, 3) and lm.shape == (68, 2) and method == "box"


def test_arcface_identity_network(face_dataset, tiny_stage2_run, tmp_path):
    torch.manual_seed(0)
    net = IResNet((1, 1, 1, 1))
    weights = tmp_path / "arc.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    assert infer_iresnet_layers(load_file(str(weights))) == (1, 1, 1, 1)
    arc = ArcFaceIdentityNet(weights)
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    e = arc(x)
    assert e.shape == (2, 512)
    np.testing.assert_allclose(e.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)
    e.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0  # differentiable w.r.t. the image
    cfg = tiny_swapper_config(2, eval_pairs=0)
    res = train_swapper(cfg, data=face_dataset, base=tiny_stage2_run, out=tmp_path / "r", arcface=weights, device="cpu")
    model, doc = load_swapper(res.run_dir)
    assert model.id_dim == 512 and doc["arch"]["swapper"]["id_dim"] == 512
    assert doc["meta"]["identity_network"]["kind"] == "arcface"
    assert doc["meta"]["identity_network"]["layers"] == [1, 1, 1, 1]
    bad = tmp_path / "bad.safetensors"
    save_file({"conv1.weight": torch.zeros(1)}, str(bad))
    with pytest.raises(InputFileError):
        ArcFaceIdentityNet(bad)
