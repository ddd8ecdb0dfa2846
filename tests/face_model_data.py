"""The ICT face model for tests: where it is, and a mark that skips a test without it.

The data is never copied into the repository: tests read it from
``../shared/face-models/ict-facekit-light`` (or ``$ID2R_FACE_MODEL``).
"""

from __future__ import annotations

import pytest

from id2reflectance.capture.geometry.face_model import default_face_model_dir

FOLDER = default_face_model_dir()
needs_model = pytest.mark.skipif(FOLDER is None, reason="face model data (../shared/face-models) is absent")
