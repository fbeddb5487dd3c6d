"""Readings of the connection-cut efficiency E_k (eq. 28) that the paper's text admits.

The library computes E_k as the Appendix specifies it (eqs 71–72, REFERENCE §1.4):

    E_k = C_kk · Σ_i w_ik² f'_i(ȳ_i)² / C_ii,

with C_kk the variance of neuron k's **output**, C_ii the variance of consumer i's **output**
and f'_i evaluated **at the mean pre-activation** ȳ_i = Σ_j w_ij ⟨x_j⟩ + b_i
(:func:`neuroplast.efficiency.connection_cut_efficiency`). Each other reading here changes one
thing — one of the two variances, how f' enters, or its power — as a reader of the main text
(eqs 22–28) or an implementation in another system might:

* ``mean-slope-squared``: ⟨f'_i(y_i)²⟩ over the data in place of f'_i(ȳ_i)²;
* ``consumer-pre-variance``: C_ii the variance of consumer i's pre-activation y_i;
* ``site-pre-variance``: C_kk the variance of neuron k's pre-activation;
* ``slope-not-squared``: f'_i(ȳ_i) to the first power, as an implementation that drops the
  square of eq. 28 would have it (f' ≤ 1 for tanh, so it lies between the Appendix's
  reading and the next);
* ``no-slope``: f' = 1, C_ii unchanged (the output variance).

The consumer must have an element-wise activation (a hidden layer, as in the paper's
cutoff- and input-pruning); the library's convention for an output-layer consumer (f' = 1,
C_ii of the logits) is not a reading.

They exist for the fidelity study (``benchmarks/cutoff_readings.py``: which reading gives the
paper's Fig. 5 widths), not as pruning measures: no strategy uses them. A consumer whose
output never varies (C_ii ≤ :data:`~neuroplast.efficiency.paper.ZERO_VARIANCE`) is left out of
the sum, as in the library's E_k.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import torch

from neuroplast.activations import Activation
from neuroplast.efficiency.paper import ZERO_VARIANCE
from neuroplast.errors import NeuroplastError


@dataclass(frozen=True, eq=False)
class SiteSample:
    """A site and its Linear consumer evaluated on N examples, in float64.

    Attributes:
        pre: (N, n) the site neurons' pre-activations.
        post: (N, n) their outputs x_k = f(pre).
        consumer_weight: (m, n) w_ik.
        consumer_bias: (m,) b_i.
        consumer_activation: the consumer's element-wise activation f_i.
    """

    pre: torch.Tensor
    post: torch.Tensor
    consumer_weight: torch.Tensor
    consumer_bias: torch.Tensor
    consumer_activation: Activation

    def __post_init__(self) -> None:
        tensors = (self.pre, self.post, self.consumer_weight, self.consumer_bias)
        if any(not t.is_floating_point() for t in tensors):
            raise NeuroplastError("a site sample holds floating-point tensors (float64 for the "
                                  "fidelity study); convert them with .double()")
        if self.post.dim() != 2 or self.pre.shape != self.post.shape \
                or self.consumer_weight.dim() != 2 \
                or self.consumer_weight.shape[1] != self.post.shape[1] \
                or self.consumer_bias.shape != (self.consumer_weight.shape[0],):
            raise NeuroplastError(
                f"inconsistent sample: pre {tuple(self.pre.shape)}, post "
                f"{tuple(self.post.shape)}, consumer weight {tuple(self.consumer_weight.shape)}, "
                f"bias {tuple(self.consumer_bias.shape)}; expected (N, n), (N, n), (m, n), (m,)"
            )

    def consumer_pre(self) -> torch.Tensor:
        """(N, m) the consumer's pre-activations y_i = Σ_k w_ik x_k + b_i."""
        return self.post @ self.consumer_weight.T + self.consumer_bias

    def preactivation_at_mean(self) -> torch.Tensor:
        """(m,) ȳ_i = Σ_k w_ik ⟨x_k⟩ + b_i (eq. 24)."""
        return self.consumer_weight @ self.post.mean(dim=0) + self.consumer_bias


