"""Which neurons of a site die, one after another: the selection policies of ``prune``.

Given a validated request (:mod:`neuroplast.death.request`), a :class:`Selection` ranks the
neurons by an efficiency measure (small = expendable) or, for a greedy selection
(``conditional:greedy`` with rule lstsq; ``obs:greedy``, ZipLM's structured OBS, with rule obs),
asks the re-wirer for the current removal costs before each removal, re-wires the consumer
with the rule (:mod:`neuroplast.death.rules`) and has the site delete the dead neurons. Three
procedures:

* **one-shot** (cutoff, relative cutoff, amount): one set of statistics, a count known in
  advance (REFERENCE §1.15 item 10, the paper's reading);
* **goal** (accuracy / loss goal): remove while the goal holds; the removal that breaks it is
  not applied (§5.2, Fig. 6). Evaluated from cached site values where the site has a cheap
  downstream (:mod:`neuroplast.death.cached`), otherwise on the whole model
  (:mod:`neuroplast.death.evaluation`);
* **sequential** (``recompute=True``): statistics and efficiencies again after every removal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.death.cached import CachedGoal, SiteCache, cached_statistics, supports_cache
from neuroplast.death.evaluation import (
    Evaluate,
    checked_evaluate,
    classification_evaluator,
    goal_holds,
)
from neuroplast.death.request import Strategy
from neuroplast.death.rules import DTYPE, Relation, Rewirer
from neuroplast.efficiency import efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats import collect_site_statistics, moments
from neuroplast.stats.site import Forward, SiteStatistics


@dataclass
class Outcome:
    """What a procedure removed and kept, and the goal's metrics before and after."""

    removed: list[int]
    kept: list[int]
    removal_efficiencies: list[float]
    accuracy_before: float | None = None
    loss_before: float | None = None
    accuracy: float | None = None
    loss: float | None = None


