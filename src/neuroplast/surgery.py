"""Physical surgery: delete or append neurons of a site, keeping optimizers usable.

Surgery knows nothing about scores or re-wiring rules (DESIGN.md §1): callers first change the
consumer's weights as their rule demands (eqs 41–43), then call :func:`keep_neurons`. The work
is done by the site itself (:meth:`neuroplast.sites.Site.keep` / ``append``), which resizes
every tensor that runs over its neurons — producer rows, BatchNorm entries, consumer columns,
an input selector's indices — keeps each ``nn.Parameter`` object, resizes the optimizer's
per-parameter state (SGD momentum, Adam moments) along the same index map, gives appended
neurons zero state, and updates width attributes (``out_features``, ``num_features``, ...).
"""

from __future__ import annotations

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site


def keep_neurons(model: nn.Module, site: Site | str, keep: torch.Tensor,
                 optimizer: torch.optim.Optimizer | None = None) -> None:
    """Keep only the neurons ``keep`` of a site (in that order), deleting the others.

    Raises:
        NeuroplastError: if ``keep`` is empty (a site may not lose every neuron) or invalid.
    """
    resolve_site(model, site).keep(keep, optimizer)


def remove_neurons(model: nn.Module, site: Site | str, remove: torch.Tensor,
                   optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
    """Delete the neurons ``remove`` of a site; returns the indices that were kept."""
    target = resolve_site(model, site)
    mask = torch.ones(target.width, dtype=torch.bool)
    mask[torch.as_tensor(remove, dtype=torch.long)] = False
    keep = mask.nonzero().flatten()
    target.keep(keep, optimizer)
    return keep


def add_neurons(model: nn.Module, site: Site | str, incoming_weight: torch.Tensor,
                incoming_bias: torch.Tensor, outgoing_weight: torch.Tensor,
                optimizer: torch.optim.Optimizer | None = None) -> None:
    """Append neurons to a Linear → Linear site (the general form is ``Site.append``).

    Args:
        model: the model, modified in place.
        site: a hidden site (``input`` features cannot be created).
        incoming_weight: (k, n_in) rows appended to the producer's weight.
        incoming_bias: (k,) entries appended to the producer's bias.
        outgoing_weight: (n_out, k) columns appended to the consumer's weight.
        optimizer: optional optimizer; the new entries of its state are zero.
    """
    target = resolve_site(model, site)
    if not target.can_grow:
        raise NeuroplastError("neurons can be added to hidden sites only, not to 'input'")
    producer = target.producer
    k = incoming_weight.shape[0]
    if target.kind != "linear" or len(target.upstream) != 2:
        raise NeuroplastError(
            f"add_neurons takes a producer row and bias per neuron; site {target.name!r} "
            f"({target.kind}) has {len(target.upstream)} upstream tensors: use Site.append"
        )
    if incoming_weight.shape != (k, producer.in_features) or incoming_bias.shape != (k,):
        raise NeuroplastError(
            f"incoming weights must be ({k}, {producer.in_features}) and bias ({k},), got "
            f"{tuple(incoming_weight.shape)} and {tuple(incoming_bias.shape)}"
        )
    if outgoing_weight.shape != (target.consumer_width, k):
        raise NeuroplastError(
            f"outgoing weights must be ({target.consumer_width}, {k}), "
            f"got {tuple(outgoing_weight.shape)}"
        )
    target.append([incoming_weight, incoming_bias], outgoing_weight.unsqueeze(2), optimizer)
