"""Which of many gaps are too large for chance? Holm's step-down test over a family of cells.

Comparing 280 of our numbers with the paper's, each within 2 combined standard errors or not,
about 1 in 20 would miss by chance even if every setting matched: a miss at |z| = 2.5 is
expected a few times among 280. A gap is called *real at family-wise level α* when Holm's
step-down procedure rejects its cell's null hypothesis (ours and the paper's estimate the same
quantity) among all cells compared: with the m two-sided p-values sorted p₍₁₎ ≤ … ≤ p₍ₘ₎,
the cells 1 … k−1 are rejected, where k is the first rank with p₍ₖ₎ > α / (m − k + 1)
(Holm 1979, *Scand. J. Statist.* 6, 65–70). It bounds the chance of calling *any* cell real
when none is by α, under any dependence between the cells (two figures printing one run's
number are two cells here).

A cell's p-value is the normal two-sided tail of z = (ours − paper) / combined s.e., the same
z as the "within 2 s.e." rule reads (p = erfc(|z|/√2)); with 10 seeds a t-tail would be a
little wider, so this errs on the side of calling gaps real.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from neuroplast.errors import NeuroplastError


def two_sided_p(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z: erfc(|z| / √2); 0 for an infinite z."""
    if math.isnan(z):
        raise NeuroplastError("z is NaN; give a finite or infinite z-score")
    return math.erfc(abs(z) / math.sqrt(2.0))


def holm_rejections(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """For each p-value, whether Holm's step-down procedure at family-wise level ``alpha``
    rejects it among all of ``p_values`` (the family); in the input order.

    Raises:
        NeuroplastError: ``alpha`` outside (0, 1) or a p-value outside [0, 1].
    """
    if not 0.0 < alpha < 1.0:
        raise NeuroplastError(f"alpha must lie in (0, 1), got {alpha}")
    bad = [p for p in p_values if not 0.0 <= p <= 1.0]
    if bad:
        raise NeuroplastError(f"p-values must lie in [0, 1], got {bad[:3]}")
    m = len(p_values)
    rejected = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[index] > alpha / (m - rank):
            break
        rejected[index] = True
    return rejected
