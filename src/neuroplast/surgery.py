"""Physical surgery: delete or append neurons of a site, keeping optimizers usable.

Surgery knows nothing about scores or re-wiring rules (DESIGN.md §1): callers first change the
consumer's weights as their rule demands (eqs 41–43), then call :func:`keep_neurons`.

Every ``nn.Parameter`` object is kept and given a new tensor, so an optimizer built before the
surgery still holds the right objects; its per-parameter state (SGD momentum, Adam moments, any
tensor shaped like the parameter) is resized along the same index map, and appended neurons get
zero state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP

Resize = Callable[[torch.Tensor, bool], torch.Tensor]
"""Maps an old tensor to its resized version; the flag says whether it is optimizer state."""


def _resize(param: nn.Parameter, resize: Resize, optimizer: torch.optim.Optimizer | None) -> None:
    old_shape = param.shape
    with torch.no_grad():
        new = resize(param.data, False).contiguous()
        if new.shape != old_shape:
            # A graph still alive from the last forward (e.g. the last `loss`) keeps the
            # parameter's cached gradient accumulator, which remembers the old shape, and the
            # next backward would fail ("invalid gradient ... expected shape"). Assigning
            # `.data` of another dtype is what makes PyTorch drop that cache.
            param.data = new.to(torch.float32 if new.dtype == torch.float64 else torch.float64)
        param.data = new
    param.grad = None
    if optimizer is None or param not in optimizer.state:
        return
    state = optimizer.state[param]
    for key, value in list(state.items()):
        if torch.is_tensor(value) and value.shape == old_shape:
            state[key] = resize(value, True).contiguous()


def _check_keep(keep: torch.Tensor, width: int, site: str) -> torch.Tensor:
    keep = torch.as_tensor(keep, dtype=torch.long).flatten()
    if keep.numel() == 0:
        raise NeuroplastError(
            f"refusing to remove every neuron of site {site!r} (width {width}); "
            "lower the cutoff or amount so at least one neuron survives"
        )
    if keep.min() < 0 or keep.max() >= width or keep.unique().numel() != keep.numel():
        raise NeuroplastError(f"neuron indices to keep must be distinct and in [0, {width})")
    return keep


def keep_neurons(model: MLP, site_name: str, keep: torch.Tensor,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
    """Keep only the neurons ``keep`` of a site (in that order), deleting the others.

    Deletes the producer's rows and bias entries and the consumer's columns. For the ``input``
    site the feature selector records which original features survive.

    Args:
        model: the model, modified in place.
        site_name: ``input`` or ``hidden<k>``.
        keep: indices (into the current site) of the surviving neurons.
        optimizer: optional optimizer whose state is resized along the same map.

    Raises:
        NeuroplastError: if ``keep`` is empty (a site may not lose every neuron) or invalid.
    """
    site = model.site(site_name)
    keep = _check_keep(keep, site.width, site_name)

    def rows(t: torch.Tensor, _: bool) -> torch.Tensor:
        return t.index_select(0, keep)

    def columns(t: torch.Tensor, _: bool) -> torch.Tensor:
        return t.index_select(1, keep)

    if site.producer is None:
        model.selector.kept = model.selector.kept.index_select(0, keep)
    else:
        _resize(site.producer.weight, rows, optimizer)
        _resize(site.producer.bias, rows, optimizer)
        site.producer.out_features = keep.numel()
    _resize(site.consumer.weight, columns, optimizer)
    site.consumer.in_features = keep.numel()


def remove_neurons(model: MLP, site_name: str, remove: torch.Tensor,
                   optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
    """Delete the neurons ``remove`` of a site; returns the indices that were kept."""
    width = model.site(site_name).width
    mask = torch.ones(width, dtype=torch.bool)
    mask[torch.as_tensor(remove, dtype=torch.long)] = False
    keep = mask.nonzero().flatten()
    keep_neurons(model, site_name, keep, optimizer)
    return keep


def add_neurons(model: MLP, site_name: str, incoming_weight: torch.Tensor,
                incoming_bias: torch.Tensor, outgoing_weight: torch.Tensor,
                optimizer: torch.optim.Optimizer | None = None) -> None:
    """Append neurons to a hidden site.

    Args:
        model: the model, modified in place.
        site_name: a hidden site (``input`` features cannot be created).
        incoming_weight: (k, n_in) rows appended to the producer's weight.
        incoming_bias: (k,) entries appended to the producer's bias.
        outgoing_weight: (n_out, k) columns appended to the consumer's weight.
        optimizer: optional optimizer; the new entries of its state are zero.
    """
    site = model.site(site_name)
    if site.producer is None:
        raise NeuroplastError("neurons can be added to hidden sites only, not to 'input'")
    k = incoming_weight.shape[0]
    producer, consumer = site.producer, site.consumer
    if incoming_weight.shape != (k, producer.in_features) or incoming_bias.shape != (k,):
        raise NeuroplastError(
            f"incoming weights must be ({k}, {producer.in_features}) and bias ({k},), got "
            f"{tuple(incoming_weight.shape)} and {tuple(incoming_bias.shape)}"
        )
    if outgoing_weight.shape != (consumer.out_features, k):
        raise NeuroplastError(
            f"outgoing weights must be ({consumer.out_features}, {k}), "
            f"got {tuple(outgoing_weight.shape)}"
        )

    def appender(new: torch.Tensor, dim: int) -> Resize:
        def resize(t: torch.Tensor, is_state: bool) -> torch.Tensor:
            extra = torch.zeros_like(new, dtype=t.dtype) if is_state else new.to(t.dtype)
            return torch.cat([t, extra], dim=dim)

        return resize

    _resize(producer.weight, appender(incoming_weight, 0), optimizer)
    _resize(producer.bias, appender(incoming_bias, 0), optimizer)
    _resize(consumer.weight, appender(outgoing_weight, 1), optimizer)
    producer.out_features += k
    consumer.in_features += k
