"""``id2r relight``: every asset under every environment from every camera, plus a contact sheet.

Output folder (written beside itself and renamed into place; nothing partial)::

    OUT/relight.json                          inputs, options, timings
    OUT/contact_sheet.png                     subjects (rows) x environments (columns),
                                              first camera, tone-mapped sRGB
    OUT/<subject>/<environment>/<camera>.exr  linear Rec.709 radiance, float32 R,G,B
    OUT/<subject>/<environment>/<camera>.png  tone-mapped 8-bit sRGB (see relight.tone_map)

Every input (assets, environments, session) is read and checked before anything is
written, so bad input leaves no OUT.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from id2reflectance import __version__
from id2reflectance._shared.atomic import atomic_folder, atomic_write_json
from id2reflectance._shared.imageio import write_exr, write_png
from id2reflectance._shared.progress import ProgressFn
from id2reflectance.capture.camera import Camera
from id2reflectance.capture.geometry.mesh import raycasting_scene
from id2reflectance.capture.session import load_session
from id2reflectance.errors import ConfigError
from id2reflectance.processing.asset import Asset, read_asset
from id2reflectance.processing.relight.envcache import cached_prefilter
from id2reflectance.processing.relight.envmap import Environment, load_environment
from id2reflectance.processing.relight.eyes import asset_eyes, scene_mesh
from id2reflectance.processing.relight.ibl import PrefilteredEnvironment
from id2reflectance.processing.relight.render import RelightConfig, orbit_cameras, render_view, tone_map

log = logging.getLogger(__name__)

TILE = 256
LABEL_H = 28
LABEL_W = 120


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def contact_sheet(tiles: list[list[np.ndarray]], rows: list[str], cols: list[str], *, tile: int = TILE) -> np.ndarray:
    """Grid of sRGB tiles with labels.

    Parameters
    ----------
    tiles : tiles[i][j] (h, w, 3) float in [0, 1], sRGB-encoded (row = subject, column =
        environment); resized to ``tile`` pixels on the long side.
    rows, cols : labels.

    Returns
    -------
    (LABEL_H + n_rows * tile, LABEL_W + n_cols * tile, 3) float32 sRGB in [0, 1].
    """
    sheet = np.full((LABEL_H + len(rows) * tile, LABEL_W + len(cols) * tile, 3), 0.12, np.float32)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for j, name in enumerate(cols):
        cv2.putText(sheet, name[:18], (LABEL_W + j * tile + 6, 20), font, 0.5, (0.9, 0.9, 0.9), 1, cv2.LINE_AA)
    for i, name in enumerate(rows):
        cv2.putText(sheet, name[:12], (6, LABEL_H + i * tile + tile // 2), font, 0.5, (0.9, 0.9, 0.9), 1, cv2.LINE_AA)
        for j, img in enumerate(tiles[i]):
            h, w = img.shape[:2]
            s = tile / max(h, w)
            small = cv2.resize(
                img.astype(np.float32), (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
            )
            y0 = LABEL_H + i * tile + (tile - small.shape[0]) // 2
            x0 = LABEL_W + j * tile + (tile - small.shape[1]) // 2
            sheet[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return sheet


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / "relight.json").is_file())
    ):
        raise ConfigError(f"{out_dir}: exists and is not an earlier relight output; choose another -o folder")


def relight_assets(
    assets: Sequence[str | Path],
    out_dir: str | Path,
    *,
    envs: Sequence[str],
    config: RelightConfig | None = None,
    session: str | Path | None = None,
    camera: str | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Render assets under environments and write OUT (see the module docstring).

    Parameters
    ----------
    assets : asset folders.
    out_dir : output folder (replaced if it holds an earlier relight output).
    envs : environment specs (:func:`~id2reflectance.processing.relight.envmap.load_environment`).
    config : options; ``config.orbit`` cameras are used unless ``session`` is given.
    session : a session folder whose cameras (and rig rotation, for patterns) to use.
    camera : only this camera of the session.
    progress : ``progress(stage, done, total)``.

    Returns
    -------
    OUT path.
    """
    config = config or RelightConfig()
    out_dir = Path(out_dir)
    if not assets:
        raise ConfigError("relight: give at least one asset folder")
    if not envs:
        raise ConfigError("relight: give at least one --env")
    _check_out(out_dir)
    loaded: list[Asset] = [read_asset(a) for a in assets]
    lights_to_world = None
    session_cams: list[Camera] | None = None
    if session is not None:
        s = load_session(session)
        lights_to_world = s.rig.lights_to_world
        if camera is not None and camera not in s.cameras:
            raise ConfigError(
                f"--camera {camera}: not in {Path(session) / 'session.json'}; cameras: {sorted(s.cameras)}"
            )
        session_cams = [c for n, c in s.cameras.items() if camera is None or n == camera]
    elif camera is not None:
        raise ConfigError("--camera needs --session")
    environments: list[Environment] = [
        load_environment(
            e, rotate_deg=config.env_rotate_deg, normalize=config.normalize, lights_to_world=lights_to_world
        )
        for e in envs
    ]
    env_names = _unique([e.name for e in environments])
    subj_names = _unique([a.subject_id for a in loaded])
    t0 = time.perf_counter()
    tables: dict[int, PrefilteredEnvironment] = {}
    for i, env in enumerate(environments):
        if env.radiance is not None:
            tables[i] = cached_prefilter(env, use_cache=config.env_cache, progress=progress)
    t_prefilter = time.perf_counter() - t0
    tiles: list[list[np.ndarray]] = []
    renders: list[dict] = []
    with atomic_folder(out_dir) as tmp:
        for a, sname in zip(loaded, subj_names, strict=True):
            cams = session_cams or orbit_cameras(
                a.mesh, config.orbit, size=config.image_size, fov_deg=config.fov_deg, elevation_deg=config.elevation_deg
            )
            eyes = asset_eyes(a) if config.eyes else None
            scene = raycasting_scene(scene_mesh(a.mesh, eyes))
            row = []
            for i, (env, ename) in enumerate(zip(environments, env_names, strict=True)):
                for c_i, cam in enumerate(cams):
                    t1 = time.perf_counter()
                    r = render_view(
                        a, cam, env, config=config, scene=scene, prefiltered=tables.get(i), progress=progress, eyes=eyes
                    )
                    img = r.image(config.polarization, background=config.background == "environment")
                    png = tone_map(img, mask=r.mask, exposure_stops=config.exposure_stops)
                    folder = tmp / sname / ename
                    write_exr(folder / f"{cam.name}.exr", img)
                    write_png(folder / f"{cam.name}.png", png)
                    dt = time.perf_counter() - t1
                    renders.append(
                        {"subject": sname, "environment": ename, "camera": cam.name, "seconds": round(dt, 3)}
                    )
                    log.info("%s / %s / %s: %.2f s", sname, ename, cam.name, dt)
                    if c_i == 0:
                        row.append(png)
            tiles.append(row)
        write_png(tmp / "contact_sheet.png", contact_sheet(tiles, subj_names, env_names))
        atomic_write_json(
            tmp / "relight.json",
            {
                "tool": {"name": "id2reflectance", "version": __version__},
                "assets": [str(a.root) for a in loaded],
                "environments": [{"name": n, "source": e.source} for n, e in zip(env_names, environments, strict=True)],
                "session": None if session is None else str(session),
                "config": dataclasses.asdict(config),
                "prefilter_seconds": round(t_prefilter, 3),
                "renders": renders,
            },
        )
    return out_dir
