"""Pixel maps: which of the 28×28 MNIST inputs an input-pruned model keeps (Figs 8, 11, 13).

A model whose ``input`` site was pruned records the surviving pixels in
``model.selector.kept``. :func:`kept_mask` turns that into a (28, 28) boolean image;
:func:`removal_frequency` averages several runs into the fraction of runs in which each pixel
was removed, which is what the paper's maps show (black = never removed, blue = removed in all
runs). :func:`draw_pixel_map` and :func:`draw_removal_frequency` write them as PNG with
matplotlib's Agg backend; matplotlib is imported only when drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from neuroplast.errors import NeuroplastError
from neuroplast.plots.figure import new_figure

SHAPE = (28, 28)
"""MNIST image shape; pixel k sits at row k // 28, column k % 28."""
NEVER_REMOVED = "#000000"
ALWAYS_REMOVED = "#1f5fff"


def kept_mask(kept: torch.Tensor, n_features: int = 784, shape: tuple[int, int] = SHAPE,
              ) -> torch.Tensor:
    """(rows, columns) bool image, True where the pixel survives.

    Args:
        kept: indices of the surviving input features (``model.selector.kept``).
        n_features: number of input features of the unpruned model.
        shape: image shape; rows × columns must equal ``n_features``.

    Raises:
        NeuroplastError: if the shape does not fit or an index is out of range.
    """
    if shape[0] * shape[1] != n_features:
        raise NeuroplastError(
            f"a pixel map needs {shape[0]}×{shape[1]} = {shape[0] * shape[1]} input features, "
            f"the model has {n_features}"
        )
    kept = torch.as_tensor(kept, dtype=torch.long).flatten()
    if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= n_features):
        raise NeuroplastError(f"kept feature indices must lie in [0, {n_features})")
    mask = torch.zeros(n_features, dtype=torch.bool)
    mask[kept] = True
    return mask.reshape(shape)


def removal_frequency(kept_sets: Sequence[torch.Tensor], n_features: int = 784,
                      shape: tuple[int, int] = SHAPE) -> torch.Tensor:
    """(rows, columns) float64 image: the fraction of runs in which each pixel was removed."""
    if len(kept_sets) == 0:
        raise NeuroplastError("removal_frequency needs at least one run's kept pixels")
    removed = [(~kept_mask(k, n_features, shape)).to(torch.float64) for k in kept_sets]
    return torch.stack(removed).mean(dim=0)


def removal_colormap() -> Any:
    """The colour map of removal frequency: black = never removed, blue = always removed."""
    try:
        from matplotlib.colors import LinearSegmentedColormap
    except ImportError:
        raise NeuroplastError(
            "drawing pixel maps needs matplotlib; install it with `pip install matplotlib`"
        ) from None
    return LinearSegmentedColormap.from_list("removed", [NEVER_REMOVED, ALWAYS_REMOVED])


def _draw(image: torch.Tensor, path: str | Path, title: str, colorbar: bool) -> Path:
    colours = removal_colormap()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = new_figure(3.6 if colorbar else 3.0, 3.3)
    axes = figure.subplots()
    shown = axes.imshow(image.numpy(), cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])
    if colorbar:
        figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04, label="fraction of runs removed")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def draw_pixel_map(kept: torch.Tensor, path: str | Path, *, n_features: int = 784,
                   shape: tuple[int, int] = SHAPE, title: str | None = None) -> Path:
    """Write a PNG of one model's pixels: black = kept, blue = removed. Returns the path."""
    mask = kept_mask(kept, n_features, shape)
    n_kept = int(mask.sum())
    title = title or f"{n_kept} of {n_features} pixels kept"
    return _draw((~mask).to(torch.float64), path, title, colorbar=False)


def draw_removal_frequency(kept_sets: Sequence[torch.Tensor], path: str | Path, *,
                           n_features: int = 784, shape: tuple[int, int] = SHAPE,
                           title: str | None = None) -> Path:
    """Write a PNG of the fraction of runs in which each pixel was removed (Figs 8, 11, 13)."""
    frequency = removal_frequency(kept_sets, n_features, shape)
    title = title or f"removed pixels over {len(kept_sets)} runs"
    return _draw(frequency, path, title, colorbar=True)
