"""Fixtures for the codebook model tests: a synthetic dataset and single-threaded torch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.dataset.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 subjects (3 train, 1 val, 1 test), 3 views, 48x48 pixels, every domain."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", subjects=5, size=48)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch single-threaded (faster and deterministic on this shared 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
