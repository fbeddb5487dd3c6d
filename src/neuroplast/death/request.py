"""A pruning request: which strategy decides how many neurons of a site die (paper §4.1).

Exactly one of ``cutoff``, ``relative_cutoff``, ``amount`` (int = count, float = fraction, as
``torch.nn.utils.prune``), ``goal_accuracy``, ``goal_loss``; ``max_fraction`` caps one call.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from neuroplast.checks import check_number
from neuroplast.errors import NeuroplastError


@dataclass(frozen=True)
class Strategy:
    """One validated pruning strategy.

    Attributes:
        kind: ``cutoff``, ``relative_cutoff``, ``amount``, ``goal_accuracy`` or ``goal_loss``.
        value: its parameter as given (an int or a float for ``amount``).
    """

    kind: str
    value: float | int

    @property
    def is_goal(self) -> bool:
        return self.kind in ("goal_accuracy", "goal_loss")

    def count(self, width: int) -> int:
        """How many neurons an ``amount`` strategy removes from a site of ``width``."""
        value = self.value
        return value if isinstance(value, int) else round(value * width)

    def holds(self, accuracy: float, loss: float) -> bool:
        """Whether a goal strategy's goal holds (accuracy ≥ goal, or loss ≤ goal)."""
        if self.kind == "goal_accuracy":
            return accuracy >= self.value
        return loss <= self.value


def make_strategy(*, width: int, cutoff: float | None = None,
                  relative_cutoff: float | None = None, amount: int | float | None = None,
                  goal_accuracy: float | None = None, goal_loss: float | None = None) -> Strategy:
    """Check that exactly one strategy is given, with a valid value for a site of ``width``.

    Raises:
        NeuroplastError: no strategy or several; a value out of range (cutoff < 0, relative
            cutoff outside [0, 1], an int amount outside [0, width − 1] or a float amount
            outside [0, 1), an accuracy goal outside (0, 1], a loss goal ≤ 0).
    """
    given = {k: v for k, v in (("cutoff", cutoff), ("relative_cutoff", relative_cutoff),
                               ("amount", amount), ("goal_accuracy", goal_accuracy),
                               ("goal_loss", goal_loss)) if v is not None}
    names = "cutoff, relative_cutoff, amount, goal_accuracy, goal_loss"
    if not given:
        raise NeuroplastError(f"choose how much to prune: give one of {names}")
    if len(given) > 1:
        raise NeuroplastError(
            f"give exactly one pruning strategy, got {' and '.join(given)}; choose one of {names}"
        )
    (kind, raw), = given.items()
    if kind == "amount":
        if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
            count = int(raw)
            if count < 0:
                raise NeuroplastError(f"amount must be >= 0, got {count}")
            if count >= width:
                raise NeuroplastError(
                    f"amount {count} would remove every neuron of the site (width {width}); "
                    f"give at most {width - 1}"
                )
            return Strategy(kind, count)
        fraction = check_number(raw, "amount")
        if not 0.0 <= fraction < 1.0:
            raise NeuroplastError(
                f"a fractional amount must be in [0, 1), got {fraction:g}; give an integer to "
                "remove that many neurons"
            )
        return Strategy(kind, fraction)
    value = check_number(raw, kind)
    if kind == "cutoff" and value < 0:
        raise NeuroplastError(
            f"cutoff must be >= 0 (efficiencies are non-negative; 0 removes nothing), got {value:g}"
        )
    if kind == "relative_cutoff" and not 0.0 <= value <= 1.0:
        raise NeuroplastError(
            f"relative_cutoff is a fraction of the site's largest efficiency and must be in "
            f"[0, 1], got {value:g} (e.g. 0.05 for 5 %)"
        )
    if kind == "goal_accuracy" and not 0.0 < value <= 1.0:
        raise NeuroplastError(f"goal_accuracy must be in (0, 1], got {value:g} (e.g. 0.97)")
    if kind == "goal_loss" and value <= 0:
        raise NeuroplastError(f"goal_loss must be > 0 (a mean cross-entropy), got {value:g}")
    return Strategy(kind, value)


def check_not_emptying(strategy: Strategy, width: int, cap: int, site: str) -> None:
    """Refuse, before any statistics, an ``amount`` that would remove every neuron of a site of
    ``width`` once capped at ``cap`` (what the procedures refuse later, found now).

    Raises:
        NeuroplastError: the amount, the site and what to do.
    """
    if strategy.kind == "amount" and min(strategy.count(width), cap) >= width:
        raise NeuroplastError(
            f"amount {strategy.value:g} would remove every neuron of site {site!r} (width "
            f"{width}); lower it, or pass max_fraction (--max-fraction) to cap the removal")


def removal_cap(max_fraction: float | None, width: int) -> int:
    """The most neurons one call may remove: floor(max_fraction · width), or ``width``.

    Raises:
        NeuroplastError: if ``max_fraction`` is not in (0, 1].
    """
    if max_fraction is None:
        return width
    value = check_number(max_fraction, "max_fraction")
    if not 0.0 < value <= 1.0:
        raise NeuroplastError(f"max_fraction must be in (0, 1], got {value:g} (e.g. 0.5)")
    return math.floor(value * width + 1e-9)


