"""Cached evaluation of one site's removals (goal strategies, ``recompute``).

The site's values X (N, n) over the training data and the consumer's pre-activation
Z = X Wᵀ + b (N, m) are computed once. Removing neuron l with the relation Σ_j a_j x_j = a_0
changes the consumer by eqs 42–43, which changes Z by exactly

    Z ← Z + (x̂_l − X_l) ⊗ w_l,     x̂_l = (a_0 − Σ_{j≠l} a_j X_j) / a_l,

with w_l the current (re-wired) column of neuron l. Only what lies downstream of the consumer
is evaluated per candidate (the site's ``downstream``, e.g. ``MLP.forward_from_preactivation``),
so a whole goal search costs about one forward pass plus a few small products per candidate.
X and Z are held in the model's dtype (the updates are computed in float64 and rounded once
each); the site values never change when a neuron of the same site dies, so the site's
statistics are exact by slicing and the consumer's follow from Z: ``recompute`` needs no new
forward pass. The accuracy a goal strategy reports is that of this evaluation; for a float32
model the pruned model's own forward pass rounds differently (~1e-6 relative) and may differ
on an example or two that sit on a decision boundary.

It applies where the site has a ``downstream`` (:func:`supports_cache`); elsewhere the goal
strategies evaluate the whole model (:mod:`neuroplast.death.evaluation`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.data import Split
from neuroplast.death.request import Strategy
from neuroplast.death.rules import DTYPE, Relation
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.site import Site
from neuroplast.stats import moments
from neuroplast.stats.site import SiteStatistics, model_device_dtype

CHUNK = 10_000
"""Examples per chunk when the site values and pre-activations are cached."""


def supports_cache(site: Site, data: object) -> bool:
    """Whether the cached evaluation applies: a Linear consumer whose downstream the site can
    evaluate on its own (the paper's MLP), and labelled data held as one tensor (a Split)."""
    return site.downstream is not None and site.offsets == 1 and site.kind in ("linear", "input") \
        and torch.is_tensor(getattr(data, "x", None)) and torch.is_tensor(getattr(data, "y", None))


class _StopForward(Exception):
    """Raised once the consumer's input has been captured."""


def site_values(model: nn.Module, site: Site, x: torch.Tensor) -> torch.Tensor:
    """The site's values (the consumer's input) for inputs ``x``, in the model's dtype: (N, n).

    Runs the model up to the consumer only, ``CHUNK`` examples at a time.
    """
    captured: list[torch.Tensor] = []

    def hook(_module, inputs):
        captured.append(site.rows(inputs[0]))
        raise _StopForward

    handle = site.consumer.register_forward_pre_hook(hook)
    try:
        for start in range(0, x.shape[0], CHUNK):
            try:
                model(x[start : start + CHUNK])
            except _StopForward:
                pass
    finally:
        handle.remove()
    return captured[0] if len(captured) == 1 else torch.cat(captured)


class SiteCache:
    """Site values X (N, n₀), consumer pre-activation Z (N, m), labels; see the module doc.

    Column j of X is neuron j of the site as it was when pruning began; ``positions`` maps the
    current neurons to those columns.
    """

    def __init__(self, model: nn.Module, site: Site, split: Split) -> None:
        _, dtype = model_device_dtype(model)
        modes = enter_evaluation(model)
        try:
            with torch.no_grad():
                x = split.x.to(dtype)  # no copy when the dtypes already agree
                self.x = site_values(model, site, x)  # (N, n₀)
                self.z = site.consumer(self.x)  # (N, m) in the model's dtype, as the model has it
        finally:
            restore_modes(modes)
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


def cached_statistics(site: Site, cache: SiteCache, site_moments: moments.Moments,
                      ) -> SiteStatistics:
    """Statistics of the current site from the cache: what a new pass would give.

    The site's moments are sliced (the survivors' values did not change); the consumer's
    follow from the current Z, and ȳ_i from the current weights and the survivors' means.
    """
    index = cache.positions
    z = cache.z.to(DTYPE)  # (N, m)
    out = z if site.consumer_activation is None else site.consumer_activation.fn(z)
    cov = None if site_moments.cov is None else site_moments.cov[index][:, index]
    survivors = moments.Moments(site_moments.count, site_moments.mean[index],
                                site_moments.var[index], cov)
    return SiteStatistics.from_moments(site.name, site, survivors, out.mean(dim=0),
                                       out.var(dim=0, correction=0))


class CachedGoal:
    """A goal's metric from the consumer's pre-activation Z, in the model's dtype.

    Per candidate only the goal's metric is computed (accuracy, or the mean cross-entropy);
    :meth:`both` gives the two for the report.
    """

    def __init__(self, site: Site, labels: torch.Tensor, strategy: Strategy) -> None:
        self.downstream = site.downstream  # only what lies after the consumer: pruning keeps it
        self.dtype = site.consumer.weight.dtype
        self.labels = labels
        self.strategy = strategy

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        z = z.to(self.dtype)  # (N, m)
        return self.downstream(z)  # (N, classes)

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
