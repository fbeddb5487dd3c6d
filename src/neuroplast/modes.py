"""Switching a user's model to evaluation mode for a measurement, and back, module by module.

``model.train(was_training)`` after ``model.eval()`` sets *every* submodule to the root's flag:
a BatchNorm or Dropout the user froze with ``.eval()`` inside a model in training mode would
come back in training mode (a frozen BatchNorm would start updating its running statistics at
the next step). These functions save each module's own flag and restore exactly it.
"""

from __future__ import annotations

from torch import nn

Modes = list[tuple[nn.Module, bool]]
"""Each module of a model with its own ``training`` flag."""


def enter_evaluation(model: nn.Module) -> Modes:
    """Put ``model`` (every submodule) in evaluation mode; returns what :func:`restore_modes`
    needs to give each module its own flag back."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    return modes


def restore_modes(modes: Modes) -> None:
    """Give every module saved by :func:`enter_evaluation` its own ``training`` flag back."""
    for module, training in modes:
        module.training = training
