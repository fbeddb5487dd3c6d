"""Model families for the architecture frontier: how to get a trained model and score it.

The experiment ``architecture-frontier``
(:mod:`neuroplast.experiments.definitions.architecture_frontier`) prunes trained models of any
family with every method and ratio. It knows a family only through an
:class:`ArchitectureSpec`: how to build the model, train it (or load it from a cache) for a
seed, which batches calibrate the pruning, how to score a model on validation data, and how to
fine-tune it for a fixed number of steps. Nothing else about the model is assumed; its sites
are found with :func:`neuroplast.find_sites`.

**Registering families.** No family is built in. A project (the model zoo's
``benchmarks/architectures``, a test) lists its specs in a module and names them in the
environment variable ``NEUROPLAST_EXTRA_ARCHITECTURES`` as comma-separated
``module:attribute`` entries, the attribute being an :class:`ArchitectureSpec` or a sequence
or dict of them — as ``NEUROPLAST_EXTRA_EXPERIMENTS`` names experiments. They are imported on
lookup in the driver and in every worker (process pools inherit the environment; the Ray
executor forwards it), so the specs' functions need not pickle. Names must contain the model
family (``cnn``, ``vgg``, ``resnet``, ``transformer``, ``llama``) for reports to group them.

**Caches.** ``train_or_load(seed, cache_dir)`` receives ``$NEUROPLAST_CACHE`` (or None for the
spec's default cache): trained models should be cached there, since the frontier's runs for
different ratios and methods all start from the same trained model.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.stats.site import Forward

ARCHITECTURES_ENV_VAR = "NEUROPLAST_EXTRA_ARCHITECTURES"
CACHE_ENV_VAR = "NEUROPLAST_CACHE"
"""The folder of trained models handed to ``train_or_load`` (None when unset)."""
OnStep = Callable[[nn.Module, torch.optim.Optimizer, int], None]
"""``on_step(model, optimizer, step)``, called by a family's ``train`` after every step."""
METRICS = {"accuracy": True, "perplexity": False}
"""The metrics a family may report, each with whether higher is better."""


@dataclass(frozen=True)
class ArchitectureSpec:
    """One model family of the architecture frontier.

    Attributes:
        name: registry name, e.g. ``vgg-cifar`` or ``llama-bytes`` (it names the family:
            ``cnn``/``vgg``/``resnet`` or ``transformer``/``llama``).
        build: ``build() -> nn.Module``, an untrained model of the family.
        train_or_load: ``train_or_load(seed, cache_dir) -> (model, train_data, val_data)``:
            the model trained with ``seed`` (read from ``cache_dir`` when cached there,
            trained and cached otherwise; ``cache_dir`` None means the family's default),
            with the data it was trained on and the validation data. Deterministic in
            ``seed``.
        metric: ``accuracy`` or ``perplexity`` (:data:`METRICS`).
        higher_is_better: whether a larger metric is better (accuracy yes, perplexity no).
        calibration: ``calibration(train_data) -> batches``: the calibration batches for
            statistics and data-driven measures — anything :func:`neuroplast.prune` accepts as
            data (a tensor, a list of tensors, of ``(input, target)`` pairs, of dicts).
            Measures that need targets (Taylor) read them from ``(input, target)`` pairs.
            It is read many times (a generator is turned into a list first).
        evaluate: ``evaluate(model, val_data) -> float``, the metric on the validation data.
        finetune: ``finetune(model, train_data, steps)``: train ``model`` in place for
            ``steps`` optimiser steps (its own optimiser and schedule, fixed by the family).
            Called after ``torch.manual_seed(seed)``; the model is put in eval mode after.
        forward: ``forward(model, batch)`` when the model is not called as ``model(batch)``
            / ``model(**batch)`` (see :func:`neuroplast.find_sites`).
        finetune_steps: the fine-tuning budget when the experiment's configuration names
            none.
        description: one line for reports.
        data: ``data() -> (train_data, val_data)`` without a model (for training from
            scratch; None: the family cannot be trained from scratch here).
        train: ``train(seed, train_data, steps, on_step) -> (model, curve)``: build the
            family's model with ``seed`` and train it for ``steps`` optimiser steps with its
            own recipe, calling ``on_step(model, optimizer, step)`` after every step (a
            death-and-replication schedule resizes the model and the optimiser's state
            there); ``curve`` is a list of ``{"step", "train_loss", ...}`` points. Needed by
            ``architecture-training``.
        training_steps: the budget of ``train`` when the configuration names none.
    """

    name: str
    build: Callable[[], nn.Module]
    train_or_load: Callable[[int, Path | None], tuple[nn.Module, Any, Any]]
    metric: str
    higher_is_better: bool
    calibration: Callable[[Any], Any]
    evaluate: Callable[[nn.Module, Any], float]
    finetune: Callable[[nn.Module, Any, int], None]
    forward: Forward | None = None
    finetune_steps: int = 100
    description: str = ""
    data: Callable[[], tuple[Any, Any]] | None = None
    train: Callable[[int, Any, int, OnStep | None], tuple[nn.Module, list[dict[str, Any]]]] \
        | None = None
    training_steps: int = 0

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise NeuroplastError(f"architecture {self.name!r}: metric must be one of "
                                  f"{', '.join(METRICS)}, got {self.metric!r}")
        if self.higher_is_better != METRICS[self.metric]:
            raise NeuroplastError(f"architecture {self.name!r}: {self.metric} is "
                                  f"{'higher' if METRICS[self.metric] else 'lower'}-is-better")
        if isinstance(self.finetune_steps, bool) or not isinstance(self.finetune_steps, int) \
                or self.finetune_steps < 0:
            raise NeuroplastError(f"architecture {self.name!r}: finetune_steps must be a "
                                  f"non-negative integer, got {self.finetune_steps!r}")
        if isinstance(self.training_steps, bool) or not isinstance(self.training_steps, int) \
                or self.training_steps < 0:
            raise NeuroplastError(f"architecture {self.name!r}: training_steps must be a "
                                  f"non-negative integer, got {self.training_steps!r}")
        if (self.data is None) != (self.train is None):
            raise NeuroplastError(f"architecture {self.name!r}: give both data and train (to "
                                  "train from scratch) or neither")


