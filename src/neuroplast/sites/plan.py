"""A plan: the shape changes of a model's sites, by module name, as a JSON document.

:func:`plan_of` names the modules of every recorded site (:mod:`neuroplast.sites.record`)
after ``model.named_modules()``; :func:`apply_plan` rebuilds each site in another instance of
the same architecture (one the user's constructor made, unpruned) with the site constructors
and replays the events, appending zero neurons (the weights are loaded next). The document::

    {"format": "neuroplast-plan", "version": 1,
     "sites": [{"kind": "conv", "producers": ["features.0"], "between": ["features.1"],
                "consumer": "features.3", "flatten_block": null,
                "events": [{"keep": [0, 2, 5]}, {"append": 2}, {"add_bias": true}]}, ...],
     "metadata": {...}}

``producers`` are the gate and up projections of a ``gated`` site, one module otherwise and
none for ``input``; ``between`` holds the BatchNorm of a conv site, the selector of an
``input`` site. Every check of a plan against a model ends in a one-line
:class:`~neuroplast.errors.NeuroplastError` that names the site and what does not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.sites.build import conv_site, gated_site, input_site, linear_site
from neuroplast.sites.record import AddBias, Append, Event, Keep, entries
from neuroplast.sites.site import Site

FORMAT = "neuroplast-plan"
VERSION = 1

# -- events as JSON ------------------------------------------------------------------------------


def _keep_from(value: Any) -> Keep:
    if not isinstance(value, list) or not all(type(i) is int for i in value):
        raise ValueError("'keep' must be a list of neuron indices")
    return Keep(tuple(value))


def _append_from(value: Any) -> Append:
    if type(value) is not int or value < 1:
        raise ValueError("'append' must be a positive number of neurons")
    return Append(value)


def _add_bias_from(value: Any) -> AddBias:
    if value is not True:
        raise ValueError("'add_bias' must be true")
    return AddBias()


EVENT_READERS: dict[str, Callable[[Any], Event]] = {
    "keep": _keep_from,
    "append": _append_from,
    "add_bias": _add_bias_from,
}
"""JSON key → event; every event is an object with exactly one of these keys."""


EVENT_JSON: dict[type, Callable[[Any], dict[str, Any]]] = {
    Keep: lambda e: {"keep": list(e.indices)},
    Append: lambda e: {"append": e.count},
    AddBias: lambda e: {"add_bias": True},
}
"""Event class → its JSON object (the inverse of :data:`EVENT_READERS`)."""


# -- sites by name -------------------------------------------------------------------------------


def _rebuild_linear(name: str, m: Mapping[str, Any]) -> Site:
    return linear_site(name, producer=m["producers"][0], consumer=m["consumer"],
                       between=m["between"])


def _rebuild_gated(name: str, m: Mapping[str, Any]) -> Site:
    gate, up = m["producers"]
    return gated_site(name, gate=gate, up=up, consumer=m["consumer"])


def _rebuild_conv(name: str, m: Mapping[str, Any]) -> Site:
    return conv_site(name, producer=m["producers"][0], consumer=m["consumer"],
                     between=m["between"], flatten_block=m["flatten_block"])


def _rebuild_input(name: str, m: Mapping[str, Any]) -> Site:
    return input_site(name, selector=m["between"][0], consumer=m["consumer"])


REBUILD: dict[str, tuple[Callable[[str, Mapping[str, Any]], Site], int, int]] = {
    "linear": (_rebuild_linear, 1, 0),
    "gated": (_rebuild_gated, 2, 0),
    "conv": (_rebuild_conv, 1, 0),
    "flatten": (_rebuild_conv, 1, 0),
    "input": (_rebuild_input, 0, 1),
}
"""Site kind → (constructor from modules, number of producers, least number of ``between``
modules)."""


def plan_of(model: nn.Module) -> dict[str, Any]:
    """The plan of ``model``: every recorded site's modules by name, with its events.

    Raises:
        NeuroplastError: when a recorded site names a module that is no longer part of
            ``model`` (replaced after the surgery): the plan could not be replayed.
    """
    names: dict[int, str] = {}
    for name, module in model.named_modules():
        names.setdefault(id(module), name)

    def name_of(module: nn.Module, consumer: str) -> str:
        if id(module) not in names:
            raise NeuroplastError(
                f"the site read by {consumer!r} was changed through a "
                f"{type(module).__name__} that is no longer part of the model (was it "
                "replaced after pruning or growing?); the plan cannot name it"
            )
        return names[id(module)]

    sites = []
    for consumer_name, module in model.named_modules():
        for entry in entries(module):
            shape = entry.site
            sites.append({
                "kind": shape.kind,
                "producers": [name_of(m, consumer_name) for m in shape.producers],
                "between": [name_of(m, consumer_name) for m in shape.between],
                "consumer": consumer_name,
                "flatten_block": shape.flatten_block,
                "events": [EVENT_JSON[type(e)](e) for e in entry.events],
            })
    return {"format": FORMAT, "version": VERSION, "sites": sites}


# -- replay --------------------------------------------------------------------------------------


def check_header(plan: Any, source: str) -> list[Any]:
    """The plan's site list after checking its format tag and version.

    Raises:
        NeuroplastError: for anything but a version-1 neuroplast plan.
    """
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise NeuroplastError(
            f"{source} is not a neuroplast plan (no \"format\": \"{FORMAT}\"); save models "
            "with neuroplast.save"
        )
    if plan.get("version") != VERSION:
        raise NeuroplastError(
            f"{source} has plan version {plan.get('version')!r}; this neuroplast reads version "
            f"{VERSION}; load it with the neuroplast version that saved it"
        )
    sites = plan.get("sites")
    if not isinstance(sites, list):
        raise NeuroplastError(f"{source}: \"sites\" must be a list")
    return sites


def _module(model: nn.Module, name: Any, what: str) -> nn.Module:
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a module name (a string), got {name!r}")
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(
            f"names {what} {name!r}, which the model built by the factory does not have; "
            "is it the constructor the model was saved from?"
        ) from None


def _modules(model: nn.Module, entry: Any) -> dict[str, Any]:
    """The entry's modules looked up in ``model``, checked against its kind."""
    if not isinstance(entry, dict):
        raise ValueError("each site must be a JSON object")
    kind = entry.get("kind")
    if kind not in REBUILD:
        raise ValueError(f"unknown site kind {kind!r} (known: {', '.join(REBUILD)})")
    _, n_producers, n_between = REBUILD[kind]
    producers, between = entry.get("producers"), entry.get("between")
    if not isinstance(producers, list) or len(producers) != n_producers:
        raise ValueError(f"a {kind} site needs {n_producers} producer name(s)")
    if not isinstance(between, list) or len(between) < n_between:
        raise ValueError(f"a {kind} site needs at least {n_between} 'between' module name(s)")
    block = entry.get("flatten_block")
    if (kind == "flatten") != (type(block) is int and block > 0) or \
            (kind != "flatten" and block is not None):
        raise ValueError("'flatten_block' must be a positive integer for a flatten site, "
                         "null otherwise")
    return {
        "producers": [_module(model, n, "producer") for n in producers],
        "between": [_module(model, n, "module") for n in between],
        "consumer": _module(model, entry.get("consumer"), "consumer"),
        "flatten_block": block,
    }


