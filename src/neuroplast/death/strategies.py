"""Pruning strategies: how many neurons of a site die, and which (paper §4.1, §5.2–5.4).

A strategy ranks the neurons of one site by an efficiency measure (small = expendable), removes
the least efficient ones with a re-wiring rule (:mod:`neuroplast.death.rules`) and deletes them
physically (:mod:`neuroplast.surgery`). Every strategy works for the ``input`` site and every
hidden site, with every rule and every registered measure. Exactly one of:

* ``cutoff=ε``: remove every neuron with efficiency E < ε (strict, so ε = 0 removes nothing;
  REFERENCE §1.15 item 11), ranked from one set of statistics (item 10, the paper's reading);
* ``relative_cutoff=r``: the same with ε = r · max_k E_k of the site (§5.4, Figs 12–15, 18);
* ``amount``: an int removes that many neurons, a float that fraction of the site
  (``round(amount · width)``, as ``torch.nn.utils.prune``);
* ``goal_accuracy=g`` / ``goal_loss=h``: remove the least efficient neuron, one at a time, while
  the training accuracy stays ≥ g (the loss ≤ h); the removal that breaks the goal is undone
  (§5.2, Fig. 6: the reported accuracies sit just above the goals).

Options: ``max_fraction`` caps the neurons removed per call (floor(max_fraction · width)),
``recompute=True`` collects the statistics and efficiencies again after every removal (removing
a neuron changes the consumer's variances C_ii and so the other neurons' E_k). A request that
would remove every neuron of a site is refused; goal strategies stop at one neuron instead.

**Greedy selection** (measure ``conditional:greedy``, rule ``lstsq`` only;
:mod:`neuroplast.efficiency.conditional`). Every strategy removes, one at a time, the living
neuron whose removal costs least *now*, E^c_l = (1/P_ll) Σ_i g_i w_il² with the re-wirer's
current compensated weights and downdated precision (:meth:`Rewirer.removal_costs`), instead
of following a ranking fixed before the first removal; the statistics stay those of the first
ranking. A cutoff compares each removal's current cost with ε (a relative cutoff takes ε from
the first costs). With ``recompute`` the costs are those of the ``conditional`` measure on
statistics collected again after each removal, which is the same greedy selection with g_i
refreshed.

**Cached evaluation** (goal strategies, ``recompute``). The site's values X (N, n) over the
training data and the consumer's pre-activation Z = X Wᵀ + b (N, m) are computed once. Removing
neuron l with the relation Σ_j a_j x_j = a_0 changes the consumer by eqs 42–43, which changes Z
by exactly

    Z ← Z + (x̂_l − X_l) ⊗ w_l,     x̂_l = (a_0 − Σ_{j≠l} a_j X_j) / a_l,

with w_l the current (re-wired) column of neuron l. Only what lies downstream of the consumer
is evaluated per candidate (``MLP.forward_from_preactivation``), so the whole goal search
costs about one forward pass plus a few small products per candidate. X and Z are held in the
model's dtype (the updates are computed in float64 and rounded once each); the site values
never change when a neuron of the same site dies, so the site's statistics are exact by slicing
and the consumer's follow from Z: ``recompute`` needs no new forward pass. The accuracy a goal
strategy reports is that of this evaluation; for a float32 model the pruned model's own
forward pass rounds differently (~1e-6 relative) and may differ on an example or two that sit
on a decision boundary.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from neuroplast.data import Split
from neuroplast.death.rules import DTYPE, Relation, Rewirer, get_rule
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP, count_macs, count_parameters
from neuroplast.stats import collect_site_statistics, moments
from neuroplast.stats.site import SiteStatistics
from neuroplast.surgery import keep_neurons
from neuroplast.train import Protocol, evaluate, train

CHUNK = 10_000
"""Examples per chunk when the site values and pre-activations are cached."""


# -- the request ---------------------------------------------------------------------------


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


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NeuroplastError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise NeuroplastError(f"{name} must be finite, got {value}")
    return value


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
        fraction = _number("amount", raw)
        if not 0.0 <= fraction < 1.0:
            raise NeuroplastError(
                f"a fractional amount must be in [0, 1), got {fraction:g}; give an integer to "
                "remove that many neurons"
            )
        return Strategy(kind, fraction)
    value = _number(kind, raw)
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


def removal_cap(max_fraction: float | None, width: int) -> int:
    """The most neurons one call may remove: floor(max_fraction · width), or ``width``.

    Raises:
        NeuroplastError: if ``max_fraction`` is not in (0, 1].
    """
    if max_fraction is None:
        return width
    value = _number("max_fraction", max_fraction)
    if not 0.0 < value <= 1.0:
        raise NeuroplastError(f"max_fraction must be in (0, 1], got {value:g} (e.g. 0.5)")
    return math.floor(value * width + 1e-9)


# -- the result ----------------------------------------------------------------------------


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


# -- cached site values --------------------------------------------------------------------


class _Cache:
    """Site values X (N, n₀), consumer pre-activation Z (N, m), labels; see the module doc.

    Column j of X is neuron j of the site as it was when pruning began; ``positions`` maps the
    current neurons to those columns.
    """

    def __init__(self, model: MLP, site: str, split: Split) -> None:
        consumer = model.site(site).consumer
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                x = split.x.to(model.dtype)  # no copy when the dtypes already agree
                if site == "input":  # no copy of the data unless features were selected
                    self.x = model.selector(x)  # (N, n₀)
                else:
                    self.x = torch.cat([model.site_values(site, x[s : s + CHUNK])
                                        for s in range(0, split.n, CHUNK)])  # (N, n₀)
                self.z = consumer(self.x)  # (N, m) in the model's dtype, as the model has it
        finally:
            model.train(was_training)
        self.y = split.y
        self.positions = torch.arange(self.x.shape[1])
        self._spare: torch.Tensor | None = None

    def site_moments(self, covariance: bool) -> moments.Moments:
        state = moments.init(self.x.shape[1], covariance=covariance)
        for start in range(0, self.x.shape[0], CHUNK):
            state = moments.update(state, self.x[start : start + CHUNK])
        return moments.compute(state)

    def substitute(self, relation: Relation) -> torch.Tensor:
        """x̂_l over the data (N,) float64, for a relation among the current neurons."""
        n0 = self.x.shape[1]
        coefficients = torch.zeros(n0, dtype=DTYPE)
        coefficients[self.positions] = relation.coefficients
        return Relation(int(self.positions[relation.neuron]), coefficients,
                        relation.constant).substitute(self.x)

    def trial(self, relation: Relation, column: torch.Tensor) -> torch.Tensor:
        """Z once the relation's neuron is removed, Z + (x̂_l − X_l) ⊗ w_l: (N, m).

        Written into a spare buffer (no allocation per candidate); :meth:`accept` makes it Z.
        """
        change = self.substitute(relation) - self.x[:, self.positions[relation.neuron]].to(DTYPE)
        if self._spare is None:
            self._spare = torch.empty_like(self.z)
        dtype = self.z.dtype
        return torch.addr(self.z, change.to(dtype), column.to(dtype), out=self._spare)

    def accept(self) -> None:
        """The last :meth:`trial` becomes the current Z."""
        self.z, self._spare = self._spare, self.z

    def drop(self, l: int) -> None:
        """Current neuron l has been deleted physically."""
        self.positions = torch.cat([self.positions[:l], self.positions[l + 1 :]])


def _statistics(model: MLP, site: str, cache: _Cache, site_moments: moments.Moments,
                ) -> SiteStatistics:
    """Statistics of the current site from the cache: what a new pass would give.

    The site's moments are sliced (the survivors' values did not change); the consumer's
    follow from the current Z, and ȳ_i from the current weights and the survivors' means.
    """
    index = cache.positions
    spec = model.site(site)
    z = cache.z.to(DTYPE)  # (N, m)
    out = z if spec.consumer_activation is None else spec.consumer_activation.fn(z)
    cov = None if site_moments.cov is None else site_moments.cov[index][:, index]
    survivors = moments.Moments(site_moments.count, site_moments.mean[index],
                                site_moments.var[index], cov)
    return SiteStatistics.from_moments(site, spec, survivors, out.mean(dim=0),
                                       out.var(dim=0, correction=0))


class _GoalEvaluator:
    """A goal's metric from the consumer's pre-activation Z, in the model's dtype.

    Per candidate only the goal's metric is computed (accuracy, or the mean cross-entropy);
    :meth:`both` gives the two for the report.
    """

    def __init__(self, model: MLP, site: str, labels: torch.Tensor, strategy: Strategy) -> None:
        self.downstream = model  # only layers after the consumer are used: pruning keeps them
        self.dtype = model.site(site).consumer.weight.dtype
        self.layer_index = model.site(site).consumer_index
        self.labels = labels
        self.strategy = strategy

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(self.dtype)  # (N, m)
        return self.downstream.forward_from_preactivation(self.layer_index, z)  # (N, classes)

    def _accuracy(self, logits: torch.Tensor) -> float:
        return (logits.argmax(dim=1) == self.labels).sum().item() / self.labels.numel()

    @torch.no_grad()
    def holds(self, z: torch.Tensor) -> bool:
        """Whether the goal holds for the network whose consumer pre-activation is ``z``."""
        logits = self._logits(z)
        if self.strategy.kind == "goal_accuracy":
            return self._accuracy(logits) >= self.strategy.value
        return F.cross_entropy(logits, self.labels).item() <= self.strategy.value

    @torch.no_grad()
    def both(self, z: torch.Tensor) -> tuple[float, float]:
        """(accuracy, mean cross-entropy)."""
        logits = self._logits(z)
        return self._accuracy(logits), F.cross_entropy(logits, self.labels).item()


# -- the strategies ------------------------------------------------------------------------


def prune(model: MLP, site: str, split: Split, *, rule: str = "A1", measure: str | None = None,
          cutoff: float | None = None, relative_cutoff: float | None = None,
          amount: int | float | None = None, goal_accuracy: float | None = None,
          goal_loss: float | None = None, max_fraction: float | None = None,
          recompute: bool = False, optimizer: torch.optim.Optimizer | None = None,
          stats: SiteStatistics | None = None) -> PruneResult:
    """Remove the least efficient neurons of ``site`` with a re-wiring rule; see module doc.

    The model is changed in place only when the call succeeds: producer rows and consumer
    columns are deleted, the consumer re-wired by eqs 42–43, ``optimizer``'s state resized.

    Args:
        model: the network, modified in place.
        site: ``input`` or ``hidden<k>``.
        split: training data; statistics, data-driven measures and goals use it.
        rule: ``A1``, ``A2``, ``A3``, ``A3-appendix``, ``lstsq`` or ``none``.
        measure: an efficiency measure name (default: the rule's, E_k for A1/A2/none and E'_k
            for A3/lstsq); any registered measure works with any rule, except the greedy
            selection ``conditional:greedy``, which needs rule ``lstsq`` (module doc).
        cutoff: remove every neuron with efficiency < cutoff.
        relative_cutoff: remove every neuron with efficiency < relative_cutoff · max efficiency
            (with ``recompute`` the threshold is fixed from the first ranking).
        amount: int = number of neurons, float = fraction of the width.
        goal_accuracy: remove while the training accuracy stays ≥ this.
        goal_loss: remove while the mean training cross-entropy stays ≤ this.
        max_fraction: remove at most floor(max_fraction · width) neurons in this call.
        recompute: recompute statistics and efficiencies after every removal.
        optimizer: an optimizer over ``model``'s parameters whose state follows the surgery.
        stats: statistics of ``site`` over ``split`` to use for the first ranking (with the
            covariance when the rule or measure needs it); collected when None.

    Returns:
        A :class:`PruneResult`.

    Raises:
        NeuroplastError: invalid arguments, ``conditional:greedy`` with a rule other than
            ``lstsq``, or a request that would remove every neuron.
    """
    started = time.perf_counter()
    rule_info = get_rule(rule)
    measure = measure or rule_info.default_measure
    measure_info, _ = MEASURES.get(measure)
    greedy = is_greedy(measure)
    if greedy and rule_info.name != "lstsq":
        raise NeuroplastError(
            f"measure {measure} is a greedy selection for least-squares compensation and works "
            f"with rule lstsq only, got rule {rule_info.name}; pass rule='lstsq' (--rule lstsq), "
            "or use the static ranking 'conditional' with another rule"
        )
    width = model.site(site).width
    strategy = make_strategy(width=width, cutoff=cutoff, relative_cutoff=relative_cutoff,
                             amount=amount, goal_accuracy=goal_accuracy, goal_loss=goal_loss)
    cap = removal_cap(max_fraction, width)
    if stats is not None and stats.width != width:
        raise NeuroplastError(
            f"statistics are for {stats.width} neurons but site {site!r} has {width}; "
            "collect them again"
        )
    covariance = rule_info.needs_covariance or measure_info.needs_covariance
    before = (count_parameters(model), count_macs(model))
    run = _Run(model, site, split, rule_info.name, measure, strategy, cap, covariance, stats,
               greedy)
    if recompute:
        outcome = run.sequential(optimizer)
    elif strategy.is_goal:
        outcome = run.goal(optimizer)
    else:
        outcome = run.one_shot(optimizer)
    return PruneResult(
        site=site, rule=rule_info.name, measure=measure, strategy=strategy.kind,
        value=strategy.value, threshold=run.threshold, recompute=recompute,
        removed=tuple(outcome.removed), kept=tuple(outcome.kept), width_before=width,
        width_after=model.site(site).width, efficiencies=tuple(run.first_efficiencies.tolist()),
        removal_efficiencies=tuple(outcome.removal_efficiencies),
        parameters_before=before[0], parameters_after=count_parameters(model),
        macs_before=before[1], macs_after=count_macs(model),
        seconds=time.perf_counter() - started, accuracy_before=outcome.accuracy_before,
        loss_before=outcome.loss_before, accuracy=outcome.accuracy, loss=outcome.loss,
    )


@dataclass
class _Outcome:
    removed: list[int]
    kept: list[int]
    removal_efficiencies: list[float]
    accuracy_before: float | None = None
    loss_before: float | None = None
    accuracy: float | None = None
    loss: float | None = None


class _Run:
    """One pruning request; its three procedures share ranking, counting and bookkeeping."""

    def __init__(self, model: MLP, site: str, split: Split, rule: str, measure: str,
                 strategy: Strategy, cap: int, covariance: bool,
                 stats: SiteStatistics | None, greedy: bool = False) -> None:
        self.model, self.site, self.split = model, site, split
        self.rule, self.measure, self.strategy = rule, measure, strategy
        self.greedy = greedy
        self.width, self.cap, self.covariance = model.site(site).width, cap, covariance
        self.stats = stats
        self.threshold: float | None = None
        self.first_efficiencies = torch.empty(0, dtype=DTYPE)

    def _efficiencies(self, model: MLP, stats: SiteStatistics, rewirer: Rewirer) -> torch.Tensor:
        """The measure's scores (n,); the first ones fix the threshold of a cutoff strategy.

        For the greedy selection these are the re-wirer's removal costs, the same numbers as
        the ``conditional`` measure without a second precision matrix.
        """
        scores = rewirer.removal_costs() if self.greedy else efficiency(
            self.measure, model, self.site, stats, self.split)  # (n,)
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

    def _cached(self) -> tuple[_Cache, moments.Moments]:
        cache = _Cache(self.model, self.site, self.split)
        site_moments = cache.site_moments(self.covariance) if self.stats is None else \
            moments.Moments(self.stats.count, self.stats.mean, self.stats.var, self.stats.cov)
        return cache, site_moments

    # One set of statistics, a count known in advance (cutoff, relative cutoff, amount).
    def one_shot(self, optimizer: torch.optim.Optimizer | None) -> _Outcome:
        stats = self.stats if self.stats is not None else collect_site_statistics(
            self.model, self.site, self.split.x, covariance=self.covariance)
        rewirer = Rewirer(self.model, self.site, stats, self.rule)
        scores = self._efficiencies(self.model, stats, rewirer)
        if self.strategy.kind == "amount":
            count = self.strategy.count(self.width)
        else:
            count = self.width if self.greedy else int((scores < self.threshold).sum())
        count = min(count, self.cap)
        if self.greedy:
            removed, costs = self._greedy(rewirer, count)
            kept = rewirer.commit(self.model, optimizer)
            return _Outcome(removed, kept.tolist(), costs)
        if count >= self.width:
            self._refuse_emptying()
        dying = torch.argsort(scores, stable=True)[:count]
        rewirer.remove_many(dying)
        kept = rewirer.commit(self.model, optimizer)
        return _Outcome(dying.tolist(), kept.tolist(), scores[dying].tolist())

    def _greedy(self, rewirer: Rewirer, count: int) -> tuple[list[int], list[float]]:
        """Remove up to ``count`` neurons, each the cheapest one now (``conditional:greedy``).

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
    def goal(self, optimizer: torch.optim.Optimizer | None) -> _Outcome:
        cache, site_moments = self._cached()
        stats = self.stats if self.stats is not None else \
            _statistics(self.model, self.site, cache, site_moments)
        rewirer = Rewirer(self.model, self.site, stats, self.rule)
        scores = self._efficiencies(self.model, stats, rewirer)
        goal = _GoalEvaluator(self.model, self.site, cache.y, self.strategy)
        outcome = _Outcome([], [], [], *goal.both(cache.z))
        limit = min(self.cap, self.width - 1)
        order = iter(torch.argsort(scores, stable=True).tolist())
        if self.strategy.holds(outcome.accuracy_before, outcome.loss_before):
            while len(outcome.removed) < limit:
                if self.greedy:
                    l, cost = rewirer.cheapest()
                else:
                    l = next(order)
                    cost = float(scores[l])
                relation = rewirer.relation(l)
                if not goal.holds(cache.trial(relation, rewirer.weight[:, l])):
                    break  # the failing removal is not applied
                rewirer.remove(l, relation)
                cache.accept()
                outcome.removed.append(l)
                outcome.removal_efficiencies.append(cost)
        outcome.accuracy, outcome.loss = goal.both(cache.z)
        outcome.kept = rewirer.commit(self.model, optimizer).tolist()
        return outcome

    # Statistics and efficiencies recomputed after every removal, on a working copy.
    def sequential(self, optimizer: torch.optim.Optimizer | None) -> _Outcome:
        cache, site_moments = self._cached()
        work = copy.deepcopy(self.model)
        stats = self.stats if self.stats is not None else \
            _statistics(work, self.site, cache, site_moments)
        goal = _GoalEvaluator(work, self.site, cache.y, self.strategy) \
            if self.strategy.is_goal else None
        outcome = _Outcome([], [], [])
        if goal is not None:
            outcome.accuracy_before, outcome.loss_before = goal.both(cache.z)
            outcome.accuracy, outcome.loss = outcome.accuracy_before, outcome.loss_before
            if not self.strategy.holds(outcome.accuracy, outcome.loss):
                return self._finish(work, cache, outcome, optimizer)
        limit = min(self.cap, self.width - 1) if goal is not None else self.cap
        if self.strategy.kind == "amount":
            limit = min(limit, self.strategy.count(self.width))
        while len(outcome.removed) < limit:
            rewirer = Rewirer(work, self.site, stats, self.rule)
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
            stats = _statistics(work, self.site, cache, site_moments)
        if self.first_efficiencies.numel() == 0:  # nothing ranked yet (limit 0)
            self._efficiencies(work, stats, Rewirer(work, self.site, stats, self.rule))
        if goal is not None:
            outcome.accuracy, outcome.loss = goal.both(cache.z)
        return self._finish(work, cache, outcome, optimizer)

    def _finish(self, work: MLP, cache: _Cache, outcome: _Outcome,
                optimizer: torch.optim.Optimizer | None) -> _Outcome:
        """Give ``model`` the working copy's survivors and re-wired consumer."""
        kept = cache.positions
        if kept.numel() < self.width:
            keep_neurons(self.model, self.site, kept, optimizer)
        source, target = work.site(self.site).consumer, self.model.site(self.site).consumer
        with torch.no_grad():
            target.weight.copy_(source.weight)
            target.bias.copy_(source.bias)
        outcome.kept = kept.tolist()
        return outcome


