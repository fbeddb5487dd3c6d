"""Structured Optimal Brain Surgeon on a site: ZipLM (Kurtic et al. 2023) and SlimGPT (Ling et
al. 2024), removing whole input channels of the consumer.

The consumer computes z = W x for every row x of site values (an example, a token). Removing
neuron k and re-fitting the remaining columns so that W' x stays as close as possible to W x
over the calibration rows is a least-squares problem whose Hessian is the *uncentred* second
moment of the consumer's input (no intercept: a bias is not a column of W),

    H = XᵀX / N = E[x xᵀ] = C + μ μᵀ          (n, n), from the site's statistics

(C the covariance, μ the means: no second pass over the data). Structured OBS (ZipLM §3,
one column per structure; SlimGPT's column pruning is the same problem) gives, for a neuron k,

    score_k = Σ_i W_ik² / [H⁻¹]_kk                                  (cost of removing k)
    W ← W − W_:,k [H⁻¹]_k,: / [H⁻¹]_kk                              (the other columns' update)
    H⁻¹ ← H⁻¹ − [H⁻¹]_:,k [H⁻¹]_k,: / [H⁻¹]_kk                      (k removed: Schur complement)

and the greedy procedure removes the cheapest neuron, applies both updates, scores the living
neurons again and repeats. The score is exactly the increase of E_rows ‖W x − W' x‖² (ZipLM
writes H = 2XᵀX and halves the summed scores; the numbers are the same). The bias is not
touched.

In neuroplast's terms this is the ``lstsq`` rule with the greedy ``conditional:greedy``
selection *without* the intercept (uncentred H instead of the covariance C, so the relation has
a_0 = 0 and no bias moves) and *without* eq. 28's consumer gain g_i = f'_i(ȳ_i)²/C_ii (every
consumer output weighs 1): the relation is x_l ≈ −Σ_{j≠l} ([H⁻¹]_lj/[H⁻¹]_ll) x_j, the
regression of x_l on its living layer-mates through the origin, and the cost is the conditional
efficiency E^c with g ≡ 1 and P = H⁻¹. Rule ``obs`` (:mod:`neuroplast.death.rules`) is that
relation; measure ``obs`` is the static score, ``obs:greedy`` the greedy selection for rule
``obs`` (``prune(model, site, data, rule="obs", measure="obs:greedy", amount=...)``). When the
site's means are zero and the gain is uniform (g_i = 1), ``obs`` + ``obs:greedy`` and
``lstsq`` + ``conditional:greedy`` remove the same neurons and give the same weights.

Choices and differences, stated once:

* damping: H⁻¹ = (H + δI)⁻¹ with δ = 1e-10 · mean(diag H) (the ``lstsq`` ridge), i.e. ZipLM's
  relative dampening with ``rel_damp = 1e-10``; ZipLM's code dampens by 1e-2 by default. No
  iterative refinement (``lstsq`` does one step), so the update is ZipLM's to the letter.
* sites with several offsets (conv: K = kh·kw, flatten: K = H·W). ZipLM prunes a conv's input
  channel as a block of K columns of the *unfolded* input, with the (nK × nK) patch Hessian.
  neuroplast keeps the per-row channel relation instead (H over channels at one position, as
  for every other rule), folded into every offset, with the cost Σ_i Σ_δ W_ikδ² / [H⁻¹]_kk.
  That equals ZipLM's block OBS when site values at different positions are uncorrelated;
  otherwise it is a variant of it. Zero padding is consistent with it (a relation without
  intercept holds for the zeros at the border).
* SlimGPT's batched greedy (several columns per step, ordered by a Cholesky factor) is an
  approximation of this one-at-a-time greedy, which is implemented exactly.
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.conditional import conditional_efficiency, least_squares_precision
from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.stats.site import SiteStatistics

DTYPE = torch.float64
NAME = "obs"
GREEDY = "greedy"


def second_moment(stats: SiteStatistics) -> torch.Tensor:
    """H = E[x xᵀ] = C + μ μᵀ over the calibration rows: (n, n) float64.

    Raises:
        NeuroplastError: when the statistics have no covariance.
    """
    if stats.cov is None:
        raise NeuroplastError(
            f"structured OBS needs the site covariance of {stats.site!r} (H = C + mu mu^T); "
            "collect statistics with covariance=True"
        )
    mean = stats.mean.to(DTYPE)
    return stats.cov.to(DTYPE) + torch.outer(mean, mean)


def obs_inverse_hessian(stats: SiteStatistics) -> torch.Tensor:
    """H⁻¹ = (E[x xᵀ] + δI)⁻¹ with δ = 1e-10 · mean(diag H): (n, n) float64."""
    return least_squares_precision(second_moment(stats), stats.site)


def obs_scores(weight: torch.Tensor, inverse_hessian: torch.Tensor) -> torch.Tensor:
    """score_k = Σ_i Σ_δ W_ikδ² / [H⁻¹]_kk for every neuron k: (n,) float64.

    Args:
        weight: (m, n) or (m, n, K) the consumer's (current, already updated) weights.
        inverse_hessian: (n, n) H⁻¹ of the living neurons (identity rows for removed ones).
    """
    gain = torch.ones(weight.shape[0], dtype=DTYPE)  # every consumer output weighs 1
    return conditional_efficiency(weight, inverse_hessian, gain)


def _compute(ctx: MeasureContext) -> torch.Tensor:
    if ctx.argument not in (None, GREEDY):
        raise NeuroplastError(
            f"measure {NAME!r} takes no argument other than {GREEDY!r} ({NAME}:{GREEDY}, the "
            f"greedy selection for rule obs), got {NAME}:{ctx.argument}"
        )
    weight = ctx.target.consumer_weight()  # (m, n, K)
    return obs_scores(weight, obs_inverse_hessian(ctx.stats))


MEASURES.register(Measure(
    name=NAME,
    description="structured OBS score ||W_:,k||^2 / [H^-1]_kk, H = E[x x^T] (uncentred); "
                "argument greedy (obs:greedy) re-scores after each removal, rule obs only",
    reference="Kurtic et al. 2023 (ZipLM) sec. 3; Ling et al. 2024 (SlimGPT); = lstsq + "
              "conditional:greedy without intercept and gain",
    compute=_compute,
    needs_covariance=True,
    greedy_rule=NAME,
))
