"""Statistics of a site over a dataset: what every efficiency and re-wiring rule needs.

One pass with a forward hook on the site's consumer Linear collects, in float64:

* the mean ⟨x_k⟩ and population variance C_kk of each neuron of the site (its *outputs*,
  post-activation; pixels for ``input``), optionally the full covariance C (eq. 10);
* the mean and variance C_ii of each consumer neuron's *output* (after its activation; the
  logits when the consumer is the output layer);

and the consumer pre-activation at the mean input ȳ_i = Σ_j w_ij⟨x_j⟩ + b_i (eq. 24) follows
from the means. The forward pass stops at the consumer (nothing downstream is computed) and the
hook is removed in ``finally`` even when a batch raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP, Site
from neuroplast.stats import moments
from neuroplast.stats.moments import DTYPE

Batches = torch.Tensor | Iterable[torch.Tensor] | Iterable[tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class SiteStatistics:
    """Float64 statistics of one site and its consumer over a dataset.

    Attributes:
        site: site name.
        count: number of examples.
        mean: (n,) ⟨x_k⟩.
        var: (n,) C_kk, population variance of each neuron's output.
        cov: (n, n) covariance C, or None if not requested.
        consumer_mean: (m,) mean of each consumer neuron's output.
        consumer_var: (m,) C_ii, variance of each consumer neuron's output.
        consumer_preactivation_at_mean: (m,) ȳ_i = Σ_j w_ij⟨x_j⟩ + b_i (eq. 24).
        consumer_is_output: the consumer is the output layer (C_ii are logit variances).
    """

    site: str
    count: int
    mean: torch.Tensor
    var: torch.Tensor
    cov: torch.Tensor | None
    consumer_mean: torch.Tensor
    consumer_var: torch.Tensor
    consumer_preactivation_at_mean: torch.Tensor
    consumer_is_output: bool

    @classmethod
    def from_moments(cls, site_name: str, site: Site, site_moments: moments.Moments,
                     consumer_mean: torch.Tensor, consumer_var: torch.Tensor,
                     ) -> SiteStatistics:
        """Statistics from the site's moments and the consumer's output moments; ȳ_i follows
        from the consumer's current weights and the site's means."""
        weight = site.consumer.weight.detach().to(DTYPE)  # (m, n)
        bias = site.consumer.bias.detach().to(DTYPE)  # (m,)
        return cls(
            site=site_name, count=site_moments.count, mean=site_moments.mean,
            var=site_moments.var, cov=site_moments.cov,
            consumer_mean=consumer_mean, consumer_var=consumer_var,
            consumer_preactivation_at_mean=weight @ site_moments.mean + bias,
            consumer_is_output=site.consumer_activation is None,
        )

    @property
    def width(self) -> int:
        return self.mean.numel()


class _StopForward(Exception):
    """Raised by the hook once the consumer has run: nothing downstream is needed."""


def _batches(data: Batches, batch_size: int) -> Iterable[torch.Tensor]:
    if torch.is_tensor(data):
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size]
        return
    if hasattr(data, "x") and torch.is_tensor(data.x):  # a Split
        yield from _batches(data.x, batch_size)
        return
    for item in data:
        yield item[0] if isinstance(item, tuple | list) else item


def collect_site_statistics(model: MLP, site_name: str, data: Batches, *,
                            covariance: bool = False, batch_size: int = 10_000,
                            distributed: bool = True) -> SiteStatistics:
    """Collect the statistics of ``site_name`` over ``data``.

    Args:
        model: the network (not modified).
        site_name: ``input`` or ``hidden<k>``.
        data: an (N, features) tensor, a ``Split``, or an iterable of batches (tensors or
            tuples whose first element is the input).
        covariance: also collect the full (n, n) covariance (needed by E'_k, A3, least squares).
        batch_size: chunk size when ``data`` is a tensor.
        distributed: under an initialised ``torch.distributed`` group, all-reduce so every rank
            gets the statistics of all ranks' data.

    Raises:
        NeuroplastError: if the data is empty or the site values contain NaN or infinity.
    """
    if batch_size < 1:
        raise NeuroplastError(f"batch_size must be a positive integer, got {batch_size}")
    site = model.site(site_name)
    site_state = moments.init(site.width, covariance=covariance)
    consumer_state = moments.init(site.consumer.out_features)
    activation = site.consumer_activation

    def hook(_module, inputs, output):
        nonlocal site_state, consumer_state
        x = inputs[0]  # (batch, n)
        out = output if activation is None else activation.fn(output)  # (batch, m)
        site_state = moments.update(site_state, x)
        consumer_state = moments.update(consumer_state, out)
        # A NaN or infinity anywhere in the batch reaches the (n,) sums; checking them is far
        # cheaper than scanning the (batch, n) values.
        if not (torch.isfinite(site_state.m2).all() and torch.isfinite(consumer_state.m2).all()):
            raise NeuroplastError(
                f"site {site_name!r} has NaN or infinite values; check the inputs and the "
                "training (a diverged model cannot be pruned)"
            )
        raise _StopForward

    parameter = site.consumer.weight
    was_training = model.training
    model.eval()
    handle = site.consumer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            for batch in _batches(data, batch_size):
                try:
                    model(batch.to(device=parameter.device, dtype=parameter.dtype))
                except _StopForward:
                    pass
    finally:
        handle.remove()
        model.train(was_training)

    if distributed:
        site_state = moments.all_reduce(site_state)
        consumer_state = moments.all_reduce(consumer_state)
    if site_state.count == 0:
        raise NeuroplastError("statistics need at least one example; the data is empty")
    site_moments = moments.compute(site_state)
    consumer_moments = moments.compute(consumer_state)
    return SiteStatistics.from_moments(site_name, site, site_moments, consumer_moments.mean,
                                       consumer_moments.var)
