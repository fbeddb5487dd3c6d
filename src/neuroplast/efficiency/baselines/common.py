"""Helpers the baseline measures share: site checks, arguments and batches of training data."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from neuroplast.data import Split
from neuroplast.efficiency.registry import MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.sites.layered import LayeredModel
from neuroplast.sites.site import Site

DTYPE = torch.float64


def require_data(ctx: MeasureContext, measure: str) -> Split:
    """The training data of the context; raises when a caller bypassed :func:`efficiency`."""
    if ctx.data is None:
        raise NeuroplastError(f"measure {measure!r} needs the training data (pass data=...)")
    return ctx.data


def require_hidden(ctx: MeasureContext, measure: str, why: str) -> None:
    """Refuse the ``input`` site for measures defined on hidden neurons only."""
    if ctx.site == "input":
        raise NeuroplastError(
            f"measure {measure!r} does not support the input site ({why}); use it on a hidden "
            f"site such as 'hidden1', or choose another measure for inputs"
        )


def no_argument(ctx: MeasureContext, measure: str) -> None:
    """Refuse ``measure:argument`` for measures that take no argument."""
    if ctx.argument is not None:
        raise NeuroplastError(
            f"measure {measure!r} takes no argument, got {measure}:{ctx.argument}"
        )


def batches(model: LayeredModel, data: Split, batch_size: int,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(x, y) chunks of ``data`` with x cast to the model's dtype."""
    dtype = model.dtype
    for start in range(0, data.x.shape[0], batch_size):
        x = data.x[start : start + batch_size].to(dtype)  # (batch, features)
        yield x, data.y[start : start + batch_size]


def outgoing_weight(model: LayeredModel, site: str) -> torch.Tensor:
    """w_ik, the consumer's weights from neuron k of ``site`` to consumer neuron i: (m, n)."""
    return model.site(site).consumer.weight.detach().to(DTYPE)


def incoming_weight(model: LayeredModel, site: str) -> torch.Tensor:
    """The producer's weights into each neuron of a hidden ``site``: (n, n_previous)."""
    producer = model.site(site).producer
    if producer is None:
        raise NeuroplastError(f"site {site!r} has no incoming weights")
    return producer.weight.detach().to(DTYPE)


def outgoing_per_neuron(site: Site) -> torch.Tensor:
    """Every consumer weight leaving each neuron (all outputs and offsets): (n, m·K) float64."""
    weight = site.consumer_weight().to(DTYPE)  # (m, n, K)
    return weight.transpose(0, 1).reshape(weight.shape[1], -1)


def incoming_per_neuron(site: Site) -> torch.Tensor:
    """Every producer weight entering each neuron (all producers: a gated site has two; a
    convolution's whole filter): (n, ·) float64. Biases and BatchNorm entries not counted."""
    parts = [axis.tensor.detach().to(DTYPE).movedim(axis.dim, 0).reshape(site.width, -1)
             for axis in site.upstream if axis.role == "weight"]
    if not parts:
        raise NeuroplastError(f"site {site.name!r} has no incoming weights")
    return torch.cat(parts, dim=1)
