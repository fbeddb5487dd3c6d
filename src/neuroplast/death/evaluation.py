"""Evaluating a goal on any model: the user's function, or accuracy and loss on labelled data.

Goal strategies (remove while the accuracy stays ≥ g, or the loss ≤ h; paper §5.2) need the
model's quality after each candidate removal. Where the site offers no cheap downstream
(:mod:`neuroplast.death.cached`), the candidate's re-wired consumer is written into the model
in place — a dead neuron's consumer weights are zero, so the model then computes exactly the
pruned function without any surgery — and the whole model is evaluated:

* by the caller's ``evaluate(model) -> (accuracy, loss)`` (either may be None when the goal
  does not use it), or
* when the data yields ``(input, target)`` pairs with integer class targets, by the
  classification accuracy and mean cross-entropy of the model's output (logits along the last
  dimension; a Hugging Face output's ``.logits`` is used).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.stats.site import Forward, default_forward, model_device_dtype, to_model

Evaluate = Callable[[nn.Module], tuple[float | None, float | None]]
"""The caller's evaluation: the model → (accuracy, loss)."""


def labelled_batches(data: Any) -> list[tuple[Any, torch.Tensor]]:
    """``data`` as (input, target) pairs; a Split gives one pair.

    Raises:
        NeuroplastError: when the data holds no targets.
    """
    x, y = getattr(data, "x", None), getattr(data, "y", None)
    if torch.is_tensor(x) and torch.is_tensor(y):
        return [(x, y)]
    pairs = []
    for item in data:
        if not (isinstance(item, tuple | list) and len(item) >= 2 and torch.is_tensor(item[1])):
            raise NeuroplastError(
                "a goal (accuracy or loss) needs labelled data — batches of (input, target) — or "
                "an evaluate function model -> (accuracy, loss); pass evaluate=..."
            )
        pairs.append((item[0], item[1]))
    return pairs


def _logits(output: Any) -> torch.Tensor:
    """The logits in a model's output: the tensor itself, an output's ``logits`` attribute
    (Hugging Face), a mapping's ``"logits"`` entry, or a tuple's first element."""
    logits = getattr(output, "logits", output)
    if isinstance(logits, Mapping) and "logits" in logits:
        logits = logits["logits"]
    if isinstance(logits, tuple | list):
        logits = logits[0]
    if not torch.is_tensor(logits):
        raise NeuroplastError(
            f"the model's output ({type(output).__name__}) holds no logits tensor (a tensor, a "
            "'logits' attribute or key, or a tuple's first element); pass an evaluate function "
            "model -> (accuracy, loss)"
        )
    return logits


IGNORE_INDEX = -100
"""A target row with this class is left out of the accuracy and the loss (``F.cross_entropy``'s
default ``ignore_index``; Hugging Face's padding label)."""


def _class_indices(y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``y`` as one class index per row of ``logits``, or a NeuroplastError saying what the
    default evaluation needs (before torch fails on it)."""
    rows, classes = logits.shape
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise NeuroplastError(
            f"the goal's default evaluation needs integer class indices as targets, got "
            f"{y.dtype} targets of shape {tuple(y.shape)} (one-hot or soft labels: take "
            "argmax over the class dimension); or pass evaluate=model -> (accuracy, loss)"
        )
    target = y.reshape(-1)
    if target.numel() != rows:
        raise NeuroplastError(
            f"the goal's default evaluation needs one class index per row of the model's "
            f"logits: {rows} rows of {classes} classes, but {target.numel()} targets (shape "
            f"{tuple(y.shape)}); one-hot labels: take argmax over the class dimension; or pass "
            "evaluate=model -> (accuracy, loss)"
        )
    labelled = target[target != IGNORE_INDEX]
    if labelled.numel() and (int(labelled.min()) < 0 or int(labelled.max()) >= classes):
        raise NeuroplastError(
            f"a target lies outside the model's {classes} classes (targets from "
            f"{int(labelled.min())} to {int(labelled.max())}); give class indices 0 … "
            f"{classes - 1} ({IGNORE_INDEX} for rows to ignore, as cross_entropy's "
            "ignore_index), or pass evaluate=model -> (accuracy, loss)"
        )
    return target.long()


def checked_evaluate(evaluate: Evaluate) -> Evaluate:
    """The caller's ``evaluate``, its result checked each call: a pair (accuracy, loss) of
    numbers (a one-element tensor is taken as its number) or None, else a NeuroplastError
    that says what to return. A NaN is a number: it fails any goal, which ends the removal."""
    def checked(model: nn.Module) -> tuple[float | None, float | None]:
        result = evaluate(model)
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise NeuroplastError(
                f"the evaluate function must return a pair (accuracy, loss), either of them "
                f"None when the goal does not use it; it returned {result!r}"
            )
        pair = []
        for name, value in zip(("accuracy", "loss"), result, strict=True):
            if value is not None:
                if torch.is_tensor(value) and value.numel() == 1:
                    value = value.item()
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise NeuroplastError(
                        f"the evaluate function returned {value!r} as the {name}: give a "
                        "number (a float, or a one-element tensor), or None"
                    )
                value = float(value)
            pair.append(value)
        return pair[0], pair[1]

    return checked


def classification_evaluator(data: Any, forward: Forward | None = None) -> Evaluate:
    """(accuracy, mean cross-entropy) of the model on labelled ``data``, in eval mode."""
    pairs = labelled_batches(data)
    forward = forward or default_forward

    @torch.no_grad()
    def evaluate(model: nn.Module) -> tuple[float, float]:
        device, dtype = model_device_dtype(model)
        modes = enter_evaluation(model)
        correct, loss, count = 0, 0.0, 0
        try:
            for x, y in pairs:
                logits = _logits(forward(model, to_model(x, device, dtype)))
                logits = logits.reshape(-1, logits.shape[-1])  # (rows, classes)
                target = _class_indices(y, logits).to(device)  # (rows,)
                labelled = target != IGNORE_INDEX
                correct += int((logits.argmax(dim=1) == target)[labelled].sum())
                loss += float(F.cross_entropy(logits.float(), target, reduction="sum",
                                              ignore_index=IGNORE_INDEX))
                count += int(labelled.sum())
        finally:
            restore_modes(modes)
        if count == 0:
            raise NeuroplastError(
                f"every target is {IGNORE_INDEX} (ignored): the goal's default evaluation has "
                "no labelled row; give labelled data or evaluate=model -> (accuracy, loss)")
        return correct / count, loss / count

    return evaluate


def goal_holds(kind: str, value: float, accuracy: float | None, loss: float | None) -> bool:
    """Whether goal ``kind`` (``goal_accuracy`` ≥ value, ``goal_loss`` ≤ value) holds."""
    metric = accuracy if kind == "goal_accuracy" else loss
    if metric is None:
        raise NeuroplastError(
            f"the evaluate function returned no {kind.removeprefix('goal_')}; return "
            "(accuracy, loss) with the one the goal needs"
        )
    return metric >= value if kind == "goal_accuracy" else metric <= value
