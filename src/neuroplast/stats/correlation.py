"""Rank correlation: how well an efficiency orders neurons by their true loss change.

Spearman's ρ is Pearson's correlation of the ranks, with tied values given the average of the
ranks they span (the usual convention, as ``scipy.stats.spearmanr``).
"""

from __future__ import annotations

import math

import torch


def rankdata(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-D tensor, ties given their average rank; (n,) float64."""
    values = values.detach().flatten()
    unique, inverse, counts = torch.unique(values, sorted=True, return_inverse=True,
                                           return_counts=True)
    ends = torch.cumsum(counts, dim=0).to(torch.float64)  # (u,) last rank of each value
    average = ends - (counts.to(torch.float64) - 1.0) / 2.0  # (u,) mean of its ranks
    return average[inverse]  # (n,)


def spearman(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman's rank correlation of two equally long 1-D tensors.

    Returns None when it is undefined: fewer than two values, a NaN, or either side constant
    (all ranks tied).
    """
    a, b = a.detach().flatten().to(torch.float64), b.detach().flatten().to(torch.float64)
    if a.numel() != b.numel():
        raise ValueError(f"spearman needs equally long inputs, got {a.numel()} and {b.numel()}")
    if a.numel() < 2 or bool(torch.isnan(a).any() or torch.isnan(b).any()):
        return None
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denominator == 0.0:
        return None
    return max(-1.0, min(1.0, float(ra @ rb) / denominator))
