"""The spread of replication's random neuron B4: the run option ``b4_std``.

The paper draws B4's new neuron "from the same distribution as other weights" (§5.6; REFERENCE
§1.15 item 13) without saying which. The library's B4 draws Xavier-normal weights for the
layers' current shapes (:func:`neuroplast.replication.replicate`; decisions row 13). The
fidelity study (docs/reproduction/fidelity.md, "The N1 experiments") found that a wider neuron
costs what the paper's B4 costs at first; this option runs the replication experiments under
each reading, for the ``hidden1`` site of an MLP (N1):

* ``xavier-normal``: the library's B4 (the default; the runs stored before the option);
* ``initialiser``: the std the run's initialisation (option ``init``) gives a layer of each
  shape, as :func:`neuroplast.models.initialize` would draw it (no activation after the last
  layer);
* ``trained``: the standard deviation of the trained layers' own weights, read when the
  neuron is added.

Each reading gives the (incoming, outgoing) std for ``replicate(..., random_std=...)``; the
draws are the same standard normals under every reading, so rows of one seed differ by the
width alone.
"""

from __future__ import annotations

from collections.abc import Callable

from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP
from neuroplast.models.init import get_initialization

SITE_LAYER = 0
"""The layer that produces ``hidden1``; the next one consumes it."""


def _library(model: MLP, init: str) -> tuple[float, float] | None:
    return None


def initialiser_std(model: MLP, init: str) -> tuple[float, float]:
    """(incoming, outgoing) std that ``init`` gives the layers around ``hidden1``."""
    rule = get_initialization(init).std
    producer, consumer = model.layers[SITE_LAYER].weight, model.layers[SITE_LAYER + 1].weight
    last = len(model.layers) - 1
    (width, n_in), n_out = producer.shape, consumer.shape[0]
    after_consumer = None if SITE_LAYER + 1 == last else model.activation_name
    return (rule(n_in, width, model.activation_name),
            rule(width, n_out, after_consumer))


def trained_std(model: MLP, init: str) -> tuple[float, float]:
    """(incoming, outgoing) std of the trained layers around ``hidden1``."""
    return (float(model.layers[SITE_LAYER].weight.detach().std()),
            float(model.layers[SITE_LAYER + 1].weight.detach().std()))


B4_SPREADS: dict[str, Callable[[MLP, str], tuple[float, float] | None]] = {
    "xavier-normal": _library, "initialiser": initialiser_std, "trained": trained_std}
"""Reading of "the same distribution as other weights" → (model, init) → the (incoming,
outgoing) std of B4's neuron in ``hidden1``, or None for the library's own Xavier-normal
draw. The keys are the run option ``b4_std``'s levels (``neuroplast.experiments.options``)."""
DEFAULT_B4_SPREAD = "xavier-normal"
"""The library's B4: the option's default, left out of a run's configuration."""
B4_WEIGHTS: dict[str, str] = {
    "xavier-normal": "Xavier-normal weights",
    "initialiser": "weights at the std the run's initialisation gives those layers",
    "trained": "weights at the trained layers' own std",
}
"""How a report names B4's neuron under each reading ("a neuron with …")."""


def _check(reading: str) -> str:
    if reading not in B4_SPREADS:
        raise NeuroplastError(f"unknown B4 spread {reading!r}; choose one of "
                              f"{', '.join(B4_SPREADS)}")
    return reading


def b4_random_std(model: MLP, reading: str, init: str) -> tuple[float, float] | None:
    """The ``random_std`` B4 gets under ``reading`` for the ``hidden1`` site of ``model``
    (before the neuron is added), initialised by ``init``; None: the library's draw.

    Raises:
        NeuroplastError: an unknown reading.
    """
    return B4_SPREADS[_check(reading)](model, init)


def b4_weights(reading: str) -> str:
    """The words a report uses for B4's weights under ``reading``.

    Raises:
        NeuroplastError: an unknown reading.
    """
    return B4_WEIGHTS[_check(reading)]
