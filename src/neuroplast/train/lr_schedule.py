"""Learning-rate schedules: how the SGD step size changes over one training call.

The paper states a "constant learning rate 0.001" (REFERENCE §2.2). Mathematica's ``NetTrain``
does not keep the rate constant by default for its ``"SGD"`` method: the Wolfram
NeuralNetworks/MXNetLink optimizer code (its method table gives ``"SGD"`` the suboption
``"LearningRateSchedule" -> "Polynomial"``, read in the source stored in the tool index, version
unknown; docs/reproduction/fidelity.md, "The learning-rate schedule") scales the rate of update
t of a ``NetTrain`` call of T updates by

    √(1 − min(t, T) / (T + 1)),    t = 1, 2, …, T,

from ≈ 1 at the first update to √(1/(T + 1)) at the last; the mean factor is ≈ 2/3. Whether
the paper switched it off ("constant") or only set the rate is not stated, so the fidelity
study can train under either:

* ``constant``: every update at the protocol's rate (the library's default; what every stored
  run used);
* ``polynomial``: Mathematica's SGD default above, over each training call (one call of
  :func:`neuroplast.train.train` or :func:`~neuroplast.train.fused.train_fused` is one
  ``NetTrain`` call: T is its number of steps, and a continued training starts its own
  schedule; experiments that train in one call with events between epochs do not take the
  run option, since Mathematica would restart the schedule at each event).

:class:`ScheduledRates` applies a schedule to an optimizer's parameter groups step by step;
at ``constant`` it does nothing, so a constant-rate training is bit for bit what it was before
schedules existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuroplast.errors import NeuroplastError


def _constant(step: int, total_steps: int) -> float:
    """Factor 1 at every step."""
    return 1.0


def _polynomial(step: int, total_steps: int) -> float:
    """√(1 − min(t, T)/(T + 1)) for update ``step`` = t (1-based) of ``total_steps`` = T."""
    return math.sqrt(1.0 - min(step, total_steps) / (total_steps + 1.0))


@dataclass(frozen=True)
class LearningRateSchedule:
    """One schedule: the factor update t of T takes the rate by, and what it is.

    Attributes:
        name: the schedule's name (a protocol's ``lr_schedule``).
        factor: ``factor(t, T)`` for update t = 1 … T of a training call of T updates.
        description: one line for reports.
    """

    name: str
    factor: Callable[[int, int], float]
    description: str


LR_SCHEDULES: dict[str, LearningRateSchedule] = {
    s.name: s for s in (
        LearningRateSchedule("constant", _constant,
                             "every update at the protocol's rate (the paper's statement)"),
        LearningRateSchedule("polynomial", _polynomial,
                             "rate × √(1 − t/(T + 1)) at update t of a call's T updates "
                             "(Mathematica NetTrain's default for SGD)"),
    )
}
"""The schedules, by name."""

DEFAULT_LR_SCHEDULE = "constant"


def get_lr_schedule(name: str) -> LearningRateSchedule:
    """The schedule called ``name``.

    Raises:
        NeuroplastError: an unknown name (the message lists the known ones).
    """
    try:
        return LR_SCHEDULES[name]
    except KeyError:
        raise NeuroplastError(f"unknown learning-rate schedule {name!r}; choose one of: "
                              f"{', '.join(LR_SCHEDULES)}") from None


class ScheduledRates:
    """Sets an optimizer's rates update by update as a schedule prescribes.

    The rate of every parameter group at construction is its base rate; :meth:`before_step`
    sets each group to base × ``factor(t, total_steps)`` before update t, and :meth:`restore`
    puts the base rates back (so an optimizer handed in for a continued training leaves with
    the rates it came with). At ``constant`` both do nothing.

    Args:
        optimizer: the training's optimizer, with its base rates.
        schedule: a name in :data:`LR_SCHEDULES`.
        total_steps: T, the updates of this training call.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: str,
                 total_steps: int) -> None:
        self.schedule = get_lr_schedule(schedule)
        self.optimizer = optimizer
        self.total_steps = int(total_steps)
        self.base_rates = [float(group["lr"]) for group in optimizer.param_groups]
        self.active = self.schedule.name != DEFAULT_LR_SCHEDULE

    def before_step(self, step: int) -> None:
        """Set the rates for update ``step`` (1-based)."""
        if self.active:
            self._scale(self.schedule.factor(step, self.total_steps))

    def restore(self) -> None:
        """Put every group's base rate back."""
        if self.active:
            self._scale(1.0)

    def _scale(self, factor: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_rates, strict=True):
            group["lr"] = base * factor
