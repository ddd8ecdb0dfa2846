"""On-disk cache of prefiltered image environments (:func:`~.ibl.prefilter` results).

Prefiltering one 512 x 1024 map takes seconds; ``id2r relight``, the report's viewer (all
eight built-in maps), the demo and the dataset's lit views would otherwise pay it in every
process. :func:`cached_prefilter` stores the tables once per environment and loads them
afterwards, bit-identical to a fresh :func:`~.ibl.prefilter`.

Folder: ``$ID2R_CACHE_DIR/environments`` (default ``~/.cache/id2reflectance/environments``,
or under ``$XDG_CACHE_HOME``; :func:`~id2reflectance._shared.cachedir.default_cache_dir`),
or the ``cache_dir`` argument. ``ID2R_ENV_CACHE=0`` (or ``off``, ``no``, ``false``) disables
the cache: nothing is read or written. Deleting the folder clears it.

One entry per environment: ``<name>-<key>.npz`` (uncompressed numpy arrays ``version``,
``key``, ``roughness``, ``irradiance``, ``level_00`` ... ``level_NN``). The key is the
SHA-256 of :data:`FORMAT_VERSION`, the irradiance table's sizes, the roughness levels and
the environment's radiance itself (shape, dtype and bytes, i.e. the decoded file after
``normalize``), so a changed file, another normalisation or other levels miss; the
rotation is not part of the tables (it is applied on lookup). An entry is written
atomically (temporary file + rename), so two processes filling the cache at once each
write a whole file and the last rename wins (both are identical). An entry that cannot be
read, or whose version, key, levels, shapes, dtype or values (finite, >= 0) are wrong, is
ignored with a warning and recomputed; a folder that cannot be written (read-only, full)
gives one warning per process and the tables are computed as without a cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import atomic_write
from id2reflectance._shared.cachedir import default_cache_dir
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.errors import ConfigError, OutputError
from id2reflectance.processing.relight.envmap import Environment
from id2reflectance.processing.relight.ibl import (
    IRRADIANCE_ROWS,
    IRRADIANCE_SOURCE_ROWS,
    ROUGHNESS_LEVELS,
    PrefilteredEnvironment,
    prefilter,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever :func:`~.ibl.prefilter`'s output or the entry layout changes."""
DISABLE_VAR = "ID2R_ENV_CACHE"
SUBFOLDER = "environments"
_OFF = ("0", "off", "no", "false")
_unwritable_warned: set[Path] = set()  # folders already reported as unusable in this process


def env_cache_enabled() -> bool:
    """False when ``$ID2R_ENV_CACHE`` is ``0``, ``off``, ``no`` or ``false`` (any case)."""
    return os.environ.get(DISABLE_VAR, "").strip().lower() not in _OFF


def env_cache_dir() -> Path:
    """The default cache folder: ``default_cache_dir() / "environments"``."""
    return default_cache_dir() / SUBFOLDER


def cache_key(env: Environment, roughness_levels: tuple[float, ...] = ROUGHNESS_LEVELS) -> str:
    """Hex SHA-256 identifying the tables of ``env`` (image environments only)."""
    if env.radiance is None:
        raise ConfigError(f"environment cache: {env.name} is a pattern; patterns are not prefiltered")
    rad = np.ascontiguousarray(env.radiance)
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION};irr{IRRADIANCE_ROWS},{IRRADIANCE_SOURCE_ROWS};{rad.shape};{rad.dtype.str};".encode())
    h.update(np.asarray(roughness_levels, "<f8").tobytes())
    h.update(memoryview(rad).cast("B"))
    return h.hexdigest()


