"""Switching a user's model to evaluation mode for a measurement, and back, module by module;
and giving back the buffers the measurement's forwards changed.

``model.train(was_training)`` after ``model.eval()`` sets *every* submodule to the root's flag:
a BatchNorm or Dropout the user froze with ``.eval()`` inside a model in training mode would
come back in training mode (a frozen BatchNorm would start updating its running statistics at
the next step). These functions save each module's own flag and restore exactly it.

Evaluation mode stops BatchNorm's running statistics, but not a buffer a forward updates in
any mode (an exponential moving average, a call counter, a cache). A measurement runs the
user's forward many times (discovery ~9 passes, statistics one per batch), so
:func:`enter_evaluation` also copies every buffer and :func:`restore_modes` writes the copies
back into the same tensors (a buffer the forward replaced gets its own tensor back): a
measurement leaves the model's state as it found it. The copies cost one pass over the
buffers, less than one forward through the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Modes:
    """What :func:`restore_modes` gives back: each module's own ``training`` flag, and each
    buffer (module, name, the tensor, a copy of its values)."""

    flags: list[tuple[nn.Module, bool]]
    buffers: list[tuple[nn.Module, str, torch.Tensor, torch.Tensor]]


def enter_evaluation(model: nn.Module) -> Modes:
    """Put ``model`` (every submodule) in evaluation mode; returns what :func:`restore_modes`
    needs to give each module its own flag and every buffer its values back."""
    flags = [(module, module.training) for module in model.modules()]
    with torch.no_grad():
        buffers = [(module, name, tensor, tensor.clone())
                   for module in model.modules()
                   for name, tensor in module._buffers.items() if tensor is not None]
    model.eval()
    return Modes(flags, buffers)


def restore_modes(modes: Modes) -> None:
    """Give every module saved by :func:`enter_evaluation` its own ``training`` flag, and every
    buffer its tensor and values, back."""
    for module, training in modes.flags:
        module.training = training
    with torch.no_grad():
        for module, name, tensor, values in modes.buffers:
            if tensor.shape == values.shape:
                tensor.copy_(values)  # in place: the user's references see it
            else:  # resized in place
                tensor.set_(values)
            module._buffers[name] = tensor  # a buffer the forward replaced
