"""A Gaussian kernel density estimate (the PDFs of Fig. 21)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SILVERMAN = 1.06
"""Silverman's rule of thumb: bandwidth = 1.06 · s · n^(−1/5) (s the sample s.d., ddof 1)."""


def silverman_bandwidth(values: Sequence[float] | np.ndarray) -> float:
    """1.06 · s · n^(−1/5), with s the sample standard deviation (ddof = 1)."""
    v = np.asarray(values, dtype=np.float64)
    return SILVERMAN * float(v.std(ddof=1)) * v.size ** (-0.2)


def gaussian_kde(values: Sequence[float] | np.ndarray, points: int = 200,
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """The density f(t) = (1 / (n h √(2π))) Σ_s exp(−(t − v_s)² / (2h²)) of ``values`` with
    Silverman's bandwidth h, on ``points`` equally spaced t from min − 3h to max + 3h.

    Returns (t, f), or None with fewer than two values or no spread (no bandwidth).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2 or not v.std() > 0:
        return None
    h = silverman_bandwidth(v)
    grid = np.linspace(v.min() - 3 * h, v.max() + 3 * h, points)
    z = (grid[:, None] - v[None, :]) / h  # (points, n)
    return grid, np.exp(-0.5 * z**2).sum(axis=1) / (v.size * h * math.sqrt(2 * math.pi))
