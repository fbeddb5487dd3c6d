"""A small copy of MNIST shipped inside the package, for offline use and tests.

The package contains the official MNIST *test set* (``t10k-images-idx3-ubyte.gz`` and
``t10k-labels-idx1-ubyte.gz``, 10,000 images, 1.6 MB) in ``neuroplast/data/embedded/``.
:func:`load_embedded_mnist` splits it into 8,000 "training" and 2,000 "test" images. It is
not the real 60,000-image MNIST training set: results on it are not comparable with the
paper's.
"""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path

from neuroplast.data.datasets import (
    DataNotFoundError,
    Dataset,
    _splits_from_arrays,
    load_mnist,
)
from neuroplast.data.idx import parse_idx

__all__ = [
    "EMBEDDED_SOURCE",
    "EMBEDDED_TEST_SIZE",
    "EMBEDDED_TRAIN_SIZE",
    "load_embedded_mnist",
    "load_mnist_or_embedded",
]

_IMAGES = "t10k-images-idx3-ubyte.gz"
_LABELS = "t10k-labels-idx1-ubyte.gz"
EMBEDDED_TRAIN_SIZE = 8000
"""Images 0..7999 of the MNIST test set form the embedded training split."""
EMBEDDED_TEST_SIZE = 2000
"""Images 8000..9999 of the MNIST test set form the embedded test split."""
EMBEDDED_SOURCE = (
    "embedded copy of the MNIST test set (10,000 images) inside the package: train = its first "
    "8,000 images, test = its last 2,000; NOT the real 60,000-image MNIST training set"
)


def load_embedded_mnist(*, invert: bool = False) -> Dataset:
    """Loads the MNIST test set shipped inside the package, split 8,000 / 2,000.

    The split is deterministic: train = images 0..7999, test = images 8000..9999 of the
    official MNIST test set. Use it for offline smoke tests and examples; it is not the real
    MNIST training set.

    Args:
        invert: If true, return ``1 - x`` (white background, as in the paper's Mathematica
            data; see :func:`neuroplast.data.load_mnist`).

    Returns:
        A :class:`Dataset` named ``"mnist-embedded"`` with ``train.n == 8000`` and
        ``test.n == 2000``; ``source`` says it is the embedded copy of the test set.

    Raises:
        IdxFormatError: If the packaged files are damaged (reinstall neuroplast).
    """
    folder = resources.files("neuroplast.data").joinpath("embedded")
    images_res = folder.joinpath(_IMAGES)
    labels_res = folder.joinpath(_LABELS)
    images = parse_idx(images_res.read_bytes(), str(images_res))
    labels = parse_idx(labels_res.read_bytes(), str(labels_res))
    k = EMBEDDED_TRAIN_SIZE
    paths = (Path(str(images_res)), Path(str(labels_res))) * 2
    train, test = _splits_from_arrays(
        paths, (images[:k], labels[:k], images[k:], labels[k:]), invert
    )
    if test.n != EMBEDDED_TEST_SIZE:
        raise ValueError(
            f"the embedded MNIST copy holds {k + test.n} images instead of "
            f"{k + EMBEDDED_TEST_SIZE}; the installation is damaged, reinstall neuroplast"
        )
    return Dataset(name="mnist-embedded", train=train, test=test, source=EMBEDDED_SOURCE)


def load_mnist_or_embedded(
    root: str | Path | None = None, *, download: bool = True, invert: bool = False
) -> Dataset:
    """Loads MNIST, falling back to the embedded copy if the real data are unavailable.

    Calls :func:`neuroplast.data.load_mnist` with the same arguments. Only if it raises
    :class:`DataNotFoundError` (files absent and not downloadable) does this return
    :func:`load_embedded_mnist` instead, with a ``UserWarning``; other errors (damaged files,
    checksum mismatches) propagate. Check ``dataset.name`` or ``dataset.source`` to see which
    one you got.

    Args:
        root: Directory to look in first, and to download into.
        download: Whether to try downloading missing files.
        invert: If true, return ``1 - x`` (white background).

    Returns:
        The real MNIST :class:`Dataset` (60,000 / 10,000), or the embedded one (8,000 / 2,000).
    """
    try:
        return load_mnist(root, download=download, invert=invert)
    except DataNotFoundError as exc:
        first_line = str(exc).splitlines()[0]
        warnings.warn(
            f"{first_line} Falling back to the {EMBEDDED_SOURCE}. Set NEUROPLAST_DATA or pass "
            "root=... to use the full dataset.",
            UserWarning,
            stacklevel=2,
        )
        return load_embedded_mnist(invert=invert)
