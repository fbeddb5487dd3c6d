"""Argument checks that involve the paper's MLP (the generic ones: :mod:`neuroplast.checks`)."""

from __future__ import annotations

from typing import Any

from neuroplast.checks import (
    check_batches_reusable,
    check_module,
    check_not_a_bare_pair,
    check_split,
)
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP


def check_model(model: Any, name: str = "model") -> MLP:
    """``model`` if it is a neuroplast :class:`MLP` whose tensors hold values.

    Raises:
        TypeError: not an MLP.
        NeuroplastError: its tensors are on the ``meta`` device (shapes without values).
    """
    if not isinstance(model, MLP):
        raise TypeError(
            f"{name} must be a neuroplast MLP (e.g. build_mlp('N4') or load_model(path)[0]), "
            f"got {type(model).__name__}"
        )
    check_module(model, name)
    return model


def check_split_for_model(model: MLP, split: Any, name: str = "split") -> Split:
    """``split`` if it is a Split the model can read: its features, labels and device fit.

    Raises:
        TypeError: not a Split.
        NeuroplastError: another number of features than the model's inputs, labels outside
            ``0 … classes − 1``, or data on another device than the model.
    """
    split = check_split(split, name)
    if split.x.shape[1] != model.n_inputs:
        raise NeuroplastError(
            f"{name} has {split.x.shape[1]} features per example but the model reads "
            f"{model.n_inputs}"
        )
    device = model.layers[0].weight.device
    if split.x.device != device or split.y.device != device:
        raise NeuroplastError(
            f"{name} is on {split.x.device} but the model is on {device}; move one of them "
            "(model.to(device) or Split(x.to(device), y.to(device)))"
        )
    classes = model.widths[-1]
    if split.n and (int(split.y.min()) < 0 or int(split.y.max()) >= classes):
        raise NeuroplastError(
            f"{name}'s labels must be class indices 0 … {classes - 1} for a model with "
            f"{classes} outputs, got values from {int(split.y.min())} to {int(split.y.max())}"
        )
    return split


def check_data(model: Any, data: Any, name: str = "data") -> None:
    """What ``prune`` and ``replicate`` check of any model and its data, before any work.

    They take any ``nn.Module`` and any iterable of batches; refused here are a model on the
    ``meta`` device, a bare ``(inputs, labels)`` pair of tensors (it would be read as two
    batches), data that can be read only once or is a NumPy array, and a Split that does not
    fit the paper's MLP it comes with.

    Raises:
        TypeError: ``model`` is not a module, or ``data`` is a bare pair, a one-pass iterator
            or a NumPy array.
        NeuroplastError: meta tensors, or a Split that does not fit an MLP.
    """
    check_module(model)
    check_not_a_bare_pair(data, name)
    check_batches_reusable(data, name)
    if isinstance(model, MLP) and isinstance(data, Split):
        check_split_for_model(model, data, name)
