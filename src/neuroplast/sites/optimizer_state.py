"""An optimizer's per-parameter state through surgery: which state neuroplast can resize, and
what a new neuron's entries start from.

Surgery resizes every state tensor laid out like its parameter along the site's dimension
(:func:`neuroplast.sites.axis.resize_parameter`): SGD's momentum, Adam's moments, RMSprop's
averages — and Adafactor's factored variances, means over one dimension of the parameter (a row
variance (out, 1) follows a row removal, a column variance (1, in) a column removal;
:data:`REDUCED_DIMENSION`). A new neuron's entries get the value a fresh optimizer gives a new
parameter: 0 for nearly every optimizer, but Rprop starts each step size at the learning rate
(0 would stay clamped at ``step_sizes[0]``, 10⁻⁶ by default: the new neuron would barely move)
and Adagrad its sums at ``initial_accumulator_value``.

LBFGS keeps one flattened history of all its parameters, which no index map of one tensor can
resize: it is refused before any surgery (:func:`check_resizable_state`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from neuroplast.errors import NeuroplastError

FRESH_STATE: dict[type[torch.optim.Optimizer], dict[str, Callable[[dict[str, Any]], float]]] = {
    torch.optim.Rprop: {"step_size": lambda group: float(group["lr"])},
    torch.optim.Adagrad: {"sum": lambda group: float(group["initial_accumulator_value"])},
}
"""Optimizer type → state key → the value a new entry starts from, given the parameter's
group (every other key starts at 0)."""

REDUCED_DIMENSION: dict[type[torch.optim.Optimizer], dict[str, int]] = {
    torch.optim.Adafactor: {"row_var": -1, "col_var": -2},
}
"""Optimizer type → state key → the parameter dimension that state is a mean over (size 1
there): it follows every other dimension. Shapes alone cannot tell: for a site of one neuron a
column variance (1, in) has the weight's own shape."""

UNRESIZABLE: dict[type[torch.optim.Optimizer], str] = {
    torch.optim.LBFGS: "keeps one flattened history of all its parameters",
}
"""Optimizer types whose state surgery cannot follow, with why."""


def fresh_value(optimizer: torch.optim.Optimizer, param: torch.Tensor, key: str) -> float:
    """The value a new entry of ``param``'s state ``key`` starts from (:data:`FRESH_STATE`;
    the optimizer's defaults for a parameter it keeps state for but no group holds)."""
    for kind, keys in FRESH_STATE.items():
        if isinstance(optimizer, kind) and key in keys:
            group = next((g for g in optimizer.param_groups
                          if any(p is param for p in g["params"])), optimizer.defaults)
            return keys[key](group)
    return 0.0


def check_resizable_state(optimizer: torch.optim.Optimizer | None) -> None:
    """Refuse, before any surgery, an optimizer whose state surgery cannot resize.

    Raises:
        NeuroplastError: which optimizer, why, and what to do instead.
    """
    for kind, why in UNRESIZABLE.items():
        if isinstance(optimizer, kind):
            raise NeuroplastError(
                f"{type(optimizer).__name__} {why}, which neuroplast cannot resize with the "
                f"model; pass optimizer=None and build the optimizer again after the surgery")


def follows_parameter(optimizer: torch.optim.Optimizer, key: str, state: torch.Tensor,
                      shape: torch.Size, dim: int) -> bool:
    """Whether the state tensor ``key`` is laid out like its parameter (of ``shape``) along
    ``dim``, so surgery along ``dim`` resizes it: for a state :data:`REDUCED_DIMENSION` names,
    when ``dim`` is not the one it is a mean over; otherwise when it has the parameter's shape,
    or that shape with 1s elsewhere and the full size (> 1) at ``dim``."""
    if state.ndim != len(shape) or state.ndim == 0:
        return False
    for kind, keys in REDUCED_DIMENSION.items():
        if isinstance(optimizer, kind) and key in keys:
            return dim % state.ndim != keys[key] % state.ndim
    if state.shape == shape:
        return True
    return (state.shape[dim] == shape[dim] > 1
            and all(s in (1, p) for s, p in zip(state.shape, shape, strict=True)))
