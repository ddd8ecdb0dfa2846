"""Loading a swapper run's distilled identity student."""

from __future__ import annotations

import pytest
import torch
import yaml
from safetensors.torch import save_file

from id2reflectance._shared.config import to_dict
from id2reflectance.errors import InputFileError
from id2reflectance.model.identity.student import IdentityStudent
from id2reflectance.training.swapper_identity import STUDENT_FILE, load_identity_student
from tests.model_runs import tiny_swapper_config


def test_load_identity_student_round_trip_and_missing_student(tmp_path):
    cfg = tiny_swapper_config()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(to_dict(cfg)), encoding="utf-8")
    with pytest.raises(InputFileError, match="no distilled identity student"):
        load_identity_student(tmp_path)
    torch.manual_seed(0)
    student = IdentityStudent(cfg.student)
    save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(tmp_path / STUDENT_FILE))
    loaded, resolution = load_identity_student(tmp_path)
    assert resolution == cfg.resolution and not loaded.training
    x = torch.rand(2, 3, resolution, resolution) * 2 - 1
    student.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), student(x))
    save_file({"wrong": torch.zeros(1)}, str(tmp_path / STUDENT_FILE))
    with pytest.raises(InputFileError):
        load_identity_student(tmp_path)
