"""A small dataset built by the real pipeline (simulate -> solve -> bake -> views), for the
swapper, inference and evaluation tests.

Four simulated subjects, 32 x 32 aligned views (the ``tiny`` model's resolution), 128-texel
UV maps; split seed 2 puts S0000 in the test split and the other three in train. Built in
the procedural template's UV layout (``template="procedural"``), the layout of every model
trained before the face model's layout became the default: the tiny models trained on it
are such models, and ``id2r infer`` must keep running them (it takes the checkpoint's and
the dataset's layout, never the default).
"""

from __future__ import annotations

from pathlib import Path

FACE_DATASET_SUBJECTS = 4
FACE_DATASET_SPLIT_SEED = 2  # S0000 test, S0001-S0003 train (fractions 0.6 / 0 / 0.4)


def build_face_dataset(root: Path, *, image_size: int = 32) -> Path:
    """Simulate and build the dataset under ``root``; returns the dataset folder."""
    from id2reflectance.capture.simulator.sessions import SimulatorConfig, simulate_sessions
    from id2reflectance.dataset.build import BuildConfig, build_dataset
    from id2reflectance.dataset.cluster import ClusterConfig
    from id2reflectance.dataset.splits import SplitConfig

    sessions = root / "sessions"
    simulate_sessions(
        sessions,
        subjects=FACE_DATASET_SUBJECTS,
        # painted subjects: the same dataset with or without ../shared's photos (and no dlib fits)
        config=SimulatorConfig(image_size=96, uv_size=128, template="procedural", appearance_source="procedural"),
    )
    out = root / "ds"
    cfg = BuildConfig(
        image_size=image_size,
        bake_size=256,
        template="procedural",
        environments=("full", "courtyard"),
        split=SplitConfig(seed=FACE_DATASET_SPLIT_SEED, fractions=(0.6, 0.0, 0.4), stratify="hash"),
        cluster=ClusterConfig(workers=1, dashboard=None, memory_limit="4GiB"),
    )
    report = build_dataset(sessions, out, config=cfg)
    if report.failed:
        raise RuntimeError(f"face dataset build failed: {report.failed}")
    return out
