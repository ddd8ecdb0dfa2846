"""The on-disk cache of prefiltered environments: hits are bit-identical, changes miss,
bad entries and unwritable folders never crash nor give wrong tables."""

from __future__ import annotations

import errno
import logging
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared import atomic
from id2reflectance._shared.imageio import write_exr
from id2reflectance.processing.relight import envcache
from id2reflectance.processing.relight.envcache import cache_key, cached_prefilter, entry_path
from id2reflectance.processing.relight.envmap import load_environment
from id2reflectance.processing.relight.ibl import PrefilteredEnvironment, prefilter


def _write_env(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 2.0, (32, 64, 3)).astype(np.float32)
    img[10:12, 30:32] = 50.0  # a small bright light
    write_exr(path, img)
    return path


def _assert_identical(a: PrefilteredEnvironment, b: PrefilteredEnvironment) -> None:
    assert a.irradiance.dtype == b.irradiance.dtype == np.float32
    np.testing.assert_array_equal(a.irradiance, b.irradiance)
    np.testing.assert_array_equal(a.roughness, b.roughness)
    assert len(a.levels) == len(b.levels)
    for x, y in zip(a.levels, b.levels, strict=True):
        assert x.dtype == y.dtype == np.float32 and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


class _CountingPrefilter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args, **kwargs) -> PrefilteredEnvironment:
        self.calls += 1
        return prefilter(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> _CountingPrefilter:
    c = _CountingPrefilter()
    monkeypatch.setattr(envcache, "prefilter", c)
    monkeypatch.setattr(envcache, "_unwritable_warned", set())
    return c


def test_second_call_loads_from_disk_bit_identical(tmp_path: Path, counted: _CountingPrefilter) -> None:
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cache = tmp_path / "cache"
    first = cached_prefilter(env, cache_dir=cache)
    files = list(cache.iterdir())
    assert [f.name for f in files] == [entry_path(cache, env, cache_key(env)).name]
    assert files[0].name.startswith("room-")
    second = cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 1  # the second call computed nothing
    _assert_identical(first, second)
    _assert_identical(prefilter(env), second)
    assert second.env is env
    # a rotated copy shares the tables (rotation applies on lookup), a normalised one does not
    cached_prefilter(load_environment(tmp_path / "room.exr", rotate_deg=90), cache_dir=cache)
    assert counted.calls == 1
    cached_prefilter(load_environment(tmp_path / "room.exr", normalize="mean"), cache_dir=cache)
    assert counted.calls == 2 and len(list(cache.iterdir())) == 2


def test_changed_environment_file_misses(tmp_path: Path, counted: _CountingPrefilter) -> None:
    path = _write_env(tmp_path / "room.exr", 0)
    cache = tmp_path / "cache"
    old = cached_prefilter(load_environment(path), cache_dir=cache)
    _write_env(path, 1)  # same name and size, new content
    env = load_environment(path)
    new = cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 2
    assert not np.array_equal(old.irradiance, new.irradiance)
    _assert_identical(prefilter(env), new)
    assert len(list(cache.glob("room-*.npz"))) == 2
    # other roughness levels miss too
    cached_prefilter(env, cache_dir=cache, roughness_levels=(0.0, 0.5, 1.0))
    assert counted.calls == 3


def test_truncated_entry_is_recomputed_with_a_warning(
    tmp_path: Path, counted: _CountingPrefilter, caplog: pytest.LogCaptureFixture
) -> None:
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cache = tmp_path / "cache"
    cached_prefilter(env, cache_dir=cache)
    entry = entry_path(cache, env, cache_key(env))
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger=envcache.__name__):
        again = cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 2
    assert any(
        "unreadable environment cache entry" in r.getMessage() and str(entry) in r.getMessage() for r in caplog.records
    )
    _assert_identical(prefilter(env), again)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=envcache.__name__):
        _assert_identical(again, cached_prefilter(env, cache_dir=cache))  # the entry was rewritten whole
    assert counted.calls == 2 and not caplog.records