def entry_path(folder: str | Path, env: Environment, key: str) -> Path:
    """``folder/<name>-<key[:32]>.npz`` (the name reduced to letters, digits, ``-`` and ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", env.name)[:48] or "env"
    return Path(folder) / f"{safe}-{key[:32]}.npz"


def _arrays(pre: PrefilteredEnvironment, key: str) -> dict[str, np.ndarray]:
    out = {
        "version": np.array(FORMAT_VERSION, np.int64),
        "key": np.array(key),
        "roughness": pre.roughness,
        "irradiance": pre.irradiance,
    }
    out.update({f"level_{i:02d}": lv for i, lv in enumerate(pre.levels)})
    return out


def _table_problem(name: str, a: np.ndarray | None) -> str | None:
    if a is None:
        return f"{name} missing"
    if a.dtype != np.float32 or a.ndim != 3 or a.shape[2] != 3 or min(a.shape) < 1:
        return f"{name}: expected (h, w, 3) float32, got {a.shape} {a.dtype}"
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        return f"{name}: values must be finite and >= 0"
    return None


def _check(data: dict[str, np.ndarray], key: str, rl: np.ndarray) -> str | None:
    """Why ``data`` is not a valid entry for ``key`` and levels ``rl`` (None when it is)."""
    v = data.get("version")
    if v is None or v.shape != () or v.dtype.kind not in "iu" or int(v) != FORMAT_VERSION:
        return f"format version is not {FORMAT_VERSION}"
    if "key" not in data or str(data["key"]) != key:
        return "key does not match the environment"
    r = data.get("roughness")
    if r is None or r.dtype != np.float64 or r.shape != rl.shape or not np.array_equal(r, rl):
        return "roughness levels do not match"
    names = ["irradiance"] + [f"level_{i:02d}" for i in range(len(rl))]
    for n in names:
        problem = _table_problem(n, data.get(n))
        if problem:
            return problem
    if data["irradiance"].shape[0] != IRRADIANCE_ROWS:
        return f"irradiance: expected {IRRADIANCE_ROWS} rows, got {data['irradiance'].shape[0]}"
    if set(data) != {"version", "key", "roughness", *names}:
        return f"unexpected arrays {sorted(set(data) - {'version', 'key', 'roughness', *names})}"
    return None


def load_entry(path: Path, env: Environment, key: str, rl: np.ndarray) -> PrefilteredEnvironment | None:
    """The cached tables at ``path``, or None when absent or invalid (invalid: logged as a warning)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {n: z[n] for n in z.files}
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError as err:
        _warn_unusable(path.parent, "readable", err)
        return None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        log.warning("%s: unreadable environment cache entry (%s); recomputing", path, err)
        return None
    problem = _check(data, key, rl)
    if problem is not None:
        log.warning("%s: invalid environment cache entry (%s); recomputing", path, problem)
        return None
    levels = tuple(data[f"level_{i:02d}"] for i in range(len(rl)))
    return PrefilteredEnvironment(env=env, irradiance=data["irradiance"], roughness=data["roughness"], levels=levels)


def _warn_unusable(folder: Path, what: str, err: BaseException) -> None:
    """One warning per folder and process that the cache folder is not ``what``."""
    folder = folder.absolute()
    if folder not in _unwritable_warned:
        _unwritable_warned.add(folder)
        log.warning("environment cache %s is not %s (%s); prefiltered tables are computed", folder, what, err)


def _store(path: Path, pre: PrefilteredEnvironment, key: str) -> None:
    arrays = _arrays(pre, key)
    try:
        atomic_write(path, lambda p: np.savez(p, **arrays))
    except (OutputError, OSError) as err:
        _warn_unusable(path.parent, "writable", err)


def cached_prefilter(
    env: Environment,
    *,
    roughness_levels: tuple[float, ...] = ROUGHNESS_LEVELS,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
) -> PrefilteredEnvironment:
    """:func:`~.ibl.prefilter` through the on-disk cache (see the module docstring).

    Parameters
    ----------
    env : an image environment (patterns raise ConfigError, as in ``prefilter``).
    roughness_levels : as ``prefilter``.
    cache_dir : cache folder (None: :func:`env_cache_dir`).
    use_cache : False computes without reading or writing the cache; so does
        ``ID2R_ENV_CACHE=0`` in the environment.
    progress : as ``prefilter`` (called only when the tables are computed).

    Returns
    -------
    PrefilteredEnvironment for ``env``, bit-identical to ``prefilter(env, ...)``.
    """
    if not use_cache or not env_cache_enabled():
        return prefilter(env, roughness_levels=roughness_levels, progress=progress)
    key = cache_key(env, roughness_levels)
    rl = np.asarray(roughness_levels, np.float64)
    path = entry_path(env_cache_dir() if cache_dir is None else cache_dir, env, key)
    pre = load_entry(path, env, key, rl)
    if pre is not None:
        log.debug("%s: prefiltered tables from %s", env.name, path)
        return pre
    pre = prefilter(env, roughness_levels=roughness_levels, progress=progress)
    _store(path, pre, key)
    return pre
