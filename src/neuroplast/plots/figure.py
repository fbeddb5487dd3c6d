"""A matplotlib figure without pyplot: no backend switch, no global figure registry."""

from __future__ import annotations

from typing import Any

from neuroplast.errors import NeuroplastError


def new_figure(width: float, height: float) -> Any:
    """A ``matplotlib.figure.Figure`` of ``width`` × ``height`` inches (saved with Agg).

    Raises:
        NeuroplastError: if matplotlib is not installed (the message says how to install it).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise NeuroplastError(
            "drawing plots needs matplotlib; install it with `pip install matplotlib` "
            "(or `pip install neuroplast[plot]`)"
        ) from None
    return Figure(figsize=(width, height))
