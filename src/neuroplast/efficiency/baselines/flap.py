"""FLAP: fluctuation-based adaptive structured pruning (An et al., AAAI 2024), on any site.

FLAP removes input channels of a consumer (LLaMA's ``down_proj``, ``o_proj``) in three steps;
each is a piece neuroplast already has or a small helper here:

1. **Fluctuation metric** ("WIFV", weighted input feature variance) of channel k,

       S_k = Var(x_k) · ‖W_:,k‖²  =  C_kk · Σ_i Σ_δ W_ikδ²,

   the variance of the channel over the N calibration rows (tokens) times the squared norm of
   the consumer column it feeds (every output i; every offset δ on a conv or flattened site).
   This is eq. 28's E_k = C_kk · Σ_i g_i w_ik² with the consumer gain g_i = f'_i(ȳ_i)²/C_ii
   set to 1. FLAP's paper takes the sample variance (1/(N − 1)); neuroplast's statistics are
   population variances (1/N, decisions.md row 7): one factor N/(N − 1) per site, which
   changes no ranking within a site and cancels in the standardised scores of step 2.
   Registered as measure ``flap``.
2. **Adaptive structure search** ("AL-AM"): each site's scores are standardised,
   Ŝ = (S − mean S) / std S (std with N − 1, as FLAP's ``torch.std``), the standardised
   scores of all sites are ranked together, and the channels with the largest Ŝ are kept
   until their cost is closest to (1 − ratio) of the total; each site loses the rest
   (:func:`flap_allocation`). The cost of a channel is the parameters it owns — FLAP weighs an
   attention head 512/3 MLP channels, the ratio of their parameter counts — so ``ratio`` is
   the fraction of the sites' parameters removed (:func:`parameters_per_neuron`).
3. **Baseline bias compensation**: a removed channel is replaced by its mean, folded into the
   consumer's bias, b' = b + W_:,removed · x̄_removed. That is rule A1 (eqs 73–74); on a
   conv site A1 takes the mean at each kernel offset (zero padding included, decisions.md
   row 29), the exact generalisation of FLAP's Linear-only formula.

:func:`flap_prune` runs the whole procedure: statistics of every site on the unpruned model
(as FLAP collects them before compressing anything), scores, allocation, then
``prune(..., rule="A1", measure="flap", amount=count, stats=...)`` per site.

Left out or different: FLAP's attention heads (scores squared and summed over a head's 128
channels; neuroplast refuses attention heads), its other metrics (IFV, WIFN) and structures
(UL-UM, UL-MM, AL-MM). FLAP's released code keeps the channels scoring *strictly above* the
unit whose cumulative cost is closest to the target, i.e. one unit fewer than the closest
prefix this module keeps. A site keeps at least one neuron (FLAP never empties a layer of
LLaMA in practice; here the allocation caps a site's removals at its width − 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from neuroplast.efficiency.baselines.common import no_argument
from neuroplast.efficiency.paper import squared_outgoing
from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.sites.site import Site
from neuroplast.stats.site import Forward, SiteStatistics, collect_site_statistics

DTYPE = torch.float64


def flap_scores(site: Site, stats: SiteStatistics) -> torch.Tensor:
    """S_k = C_kk · Σ_i Σ_δ W_ikδ² (FLAP's fluctuation metric WIFV): (n,) float64."""
    return stats.var.to(DTYPE) * squared_outgoing(site).sum(dim=0)  # (n,)


def standardise(scores: torch.Tensor) -> torch.Tensor:
    """(S − mean S) / std S with the sample standard deviation (N − 1), as FLAP; a site whose
    scores are all equal (std 0, or a single neuron) standardises to zeros. (n,) float64."""
    scores = scores.to(DTYPE)
    if scores.numel() < 2:
        return torch.zeros_like(scores)
    std = scores.std()
    centred = scores - scores.mean()
    return centred / std if float(std) > 0 else torch.zeros_like(scores)


def parameters_per_neuron(site: Site) -> int:
    """Parameters one neuron of ``site`` owns: its share of every upstream parameter (producer
    rows and biases, BatchNorm scale and shift, both projections of a gated site) plus its
    consumer columns (m · K). Buffers (running statistics, selector indices) do not count."""
    upstream = sum(axis.tensor.numel() // site.width for axis in site.upstream
                   if isinstance(axis.tensor, nn.Parameter))
    return upstream + site.consumer_width * site.offsets


def flap_allocation(scores: Mapping[str, torch.Tensor], ratio: float,
                    costs: Mapping[str, float] | None = None) -> dict[str, int]:
    """How many neurons each site loses under FLAP's global standardised ranking.

    Args:
        scores: site name → (n,) scores of that site (small = expendable), e.g.
            :func:`flap_scores`.
        ratio: fraction of the total cost to remove, in [0, 1).
        costs: site name → cost of one of its neurons (default 1 each: ``ratio`` is then a
            fraction of the neurons); :func:`parameters_per_neuron` makes it a fraction of the
            parameters, as FLAP.

    Returns:
        site name → number of neurons to remove (at most its width − 1).

    Raises:
        NeuroplastError: for a ratio outside [0, 1), a missing or non-positive cost, or an
            empty site.
    """
    if not 0.0 <= float(ratio) < 1.0:
        raise NeuroplastError(f"the FLAP ratio must be in [0, 1), got {ratio}")
    names = list(scores)
    if not names or any(scores[name].numel() == 0 for name in names):
        raise NeuroplastError("FLAP's allocation needs at least one site with neurons")
    unit = {name: 1.0 for name in names} if costs is None else dict(costs)
    if any(name not in unit or not float(unit[name]) > 0 for name in names):
        raise NeuroplastError(
            "give a positive cost per neuron for every site (costs=..., e.g. "
            "parameters_per_neuron(site)), or none for one per neuron"
        )
    standard = torch.cat([standardise(scores[name]) for name in names])  # (N,)
    owner = torch.cat([torch.full((scores[name].numel(),), i) for i, name in enumerate(names)])
    cost = torch.tensor([float(unit[name]) for name in names], dtype=DTYPE)[owner]  # (N,)
    order = torch.argsort(standard, descending=True, stable=True)  # largest Ŝ first
    kept_cost = torch.cat([torch.zeros(1, dtype=DTYPE), cost[order].cumsum(0)])  # (N + 1,)
    target = (1.0 - float(ratio)) * float(cost.sum())
    prefix = int(torch.argmin((kept_cost - target).abs()))  # first minimum: fewer kept
    kept = torch.bincount(owner[order[:prefix]], minlength=len(names))
    return {name: min(scores[name].numel() - int(kept[i]), scores[name].numel() - 1)
            for i, name in enumerate(names)}


def flap_prune(model: nn.Module, sites: Sequence[Site], data: Any, *, ratio: float,
               by_parameters: bool = True, optimizer: torch.optim.Optimizer | None = None,
               forward: Forward | None = None) -> list[Any]:
    """FLAP's whole procedure on ``sites`` (module doc): scores and statistics from the
    unpruned model, global standardised allocation, A1 bias compensation.

    Args:
        model: the network, pruned in place.
        sites: the sites to prune together (distinct consumers).
        data: calibration batches (any :data:`~neuroplast.stats.site.Batches`).
        ratio: fraction of the sites' parameters (``by_parameters``) or neurons to remove.
        by_parameters: weigh each neuron by :func:`parameters_per_neuron` (FLAP's choice).
        optimizer: its state follows the surgery.
        forward: how to run the model on one batch.

    Returns:
        One :class:`~neuroplast.death.PruneResult` per site, in the order given.
    """
    from neuroplast.death.strategies import prune  # death imports efficiency: import late

    stats = {site.name: collect_site_statistics(model, site, data, forward=forward)
             for site in sites}
    if len(stats) != len(sites):
        raise NeuroplastError("FLAP's sites need distinct names")
    scores = {site.name: flap_scores(site, stats[site.name]) for site in sites}
    costs = {site.name: float(parameters_per_neuron(site)) for site in sites} \
        if by_parameters else None
    counts = flap_allocation(scores, ratio, costs)
    return [prune(model, site, data, rule="A1", measure="flap", amount=counts[site.name],
                  stats=stats[site.name], optimizer=optimizer, forward=forward)
            for site in sites]


def _compute(ctx: MeasureContext) -> torch.Tensor:
    no_argument(ctx, "flap")
    return flap_scores(ctx.target, ctx.stats)


MEASURES.register(Measure(
    name="flap",
    description="FLAP fluctuation Var(x_k) ||W_:,k||^2 (= E_k with consumer gain 1); with rule "
                "A1 FLAP's bias compensation, flap_prune for its global standardised ranking",
    reference="An et al. 2024 (AAAI), FLAP metric WIFV; eq. 28 with f' = 1, C_ii = 1",
    compute=_compute,
))
