"""Shared fixtures: tiny hand-built sessions for format and IO tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from id2reflectance._shared.imageio import write_exr
from id2reflectance.capture.camera import Camera, look_at
from id2reflectance.capture.session import REQUIRED_PATTERNS, Frame, session_json, write_session_json
from tests.dataset.synthetic import write_synthetic_dataset

# Session fixtures that build a dataset with the real pipeline or train a model: any test that
# uses one (directly or through another fixture) is marked ``slow`` by pytest_collection_modifyitems.
HEAVY_FIXTURES = frozenset({"face_dataset", "tiny_stage2_run", "tiny_swapper_run"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that depends on one of :data:`HEAVY_FIXTURES`."""
    for item in items:
        if HEAVY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point ``$ID2R_CACHE_DIR`` (template embeddings, prefiltered environments) at a folder of
    this test session, so tests never read or fill the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ID2R_CACHE_DIR", str(tmp_path_factory.mktemp("id2r_cache")))
        mp.delenv("ID2R_ENV_CACHE", raising=False)
        yield


def make_tiny_session(root: Path, *, size: int = 8, cameras: tuple[str, ...] = ("cam0",), seed: int = 0) -> Path:
    """Write a minimal valid session: required patterns, both polarisations, random frames."""
    rng = np.random.default_rng(seed)
    cams = {}
    frames = []
    for k, name in enumerate(cameras):
        R, t = look_at(np.array([0.3 * k, 0.0, 1.0]), np.zeros(3))
        K = np.array([[2.0 * size, 0, (size - 1) / 2], [0, 2.0 * size, (size - 1) / 2], [0, 0, 1]])
        cams[name] = Camera(name, size, size, K, np.zeros(5), R, t)
        for pat in REQUIRED_PATTERNS:
            for pol in ("cross", "parallel"):
                rel = f"frames/{name}/{pat}_{pol}.exr"
                write_exr(root / rel, rng.uniform(0.05, 0.5, (size, size, 3)).astype(np.float32))
                frames.append(Frame(name, pat, pol, rel, "linear", 1.0))
    write_session_json(root, session_json(subject_id="T0001", cameras=cams, frames=frames))
    return root


@pytest.fixture
def tiny_session(tmp_path: Path) -> Path:
    return make_tiny_session(tmp_path / "sess")


@pytest.fixture(scope="session")
def face_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-subject dataset built by the real pipeline at 32 px (see tests/face_pipeline.py)."""
    from tests.face_pipeline import build_face_dataset

    return build_face_dataset(tmp_path_factory.mktemp("face_dataset"))


@pytest.fixture(scope="session")
def tiny_stage2_run(face_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stage-2 run folder (tiny preset, stage 1 then stage 2) trained on ``face_dataset``
    (see tests/model_runs.py; about a minute on one thread)."""
    from tests.model_runs import train_tiny_stage2

    return train_tiny_stage2(face_dataset, tmp_path_factory.mktemp("tiny_codebook"))


@pytest.fixture(scope="session")
def tiny_swapper_run(face_dataset: Path, tiny_stage2_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A swapper run folder (tiny swapper preset, dlib-distilled identity student) trained from
    ``tiny_stage2_run`` on ``face_dataset`` (about 20 s on one thread); load it with
    ``id2reflectance.model.loading.load_swapper``."""
    from tests.model_runs import train_tiny_swapper

    return train_tiny_swapper(face_dataset, tiny_stage2_run, tmp_path_factory.mktemp("tiny_swapper") / "run")


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 subjects (3 train, 1 val, 1 test), 3 views, 48x48 pixels, every domain."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", subjects=5, size=48)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch single-threaded (faster and deterministic on this shared 2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
