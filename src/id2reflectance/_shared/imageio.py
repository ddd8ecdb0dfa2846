"""Image reading and writing for every encoding of the session and asset formats.

All readers return ``(H, W, C)`` float32 arrays. Linear encodings are returned as stored
(relative radiance, no transfer curve); sRGB-encoded images are decoded with the sRGB
EOTF; camera RAW/DNG is demosaiced and decoded linearly (no auto-brightness, no gamma,
unit white-balance multipliers, camera-native primaries).

Every failure raises :class:`InputFileError` naming the file. Before any pixel is decoded
the header's dimensions of a PNG, JPEG, TIFF or OpenEXR file are read and checked
(:func:`check_image_header`) against :data:`MAX_IMAGE_PIXELS`, and by the callers that
know it against the size their contract requires (the camera's in a session, the
asset's ``size``), so a file whose
header claims 100000 x 100000 pixels is refused without allocating its pixels.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
os.environ.setdefault("CV_IO_MAX_IMAGE_PIXELS", str(1 << 28))  # MAX_IMAGE_PIXELS, for OpenCV imported first here

import cv2
import numpy as np
import tifffile

from id2reflectance._shared import exr_plain
from id2reflectance._shared.atomic import atomic_write
from id2reflectance._shared.exr_plain import read_plain_exr, write_plain_exr
from id2reflectance.errors import ConfigError, InputFileError, ShapeError

MAX_IMAGE_PIXELS = 1 << 28
"""Most pixels a decoded image may have (268 Mpx: an 8192 x 8192 asset map and every camera
fit; 100000 x 100000 does not)."""
Encoding = Literal["linear", "srgb", "raw"]
RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".rw2", ".orf", ".pef", ".srw"}
_EXR_MAX_PIXELS = 1 << 31
ExrCompression = Literal["zip", "zips", "piz", "rle", "none"]
EXR_COMPRESSIONS: dict[str, str] = {
    "zip": "ZIP_COMPRESSION",
    "zips": "ZIPS_COMPRESSION",
    "piz": "PIZ_COMPRESSION",
    "rle": "RLE_COMPRESSION",
    "none": "NO_COMPRESSION",
}
"""The lossless OpenEXR compressions :func:`write_exr` offers (name -> OpenEXR constant); every
OpenEXR reader since 1.x reads them (the lossy PXR24, B44 and DWA, and ZSTD and HTJ2K, which
only OpenEXR >= 3.4 reads, are not offered)."""
EXR_DIRECT_BYTES = 1 << 25
"""Uncompressed EXR files of at least this many bytes of pixels are written around the page
cache when :func:`write_exr` is asked to (``direct``; ``O_DIRECT``,
:func:`~id2reflectance._shared.exr_plain.write_plain_exr`): the copy into the kernel's
memory cost more CPU than the rest of the write (a later read of the file then comes from
the disk); smaller files are not worth it."""


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB EOTF (IEC 61966-2-1). ``x`` in [0, 1], any shape; returns float32 linear."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Inverse sRGB EOTF; input is clipped to [0, 1]; returns float32 in [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


_LUMA_709 = np.array([0.2126, 0.7152, 0.0722])  # Rec.709 luminance weights


def tone_map(rgb: np.ndarray, *, mask: np.ndarray | None = None, exposure_stops: float | None = None) -> np.ndarray:
    """Linear radiance -> display sRGB in [0, 1].

    Parameters
    ----------
    rgb : (H, W, 3) float linear Rec.709 radiance >= 0.
    mask : (H, W) bool foreground for auto exposure (all pixels when None or empty).
    exposure_stops : exposure in stops; None = auto (median foreground luminance -> 0.25).

    Returns
    -------
    (H, W, 3) float32 sRGB-encoded values in [0, 1] (Reinhard extended, white point 4).
    """
    x = np.maximum(np.asarray(rgb, np.float64), 0.0)
    lum = x @ _LUMA_709
    if exposure_stops is None:
        sel = lum[mask] if mask is not None and mask.any() else lum.ravel()
        key = float(np.median(sel)) if sel.size else 0.0
        scale = 0.25 / key if key > 0 else 1.0
    else:
        scale = 2.0 ** float(exposure_stops)
    x *= scale
    lum = lum * scale
    mapped = lum * (1 + lum / 16.0) / (1 + lum)
    x *= np.where(lum > 0, mapped / np.where(lum > 0, lum, 1.0), 0.0)[..., None]
    return linear_to_srgb(np.clip(x, 0.0, 1.0))


# --------------------------------------------------------------------- headers

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_header_size(path: str | Path) -> tuple[int, int] | None:
    """``(height, width)`` from the header of a PNG, JPEG, TIFF or OpenEXR file, pixels undecoded.

    Camera RAW: the size LibRaw's metadata parse reports for the decoded image (nothing
    unpacked; :func:`_raw_size`). None for other types and for a ``.png`` or ``.jpg``
    without such a header (which the decoder then refuses).
    Raises InputFileError naming the file when the header cannot be read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        try:
            with open(path, "rb") as f:
                return _png_size(f) if suffix == ".png" else _jpeg_size(f)
        except OSError as err:
            raise InputFileError(path, None, f"cannot read: {err.strerror}") from err
    if suffix in (".tif", ".tiff"):
        try:
            with tifffile.TiffFile(str(path)) as tif:
                page = tif.pages.first
                return int(page.imagelength), int(page.imagewidth)
        except Exception as err:  # tifffile raises its own TiffFileError, ValueError, struct.error
            raise InputFileError(path, None, f"not a readable TIFF file ({err})") from err
    if suffix == ".exr":
        import OpenEXR  # lazy: a native library that only EXR users need to load

        try:
            with OpenEXR.File(str(path), header_only=True) as f:
                (x0, y0), (x1, y1) = f.header()["dataWindow"]
        except Exception as err:  # OpenEXR raises RuntimeError for unreadable/truncated files
            raise InputFileError(path, None, f"not a readable OpenEXR file ({err})") from err
        return int(y1) - int(y0) + 1, int(x1) - int(x0) + 1
    if suffix in RAW_SUFFIXES:
        return _raw_size(path)
    return None


