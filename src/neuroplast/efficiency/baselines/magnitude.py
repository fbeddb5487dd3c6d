"""Magnitude baselines: the L1 or L2 norm of a neuron's incoming, outgoing or all weights.

The scores of the common pruning tools (Li et al. 2017 "Pruning filters for efficient
ConvNets" for L1 of incoming weights; He et al. 2014 for the outgoing-weight norm). With
w_kj the producer's weights into neuron k and w_ik the consumer's weights out of it:

* ``magnitude-l1-in``  ``Σ_j |w_kj|``          ``magnitude-l2-in``  ``(Σ_j w_kj²)^½``
* ``magnitude-l1-out`` ``Σ_i |w_ik|``          ``magnitude-l2-out`` ``(Σ_i w_ik²)^½``
* ``magnitude-l1``     ``Σ_j |w_kj| + Σ_i |w_ik|``
* ``magnitude-l2``     ``(Σ_j w_kj² + Σ_i w_ik²)^½`` (the norm of every weight touching k)

On a convolution the sums run over the whole filter (incoming) and every kernel position
(outgoing); on a gated FFN over both projections. Biases are not counted. An input neuron
has no incoming weights: the ``-in`` measures refuse
the ``input`` site, and ``magnitude-l1``/``magnitude-l2`` use the outgoing weights only there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuroplast.efficiency.baselines.common import (
    incoming_per_neuron,
    no_argument,
    outgoing_per_neuron,
)
from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError


@dataclass(frozen=True)
class MagnitudeSpec:
    """Which weights a magnitude measure sums, and with which norm."""

    name: str
    p: int
    incoming: bool
    outgoing: bool


def _power_sums(ctx: MeasureContext, spec: MagnitudeSpec) -> torch.Tensor:
    """Σ |w|^p over the chosen weights of every neuron: (n,) float64."""
    total = torch.zeros(ctx.stats.width, dtype=torch.float64)
    if spec.incoming and ctx.target.can_grow:
        total = total + incoming_per_neuron(ctx.target).abs().pow(spec.p).sum(dim=1)
    if spec.outgoing:
        total = total + outgoing_per_neuron(ctx.target).abs().pow(spec.p).sum(dim=1)
    return total


def magnitude(ctx: MeasureContext, spec: MagnitudeSpec) -> torch.Tensor:
    """The spec's norm of each neuron's weights: (n,) float64."""
    no_argument(ctx, spec.name)
    if spec.incoming and not spec.outgoing and not ctx.target.can_grow:
        raise NeuroplastError(
            f"measure {spec.name!r} does not support the input site (input neurons have no "
            "incoming weights); use the '-out' variant or 'magnitude-l1'/'magnitude-l2'"
        )
    return _power_sums(ctx, spec).pow(1.0 / spec.p)


SPECS = (
    MagnitudeSpec("magnitude-l1-in", 1, incoming=True, outgoing=False),
    MagnitudeSpec("magnitude-l2-in", 2, incoming=True, outgoing=False),
    MagnitudeSpec("magnitude-l1-out", 1, incoming=False, outgoing=True),
    MagnitudeSpec("magnitude-l2-out", 2, incoming=False, outgoing=True),
    MagnitudeSpec("magnitude-l1", 1, incoming=True, outgoing=True),
    MagnitudeSpec("magnitude-l2", 2, incoming=True, outgoing=True),
)

_WHICH = {(True, False): "incoming weights", (False, True): "outgoing weights",
          (True, True): "incoming and outgoing weights (outgoing only on input)"}

for _spec in SPECS:
    MEASURES.register(Measure(
        name=_spec.name,
        description=f"L{_spec.p} norm of the neuron's {_WHICH[_spec.incoming, _spec.outgoing]}",
        reference="magnitude pruning; Li et al. 2017 (L1 filter norm), He et al. 2014 (onorm)",
        compute=lambda ctx, spec=_spec: magnitude(ctx, spec),
    ))
