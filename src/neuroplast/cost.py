"""What a model costs: trainable parameters and multiply-accumulates per example.

MACs are counted by running one batch with hooks on every ``nn.Linear``, ``nn.Conv1d/2d/3d``,
``nn.ConvTranspose1d/2d/3d`` and
Hugging Face ``Conv1D`` (the layers whose width death and replication change); element-wise
operations, normalisation and attention products are not counted. For the paper's MLP this is
Σ_layers in · out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.registry import CONVOLUTIONS, TRANSPOSED_CONVOLUTIONS


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _layer_macs(module: nn.Module, x: torch.Tensor, output: torch.Tensor) -> int:
    """MACs of one call of a Linear-like layer or a (transposed) convolution that read ``x``
    and produced ``output``."""
    weight = module.weight
    if isinstance(module, CONVOLUTIONS):  # each output element: in/groups · kernel positions
        return output.numel() * math.prod(weight.shape[1:])
    if isinstance(module, TRANSPOSED_CONVOLUTIONS):  # each input element: out/groups · kernel
        return x.numel() * math.prod(weight.shape[1:])
    fan_in = weight.shape[1] if isinstance(module, nn.Linear) else weight.shape[0]
    return output.numel() * fan_in


def _is_counted(module: nn.Module) -> bool:
    return isinstance(module, (nn.Linear, *CONVOLUTIONS, *TRANSPOSED_CONVOLUTIONS)) or (
        type(module).__name__ == "Conv1D" and type(module).__module__.startswith("transformers"))


def count_macs_per_example(model: nn.Module, batch: Any,
                           forward: Callable[[nn.Module, Any], Any]) -> int:
    """MACs of one forward pass over ``batch`` divided by its number of examples (dim 0)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += _layer_macs(module, inputs[0], output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if _is_counted(m)]
    modes = enter_evaluation(model)
    try:
        with torch.no_grad():
            forward(model, batch)
    finally:
        for handle in handles:
            handle.remove()
        restore_modes(modes)
    examples = _examples(batch)
    return total // examples if examples else total


def _examples(batch: Any) -> int:
    if torch.is_tensor(batch):
        return batch.shape[0] if batch.ndim else 1
    if isinstance(batch, dict):
        batch = next(iter(batch.values()), None)
        return _examples(batch) if batch is not None else 0
    if isinstance(batch, tuple | list) and batch:
        return _examples(batch[0])
    return 1
