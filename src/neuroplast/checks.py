"""Argument checks for the public library functions, for any model.

A wrong type or value passed to ``train``, ``evaluate``, ``prune``, ``replicate``, ... raises a
:class:`TypeError` or :class:`~neuroplast.errors.NeuroplastError` that says what to pass, before
any work, instead of an ``AttributeError`` or ``IndexError`` from deep inside. The checks that
need the paper's MLP are in :mod:`neuroplast.models.checks`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.sites.optimizer_state import check_resizable_state

MAX_SEED = 2**63 - 1
"""The largest seed: ``torch.Generator.manual_seed`` takes 64-bit integers."""


def _scripted(where: str) -> NeuroplastError:
    return NeuroplastError(
        f"{where} is TorchScript (torch.jit.script or trace): neuroplast measures and reshapes "
        "the Python modules (hooks, new parameter shapes), which a ScriptModule does not have; "
        "give it the module before scripting, and script the changed model again")


def check_not_scripted(model: nn.Module, name: str = "model") -> None:
    """Refuse a model holding a ScriptModule anywhere, by its name: what site discovery needs
    (its hooks cannot run inside TorchScript). Surgery on hand-declared sites checks only the
    root (:func:`check_module`): a scripted module it never touches does not matter there.

    Raises:
        NeuroplastError: the first scripted submodule, and what to pass instead.
    """
    scripted = next((n for n, m in model.named_modules()
                     if isinstance(m, torch.jit.ScriptModule)), None)
    if scripted is not None:
        raise _scripted(name if scripted == "" else f"{name}'s submodule {scripted!r}")


def check_module(model: Any, name: str = "model") -> nn.Module:
    """``model`` if it is an ``nn.Module`` whose tensors hold values.

    Raises:
        TypeError: not a module.
        NeuroplastError: its tensors are on the ``meta`` device (shapes without values), or it
            is wrapped in ``DistributedDataParallel`` or is TorchScript (the message says what
            to pass instead).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, nn.parallel.DistributedDataParallel):
        raise NeuroplastError(
            f"{name} is wrapped in DistributedDataParallel, whose gradient reduction is set up "
            "for its parameters' present shapes (after a surgery its next backward fails), and "
            "whose ranks would each measure their own data and change their copies differently; "
            f"pass {name}.module with the same data on every rank (so every rank makes the same "
            "change), then wrap it in a new DistributedDataParallel")
    if isinstance(model, torch.jit.ScriptModule):
        raise _scripted(name)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise NeuroplastError(
            f"{name} is on the meta device: its tensors have shapes but no values; build it on "
            "the CPU (e.g. build_mlp(...), initialize(...)) or materialise it with "
            "model.to_empty(device='cpu') and initialize it"
        )
    return model


def check_split(split: Any, name: str = "split") -> Split:
    """``split`` if it is a :class:`~neuroplast.data.Split`.

    Raises:
        TypeError: anything else, e.g. an ``(x, y)`` tuple (wrap it as ``Split(x, y)``).
    """
    if not isinstance(split, Split):
        hint = (" wrap the tensors as Split(x, y)" if isinstance(split, tuple | list)
                else " pass dataset.train, dataset.test or Split(x, y)")
        raise TypeError(
            f"{name} must be a neuroplast.data.Split, got {type(split).__name__};{hint}"
        )
    return split


def check_not_a_bare_pair(data: Any, name: str = "data") -> None:
    """Refuse an ``(inputs, labels)`` tuple of tensors where batches are expected: it would be
    read as two batches.

    Raises:
        TypeError: the tuple, with what to pass instead.
    """
    if isinstance(data, tuple) and len(data) == 2 and all(torch.is_tensor(t) for t in data) \
            and data[0].dim() >= 2 and data[1].dim() == 1 and len(data[0]) == len(data[1]):
        raise TypeError(
            f"{name} must be a neuroplast.data.Split or an iterable of batches, got an (x, y) "
            "tuple, which would be read as two batches; wrap the tensors as Split(x, y), or "
            "pass a list of (inputs, labels) batches"
        )


def check_batches_reusable(data: Any, name: str = "data") -> None:
    """Refuse data that cannot be read more than once, or a NumPy array given as the data:
    ``prune`` and ``replicate`` read it several times (site discovery, statistics, goals).
    (NumPy arrays inside batches are not looked for: the model's forward says so.)

    Raises:
        TypeError: a one-pass iterator (a generator, ``iter(...)``, ``map``) or a NumPy
            array, with what to pass instead.
    """
    if type(data).__module__ == "numpy":
        raise TypeError(
            f"{name} is a NumPy {type(data).__name__}; pass torch tensors: "
            "torch.from_numpy(array) for a batch of inputs, Split(x, y) or a list of "
            "(inputs, labels) batches"
        )
    if isinstance(data, Iterator):
        raise TypeError(
            f"{name} is a one-pass iterator ({type(data).__name__}), but it is read more than "
            "once (site discovery, statistics, goals); pass something that can be iterated "
            "again: a list of batches, a tensor, a Split or a DataLoader"
        )


def check_optimizer(optimizer: Any, name: str = "optimizer") -> None:
    """Refuse an ``optimizer`` that is not a ``torch.optim.Optimizer`` (None is allowed), or
    one whose state surgery cannot resize (LBFGS), before any surgery: the surgery resizes its
    state as it resizes the model, and would stop half-way on anything else.

    Raises:
        TypeError: what was given and what is needed.
        NeuroplastError: an optimizer whose state cannot follow the surgery, and what to do.
    """
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{name} must be a torch.optim.Optimizer over the model's parameters, "
                        f"or None; got {type(optimizer).__name__}")
    check_resizable_state(optimizer)


def check_number(value: Any, name: str) -> float:
    """``value`` as a finite float; a bool, a non-number (``"1"`` too) or NaN/inf is refused.

    Raises:
        NeuroplastError: what was given and what is needed.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NeuroplastError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise NeuroplastError(f"{name} must be finite, got {value}")
    return value


def check_integer(value: Any, name: str) -> int:
    """``value`` as an int if it is an integer (``2.9`` or ``True`` are refused, not rounded).

    Raises:
        TypeError: not an integer.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` if it is an integer in ``0 … 2**63 − 1``.

    Raises:
        TypeError: not an integer.
        NeuroplastError: out of range.
    """
    seed = check_integer(seed, name)
    if not 0 <= seed <= MAX_SEED:
        raise NeuroplastError(f"{name} must be an integer from 0 to 2**63 - 1, got {seed}")
    return seed


def check_name(value: Any, name: str, examples: str) -> str:
    """``value`` if it is a string (a registry name such as a rule or a measure).

    Raises:
        TypeError: anything else, e.g. None; the message lists ``examples``.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a name such as {examples}, got {value!r}")
    return value
