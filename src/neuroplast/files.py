"""Writing files safely: atomically, with the permissions the user's umask asks for.

Every file neuroplast writes (models, run records, reports, figures, downloads) goes to a new
temporary file in the destination's directory and is renamed over its final name with
``os.replace``, so readers see the old file or the new one, never half of one. The temporary
file is created with mode ``0o666`` filtered by the process umask, exactly as ``open(path,
"w")`` would create it (``tempfile.mkstemp`` would force ``0o600``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from neuroplast.errors import NeuroplastError

TEMP_SUFFIX = ".tmp"
"""Suffix of temporary files; readers of a directory skip names that start with a dot."""

_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_BINARY", 0))


def create_temporary(directory: str | Path, prefix: str,
                     suffix: str = TEMP_SUFFIX) -> tuple[int, Path]:
    """A new, empty file ``directory/<prefix><random><suffix>`` opened for writing.

    Its mode is ``0o666`` minus the umask, as for any file a program creates.

    Returns:
        ``(file descriptor, path)``; the caller closes the descriptor and removes or renames
        the file.

    Raises:
        OSError: the directory does not exist or is not writable.
    """
    directory = Path(directory)
    while True:
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, _CREATE_FLAGS, 0o666), path
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically: ``write(handle)`` fills a temporary file that then replaces it.

    The data are flushed and fsync'ed before the rename, and the directory after it, so a
    crash leaves the old file or the new one. On any error the temporary file is removed and
    ``path`` is untouched.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    fd, temporary = create_temporary(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))


def fsync_directory(directory: str | Path) -> None:
    """Flush a directory entry to disk (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def check_writable_directory(directory: str | Path, what: str) -> None:
    """Refuse, before any work, a directory that cannot receive new files.

    ``directory`` need not exist yet: its nearest existing ancestor must then be a directory
    that can hold new entries (neuroplast creates the missing levels when it writes). The
    check creates and removes one temporary file, so it also catches read-only file systems
    and permissions that ``os.access`` misjudges.

    Args:
        directory: where files will be written.
        what: how to name the destination in the message, e.g. ``"--out model.pt"``.

    Raises:
        NeuroplastError: one line naming the directory, the reason and what to do.
    """
    existing = Path(directory)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NeuroplastError(
            f"cannot write {what}: {existing} is not a directory; choose another location"
        )
    try:
        fd, probe = create_temporary(existing, ".neuroplast-write-check.")
    except OSError as exc:
        raise NeuroplastError(
            f"cannot write {what}: {existing} is not writable ({exc.strerror or exc}); make "
            "it writable or choose another location"
        ) from None
    os.close(fd)
    probe.unlink(missing_ok=True)


def first_line(path: str | Path) -> str:
    """The first line of a text file (its first 4 KiB at most), or "" when it cannot be read
    as UTF-8: enough to tell a file neuroplast wrote by its title or mark."""
    try:
        with Path(path).open("rb") as handle:
            return handle.readline(4096).decode("utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return ""


def check_not_empty(path: str | Path, what: str, example: str) -> None:
    """Refuse an empty destination (``Path("")`` would be the current folder); ``what`` names
    it (``--out``), ``example`` is what to give instead ("a file name such as model.pt")."""
    if not str(path).strip():
        raise NeuroplastError(f"{what} is empty; give {example}")


def check_replaceable_file(path: str | Path, force: bool, what: str, advice: str) -> None:
    """Refuse a file destination that exists without ``force``, and, even with it, anything
    but a regular file (a device, a pipe, a symbolic link, dangling or not): ``--force``
    replaces a file the user named, never what such a path stands for.

    Args:
        path: the file to be written.
        force: whether an existing regular file may be replaced.
        what: how to name the destination in the message, e.g. ``"--out model.pt"``.
        advice: what the message tells the user to do about an existing ``path``.

    Raises:
        NeuroplastError: one line naming the destination and what to do.
    """
    target = Path(path)
    if (target.exists() or target.is_symlink()) and not force:
        raise NeuroplastError(f"{path} already exists; {advice}")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        kind = ("a symbolic link" if target.is_symlink()
                else "not a regular file (a device, a pipe or a folder)")
        raise NeuroplastError(f"{what} is {kind}; --force replaces only a regular file; "
                              "choose another path")


def load_without_pickle(path: str | Path, label: str, advice: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: tensors and plain containers only,
    never code. Any failure is one :class:`NeuroplastError` naming ``label`` (what the file
    is, e.g. ``--weights model.pt``) and ending with ``advice`` (what to save instead)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler's reasons are many and long
        raise NeuroplastError(
            f"{label} cannot be read with torch.load(weights_only=True) "
            f"({exc.__class__.__name__}); neuroplast never unpickles code: {advice}"
        ) from None
