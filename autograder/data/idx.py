"""Read the IDX files MNIST is distributed in (plain or gzipped).

An IDX file is a big-endian header followed by raw bytes::

    magic    4 bytes  0x00000803 for images (unsigned bytes, 3 dimensions)
                      0x00000801 for labels (unsigned bytes, 1 dimension)
    sizes    4 bytes per dimension: n (and rows, cols for images)
    data     n * rows * cols (or n) unsigned bytes

Every check here raises :class:`~autograder.errors.DataError` with a message
that names the file and says what is wrong with it: not gzip although it ends
in ``.gz``, a wrong magic number (not an IDX file, or labels and images
swapped), a header shorter than it must be, or a data section shorter
(truncated download) or longer than the header promises.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from autograder.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
GZIP_MAGIC = b"\x1f\x8b"

_KIND = {IMAGES_MAGIC: "images (0x00000803)", LABELS_MAGIC: "labels (0x00000801)"}


def read_bytes(path: str | os.PathLike) -> bytes:
    """Return the content of ``path``, gunzipped when it is a gzip file.

    A file is treated as gzip when it starts with the gzip magic bytes, so a
    decompressed file that kept its ``.gz`` name still reads.

    Raises:
        DataError: the file is missing or unreadable, or its gzip stream is corrupt or cut short.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data[:2] != GZIP_MAGIC and path.suffix == ".gz":
        raise DataError(f"{path}: named .gz but is not a gzip file (starts with {data[:4].hex() or 'nothing'})")
    return gunzip(data, str(path))


def gunzip(data: bytes, source: str) -> bytes:
    """Decompress ``data`` if it is gzip (by its magic bytes); return anything else unchanged.

    Raises:
        DataError: naming ``source``, when the gzip stream is corrupt or cut short.
    """
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: corrupt or truncated gzip data ({exc}); delete it and fetch it again") from None


def parse_images(data: bytes, source: str, shape: tuple[int, int] | None = (28, 28)) -> np.ndarray:
    """Parse the bytes of an IDX3 image file into a ``uint8`` array ``(n, rows, cols)``.

    Args:
        data: the (decompressed) file content.
        source: what to call the data in error messages (usually the file name).
        shape: the expected ``(rows, cols)``; ``None`` accepts any.

    Raises:
        DataError: naming ``source``, for a wrong magic number, a short header,
            an unexpected image shape, or a data section that is shorter
            (truncated) or longer than the header says.
    """
    n, rows, cols = _header(data, source, IMAGES_MAGIC, 3)
    if shape is not None and (rows, cols) != tuple(shape):
        raise DataError(f"{source}: images are {rows}x{cols}, expected {shape[0]}x{shape[1]}")
    pixels = _payload(data, source, 16, n * rows * cols, f"{n:,} images of {rows}x{cols}")
    return pixels.reshape(n, rows, cols)


def parse_labels(data: bytes, source: str) -> np.ndarray:
    """Parse the bytes of an IDX1 label file into a ``uint8`` array ``(n,)``.

    Raises:
        DataError: naming ``source``, for a wrong magic number, a short header,
            or a data section that is shorter (truncated) or longer than the header says.
    """
    (n,) = _header(data, source, LABELS_MAGIC, 1)
    return _payload(data, source, 8, n, f"{n:,} labels")


def read_images(path: str | os.PathLike, shape: tuple[int, int] | None = (28, 28)) -> np.ndarray:
    """Read an IDX3 image file (plain or gzipped) into a ``uint8`` array ``(n, rows, cols)``."""
    return parse_images(read_bytes(path), str(path), shape)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX1 label file (plain or gzipped) into a ``uint8`` array ``(n,)``."""
    return parse_labels(read_bytes(path), str(path))


def encode_images(images: np.ndarray) -> bytes:
    """The IDX3 bytes of a ``uint8`` array ``(n, rows, cols)`` (the inverse of :func:`parse_images`)."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"need a uint8 array (n, rows, cols), got {images.dtype} {images.shape}")
    return struct.pack(">4I", IMAGES_MAGIC, *images.shape) + images.tobytes()


def encode_labels(labels: np.ndarray) -> bytes:
    """The IDX1 bytes of a ``uint8`` array ``(n,)`` (the inverse of :func:`parse_labels`)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"need a uint8 array (n,), got {labels.dtype} {labels.shape}")
    return struct.pack(">2I", LABELS_MAGIC, labels.size) + labels.tobytes()


def _header(data: bytes, source: str, magic: int, ndim: int) -> tuple[int, ...]:
    """Check the magic number and return the ``ndim`` sizes that follow it."""
    size = 4 * (1 + ndim)
    if len(data) < 4:
        raise DataError(f"{source}: only {len(data)} bytes, too short for an IDX file (truncated or empty)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        what = _KIND.get(found)
        hint = f"this is an IDX {what} file" if what else "not an IDX file (an HTML error page or a different format?)"
        raise DataError(f"{source}: bad magic number 0x{found:08x}, expected 0x{magic:08x}: {hint}")
    if len(data) < size:
        raise DataError(f"{source}: header cut short: {len(data)} bytes, an IDX header here has {size} (truncated)")
    return struct.unpack(f">{ndim}I", data[4:size])


def _payload(data: bytes, source: str, offset: int, count: int, what: str) -> np.ndarray:
    """The ``count`` bytes after the header as a fresh, writable ``uint8`` array."""
    have = len(data) - offset
    if have < count:
        raise DataError(
            f"{source}: truncated: the header promises {what} ({count:,} bytes of data) "
            f"but only {have:,} follow; delete the file and fetch it again"
        )
    if have > count:
        raise DataError(f"{source}: {have - count:,} unexpected bytes after {what} (corrupt file or wrong header)")
    # frombuffer is a read-only view of the bytes object; copy so callers own what they get.
    return np.frombuffer(data, dtype=np.uint8, count=count, offset=offset).copy()