#: A camera RAW file holds at least this many bytes per pixel of its sensor (lossless
#: compression of real sensor data stays well above 1 bit per pixel; lossy DNG near 1).
RAW_MIN_BYTES_PER_PIXEL = 1 / 16


def _raw_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of a camera RAW file's decoded image from LibRaw's metadata parse.

    Refuses (InputFileError naming the file) a file LibRaw cannot parse, and one too small
    for the sensor its header claims (fewer than :data:`RAW_MIN_BYTES_PER_PIXEL` bytes per
    pixel: truncated, or a hostile header), before any pixel is unpacked.
    """
    import rawpy  # lazy: LibRaw is needed only for camera RAW frames

    try:
        with rawpy.imread(str(path)) as raw:
            s = raw.sizes
    except Exception as err:  # rawpy's LibRawError family, OSError
        raise InputFileError(path, None, f"not a readable camera RAW file ({err})") from err
    n_bytes = path.stat().st_size
    sensor = int(s.raw_width) * int(s.raw_height)
    if n_bytes < sensor * RAW_MIN_BYTES_PER_PIXEL:
        raise InputFileError(
            path,
            None,
            f"is {n_bytes} bytes, too small for the {s.raw_width}x{s.raw_height} sensor its header claims "
            "(truncated or a forged header); not decoded",
        )
    return int(s.height), int(s.width)


def _png_size(f: BinaryIO) -> tuple[int, int] | None:
    """(height, width) of the IHDR chunk, or None without a PNG signature and IHDR."""
    head = f.read(24)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(height), int(width)


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _jpeg_size(f: BinaryIO) -> tuple[int, int] | None:
    """(height, width) of the first start-of-frame segment, walking the segments from SOI;
    None when the file is not laid out as JPEG segments or has no frame before its scan."""
    if f.read(2) != b"\xff\xd8":
        return None
    while True:
        if f.read(1) != b"\xff":
            return None
        marker = f.read(1)
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
        if not marker or marker[0] == 0xDA:  # end of file, or the scan before any frame header
            return None
        if marker[0] == 0x01 or 0xD0 <= marker[0] <= 0xD8:  # markers without a length
            continue
        length = f.read(2)
        if len(length) < 2:
            return None
        if marker[0] in _JPEG_SOF:
            body = f.read(5)  # precision, height, width
            return (int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")) if len(body) == 5 else None
        f.seek(int.from_bytes(length, "big") - 2, os.SEEK_CUR)


def check_image_header(
    path: str | Path, expected_hw: tuple[int, int] | None = None, *, what: str = "the expected size"
) -> None:
    """Refuse an image whose header's size is not ``expected_hw`` or is over :data:`MAX_IMAGE_PIXELS`.

    Parameters
    ----------
    path : a PNG, JPEG, TIFF, OpenEXR or camera RAW file (other types pass unchecked).
    expected_hw : ``(height, width)`` the caller's contract requires, pixels; None: any
        size up to the limit.
    what : names the expected size in the message (``"camera 'cam0'"``).

    Raises
    ------
    InputFileError
        Naming the file, the size its header claims and the size expected or allowed.
    """
    hw = image_header_size(path)
    if hw is None:
        return
    h, w = hw
    if expected_hw is not None and (h, w) != tuple(expected_hw):
        eh, ew = expected_hw
        raise InputFileError(path, None, f"is {w}x{h} but {what} is {ew}x{eh}")
    if h <= 0 or w <= 0 or h * w > MAX_IMAGE_PIXELS:
        raise InputFileError(
            path, None, f"header claims {w}x{h} pixels, over the limit of {MAX_IMAGE_PIXELS} pixels; not decoded"
        )


# --------------------------------------------------------------------------- EXR


def read_exr(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a single-part scanline or tiled OpenEXR file (header checked first:
    :func:`check_image_header`).

    Returns
    -------
    pixels : (H, W, C) float32
        Channels in the order of ``names``; half and uint channels are converted.
    names : tuple of str
        ``("R", "G", "B")``, ``("Y",)``, ``("R", "G", "B", "A")`` or the file's own names
        in alphabetical order.
    """
    import OpenEXR  # lazy: a native library that only EXR users need to load

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    check_image_header(path)
    try:  # an uncompressed float32 RGB(A) file without the library: one copy from the page cache
        plain = read_plain_exr(path, max_pixels=MAX_IMAGE_PIXELS)
    except OSError as err:
        raise InputFileError(path, None, f"cannot read: {err.strerror}") from err
    if plain is not None:
        return plain[:2]
    try:
        # Interleaved first: OpenEXR groups R, G, B (and A) of one type into one (H, W, C)
        # array, decoded straight into it (about 8x faster than separate planes + np.stack).
        with OpenEXR.File(str(path)) as f:
            grouped = {k: np.asarray(v.pixels) for k, v in f.channels().items()}
    except Exception as err:  # OpenEXR raises RuntimeError for unreadable/truncated files
        raise InputFileError(path, None, f"not a readable OpenEXR file ({err})") from err
    if len(grouped) == 1:
        ((key, arr),) = grouped.items()
        if key in ("RGB", "RGBA") and arr.ndim == 3 and arr.shape[2] == len(key):
            return arr.astype(np.float32, copy=False), tuple(key)
        if key == "Y" and arr.ndim == 2:
            return arr.astype(np.float32, copy=False)[..., None], ("Y",)
    return _read_exr_planes(path)


