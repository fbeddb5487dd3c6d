"""Programmed death followed by replication during training (sect. 5.8, REFERENCE §1.12).

Every Δt epochs, on one site (the paper: N4's ``hidden1``, N = 100):

1. compute the efficiencies E_k (eq. 28) on the training data;
2. remove with A1 every neuron with E_k < ε (strictly less, REFERENCE §1.15 item 11), but at
   most ``max_fraction`` · N of them (the paper's N/2), the least efficient first;
3. if n neurons were removed, replicate the n most efficient survivors with B1 (one child
   each), so the width returns to N;
4. continue training.

Decisions where the paper is silent (REFERENCE §1.15 item 14):

* **Ranking for replication** is computed *after* the removals, on the re-wired, pruned model,
  from statistics **collected again** on the training data: the survivors' own means and
  variances would still be valid, but removing neurons changes the consumer's output variances
  C_ii and with them every E_k. (A1's re-wiring keeps the consumer's mean pre-activations, so
  ȳ_i would be valid too; C_ii is not.) Parents are therefore always survivors.
* **Children are appended** at the end of the site; removed slots are not reused. Indices in
  the event log: ``removed`` and ``parents`` are positions in the site at the start of the
  event, ``children`` positions after it.
* **No event at the end of training**: events fire at Δt, 2Δt, … strictly before the last
  epoch (5000 paper epochs with Δt = 500: events at 500, 1000, …, 4500; nine of them), so
  training ends on trained weights rather than right after a removal. This needs the training
  length (``total_epochs``); without it every multiple of Δt fires.
* **Δt in our epochs** is ``protocol.epochs(every_paper_epochs)`` rounded to the nearest
  whole epoch (halves up), at least 1 (callbacks run between whole epochs): 500 paper epochs
  are 5 epochs for ``fast``, 1 for ``quick``, 500 for ``paper``. The event records both our
  epoch and the paper epoch (ours / epoch_scale).
* **Fraction affected** is logged both ways: ``fraction_removed`` = n/N and
  ``fraction_affected`` = (n + parents)/N (removed plus parents, = 2n/N for B1).
* An event with nothing below the cutoff is still logged (n_removed = 0), so the log shows
  every event of the schedule.
* **Seeds**: the split of the event at epoch e draws χ with seed ``seed · 1_000_003 + e``.
* ``max_fraction`` is at most 1/2 so that every removed neuron has a distinct surviving parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from neuroplast.checks import MAX_SEED, check_name, check_number, check_seed
from neuroplast.death.rules import get_rule
from neuroplast.death.strategies import prune
from neuroplast.efficiency import MEASURES
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.replication.split import replicate, resolve_method
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.train.loop import TrainState
from neuroplast.train.protocols import Protocol

SEED_STRIDE = 1_000_003

MAX_SCHEDULE_SEED = (MAX_SEED - 10**12) // SEED_STRIDE
"""The largest schedule seed whose event seeds (seed × SEED_STRIDE + epoch) stay valid for
any training up to 10¹² epochs."""


@dataclass(frozen=True)
class DeathReplicationSchedule:
    """Configuration of the combined A1–B1 schedule (sect. 5.8).

    Attributes:
        site: a hidden site, by name or as a :class:`~neuroplast.sites.Site` (the paper's
            "second layer" is ``hidden1``).
        cutoff: ε; neurons with efficiency < ε die (ε = 0 removes nothing: plain training).
        relative_cutoff: ρ; when given it replaces ε: neurons with efficiency < ρ · the
            site's largest efficiency die. Efficiencies have the scale of the consumer's
            weights and outputs, so one absolute ε does not carry over from the paper's MLP to
            a CNN or a transformer; ρ does (not in the paper; our extension).
        every_paper_epochs: Δt in the paper's epochs (rescaled by the protocol).
        rule: re-wiring rule of the death step (``A1``; any of ``death.rules.RULES``).
        measure: efficiency measure ranking both the dying and the parent neurons.
        method: replication method (``B1``; any of ``replication.METHODS``).
        alpha: α for the generic ``beta`` method (presets fix their own).
        max_fraction: at most this fraction of the site dies per event (the paper's N/2).
        seed: seeds the χ draws.
    """

    site: Site | str = "hidden1"
    cutoff: float = 0.01
    relative_cutoff: float | None = None
    every_paper_epochs: float = 500.0
    rule: str = "A1"
    measure: str = "connection"
    method: str = "B1"
    alpha: float | None = None
    max_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.site, Site | str):
            raise TypeError(f"site must be a neuroplast Site or a site name (str), got "
                            f"{type(self.site).__name__}")
        if self.site == "input":
            raise NeuroplastError(
                "death and replication need a hidden site (input features cannot replicate); "
                "use site=hidden1"
            )
        if check_number(self.cutoff, "cutoff") < 0:
            raise NeuroplastError(f"cutoff must be a number >= 0, got {self.cutoff}")
        if self.relative_cutoff is not None and not (
                0 <= check_number(self.relative_cutoff, "relative_cutoff") <= 1):
            raise NeuroplastError(
                f"relative_cutoff must be a fraction in [0, 1] of the site's largest "
                f"efficiency, got {self.relative_cutoff}")
        if check_number(self.every_paper_epochs, "every_paper_epochs") <= 0:
            raise NeuroplastError(
                f"every must be a positive number of paper epochs, got {self.every_paper_epochs}"
            )
        if check_seed(self.seed) > MAX_SCHEDULE_SEED:
            raise NeuroplastError(
                f"seed must be at most {MAX_SCHEDULE_SEED:,}: an event's seed is seed × "
                f"{SEED_STRIDE:,} + its epoch, which must stay below 2**63; got {self.seed}")
        for field, examples in (("rule", "'A1'"), ("measure", "'connection'"),
                                ("method", "'B1'")):
            check_name(getattr(self, field), field, examples)
        if not 0 < check_number(self.max_fraction, "max_fraction") <= 0.5:
            raise NeuroplastError(
                f"max_fraction must be in (0, 0.5] so every removed neuron has a distinct "
                f"surviving parent, got {self.max_fraction}"
            )
        get_rule(self.rule)
        MEASURES.get(self.measure)
        if is_greedy(self.measure):
            raise NeuroplastError(
                f"measure {self.measure!r} is a greedy selection for prune(); the schedule ranks "
                "dying and parent neurons with one static measure: use "
                f"'{self.measure.partition(':')[0]}' instead"
            )
        resolve_method(self.method, self.alpha)

    def epochs_between_events(self, protocol: Protocol) -> int:
        """Δt in our epochs: ``protocol.epochs(every_paper_epochs)`` rounded (halves up), ≥ 1."""
        return max(1, math.floor(protocol.epochs(self.every_paper_epochs) + 0.5))


class DeathReplication:
    """Runs :class:`DeathReplicationSchedule`: a ``train(callbacks=[...])`` callback, or an
    object your own training loop calls (:meth:`step`), on any site of any model.

    Example (neuroplast's training loop):
        >>> schedule = DeathReplication(DeathReplicationSchedule(cutoff=0.01), protocol,
        ...                             total_epochs=protocol.epochs(5000))
        >>> history = train(model, data.train, protocol, epochs=protocol.epochs(5000),
        ...                 seed=0, callbacks=[schedule])
        >>> history.events  # one dict per event

    Example (your loop; ``site`` from ``neuroplast.find_sites``, events every 500 calls):
        >>> schedule = DeathReplication(DeathReplicationSchedule(site=site, cutoff=0.01),
        ...                             every=500, total_epochs=5000)
        >>> for step in range(5000):
        ...     train_one_step(model, optimizer)
        ...     event = schedule.step(model, optimizer, calibration_batches)
    """

    def __init__(self, config: DeathReplicationSchedule, protocol: Protocol | None = None, *,
                 total_epochs: float | None = None, every: int | None = None) -> None:
        """Args:
            config: the schedule.
            protocol: converts Δt from paper epochs to ours (neuroplast's training loop).
            total_epochs: training length in calls (epochs); no event fires at or after it.
            every: without a protocol, fire every ``every`` calls of :meth:`step`.

        Raises:
            NeuroplastError: neither a protocol nor ``every`` (a positive integer) is given.
        """
        self.config = config
        self.protocol = protocol
        if protocol is not None:
            self.every = config.epochs_between_events(protocol)
        elif isinstance(every, int) and not isinstance(every, bool) and every >= 1:
            self.every = every
        else:
            raise NeuroplastError(
                f"give a protocol (neuroplast's training) or every=<positive int> (your loop: "
                f"an event every that many calls of step()), got every={every!r}"
            )
        if total_epochs is not None and check_number(total_epochs, "total_epochs") < 0:
            raise NeuroplastError(f"total_epochs must be a number >= 0, got {total_epochs}")
        self.total_epochs = total_epochs
        self.calls = 0

    def step(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
             data: Any) -> dict[str, Any] | None:
        """Count one epoch (or step) of the caller's loop; run an event when it is due.

        Args:
            model: the network, changed in place at an event.
            optimizer: its state follows the surgery (SGD momentum, Adam moments).
            data: calibration data for the statistics (any batches ``prune`` accepts).

        Returns:
            The event's log entry when one ran, else None.
        """
        self.calls += 1
        if not self.fires_at(self.calls):
            return None
        return self.apply(model, data, optimizer, self.calls)

    def fires_at(self, epoch: int) -> bool:
        """Whether an event happens after our epoch ``epoch`` (1-based)."""
        if epoch % self.every != 0:
            return False
        return self.total_epochs is None or epoch < math.ceil(self.total_epochs - 1e-9)

    def __call__(self, state: TrainState) -> None:
        if self.fires_at(state.epoch):
            event = self.apply(state.model, state.train, state.optimizer, state.epoch)
            state.history.events.append(event)

    def apply(self, model: torch.nn.Module, data: Any,
              optimizer: torch.optim.Optimizer | None, epoch: int) -> dict[str, Any]:
        """One death-and-replication event on ``model`` in place; returns its log entry."""
        cfg = self.config
        site = resolve_site(model, cfg.site, data)
        width = site.width

        # 1-2. the least efficient neurons below the cutoff die, at most the cap (prune's cutoff)
        strategy = {"cutoff": cfg.cutoff} if cfg.relative_cutoff is None \
            else {"relative_cutoff": cfg.relative_cutoff}
        death = prune(model, site, data, rule=cfg.rule, measure=cfg.measure,
                      max_fraction=cfg.max_fraction, optimizer=optimizer, **strategy)
        threshold = death.threshold  # absolute: ε, or ρ · the first ranking's largest E_k
        below = sum(e < threshold for e in death.efficiencies)
        n = death.n_removed

        parents_before = torch.zeros(0, dtype=torch.long)
        children = torch.zeros(0, dtype=torch.long)
        if n > 0:
            kept = torch.tensor(death.kept)  # (width - n,) original indices
            # 3. replicate the n most efficient survivors, ranked on the pruned model
            result = replicate(
                model, site, n=n, method=cfg.method, alpha=cfg.alpha, measure=cfg.measure,
                data=data, seed=cfg.seed * SEED_STRIDE + epoch, optimizer=optimizer,
            )
            parents_before = kept[result.parents]
            children = result.children

        return {
            "kind": "death-replication",
            "epoch": epoch,
            "paper_epoch": None if self.protocol is None else epoch / self.protocol.epoch_scale,
            "site": site.name,
            "cutoff": threshold,
            "relative_cutoff": cfg.relative_cutoff,
            "n_below_cutoff": below,
            "n_removed": n,
            "removed": list(death.removed),
            "parents": parents_before.tolist(),
            "children": children.tolist(),
            "width_before": width,
            "width": site.width,
            "fraction_removed": n / width,
            "fraction_affected": (n + parents_before.numel()) / width,
        }


_SPEC_KEYS = {
    "cutoff": ("cutoff", float),
    "every": ("every_paper_epochs", float),
    "relative_cutoff": ("relative_cutoff", float),
    "site": ("site", str),
    "rule": ("rule", str),
    "measure": ("measure", str),
    "method": ("method", str),
    "alpha": ("alpha", float),
    "max_fraction": ("max_fraction", float),
}
"""Spec key → (config field, type)."""


def parse_spec(spec: str, seed: int = 0) -> DeathReplicationSchedule:
    """Parse ``cutoff=0.01,every=500[,site=...,rule=...,measure=...,method=...,alpha=...,
    max_fraction=...]`` into a :class:`DeathReplicationSchedule` (missing keys: defaults).

    Raises:
        NeuroplastError: for an unknown or repeated key, an item without ``=``, or a bad value.
    """
    values: dict[str, Any] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key, sep, text = (s.strip() for s in item.partition("="))
        if not sep or not text:
            raise NeuroplastError(
                f"death-replication item {item!r} must look like key=value, e.g. cutoff=0.01"
            )
        if key not in _SPEC_KEYS:
            raise NeuroplastError(
                f"unknown death-replication key {key!r}; valid keys: {', '.join(_SPEC_KEYS)}"
            )
        field_name, kind = _SPEC_KEYS[key]
        if field_name in values:
            raise NeuroplastError(f"death-replication key {key!r} is given twice")
        try:
            values[field_name] = kind(text)
        except ValueError:
            raise NeuroplastError(
                f"death-replication {key} must be a number, got {text!r}"
            ) from None
    return DeathReplicationSchedule(seed=seed, **values)


def schedule_from_spec(spec: str, protocol: Protocol, seed: int = 0, *,
                       total_epochs: float | None = None) -> DeathReplication:
    """The callback for a ``--death-replication`` spec (see :func:`parse_spec`).

    Args:
        spec: e.g. ``cutoff=0.01,every=500`` (``every`` in the paper's epochs).
        protocol: the training protocol (rescales ``every``).
        seed: seeds the χ draws.
        total_epochs: training length in our epochs; no event at the end of training.
    """
    return DeathReplication(parse_spec(spec, seed), protocol, total_epochs=total_epochs)
