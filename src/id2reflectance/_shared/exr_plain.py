"""Uncompressed scanline OpenEXR files read and written without the OpenEXR library.

An uncompressed single-part scanline file (OpenEXR's file layout, version 2) is the
magic number and version, the header's attributes, a table of one 64-bit file offset per
line, then per line ``int32 y, int32 size`` and the line's channels one after the other
(alphabetical order: ``B, G, R`` or ``A, B, G, R``), ``width`` values each. The library
reads such a file into its own buffer and de-interleaves it into the caller's array (two
copies from the page cache) and writes through a buffer of its own; here:

* :func:`read_plain_exr` maps the file (``MAP_POPULATE``: every page of the page cache
  mapped in one call) and de-interleaves the channel planes straight into the
  ``(H, W, C)`` array (``cv2.merge``, the GIL released): one copy. It takes only files
  it fully understands (the header's channels, compression, data window and line order,
  the offset table and every line's ``y`` and size checked) and returns None for any
  other, which the caller then gives to the OpenEXR library (which reads it or raises
  its error): never wrong pixels.
* :func:`write_plain_exr` writes the header the library writes for the same image
  (byte-identical files, checked by the tests) and builds the lines band by band in one
  staging buffer (``cv2.split``), written in large blocks; with ``direct`` the blocks go
  to the disk without the page cache (``O_DIRECT``: no copy into the kernel's memory,
  which on this virtual machine cost more CPU than the rest of the write), with a plain
  write where the file system refuses direct IO.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AVAILABLE = hasattr(mmap, "MAP_SHARED") and sys.byteorder == "little"
"""Whether this platform can use the module (POSIX mappings; the file's little-endian
values used as they are); elsewhere the callers use the OpenEXR library."""
MAGIC = 20000630
"""The first four bytes of every OpenEXR file (little-endian int32)."""
_LONG_NAMES = 0x400  # version flag: names up to 255 bytes (the only flag a plain file may carry)
_FLOAT = 2  # chlist pixel type: 32-bit float (0 = uint, 1 = half)
_SCANLINE = b"scanlineimage"
_ALIGN = 4096  # O_DIRECT: file offsets, sizes and buffer addresses are multiples of this
_BLOCK = 8 << 20  # bytes per direct write (a multiple of _ALIGN)
_BUFFERED_BLOCK = 1 << 16  # bytes per write through the page cache (about the library's one line per write)
_BAND_BYTES = 1 << 20  # lines built per cv2 call (about a megabyte: in cache)
_CHANNEL_SETS = ((b"B", b"G", b"R"), (b"A", b"B", b"G", b"R"))  # file order; the array's is reversed


@dataclass(frozen=True)
class PlainLayout:
    """Where the lines of an uncompressed scanline file are.

    channels : the file's channel names in file (alphabetical) order.
    width, height : pixels of the data window; y0 : its first line's ``y``.
    first : file offset of the first line's chunk; record : bytes per line's chunk
        (8 + 4 * channels * width), the chunks one after the other.
    """

    channels: tuple[str, ...]
    width: int
    height: int
    y0: int
    first: int
    record: int


def _attributes(data: bytes) -> tuple[dict[bytes, tuple[bytes, bytes]], int] | None:
    """The header's attributes (name -> (type, value)) and the offset just after the header;
    None when ``data`` holds no complete, well-formed header."""
    pos, out = 8, {}
    while True:
        end = data.find(b"\0", pos)
        if end < 0:
            return None
        if end == pos:
            return out, end + 1
        name = data[pos:end]
        tend = data.find(b"\0", end + 1)
        if tend < 0 or tend + 5 > len(data):
            return None
        kind = data[end + 1 : tend]
        (size,) = struct.unpack_from("<i", data, tend + 1)
        start = tend + 5
        if size < 0 or start + size > len(data) or name in out:
            return None
        out[name] = (kind, data[start : start + size])
        pos = start + size


def _channels(value: bytes) -> tuple[bytes, ...] | None:
    """Names of a ``chlist`` whose channels are all float32 and unsampled; None otherwise."""
    names, pos = [], 0
    while pos < len(value) and value[pos] != 0:
        end = value.find(b"\0", pos)
        if end < 0 or end + 17 > len(value):
            return None
        kind, _linear, xs, ys = struct.unpack_from("<iB3xii", value, end + 1)
        if kind != _FLOAT or xs != 1 or ys != 1:
            return None
        names.append(value[pos:end])
        pos = end + 17
    return tuple(names) if pos == len(value) - 1 else None


def plain_layout(head: bytes, file_size: int, *, max_pixels: int) -> PlainLayout | None:
    """The layout of an uncompressed single-part scanline file of float32 ``B, G, R`` or
    ``A, B, G, R`` channels, from its first bytes ``head`` (header and offset table) and
    its size; None for any other file, for a header it does not fully understand, for a
    data window over ``max_pixels`` pixels, and when the offset table is not the one of
    lines stored one after the other in increasing ``y`` or the file is too short for them.
    """
    if len(head) < 8:
        return None
    magic, version = struct.unpack_from("<ii", head)
    if magic != MAGIC or version & ~_LONG_NAMES != 2:  # version 2, single-part scanline, not deep
        return None
    parsed = _attributes(head)
    if parsed is None:
        return None
    attrs, end = parsed
    want = {b"channels": b"chlist", b"compression": b"compression", b"dataWindow": b"box2i", b"lineOrder": b"lineOrder"}
    if any(attrs.get(k, (None,))[0] != t for k, t in want.items()):
        return None
    if attrs[b"compression"][1] != b"\0" or attrs[b"lineOrder"][1] != b"\0":
        return None
    if b"type" in attrs and attrs[b"type"][1] != _SCANLINE or b"tiles" in attrs:
        return None
    names = _channels(attrs[b"channels"][1])
    if names not in _CHANNEL_SETS or len(attrs[b"dataWindow"][1]) != 16:
        return None
    x0, y0, x1, y1 = struct.unpack("<4i", attrs[b"dataWindow"][1])
    w, h = x1 - x0 + 1, y1 - y0 + 1
    if w <= 0 or h <= 0 or w * h > max_pixels:
        return None
    if b"chunkCount" in attrs and attrs[b"chunkCount"][1] != struct.pack("<i", h):
        return None
    record = 8 + 4 * len(names) * w
    first = end + 8 * h
    if len(head) < first or file_size < first + h * record:
        return None
    table = np.frombuffer(head, "<u8", count=h, offset=end)
    if not np.array_equal(table, first + record * np.arange(h, dtype=np.uint64)):
        return None
    return PlainLayout(tuple(n.decode() for n in names), w, h, y0, first, record)


def _line_view(buf: mmap.mmap, offset: int, rows: int, layout: PlainLayout, dtype: str) -> np.ndarray:
    """``(rows, record / 4)`` view of ``rows`` line chunks of ``buf`` from byte ``offset``."""
    return np.frombuffer(buf, dtype, count=rows * layout.record // 4, offset=offset).reshape(rows, -1)


def _planes(lines: np.ndarray, layout: PlainLayout) -> list[np.ndarray]:
    """The channel planes of ``lines`` (rows, record / 4) in the array's order (R, G, B[, A])."""
    w = layout.width
    return [lines[:, 2 + k * w : 2 + (k + 1) * w] for k in range(len(layout.channels))][::-1]


