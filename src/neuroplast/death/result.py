"""What one call of :func:`neuroplast.death.prune` did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PruneResult:
    """What one call of :func:`prune` did.

    Neuron indices refer to the site as it was when :func:`prune` was called (for ``input``,
    positions among the features the model kept then; ``model.selector.kept`` maps them to
    pixels).

    Attributes:
        site: the site pruned.
        rule: the re-wiring rule.
        measure: the efficiency measure that ranked the neurons.
        strategy: ``cutoff``, ``relative_cutoff``, ``amount``, ``goal_accuracy``, ``goal_loss``.
        value: the strategy's parameter.
        threshold: the absolute efficiency threshold (cutoff strategies), else None.
        recompute: whether statistics and efficiencies were recomputed after each removal.
        removed: removed neurons, in removal order.
        kept: surviving neurons, in their new order.
        width_before: site width before.
        width_after: site width after.
        efficiencies: (width_before,) the efficiencies of the first ranking.
        removal_efficiencies: each removed neuron's efficiency when it was removed.
        parameters_before: trainable scalars before.
        parameters_after: trainable scalars after.
        macs_before: multiply-accumulates per example before.
        macs_after: multiply-accumulates per example after.
        seconds: wall time of the call (statistics, efficiencies, re-wiring, surgery).
        accuracy_before: goal strategies: training accuracy before pruning (cached evaluation).
        loss_before: goal strategies: training loss before pruning.
        accuracy: goal strategies: training accuracy reached.
        loss: goal strategies: training loss reached.
        after: :func:`prune_cycles`: ``train_accuracy``, ``train_loss`` (and ``test_*``)
            right after this prune.
        retrain: :func:`prune_cycles`: the final metrics of the retraining that followed this
            prune (``History.final``), or None.
        bias_added: the consumer had no bias and one was added for the rule's compensation
            (a saved plan records it).
    """

    site: str
    rule: str
    measure: str
    strategy: str
    value: float | int
    threshold: float | None
    recompute: bool
    removed: tuple[int, ...]
    kept: tuple[int, ...]
    width_before: int
    width_after: int
    efficiencies: tuple[float, ...]
    removal_efficiencies: tuple[float, ...]
    parameters_before: int
    parameters_after: int
    macs_before: int
    macs_after: int
    seconds: float
    accuracy_before: float | None = None
    loss_before: float | None = None
    accuracy: float | None = None
    loss: float | None = None
    after: Mapping[str, float] | None = None
    retrain: Mapping[str, Any] | None = None
    bias_added: bool = False

    @property
    def n_removed(self) -> int:
        return len(self.removed)

    def as_dict(self) -> dict[str, Any]:
        """Plain Python values (lists, floats), for JSON and model metadata."""
        out = asdict(self)
        for key in ("removed", "kept", "efficiencies", "removal_efficiencies"):
            out[key] = list(out[key])
        for key in ("after", "retrain"):
            out[key] = None if out[key] is None else dict(out[key])
        return out