def _read_exr_planes(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`read_exr` for channel sets OpenEXR does not interleave: plane by plane."""
    import OpenEXR

    try:
        with OpenEXR.File(str(path), separate_channels=True) as f:
            chans = {k: np.asarray(v.pixels) for k, v in f.channels().items()}
    except Exception as err:  # OpenEXR raises RuntimeError for unreadable/truncated files
        raise InputFileError(path, None, f"not a readable OpenEXR file ({err})") from err
    if not chans:
        raise InputFileError(path, None, "OpenEXR file has no channels")
    for order in (("R", "G", "B", "A"), ("R", "G", "B"), ("Y",)):
        if set(order) == set(chans):
            names = order
            break
    else:
        names = tuple(sorted(chans))
    shapes = {chans[n].shape for n in names}
    if len(shapes) != 1:
        raise InputFileError(path, None, f"channels have different sizes {sorted(shapes)}")
    pixels = np.stack([chans[n].astype(np.float32, copy=False) for n in names], axis=-1)
    return pixels, names


def write_exr(
    path: str | Path,
    pixels: np.ndarray,
    *,
    channels: str = "auto",
    half: bool = False,
    compression: ExrCompression = "zip",
    rows_ready: Callable[[int], None] | None = None,
    direct: bool = False,
) -> Path:
    """Write ``pixels`` as a scanline OpenEXR file, atomically (every compression lossless).

    Parameters
    ----------
    pixels : (H, W) or (H, W, 1) -> channel ``Y``; (H, W, 3) -> ``R, G, B``;
        (H, W, 4) -> ``R, G, B, A``. Any float dtype (or bool); stored as float32 (or half).
    channels : ``"auto"`` or a string of one-letter channel names of length C.
    half : store 16-bit half floats instead of float32.
    compression : ``"zip"`` (deflate per 16 scanlines: small files, slowest to write),
        ``"zips"`` (deflate per scanline), ``"piz"`` (wavelet + Huffman),
        ``"rle"`` (run lengths: fast, compresses the constant background of masked maps)
        or ``"none"`` (fastest, largest). All lossless; every OpenEXR reader reads them.
        A C-contiguous ``(H, W, 3|4)`` array of the stored type, or planar input (a
        transposed ``(C, H, W)`` array), is written without copies.
    rows_ready : ``rows_ready(r)`` returns once rows ``0 .. r - 1`` of ``pixels`` hold
        their final values (the file written while the array is being filled: line by
        line when uncompressed, else once it is full); None: they do.
    direct : an uncompressed file of at least :data:`EXR_DIRECT_BYTES` bytes of pixels is
        written around the page cache (``O_DIRECT``: no copy into the kernel's memory, but
        a later read of the file comes from the disk).
    """
    import OpenEXR  # lazy: a native library that only EXR users need to load

    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ShapeError(f"write_exr({path}): expected (H, W), (H, W, 1|3|4), got {a.shape}")
    names = {1: "Y", 3: "RGB", 4: "RGBA"}[a.shape[2]] if channels == "auto" else channels
    if len(names) != a.shape[2]:
        raise ShapeError(f"write_exr({path}): {len(names)} channel names for {a.shape[2]} channels")
    dtype = np.float16 if half else np.float32
    if compression not in EXR_COMPRESSIONS:
        raise ConfigError(f"EXR compression must be one of {list(EXR_COMPRESSIONS)}, got {compression!r}")
    keep = a.dtype == bool and a.shape[2] == 1  # a mask: converted line by line
    plain = compression == "none" and not half and names in ("Y", "RGB", "RGBA") and exr_plain.AVAILABLE
    if rows_ready is not None and not (plain and a.flags.c_contiguous and (keep or a.dtype == np.float32)):
        rows_ready(a.shape[0])  # copied or handed to the library whole: every row first
        rows_ready = None
    if plain:
        a = np.ascontiguousarray(a, None if keep else np.float32)  # no copy for the solve's maps
        around = direct and a.nbytes >= EXR_DIRECT_BYTES
        return atomic_write(path, lambda tmp: write_plain_exr(tmp, a, names, direct=around, rows_ready=rows_ready))
    if names in ("RGB", "RGBA") and a.dtype == dtype and a.flags.c_contiguous:
        data = {names: a}  # interleaved: OpenEXR writes it as it is (the same bytes as plane by plane)
    else:
        data = {n: np.ascontiguousarray(a[..., i], dtype=dtype) for i, n in enumerate(names)}
    header = {"compression": getattr(OpenEXR, EXR_COMPRESSIONS[compression]), "type": OpenEXR.scanlineimage}

    def _write(tmp: Path) -> None:
        with OpenEXR.File(header, data) as f:
            f.write(str(tmp))

    return atomic_write(path, _write)


# --------------------------------------------------------------------- 8/16-bit


def decode_image(data: np.ndarray, flags: int) -> np.ndarray | None:
    """``cv2.imdecode(data, flags)`` with OpenCV's own log quiet: a file it cannot decode
    gives None (the caller raises one clear error naming it), not also a ``[ WARN ]`` line
    from the codec on stderr or OpenCV's exception for a header over its pixel limit. ``data``: the file's bytes as a uint8 array (empty: None)."""
    if not data.size:
        return None
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.imdecode(data, flags)
    except cv2.error:  # e.g. over OpenCV's CV_IO_MAX_IMAGE_PIXELS: raised, not None, for some codecs
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


def read_file_bytes(path: str | Path) -> np.ndarray:
    """The bytes of ``path`` as a uint8 array (empty when it is not a file)."""
    path = Path(path)
    return np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)


def _read_integer_image(path: Path) -> np.ndarray:
    """Read PNG/TIFF/JPEG keeping bit depth; returns (H, W, C) in the file's dtype, RGB order."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        try:
            img = tifffile.imread(str(path))
        except Exception as err:
            raise InputFileError(path, None, f"not a readable TIFF file ({err})") from err
    else:
        img = decode_image(read_file_bytes(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise InputFileError(path, None, "not a readable image file (truncated or corrupt?)")
        if img.ndim == 3:
            img = img[..., [2, 1, 0, 3][: img.shape[2]]] if img.shape[2] == 4 else img[..., ::-1]
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise InputFileError(path, None, f"unsupported image layout with shape {img.shape}")
    return img


def _to_unit(img: np.ndarray, path: Path, *, allow_8bit: bool) -> np.ndarray:
    if img.dtype == np.uint16:  # converted inside the division: one float32 array, the same bits
        return np.divide(img, np.float32(65535.0), dtype=np.float32)
    if img.dtype == np.uint8:
        if not allow_8bit:
            raise InputFileError(path, "encoding", "linear images must be 16-bit or float, got 8-bit")
        return np.divide(img, np.float32(255.0), dtype=np.float32)
    if img.dtype.kind == "f":
        return img.astype(np.float32)
    raise InputFileError(path, None, f"unsupported pixel type {img.dtype}")


def read_raw(path: str | Path) -> np.ndarray:
    """Decode camera RAW/DNG linearly: (H, W, 3) float32 camera RGB in [0, 1].

    Demosaic (AHD), no auto-brightness, gamma 1, unit white-balance multipliers, camera
    native primaries (``rig.color_matrix`` maps them to Rec.709), 16-bit output / 65535.
    """
    import rawpy  # lazy: LibRaw is needed only for camera RAW frames

    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    check_image_header(path)  # the size its metadata claims against the file and the pixel limit
    try:
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                use_camera_wb=False,
                use_auto_wb=False,
                user_wb=[1.0, 1.0, 1.0, 1.0],
                output_color=rawpy.ColorSpace.raw,
                user_flip=0,
            )
    except Exception as err:
        raise InputFileError(path, None, f"not a readable camera RAW file ({err})") from err
    return np.divide(rgb, np.float32(65535.0), dtype=np.float32)  # one float32 array, as astype then divide


def read_frame(
    path: str | Path, encoding: Encoding, *, band_rows: int
) -> tuple[np.ndarray, tuple[float, float, np.ndarray] | None]:
    """:func:`read_image`, and the image's minimum, maximum and maxima per band of
    ``band_rows`` rows (:data:`~id2reflectance._shared.exr_plain.Extremes`) when they came
    for free with the decode (an uncompressed float32 RGB EXR, taken while each band is
    in cache), else None (the caller computes what it needs).

    An uncompressed float32 EXR comes back as a view of the file's lines
    (:func:`~id2reflectance._shared.exr_plain.file_view`: strided, possibly unaligned,
    writable copy on write; no copy and no fresh memory); any other frame as a
    C-contiguous array."""
    path = Path(path)
    if encoding == "linear" and path.suffix.lower() == ".exr" and path.is_file():
        check_image_header(path)
        try:
            plain = read_plain_exr(path, max_pixels=MAX_IMAGE_PIXELS, band_rows=band_rows, in_place=True)
        except OSError as err:
            raise InputFileError(path, None, f"cannot read: {err.strerror}") from err
        if plain is not None:
            img = plain[0]
            return (img, plain[2]) if img.shape[2] == 3 else (img[..., :3], None)
    return read_image(path, encoding), None


def read_image(path: str | Path, encoding: Encoding) -> np.ndarray:
    """Read one frame and decode it to linear values.

    Parameters
    ----------
    path : file path; ``.exr`` is OpenEXR, ``.tif/.tiff/.png/.jpg`` raster, RAW suffixes
        (``.dng``, ``.cr2``, ``.nef``, ...) camera RAW.
    encoding : ``"linear"``, ``"srgb"`` or ``"raw"`` as in the session format.

    Returns
    -------
    (H, W, 3) float32, linear, camera RGB (Rec.709 unless a colour matrix applies later).
    Single-channel images are replicated to three channels; alpha is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, None, "file not found")
    suffix = path.suffix.lower()
    if encoding == "raw":
        if suffix not in RAW_SUFFIXES:
            raise InputFileError(path, "encoding", f"'raw' needs a camera RAW/DNG file, got '{suffix}'")
        img = read_raw(path)
    elif suffix == ".exr":
        if encoding != "linear":
            raise InputFileError(path, "encoding", f"OpenEXR frames must be 'linear', got '{encoding}'")
        img, _ = read_exr(path)
    elif suffix in (".png", ".tif", ".tiff", ".jpg", ".jpeg"):
        check_image_header(path)
        raw = _read_integer_image(path)
        if encoding == "linear":
            img = _to_unit(raw, path, allow_8bit=False)
        elif encoding == "srgb":
            img = srgb_to_linear(_to_unit(raw, path, allow_8bit=True))
        else:
            raise InputFileError(path, "encoding", f"unknown encoding '{encoding}'")
    else:
        raise InputFileError(path, None, f"unsupported image type '{suffix}'")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    elif img.shape[2] != 3:
        raise InputFileError(path, None, f"expected 1, 3 or 4 channels, got {img.shape[2]}")
    return np.ascontiguousarray(img, dtype=np.float32)


def write_png(path: str | Path, pixels: np.ndarray, *, bits: Literal[8, 16] = 8) -> Path:
    """Write (H, W) or (H, W, 3|4) values in [0, 1] (already encoded) as PNG, atomically."""
    a = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    scale, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    q = np.round(a * scale).astype(dtype)
    if q.ndim == 3 and q.shape[2] == 3:
        q = q[..., ::-1]
    elif q.ndim == 3 and q.shape[2] == 4:
        q = q[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(q))
    if not ok:
        raise InputFileError(path, None, "PNG encoding failed")
    return atomic_write(path, lambda p: p.write_bytes(buf.tobytes()))


def write_tiff16(path: str | Path, pixels: np.ndarray) -> Path:
    """Write (H, W, 3) values in [0, 1] as 16-bit RGB TIFF, atomically."""
    q = np.round(np.clip(np.asarray(pixels, dtype=np.float32), 0, 1) * 65535.0).astype(np.uint16)
    return atomic_write(path, lambda p: tifffile.imwrite(str(p), q, photometric="rgb" if q.ndim == 3 else None))


def read_png(path: str | Path) -> np.ndarray:
    """(H, W, C) uint8 or uint16 as stored, RGB order (C = 1 or 3; alpha dropped), of a PNG.

    Raises InputFileError when the file is missing, truncated or not a PNG.
    """
    path = Path(path)
    if path.is_file():
        check_image_header(path)
    img = decode_image(read_file_bytes(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputFileError(path, None, "not a readable PNG (missing, truncated or corrupt?)")
    if img.ndim == 2:
        img = img[..., None]
    elif img.shape[2] >= 3:
        img = img[..., 2::-1]
    return np.ascontiguousarray(img)


def read_png_unit(path: str | Path) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] (code values / 255 or / 65535), RGB order, of an 8- or
    16-bit PNG."""
    img = read_png(path)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype)
    if scale is None:
        raise InputFileError(path, None, f"expected an 8- or 16-bit PNG, got {img.dtype}")
    return img.astype(np.float32) / np.float32(scale)


def read_mask(path: str | Path) -> np.ndarray:
    """Read an 8-bit mask PNG: (H, W) bool, True where the value is > 127."""
    if Path(path).is_file():
        check_image_header(path)
    img = _read_integer_image(Path(path))
    if img.dtype != np.uint8:
        raise InputFileError(path, None, f"masks must be 8-bit, got {img.dtype}")
    return img[..., 0] > 127
