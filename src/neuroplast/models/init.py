"""Weight initialisation (a decision the paper leaves open, REFERENCE §1.15 item 3).

Mathematica 12.3's NetInitialize default is not documented for Linear→Tanh chains; we use
Xavier/Glorot **normal** weights (std = sqrt(2 / (fan_in + fan_out))) and **zero biases**, the
choice that matches Mathematica's documented "Xavier" default and its zero biases. The same
distribution is what replication method B4 draws a new neuron from.
"""

from __future__ import annotations

import math

import torch

from neuroplast.models.mlp import MLP


def xavier_std(fan_in: int, fan_out: int) -> float:
    """Standard deviation of Xavier-normal weights for a Linear ``fan_in → fan_out``."""
    return math.sqrt(2.0 / (fan_in + fan_out))


def initialize(model: MLP, seed: int) -> MLP:
    """Xavier-normal weights and zero biases, drawn from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for layer in model.layers:
            std = xavier_std(layer.in_features, layer.out_features)
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
            layer.bias.zero_()
    return model
