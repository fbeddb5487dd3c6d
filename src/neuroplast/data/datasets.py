"""MNIST and Fashion-MNIST loaders: local search, optional download, validation.

The four IDX files of a dataset are looked for, in this order, in

1. the explicit ``root`` argument (if given);
2. ``$NEUROPLAST_DATA/mnist`` (or ``fashion-mnist``), then ``$NEUROPLAST_DATA`` itself;
3. the user cache ``$XDG_CACHE_HOME/neuroplast/<name>`` (default ``~/.cache/neuroplast/<name>``).

The first directory holding all four files wins. If none does and ``download=True``, the
missing files are downloaded into ``root`` (if given) or the user cache, checked against the
official MD5 sums and moved into place atomically.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from neuroplast.data.idx import IdxFormatError, IdxHeader, read_idx, read_idx_header
from neuroplast.errors import NeuroplastError
from neuroplast.files import create_temporary

__all__ = [
    "DATA_ENV_VAR",
    "IDX_FILE_NAMES",
    "ChecksumMismatchError",
    "DataNotFoundError",
    "Dataset",
    "Split",
    "data_fingerprint",
    "default_cache_dir",
    "load_fashion_mnist",
    "load_mnist",
    "verify_md5",
]

DATA_ENV_VAR = "NEUROPLAST_DATA"
"""Environment variable naming a directory that holds (or has subfolders holding) the data."""

IDX_FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
"""The four file names, in the order train images, train labels, test images, test labels.

Each may also be present uncompressed, without the ``.gz`` suffix."""

_IMAGE_SHAPE = (28, 28)
_NUM_CLASSES = 10
_FETCH_TIMEOUT_S = 60.0
# Exceptions that mean "this mirror did not deliver the file" (URLError, HTTPError, timeouts
# and connection resets are all OSError subclasses).
_NETWORK_ERRORS = (OSError, http.client.HTTPException)


class DataNotFoundError(FileNotFoundError):
    """The dataset files are not available locally and could not be downloaded.

    The message lists the file names, every directory searched, why nothing was downloaded,
    and how to fix it.
    """


class ChecksumMismatchError(NeuroplastError):
    """A downloaded file does not have the official MD5 sum (a ``ValueError``)."""


@dataclass(frozen=True, eq=False)
class Split:
    """One split (train or test) of an image-classification dataset.

    Attributes:
        x: Float32 images, flattened, shape ``(n, 784)`` for MNIST, values in ``[0, 1]``.
        y: Int64 class labels, shape ``(n,)``.

    Raises:
        TypeError: ``x`` or ``y`` is not a tensor, ``x`` is not floating point (e.g. uint8
            pixels 0–255: pass ``x.float() / 255``) or ``y`` is not integer.
        ValueError: the shapes do not fit together.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        for name, value in (("x", self.x), ("y", self.y)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"Split.{name} must be a torch.Tensor, got {type(value).__name__}; convert "
                    "it with torch.as_tensor(...)"
                )
        if self.x.dim() != 2 or self.y.dim() != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split needs x of shape (n, features) and y of shape (n,), got x "
                f"{tuple(self.x.shape)} and y {tuple(self.y.shape)}"
            )
        if not self.x.dtype.is_floating_point:
            raise TypeError(
                f"Split.x must hold floating-point features (pixels scaled to [0, 1]), got "
                f"{self.x.dtype}; for 0-255 images pass x.float() / 255"
            )
        if self.y.dtype.is_floating_point or self.y.dtype.is_complex or \
                self.y.dtype == torch.bool:
            raise TypeError(
                f"Split.y must hold integer class labels, got {self.y.dtype}; convert them "
                "with y.long()"
            )

    @property
    def n(self) -> int:
        """Number of examples."""
        return int(self.y.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset with its train and test splits.

    Attributes:
        name: Short identifier, e.g. ``"mnist"``, ``"fashion-mnist"`` or ``"mnist-embedded"``.
        train: The training split.
        test: The test split.
        source: Human-readable description of where the data came from (a directory path,
            or a description of the embedded copy).
    """

    name: str
    train: Split
    test: Split
    source: str


def data_fingerprint(dataset: Dataset) -> str:
    """``sha256:<hex digits>`` of a dataset's contents: both splits' features and labels with
    their dtypes and shapes.

    The same data give the same fingerprint wherever they are stored and whether the files are
    compressed or not; any other data (another dataset, a subset, one changed pixel) give
    another. Results folders record it to refuse mixing runs computed from different data.
    """
    return tensors_fingerprint([dataset.train.x, dataset.train.y, dataset.test.x,
                                dataset.test.y])


def tensors_fingerprint(tensors: Iterable[torch.Tensor]) -> str:
    """``sha256:<hex digits>`` of tensors' dtypes, shapes and contents, in order (see
    :func:`data_fingerprint`)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{array.dtype.str}{array.shape};".encode("ascii"))
        digest.update(array)  # hashed in place through the buffer protocol, no copy
    return f"sha256:{digest.hexdigest()}"


