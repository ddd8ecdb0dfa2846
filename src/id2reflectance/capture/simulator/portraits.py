"""Frontal portraits of simulated subjects under a few lightings, as 8-bit sRGB photos.

For measuring what a face recogniser sees in the simulated subjects: the front camera of
the rig, parallel-polarised (diffuse plus specular), one image per light-stage pattern
(``full``: the uniform sphere; ``gradient_x``: brighter toward the subject's left, a soft
side light; see :mod:`~id2reflectance.capture.illumination`), tone mapped with one fixed
exposure so that darker skin stays darker.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from id2reflectance._shared.imageio import tone_map
from id2reflectance.capture.simulator.sessions import SimulatorConfig, Subject, render_subject
from id2reflectance.errors import ConfigError

PORTRAIT_EXPOSURE_STOPS = 1.0  # radiance x 2 before the tone curve (albedo 0.5 under the full sphere -> mid grey)


def portraits(
    subject: Subject,
    config: SimulatorConfig,
    *,
    lightings: tuple[str, ...] = ("full", "gradient_x"),
    exposure_stops: float = PORTRAIT_EXPOSURE_STOPS,
) -> dict[str, np.ndarray]:
    """Front-camera photos of ``subject`` under each lighting.

    Parameters
    ----------
    subject : e.g. :func:`~id2reflectance.capture.simulator.sessions.config_subject`.
    config : simulator settings (only the front camera is rendered; no inverse patterns
        unless a lighting needs them).
    lightings : light-stage pattern names.
    exposure_stops : fixed exposure of every image.

    Returns
    -------
    {lighting: (H, W, 3) uint8 sRGB}, black background.
    """
    inverses = any(name.startswith("inverse") for name in lightings)
    cfg = replace(config, cameras=1, inverses=inverses)
    unknown = [name for name in lightings if name not in cfg.patterns]
    if unknown:
        raise ConfigError(f"portraits: unknown lighting(s) {unknown} (known: {list(cfg.patterns)})")
    _, _, _, _, renders = render_subject(subject, cfg)
    front = renders["front"]
    out = {}
    for name in lightings:
        srgb = tone_map(front.parallel[name], exposure_stops=exposure_stops)
        out[name] = np.round(np.clip(srgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out
