"""N2PS, neural network pruning by significance (Augasta & Kathirvalavakumar 2011), as the
paper reads it (eq. 52, §5.5, Figs 15–16) and in the alternative product reading.

The significance of neuron k of a site, with w_ik its outgoing weights (consumer neuron i):

    s_k = Σ_i | f(tx_k) + w_ik |,     tx_k = Σ_p net_k(p),     f(t) = 1 / (1 + e^(−t)),

where net_k(p) is the neuron's net value on example p: the pixel x_k(p) for ``input``, the
pre-activation (net input) of the neuron for a hidden site, and the sum runs over the N
training examples ("total net value"). f is always the logistic sigmoid of eq. 52, whatever
the network's activation; the paper applies N2PS to sigmoid versions of N4. N2PS prunes a
neuron when its significance is below the *average* significance of its layer: an absolute
cutoff at the mean score.

Registered variants:

* ``n2ps`` — eq. 52 as printed (total net value, ``+`` inside the absolute value). With
  N = 60000, f(tx) saturates to 1 (or to 1/2 for pixels that are always 0), so the ranking is
  the weights' (the paper's explanation of Fig. 16 left).
* ``n2ps-mean`` — first modification: tx_k → tx_k / N, the average net value (every site).
* ``n2ps-mean-inverted`` — second modification: the same, but inputs whose significance is
  *greater* than average are removed. As an efficiency (small = expendable) this is the
  negated significance −s_k on the ``input`` site (so "below the average of the negated
  scores" is "above the average significance"); hidden sites keep +s_k, as the paper inverted
  the input selection only. The input scores are ≤ 0: use an amount, a goal or an absolute
  cutoff with them; a relative cutoff (fraction of the maximum) is meaningless there.
* ``n2ps-product`` — ``s_k = Σ_i |f(tx_k) · w_ik| = f(tx_k) Σ_i |w_ik|``, total net value.
  The paper's "+" may be a transcription of the original's product; we could not check the
  2011 article, so both readings are provided and named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuroplast.data import Split
from neuroplast.efficiency.baselines.common import (
    DTYPE,
    batches,
    no_argument,
    outgoing_weight,
    require_data,
)
from neuroplast.efficiency.registry import MEASURES, MLP_ONLY, Measure, MeasureContext
from neuroplast.sites.layered import LayeredModel

BATCH = 10_000


def total_net_value(model: LayeredModel, site: str, data: Split, batch_size: int = BATCH,
                    ) -> torch.Tensor:
    """tx_k = Σ_p net_k(p): the sum over the data of pixels (``input``) or of pre-activations
    (hidden sites): (n,) float64."""
    target = model.site(site)
    total = torch.zeros(target.width, dtype=DTYPE)
    with torch.no_grad():
        for x, _ in batches(model, data, batch_size):
            if target.producer is None:
                net = model.site_values(site, x)  # (batch, n) pixels
            else:
                previous = model.site_names[target.index - 1]
                net = target.producer(model.site_values(previous, x))  # (batch, n)
            total += net.to(DTYPE).sum(dim=0)
    return total


def significance_sum(activated: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 52 as printed: s_k = Σ_i |f_k + w_ik| for f (n,) and w (m, n): (n,)."""
    return (activated.unsqueeze(0) + weight).abs().sum(dim=0)


def significance_product(activated: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Product reading: s_k = Σ_i |f_k · w_ik| = f_k Σ_i |w_ik|: (n,)."""
    return activated * weight.abs().sum(dim=0)


@dataclass(frozen=True)
class N2PSVariant:
    """One registered reading of N2PS."""

    name: str
    combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    average: bool
    invert_input: bool
    description: str


def n2ps_significance(ctx: MeasureContext, variant: N2PSVariant) -> torch.Tensor:
    """The variant's efficiency for every neuron of the site: (n,) float64."""
    no_argument(ctx, variant.name)
    data = require_data(ctx, variant.name)
    net = total_net_value(ctx.model, ctx.site, data)  # (n,)
    if variant.average:
        net = net / data.x.shape[0]
    significance = variant.combine(torch.sigmoid(net), outgoing_weight(ctx.model, ctx.site))
    if variant.invert_input and ctx.site == "input":
        return -significance
    return significance


VARIANTS = (
    N2PSVariant("n2ps", significance_sum, average=False, invert_input=False,
                description="N2PS as eq. 52 prints it: sum_i |f(total net value) + w_ik|"),
    N2PSVariant("n2ps-mean", significance_sum, average=True, invert_input=False,
                description="N2PS with the average instead of the total net value"),
    N2PSVariant("n2ps-mean-inverted", significance_sum, average=True, invert_input=True,
                description="n2ps-mean, inputs ranked by -significance (removes the "
                            "above-average ones)"),
    N2PSVariant("n2ps-product", significance_product, average=False, invert_input=False,
                description="N2PS, product reading: f(total net value) * sum_i |w_ik|"),
)

_REFERENCES = {
    "n2ps": "eq. 52; Fig. 15 line 1; Augasta & Kathirvalavakumar 2011",
    "n2ps-mean": "eq. 52 with tx/np; Fig. 15 line 2",
    "n2ps-mean-inverted": "eq. 52 with tx/np, inverted input selection; Fig. 15 line 3",
    "n2ps-product": "Augasta & Kathirvalavakumar 2011 (unverified product reading of eq. 52)",
}

for _variant in VARIANTS:
    MEASURES.register(Measure(
        site_kinds=MLP_ONLY,
        name=_variant.name,
        description=_variant.description,
        reference=_REFERENCES[_variant.name],
        compute=lambda ctx, variant=_variant: n2ps_significance(ctx, variant),
        needs_data=True,
    ))