@dataclass(frozen=True)
class _Spec:
    """Static description of a downloadable IDX dataset."""

    name: str
    title: str
    mirrors: tuple[str, ...]
    md5: tuple[str, ...]  # aligned with IDX_FILE_NAMES


_MNIST = _Spec(
    name="mnist",
    title="MNIST",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    md5=(
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
)
_FASHION = _Spec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    md5=(
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
)


def default_cache_dir(name: str) -> Path:
    """Returns the user cache directory for dataset ``name``.

    Args:
        name: Dataset identifier, e.g. ``"mnist"``.

    Returns:
        ``$XDG_CACHE_HOME/neuroplast/<name>`` if ``XDG_CACHE_HOME`` is set to an absolute
        path, else ``~/.cache/neuroplast/<name>``.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "neuroplast" / name


def verify_md5(path: str | Path, expected: str) -> None:
    """Checks a file's MD5 sum.

    Args:
        path: The file to check.
        expected: The expected MD5 sum as a hex string (case-insensitive).

    Raises:
        ChecksumMismatchError: If the sum differs.
        FileNotFoundError: If the file does not exist.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected.lower():
        raise ChecksumMismatchError(
            f"{path}: MD5 sum is {actual}, expected {expected.lower()}; the file is corrupted "
            "or is not the official one. Delete it and download it again."
        )


def _fetch(url: str, dest: BinaryIO) -> None:
    """Downloads ``url`` and writes the response body to the open binary file ``dest``.

    Module-level so that tests can monkeypatch it. Raises ``OSError`` (including
    ``urllib.error.URLError``) or ``http.client.HTTPException`` on network failure.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "neuroplast"})
    with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT_S) as response:
        shutil.copyfileobj(response, dest, 1 << 20)


def find_file(directory: Path, filename: str) -> Path | None:
    """Returns ``directory/filename`` or its uncompressed variant, whichever exists first."""
    for candidate in (filename, filename.removesuffix(".gz")):
        path = directory / candidate
        if path.is_file():
            return path
    return None


def _find_all(directory: Path) -> tuple[Path, ...] | None:
    """Returns the four dataset files in ``directory``, or None unless all are present."""
    found = tuple(find_file(directory, name) for name in IDX_FILE_NAMES)
    if any(path is None for path in found):
        return None
    return found  # type: ignore[return-value]


def _search_locations(spec: _Spec, root: Path | None) -> list[tuple[Path, str]]:
    """Directories to search, in order, each with a description for error messages."""
    locations: list[tuple[Path, str]] = []
    if root is not None:
        locations.append((root, "root argument"))
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        env_dir = Path(env).expanduser()
        locations.append((env_dir / spec.name, f"${DATA_ENV_VAR}/{spec.name}"))
        locations.append((env_dir, f"${DATA_ENV_VAR}"))
    locations.append((default_cache_dir(spec.name), "user cache"))
    return locations


def _not_found_message(spec: _Spec, locations: list[tuple[Path, str]], reason: str) -> str:
    names = "\n".join(f"  {name}" for name in IDX_FILE_NAMES)
    places = "\n".join(f"  {path}  ({what})" for path, what in locations)
    env_note = (
        ""
        if os.environ.get(DATA_ENV_VAR)
        else f"\n  (${DATA_ENV_VAR} is not set, so it was not searched)"
    )
    return (
        f"{spec.title} data not found. Looked for these four files (each may also be "
        f"uncompressed, without '.gz'):\n{names}\nin:\n{places}{env_note}\n"
        f"{reason}\n"
        f"To fix this, put the four files in one of these directories, or set "
        f"{DATA_ENV_VAR} to a directory that holds them (directly or in a '{spec.name}' "
        f"subfolder), or pass root=<directory>, or load with download=True on a machine "
        f"with internet access."
    )


def _download_file(spec: _Spec, index: int, dest_dir: Path, failures: list[str]) -> bool:
    """Downloads one file into ``dest_dir``, trying each mirror in turn.

    The file is written to a temporary file in ``dest_dir``, checked against the official MD5
    sum and only then renamed to its final name; the temporary file is always removed.

    Returns:
        True on success; False if every mirror failed with a network error (the reasons are
        appended to ``failures``).

    Raises:
        ChecksumMismatchError: If no mirror delivered the file and at least one delivered a
            file with the wrong MD5 sum.
        OSError: If a temporary file cannot be created in ``dest_dir``.
    """
    filename = IDX_FILE_NAMES[index]
    final = dest_dir / filename
    mismatches: list[str] = []
    for mirror in spec.mirrors:
        url = mirror + filename
        fd, tmp = create_temporary(dest_dir, f".{filename}.", ".part")  # mode: the umask's
        try:
            with os.fdopen(fd, "wb") as fh:
                _fetch(url, fh)
            verify_md5(tmp, spec.md5[index])
            os.replace(tmp, final)
            return True
        except ChecksumMismatchError as exc:
            mismatches.append(f"{url}: {exc}")
        except _NETWORK_ERRORS as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    if mismatches:
        raise ChecksumMismatchError(
            f"Downloaded {spec.title} file {filename} has the wrong MD5 sum (expected "
            f"{spec.md5[index]}):\n  " + "\n  ".join(mismatches) + "\nNothing was saved under "
            f"{final}. Retry later, or download the file by hand from a trusted source and put "
            f"it in {dest_dir}."
        )
    return False


def _download_missing(spec: _Spec, dest_dir: Path, locations: list[tuple[Path, str]]) -> None:
    """Downloads whichever of the four files are missing from ``dest_dir``.

    Raises:
        DataNotFoundError: If a file could not be downloaded (offline, mirrors unreachable,
            or ``dest_dir`` not writable).
        ChecksumMismatchError: If a download arrived corrupted.
    """
    failures: list[str] = []
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        for index, filename in enumerate(IDX_FILE_NAMES):
            if find_file(dest_dir, filename) is None and not _download_file(
                spec, index, dest_dir, failures
            ):
                reasons = "\n".join(f"  {line}" for line in failures)
                raise DataNotFoundError(
                    _not_found_message(
                        spec,
                        locations,
                        f"Downloading {filename} into {dest_dir} failed (offline?):\n{reasons}",
                    )
                )
    except DataNotFoundError:
        raise
    except OSError as exc:
        raise DataNotFoundError(
            _not_found_message(
                spec, locations, f"Could not write downloaded files to {dest_dir}: {exc}"
            )
        ) from exc


def _check_images(path: Path, images: IdxHeader) -> None:
    if images.dtype != np.uint8 or len(images.shape) != 3 or images.shape[1:] != _IMAGE_SHAPE:
        raise IdxFormatError(
            f"IDX file {str(path)!r}: expected images of shape (n, 28, 28) and dtype uint8, "
            f"got shape {images.shape} and dtype {images.dtype}. The file is not an "
            "MNIST-style image file; replace it with the official one (re-download it)."
        )


def _check_labels(path: Path, labels: IdxHeader, n_images: int, images_path: Path) -> None:
    if labels.dtype != np.uint8 or len(labels.shape) != 1:
        raise IdxFormatError(
            f"IDX file {str(path)!r}: expected labels of shape (n,) and dtype uint8, got shape "
            f"{labels.shape} and dtype {labels.dtype}. The file is not an MNIST-style label "
            "file; replace it with the official one (re-download it)."
        )
    if labels.shape[0] != n_images:
        raise IdxFormatError(
            f"IDX file {str(path)!r}: holds {labels.shape[0]} labels but {str(images_path)!r} "
            f"holds {n_images} images. The files do not belong together; replace both with "
            "the official ones (re-download them)."
        )


def _check_label_values(path: Path, labels: np.ndarray) -> None:
    if labels.max() >= _NUM_CLASSES:
        raise IdxFormatError(
            f"IDX file {str(path)!r}: label value {int(labels.max())} is out of range 0..9. "
            "The file is damaged or not a 10-class label file; re-download it."
        )


def _check_headers(paths: tuple[Path, ...], headers: tuple[IdxHeader, ...]) -> None:
    """Shapes, types and counts of (images, labels, images, labels), before any data is read."""
    for images, labels in ((0, 1), (2, 3)):
        _check_images(paths[images], headers[images])
        _check_labels(paths[labels], headers[labels], headers[images].shape[0], paths[images])


def _make_split(images: np.ndarray, labels: np.ndarray, invert: bool) -> Split:
    x = torch.from_numpy(images.reshape(images.shape[0], -1)).to(torch.float32).div_(255.0)
    if invert:
        x = 1.0 - x
    y = torch.from_numpy(labels.astype(np.int64))
    return Split(x=x, y=y)


def _splits_from_arrays(
    paths: tuple[Path, ...], arrays: tuple[np.ndarray, ...], invert: bool
) -> tuple[Split, Split]:
    """Validates (images, labels, images, labels) arrays and turns them into two splits."""
    _check_headers(paths, tuple(IdxHeader(a.dtype, a.shape) for a in arrays))
    train_img, train_lab, test_img, test_lab = arrays
    _check_label_values(paths[1], train_lab)
    _check_label_values(paths[3], test_lab)
    return _make_split(train_img, train_lab, invert), _make_split(test_img, test_lab, invert)


def _read_checked(paths: tuple[Path, ...]) -> tuple[np.ndarray, ...]:
    """The four files' arrays; every header is checked before any file's data is read, so a
    file that declares a huge size is refused without allocating it."""
    _check_headers(paths, tuple(read_idx_header(path) for path in paths))
    return tuple(read_idx(path) for path in paths)


def _load(spec: _Spec, root: str | Path | None, download: bool, invert: bool) -> Dataset:
    root_dir = Path(root).expanduser() if root is not None else None
    locations = _search_locations(spec, root_dir)
    paths: tuple[Path, ...] | None = None
    for candidate, _ in locations:
        paths = _find_all(candidate)
        if paths is not None:
            break
    if paths is None:
        if not download:
            raise DataNotFoundError(
                _not_found_message(spec, locations, "Nothing was downloaded (download=False).")
            )
        directory = root_dir if root_dir is not None else default_cache_dir(spec.name)
        _download_missing(spec, directory, locations)
        paths = _find_all(directory)
        if paths is None:  # pragma: no cover - only if files vanish right after download
            raise DataNotFoundError(
                _not_found_message(spec, locations, f"Files vanished from {directory}.")
            )
    train, test = _splits_from_arrays(paths, _read_checked(paths), invert)
    return Dataset(name=spec.name, train=train, test=test, source=str(paths[0].parent))


def load_mnist(
    root: str | Path | None = None, *, download: bool = True, invert: bool = False
) -> Dataset:
    """Loads MNIST (60,000 training and 10,000 test images of handwritten digits).

    The four files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (or the same names
    without ``.gz``) are looked for in ``root``, then in ``$NEUROPLAST_DATA/mnist`` and
    ``$NEUROPLAST_DATA``, then in the user cache (``$XDG_CACHE_HOME/neuroplast/mnist`` or
    ``~/.cache/neuroplast/mnist``). The first directory holding all four is used. Files
    already present are structure-checked but not MD5-checked (that would slow every load).

    If the files are not found and ``download`` is true, the missing ones are downloaded into
    ``root`` (or the user cache if ``root`` is None) from the public mirrors, checked against
    the official MD5 sums, and renamed into place only once complete.

    Args:
        root: Directory to look in first, and to download into.
        download: Whether to download missing files.
        invert: If true, return ``1 - x``, i.e. white background (1) and dark ink (near 0).
            The paper's Mathematica MNIST images are stored this way (REFERENCE §1.15 item 6:
            corner pixels "always white, x = 1"); use it when comparing with the paper's
            input-pruning results (e.g. N2PS). Criteria based on variance are unaffected.

    Returns:
        A :class:`Dataset` named ``"mnist"``: ``x`` float32 of shape ``(n, 784)`` with values
        ``pixel / 255`` in ``[0, 1]`` (black background = 0 unless ``invert``), ``y`` int64 of
        shape ``(n,)``; ``source`` is the directory the files were read from.

    Raises:
        DataNotFoundError: If the files are not found and cannot be downloaded (the message
            lists the places searched and how to fix it).
        ChecksumMismatchError: If a download arrives with the wrong MD5 sum.
        IdxFormatError: If a file is damaged or has the wrong shape or dtype.
    """
    return _load(_MNIST, root, download, invert)


def load_fashion_mnist(
    root: str | Path | None = None, *, download: bool = True, invert: bool = False
) -> Dataset:
    """Loads Fashion-MNIST (60,000 + 10,000 28x28 grey-scale clothing images, 10 classes).

    Works exactly like :func:`load_mnist` (same file names, same search order, same options),
    but searches ``$NEUROPLAST_DATA/fashion-mnist`` and the ``fashion-mnist`` cache folder and
    downloads from the Fashion-MNIST mirror. Because both datasets use the same file names,
    keep them in separate ``mnist`` / ``fashion-mnist`` subfolders of ``$NEUROPLAST_DATA``:
    files placed directly in ``$NEUROPLAST_DATA`` are taken for whichever dataset is asked
    for.

    Args:
        root: Directory to look in first, and to download into.
        download: Whether to download missing files.
        invert: If true, return ``1 - x`` (white background); see :func:`load_mnist`.

    Returns:
        A :class:`Dataset` named ``"fashion-mnist"``, with splits as in :func:`load_mnist`.

    Raises:
        DataNotFoundError: If the files are not found and cannot be downloaded.
        ChecksumMismatchError: If a download arrives with the wrong MD5 sum.
        IdxFormatError: If a file is damaged or has the wrong shape or dtype.
    """
    return _load(_FASHION, root, download, invert)
