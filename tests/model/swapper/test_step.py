"""SwapperStep: one training step of the swapper (what it updates, which losses run), and
scripts/gpu_swapper_bench.sh (bench_swap and bench_train_swapper, which times the step)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from id2reflectance.model.codebook.config import tiny
from id2reflectance.model.codebook.fusion import MultiDomainVQGAN
from id2reflectance.model.discriminator import PatchDiscriminator
from id2reflectance.model.identity.student import IdentityStudent
from id2reflectance.model.swapper.config import tiny as tiny_swapper
from id2reflectance.model.swapper.network import IdentitySwapper
from id2reflectance.model.swapper.step import SwapperStep

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[3]


def _step(*, l1_weight: float = 1.0, adversarial_weight: float = 0.1, lr: float = 2e-3) -> SwapperStep:
    torch.manual_seed(0)
    c = tiny()
    base = MultiDomainVQGAN(c.model, c.fusion, c.data.domains).eval()
    cfg = tiny_swapper()
    swapper = IdentitySwapper(base, cfg.swapper)
    idnet = IdentityStudent(cfg.student).eval().requires_grad_(False)
    disc = PatchDiscriminator(cfg.disc)
    tc = dataclasses.replace(cfg.train, l1_weight=l1_weight, adversarial_weight=adversarial_weight, lr=lr)
    opt_g = torch.optim.Adam(swapper.trainable_parameters(), lr=tc.lr, betas=tc.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=tc.lr, betas=tc.betas)
    swapper.train()
    return SwapperStep(swapper, idnet, disc, opt_g, opt_d, None, tc, "cpu")


def _batch(b: int = 4, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, 32, 32, generator=g) * 2 - 1
    e = F.normalize(torch.randn(b, 128, generator=g), dim=1)
    return x, e, torch.arange(b) % 2 == 0


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_step_updates_only_the_modulation_and_the_discriminator_when_gan():
    step = _step()
    x, e, same = _batch()
    base0, sw0, d0, id0 = (
        _snapshot(step.swapper.base),
        _snapshot(step.swapper),
        _snapshot(step.disc),
        _snapshot(step.idnet),
    )
    m = step(x, e, same, gan=False)
    assert set(m) == {"identity", "id_sim", "l1_same", "loss"}
    assert abs(m["identity"] + m["id_sim"] - 1.0) < 1e-6
    assert not _changed(base0, step.swapper.base)  # frozen stage-2 model
    assert not _changed(id0, step.idnet)
    assert not _changed(d0, step.disc)  # no GAN: the discriminator is untouched
    moved = _changed(sw0, step.swapper)
    assert moved and all(k.startswith(("mapping.", "adain.")) for k in moved)
    m = step(x, e, same, gan=True)
    assert {"g_loss", "d_loss"} <= set(m)
    assert _changed(d0, step.disc)
    assert not _changed(base0, step.swapper.base)


def test_step_without_same_identity_rows_has_no_reconstruction_loss():
    step = _step()
    x, e, _ = _batch()
    m = step(x, e, torch.zeros(4, dtype=torch.bool), gan=False)
    assert "l1_same" not in m
    assert m["loss"] == pytest.approx(m["identity"] * step.train.identity_weight, rel=1e-5)


def test_steps_raise_identity_similarity_to_the_source():
    # identity loss alone, fixed batch: the modulation learns to move the identity network's
    # embedding of the swap towards the source identity
    step = _step(l1_weight=0.0, adversarial_weight=0.0, lr=1e-2)
    x, e, same = _batch()
    first = step(x, e, same, gan=False)["id_sim"]
    for _ in range(30):
        last = step(x, e, same, gan=False)["id_sim"]
    assert last > first + 0.05


@pytest.mark.slow
def test_gpu_swapper_bench_script_runs_both_benchmarks_on_cpu(tmp_path):
    # scripts/gpu_swapper_bench.sh with DEVICE=cpu: the same commands the GPU machine runs
    env = {**os.environ, "DEVICE": "cpu", "PRESETS": "tiny", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        ["bash", str(ROOT / "scripts/gpu_swapper_bench.sh"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    train = (tmp_path / "out/bench_train_swapper.txt").read_text().splitlines()
    rows = [line for line in train if line.startswith("tiny 32px batch 4")]
    assert len(rows) == 4, train
    for line in rows:
        value, ref, ratio = (float(c) for c in line.split("|")[1:])
        assert value > 0 and ref > 0 and ratio == pytest.approx(value / ref, abs=0.01)
    assert "bf16 autocast vs fp32" in rows[2]
    assert "cosine to fp32" in rows[3] and 0.9 < float(rows[3].split("|")[1]) <= 1.0 + 1e-6
    swap = (tmp_path / "out/bench_swap.txt").read_text().splitlines()
    assert any(line.startswith("tiny 32px fp32: one face") for line in swap), swap
    assert any(line.startswith("tiny 32px bf16: one face") for line in swap), swap