Extremes = tuple[float, float, np.ndarray]
"""``(minimum, maximum, maxima)`` of an image: its smallest and largest value (NaN when it
has a NaN) and the largest value of each band of rows (float32, one per band)."""


def read_plain_exr(
    path: str | Path, *, max_pixels: int, band_rows: int | None = None, in_place: bool = False
) -> tuple[np.ndarray, tuple[str, ...], Extremes | None] | None:
    """Read an uncompressed scanline OpenEXR file of float32 ``B, G, R`` (or ``A, B, G, R``)
    channels, or return None for any other file (the caller reads it with the library).

    Parameters
    ----------
    band_rows : also the pixels' :data:`Extremes` with maxima per band of this many rows,
        taken on the way while each band is in the core's cache (about free; a pass over
        the image each otherwise); None: not computed.
    in_place : return the pixels as a view of the file's own lines (:func:`file_view`: no
        copy, no fresh memory) instead of a C-contiguous copy.

    Returns
    -------
    pixels : (H, W, 3|4) float32, R, G, B[, A] as stored: a C-contiguous array (mapped up
        front: :func:`~id2reflectance._shared.pages.mapped_empty`), or with ``in_place``
        the strided view of :func:`file_view` (writable: copy on write).
    names : ``("R", "G", "B")`` or ``("R", "G", "B", "A")``.
    extremes : of every channel's values (None without ``band_rows``).

    Raises OSError when the file cannot be opened. The file's size is read once and every
    line checked against it before any pixel is read: a file already short gives None
    (the library then names it), never a bus error. A file truncated by another process
    while a copy is made, or while a view of it is alive, can still end the process
    (SIGBUS: a mapping cannot tell): session frames are inputs nobody writes during a
    solve (a file replaced by a new one, renamed over it, leaves the view as it was).
    """
    from id2reflectance._shared.pages import mapped_empty

    if not AVAILABLE:
        return None
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(1 << 16)
        if len(head) < 8 or struct.unpack_from("<i", head)[0] != MAGIC:
            return None
        parsed = _attributes(head)
        window = parsed[0].get(b"dataWindow", (b"", b""))[1] if parsed is not None else b""
        if parsed is not None and len(window) == 16:  # the offset table may reach past the first read
            _, y0, _, y1 = struct.unpack("<4i", window)
            need = parsed[1] + 8 * max(0, min(y1 - y0 + 1, max_pixels))
            if need > len(head):
                head += f.read(need - len(head))
        layout = plain_layout(head, size, max_pixels=max_pixels)
        if layout is None:
            return None
        names = ("R", "G", "B", "A")[: len(layout.channels)]
        if in_place:
            view = file_view(f.fileno(), size, layout)
            if view is None:
                return None
            return view, names, (_view_extremes(view, band_rows) if band_rows is not None else None)
        populate = getattr(mmap, "MAP_POPULATE", 0)
        try:
            mapped = mmap.mmap(f.fileno(), size, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
        except (OSError, ValueError):  # a file system that cannot map files: the library reads it
            return None
        with mapped as m:
            if not _lines_as_laid_out(m, layout):
                return None
            out = mapped_empty((layout.height, layout.width, len(layout.channels)), np.float32)
            extremes = _merge_lines(m, layout, out, band_rows)
    return out, names, extremes


_MADV_POPULATE_READ = 22  # Linux 5.14+: page tables filled for reading, copy on write kept


def file_view(fd: int, size: int, layout: PlainLayout) -> np.ndarray | None:
    """The pixels of an uncompressed file as a view of its lines, no copy; None when a
    line's ``y`` or size is not what ``layout`` says (nothing trusted then).

    Each line is ``[y][size][B row][G row][R row]`` (``[A row]`` first with alpha), so the
    pixels are an ``(H, W, C)`` float32 view with strides ``(record, 4, -4 W)`` starting at
    the first line's ``R`` row (channel order ``R, G, B[, A]`` by the negative stride). The
    first line may start at any byte (header and offset table): the view is then unaligned
    (numpy's ``flags.aligned`` False; x86 loads such values at full speed; numba compiles
    unaligned loads for it). The file (``size`` bytes, checked against the layout by the
    caller) is mapped ``MAP_PRIVATE``: the view is writable and a write copies only the
    page it touches into the process (copy on write), never the file. Its page tables are
    filled for reading in one call (``MADV_POPULATE_READ``, about 0.1 s for 1.6 GB from
    the page cache against about 1 s to fill as much fresh memory; where the kernel lacks
    it, ``MADV_WILLNEED``); ``MAP_POPULATE`` is not used: on a writable private mapping it
    copies every page. The mapping lives as long as the view (and any view of it). None
    too where the file cannot be mapped (a file system without ``mmap``).
    """
    try:
        m = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError):  # a file system that cannot map files: the library reads it
        return None
    if not _populate(m, layout.first, _MADV_POPULATE_READ):  # an older kernel: read ahead instead
        start = layout.first // mmap.PAGESIZE * mmap.PAGESIZE
        m.madvise(mmap.MADV_WILLNEED, start, size - start)
    if not _lines_as_laid_out(m, layout):
        m.close()
        return None
    c, w = len(layout.channels), layout.width
    return np.ndarray(
        (layout.height, w, c),
        "<f4",
        buffer=m,
        offset=layout.first + 8 + 4 * (c - 1) * w,
        strides=(layout.record, 4, -4 * w),
    )