@pytest.mark.parametrize(
    ("field", "bad", "reason"),
    [
        ("level_03", lambda a: np.where(a > 0.5, np.nan, a).astype(np.float32), "finite"),
        ("level_00", lambda a: a.astype(np.float64), "float32"),
        ("irradiance", lambda a: a[:-1], "rows"),
        ("key", lambda a: np.array("0" * 64), "key"),
        ("version", lambda a: np.array(0, np.int64), "version"),
        ("version", lambda a: np.array("one"), "version"),
        ("roughness", lambda a: a[:-1], "roughness"),
    ],
)
def test_invalid_entry_is_recomputed_with_a_warning(
    tmp_path: Path, counted: _CountingPrefilter, caplog: pytest.LogCaptureFixture, field, bad, reason
) -> None:
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cache = tmp_path / "cache"
    cached_prefilter(env, cache_dir=cache)
    entry = entry_path(cache, env, cache_key(env))
    with np.load(entry) as z:
        data = {n: z[n] for n in z.files}
    data[field] = bad(data[field])
    np.savez(entry, **data)
    with caplog.at_level(logging.WARNING, logger=envcache.__name__):
        again = cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 2
    msgs = [r.getMessage() for r in caplog.records]
    assert any("invalid environment cache entry" in m and reason in m for m in msgs), msgs
    _assert_identical(prefilter(env), again)


def test_disabled_cache_writes_nothing(tmp_path: Path, counted: _CountingPrefilter, monkeypatch) -> None:
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cache = tmp_path / "cache"
    _assert_identical(prefilter(env), cached_prefilter(env, cache_dir=cache, use_cache=False))
    for value in ("0", "off", "FALSE"):
        monkeypatch.setenv("ID2R_ENV_CACHE", value)
        cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 4 and not cache.exists()
    monkeypatch.setenv("ID2R_ENV_CACHE", "1")
    cached_prefilter(env, cache_dir=cache)
    assert len(list(cache.iterdir())) == 1


def test_default_folder_is_under_id2r_cache_dir(tmp_path: Path, counted: _CountingPrefilter, monkeypatch) -> None:
    monkeypatch.setenv("ID2R_CACHE_DIR", str(tmp_path / "root"))
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cached_prefilter(env)
    assert [p.parent for p in (tmp_path / "root").rglob("*.npz")] == [tmp_path / "root" / "environments"]


def test_unwritable_folder_computes_and_warns_once(
    tmp_path: Path, counted: _CountingPrefilter, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    env = load_environment(_write_env(tmp_path / "room.exr", 0))
    cache = tmp_path / "cache"
    cache.mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(cache))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)  # a read-only file system (works as root too)
    with caplog.at_level(logging.WARNING, logger=envcache.__name__):
        a = cached_prefilter(env, cache_dir=cache)
        b = cached_prefilter(env, cache_dir=cache)
    assert counted.calls == 2 and not list(cache.iterdir())
    _assert_identical(prefilter(env), a)
    _assert_identical(a, b)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "not writable" in msgs[0] and str(cache) in msgs[0], msgs
    # a cache folder under a plain file cannot even be created: same behaviour, one warning for it
    caplog.clear()
    monkeypatch.undo()
    monkeypatch.setattr(envcache, "prefilter", counted)
    monkeypatch.setattr(envcache, "_unwritable_warned", set())
    (tmp_path / "file").write_text("x")
    with caplog.at_level(logging.WARNING, logger=envcache.__name__):
        _assert_identical(a, cached_prefilter(env, cache_dir=tmp_path / "file" / "cache"))
        cached_prefilter(env, cache_dir=tmp_path / "file" / "cache")
    assert len(caplog.records) == 1 and counted.calls == 4


def _fill(args: tuple[str, str]) -> str:
    env = load_environment(args[0])
    return cache_key(env) if cached_prefilter(env, cache_dir=args[1]).irradiance.size else ""


def test_two_processes_filling_at_once_leave_one_whole_entry(tmp_path: Path) -> None:
    path = _write_env(tmp_path / "room.exr", 0)
    cache = tmp_path / "cache"
    with multiprocessing.get_context("fork").Pool(2) as pool:
        keys = pool.map(_fill, [(str(path), str(cache))] * 4, chunksize=1)
    env = load_environment(path)
    assert set(keys) == {cache_key(env)}
    entry = entry_path(cache, env, keys[0])
    assert [p.name for p in cache.iterdir()] == [entry.name]  # one entry, no temporary file left
    loaded = envcache.load_entry(entry, env, keys[0], np.asarray(envcache.ROUGHNESS_LEVELS))
    assert loaded is not None
    _assert_identical(prefilter(env), loaded)
