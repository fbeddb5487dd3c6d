"""Run options: choices the paper leaves open that an experiment can be run under.

The fidelity study (docs/reproduction/fidelity.md) varies, besides the protocol, the MNIST
encoding (REFERENCE §1.15 item 6), the initialisation (item 3), the form of the L2 term
(item 2) and the learning-rate schedule (:func:`run_protocol` gives the protocol a run trains
with); probes vary how NNSP
combines its outputs, the spread of B4's random neuron (item 13) and whether replication-shift's
peaked sets share their examples (item 21). An experiment that supports
them lists their keys in :attr:`Experiment.options`; its ``run`` reads them from the run's
configuration with :func:`option`.

An option at its default is **left out** of the configuration, so a run made with the defaults
has the same configuration, hence the same run id, as before the option existed: stored runs
are still found and resumed. A non-default value is part of the configuration, so it is stored
with the run and changes its id (runs under different options never mix). Every run of a
supporting experiment also records the effective values of the options it supports,
defaults included, in its result (:func:`effective_options`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions.random_neuron_spread import B4_SPREADS, DEFAULT_B4_SPREAD
from neuroplast.experiments.experiment import Experiment
from neuroplast.models import DEFAULT_INIT, INITIALIZATIONS
from neuroplast.train import Protocol, get_protocol
from neuroplast.train.l2 import DEFAULT_L2_FORM, L2_FORMS, with_l2_form
from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE, LR_SCHEDULES


@dataclass(frozen=True)
class RunOption:
    """One option: its configuration key, default, allowed values and meaning."""

    key: str
    default: Any
    levels: tuple[Any, ...]
    description: str


OPTIONS: dict[str, RunOption] = {
    o.key: o for o in (
        RunOption("invert", False, (False, True),
                  "MNIST encoding: False = standard (background 0), True = inverted "
                  "(background 1, the paper's Mathematica data)"),
        RunOption("init", DEFAULT_INIT, tuple(INITIALIZATIONS),
                  "weight initialisation (neuroplast.models.INITIALIZATIONS)"),
        RunOption("l2", DEFAULT_L2_FORM, tuple(L2_FORMS),
                  "form of the L2 term: λ/2 or λ, biases or weights only "
                  "(neuroplast.train.l2)"),
        RunOption("lr_schedule", DEFAULT_LR_SCHEDULE, tuple(LR_SCHEDULES),
                  "how the learning rate changes over each training call: constant (the "
                  "paper's statement) or polynomial (Mathematica NetTrain's SGD default; "
                  "neuroplast.train.lr_schedule)"),
        RunOption("nnsp_outputs", "per-output", ("per-output", "summed"),
                  "how NNSP combines a level's outputs: per-output = Σ_o Var(S_ok), the "
                  "paper's eqs 59–65; summed = Var(Σ_o S_ok), the variance of the summed "
                  "outputs' sensitivity (measure nnsp-summed; no softmax level)"),
        RunOption("b4_std", DEFAULT_B4_SPREAD, tuple(B4_SPREADS),
                  "the spread of replication's random neuron B4 (REFERENCE §1.15 item 13): "
                  "xavier-normal = the library's B4; initialiser = the std the run's --init "
                  "gives those layers; trained = the trained layers' own std "
                  "(neuroplast.experiments.definitions.random_neuron_spread)"),
        RunOption("peaked_sets", "shared", ("shared", "independent"),
                  "how replication-shift's two peaked sets relate (REFERENCE §1.15 item 21): "
                  "shared = both drawn with the run's seed, so they share their 600 examples "
                  "of every other digit; independent = the new ('1'-peaked) set drawn with its "
                  "own seed (neuroplast.experiments.definitions.replication_shift)"),
    )
}
"""The run options, by configuration key."""


REPRODUCTION_DEFAULTS: Mapping[str, Any] = MappingProxyType({"init": "kaiming-normal",
                                                             "l2": "half-weights"})
"""The run options of the ``fast`` reproduction setting (standard MNIST, Kaiming-normal,
biases not penalised): the reproduction's defaults for every experiment until 2026-12-07, and
since then for those whose best-matching setting is ``fast`` or ``fast-independent-sets``
(:mod:`neuroplast.experiments.settings`, docs/decisions.md items 3 and 54). They are *not* the
options' identity defaults (:attr:`RunOption.default`, what a configuration without the key
means): those stay fixed, so runs stored before the reproduction's defaults changed keep their
meaning and their ids (the earlier defaults' results: docs/reproduction/xavier-normal/ and
docs/reproduction/kaiming-normal/)."""


def reproduction_options(experiment: Experiment, chosen: Mapping[str, Any] | None,
                         defaults: Mapping[str, Any]) -> Experiment:
    """``experiment`` under ``defaults`` (a reproduction setting's options,
    :attr:`~neuroplast.experiments.settings.ReproductionSetting.options`; those it supports)
    overridden by ``chosen``.

    Raises:
        NeuroplastError: a chosen option the experiment does not support, or a bad value.
    """
    supported = {k: v for k, v in defaults.items() if k in experiment.options}
    return with_options(experiment, **(supported | dict(chosen or {})))


def option(config: Mapping[str, Any], key: str) -> Any:
    """The value of option ``key`` in a run's configuration (its default when absent)."""
    return config.get(key, OPTIONS[key].default)