def file_lines(view: np.ndarray) -> np.ndarray:
    """``(H, C W)`` float32 view of the pixel rows of a :func:`file_view` (the lines without
    their ``y`` and size: each row's channel planes, the last channel first)."""
    h, w, c = view.shape
    low = view[:, :, c - 1]  # the lowest address of each row
    return np.lib.stride_tricks.as_strided(low, (h, c * w), (view.strides[0], 4), writeable=False)


def _view_extremes(view: np.ndarray, band_rows: int) -> Extremes:
    """:data:`Extremes` of a :func:`file_view`, band of rows by band of rows (numpy releases
    the GIL; each band's minimum and maximum while it is in cache)."""
    rows = file_lines(view)
    h = rows.shape[0]
    band = max(1, band_rows)
    step = max(1, _BAND_BYTES // (rows.shape[1] * 4))
    n = -(-h // band)
    lows, highs = np.empty(n, np.float32), np.empty(n, np.float32)
    for b, r0 in enumerate(range(0, h, band)):
        lo = hi = None
        for r in range(r0, min(r0 + band, h), step):
            part = rows[r : min(r + step, r0 + band, h)]
            lo = part.min() if lo is None else np.minimum(lo, part.min())
            hi = part.max() if hi is None else np.maximum(hi, part.max())
        lows[b], highs[b] = lo, hi
    return float(lows.min()), float(highs.max()), highs


def _lines_as_laid_out(buf: mmap.mmap, layout: PlainLayout) -> bool:
    """Whether every line of ``buf`` starts with the ``y`` and size ``layout`` says."""
    h = layout.height
    head = np.ndarray((h, 2), "<i4", buffer=buf, offset=layout.first, strides=(layout.record, 4))
    return bool(np.array_equal(head[:, 0], layout.y0 + np.arange(h)) and (head[:, 1] == layout.record - 8).all())


def _merge_lines(buf: mmap.mmap, layout: PlainLayout, out: np.ndarray, band_rows: int | None) -> Extremes | None:
    """De-interleave every line of ``buf`` (checked: :func:`_lines_as_laid_out`) into ``out``
    (H, W, C), about a megabyte at a time, and the extremes of each band of ``band_rows``
    rows while it is in cache (None without ``band_rows``)."""
    import cv2  # here, not above: imageio sets OpenCV's environment before OpenCV is first imported

    h = layout.height
    lines = _line_view(buf, layout.first, h, layout, "<f4")
    step = max(1, _BAND_BYTES // (out.shape[1] * out.shape[2] * 4))
    band = h if band_rows is None else max(1, band_rows)
    lows, highs = np.empty(-(-h // band), np.float32), np.empty(-(-h // band), np.float32)
    for b, r0 in enumerate(range(0, h, band)):
        lo = hi = None
        for r in range(r0, min(r0 + band, h), step):
            rows = slice(r, min(r + step, r0 + band, h))
            dst = out[rows]
            got = cv2.merge(_planes(lines[rows], layout), dst)
            if got.__array_interface__["data"][0] != dst.__array_interface__["data"][0]:
                dst[...] = got  # OpenCV chose other memory (never seen): the pixels are right either way
            if band_rows is not None:  # NaN propagates through numpy's minimum and maximum
                lo = dst.min() if lo is None else np.minimum(lo, dst.min())
                hi = dst.max() if hi is None else np.maximum(hi, dst.max())
        lows[b], highs[b] = (lo, hi) if band_rows is not None else (0, 0)
    if band_rows is None:
        return None
    return float(lows.min()), float(highs.max()), highs


# ------------------------------------------------------------------------- writing


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def plain_header(height: int, width: int, names: tuple[str, ...]) -> bytes:
    """Magic number, version and header (no offset table) of an uncompressed scanline file
    of float32 channels ``names`` (file order), with the attributes the OpenEXR library
    writes for ``write_exr(..., compression="none")``: channels, compression, data and
    display window, line order, pixel aspect ratio, screen window and type."""
    chlist = b"".join(n.encode() + b"\0" + struct.pack("<iB3xii", _FLOAT, 0, 1, 1) for n in names) + b"\0"
    window = struct.pack("<4i", 0, 0, width - 1, height - 1)
    flags = _LONG_NAMES if any(len(n) > 31 for n in names) else 0
    return (
        struct.pack("<ii", MAGIC, 2 | flags)
        + _attribute("channels", "chlist", chlist)
        + _attribute("compression", "compression", b"\0")
        + _attribute("dataWindow", "box2i", window)
        + _attribute("displayWindow", "box2i", window)
        + _attribute("lineOrder", "lineOrder", b"\0")
        + _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0))
        + _attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0))
        + _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0))
        + _attribute("type", "string", _SCANLINE)
        + b"\0"
    )


