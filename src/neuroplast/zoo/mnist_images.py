"""MNIST as images for the convolutional networks: training, validation and test splits.

The 60,000 training images are split into the first 50,000 (``train``: training, and the
calibration data of pruning) and the last 10,000 (``validation``: model selection and the
metrics of pruning sweeps); the 10,000 test images (``test``) give the final number only.
Images are ``(n, 1, 28, 28)`` float32 with pixels / 255 in [0, 1] (black background), labels
int64. The files are read from disk only: this module never downloads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from neuroplast.data import DataNotFoundError, load_mnist
from neuroplast.errors import NeuroplastError

N_VALIDATION = 10_000
"""Images at the end of the MNIST training set held out for validation."""


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """Images and labels of one split.

    Attributes:
        x: (n, 1, 28, 28) float32 images in [0, 1].
        y: (n,) int64 labels.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.dim() != 4 or self.y.dim() != 1 or self.x.shape[0] != self.y.shape[0]:
            raise NeuroplastError(
                f"an image split needs x of shape (n, channels, H, W) and y of shape (n,), "
                f"got x {tuple(self.x.shape)} and y {tuple(self.y.shape)}"
            )

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.y.shape[0])

    def head(self, n: int) -> ImageSplit:
        """The first ``n`` images (all of them when there are fewer)."""
        return ImageSplit(self.x[:n], self.y[:n])

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x, y) batches in order, or shuffled by ``generator``; the last may be smaller."""
        order = (torch.randperm(self.n, generator=generator) if generator is not None
                 else torch.arange(self.n))
        for start in range(0, self.n, batch_size):
            idx = order[start:start + batch_size]
            yield self.x[idx], self.y[idx]


@dataclass(frozen=True, eq=False)
class MnistImages:
    """MNIST split for the CNN benchmarks.

    Attributes:
        train: the first 60,000 − ``n_validation`` training images.
        validation: the last ``n_validation`` training images.
        test: the 10,000 test images.
        source: the folder the IDX files were read from.
    """

    train: ImageSplit
    validation: ImageSplit
    test: ImageSplit
    source: str


def load_mnist_images(root: str | Path | None = None, *,
                      n_validation: int = N_VALIDATION) -> MnistImages:
    """Read MNIST from ``root`` (or ``$NEUROPLAST_DATA``, or the user cache) as images.

    Args:
        root: folder holding the four IDX files (``.gz`` or not); see
            :func:`neuroplast.data.load_mnist` for the search order.
        n_validation: training images held out at the end of the training set.

    Raises:
        NeuroplastError: if the files are not found (nothing is downloaded), or
            ``n_validation`` leaves no training images.
    """
    try:
        data = load_mnist(root, download=False)
    except DataNotFoundError as exc:
        raise NeuroplastError(
            f"{exc}\nThe architecture benchmarks never download: pass --data DIR (or set "
            "NEUROPLAST_DATA) to a folder with the four MNIST IDX files"
        ) from None
    n = data.train.n
    if not 0 < n_validation < n:
        raise NeuroplastError(f"n_validation must be between 1 and {n - 1}, got {n_validation}")

    def images(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 1, 28, 28)  # (n, 1, 28, 28)

    cut = n - n_validation
    return MnistImages(
        train=ImageSplit(images(data.train.x[:cut]), data.train.y[:cut]),
        validation=ImageSplit(images(data.train.x[cut:]), data.train.y[cut:]),
        test=ImageSplit(images(data.test.x), data.test.y),
        source=str(data.source),
    )
