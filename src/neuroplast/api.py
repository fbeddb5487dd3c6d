"""The public entry points: death and replication on any PyTorch model.

    import neuroplast
    sites = neuroplast.find_sites(model, example_input)       # the sites it can handle
    neuroplast.prune(model, sites[0], data, rule="lstsq", amount=0.3, optimizer=opt)
    neuroplast.replicate(model, sites[0], data, n=2, method="B1", seed=0)

``site`` is a :class:`~neuroplast.sites.Site` or its name; ``data`` is any iterable of input
batches — tensors, ``(input, target)`` pairs, dicts of keyword inputs, a DataLoader yielding
either — or a ``Split``; a model with several inputs or dict outputs runs through
``forward=lambda model, batch: ...`` (with several positional inputs, give each batch as a
pair ``((x1, x2), target)`` — a bare tuple is read as ``(input, target)`` — or as a dict of
keyword inputs; ``find_sites`` takes the example input itself, ``(x1, x2)``). These calls
take the user's optimizer and need no neuroplast training code. Layers whose tensors are
computed by a wrapper (``torch.nn.utils.parametrize``, ``torch.nn.utils.prune``) are refused:
remove the wrapper first.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroplast.death.strategies import prune
from neuroplast.replication.split import ReplicationResult
from neuroplast.replication.split import replicate as _replicate
from neuroplast.sites.site import Site
from neuroplast.stats.site import Forward

__all__ = ["find_sites", "prune", "replicate"]


def replicate(model: nn.Module, site: Site | str, data: Any = None, *, n: int | None = None,
              method: str = "B1", parents: torch.Tensor | list[int] | None = None,
              alpha: float | None = None, measure: str | None = None, seed: int = 0,
              optimizer: torch.optim.Optimizer | None = None,
              random_std: tuple[float, float] | None = None,
              forward: Forward | None = None) -> ReplicationResult:
    """Split the ``n`` most efficient neurons of ``site`` into parent and child (eqs 44–49).

    B1–B3 leave the model's function unchanged; B4 (``random``) adds random neurons, at the
    (incoming, outgoing) stds ``random_std`` when given. ``data`` (the third argument here)
    gives the statistics that rank the parents by ``measure`` (default ``connection``, E_k
    eq. 28) unless ``parents`` names them; ``forward(model, batch)`` runs a model with several
    inputs. Arguments the method would ignore are refused: parents or a measure for B4/B5,
    ``n`` for B5, a measure beside explicit parents. See
    :func:`neuroplast.replication.split.replicate` for the rest.
    """
    from neuroplast.checks import check_name
    from neuroplast.replication.split import check_request, resolve_method

    spec, _ = resolve_method(check_name(method, "method", "'B1' or 'beta'"), alpha)
    check_request(spec, parents, n, measure)
    return _replicate(model, site, parents, n=n, method=method, alpha=alpha,
                      measure=measure or "connection", data=data, seed=seed,
                      optimizer=optimizer, random_std=random_std, forward=forward)


def find_sites(model: nn.Module, example_input: Any, *,
               forward: Forward | None = None) -> list[Site]:
    """Every site of ``model`` neuroplast can handle, found from one example input.

    See :mod:`neuroplast.sites.discover`; a model that declares its own sites (the paper's
    MLP) returns those.
    """
    from neuroplast.sites.discover import find_sites as discover

    return discover(model, example_input, forward=forward)
