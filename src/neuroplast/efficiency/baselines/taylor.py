"""First-order Taylor importance (Molchanov et al. 2017, "Pruning convolutional neural
networks for resource efficient inference", ICLR).

Setting neuron k to zero changes the loss of example n by, to first order,
x_k(n) · ∂L_n/∂x_k(n); the score is its absolute value averaged over the training data,

    T_k = (1/N) Σ_n | x_k(n) · ∂L_n/∂x_k(n) |,

with L_n the cross-entropy of example n (the training loss without the L2 term) and x_k(n)
the neuron's output (the pixel for ``input``). Per-example gradients come from one backward
pass of the summed loss per batch (the examples are independent). For a fully connected layer
Molchanov's feature-map average is over one position, so this is their criterion; their
per-layer L2 normalisation does not change a ranking within one site and is left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from neuroplast.data import Split
from neuroplast.efficiency.baselines.common import DTYPE, batches, no_argument, require_data
from neuroplast.efficiency.registry import MEASURES, MLP_ONLY, Measure, MeasureContext
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.layered import LayeredModel

BATCH = 10_000


def site_loss_gradients(model: LayeredModel, site: str, x: torch.Tensor, y: torch.Tensor,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Site values x_k(n) and per-example gradients ∂L_n/∂x_k(n), both (batch, n)."""
    target = model.site(site)
    with torch.no_grad():
        values = model.site_values(site, x)  # (batch, n)
    values = values.detach().requires_grad_(True)
    logits = model.forward_from_preactivation(target.consumer_index, target.consumer(values))
    loss = F.cross_entropy(logits, y, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, values)  # (batch, n)
    return values.detach(), gradient


def taylor_importance(model: LayeredModel, site: str, data: Split, batch_size: int = BATCH,
                      ) -> torch.Tensor:
    """T_k = ⟨|x_k ∂L/∂x_k|⟩ over ``data``: (n,) float64."""
    modes = enter_evaluation(model)
    try:
        total = torch.zeros(model.site(site).width, dtype=DTYPE)
        for x, y in batches(model, data, batch_size):
            values, gradient = site_loss_gradients(model, site, x, y)
            total += (values * gradient).abs().to(DTYPE).sum(dim=0)
    finally:
        restore_modes(modes)
    return total / data.x.shape[0]


def taylor(ctx: MeasureContext) -> torch.Tensor:
    no_argument(ctx, "taylor")
    return taylor_importance(ctx.model, ctx.site, require_data(ctx, "taylor"))


MEASURES.register(Measure(
    site_kinds=MLP_ONLY,
    name="taylor",
    description="first-order Taylor: <|x_k dL/dx_k|> over the training data",
    reference="Molchanov et al. 2017 (ICLR), criterion Theta_TE",
    compute=taylor,
    needs_data=True,
))
