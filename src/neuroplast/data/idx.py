"""Reading and writing IDX files (the MNIST / Fashion-MNIST container format).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, followed by ``ndim``
big-endian unsigned 32-bit dimension sizes, followed by the array data in C order and
big-endian byte order. Files may be gzip-compressed; :func:`read_idx` detects this from the
gzip magic bytes ``1f 8b``, not from the file name.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from neuroplast.errors import NeuroplastError

__all__ = ["IdxFormatError", "IdxHeader", "parse_idx", "read_idx", "read_idx_header", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype (read-only mapping: no mutable module state).
_CODE_TO_DTYPE = MappingProxyType(
    {
        0x08: np.dtype(">u1"),
        0x09: np.dtype(">i1"),
        0x0B: np.dtype(">i2"),
        0x0C: np.dtype(">i4"),
        0x0D: np.dtype(">f4"),
        0x0E: np.dtype(">f8"),
    }
)
# Native-order numpy dtype -> IDX type code.
_DTYPE_TO_CODE = MappingProxyType(
    {dtype.newbyteorder("="): code for code, dtype in _CODE_TO_DTYPE.items()}
)
_CODE_NAMES = (
    "0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32), 0x0E (float64)"
)
_MAX_NDIM = 4
_MAX_DEFLATE_RATIO = 1032
"""The most a DEFLATE stream can inflate (258-byte matches in ~2 bits): a gzip file of n bytes
holds at most about 1032·n bytes, so a header that declares more is refused before reading."""
_ADVICE = "Re-download the file or regenerate it with neuroplast.data.write_idx."


class IdxFormatError(NeuroplastError):
    """A file is not a valid IDX file, or does not hold the data the caller expected.

    Subclass of :class:`ValueError` (through :class:`neuroplast.errors.NeuroplastError`).
    The message names the file, says what is wrong and what to do about it.
    """


def _fail(name: str, problem: str, advice: str = _ADVICE) -> IdxFormatError:
    return IdxFormatError(f"IDX file {name!r}: {problem}. {advice}")


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX header declares: the element type (native byte order) and the shape."""

    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes of data the header announces."""
        return math.prod(self.shape) * self.dtype.itemsize


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of an IDX file (raw or gzip-compressed) into an array.

    Args:
        data: The file contents.
        name: How to refer to the data in error messages (usually the file path).

    Returns:
        A new, writable, C-contiguous array in native byte order whose shape is the IDX
        dimensions and whose dtype is the IDX element type.

    Raises:
        IdxFormatError: If the data are not a complete, valid IDX file.
    """
    with _open_stream(io.BytesIO(data), len(data), name) as stream:
        return _read_array(stream, name)


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an IDX file, raw or gzip-compressed, as a bounded stream.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the file name. The
    header is read first; then exactly the number of bytes it declares is read (never the
    whole inflated stream), and one more byte is asked for to detect trailing data. So a small
    compressed file that inflates to gigabytes is refused before it fills the memory, and so
    is a header that declares more data than the file can hold.

    Args:
        path: The file to read.

    Returns:
        A new, writable array in native byte order with the file's shape and element type
        (uint8, int8, int16, int32, float32 or float64).

    Raises:
        IdxFormatError: If the file is not a valid IDX file: wrong magic number, unknown type
            code, fewer than 1 or more than 4 dimensions, a zero dimension, a truncated
            payload, trailing bytes, or a corrupted / truncated gzip stream.
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    with path.open("rb") as raw, _open_stream(raw, path.stat().st_size, str(path)) as stream:
        return _read_array(stream, str(path))