class Selection:
    """One pruning request; its procedures share ranking, counting and bookkeeping.

    Args:
        model: the network.
        target: the site.
        data: calibration data (any :data:`~neuroplast.stats.site.Batches`); a Split for the
            measures that need the training data.
        rule, measure, strategy, cap, covariance, stats, greedy: the validated request.
        forward: how to run the model on a batch.
        evaluate: the goal's evaluation when the site has no cached downstream.
    """

    def __init__(self, model: nn.Module, target: Site, data: Any, rule: str, measure: str,
                 strategy: Strategy, cap: int, covariance: bool,
                 stats: SiteStatistics | None, greedy: bool = False,
                 forward: Forward | None = None, evaluate: Evaluate | None = None) -> None:
        self.model, self.target, self.site, self.split = model, target, target.name, data
        self.rule, self.measure, self.strategy = rule, measure, strategy
        self.greedy = greedy
        self.width, self.cap, self.covariance = target.width, cap, covariance
        self.stats = stats
        self.forward, self.evaluate = forward, evaluate
        self.threshold: float | None = None
        self.first_efficiencies = torch.empty(0, dtype=DTYPE)

    @property
    def cached(self) -> bool:
        """Whether goals and ``recompute`` use the cached evaluation (the site's downstream)."""
        return supports_cache(self.target, self.split)

    def _collect(self) -> SiteStatistics:
        data = self.split.x if torch.is_tensor(getattr(self.split, "x", None)) else self.split
        return collect_site_statistics(self.model, self.target, data,
                                       covariance=self.covariance, forward=self.forward)

    def _efficiencies(self, model: nn.Module, stats: SiteStatistics,
                      rewirer: Rewirer) -> torch.Tensor:
        """The measure's scores (n,); the first ones fix the threshold of a cutoff strategy.

        For the greedy selection these are the re-wirer's removal costs, the same numbers as
        the ``conditional`` measure without a second precision matrix.
        """
        site = self.target if model is self.model else self.site
        scores = rewirer.removal_costs() if self.greedy else efficiency(
            self.measure, model, site, stats, self.split)  # (n,)
        if self.first_efficiencies.numel() == 0:
            self.first_efficiencies = scores
            kind, value = self.strategy.kind, self.strategy.value
            if kind == "cutoff":
                self.threshold = float(value)
            elif kind == "relative_cutoff":
                if float(scores.min()) < 0:
                    raise NeuroplastError(
                        f"a relative cutoff is a fraction of the largest efficiency and needs "
                        f"non-negative scores, but measure {self.measure!r} gave negative ones "
                        f"on site {self.site!r}; use an amount, a goal or an absolute cutoff"
                    )
                self.threshold = float(value) * float(scores.max())
        return scores

    def _refuse_emptying(self) -> None:
        raise NeuroplastError(
            f"{self.strategy.kind} {self.strategy.value:g} would remove every neuron of site "
            f"{self.site!r} (width {self.width}); lower it, or pass max_fraction "
            "(--max-fraction) to cap the removal"
        )

    def _cached(self) -> tuple[SiteCache, moments.Moments]:
        cache = SiteCache(self.model, self.target, self.split)
        site_moments = cache.site_moments(self.covariance) if self.stats is None else \
            moments.Moments(self.stats.count, self.stats.mean, self.stats.var, self.stats.cov)
        return cache, site_moments

    # One set of statistics, a count known in advance (cutoff, relative cutoff, amount).
    def one_shot(self, optimizer: torch.optim.Optimizer | None) -> Outcome:
        stats = self.stats if self.stats is not None else self._collect()
        rewirer = Rewirer(self.model, self.target, stats, self.rule)
        scores = self._efficiencies(self.model, stats, rewirer)
        if self.strategy.kind == "amount":
            count = self.strategy.count(self.width)
        else:
            count = self.width if self.greedy else int((scores < self.threshold).sum())
        count = min(count, self.cap)
        if self.greedy:
            removed, costs = self._greedy(rewirer, count)
            kept = rewirer.commit(self.model, optimizer)
            return Outcome(removed, kept.tolist(), costs)
        if count >= self.width:
            self._refuse_emptying()
        dying = torch.argsort(scores, stable=True)[:count]
        rewirer.remove_many(dying)
        kept = rewirer.commit(self.model, optimizer)
        return Outcome(dying.tolist(), kept.tolist(), scores[dying].tolist())

    def _greedy(self, rewirer: Rewirer, count: int) -> tuple[list[int], list[float]]:
        """Remove up to ``count`` neurons, each the cheapest one now (``conditional:greedy``,
        ``obs:greedy``).

        For a cutoff, stop at the first cheapest cost that is not below the threshold.
        Refuses (before anything is committed) a removal that would leave no neuron.
        Returns the removed neurons and each one's cost when it was removed.
        """
        removed: list[int] = []
        costs: list[float] = []
        while len(removed) < count:
            l, cost = rewirer.cheapest()
            if self.threshold is not None and not cost < self.threshold:
                break
            if len(removed) == self.width - 1:
                self._refuse_emptying()
            rewirer.remove(l)
            removed.append(l)
            costs.append(cost)
        return removed, costs

    # One set of statistics, remove while the goal holds (cached evaluation).
    def goal(self, optimizer: torch.optim.Optimizer | None) -> Outcome:
        if not self.cached:
            return self._live_goal(optimizer)
        cache, site_moments = self._cached()
        stats = self.stats if self.stats is not None else \
            cached_statistics(self.target, cache, site_moments)
        rewirer = Rewirer(self.model, self.target, stats, self.rule)
        scores = self._efficiencies(self.model, stats, rewirer)
        goal = CachedGoal(self.target, cache.y, self.strategy)
        outcome = Outcome([], [], [], *goal.both(cache.z))

        def holds(l: int, relation: Relation) -> bool:
            if not goal.holds(cache.trial(relation, rewirer.weight[:, l])):
                return False
            cache.accept()
            return True

        if self.strategy.holds(outcome.accuracy_before, outcome.loss_before):
            self._remove_while(rewirer, scores, outcome, holds)
        outcome.accuracy, outcome.loss = goal.both(cache.z)
        outcome.kept = rewirer.commit(self.model, optimizer).tolist()
        return outcome

    def _candidates(self, rewirer: Rewirer, scores: torch.Tensor) -> Iterator[tuple[int, float]]:
        """The next neuron to try and its cost: the cheapest now (greedy, asked after each
        removal) or the next in the ranking."""
        if self.greedy:
            while True:
                yield rewirer.cheapest()
        for l in torch.argsort(scores, stable=True).tolist():
            yield l, float(scores[l])

    def _remove_while(self, rewirer: Rewirer, scores: torch.Tensor, outcome: Outcome,
                      holds: Callable[[int, Relation], bool]) -> None:
        """Remove candidates one at a time while ``holds(l, relation)`` says the goal still
        holds with l removed; the failing removal is not applied. At most the cap, and never
        the last neuron."""
        limit = min(self.cap, self.width - 1)
        for l, cost in self._candidates(rewirer, scores):
            if len(outcome.removed) >= limit:
                break
            relation = rewirer.relation(l)
            if not holds(l, relation):
                break
            rewirer.remove(l, relation)
            outcome.removed.append(l)
            outcome.removal_efficiencies.append(cost)

    # Statistics and efficiencies recomputed after every removal, on a working copy.
    def sequential(self, optimizer: torch.optim.Optimizer | None) -> Outcome:
        if not self.cached:
            return self._live_sequential(optimizer)
        cache, site_moments = self._cached()
        work = copy.deepcopy(self.model)
        work_site = resolve_site(work, self.site)
        stats = self.stats if self.stats is not None else \
            cached_statistics(work_site, cache, site_moments)
        goal = CachedGoal(work_site, cache.y, self.strategy) if self.strategy.is_goal else None
        outcome = Outcome([], [], [])
        if goal is not None:
            outcome.accuracy_before, outcome.loss_before = goal.both(cache.z)
            outcome.accuracy, outcome.loss = outcome.accuracy_before, outcome.loss_before
            if not self.strategy.holds(outcome.accuracy, outcome.loss):
                return self._finish(work, cache, outcome, optimizer)
        limit = min(self.cap, self.width - 1) if goal is not None else self.cap
        if self.strategy.kind == "amount":
            limit = min(limit, self.strategy.count(self.width))
        while len(outcome.removed) < limit:
            rewirer = Rewirer(work, work_site, stats, self.rule)
            scores = self._efficiencies(work, stats, rewirer)
            l = int(torch.argmin(scores))
            if self.threshold is not None and not scores[l] < self.threshold:
                break
            if cache.positions.numel() == 1:
                self._refuse_emptying()
            relation = rewirer.relation(l)
            z = cache.trial(relation, rewirer.weight[:, l])
            if goal is not None and not goal.holds(z):
                break  # the failing removal is not applied
            rewirer.remove(l, relation)
            rewirer.commit(work)
            cache.accept()
            outcome.removed.append(int(cache.positions[l]))
            outcome.removal_efficiencies.append(float(scores[l]))
            cache.drop(l)
            stats = cached_statistics(work_site, cache, site_moments)
        if self.first_efficiencies.numel() == 0:  # nothing ranked yet (limit 0)
            self._efficiencies(work, stats, Rewirer(work, work_site, stats, self.rule))
        if goal is not None:
            outcome.accuracy, outcome.loss = goal.both(cache.z)
        return self._finish(work, cache, outcome, optimizer)

    def _finish(self, work: nn.Module, cache: SiteCache, outcome: Outcome,
                optimizer: torch.optim.Optimizer | None) -> Outcome:
        """Give ``model`` the working copy's survivors and re-wired consumer."""
        kept = cache.positions
        if kept.numel() < self.width:
            self.target.keep(kept, optimizer)
        source = resolve_site(work, self.site)
        self.target.write_consumer(source.consumer_weight(), source.consumer_bias())
        outcome.kept = kept.tolist()
        return outcome

    # -- whole-model evaluation (sites without a cached downstream) ----------------------
    def _goal_evaluation(self) -> Evaluate:
        if self.evaluate is not None:
            return checked_evaluate(self.evaluate)
        return classification_evaluator(self.split, self.forward)

    def _live_goal(self, optimizer: torch.optim.Optimizer | None) -> Outcome:
        """Remove while the goal holds, each candidate evaluated on the whole model with its
        re-wired consumer written in place (:mod:`neuroplast.death.evaluation`)."""
        evaluate = self._goal_evaluation()
        stats = self.stats if self.stats is not None else self._collect()
        rewirer = Rewirer(self.model, self.target, stats, self.rule)
        scores = self._efficiencies(self.model, stats, rewirer)
        kind, value = self.strategy.kind, self.strategy.value
        outcome = Outcome([], [], [], *evaluate(self.model))
        outcome.accuracy, outcome.loss = outcome.accuracy_before, outcome.loss_before

        def holds(l: int, relation: Relation) -> bool:
            self.target.write_consumer(*rewirer.trial(l, relation))
            accuracy, loss = evaluate(self.model)
            if not goal_holds(kind, value, accuracy, loss):
                return False
            outcome.accuracy, outcome.loss = accuracy, loss
            return True

        bias = self.target.consumer_bias()
        original = (self.target.consumer_weight().clone(),
                    None if bias is None else bias.clone())
        try:
            if goal_holds(kind, value, outcome.accuracy_before, outcome.loss_before):
                self._remove_while(rewirer, scores, outcome, holds)
        except BaseException:
            self.target.write_consumer(*original)  # a failed call changes nothing
            raise
        rewirer.write()  # the accepted state (the original weights if nothing was removed)
        outcome.kept = rewirer.commit(self.model, optimizer).tolist()
        return outcome

    def _live_sequential(self, optimizer: torch.optim.Optimizer | None) -> Outcome:
        """``recompute`` without a cached downstream: statistics collected again (a pass over
        the data) after every removal, which is committed physically at once."""
        goal = self._goal_evaluation() if self.strategy.is_goal else None
        kind, value = self.strategy.kind, self.strategy.value
        outcome = Outcome([], [], [])
        if goal is not None:
            outcome.accuracy_before, outcome.loss_before = goal(self.model)
            outcome.accuracy, outcome.loss = outcome.accuracy_before, outcome.loss_before
            if not goal_holds(kind, value, outcome.accuracy, outcome.loss):
                outcome.kept = list(range(self.width))
                return outcome
        limit = min(self.cap, self.width - 1) if goal is not None else self.cap
        if self.strategy.kind == "amount":
            limit = min(limit, self.strategy.count(self.width))
        positions = torch.arange(self.width)
        stats = self.stats if self.stats is not None else self._collect()
        while len(outcome.removed) < limit:
            rewirer = Rewirer(self.model, self.target, stats, self.rule)
            scores = self._efficiencies(self.model, stats, rewirer)
            l = int(torch.argmin(scores))
            if self.threshold is not None and not scores[l] < self.threshold:
                break
            if positions.numel() == 1:
                self._refuse_emptying()
            relation = rewirer.relation(l)
            if goal is not None:
                self.target.write_consumer(*rewirer.trial(l, relation))
                try:
                    accuracy, loss = goal(self.model)
                except BaseException:
                    rewirer.write()  # the trial's consumer goes; the accepted state stays
                    raise
                if not goal_holds(kind, value, accuracy, loss):
                    rewirer.write()
                    break
                outcome.accuracy, outcome.loss = accuracy, loss
            rewirer.remove(l, relation)
            rewirer.commit(self.model, optimizer)
            outcome.removed.append(int(positions[l]))
            outcome.removal_efficiencies.append(float(scores[l]))
            positions = torch.cat([positions[:l], positions[l + 1 :]])
            stats = self._collect()
        if self.first_efficiencies.numel() == 0:
            self._efficiencies(self.model, stats, Rewirer(self.model, self.target, stats,
                                                          self.rule))
        outcome.kept = positions.tolist()
        return outcome


# -- prune and retrain ---------------------------------------------------------------------