def _variance(values: torch.Tensor) -> torch.Tensor:
    return values.var(dim=0, unbiased=False)


def _combine(site_variance: torch.Tensor, slope_squared: torch.Tensor,
             consumer_variance: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """C_kk · Σ_i w_ik² s_i / V_i over the consumers with V_i > ZERO_VARIANCE; (n,)."""
    varying = consumer_variance > ZERO_VARIANCE
    safe = torch.where(varying, consumer_variance, torch.ones_like(consumer_variance))
    gain = torch.where(varying, slope_squared / safe, torch.zeros_like(safe))  # (m,)
    return site_variance * (gain @ weight**2)


def _appendix(sample: SiteSample) -> torch.Tensor:
    f = sample.consumer_activation
    return _combine(_variance(sample.post), f.derivative(sample.preactivation_at_mean()) ** 2,
                    _variance(f.fn(sample.consumer_pre())), sample.consumer_weight)


def _mean_slope_squared(sample: SiteSample) -> torch.Tensor:
    f, y = sample.consumer_activation, sample.consumer_pre()
    return _combine(_variance(sample.post), (f.derivative(y) ** 2).mean(dim=0),
                    _variance(f.fn(y)), sample.consumer_weight)


def _consumer_pre_variance(sample: SiteSample) -> torch.Tensor:
    f = sample.consumer_activation
    return _combine(_variance(sample.post), f.derivative(sample.preactivation_at_mean()) ** 2,
                    _variance(sample.consumer_pre()), sample.consumer_weight)


def _site_pre_variance(sample: SiteSample) -> torch.Tensor:
    f = sample.consumer_activation
    return _combine(_variance(sample.pre), f.derivative(sample.preactivation_at_mean()) ** 2,
                    _variance(f.fn(sample.consumer_pre())), sample.consumer_weight)


def _slope_not_squared(sample: SiteSample) -> torch.Tensor:
    f = sample.consumer_activation
    return _combine(_variance(sample.post), f.derivative(sample.preactivation_at_mean()).abs(),
                    _variance(f.fn(sample.consumer_pre())), sample.consumer_weight)


def _no_slope(sample: SiteSample) -> torch.Tensor:
    f = sample.consumer_activation
    consumer_variance = _variance(f.fn(sample.consumer_pre()))
    return _combine(_variance(sample.post), torch.ones_like(consumer_variance),
                    consumer_variance, sample.consumer_weight)


@dataclass(frozen=True)
class Reading:
    """One reading of eq. 28: its name, what it changes, and E_k from a :class:`SiteSample`."""

    name: str
    description: str
    compute: Callable[[SiteSample], torch.Tensor]


READINGS = MappingProxyType({r.name: r for r in (
    Reading("appendix", "the Appendix's (the library's E_k): output variances, f' at the "
            "mean pre-activation", _appendix),
    Reading("mean-slope-squared", "⟨f'(y_i)²⟩ over the data in place of f'(ȳ_i)²",
            _mean_slope_squared),
    Reading("consumer-pre-variance", "C_ii = variance of the consumer's pre-activation",
            _consumer_pre_variance),
    Reading("site-pre-variance", "C_kk = variance of the neuron's pre-activation",
            _site_pre_variance),
    Reading("slope-not-squared", "f'(ȳ_i) in place of f'(ȳ_i)²", _slope_not_squared),
    Reading("no-slope", "f' = 1, C_ii unchanged", _no_slope),
)})
"""The readings by name; ``appendix`` first."""


def reading_efficiency(name: str, sample: SiteSample) -> torch.Tensor:
    """E_k under reading ``name`` for every neuron of the sampled site; (n,) float64, ≥ 0.

    Raises:
        NeuroplastError: an unknown reading (the message lists them).
    """
    if name not in READINGS:
        raise NeuroplastError(f"unknown reading {name!r} of eq. 28; choose one of: "
                              f"{', '.join(READINGS)}")
    return READINGS[name].compute(sample)
