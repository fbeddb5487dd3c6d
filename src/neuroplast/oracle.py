"""The exact loss-change oracle: the true Δ⟨H⟩ of removing each neuron of a site alone.

The paper's Fig. 1 plots each neuron's efficiency against "loss after the neuron is removed
minus loss before" (J §5.1). This module computes that number exactly, for every neuron of a
site and any re-wiring rule, without copying the model once per neuron.

Removing neuron l with the relation Σ_j a_j x_j = a_0 re-wires the consumer by eqs 42–43,

    w'_ij = w_ij − w_il a_j / a_l,      b'_i = b_i + w_il a_0 / a_l,      column l deleted,

and for every input the new consumer pre-activation is exactly

    z'_i = Σ_{j≠l} w'_ij x_j + b'_i = z_i + w_il (s_l − x_l),    s_l = (a_0 − Σ_{j≠l} a_j x_j)/a_l,

i.e. the old pre-activation plus a rank-one update: the dense weight change of eq. 42 is the
same as replacing x_l by its substitute s_l. So the site values X and the consumer
pre-activation Z = X Wᵀ + b are computed once per example and shared by all neurons; for each
neuron only Z + (s_l − x_l) ⊗ w_l and what lies downstream of the consumer are evaluated (the
computation of ``MLP.forward_from_preactivation``, with examples along the fast axis).
Examples and neurons are processed in chunks, so memory stays bounded (``memory_budget``).

Every neuron is removed from the intact network (all others alive), with the relation
``Rewirer(model, site, stats, rule).relation(l)`` — the same relation a real removal uses, so
the result equals copying the model, removing l, committing and evaluating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neuroplast.data import Split
from neuroplast.death.rules import Rewirer, get_rule
from neuroplast.errors import NeuroplastError
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.layered import LayeredModel
from neuroplast.stats.site import SiteStatistics, collect_site_statistics

DTYPE = torch.float64
MEMORY_BUDGET = 1 << 21
"""Elements of the largest temporary (neurons × examples × downstream width) per chunk."""


@dataclass(frozen=True)
class OracleResult:
    """The exact effect of removing each neuron of a site alone.

    Attributes:
        site: site name.
        rule: canonical re-wiring rule name (``A1``, ``A2``, ``A3``, ``A3-appendix``, ``lstsq``,
            ``none``).
        count: number of examples evaluated.
        neurons: (k,) indices of the neurons evaluated (all of the site by default).
        base_loss: mean cross-entropy of the intact model.
        base_accuracy: accuracy of the intact model.
        delta_loss: (k,) float64, Δ⟨H⟩ = mean loss after removing the neuron − ``base_loss``.
        delta_accuracy: (k,) float64, accuracy after removal − ``base_accuracy``.
    """

    site: str
    rule: str
    count: int
    neurons: torch.Tensor
    base_loss: float
    base_accuracy: float
    delta_loss: torch.Tensor
    delta_accuracy: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        """(k,) mean loss after removing each neuron."""
        return self.base_loss + self.delta_loss

    @property
    def accuracy(self) -> torch.Tensor:
        """(k,) accuracy after removing each neuron."""
        return self.base_accuracy + self.delta_accuracy


@dataclass(frozen=True)
class _Substitutes:
    """s_l = c_l − Σ_j A_jl x_j for the evaluated neurons (A_ll = 0): c = a_0/a_l, A = a/a_l."""

    constants: torch.Tensor  # (k,)
    mixing: torch.Tensor | None  # (n, k), None when every relation is x_l = constant

    def shifts(self, x_t: torch.Tensor, positions: torch.Tensor,
               neurons: torch.Tensor) -> torch.Tensor:
        """s_l − x_l for site values x_t (n, e); ``positions`` index the relations, ``neurons``
        the rows of x_t. Returns (c, e)."""
        constants = self.constants[positions].to(device=x_t.device, dtype=x_t.dtype)  # (c,)
        shift = constants.unsqueeze(1) - x_t[neurons]  # (c, e)
        if self.mixing is not None:
            mixing = self.mixing[:, positions].to(device=x_t.device, dtype=x_t.dtype)  # (n, c)
            shift = shift - mixing.T @ x_t  # (c, e)
        return shift


def _substitutes(rewirer: Rewirer, neurons: torch.Tensor) -> _Substitutes:
    n, k = rewirer.stats.width, neurons.numel()
    constants = torch.empty(k, dtype=DTYPE)
    mixing = torch.zeros(n, k, dtype=DTYPE)
    for position, l in enumerate(neurons.tolist()):
        relation = rewirer.relation(l)
        a_l = float(relation.coefficients[l])
        column = relation.coefficients / a_l  # (n,)
        column[l] = 0.0
        mixing[:, position] = column
        constants[position] = relation.constant / a_l
    return _Substitutes(constants, mixing if bool(mixing.any()) else None)


def _downstream_width(model: LayeredModel, consumer_index: int) -> int:
    """Elements per example of the widest tensor computed downstream of the consumer."""
    layers = model.layers[consumer_index:]
    return 2 * max(layer.out_features for layer in layers) + layers[-1].out_features


def loss_change_oracle(model: LayeredModel, site: str, split: Split, rule: str = "A1", *,
                       stats: SiteStatistics | None = None, batch_size: int = 10_000,
                       neurons: Sequence[int] | torch.Tensor | None = None,
                       memory_budget: int = MEMORY_BUDGET) -> OracleResult:
    """Δ mean loss and Δ accuracy on ``split`` when each neuron of ``site`` alone is removed.

    Args:
        model: the network (not modified).
        site: ``input`` or ``hidden<k>``.
        split: the examples (the paper uses the training set).
        rule: re-wiring rule (``A1``, ``A2``, ``A3``, ``A3-appendix``, ``lstsq``, ``none``).
        stats: statistics of the site (default: collected on ``split``, with the covariance
            when the rule needs it). The relations of the rule come from them.
        batch_size: examples per chunk.
        neurons: which neurons to evaluate (default all, in index order).
        memory_budget: elements of the largest temporary of one chunk of neurons.

    Returns:
        An :class:`OracleResult`; computed in the model's dtype, with per-example loss
        differences summed in float64.

    Raises:
        NeuroplastError: for an unknown site or rule, empty data, mismatched statistics, or
            NaN/inf outputs.
    """
    if batch_size < 1 or memory_budget < 1:
        raise NeuroplastError("batch_size and memory_budget must be positive integers")
    if split.n == 0:
        raise NeuroplastError("the oracle needs at least one example; the split is empty")
    info = model.site(site)
    rule_info = get_rule(rule)
    if stats is None:
        stats = collect_site_statistics(model, site, split.x, batch_size=batch_size,
                                        covariance=rule_info.needs_covariance, distributed=False)
    if stats.site != site:
        raise NeuroplastError(
            f"the statistics are for site {stats.site!r}, not {site!r}; collect them for {site!r}"
        )
    rewirer = Rewirer(model, site, stats, rule_info.name)
    if neurons is None:
        neurons = torch.arange(info.width)
    neurons = torch.as_tensor(neurons, dtype=torch.long).flatten()
    if neurons.numel() and (neurons.min() < 0 or neurons.max() >= info.width):
        raise NeuroplastError(f"neuron indices must lie in [0, {info.width}) for site {site!r}")
    substitutes = _substitutes(rewirer, neurons)

    weight = info.consumer.weight.detach()  # (m, n)
    bias = info.consumer.bias.detach()  # (m,)
    dtype, device = weight.dtype, weight.device
    k = neurons.numel()
    per_neuron = min(split.n, batch_size) * _downstream_width(model, info.consumer_index)
    chunk = max(1, min(k, memory_budget // max(per_neuron, 1)))

    loss_change = torch.zeros(k, dtype=DTYPE)
    correct_change = torch.zeros(k, dtype=torch.long)
    base_loss_sum, base_correct = 0.0, 0
    modes = enter_evaluation(model)
    try:
        with torch.no_grad():
            for start in range(0, split.n, batch_size):
                x_in = split.x[start : start + batch_size].to(device=device, dtype=dtype)
                y = split.y[start : start + batch_size].to(device)  # (e,)
                x_t = model.site_values(site, x_in).T.contiguous()  # (n, e) cached site values
                z_t = torch.addmm(bias.unsqueeze(1), weight, x_t)  # (m, e) base pre-activation
                base, base_hits = _loss_and_hits(model, info.consumer_index, z_t, y)  # (e,) ×2
                base_loss_sum += float(base.sum(dtype=DTYPE))
                base_correct += int(base_hits.sum())
                for first in range(0, k, chunk):
                    positions = torch.arange(first, min(first + chunk, k))
                    ids = neurons[positions]
                    shift_t = substitutes.shifts(x_t, positions, ids)  # (c, e) s_l − x_l
                    outgoing = weight[:, ids]  # (m, c) w_l for each removed l
                    z_new = torch.addcmul(z_t.unsqueeze(1), outgoing.unsqueeze(2),
                                          shift_t.unsqueeze(0))
                    # z_new: (m, c, e), the re-wired pre-activation for each removed neuron
                    c, e = shift_t.shape
                    loss, hits = _loss_and_hits(model, info.consumer_index,
                                                z_new.reshape(-1, c * e), y.repeat(c))
                    loss = loss.reshape(c, e) - base  # (c, e) per-example change
                    loss_change[positions] += loss.sum(dim=1, dtype=DTYPE).cpu()
                    correct_change[positions] += (hits.reshape(c, e).sum(dim=1)
                                                  - base_hits.sum()).cpu()
    finally:
        restore_modes(modes)

    if not (math.isfinite(base_loss_sum) and bool(torch.isfinite(loss_change).all())):
        raise NeuroplastError(
            "the model produced NaN or infinite outputs; check the inputs and the model"
        )
    count = split.n
    return OracleResult(
        site=site,
        rule=rule_info.name,
        count=count,
        neurons=neurons,
        base_loss=base_loss_sum / count,
        base_accuracy=base_correct / count,
        delta_loss=loss_change / count,
        delta_accuracy=correct_change.to(DTYPE) / count,
    )


def _downstream(model: LayeredModel, consumer_index: int, z_t: torch.Tensor) -> torch.Tensor:
    """Logits (K, rows) from the consumer pre-activation z_t (m, rows), examples as columns.

    The same computation as ``MLP.forward_from_preactivation``, transposed: with examples along
    the contiguous dimension, the softmax's reductions over a handful of classes run as
    vectorised element-wise operations, several times faster than row-major kernels.
    """
    layers = model.layers
    if consumer_index == len(layers) - 1:
        return z_t
    h = model.activation.fn(z_t)  # (m, rows)
    for layer in layers[consumer_index + 1 : -1]:
        h = model.activation.fn(torch.addmm(layer.bias.unsqueeze(1), layer.weight, h))
    return torch.addmm(layers[-1].bias.unsqueeze(1), layers[-1].weight, h)  # (K, rows)


def _loss_and_hits(model: LayeredModel, consumer_index: int, z_t: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example cross-entropy (rows,) and ``argmax == y`` (rows,) from z_t (m, rows)."""
    logits = _downstream(model, consumer_index, z_t)  # (K, rows)
    top = logits.amax(dim=0)  # (rows,)
    log_sum = (logits - top).exp_().sum(dim=0).log_().add_(top)  # (rows,) log Σ_c e^{z_c}
    picked = logits.gather(0, y.unsqueeze(0)).squeeze(0)  # (rows,) z_y
    loss = log_sum - picked  # (rows,); NaN/inf logits make it non-finite (checked by sums)
    hits = picked == top  # (rows,) argmax == y, unless the maximum is tied
    narrow = torch.uint8 if logits.shape[0] < 256 else torch.int32  # fast, cannot overflow
    maxima = (logits == top).to(narrow).sum(dim=0, dtype=narrow)  # (rows,) count of maxima
    tied = hits & (maxima != 1)  # argmax takes the first of tied maxima
    if bool(tied.any()):
        hits[tied] = logits[:, tied].argmax(dim=0) == y[tied]
    return loss, hits
