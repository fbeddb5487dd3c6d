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

A cell's p-value is the two-sided tail of z = (ours − paper) / combined s.e., the same z as the
"within 2 s.e." rule reads: under a standard normal (p = erfc(|z|/√2)), or under Student's t
with ``dof`` degrees of freedom. Our s.e. comes from ~10 seeds, so the normal tail is too
thin where it matters (|z| = 4: 6e-5 against 0.003 for t with 9 dof) and calls gaps real too
readily; Welch's degrees of freedom for two samples of ≥ n₁ and ≥ n₂ runs are at least
min(n₁, n₂) − 1, so the t tail with that many (9 for 10 seeds against the paper's 28) is the
cautious side. Holm's guarantee holds only as far as the p-values are valid: with the normal
tail it is nominal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from neuroplast.errors import NeuroplastError


def two_sided_p(z: float, dof: int | None = None) -> float:
    """P(|T| ≥ |z|) for T standard normal (``dof`` None: erfc(|z| / √2)) or Student's t with
    ``dof`` degrees of freedom; 0 for an infinite z.

    The t tail is the exact finite series for integer degrees of freedom (Abramowitz & Stegun
    26.7.3–4): with θ = arctan(|z| / √ν), P(|T| < |z|) is
    (2/π)·[θ + sin θ·(cos θ + (2/3)·cos³θ + … + (2·4⋯(ν−3))/(1·3⋯(ν−2))·cos^(ν−2) θ)] for odd ν
    and sin θ·[1 + (1/2)·cos²θ + (1·3)/(2·4)·cos⁴θ + … + (1·3⋯(ν−3))/(2·4⋯(ν−2))·cos^(ν−2) θ]
    for even ν.

    Raises:
        NeuroplastError: z is NaN or ``dof`` is not a positive integer.
    """
    if math.isnan(z):
        raise NeuroplastError("z is NaN; give a finite or infinite z-score")
    if dof is None:
        return math.erfc(abs(z) / math.sqrt(2.0))
    if isinstance(dof, bool) or not isinstance(dof, int) or dof < 1:
        raise NeuroplastError(f"dof must be a positive integer (seeds − 1), got {dof!r}")
    if math.isinf(z):
        return 0.0
    theta = math.atan(abs(z) / math.sqrt(dof))
    cos2 = math.cos(theta) ** 2
    odd = dof % 2 == 1
    # the series in odd (odd ν) or even (even ν) powers of cos θ: each term (k−1)/k of the
    # last × cos² θ
    term, series = (math.cos(theta) if odd else 1.0), 0.0
    for k in range(3 if odd else 2, dof + 1, 2):
        series += term
        term *= cos2 * (k - 1) / k
    inside = math.sin(theta) * series
    if odd:
        inside = 2.0 / math.pi * (theta + inside)
    return max(0.0, 1.0 - inside)


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
