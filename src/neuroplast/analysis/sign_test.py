"""Which of two settings comes closer more often? The exact two-sided sign test.

Given n paired comparisons of which ``wins`` favour one side and ``losses`` the other (ties
dropped), under the null hypothesis that each side is equally likely to win, the number of
wins is Binomial(n, ½). The two-sided p-value is the probability of a split at least as
uneven as the one seen:

    p = min(1, 2 · P[X ≥ max(wins, losses)]),   X ~ Binomial(wins + losses, ½).

The fidelity study (benchmarks/fidelity.py) uses it to say whether one level of a factor
brings paper cells closer than another (each cell one comparison).
"""

from __future__ import annotations

import math

from neuroplast.errors import NeuroplastError


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign-test p-value for ``wins`` against ``losses`` (ties excluded).

    Returns 1.0 when there is no comparison.

    Raises:
        NeuroplastError: a negative count.
    """
    if wins < 0 or losses < 0:
        raise NeuroplastError(f"counts must be non-negative, got {wins} and {losses}")
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(max(wins, losses), n + 1))
    return min(1.0, 2.0 * tail / 2**n)