def _specs(value: Any, entry: str) -> Iterable[Any]:
    if isinstance(value, ArchitectureSpec):
        return [value]
    if isinstance(value, dict):
        return value.values()
    if isinstance(value, list | tuple):
        return value
    raise NeuroplastError(f"${ARCHITECTURES_ENV_VAR}: {entry!r} must be an ArchitectureSpec or "
                          "a list or dict of them")


def all_architectures() -> dict[str, ArchitectureSpec]:
    """Every family named by ``$NEUROPLAST_EXTRA_ARCHITECTURES`` (``module:attr,...``), by name.

    Raises:
        NeuroplastError: an entry that does not import, is not a spec, or repeats a name.
    """
    found: dict[str, ArchitectureSpec] = {}
    entries = os.environ.get(ARCHITECTURES_ENV_VAR, "").split(",")
    for entry in filter(None, (e.strip() for e in entries)):
        module_name, _, attribute = entry.partition(":")
        if not module_name or not attribute:
            raise NeuroplastError(f"${ARCHITECTURES_ENV_VAR}: entry {entry!r} must be "
                                  "module:attribute")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise NeuroplastError(f"${ARCHITECTURES_ENV_VAR}: cannot import {entry!r} ({exc}); "
                                  "check the name and PYTHONPATH") from None
        for spec in _specs(value, entry):
            if not isinstance(spec, ArchitectureSpec):
                raise NeuroplastError(f"${ARCHITECTURES_ENV_VAR}: {entry!r} holds {spec!r}, "
                                      "not an ArchitectureSpec")
            if spec.name in found:
                raise NeuroplastError(f"${ARCHITECTURES_ENV_VAR}: two architectures are "
                                      f"called {spec.name!r}; rename one")
            found[spec.name] = spec
    return found


def get_architecture(name: str) -> ArchitectureSpec:
    """The family called ``name``.

    Raises:
        NeuroplastError: no such family (the message lists the registered ones and says how
            to register more).
    """
    known = all_architectures()
    if name not in known:
        raise NeuroplastError(
            f"unknown architecture {name!r}; registered: {', '.join(known) or 'none'} (name "
            f"modules of ArchitectureSpecs in ${ARCHITECTURES_ENV_VAR}=module:attribute)"
        )
    return known[name]


def cache_dir() -> Path | None:
    """``$NEUROPLAST_CACHE`` as a path, or None (the family's default cache)."""
    value = os.environ.get(CACHE_ENV_VAR, "")
    return Path(value) if value else None