# -- prune and retrain ---------------------------------------------------------------------


def prune_cycles(model: MLP, site: str, split: Split, protocol: Protocol, *, cycles: int,
                 retrain_paper_epochs: float, seed: int, test_split: Split | None = None,
                 optimizer: torch.optim.Optimizer | None = None, retrain_last: bool = False,
                 progress: bool | None = False, **prune_kwargs: Any) -> list[PruneResult]:
    """Prune, retrain, prune again, … (paper §5.2, Figs 5 and 6).

    Cycle 1 is the initial prune; each later cycle retrains ``retrain_paper_epochs`` and prunes
    again with the same arguments, so ``cycles=K`` is the initial prune plus (K − 1) ×
    (retrain + prune): the paper's Fig. 5 is ``cycles=2`` (prune, retrain 500, prune) and its
    Fig. 6 (initial pruning plus five iterations) is ``cycles=6``. With ``retrain_last`` the
    model is also retrained after the last prune (Fig. 7: prune inputs, then retrain 500).

    Args:
        model: the network, modified in place.
        site: the site to prune.
        split: training data (pruning statistics, goals and retraining).
        protocol: the training protocol for retraining.
        cycles: number of prunes, ≥ 1.
        retrain_paper_epochs: retraining length between prunes, in the paper's epochs.
        seed: seeds the retraining's shuffling (cycle k uses ``seed + 1000 k``).
        test_split: also evaluated after each prune and retraining.
        optimizer: carried through surgery and retraining (default: a new protocol optimizer
            per retraining, which for the paper's momentum-free SGD is the same thing).
        retrain_last: also retrain after the last prune.
        progress: progress bar during retraining.
        **prune_kwargs: passed to :func:`prune` (rule, measure, strategy, max_fraction, ...).

    Returns:
        One :class:`PruneResult` per cycle, with ``after`` (metrics right after the prune) and
        ``retrain`` (metrics after the retraining that followed it, or None).
    """
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Integral) or cycles < 1:
        raise NeuroplastError(f"cycles must be an integer >= 1, got {cycles!r}")
    if _number("retrain_paper_epochs", retrain_paper_epochs) < 0:
        raise NeuroplastError(f"retrain_paper_epochs must be >= 0, got {retrain_paper_epochs}")
    results: list[PruneResult] = []
    for cycle in range(1, cycles + 1):
        result = prune(model, site, split, optimizer=optimizer, **prune_kwargs)
        after = evaluate(model, split).as_dict("train")
        if test_split is not None:
            after |= evaluate(model, test_split).as_dict("test")
        retrained = None
        if retrain_paper_epochs > 0 and (cycle < cycles or retrain_last):
            history = train(model, split, protocol, epochs=protocol.epochs(retrain_paper_epochs),
                            seed=seed + 1000 * cycle, test_split=test_split, optimizer=optimizer,
                            progress=progress)
            retrained = dict(history.final)
        results.append(replace(result, after=after, retrain=retrained))
    return results
