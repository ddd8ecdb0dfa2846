"""Warnings for a face cut by the photo's frame or completed by the alignment's mirrored border."""

from __future__ import annotations

import numpy as np
import pytest

from id2reflectance.face.detect import alignment_matrix, find_faces
from id2reflectance.face.framing import cut_landmarks, framing_warnings, mirrored_fraction
from tests.london_photos import london_photo


def _square_face(cx: float, cy: float, r: float) -> np.ndarray:
    """68 landmarks spread over a disc (enough for the hull and the extent)."""
    ang = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    rad = np.where(np.arange(68) % 2 == 0, r, 0.5 * r)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)


def test_landmarks_beyond_or_at_the_edge_count_as_cut():
    lm = _square_face(50, 50, 20)
    assert cut_landmarks(lm, (100, 100)) == 0
    assert cut_landmarks(lm, (100, 60)) > 0  # the right part beyond a 60 px wide image
    assert cut_landmarks(lm + [29.5, 0], (100, 100)) > 0  # touching the right edge (within 2 % of 40 px)
    with pytest.raises(ValueError, match="landmarks must be"):
        cut_landmarks(np.zeros(4), (10, 10))


def test_mirrored_fraction_is_the_share_of_the_face_taken_from_beyond_the_photo():
    lm = _square_face(100, 100, 40)
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # aligned = photo pixels
    assert mirrored_fraction(lm, (200, 200), identity, 200) == 0.0
    half = mirrored_fraction(lm, (200, 100), identity, 200)  # photo ends at the disc's centre
    assert 0.4 < half < 0.6


@pytest.mark.slow
def test_a_london_photo_cut_through_the_face_is_named_and_the_whole_photo_is_not():
    photo, lm = london_photo("001")
    assert framing_warnings(lm, photo.shape[:2], alignment_matrix(lm, 256), 256) == ()
    cut = np.ascontiguousarray(photo[:, : int(lm[:, 0].mean() + 0.15 * np.ptp(lm[:, 0]))])  # made here, not saved
    face = find_faces(cut)[0]
    warnings = framing_warnings(face.landmarks, cut.shape[:2], alignment_matrix(face.landmarks, 256), 256)
    assert len(warnings) == 2
    assert "cut by the photo's frame" in warnings[0] and "mirroring the photo" in warnings[1]


def test_the_astronaut_cut_through_her_cheek_is_named_and_the_whole_photo_is_not():
    """The same without the London set (always available: scikit-image's astronaut)."""
    from skimage import data

    photo = data.astronaut()
    lm = find_faces(photo)[0].landmarks
    assert framing_warnings(lm, photo.shape[:2], alignment_matrix(lm, 256), 256) == ()
    cut = np.ascontiguousarray(photo[:, : int(lm[:, 0].mean() + 0.3 * np.ptp(lm[:, 0]))])  # made here, not saved
    face = find_faces(cut)[0]
    warnings = framing_warnings(face.landmarks, cut.shape[:2], alignment_matrix(face.landmarks, 256), 256)
    assert len(warnings) == 2
    assert "cut by the photo's frame" in warnings[0] and "mirroring the photo" in warnings[1]
