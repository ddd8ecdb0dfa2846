"""Write a tiny synthetic training set in the format of docs/dataset-format.md (tests only).

Each subject is an ellipsoidal "face" with smooth per-subject content: a skin-like diffuse
albedo with low-frequency variation, a specular albedo brighter on a T-zone, a smooth
roughness field, the ellipsoid's normals (per view rotated about y), an 8-bit mask and two
rgb renderings (full-on and one directional "environment") from those maps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from id2reflectance._shared.atomic import sha256_file
from id2reflectance._shared.imageio import linear_to_srgb, write_png

VIEW_YAW_DEG = {"front": 0.0, "left": -25.0, "right": 25.0}


def _smooth_noise(rng: np.random.Generator, size: int, *, cells: int = 4) -> np.ndarray:
    """(size, size) float32 in [0, 1]: bilinearly upsampled random grid."""
    grid = rng.uniform(0.0, 1.0, (cells + 1, cells + 1))
    t = np.linspace(0.0, cells, size)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    out = rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]
    return out.astype(np.float32)


def _subject_view(rng: np.random.Generator, size: int, yaw_deg: float) -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (x + 0.5) / size * 2 - 1
    v = 1 - (y + 0.5) / size * 2
    a, b = 0.72, 0.9
    rr = (u / a) ** 2 + (v / b) ** 2
    mask = rr < 1.0
    zc = np.sqrt(np.clip(1 - rr, 0, 1))
    n = np.stack([u / a**2, v / b**2, zc], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-8
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    n = n @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float32).T
    n[~mask] = (0.0, 0.0, 1.0)
    skin = np.array([0.55, 0.38, 0.30]) * rng.uniform(0.6, 1.2) + rng.uniform(-0.05, 0.05, 3)
    diffuse = np.clip(skin[None, None] * (0.75 + 0.5 * _smooth_noise(rng, size)[..., None]), 0, 1)
    tzone = np.exp(-((u / 0.18) ** 2)) * (v > -0.2) + np.exp(-(((v - 0.45) / 0.15) ** 2))
    specular = np.clip(0.05 + 0.1 * tzone + 0.05 * _smooth_noise(rng, size), 0, 0.25)
    roughness = np.clip(0.35 + 0.3 * _smooth_noise(rng, size, cells=3) - 0.1 * tzone, 0.1, 0.9)
    for arr in (diffuse, specular, roughness):
        arr[~mask] = 0.0
    return {"mask": mask, "normal": n, "diffuse": diffuse, "specular": specular, "roughness": roughness}


def _render(maps: dict[str, np.ndarray], light: np.ndarray) -> np.ndarray:
    n, mask = maps["normal"], maps["mask"]
    ndl = np.clip(n @ light, 0, 1)[..., None]
    h = light + np.array([0.0, 0.0, 1.0])
    h /= np.linalg.norm(h)
    ndh = np.clip(n @ h, 0, 1)
    alpha = maps["roughness"] ** 2 + 1e-3
    lobe = (alpha**2 / (np.pi * ((ndh**2) * (alpha**2 - 1) + 1) ** 2))[..., None]
    rgb = maps["diffuse"] * (0.25 + 0.75 * ndl) + maps["specular"][..., None] * np.minimum(lobe, 8.0) * ndl
    rgb[~mask] = 0.0
    return linear_to_srgb(np.clip(rgb, 0, 1))


def write_synthetic_dataset(
    root: Path,
    *,
    subjects: int = 5,
    size: int = 48,
    views: tuple[str, ...] = ("front", "left", "right"),
    domains: tuple[str, ...] = ("rgb", "diffuse", "specular", "roughness", "normal"),
    seed: int = 0,
) -> Path:
    """Write ``subjects`` subjects (splits: train for all but the last two, then val, test).

    Returns ``root``. Domains left out of ``domains`` are neither written nor listed.
    """
    rng = np.random.default_rng(seed)
    splits = ["train"] * max(subjects - 2, 1) + ["val", "test"][: max(0, subjects - 1)]
    records = []
    for k in range(subjects):
        sid = f"S{k:04d}"
        base = root / "subjects" / sid
        files: dict[str, str] = {}
        sub_rng = np.random.default_rng([seed, k])
        for view in views:
            maps = _subject_view(np.random.default_rng(sub_rng.integers(1 << 31)), size, VIEW_YAW_DEG[view])
            vdir = base / "views" / view
            out = {"mask.png": (maps["mask"].astype(np.float32), 8)}
            if "rgb" in domains:
                out["rgb_full.png"] = (_render(maps, np.array([0.0, 0.0, 1.0])), 8)
                light = np.array([0.5, 0.4, 0.77])
                out["rgb_env0.png"] = (_render(maps, light / np.linalg.norm(light)), 8)
            if "diffuse" in domains:
                out["diffuse_albedo.png"] = (maps["diffuse"], 16)
            if "specular" in domains:
                out["specular_albedo.png"] = (maps["specular"], 16)
            if "roughness" in domains:
                out["roughness.png"] = (maps["roughness"], 16)
            if "normal" in domains:
                out["normal.png"] = ((maps["normal"] + 1) / 2, 16)
            for name, (pixels, bits) in out.items():
                write_png(vdir / name, pixels, bits=bits)
                files[f"views/{view}/{name}"] = sha256_file(vdir / name)
        records.append(
            {"id": sid, "split": splits[k], "attributes": {"ita_deg": float(rng.uniform(10, 60))}, "files": files}
        )
    manifest = {
        "format": "id2r-dataset",
        "version": 1,
        "image_size": size,
        "views": list(views),
        "domains": list(domains),
        "environments": ["full", "env0"] if "rgb" in domains else [],
        "subjects": records,
        "failed": [],
        "provenance": {"tool": "tests/dataset/synthetic.py", "version": "1", "options": {"seed": seed}, "sessions": {}},
    }
    (root / "dataset.json").write_text(json.dumps(manifest, indent=2))
    return root
