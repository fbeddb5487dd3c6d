"""Weight-only "layer-1 sensitivity" (eq. 69) and Zeng & Yeung's relevance (2006).

**Eq. 69.** With the output taken right after the consumer Linear (level 1 of Fig. 17 for the
input site) the sensitivity of output i to neuron k is the constant weight w_ik, so the paper
scores k by the squared norm of its outgoing weights,

    S²_k|_1 = Σ_i (w_ik)²,

and (Fig. 20 right) removes inputs with S² < 0.1 max S². Defined for every site.

**Zeng & Yeung (2006)**, as the paper describes it (§1, REFERENCE §1.14): the relevance of a
hidden neuron k is its sensitivity times the sum of the absolute values of its outgoing
weights. Our precise reading of "sensitivity = expected difference between the neuron's value
and its value under an input shift equal to the input's expected absolute value":

    Δ_j = ⟨|h_j|⟩                                  (expected |input j| over the data),
    S_k = ⟨ |f(z_k + Σ_j w_kj Δ_j) − f(z_k)| ⟩,    z_k = Σ_j w_kj h_j + b_k,
    R_k = S_k · Σ_i |w_ik|,

with h the previous site's values (the pixels for ``hidden1``), w_kj the producer's weights, f
the site's activation and ⟨·⟩ the mean over the training data. Every input is shifted by its
own Δ_j at once, in the positive direction. Hidden sites only: an input neuron has no incoming
weights to shift through. The paper pairs it with A1's bias compensation (rule ``A1``).
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.baselines.common import (
    DTYPE,
    no_argument,
    outgoing_weight,
    require_data,
    require_hidden,
)
from neuroplast.efficiency.registry import MEASURES, MLP_ONLY, Measure, MeasureContext
from neuroplast.sites.layered import LayeredModel

BATCH = 10_000


def weight_norm(ctx: MeasureContext) -> torch.Tensor:
    """S²_k|_1 = Σ_i (w_ik)² over the consumer's weights (eq. 69): (n,) float64."""
    no_argument(ctx, "weight-norm")
    return (outgoing_weight(ctx.model, ctx.site) ** 2).sum(dim=0)


def _previous_site(model: LayeredModel, site: str) -> str:
    return model.site_names[model.site(site).index - 1]


def zeng_yeung_sensitivity(model: LayeredModel, site: str, x: torch.Tensor,
                           batch_size: int = BATCH) -> torch.Tensor:
    """S_k = ⟨|f(z_k + w_k·Δ) − f(z_k)|⟩ with Δ = ⟨|h|⟩ (see module docstring): (n,) float64."""
    target = model.site(site)
    previous = _previous_site(model, site)
    with torch.no_grad():
        dtype = model.dtype
        chunks = [x[s : s + batch_size].to(dtype) for s in range(0, x.shape[0], batch_size)]
        shift = torch.zeros(target.producer.in_features, dtype=DTYPE)
        for chunk in chunks:
            shift += model.site_values(previous, chunk).abs().to(DTYPE).sum(dim=0)
        shift /= x.shape[0]  # (n_previous,) Δ_j = ⟨|h_j|⟩
        weight = target.producer.weight.detach().to(DTYPE)  # (n, n_previous)
        bias = target.producer.bias.detach().to(DTYPE)  # (n,)
        offset = weight @ shift  # (n,) Σ_j w_kj Δ_j
        total = torch.zeros(target.width, dtype=DTYPE)
        for chunk in chunks:
            z = model.site_values(previous, chunk).to(DTYPE) @ weight.T + bias  # (batch, n)
            f = target.activation.fn
            total += (f(z + offset) - f(z)).abs().sum(dim=0)
    return total / x.shape[0]


def zeng_yeung(ctx: MeasureContext) -> torch.Tensor:
    """R_k = S_k · Σ_i |w_ik| (Zeng & Yeung 2006, as the paper describes it): (n,) float64."""
    no_argument(ctx, "zeng-yeung")
    require_hidden(ctx, "zeng-yeung", "an input neuron has no incoming weights to shift through")
    data = require_data(ctx, "zeng-yeung")
    sensitivity = zeng_yeung_sensitivity(ctx.model, ctx.site, data.x)
    return sensitivity * outgoing_weight(ctx.model, ctx.site).abs().sum(dim=0)


MEASURES.register(Measure(
    site_kinds=MLP_ONLY,
    name="weight-norm",
    description="squared norm of the outgoing weights, sum_i w_ik^2 ('layer-1 sensitivity')",
    reference="eq. 69; Fig. 20 right",
    compute=weight_norm,
))

MEASURES.register(Measure(
    site_kinds=MLP_ONLY,
    name="zeng-yeung",
    description="relevance = <|f(z + w.<|h|>) - f(z)|> x sum_i |w_ik| (hidden sites)",
    reference="Zeng & Yeung 2006, Neurocomputing 69:825; paper section 1",
    compute=zeng_yeung,
    needs_data=True,
))
