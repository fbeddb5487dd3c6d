"""Statistics of a site over a dataset: what every efficiency and re-wiring rule needs.

One pass with hooks on the site's consumer collects, in float64, over every *row* of site
values (an example; every token of a sequence; every position of a feature map):

* the mean ⟨x_k⟩ and population variance C_kk of each neuron of the site (the consumer's
  input), optionally the full covariance C (eq. 10);
* the mean and variance C_ii of each consumer output channel *after* its activation (the
  raw outputs when the consumer's output is used as it is);
* for consumers that read several offsets of a neuron (a convolution's kernel positions, a
  flattened channel's H×W positions), the mean of each neuron at each offset, M (n, K), as the
  consumer sees it (zero padding included);

and the consumer pre-activation at the mean input ȳ_i = Σ_j Σ_δ w_ijδ M_jδ + b_i (eq. 24;
Σ_j w_ij⟨x_j⟩ + b_i for a Linear) follows, which is the exact mean of the consumer's
pre-activation over the data. The forward pass stops at the consumer (nothing downstream is
computed) and the hooks are removed in ``finally`` even when a batch raises.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.resolve import declared_sites, resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats import moments
from neuroplast.stats.moments import DTYPE

Batches = Any
"""A tensor (examples along dim 0), a ``Split``, or an iterable of batches: tensors, tuples
or lists whose first element is the input, dicts of keyword inputs, or a DataLoader of those."""

Forward = Callable[[nn.Module, Any], Any]
"""Runs the model on one batch as the data yields it (for several inputs, dict outputs)."""


@dataclass(frozen=True)
class SiteStatistics:
    """Float64 statistics of one site and its consumer over a dataset.

    Attributes:
        site: site name.
        count: number of rows (examples × tokens × positions).
        mean: (n,) ⟨x_k⟩.
        var: (n,) C_kk, population variance of each neuron's value.
        cov: (n, n) covariance C, or None if not requested.
        consumer_mean: (m,) mean of each consumer output (after its activation).
        consumer_var: (m,) C_ii, variance of each consumer output (after its activation).
        consumer_preactivation_at_mean: (m,) ȳ_i (eq. 24), the mean consumer pre-activation.
        consumer_is_output: the consumer's output is used without an activation (f' = 1).
        offset_mean: (n, K) each neuron's mean at each consumer offset, or None when K = 1
            and every row sees every neuron once (then it equals ``mean``).
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
    offset_mean: torch.Tensor | None = None

    @classmethod
    def from_moments(cls, site_name: str, site: Site, site_moments: moments.Moments,
                     consumer_mean: torch.Tensor, consumer_var: torch.Tensor,
                     offset_mean: torch.Tensor | None = None) -> SiteStatistics:
        """Statistics from the site's moments and the consumer's output moments; ȳ_i follows
        from the consumer's current weights and the site's (offset) means."""
        weight = site.consumer_weight().to(DTYPE)  # (m, n, K)
        if offset_mean is None:  # every offset sees the plain means
            y_bar = weight.sum(dim=2) @ site_moments.mean if weight.shape[2] > 1 \
                else weight[:, :, 0] @ site_moments.mean  # (m,)
        else:
            y_bar = torch.einsum("ink,nk->i", weight, offset_mean)  # (m,)
        bias = site.consumer_bias()
        if bias is not None:
            y_bar = y_bar + bias.to(DTYPE)
        return cls(
            site=site_name, count=site_moments.count, mean=site_moments.mean,
            var=site_moments.var, cov=site_moments.cov,
            consumer_mean=consumer_mean, consumer_var=consumer_var,
            consumer_preactivation_at_mean=y_bar,
            consumer_is_output=site.consumer_activation is None, offset_mean=offset_mean,
        )

    @property
    def width(self) -> int:
        return self.mean.numel()

    @property
    def means_per_offset(self) -> torch.Tensor:
        """(n, K) means at each consumer offset (``mean`` as one column when K = 1)."""
        return self.mean.unsqueeze(1) if self.offset_mean is None else self.offset_mean


class _StopForward(Exception):
    """Raised by the hook once the consumer has run: nothing downstream is needed."""