def write_plain_exr(
    path: str | Path,
    pixels: np.ndarray,
    names: str,
    *,
    direct: bool = False,
    rows_ready: Callable[[int], None] | None = None,
) -> None:
    """Write ``pixels`` as an uncompressed scanline OpenEXR file (not atomically: the caller
    writes to a temporary path), the same bytes as the OpenEXR library writes.

    Parameters
    ----------
    pixels : (H, W) or (H, W, C) float32, C-contiguous; C = 1, 3 or 4. One channel may
        also be bool (stored as 0.0 and 1.0, converted line by line: no float32 copy).
    names : the channel names in the array's order, one letter each (``"RGB"``, ``"Y"``).
    direct : write around the page cache (``O_DIRECT``) where the file system allows it.
    rows_ready : called with ``r`` before rows up to ``r - 1`` are read; returns once they
        hold their final values (the file follows whoever fills ``pixels``).
    """
    a = pixels if pixels.ndim == 3 else pixels[..., None]
    h, w, c = a.shape
    kinds = (np.float32, np.bool_) if c == 1 else (np.float32,)
    if a.dtype not in kinds or not a.flags.c_contiguous or len(names) != c:
        raise ValueError(f"write_plain_exr: C-contiguous float32 with {c} names expected, got {a.dtype} {names!r}")
    layout, head, order = _file_start(h, w, names)
    first = layout.first
    band = max(1, _BAND_BYTES // layout.record)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = _open_direct(path, flags) if direct else -1
    if fd < 0:
        direct, fd = False, os.open(path, flags, 0o666)
    block = max(_BLOCK, _BUFFERED_BLOCK)  # a file that leaves direct mode midway writes the rest in these blocks
    spill = max(len(head), band * layout.record)
    stage = _stage(block + -(-spill // _ALIGN) * _ALIGN)
    block = _BLOCK if direct else _BUFFERED_BLOCK
    try:
        stage[: len(head)] = head
        fill = len(head)
        for r0 in range(0, h + band, band):
            done = 0
            while fill - done >= block:  # whole blocks out; the rest (less than a block) moved to the front
                direct = _write_all(fd, memoryview(stage)[done : done + block], direct)
                done += block
            if done:
                stage.move(0, done, fill - done)
                fill -= done
            if r0 < h:
                rows = min(band, h - r0)
                if rows_ready is not None:
                    rows_ready(r0 + rows)
                _split_lines(stage, fill, a[r0 : r0 + rows], r0, layout, order)
                fill += rows * layout.record
        if direct:  # the last block padded to the alignment, the file then cut to its size
            padded = -(-fill // _ALIGN) * _ALIGN
            stage[fill:padded] = bytes(padded - fill)
            _write_all(fd, memoryview(stage)[:padded], direct)
            os.ftruncate(fd, first + h * layout.record)
        else:
            _write_all(fd, memoryview(stage)[:fill], direct)
    finally:
        os.close(fd)


def _file_start(h: int, w: int, names: str) -> tuple[PlainLayout, bytes, list[int]]:
    """The layout of an uncompressed file of ``h`` lines of ``w`` pixels of channels
    ``names`` (the array's order), its bytes up to the first line (header and offset
    table: what the OpenEXR library writes) and the array's channels in file order."""
    c = len(names)
    order = sorted(range(c), key=lambda k: names[k])  # file order: alphabetical
    channels = tuple(names[k] for k in order)
    head = plain_header(h, w, channels)
    layout = PlainLayout(channels, w, h, 0, len(head) + 8 * h, 8 + 4 * c * w)
    head += (layout.first + layout.record * np.arange(h, dtype=np.uint64)).astype("<u8").tobytes()
    return layout, head, order


def mapped_lines(path: str | Path | None, height: int, width: int, names: str) -> np.ndarray:
    """Create ``path`` as an uncompressed scanline file of float32 channels ``names`` (``"RGB"``
    or ``"Y"``; every line's ``y`` and size written, the pixels zero) and return its pixels as a
    writable view of the file mapped into memory (``MAP_SHARED``): what is written into the
    view is the file's content, with no copy and no memory of the process's own (the page
    cache's pages). Once every pixel is written the file is the bytes :func:`write_plain_exr`
    writes for the same pixels.

    Returns
    -------
    (H, W, 3) float32 view with strides ``(record, 4, -4 W)`` (:func:`file_view`'s layout),
    or (H, W) with strides ``(record, 4)`` for ``"Y"``; it keeps the mapping alive.

    The file's blocks are reserved first (``posix_fallocate``, where the file system has it:
    a full disk fails here, with OSError, not later with a bus error) and its page tables
    filled for writing in one call (``MADV_POPULATE_WRITE``; about 0.3 s for 1.2 GB here
    against about 0.4 s to map as much fresh anonymous memory and 0.8-2.4 s to ``write`` it
    into the page cache). The caller writes into a temporary folder renamed into place when
    complete: a failed solve leaves no file. ``path`` None: the same view of anonymous
    memory (mapped up front), for pixels in this layout that go to no file.
    """
    if names not in ("RGB", "Y"):
        raise ValueError(f"mapped_lines: channels 'RGB' or 'Y' expected, got {names!r}")
    layout, head, _ = _file_start(height, width, names)
    size = layout.first + height * layout.record
    if path is None:
        populate = getattr(mmap, "MAP_POPULATE", 0)
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
        return _pixels(m, layout, names)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        _write_all(fd, memoryview(head), False)
        try:
            os.posix_fallocate(fd, 0, size)
        except (AttributeError, OSError) as err:  # no fallocate here (tmpfs on old kernels, other systems)
            if isinstance(err, OSError) and err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    _populate(m, layout.first, _MADV_POPULATE_WRITE)  # an older kernel: pages mapped on first write
    lines = np.ndarray((height, 2), "<i4", buffer=m, offset=layout.first, strides=(layout.record, 4))
    lines[:, 0] = np.arange(height)
    lines[:, 1] = layout.record - 8
    return _pixels(m, layout, names)


def _pixels(m: mmap.mmap, layout: PlainLayout, names: str) -> np.ndarray:
    """The pixels of the lines in ``m`` as :func:`mapped_lines` returns them."""
    h, w, c = layout.height, layout.width, len(names)
    if c == 1:
        return np.ndarray((h, w), "<f4", buffer=m, offset=layout.first + 8, strides=(layout.record, 4))
    return np.ndarray(
        (h, w, c), "<f4", buffer=m, offset=layout.first + 8 + 4 * (c - 1) * w, strides=(layout.record, 4, -4 * w)
    )


_MADV_POPULATE_WRITE = 23  # Linux 5.14+: page tables filled for writing
_POPULATE_BYTES = 16 << 20  # bytes per populate call: the process's mappings stay open to its other threads between


def _populate(m: mmap.mmap, first: int, advice: int) -> bool:
    """Fill the page tables of ``m`` from byte ``first`` to its end (``advice``: read or write),
    16 MiB per call (each call holds the process's memory map: another thread's allocation
    waits for it), with the GIL released (``madvise`` through ctypes: ``mmap.madvise`` holds
    it, which stopped every other thread for the whole fill); False where the kernel lacks
    the advice."""
    if not sys.platform.startswith("linux"):  # the advice numbers are Linux's
        return False
    import ctypes  # here: only where something is mapped

    libc = ctypes.CDLL(None, use_errno=True)
    start = first // mmap.PAGESIZE * mmap.PAGESIZE
    base = np.frombuffer(m, np.uint8).ctypes.data
    for at in range(start, len(m), _POPULATE_BYTES):
        n = min(_POPULATE_BYTES, len(m) - at)
        if libc.madvise(ctypes.c_void_p(base + at), ctypes.c_size_t(n), ctypes.c_int(advice)) != 0:
            return False
    return True


_STAGES = threading.local()


def _stage(nbytes: int) -> mmap.mmap:
    """This thread's staging buffer of at least ``nbytes`` (page-aligned: an anonymous
    mapping), reused by the thread's next file (fresh memory costs a page fault per 4 KiB)."""
    stage = getattr(_STAGES, "buffer", None)
    if stage is None or len(stage) < nbytes:
        if stage is not None:
            stage.close()
        populate = getattr(mmap, "MAP_POPULATE", 0)
        stage = _STAGES.buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
    return stage


def _split_lines(
    stage: mmap.mmap, offset: int, rows: np.ndarray, y: int, layout: PlainLayout, order: list[int]
) -> None:
    """Build the chunks of lines ``y, y + 1, ...`` of ``rows`` (n, W, C) in ``stage`` from byte ``offset``."""
    import cv2  # here, not above: imageio sets OpenCV's environment before OpenCV is first imported

    n, w, c = rows.shape
    lines = _line_view(stage, offset, n, layout, "<f4")
    head = lines.view("<i4")[:, :2]
    head[:, 0] = np.arange(y, y + n)
    head[:, 1] = layout.record - 8
    planes = [lines[:, 2 + k * w : 2 + (k + 1) * w] for k in range(c)]  # file order
    if c == 1:
        planes[0][...] = rows[..., 0]  # bool to 0.0 / 1.0 here
        return
    dst = [planes[order.index(k)] for k in range(c)]  # the array's order
    got = cv2.split(rows, dst)
    for g, d in zip(got, dst, strict=True):
        if g.__array_interface__["data"][0] != d.__array_interface__["data"][0]:
            d[...] = g  # OpenCV chose other memory (never seen): copied into place


def _open_direct(path: str | Path, flags: int) -> int:
    """``os.open`` with ``O_DIRECT``; -1 where the system or the file system has none."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct:
        return -1
    try:
        return os.open(path, flags | direct, 0o666)
    except OSError as err:
        if err.errno == errno.EINVAL:  # e.g. tmpfs on older kernels
            return -1
        raise


def _write_all(fd: int, data: memoryview, direct: bool) -> bool:
    """Write all of ``data``; returns whether the file is still in direct mode (a file system
    that refuses a direct write gets the rest through the page cache)."""
    done = 0
    while done < len(data):
        try:
            done += os.write(fd, data[done:])
        except OSError as err:
            if not direct or err.errno != errno.EINVAL:
                raise
            import fcntl  # POSIX only, as O_DIRECT

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            direct = False
    return direct
