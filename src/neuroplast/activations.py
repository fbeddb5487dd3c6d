"""Element-wise activations with their derivatives.

The connection-cut efficiency E_k (eq. 28) needs the consumer activation's derivative f'
evaluated at the consumer's mean pre-activation, so every activation carries both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from neuroplast.errors import NeuroplastError

TensorFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Activation:
    """An element-wise activation f with its derivative f'."""

    name: str
    fn: TensorFn
    derivative: TensorFn
    description: str


def _tanh_derivative(y: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(y) ** 2


def _sigmoid_derivative(y: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(y)
    return s * (1.0 - s)


def _relu_derivative(y: torch.Tensor) -> torch.Tensor:
    return (y > 0).to(y.dtype)


def _gelu_derivative(y: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1.0 + torch.erf(y / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * y**2) / math.sqrt(2.0 * math.pi)
    return cdf + y * pdf


GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_A = 0.044715


def _gelu_tanh(y: torch.Tensor) -> torch.Tensor:
    return F.gelu(y, approximate="tanh")


def _gelu_tanh_derivative(y: torch.Tensor) -> torch.Tensor:
    """d/dy of ½y(1 + tanh(c(y + a y³))): ½(1 + t) + ½ y (1 − t²) c (1 + 3a y²)."""
    t = torch.tanh(GELU_TANH_C * (y + GELU_TANH_A * y**3))
    return 0.5 * (1.0 + t) + 0.5 * y * (1.0 - t**2) * GELU_TANH_C * (1.0 + 3 * GELU_TANH_A * y**2)


def _silu_derivative(y: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(y)
    return s * (1.0 + y * (1.0 - s))


def _elu_derivative(y: torch.Tensor) -> torch.Tensor:
    return torch.where(y > 0, torch.ones_like(y), torch.exp(y))


def _identity(y: torch.Tensor) -> torch.Tensor:
    return y


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", torch.tanh, _tanh_derivative, "hyperbolic tangent (the paper's choice)"),
        Activation("sigmoid", torch.sigmoid, _sigmoid_derivative, "logistic sigmoid (N2PS nets)"),
        Activation("relu", F.relu, _relu_derivative, "rectified linear unit"),
        Activation("gelu", F.gelu, _gelu_derivative, "Gaussian error linear unit (exact erf)"),
        Activation("gelu-tanh", _gelu_tanh, _gelu_tanh_derivative,
                   "GELU with the tanh approximation (GPT-2's gelu_new)"),
        Activation("silu", F.silu, _silu_derivative, "sigmoid-weighted linear unit"),
        Activation("softplus", F.softplus, torch.sigmoid, "log(1 + e^x)"),
        Activation("elu", F.elu, _elu_derivative, "exponential linear unit, alpha = 1"),
        Activation("identity", _identity, torch.ones_like, "no non-linearity"),
    )
}


def get_activation(name: str) -> Activation:
    """Return the activation called ``name``.

    Raises:
        NeuroplastError: if the name is unknown; the message lists the known names.
    """
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise NeuroplastError(f"unknown activation {name!r}; choose one of: {known}") from None
