"""Straight lines: the least-squares fit of eqs 50–51 and where a piecewise-linear curve
first reaches a level."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def linear_fit(x: Sequence[float] | np.ndarray,
               y: Sequence[float] | np.ndarray) -> tuple[float | None, float | None]:
    """Least-squares line y = a + b·x (eqs 50–51, with x = Δ⟨H⟩ and y = E); returns (b, a).

    b = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², a = ȳ − b·x̄, in float64. (None, None) with fewer than
    two points or a constant x (no slope is defined).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return None, None
    dx = x - x.mean()
    spread = float(dx @ dx)
    if spread <= 0.0:
        return None, None
    slope = float(dx @ (y - y.mean())) / spread
    return slope, float(y.mean() - slope * x.mean())


def crossing(x: Sequence[float], y: Sequence[float], level: float) -> float | None:
    """The smallest x at which the piecewise-linear curve through the points (x, y), taken in
    increasing x, reaches ``y ≥ level``; None when no point or segment reaches it.

    Used for "size at equal accuracy": x = a net's size, y = its accuracy. A point at or
    above ``level`` whose left neighbour is below it gives the x where the segment between
    them crosses ``level`` (linear interpolation); a first point already at or above it gives
    that point's x (no extrapolation below the smallest size tried).
    """
    points = sorted(zip((float(v) for v in x), (float(v) for v in y), strict=True))
    previous = None
    for px, py in points:
        if py >= level:
            if previous is None or previous[1] >= level:
                return px
            (qx, qy) = previous
            return qx + (level - qy) * (px - qx) / (py - qy)
        previous = (px, py)
    return None
