"""From what a caller passes (a site object or a name) to a :class:`Site` of the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.sites.plain import check_plain
from neuroplast.sites.site import Site

SITES_METHOD = "neuroplast_sites"
"""A model may declare its own sites: ``model.neuroplast_sites()`` → ``{name: Site}`` (the
paper's MLP does). Other models are discovered from an example input."""


def declared_sites(model: nn.Module) -> dict[str, Site] | None:
    """The sites ``model`` declares itself, or None."""
    method = getattr(model, SITES_METHOD, None)
    return method() if callable(method) else None


def resolve_site(model: nn.Module, site: Site | str, data: Any = None,
                 forward: Callable[[nn.Module, Any], Any] | None = None) -> Site:
    """The :class:`Site` ``site`` names in ``model``.

    Args:
        model: the network.
        site: a :class:`Site` (returned as it is, after checking it belongs to ``model``) or
            a site name: one the model declares, or one :func:`~neuroplast.find_sites`
            discovers from ``example``.
        data: the caller's data; its first batch is the example input for discovery.
        forward: how to run the model on a batch (see :func:`neuroplast.find_sites`).

    Raises:
        TypeError: when ``site`` is neither a Site nor a string.
        NeuroplastError: for an unknown name (the message lists the known ones).
    """
    if isinstance(site, Site):
        if not any(module is site.consumer for module in model.modules()):
            raise NeuroplastError(
                f"site {site.name!r} does not belong to this model (its consumer is not one of "
                "the model's modules); find the sites of this model with neuroplast.find_sites"
            )
        check_site_plain(model, site)
        return site
    if not isinstance(site, str):
        raise TypeError(
            f"site must be a neuroplast Site or a site name (str), got {type(site).__name__}"
        )
    sites = declared_sites(model)
    if sites is None:
        if data is None:
            raise NeuroplastError(
                f"cannot find site {site!r} without an example input; pass a Site from "
                "neuroplast.find_sites(model, example_input)"
            )
        from neuroplast.sites.discover import find_sites  # discovery runs the model

        sites = {s.name: s for s in find_sites(model, first_batch(data), forward=forward)}
    if site not in sites:
        raise NeuroplastError(
            f"unknown site {site!r}; this model has: {', '.join(sites) or 'no site'}"
        )
    check_site_plain(model, sites[site])
    return sites[site]


def check_site_plain(model: nn.Module, site: Site) -> None:
    """Refuse a site one of whose modules is parametrized or carries a pruning mask
    (:mod:`neuroplast.sites.plain`), naming it as the model does."""
    modules = (*site.producers, *(axis.module for axis in site.upstream), site.consumer)
    check_plain(modules, lambda module: next((name or "the model" for name, m in
                                              model.named_modules() if m is module),
                                             type(module).__name__), site.name)


def first_batch(data: Any) -> Any:
    """The first input batch of ``data`` (a tensor, a Split, or an iterable of batches)."""
    if torch.is_tensor(data):
        return data[:2]
    x = getattr(data, "x", None)
    if torch.is_tensor(x):
        return x[:2]
    for item in data:
        return item[0] if isinstance(item, tuple | list) else item
    raise NeuroplastError("the data is empty; give at least one batch")
