"""The experiment registry: the paper's experiments by name, plus optional extra ones.

``EXPERIMENTS`` holds the built-in definitions of :mod:`neuroplast.experiments.definitions`;
``BENCHMARKS`` the built-in experiments that go beyond the paper (the compression frontier,
the architecture frontier): found by name like the paper's, listed by ``--list``, but not run
by ``reproduce all``.
Further experiments (a project's own, or test doubles) are named by the environment variable
``NEUROPLAST_EXTRA_EXPERIMENTS`` as comma-separated ``module:attribute`` entries; the attribute
is an :class:`Experiment` or a sequence of them. They are imported on lookup, in the driver and
in every worker (workers inherit the environment), so ``neuroplast reproduce <extra>`` works
with any executor. ``reproduce all`` runs only the built-in ones.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions import BENCHMARK_DEFINITIONS, DEFINITIONS
from neuroplast.experiments.experiment import Experiment, mnist

__all__ = ["BENCHMARKS", "BUILT_IN", "EXPERIMENTS", "EXTRA_ENV_VAR", "Experiment",
           "all_experiments", "extra_experiments", "get_experiment", "mnist"]

EXTRA_ENV_VAR = "NEUROPLAST_EXTRA_EXPERIMENTS"

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in DEFINITIONS}
"""The paper's experiments (DESIGN.md §4), in the paper's order."""

BENCHMARKS: dict[str, Experiment] = {e.name: e for e in BENCHMARK_DEFINITIONS}
"""Built-in experiments beyond the paper; not part of ``reproduce all``."""

BUILT_IN: dict[str, Experiment] = EXPERIMENTS | BENCHMARKS
"""Every built-in experiment: the paper's, then the benchmarks."""


def extra_experiments() -> dict[str, Experiment]:
    """Experiments named by ``$NEUROPLAST_EXTRA_EXPERIMENTS`` (``module:attr,...``)."""
    found: dict[str, Experiment] = {}
    for entry in filter(None, (e.strip() for e in os.environ.get(EXTRA_ENV_VAR, "").split(","))):
        module_name, _, attribute = entry.partition(":")
        if not module_name or not attribute:
            raise NeuroplastError(f"${EXTRA_ENV_VAR}: entry {entry!r} must be module:attribute")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise NeuroplastError(f"${EXTRA_ENV_VAR}: cannot import {entry!r} ({exc}); check "
                                  "the name and PYTHONPATH") from None
        items = [value] if isinstance(value, Experiment) else list(_iterable(value, entry))
        for item in items:
            if not isinstance(item, Experiment):
                raise NeuroplastError(f"${EXTRA_ENV_VAR}: {entry!r} holds {item!r}, "
                                      "not an Experiment")
            found[item.name] = item
    return found


def _iterable(value: object, entry: str) -> Iterable[object]:
    if isinstance(value, dict):
        return value.values()
    if isinstance(value, list | tuple):
        return value
    raise NeuroplastError(f"${EXTRA_ENV_VAR}: {entry!r} must be an Experiment or a list of them")


def all_experiments() -> dict[str, Experiment]:
    """Built-in experiments followed by the extra ones (an extra one may not shadow a built-in)."""
    extras = extra_experiments()
    clash = sorted(set(extras) & set(BUILT_IN))
    if clash:
        raise NeuroplastError(f"${EXTRA_ENV_VAR} redefines built-in experiment(s) {clash}; "
                              "rename them")
    return BUILT_IN | extras


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``.

    Raises:
        NeuroplastError: no such experiment (the message lists the known ones).
    """
    if name in BUILT_IN:
        return BUILT_IN[name]
    known = all_experiments()
    if name not in known:
        raise NeuroplastError(f"unknown experiment {name!r}; choose one of: "
                              f"{', '.join(known)} (or `all`); `neuroplast reproduce --list` "
                              "describes them")
    return known[name]