def run_protocol(protocol_name: str, config: Mapping[str, Any]) -> Protocol:
    """The protocol a run trains with: ``protocol_name`` under the run's L2 form (option
    ``l2``) and learning-rate schedule (option ``lr_schedule``; the named protocol itself at
    the defaults)."""
    protocol = with_l2_form(get_protocol(protocol_name), option(config, "l2"))
    schedule = option(config, "lr_schedule")
    return protocol if schedule == DEFAULT_LR_SCHEDULE else replace(protocol,
                                                                     lr_schedule=schedule)


def effective_options(config: Mapping[str, Any],
                      supported: Iterable[str] = tuple(OPTIONS)) -> dict[str, Any]:
    """The value of every option in ``supported`` for a run, defaults included: an
    experiment stores those of its :attr:`Experiment.options` in each run's result (runs
    stored before 2026-12-07 list every option; an absent key means its default)."""
    return {key: option(config, key) for key in supported}


def encoding_name(invert: bool) -> str:
    """``"inverted"`` or ``"standard"``."""
    return "inverted" if invert else "standard"


def option_flag(key: str) -> str:
    """The ``neuroplast reproduce`` flag of run option ``key`` (``b4_std`` → ``--b4-std``)."""
    return "--" + key.replace("_", "-")


def check_options(options: Mapping[str, Any], supported: tuple[str, ...] = tuple(OPTIONS),
                  experiment: str = "") -> dict[str, Any]:
    """The options that differ from their defaults, after checking names and values.

    Raises:
        NeuroplastError: an unknown option, one the experiment does not support, or a value
            that is not one of the option's levels.
    """
    chosen = {}
    for key, value in options.items():
        if key not in OPTIONS:
            raise NeuroplastError(f"unknown run option {key!r}; choose from: "
                                  f"{', '.join(OPTIONS)}")
        if key not in supported:
            where = f"experiment {experiment!r}" if experiment else "this experiment"
            raise NeuroplastError(f"{where} does not support the run option {key!r} "
                                  f"({option_flag(key)}; it supports: "
                                  f"{', '.join(f'{k} ({option_flag(k)})' for k in supported)}"
                                  f"{'none' if not supported else ''})")
        spec = OPTIONS[key]
        if value not in spec.levels or type(value) is not type(spec.default):
            raise NeuroplastError(f"run option {key}={value!r}: choose one of "
                                  f"{', '.join(repr(v) for v in spec.levels)}")
        if value != spec.default:
            chosen[key] = value
    return chosen


@dataclass(frozen=True)
class ConfigsWith:
    """``configs(protocol)`` of an experiment with fixed keys added to every configuration
    (picklable): :func:`with_options`' non-default options, or another fixed choice of a
    configuration key."""

    configs: Callable[[Protocol], list[dict[str, Any]]]
    options: tuple[tuple[str, Any], ...]

    def __call__(self, protocol: Protocol) -> list[dict[str, Any]]:
        return [dict(config) | dict(self.options) for config in self.configs(protocol)]


def with_options(experiment: Experiment, **options: Any) -> Experiment:
    """``experiment`` whose configurations carry ``options`` (only those off their default).

    The result keeps the experiment's name and ``run``, so a sweep of it
    (:func:`neuroplast.experiments.runner.run_sweep`) stores its runs like any other, and
    workers that look the experiment up by name run the same ``run``, which reads the options
    from each run's configuration. With every option at its default the experiment is
    returned unchanged (same configurations, same run ids).

    Raises:
        NeuroplastError: an option the experiment does not support, or a bad value.
    """
    chosen = check_options(options, experiment.options, experiment.name)
    if not chosen:
        return experiment
    return replace(experiment, configs=ConfigsWith(experiment.configs,
                                                           tuple(sorted(chosen.items()))))