def read_idx_header(path: str | Path) -> IdxHeader:
    """Reads only the header of an IDX file (raw or gzip-compressed): type and shape.

    Cheap whatever the file's size; loaders check it before reading the data.

    Raises:
        IdxFormatError: If the header is invalid, or declares more data than the file can hold.
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    with path.open("rb") as raw, _open_stream(raw, path.stat().st_size, str(path)) as stream:
        return _read_header(stream, str(path))


class _Stream:
    """A binary stream over a file of ``size`` bytes, raw or gzip-compressed."""

    def __init__(self, handle: BinaryIO, size: int, compressed: bool) -> None:
        self.handle, self.size, self.compressed = handle, size, compressed

    @property
    def capacity(self) -> int:
        """The most data bytes the file can hold."""
        return self.size * _MAX_DEFLATE_RATIO if self.compressed else self.size

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.compressed:
            self.handle.close()  # the GzipFile; the underlying file is the caller's


def _open_stream(raw: BinaryIO, size: int, name: str) -> _Stream:
    """``raw`` itself, or a gzip stream over it when it starts with the gzip magic bytes."""
    magic = raw.read(2)
    raw.seek(0)
    if magic != _GZIP_MAGIC:
        return _Stream(raw, size, compressed=False)
    return _Stream(gzip.GzipFile(fileobj=raw, mode="rb"), size, compressed=True)


def _gzip_failure(name: str, exc: BaseException) -> IdxFormatError:
    return _fail(
        name,
        f"the gzip stream is corrupted or truncated ({type(exc).__name__}: {exc})",
        "The file is damaged, probably by an incomplete download; delete it and re-download it.",
    )


def _read_into(stream: _Stream, buffer: bytearray | memoryview, name: str) -> int:
    """Fill ``buffer`` from the stream as far as it goes; returns the bytes read."""
    view, filled = memoryview(buffer), 0
    try:
        while filled < len(view):
            count = stream.handle.readinto(view[filled:])
            if not count:
                break
            filled += count
    except (OSError, EOFError, zlib.error) as exc:
        raise _gzip_failure(name, exc) from exc
    return filled


def _read_header(stream: _Stream, name: str) -> IdxHeader:
    head = bytearray(4)
    got = _read_into(stream, head, name)
    if got < 4:
        raise _fail(name, f"only {got} bytes long, too short for the 4-byte IDX header")
    if head[0] != 0 or head[1] != 0:
        raise _fail(
            name,
            f"bad magic number: the first two bytes must be 00 00, got {head[0]:02x} "
            f"{head[1]:02x}, so this is not an IDX file (nor a gzip-compressed one)",
            "Check that the path points to an IDX file such as train-images-idx3-ubyte.gz; "
            "if it does, re-download it.",
        )
    code, ndim = head[2], head[3]
    dtype = _CODE_TO_DTYPE.get(code)
    if dtype is None:
        raise _fail(name, f"unknown element type code 0x{code:02X}; valid codes are {_CODE_NAMES}")
    if not 1 <= ndim <= _MAX_NDIM:
        raise _fail(name, f"unsupported number of dimensions {ndim}; expected 1 to {_MAX_NDIM}")
    sizes = bytearray(4 * ndim)
    got = _read_into(stream, sizes, name)
    if got < len(sizes):
        raise _fail(
            name,
            f"truncated header: {ndim} dimensions need {4 + len(sizes)} header bytes but the "
            f"file has only {4 + got}",
        )
    dims = struct.unpack(f">{ndim}I", sizes)
    if any(d == 0 for d in dims):
        raise _fail(name, f"dimension sizes {dims} contain a zero; every size must be > 0")
    header = IdxHeader(dtype.newbyteorder("="), tuple(dims))
    if header.nbytes > stream.capacity:
        what = "a gzip file of" if stream.compressed else "a file of"
        raise _fail(
            name,
            f"truncated: shape {dims} of {header.dtype.name} needs {header.nbytes:,} data "
            f"bytes, more than {what} {stream.size:,} bytes can hold",
            "The file is incomplete or damaged; delete it and re-download it.",
        )
    return header


def _read_array(stream: _Stream, name: str) -> np.ndarray:
    """Header, then exactly the declared data, then a check that nothing follows."""
    header = _read_header(stream, name)
    data = bytearray(header.nbytes)
    got = _read_into(stream, data, name)
    if got < header.nbytes:
        raise _fail(
            name,
            f"truncated: shape {header.shape} of {header.dtype.name} needs {header.nbytes} "
            f"data bytes but only {got} are present",
            "The file is incomplete (interrupted download?); delete it and re-download it.",
        )
    if _read_into(stream, bytearray(1), name):
        raise _fail(
            name,
            f"trailing bytes after the {header.nbytes} data bytes that shape {header.shape} "
            f"of {header.dtype.name} needs",
            "The file is damaged or not an IDX file; delete it and re-download it.",
        )
    big_endian = header.dtype.newbyteorder(">")
    array = np.frombuffer(data, dtype=big_endian).reshape(header.shape)
    return array.astype(header.dtype, copy=False)


def write_idx(path: str | Path, array: npt.ArrayLike, *, compress: bool | None = None) -> None:
    """Writes an array as an IDX file.

    Args:
        path: Destination file; it is overwritten if it exists.
        array: Array-like data with 1 to 4 dimensions, no zero-size dimension, and dtype
            uint8, int8, int16, int32, float32 or float64 (a CPU tensor works too).
        compress: Whether to gzip the file. ``None`` (the default) compresses exactly when
            the file name ends in ``.gz``.

    Raises:
        ValueError: If the array's dtype or shape cannot be stored in an IDX file.
    """
    path = Path(path)
    arr = np.asarray(array)
    code = _DTYPE_TO_CODE.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"cannot write {path}: dtype {arr.dtype} has no IDX type code; cast the array to "
            "one of uint8, int8, int16, int32, float32 or float64 first"
        )
    if not 1 <= arr.ndim <= _MAX_NDIM:
        raise ValueError(
            f"cannot write {path}: the array has {arr.ndim} dimensions; IDX files written by "
            f"neuroplast have 1 to {_MAX_NDIM} (reshape the array)"
        )
    if any(d == 0 or d > 0xFFFFFFFF for d in arr.shape):
        raise ValueError(
            f"cannot write {path}: shape {arr.shape} has a dimension of size 0 or >= 2**32, "
            "which IDX cannot store"
        )
    header = bytes((0, 0, code, arr.ndim)) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).tobytes()
    data = header + payload
    if compress is None:
        compress = path.name.lower().endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
