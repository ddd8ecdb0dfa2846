"""Face detection, 68-point landmarks and FFHQ-style alignment (dlib, OpenCV).

dlib is imported when first needed (it is heavy). Model files come from the offline
``face-recognition-models`` package, located without importing it (its ``__init__``
needs the removed ``pkg_resources``).

Images are (H, W, 3) uint8 sRGB, RGB order. Landmark points are (x = column, y = row)
in pixels, dlib's 68-point (iBUG 300-W) order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from id2reflectance._shared.dlib_faces import dlib_models as _dlib_models
from id2reflectance._shared.imageio import decode_image, read_file_bytes
from id2reflectance.errors import InputFileError

DETECTION_THRESHOLD = 0.5  # dlib HOG detector score below which a detection is dropped
# find_faces: images whose longer side is at most this many pixels are searched again
# (4x upsampling, several enlargements) when the first pass (2x) finds nothing
SMALL_IMAGE_PX = 1024
# find_faces: a photo whose longer side exceeds this is first searched reduced to it (the
# landmarks fitted at full resolution): a 4000 x 4000 photo in about 1 s instead of 7 s
DETECT_MAX_PX = 1600
RETRY_SCALES = (1.0, 1.25, 1.5, 1.75)  # find_faces: enlargements tried on a small image
# greyscale_image: a pixel is achromatic when its channels differ by at most this many
# 8-bit codes (JPEG chroma noise of a grey image stays below it), and an image is
# greyscale when at least GREY_FRACTION of its pixels are
GREY_TOLERANCE = 3
GREY_FRACTION = 0.99
GREY_SAMPLE_PX = 1 << 20  # greyscale_image judges at most about this many pixels


@dataclass(frozen=True)
class Face:
    """One detected face: box (left, top, right, bottom) pixels, detector score, and
    landmarks (68, 2) float64 (x, y) pixels; ``turned``: the quarter turns (degrees, 0, 90,
    180 or 270 counter-clockwise) the image needed before the face was found upright
    (:func:`find_faces`; the box and landmarks are always in the image as given)."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray
    turned: int = 0


