from dataclasses import dataclass, field
from typing import Literal

import pytest

from id2reflectance._shared.config import from_dict, load_config
from id2reflectance.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    a: int = 1


@dataclass(frozen=True)
class Cfg:
    size: int = 64
    rate: float = 0.5
    mode: Literal["fast", "exact"] = "fast"
    levels: tuple[int, ...] = (16, 32)
    inner: Inner = field(default_factory=Inner)
    name: str | None = None


def test_load_toml_and_yaml(tmp_path):
    (tmp_path / "c.toml").write_text('size = 128\nmode = "exact"\nlevels = [16, 32, 64]\n[inner]\na = 3\n')
    c = load_config(tmp_path / "c.toml", Cfg)
    assert c == Cfg(size=128, mode="exact", levels=(16, 32, 64), inner=Inner(3))
    (tmp_path / "c.yaml").write_text("rate: 1\nname: x\n")
    assert load_config(tmp_path / "c.yaml", Cfg) == Cfg(rate=1.0, name="x")


@pytest.mark.parametrize(
    "data, msg",
    [
        ({"sise": 3}, "unknown key"),
        ({"size": "3"}, "config.size must be an integer"),
        ({"size": True}, "must be an integer"),
        ({"mode": "slow"}, "must be one of"),
        ({"inner": {"b": 1}}, "config.inner: unknown key"),
        ({"levels": [1, "a"]}, r"levels\[1\]"),
    ],
)
def test_bad_configs(data, msg):
    with pytest.raises(ConfigError, match=msg):
        from_dict(Cfg, data)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.toml", Cfg)
    (tmp_path / "b.toml").write_text("size = = 1")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(tmp_path / "b.toml", Cfg)
    (tmp_path / "c.ini").write_text("")
    with pytest.raises(ConfigError, match="must be"):
        load_config(tmp_path / "c.ini", Cfg)


@pytest.mark.parametrize(
    "tagged",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        'name: !!python/object/apply:os.system ["touch {marker}"]',
        "name: !!python/name:os.system\n",
        'inner: !!python/object/new:pathlib.Path ["{marker}"]',
    ],
    ids=["apply-top", "apply-field", "name", "object-new"],
)
def test_yaml_with_python_tags_is_refused_and_runs_nothing(tmp_path, tagged):
    marker = tmp_path / "pwned"
    (tmp_path / "c.yaml").write_text(tagged.format(marker=marker) + "\n")
    with pytest.raises(
        ConfigError, match=r"c.yaml: cannot parse: could not determine a constructor .*tag:yaml.org,2002:python"
    ):
        load_config(tmp_path / "c.yaml", Cfg)
    assert not marker.exists()  # safe_load only: no tag ran code
