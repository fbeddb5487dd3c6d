"""The conditional efficiency E^c_l: what removing neuron l costs under least-squares compensation.

The ``lstsq`` rule (:mod:`neuroplast.death.rules`) replaces a dying neuron l by its regression
on its living layer-mates. What it cannot replace is the regression's residual, whose variance
is the conditional variance of x_l given the others, 1/P_ll with P = C⁻¹ the precision matrix
of the living neurons (REFERENCE §1.10; here P = (C + δI)⁻¹, :func:`least_squares_precision`).
The intercept makes the residual's mean zero, so the consumer's pre-activation z_i changes by
w_il · residual, of mean square w_il² / P_ll. Weighting consumer neuron i as eq. 28 does,
g_i = f'_i(ȳ_i)² / C_ii (:func:`~neuroplast.efficiency.paper.consumer_gain`), gives

    E^c_l = (1 / P_ll) · Σ_i g_i w_il²,

eq. 28's E_k = C_kk · Σ_i g_i w_ik² with the variance C_kk replaced by the conditional variance
1/P_kk ≤ C_kk (same unit; equal for a neuron uncorrelated with the others; ≈ 0 for an exact
linear combination of the others, whatever its variance).

Two measures are registered:

* ``conditional``: E^c_k from the site's statistics and the model's weights, a static ranking
  like any other (usable with every rule);
* ``conditional:greedy``: the same numbers, but :func:`neuroplast.death.prune` uses them as a
  greedy selection for rule ``lstsq`` only, in the spirit of structured Optimal Brain Surgeon
  (ZipLM): remove the living neuron with the smallest E^c, let the rule re-wire the consumer
  and downdate P (:class:`~neuroplast.death.rules.Rewirer`), score the survivors again with
  their *current, compensated* outgoing columns and P, and repeat
  (:meth:`~neuroplast.death.rules.Rewirer.removal_costs`; O(n·m + n²) per removal). A static
  ranking scores every neuron as if it alone died; after a removal the compensated columns
  and the conditional variances of its correlated layer-mates change, and the greedy sees it.
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.paper import consumer_gain
from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError

DTYPE = torch.float64
RIDGE = 1e-10
"""δ = RIDGE · mean(diag C) keeps the least-squares precision finite for constant neurons."""
NAME = "conditional"
GREEDY = "greedy"
"""The argument that makes ``conditional`` a greedy selection (``conditional:greedy``)."""


def least_squares_precision(cov: torch.Tensor, site: str) -> torch.Tensor:
    """P = (C + δI)⁻¹, δ = RIDGE · mean(diag C); δ grows ×100 (at most 4 times) if rounding
    left C + δI indefinite. Returns (n, n) float64.

    Raises:
        NeuroplastError: if C + δI stays indefinite (NaN or inconsistent statistics).
    """
    cov = cov.to(DTYPE)
    delta = RIDGE * float(cov.diagonal().mean().clamp_min(1e-300))
    eye = torch.eye(cov.shape[0], dtype=DTYPE)
    for _ in range(4):
        factor, info = torch.linalg.cholesky_ex(cov + delta * eye)
        if int(info) == 0:
            return torch.cholesky_inverse(factor)
        delta *= 100.0
    raise NeuroplastError(
        f"the covariance of site {site!r} is not positive semi-definite (NaN or inconsistent "
        "statistics); collect the statistics again"
    )


def conditional_efficiency(weight: torch.Tensor, precision: torch.Tensor, gain: torch.Tensor,
                           ) -> torch.Tensor:
    """E^c_l = (1/P_ll) · Σ_i g_i w_il² for every neuron l (see the module docstring).

    Args:
        weight: (m, n) or (m, n, K) the consumer's weights w_il(δ) (for a greedy step: the
            re-wired ones); over K offsets the squares are summed, Σ_i g_i Σ_δ w_ilδ².
        precision: (n, n) P of the living neurons (a dead neuron's row and column are those
            of the identity, as :class:`~neuroplast.death.rules.Rewirer` keeps them).
        gain: (m,) g_i, eq. 28's weight of consumer neuron i.

    Returns:
        (n,) float64, finite and ≥ 0.
    """
    squared = weight.to(DTYPE) ** 2
    if squared.ndim == 3:
        squared = squared.sum(dim=2)  # (m, n)
    return (gain.to(DTYPE) @ squared) / precision.diagonal()  # (n,)


def is_greedy(measure: str) -> bool:
    """Whether ``measure`` names a greedy selection (``conditional:greedy``, ``obs:greedy``:
    a measure with a ``greedy_rule`` and the argument ``greedy``)."""
    info, argument = MEASURES.get(measure)
    return info.greedy_rule is not None and argument == GREEDY


def _compute(ctx: MeasureContext) -> torch.Tensor:
    if ctx.argument not in (None, GREEDY):
        raise NeuroplastError(
            f"measure {NAME!r} takes no argument other than {GREEDY!r} "
            f"({NAME}:{GREEDY}, a greedy selection for rule lstsq), got {NAME}:{ctx.argument}"
        )
    if ctx.stats.cov is None:
        raise NeuroplastError(
            f"measure {NAME!r} needs the site covariance; collect statistics with covariance=True"
        )
    weight = ctx.target.consumer_weight()  # (m, n, K)
    gain = consumer_gain(ctx.model, ctx.target, ctx.stats)  # (m,)
    return conditional_efficiency(weight, least_squares_precision(ctx.stats.cov, ctx.site), gain)


MEASURES.register(Measure(
    name=NAME,
    description="conditional efficiency E^c_k = (1/P_kk) sum_i g_i w_ik^2; argument greedy "
                "(conditional:greedy) re-scores after each removal, rule lstsq only",
    reference="ours: eq. 28 with the variance of x_k given its layer-mates, 1/P_kk, P = C^-1",
    compute=_compute,
    needs_covariance=True,
    greedy_rule="lstsq",
))
