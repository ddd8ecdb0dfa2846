import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from id2reflectance.model.codebook.config import config_to_dict, tiny
from id2reflectance.model.engine import checkpoint as ck
from id2reflectance.model.engine.runlog import read_metrics
from id2reflectance.model.engine.sampling import StepBatchSampler
from id2reflectance.training.codebook import train_codebook

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sampler_splits_the_same_stream_over_ranks_and_micro_steps():
    one = StepBatchSampler(10, batch=4, seed=3)
    two = [StepBatchSampler(10, batch=1, accum=2, world=2, rank=r, seed=3) for r in range(2)]
    for step in range(4):  # global samples 4s .. 4s+3 in both layouts
        split = [two[r].batch_keys(step, m)[0] for m in range(2) for r in range(2)]
        assert split == one.batch_keys(step, 0)
    keys = [k for s in range(5) for k in one.batch_keys(s, 0)]  # 20 samples = 2 epochs
    assert sorted(i for i, e in keys if e == 0) == list(range(10)) == sorted(i for i, e in keys if e == 1)
    resumed = iter(StepBatchSampler(10, batch=4, seed=3, start_step=3))
    assert next(resumed) == one.batch_keys(3, 0)


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(synthetic_dataset, tmp_path):
    base = tiny()
    cfg = dataclasses.replace(
        base,
        model=dataclasses.replace(base.model, dead_code_restart=False),
        disc=dataclasses.replace(base.disc, start_step=100),
        train=dataclasses.replace(base.train, steps=3, batch_size=2, log_interval=1),
    )
    single = train_codebook(cfg, stage=1, data=synthetic_dataset, out=tmp_path / "one")
    d = config_to_dict(cfg)
    d["train"]["batch_size"] = 1  # 2 processes x 1 = the same global batch of 2
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(d))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [
        "-m",
        "id2reflectance.cli.main",
        "train",
        "codebook",
        "--stage",
        "1",
        "--config",
        str(tmp_path / "ddp.yaml"),
    ]
    cmd += ["--data", str(synthetic_dataset), "--out", str(tmp_path / "two"), "--no-progress", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = read_metrics(single.run_dir), read_metrics(tmp_path / "two")
    assert [r["step"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b, strict=True):  # same samples, gradients averaged over ranks = one batch of 2
        assert rb["l1"] == pytest.approx(ra["l1"], rel=1e-5), ra["step"]
        assert rb["vq"] == pytest.approx(ra["vq"], rel=1e-4), ra["step"]
    meta = ck.read_checkpoint_meta(ck.list_checkpoints(tmp_path / "two")[-1])
    assert meta["meta"]["world_size"] == 2
