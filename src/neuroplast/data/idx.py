"""Reading and writing IDX files (the MNIST / Fashion-MNIST container format).

An IDX file is a 4-byte magic number ``00 00 <dtype code> <ndim>``, followed by ``ndim``
big-endian unsigned 32-bit dimension sizes, followed by the array data in C order and
big-endian byte order. Files may be gzip-compressed; :func:`read_idx` detects this from the
gzip magic bytes ``1f 8b``, not from the file name.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from neuroplast.errors import NeuroplastError

__all__ = ["IdxFormatError", "parse_idx", "read_idx", "write_idx"]

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
_ADVICE = "Re-download the file or regenerate it with neuroplast.data.write_idx."


class IdxFormatError(NeuroplastError):
    """A file is not a valid IDX file, or does not hold the data the caller expected.

    Subclass of :class:`ValueError` (through :class:`neuroplast.errors.NeuroplastError`).
    The message names the file, says what is wrong and what to do about it.
    """


def _fail(name: str, problem: str, advice: str = _ADVICE) -> IdxFormatError:
    return IdxFormatError(f"IDX file {name!r}: {problem}. {advice}")


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
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(
                name,
                f"the gzip stream is corrupted or truncated ({type(exc).__name__}: {exc})",
                "The file is damaged, probably by an incomplete download; delete it and "
                "re-download it.",
            ) from exc
    if len(data) < 4:
        raise _fail(name, f"only {len(data)} bytes long, too short for the 4-byte IDX header")
    if data[0] != 0 or data[1] != 0:
        raise _fail(
            name,
            f"bad magic number: the first two bytes must be 00 00, got {data[0]:02x} "
            f"{data[1]:02x}, so this is not an IDX file (nor a gzip-compressed one)",
            "Check that the path points to an IDX file such as train-images-idx3-ubyte.gz; "
            "if it does, re-download it.",
        )
    code, ndim = data[2], data[3]
    dtype = _CODE_TO_DTYPE.get(code)
    if dtype is None:
        raise _fail(name, f"unknown element type code 0x{code:02X}; valid codes are {_CODE_NAMES}")
    if not 1 <= ndim <= _MAX_NDIM:
        raise _fail(name, f"unsupported number of dimensions {ndim}; expected 1 to {_MAX_NDIM}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise _fail(
            name,
            f"truncated header: {ndim} dimensions need {header_len} header bytes but the file "
            f"has only {len(data)}",
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    if any(d == 0 for d in dims):
        raise _fail(name, f"dimension sizes {dims} contain a zero; every size must be > 0")
    count = math.prod(dims)
    expected = count * dtype.itemsize
    payload = len(data) - header_len
    if payload < expected:
        raise _fail(
            name,
            f"truncated: shape {dims} of {dtype.newbyteorder('=').name} needs {expected} data "
            f"bytes but only {payload} are present",
            "The file is incomplete (interrupted download?); delete it and re-download it.",
        )
    if payload > expected:
        raise _fail(
            name,
            f"{payload - expected} trailing bytes after the {expected} data bytes that shape "
            f"{dims} of {dtype.newbyteorder('=').name} needs",
            "The file is damaged or not an IDX file; delete it and re-download it.",
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an IDX file, raw or gzip-compressed.

    Compression is detected from the gzip magic bytes ``1f 8b``, not from the file name.

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
    return parse_idx(path.read_bytes(), str(path))


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