def iterate_batches(data: Batches, batch_size: int) -> Iterable[Any]:
    """The input batches of ``data`` (see :data:`Batches`), without their targets."""
    if torch.is_tensor(data):
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size]
        return
    if hasattr(data, "x") and torch.is_tensor(data.x):  # a Split
        yield from iterate_batches(data.x, batch_size)
        return
    if isinstance(data, dict):
        raise NeuroplastError(
            "data is one dict; give an iterable of batches (e.g. a list of dicts or a "
            "DataLoader)"
        )
    for item in data:
        yield item[0] if isinstance(item, tuple | list) else item


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first floating parameter."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def to_model(batch: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """``batch`` on the model's device; floating tensors in its dtype (token ids stay ints)."""
    if torch.is_tensor(batch):
        if batch.is_floating_point():
            return batch.to(device=device, dtype=dtype)
        return batch.to(device=device)
    if isinstance(batch, dict):
        return {k: to_model(v, device, dtype) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(to_model(v, device, dtype) for v in batch)
    return batch


def default_forward(model: nn.Module, batch: Any) -> Any:
    """``model(**batch)`` for a dict, ``model(batch)`` otherwise."""
    return model(**batch) if isinstance(batch, dict) else model(batch)


def collect_site_statistics(model: nn.Module, site: Site | str, data: Batches, *,
                            covariance: bool = False, batch_size: int = 10_000,
                            distributed: bool = True, forward: Forward | None = None,
                            ) -> SiteStatistics:
    """Collect the statistics of ``site`` over ``data``.

    Args:
        model: the network (not modified; run in eval mode).
        site: a :class:`~neuroplast.sites.Site` or a site name.
        data: see :data:`Batches`.
        covariance: also collect the full (n, n) covariance (needed by E'_k, A3, least squares).
        batch_size: chunk size when ``data`` is a tensor.
        distributed: under an initialised ``torch.distributed`` group, all-reduce so every rank
            gets the statistics of all ranks' data.
        forward: how to run the model on one batch (default :func:`default_forward`).

    Raises:
        NeuroplastError: if the data is empty or the site values contain NaN or infinity.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or \
            batch_size < 1:
        raise NeuroplastError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(site, str) and isinstance(data, Iterator) and declared_sites(model) is None:
        raise TypeError(
            f"data is a one-pass iterator ({type(data).__name__}) and site {site!r} is a name: "
            "finding the site reads the first batch, which the statistics would then miss; "
            "pass the Site object (neuroplast.find_sites) or data that can be iterated again "
            "(a list of batches, a tensor, a DataLoader)")
    forward = forward or default_forward
    target = resolve_site(model, site, data, forward)
    site_state = moments.init(target.width, covariance=covariance)
    consumer_state = moments.init(target.consumer_width)
    site_scratch, consumer_scratch = moments.Scratch(), moments.Scratch()
    patch_sum: torch.Tensor | None = None
    patch_count = 0
    name = target.name

    def pre_hook(_module, inputs):
        nonlocal site_state, patch_sum, patch_count
        # One float64 copy of the consumer's input serves the offset sums and then, in
        # place, the moments' deviations.
        x = site_scratch.take_like(inputs[0]).copy_(inputs[0])
        sums = target.view.patch_sums(x)
        if sums is not None:
            patch_sum = sums[0] if patch_sum is None else patch_sum + sums[0]
            patch_count += sums[1]
        site_state = moments.update(site_state, target.row_values(x), consume=True)  # (…, n)

    def hook(_module, _inputs, output):
        nonlocal consumer_state
        consumer_state = moments.update(consumer_state, target.consumer_row_values(output),
                                        consumer_scratch)
        # A NaN or infinity anywhere in the batch reaches the (n,) sums; checking them is far
        # cheaper than scanning the (batch, n) values.
        if not (torch.isfinite(site_state.m2).all() and torch.isfinite(consumer_state.m2).all()):
            raise NeuroplastError(
                f"site {name!r} has NaN or infinite values; check the inputs and the "
                "training (a diverged model cannot be pruned)"
            )
        raise _StopForward

    device, dtype = model_device_dtype(model)
    modes = enter_evaluation(model)
    handles = [target.consumer.register_forward_pre_hook(pre_hook),
               target.consumer.register_forward_hook(hook)]
    try:
        with torch.no_grad():
            for batch in iterate_batches(data, batch_size):
                try:
                    forward(model, to_model(batch, device, dtype))
                except _StopForward:
                    pass
    finally:
        for handle in handles:
            handle.remove()
        restore_modes(modes)

    if distributed:
        site_state = moments.all_reduce(site_state)
        consumer_state = moments.all_reduce(consumer_state)
        if patch_sum is not None:
            patch_sum, patch_count = moments.all_reduce_sum(patch_sum, patch_count)
    if site_state.count == 0:
        raise NeuroplastError("statistics need at least one example; the data is empty")
    site_moments = moments.compute(site_state)
    consumer_moments = moments.compute(consumer_state)
    offset_mean = None if patch_sum is None else patch_sum / patch_count
    return SiteStatistics.from_moments(name, target, site_moments, consumer_moments.mean,
                                       consumer_moments.var, offset_mean)
