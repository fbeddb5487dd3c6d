"""Wanda-sp: Wanda (Sun et al. 2023) made structured, as FLAP's paper defines it (An et al.,
AAAI 2024, the "Wanda-sp" baseline and its WIFN metric).

Wanda scores one weight by its magnitude times the norm of the input feature it reads,
S_ij = |W_ij| · ‖X_j‖₂, with X_j the j-th input over every calibration row (token). Wanda-sp
scores a whole input channel k of the consumer by summing over the consumer's outputs i (and
its offsets δ on a conv or flattened site):

    score_k = Σ_i Σ_δ |W_ikδ| · ‖X_k‖₂,      ‖X_k‖₂ = (Σ_rows x_k²)^½ = (N (C_kk + ⟨x_k⟩²))^½,

read from the site's statistics (N rows, variance C_kk, mean ⟨x_k⟩; no second pass). FLAP's
released code averages over the outputs instead of summing and takes the root-mean-square over
the tokens of each sequence: a positive factor per site, which changes no ranking within a
site. Wanda-sp compensates nothing (rule ``none``) and prunes every layer at the same ratio
(``prune(..., measure="wanda-sp", rule="none", amount=ratio)`` per site).
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.baselines.common import no_argument
from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.sites.site import Site
from neuroplast.stats.site import SiteStatistics

DTYPE = torch.float64


def input_norms(stats: SiteStatistics) -> torch.Tensor:
    """‖X_k‖₂ over the calibration rows, (N (C_kk + ⟨x_k⟩²))^½: (n,) float64."""
    mean = stats.mean.to(DTYPE)
    return (stats.count * (stats.var.to(DTYPE) + mean**2)).clamp_min(0.0).sqrt()


def wanda_sp_scores(site: Site, stats: SiteStatistics) -> torch.Tensor:
    """score_k = Σ_i Σ_δ |W_ikδ| · ‖X_k‖₂ (Wanda-sp): (n,) float64."""
    weight = site.consumer_weight().to(DTYPE)  # (m, n, K)
    return weight.abs().sum(dim=(0, 2)) * input_norms(stats)  # (n,)


def _compute(ctx: MeasureContext) -> torch.Tensor:
    no_argument(ctx, "wanda-sp")
    return wanda_sp_scores(ctx.target, ctx.stats)


MEASURES.register(Measure(
    name="wanda-sp",
    description="Wanda-sp: sum_i |W_ik| * ||X_k||_2 over the calibration rows (use rule none)",
    reference="Sun et al. 2023 (Wanda); structured as in An et al. 2024 (FLAP), Wanda-sp",
    compute=_compute,
))