def _events(entry: dict[str, Any]) -> list[Event]:
    events = entry.get("events")
    if not isinstance(events, list):
        raise ValueError("'events' must be a list")
    out = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1 or next(iter(event)) not in \
                EVENT_READERS:
            raise ValueError(
                f"each event must be one of {{{', '.join(map(repr, EVENT_READERS))}: ...}}, "
                f"got {event!r}"[:200]
            )
        (key, value), = event.items()
        out.append(EVENT_READERS[key](value))
    return out


def _zeros_append(site: Site, count: int) -> None:
    """Append ``count`` neurons with zero entries everywhere (their weights come later)."""
    upstream = []
    for axis in site.upstream:
        tensor = axis.tensor
        shape = list(tensor.shape)
        shape[axis.dim] = count * axis.block
        upstream.append(torch.zeros(shape, dtype=tensor.dtype, device=tensor.device))
    weight = site.view.module.weight
    columns = torch.zeros(site.consumer_width, count, site.offsets, dtype=weight.dtype,
                          device=weight.device)  # (m, k, K)
    site.append(upstream, columns)


def _add_bias(site: Site) -> None:
    if not site.add_consumer_bias():
        raise NeuroplastError("the plan adds a bias to the consumer, which already has one")


REPLAY: dict[type, Callable[[Site, Any], None]] = {
    Keep: lambda site, e: site.keep(list(e.indices)),
    Append: lambda site, e: _zeros_append(site, e.count),
    AddBias: lambda site, e: _add_bias(site),
}
"""Event class → how to apply it again (appended neurons are zero: the weights come next)."""


def apply_plan(model: nn.Module, plan: Any, source: str = "the plan") -> nn.Module:
    """Replay ``plan`` on ``model`` (an unpruned instance of the saved architecture), in place.

    Args:
        model: what the user's constructor built.
        plan: the parsed plan document (see the module docstring).
        source: how to name the plan in messages (its file).

    Returns:
        ``model``, with every site's kept, appended (zero) neurons and added biases.

    Raises:
        NeuroplastError: one line, for a wrong format or version, a module name the model
            does not have, a module that cannot play its recorded part, or an event that does
            not fit the site (indices out of range, a bias that already exists).
    """
    sites = check_header(plan, source)
    for i, entry in enumerate(sites):
        where = f"{source}, site {i}"
        if isinstance(entry, dict) and isinstance(entry.get("consumer"), str):
            where += f" (consumer {entry['consumer']!r})"
        try:
            modules = _modules(model, entry)
            events = _events(entry)
            site = REBUILD[entry["kind"]][0](entry["consumer"] or "<root>", modules)
            for event in events:
                REPLAY[type(event)](site, event)
        except (ValueError, TypeError, RuntimeError) as exc:
            message = " ".join(str(exc).split())
            raise NeuroplastError(
                f"{where}: {message}; a plan replays on the unpruned architecture it was saved "
                "from: check that the factory (and its arguments) builds that one") from None
    return model


__all__ = ["FORMAT", "VERSION", "apply_plan", "check_header", "plan_of"]
