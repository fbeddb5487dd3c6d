"""Weight initialisation (a decision the paper leaves open, REFERENCE §1.15 item 3).

The paper trains in Mathematica 12.3.1 and does not say how its nets were initialised, so
Mathematica's ``NetInitialize`` default applies. Three named initialisations are offered, all
with normal weights and **zero biases** (Wolfram documents zero biases for every method):

* ``xavier-normal`` (the default of ``initialize`` and ``neuroplast train``, and of the
  reproduction before 2026-12-05): std = √(2 / (fan_in + fan_out)),
  Glorot & Bengio. This is ``NetInitialize``'s ``Method -> "Xavier"`` with its default
  ``"FactorType" -> "Mean"`` and ``"Distribution" -> "Normal"``, the default of older versions.
* ``kaiming-normal`` (Mathematica's documented default ``Method -> "Kaiming"``,
  ``"Distribution" -> "Normal"``): std = √(g · 2 / fan_in), with g the scale factor of the
  activation that *follows* the layer: 2 for ReLU (``Ramp``), 1 for everything else (tanh,
  sigmoid, the softmax output).
* ``lecun-normal``: std = √(g / fan_in), g as above — He et al.'s rule with the activation's
  own gain, LeCun's 1/fan_in before tanh; the other reading of ``"Kaiming"`` for tanh nets. On
  inverted MNIST it is the one setting that reproduces the paper's hidden-neuron counts after
  pruning at initialisation (docs/reproduction/fidelity.md).

What could and could not be confirmed (docs/decisions.md, item 3):

* confirmed from Wolfram's reference page of ``NetInitialize``: the default ``Method`` is
  ``"Kaiming"`` with sub-option ``"Distribution" -> "Normal"``; biases are set to 0;
* confirmed from the source of an older ``NeuralNetworks``` paclet (its ``NetInitialize``,
  which had only the Xavier variance-scaling method): variance = 2/fan_in (``"In"``),
  2/fan_out (``"Out"``) or 2/(fan_in + fan_out) (``"Mean"``), multiplied by the next layer's
  activation factor (2 for ``Ramp``, 1 otherwise, so 1 for ``Tanh``);
* *not* confirmed: the fan and gain that the later ``"Kaiming"`` method uses. ``kaiming-normal``
  takes He et al.'s fan_in with the paclet's formula (variance 2/fan_in, factor 1 for tanh);
  ``lecun-normal`` takes He et al.'s derivation with the activation's own gain (variance
  g/fan_in: 2/fan_in before ReLU, 1/fan_in before tanh); PyTorch's
  ``kaiming_normal_(nonlinearity="tanh")`` would instead give (5/3)²/fan_in. Nor is it
  confirmed that 12.3.1 (the paper's version) already defaulted to ``"Kaiming"``: a newer
  paclet source read on 2026-12-06 (``NumericArray`` era, 12.0 or later) still defaults to
  ``"Xavier"`` with ``"FactorType" -> "Mean"`` and ``"Distribution" -> "Uniform"`` and has no
  ``"Kaiming"`` method (docs/decisions.md, item 3).

The same seeded stream is used for every initialisation (one ``torch.randn`` per layer,
scaled), so two initialisations of one seed differ only by a per-layer factor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuroplast.checks import check_seed
from neuroplast.errors import NeuroplastError
from neuroplast.models.checks import check_model
from neuroplast.models.mlp import MLP

DEFAULT_INIT = "xavier-normal"
"""The library's default initialisation (the reproduction's settings choose their own:
``neuroplast.experiments.settings``)."""


def xavier_std(fan_in: int, fan_out: int) -> float:
    """Standard deviation of Xavier-normal weights for a Linear ``fan_in → fan_out``."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def activation_gain(activation: str | None) -> float:
    """The factor Mathematica's initialisers multiply the variance by, for the activation
    after a layer: 2 for ReLU (``Ramp``), 1 for anything else (None = no activation)."""
    return 2.0 if activation == "relu" else 1.0


def kaiming_std(fan_in: int, fan_out: int, activation: str | None = None) -> float:
    """Standard deviation √(g · 2 / fan_in) of Mathematica-style Kaiming-normal weights."""
    del fan_out  # the fan-in convention of He et al.
    return math.sqrt(activation_gain(activation) * 2.0 / fan_in)


def lecun_std(fan_in: int, fan_out: int, activation: str | None = None) -> float:
    """Standard deviation √(g / fan_in): He et al.'s variance 2/fan_in is g/fan_in with the
    ReLU gain g = 2; with tanh's gain 1 it is LeCun's 1/fan_in."""
    del fan_out
    return math.sqrt(activation_gain(activation) / fan_in)


@dataclass(frozen=True)
class Initialization:
    """A named weight initialisation: normal weights with a per-layer std, zero biases.

    Attributes:
        name: registry name (``--init`` value, experiment configuration ``"init"``).
        std: ``std(fan_in, fan_out, activation after the layer or None) -> float``.
        description: one line for reports and ``--help``.
    """

    name: str
    std: Callable[[int, int, str | None], float]
    description: str


def _xavier(fan_in: int, fan_out: int, activation: str | None) -> float:
    del activation  # Xavier's variance does not depend on the activation
    return xavier_std(fan_in, fan_out)


INITIALIZATIONS: dict[str, Initialization] = {
    i.name: i for i in (
        Initialization(DEFAULT_INIT, _xavier,
                       "Xavier/Glorot normal, std √(2/(fan_in+fan_out)), zero biases"),
        Initialization("kaiming-normal", kaiming_std,
                       "Mathematica's NetInitialize default \"Kaiming\" (normal): std "
                       "√(g·2/fan_in), g = 2 before ReLU else 1, zero biases"),
        Initialization("lecun-normal", lecun_std,
                       "He et al.'s fan-in rule with the activation's own gain: std "
                       "√(g/fan_in), g = 2 before ReLU else 1 (LeCun normal before tanh), "
                       "zero biases — the other reading of Mathematica's \"Kaiming\""),
    )
}
"""The named initialisations."""


def get_initialization(name: str) -> Initialization:
    """The initialisation called ``name``.

    Raises:
        NeuroplastError: no such initialisation (the message lists the known ones).
    """
    try:
        return INITIALIZATIONS[name]
    except KeyError:
        raise NeuroplastError(f"unknown initialisation {name!r}; choose one of: "
                              f"{', '.join(INITIALIZATIONS)}") from None


def initialize(model: MLP, seed: int, method: str = DEFAULT_INIT) -> MLP:
    """Normal weights with the ``method``'s std per layer and zero biases, drawn from a
    generator seeded with ``seed`` (one ``torch.randn`` per layer, in layer order).

    Raises:
        TypeError: ``model`` is not an MLP or ``seed`` not an integer.
        NeuroplastError: ``seed`` outside ``0 … 2**63 − 1``, a model on the meta device, or an
            unknown ``method``.
    """
    check_model(model)
    init = get_initialization(method)
    generator = torch.Generator().manual_seed(check_seed(seed))
    last = len(model.layers) - 1
    with torch.no_grad():
        for index, layer in enumerate(model.layers):
            after = None if index == last else model.activation_name
            std = init.std(layer.in_features, layer.out_features, after)
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            layer.bias.zero_()
    return model
