"""A byte-level text corpus every machine has: the Python standard library's own ``.py`` files.

The files are a **fixed** sorted list of paths relative to the standard library folder
(``sysconfig.get_paths()["stdlib"]``), shipped with neuroplast as ``stdlib_files.txt``, so every
machine reads the same files where it has them. A file missing on a machine (a distribution
that ships ``tkinter`` apart, an older or newer Python) is reported in
:attr:`Corpus.missing` and skipped; the SHA-256 :attr:`Corpus.fingerprint` of the bytes
actually read says whether two machines trained on the same text (file contents differ between
Python patch releases).

The list was made by :func:`scan_stdlib` on CPython 3.11.7: every ``.py`` file except those
:func:`excluded` names —

* anything under ``site-packages``, ``dist-packages``, ``test``, ``tests``, ``idlelib``,
  ``lib2to3`` or ``__pycache__`` (installed packages and test suites, not the library);
* generated text rather than written code: ``encodings/`` (122 codec tables), ``pydoc_data/``
  (one 700 kB string of documentation), ``_sysconfigdata_*`` and ``config-*`` (the build's
  configuration, machine-specific);
* folders Linux distributions ship as separate packages or strip, so that most machines have
  every file: ``tkinter/``, ``turtledemo/``, ``ensurepip/``, ``ctypes/macholib/``;
* modules removed in Python 3.12 or 3.13 (``distutils``, ``imp``, ``asynchat``, ``asyncore``,
  ``smtpd`` and the "dead batteries" of PEP 594), so newer Pythons miss few files.

The split into training and validation text is **by file**: a file is in the validation set
when the first 8 bytes of the SHA-256 of its relative path, read as an integer, fall below
``validation_fraction`` · 2⁶⁴ — deterministic, independent of which other files exist.
Each split is the concatenation of its files' bytes in list order (tokens 0–255, no
separators).
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import torch

from neuroplast.errors import NeuroplastError

FILE_LIST = "stdlib_files.txt"
"""Package data of :mod:`neuroplast.zoo`: one relative path per line, sorted."""

VALIDATION_FRACTION = 0.1
"""Share of files (by path hash, not by bytes) in the validation split."""

EXCLUDED_DIRS = frozenset({
    "site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__",
})
"""Folder names excluded at any depth (installed packages, test suites, caches)."""

EXCLUDED_TOP = frozenset({
    "encodings", "pydoc_data",  # generated tables and text
    "tkinter", "turtledemo", "ensurepip",  # shipped apart by Linux distributions
    "distutils", "msilib",  # removed in 3.12 / 3.13
})
"""Top-level folders of the standard library excluded (see the module docstring)."""

EXCLUDED_PATHS = frozenset({"ctypes/macholib"})
"""Nested folders excluded (macOS-only, stripped by distributions)."""

REMOVED_MODULES = frozenset({
    "asynchat", "asyncore", "imp", "smtpd",  # removed in 3.12
    "aifc", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "nntplib", "pipes",
    "sndhdr", "sunau", "telnetlib", "uu", "xdrlib",  # PEP 594, removed in 3.13
})
"""Top-level modules (``name.py``) removed in Python 3.12 or 3.13."""


def excluded(path: str) -> str | None:
    """Why the relative path ``path`` is not in the corpus, or None when it may be.

    Args:
        path: a path relative to the standard library folder, ``/``-separated.
    """
    parts = PurePosixPath(path).parts
    if not parts or not parts[-1].endswith(".py"):
        return "not a .py file"
    folders = parts[:-1]
    hit = EXCLUDED_DIRS.intersection(folders)
    if hit:
        return f"under {sorted(hit)[0]}/"
    if folders and folders[0] in EXCLUDED_TOP:
        return f"under {folders[0]}/"
    if folders and folders[0].startswith("config-"):
        return "build configuration"
    if any("/".join(folders[:i]) in EXCLUDED_PATHS for i in range(1, len(folders) + 1)):
        return "macOS-only"
    if parts[-1].startswith("_sysconfigdata_"):
        return "build configuration"
    if len(parts) == 1 and parts[0][:-3] in REMOVED_MODULES:
        return "removed in Python 3.12/3.13"
    return None


def stdlib_root() -> Path:
    """This interpreter's standard library folder (``sysconfig.get_paths()["stdlib"]``)."""
    return Path(sysconfig.get_paths()["stdlib"])