def read_photo(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 sRGB, RGB order (EXIF orientation applied,
    16-bit images reduced to 8 bits, alpha dropped, grey replicated).

    OpenCV's own decoder warnings are silenced: a file it cannot decode is one
    :class:`InputFileError` naming it.

    Raises
    ------
    InputFileError
        Missing, unreadable or not an image (file named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "photo not found")
    img = decode_image(read_file_bytes(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputFileError(
            path, None, "not a readable image (unsupported format, e.g. 32-bit float TIFF, or truncated or corrupt)"
        )
    return np.ascontiguousarray(img[..., ::-1])


def as_uint8_rgb(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Check and convert an image to contiguous (H, W, 3) uint8 RGB (grey is replicated,
    alpha dropped, float images in [0, 1] are quantised)."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputFileError(name, None, f"expected an (H, W, 3) RGB image, got shape {a.shape}")
    a = a[..., :3]
    if a.dtype != np.uint8:
        a = np.round(np.clip(a.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def detect_faces(image: np.ndarray, *, upsample: int = 1, threshold: float = DETECTION_THRESHOLD) -> list[Face]:
    """Detect faces (dlib HOG) and fit 68 landmarks, largest face first."""
    img = as_uint8_rgb(image)
    detector, _ = _dlib_models()
    rects, scores, _ = detector.run(img, upsample, 0.0)
    faces = []
    for r, score in zip(rects, scores):
        if score >= threshold:
            box = (r.left(), r.top(), r.right(), r.bottom())
            faces.append(Face(box, float(score), fit_landmarks(img, box)))
    faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return faces


def fit_landmarks(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """dlib's 68 landmarks (68, 2) float64 (x, y) pixels of the upright face in ``box``
    (left, top, right, bottom) of ``image`` (H, W, 3) uint8 RGB."""
    import dlib  # heavy: imported when first needed

    _, predictor = _dlib_models()
    shape = predictor(as_uint8_rgb(image), dlib.rectangle(*(int(v) for v in box)))
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def find_faces(image: np.ndarray) -> list[Face]:
    """:func:`detect_faces`, searching harder before giving up.

    1. dlib's HOG detector at its default upsampling (2x): faces down to about 35 px wide,
       rolled up to about 30 degrees. A photo larger than :data:`DETECT_MAX_PX` is searched
       reduced to that size first, its landmarks fitted at full resolution; only when that
       finds nothing is it searched at full resolution (so faces narrower than about 2 %
       of its longer side are found only when there is no larger face).
    2. Nothing found in an image whose longer side is at most :data:`SMALL_IMAGE_PX`: 4x
       upsampling on the image enlarged by each of :data:`RETRY_SCALES` (within
       :data:`SMALL_IMAGE_PX`), stopping at the first that finds a face: faces from about
       18 px wide (thumbnails, small crops).
    3. Still nothing: the reduced search of step 1 on the image turned by a quarter, three
       quarters and half a turn (a sideways or upside-down photo without EXIF
       orientation); the faces found carry the turn in :attr:`Face.turned`.

    Boxes and landmarks are in ``image``'s pixels whatever the turn.
    """
    img = as_uint8_rgb(image)
    faces = _find_upright(img)
    if faces:
        return faces
    for k in (1, 3, 2):  # np.rot90 turns: 90, 270 (= 90 clockwise), 180 degrees
        found = _detect_reduced(np.ascontiguousarray(np.rot90(img, k)))
        if found:
            return [_unturn(f, k, img.shape[:2]) for f in found]
    return []


def _detect_reduced(img: np.ndarray) -> list[Face]:
    """:func:`detect_faces` on a copy of ``img`` reduced to at most :data:`DETECT_MAX_PX`,
    the landmarks fitted again at full resolution (a large photo, whose faces are large)."""
    longest = max(img.shape[:2])
    if longest <= DETECT_MAX_PX:
        return detect_faces(img)
    f = DETECT_MAX_PX / longest
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    out = []
    for face in detect_faces(small):
        box = tuple(int(round((v + 0.5) / f - 0.5)) for v in face.box)
        out.append(Face(box, face.score, fit_landmarks(img, box)))  # type: ignore[arg-type]
    return out


def _find_upright(img: np.ndarray) -> list[Face]:
    """Steps 1 and 2 of :func:`find_faces` on one (H, W, 3) uint8 image."""
    longest = max(img.shape[:2])
    faces = _detect_reduced(img) if longest > DETECT_MAX_PX else []
    if faces:
        return faces
    faces = detect_faces(img)
    if faces or longest > SMALL_IMAGE_PX:
        return faces
    for f in RETRY_SCALES:
        if f > 1 and longest * f > SMALL_IMAGE_PX:
            break
        big = img if f == 1 else cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        found = detect_faces(big, upsample=2)
        if found:
            # pixel centres: x_big + 0.5 = f * (x + 0.5)
            return [
                Face(
                    tuple(int(round((v + 0.5) / f - 0.5)) for v in face.box),  # type: ignore[arg-type]
                    face.score,
                    (face.landmarks + 0.5) / f - 0.5,
                )
                for face in found
            ]
    return []


def upright(image: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """The photo turned so that ``face`` is upright, and its landmarks (68, 2) in that
    image: ``image`` and ``face.landmarks`` themselves when ``face.turned`` is 0. For the
    steps that refit landmarks or read the face in image axes (identity embedding)."""
    k = (face.turned // 90) % 4
    if k == 0:
        return image, face.landmarks
    lm = np.asarray(face.landmarks, np.float64)
    h, w = np.asarray(image).shape[:2]
    for _ in range(k):  # one counter-clockwise quarter turn: (x, y) -> (y, W - 1 - x)
        lm = np.stack([lm[:, 1], w - 1 - lm[:, 0]], axis=1)
        h, w = w, h
    return np.ascontiguousarray(np.rot90(image, k)), lm


def _unturn(face: Face, k: int, shape: tuple[int, int]) -> Face:
    """A face found in ``np.rot90(image, k)`` with its box and landmarks mapped back into
    ``image`` (shape (H, W)); ``turned = 90 k``."""
    h, w = shape

    def back(p: np.ndarray) -> np.ndarray:
        x, y = p[:, 0], p[:, 1]
        if k == 1:  # rot90(a, 1)[i, j] = a[j, W - 1 - i]
            return np.stack([w - 1 - y, x], axis=1)
        if k == 3:  # rot90(a, 3)[i, j] = a[H - 1 - j, i]
            return np.stack([y, h - 1 - x], axis=1)
        return np.stack([w - 1 - x, h - 1 - y], axis=1)  # k == 2

    l, t, r, b = face.box
    corners = back(np.array([[l, t], [r, b]], np.float64))
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    box = (int(x0), int(y0), int(x1), int(y1))
    return Face(box, face.score, back(np.asarray(face.landmarks, np.float64)), turned=90 * k)


def greyscale_image(image: np.ndarray) -> bool:
    """True when ``image`` (H, W, 3) uint8 sRGB carries no colour: at least
    :data:`GREY_FRACTION` of its pixels have channels within :data:`GREY_TOLERANCE` codes
    of each other (a black-and-white photo saved as RGB, or a grey image replicated).
    Photos over :data:`GREY_SAMPLE_PX` pixels are judged on an evenly strided sample of
    that many (a 16 MP photo took 1.8 s in full)."""
    a = as_uint8_rgb(image)
    step = max(1, int(np.ceil(np.sqrt(a.shape[0] * a.shape[1] / GREY_SAMPLE_PX))))
    a = a[::step, ::step].astype(np.int16)
    spread = a.max(axis=2) - a.min(axis=2)
    return bool(np.mean(spread <= GREY_TOLERANCE) >= GREY_FRACTION)


def alignment_scale(matrix: np.ndarray) -> float:
    """Scale of an alignment ``matrix`` (2, 3): aligned pixels per photo pixel (> 1: the
    face is enlarged)."""
    m = np.asarray(matrix, np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop quadrilateral (4, 2) (x, y) from 68 landmarks.

    As in the FFHQ dataset's alignment: centred slightly below the eye midpoint towards
    the mouth, sized by the larger of 2x the eye distance and 1.8x the eye-to-mouth
    distance, rotated so the eyes are level. Corners: top-left, bottom-left,
    bottom-right, top-right.
    """
    lm = np.asarray(landmarks, np.float64)
    eye_l = lm[36:42].mean(0)  # subject's right eye, image left
    eye_r = lm[42:48].mean(0)
    mouth_l, mouth_r = lm[48], lm[54]
    eye_avg = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    mouth_avg = (mouth_l + mouth_r) / 2
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * np.array([-1, 1])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * np.array([-1, 1])
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(2, 3) affine matrix mapping image pixels to the aligned size x size crop."""
    quad = ffhq_quad(landmarks).astype(np.float32)
    dst = np.array([[0, 0], [0, size], [size, size]], np.float32) - 0.5
    return cv2.getAffineTransform(quad[:3], dst)


def align_face(image: np.ndarray, landmarks: np.ndarray, *, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """FFHQ-style aligned crop.

    Returns
    -------
    aligned : (size, size, 3) uint8 RGB (area-filtered when shrinking, borders reflected).
    matrix : (2, 3) float64 affine image -> aligned pixels (invert with
        :func:`unalign` to paste results back).
    """
    img = as_uint8_rgb(image)
    M = alignment_matrix(landmarks, size)
    scale = alignment_scale(M)
    src, M_src = img, M
    f = max(1, int(np.floor(1 / scale / 1.5))) if scale < 0.5 else 1
    if f > 1:  # pre-shrink by an integer factor for anti-aliasing
        h, w = img.shape[0] // f, img.shape[1] // f
        src = cv2.resize(img[: h * f, : w * f], (w, h), interpolation=cv2.INTER_AREA)
        # source pixel p_s covers original pixels around f * p_s + (f - 1) / 2
        M_src = np.concatenate([M[:, :2] * f, M[:, 2:] + M[:, :2] @ np.full((2, 1), (f - 1) / 2)], axis=1)
    out = cv2.warpAffine(src, M_src, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out, M


def unalign(aligned: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Warp an aligned (size, size, C) array back into an image of ``shape`` (H, W)."""
    Minv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    a = np.asarray(aligned)
    return cv2.warpAffine(a, Minv, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
