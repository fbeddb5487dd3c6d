"""The zoo's model names and their factories: a cached model is ``FACTORIES[name](**config)``
with its saved weights loaded (no pickle, no code in the cache)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.zoo.cnn import VGG, ResNet
from neuroplast.zoo.transformer import LlamaConfig, TinyLlama


def vgg(**config: Any) -> VGG:
    """:class:`~neuroplast.zoo.cnn.VGG` from JSON-like keyword arguments."""
    if "channels" in config:
        config["channels"] = tuple(config["channels"])
    return VGG(**config)


def resnet(**config: Any) -> ResNet:
    """:class:`~neuroplast.zoo.cnn.ResNet` from JSON-like keyword arguments."""
    if "widths" in config:
        config["widths"] = tuple(config["widths"])
    return ResNet(**config)


def llama(**config: Any) -> TinyLlama:
    """:class:`~neuroplast.zoo.transformer.TinyLlama` from the fields of a
    :class:`~neuroplast.zoo.transformer.LlamaConfig`."""
    return TinyLlama(LlamaConfig(**config))


FACTORIES: dict[str, Callable[..., nn.Module]] = {"vgg": vgg, "resnet": resnet, "llama": llama}
"""Model family name → factory taking the config recorded in the cache."""


def resolved_config(name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every keyword argument of ``name``'s factory, the defaults filled in, as JSON stores
    them (tuples as lists): what a cache record holds, so that a later change of a default
    cannot change what a cached entry means.

    Raises:
        NeuroplastError: for an unknown name or an unknown keyword.
    """
    model_class = {"vgg": VGG, "resnet": ResNet}.get(name)
    config = dict(config or {})
    if name == "llama":
        try:
            full = LlamaConfig(**config).to_dict()
        except TypeError as exc:
            raise NeuroplastError(f"the config {config} does not fit the llama factory ({exc})") \
                from None
    elif model_class is not None:
        defaults = {k: p.default for k, p in inspect.signature(model_class).parameters.items()}
        unknown = set(config) - set(defaults)
        if unknown:
            raise NeuroplastError(f"the {name} factory takes no {sorted(unknown)}; it takes "
                                  f"{sorted(defaults)}")
        full = {**defaults, **config}
    else:
        raise NeuroplastError(f"unknown zoo model {name!r}; choose one of {sorted(FACTORIES)}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()}


def build(name: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh (untrained) model of family ``name`` with ``config``.

    Raises:
        NeuroplastError: for an unknown name or a config the factory does not take.
    """
    if name not in FACTORIES:
        raise NeuroplastError(f"unknown zoo model {name!r}; choose one of {sorted(FACTORIES)}")
    try:
        return FACTORIES[name](**dict(config or {}))
    except TypeError as exc:
        raise NeuroplastError(f"the config {config} does not fit the {name} factory ({exc}); "
                              "rebuild the cache entry with --force") from None
