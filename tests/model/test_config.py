import dataclasses
from pathlib import Path

import pytest
import yaml

from id2reflectance.errors import ConfigError
from id2reflectance.model.codebook.config import (
    PRESETS,
    RunConfig,
    config_from_dict,
    config_to_dict,
    load_run_config,
)
from id2reflectance.model.engine.checkpoint import first_difference
from id2reflectance.model.swapper.config import load_swapper_config


def test_presets_by_name_and_round_trip():
    for name, make in PRESETS.items():
        cfg = load_run_config(name)
        assert cfg == make()
        assert config_from_dict(config_to_dict(cfg)) == cfg  # plain dict (lists) -> same frozen config
    assert load_run_config("paper_512") == RunConfig()


def test_file_overrides_and_yaml_dump_reloads(tmp_path):
    (tmp_path / "c.toml").write_text(
        "[model]\nresolution = 128\nchannel_mult = [1, 2, 2, 4]\n[train]\nsteps = 7\nbetas = [0.5, 0.99]\n"
        '[fusion]\nmode = "joint"\n'
    )
    cfg = load_run_config(tmp_path / "c.toml")
    assert cfg.model.resolution == 128 and cfg.model.latent_resolution == 16
    assert cfg.train.steps == 7 and cfg.train.betas == (0.5, 0.99) and cfg.fusion.mode == "joint"
    assert cfg.model.codebook_size == 1024  # untouched fields keep the paper defaults
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert load_run_config(tmp_path / "r.yaml") == cfg


@pytest.mark.parametrize(
    "text, match",
    [
        ("[model]\nresolutoin = 128\n", r"model: unknown key\(s\) \['resolutoin'\]"),
        ("[trian]\nsteps = 1\n", r"unknown key\(s\) \['trian'\]"),
        ("[train]\nbf16 = 1\n", "train.bf16 must be true or false"),
        ('[fusion]\nmode = "mixed"\n', "fusion.mode must be one of"),
        ("[model]\nresolution = 100\n", "must be divisible by"),
        ("[model]\nnorm_groups = 7\n", "norm_groups 7 must divide"),
        ('[data]\ndomains = ["albedo"]\n', "data.domains must be"),
        ("[train]\nsteps = 0\n", "train.steps must be >= 1"),
    ],
)
def test_bad_config_named(tmp_path, text, match):
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_run_config(tmp_path / "c.toml")


def test_unknown_source_and_differences():
    with pytest.raises(ConfigError, match="neither a preset"):
        load_run_config("paper512")
    a = config_to_dict(RunConfig())
    b = config_to_dict(dataclasses.replace(RunConfig(), train=dataclasses.replace(RunConfig().train, lr=2e-4)))
    assert first_difference(a, b) == ("train.lr", 1e-4, 2e-4)
    assert first_difference(a, a) is None


def test_shipped_config_files_match_presets():
    root = Path(__file__).resolve().parents[2] / "configs" / "codebook"
    assert load_run_config(root / "cpu_128.yaml") == PRESETS["cpu_128"]()
    assert load_run_config(root / "paper_512.yaml") == PRESETS["paper_512"]()
    joint = load_run_config(root / "cpu_128_joint.yaml")
    assert joint.fusion.mode == "joint"
    assert dataclasses.replace(joint, fusion=dataclasses.replace(joint.fusion, mode="multi")) == PRESETS["cpu_128"]()


def test_every_shipped_config_file_loads():
    """configs/**/*.yaml: codebook configs load as RunConfig, swapper configs as SwapperRunConfig."""
    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.rglob("*.yaml"))
    assert len(files) >= 8
    for f in files:
        if "swapper" in f.name or f.parent.name == "swapper":
            assert load_swapper_config(str(f)).resolution in (32, 64, 128, 512), f
        else:
            assert load_run_config(f).model.resolution in (32, 64, 128, 512), f