def scan_stdlib(root: str | Path | None = None) -> list[str]:
    """Every ``.py`` file under ``root`` (default: this interpreter's standard library) that
    :func:`excluded` keeps, as sorted ``/``-separated relative paths — how ``stdlib_files.txt``
    was made."""
    root = Path(root) if root is not None else stdlib_root()
    found = (p.relative_to(root).as_posix() for p in root.rglob("*.py") if p.is_file())
    return sorted(p for p in found if excluded(p) is None)


def file_list() -> tuple[str, ...]:
    """The fixed list of relative paths shipped with neuroplast (sorted, unique)."""
    text = resources.files("neuroplast.zoo").joinpath(FILE_LIST).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def is_validation(path: str, fraction: float = VALIDATION_FRACTION) -> bool:
    """True when ``path`` belongs to the validation split (SHA-256 of the path, see above)."""
    digest = hashlib.sha256(path.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


@dataclass(frozen=True)
class Corpus:
    """The bytes of the corpus, split by file.

    Attributes:
        train: (n_train,) uint8 tokens, the training files concatenated in list order.
        validation: (n_validation,) uint8 tokens, the validation files likewise.
        train_files: relative paths read into ``train``.
        validation_files: relative paths read into ``validation``.
        missing: listed paths this machine does not have (skipped).
        root: the folder the files were read from.
        fingerprint: SHA-256 (hex) of the bytes of every file read, concatenated in list order.
    """

    train: torch.Tensor
    validation: torch.Tensor
    train_files: tuple[str, ...]
    validation_files: tuple[str, ...]
    missing: tuple[str, ...]
    root: str
    fingerprint: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready description: sizes, file counts, missing files, fingerprint."""
        return {
            "source": "python-stdlib",
            "root": self.root,
            "fingerprint_sha256": self.fingerprint,
            "n_files_listed": len(self.train_files) + len(self.validation_files)
            + len(self.missing),
            "n_train_files": len(self.train_files),
            "n_validation_files": len(self.validation_files),
            "train_bytes": int(self.train.numel()),
            "validation_bytes": int(self.validation.numel()),
            "missing": list(self.missing),
        }


def load_corpus(root: str | Path | None = None, files: tuple[str, ...] | None = None, *,
                validation_fraction: float = VALIDATION_FRACTION) -> Corpus:
    """Read the corpus: every listed file present under ``root``, split by file.

    Args:
        root: the standard library folder (default: this interpreter's).
        files: relative paths to read (default: :func:`file_list`).
        validation_fraction: share of files in the validation split.

    Raises:
        NeuroplastError: if no listed file exists under ``root``, or a split ends up empty.
    """
    root = Path(root) if root is not None else stdlib_root()
    files = file_list() if files is None else tuple(files)
    hasher = hashlib.sha256()
    parts: dict[bool, list[bytes]] = {False: [], True: []}
    names: dict[bool, list[str]] = {False: [], True: []}
    missing = []
    for path in files:
        full = root / path
        if not full.is_file():
            missing.append(path)
            continue
        data = full.read_bytes()
        hasher.update(data)
        side = is_validation(path, validation_fraction)
        parts[side].append(data)
        names[side].append(path)
    if not names[False] or not names[True]:
        raise NeuroplastError(
            f"the corpus under {root} has {len(names[False])} training and "
            f"{len(names[True])} validation files ({len(missing)} of {len(files)} listed files "
            "are missing); point root at a Python standard library folder "
            "(sysconfig.get_paths()['stdlib'])"
        )

    def tokens(side: bool) -> torch.Tensor:
        return torch.frombuffer(bytearray(b"".join(parts[side])), dtype=torch.uint8)

    return Corpus(tokens(False), tokens(True), tuple(names[False]), tuple(names[True]),
                  tuple(missing), str(root), hasher.hexdigest())
