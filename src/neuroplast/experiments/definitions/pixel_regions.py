"""Border and centre of the 28×28 MNIST field, and grids of pixel maps, for input-pruning reports.

The paper judges input pruning by eye: a method "removes the border" (Figs 8, 11, 19, 20) or
"removes central pixels and keeps the border" (Fig. 16). To test such statements we count, for
one pruned model, the fraction of removed pixels in two fixed regions:

* **border**: the 4-pixel frame around the image (rows or columns 0–3 and 24–27, 384 pixels) —
  MNIST digits are size-normalised into the central 20×20 box, so this frame is (nearly)
  always background;
* **centre**: the central 12×12 square (rows and columns 8–19, 144 pixels), where the strokes
  are.

``border preference = removal rate(border) − removal rate(centre)`` lies in [−1, 1]: +1 when a
method removes exactly the border, −1 when it removes exactly the centre, ≈0 for a pattern
unrelated to position (e.g. random).

Both §5.5 comparisons (vs N2PS, vs NNSP) also share here the two MNIST encodings they run on
and the sign rule they judge per-seed differences with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from neuroplast.plots.pixel_map import (
    kept_mask,
    removal_colormap,
    removal_frequency,
)

SIDE = 28
BORDER_WIDTH = 4
CENTRE = (8, 20)
"""Rows and columns [8, 20) form the centre square."""
ENCODINGS = {True: "inverted (background 1, the paper's)", False: "standard (background 0)"}
"""The MNIST encodings of §5.5, keyed by ``invert``: the paper's inverted one first."""


def region_masks() -> tuple[torch.Tensor, torch.Tensor]:
    """(border, centre): (28, 28) bool images of the two regions."""
    index = torch.arange(SIDE)
    edge = (index < BORDER_WIDTH) | (index >= SIDE - BORDER_WIDTH)  # (28,)
    inner = (index >= CENTRE[0]) & (index < CENTRE[1])  # (28,)
    border = edge.unsqueeze(0) | edge.unsqueeze(1)  # (28, 28)
    centre = inner.unsqueeze(0) & inner.unsqueeze(1)  # (28, 28)
    return border, centre


def removal_rates(kept: Sequence[int] | torch.Tensor) -> tuple[float, float]:
    """Fractions of the border's and of the centre's pixels that a model removed.

    Args:
        kept: the surviving input pixels (``model.selector.kept``), indices into the 784.
    """
    removed = ~kept_mask(torch.as_tensor(kept, dtype=torch.long))  # (28, 28)
    border, centre = region_masks()
    return (float(removed[border].double().mean()), float(removed[centre].double().mean()))


def border_preference(kept: Sequence[int] | torch.Tensor) -> float:
    """Removal rate on the border minus removal rate in the centre (see module docstring)."""
    border, centre = removal_rates(kept)
    return border - centre


def pixel_map_grid(figure: Any, panels: Sequence[Sequence[tuple[str, list[list[int]]]]]) -> Any:
    """Draw rows of removal-frequency maps (black = never removed, blue = removed in all runs).

    Args:
        figure: a matplotlib ``Figure`` (from ``report.new_figure``), or None (returned as is).
        panels: rows of ``(title, kept sets of the runs)``; an empty kept-set list leaves the
            panel blank.
    """
    if figure is None:
        return None
    colours = removal_colormap()
    rows, columns = len(panels), max(len(row) for row in panels)
    axes = figure.subplots(rows, columns, squeeze=False)
    image = None
    for r, row in enumerate(panels):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(row) or not row[c][1]:
                ax.set_axis_off()
                continue
            title, kept_sets = row[c]
            frequency = removal_frequency([torch.as_tensor(k, dtype=torch.long)
                                           for k in kept_sets])
            image = ax.imshow(frequency.numpy(), cmap=colours, vmin=0.0, vmax=1.0,
                              interpolation="nearest")
            ax.set_title(title, fontsize=8)
    if image is not None:
        figure.colorbar(image, ax=axes, fraction=0.02, pad=0.01,
                        label="fraction of runs removed")
    return figure
