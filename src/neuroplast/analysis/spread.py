"""Does one quantity vary more over seeds than another? The log ratio of two standard
deviations from paired samples, with its standard error.

For n paired values (a_s, b_s) from a bivariate normal distribution with correlation ρ, the
sample variances satisfy, for large n (the delta method),

    Var(log s_a²) ≈ 2/(n − 1),   Cov(log s_a², log s_b²) ≈ 2ρ²/(n − 1),

so L = log(s_a / s_b) = ½(log s_a² − log s_b²) has

    se(L) ≈ √((1 − ρ²) / (n − 1)).

This is the large-sample form of the Pitman–Morgan test of equal variances of paired data;
with ρ = 0 it is the normal approximation of the F test. ρ is estimated by the sample
correlation r. The claims read L ± 1.96·se(L), as every other verdict reads mean ± 1.96·se.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class LogRatio(NamedTuple):
    """An estimate of log(σ_a / σ_b): ``mean`` ± ``se`` from ``n`` pairs."""

    mean: float
    se: float
    n: int


def log_sd_ratio(a: Sequence[float], b: Sequence[float]) -> LogRatio | None:
    """log(s_a / s_b) over paired samples with its standard error √((1 − r²)/(n − 1)).

    Returns None with fewer than three pairs or a constant sample (the log ratio is not
    finite).

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"log_sd_ratio needs paired samples, got {x.size} and {y.size} values")
    n = x.size
    if n < 3:
        return None
    sx, sy = float(x.std(ddof=1)), float(y.std(ddof=1))
    if sx <= 0.0 or sy <= 0.0:
        return None
    r = float(np.corrcoef(x, y)[0, 1])
    return LogRatio(math.log(sx / sy), math.sqrt(max(0.0, 1.0 - r * r) / (n - 1)), n)
