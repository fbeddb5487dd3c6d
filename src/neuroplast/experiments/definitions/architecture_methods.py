"""The architecture frontier's methods: a rule, a measure and how the ratio is spread.

A method prunes every site of a model (those :func:`neuroplast.find_sites` offers) so that a
fraction ``ratio`` goes, in one of two ways (:data:`ALLOCATIONS`):

* ``uniform``: every site loses ``round(ratio · width)`` neurons (at most width − 1), one site
  after another in discovery order, each with :func:`neuroplast.prune` — statistics and
  rankings of a site are collected on the model as pruned so far;
* ``global``: FLAP's adaptive structure search (:func:`~neuroplast.efficiency.baselines.flap.
  flap_allocation`): statistics of every site on the *unpruned* model, each site's scores
  standardised, ranked together, and the neurons with the largest standardised scores kept
  until their parameters are closest to (1 − ratio) of the sites' total
  (:func:`~neuroplast.efficiency.baselines.flap.parameters_per_neuron`); then each site loses
  its count with :func:`neuroplast.prune` on those statistics. With rule A1 and measure
  ``flap`` this is FLAP's whole procedure
  (:func:`~neuroplast.efficiency.baselines.flap.flap_prune`).

A rule that moves the bias (A1, A2, A3, lstsq) gives a bias-free consumer a zero bias first
(:func:`neuroplast.prune`). Where that consumer produces a later site (VGG's conv →
BatchNorm), the later site must slice the new bias with its rows, which a site object found
before the bias existed does not: :func:`with_consumer_biases` adds every such bias at once
and finds the sites again (the experiment does it once per trained model, outside the timed
pruning), and :func:`_prune_sites` finds later sites again if a bias still appears mid-way.

A method is plain data (:class:`ArchMethod`, stored in the experiment's configuration as a
dict), so a configuration may name methods beyond :data:`DEFAULT_METHODS`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from neuroplast.death import prune
from neuroplast.death.rules import get_rule
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.baselines.flap import flap_allocation, parameters_per_neuron
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.sites.discover import find_sites
from neuroplast.sites.resolve import first_batch
from neuroplast.sites.site import Site
from neuroplast.stats import collect_site_statistics
from neuroplast.stats.site import Forward

FAMILIES = ("ours", "baseline")


@dataclass(frozen=True)
class ArchMethod:
    """One method of the architecture frontier.

    Attributes:
        name: how reports name it (a baseline's name contains its method: ``flap``,
            ``wanda``, ``obs``, ``tp-``).
        family: ``ours`` or ``baseline``.
        rule: re-wiring rule.
        measure: efficiency measure (or greedy selection).
        allocation: ``uniform`` or ``global`` (:data:`ALLOCATIONS`).
    """

    name: str
    family: str
    rule: str
    measure: str
    allocation: str = "uniform"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise NeuroplastError(f"method {self.name!r}: family must be one of "
                                  f"{', '.join(FAMILIES)}, got {self.family!r}")
        if self.allocation not in ALLOCATIONS:
            raise NeuroplastError(f"method {self.name!r}: allocation must be one of "
                                  f"{', '.join(ALLOCATIONS)}, got {self.allocation!r}")
        rule = get_rule(self.rule)
        measure, _ = MEASURES.get(self.measure)
        if is_greedy(self.measure) and (rule.name != measure.greedy_rule
                                        or self.allocation != "uniform"):
            raise NeuroplastError(f"method {self.name!r}: the greedy selection {self.measure} "
                                  f"runs with rule {measure.greedy_rule} and the uniform "
                                  "allocation only")

    def as_config(self) -> dict[str, str]:
        """The method as stored in a configuration."""
        return asdict(self)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ArchMethod:
        return cls(**dict(data))


def with_consumer_biases(model: nn.Module, sites: Sequence[Site], data: Any,
                         forward: Forward | None = None) -> tuple[nn.Module, list[Site]]:
    """``model`` and ``sites`` with a zero bias on every bias-free consumer, the sites found
    again (a copy; the same objects when every consumer has a bias). The function is
    unchanged; pruning it with a rule that moves the bias equals pruning ``model``."""
    if all(site.consumer_bias() is not None for site in sites):
        return model, list(sites)
    work, work_sites = copy.deepcopy((model, list(sites)))
    for site in work_sites:
        site.add_consumer_bias()
    found = {site.name: site for site in find_sites(work, first_batch(data), forward=forward)}
    return work, [found[site.name] for site in work_sites]


def _prune_sites(model: nn.Module, sites: Sequence[Site], data: Any, method: ArchMethod,
                 counts: Mapping[str, int], stats: Mapping[str, Any], forward: Forward | None,
                 ) -> list[Site]:
    """Prune each site by its count in order; returns the sites as they are at the end.

    A rule that moves the bias gives a bias-free consumer a zero bias
    (:func:`neuroplast.prune`); when that consumer is also the producer of a later site (a
    conv followed by BatchNorm, as in VGG), the later site's object, found before the bias
    existed, would not slice it, so the later sites are found again first.
    """
    sites = list(sites)
    for index, site in enumerate(sites):
        result = prune(model, site, data, rule=method.rule, measure=method.measure,
                       amount=counts[site.name], stats=stats.get(site.name), forward=forward)
        later = sites[index + 1:]
        if result.bias_added and any(site.consumer is producer for other in later
                                     for producer in other.producers):
            found = {s.name: s for s in find_sites(model, first_batch(data), forward=forward)}
            sites[index + 1:] = [found[other.name] for other in later]
    return sites


def _uniform(model: nn.Module, sites: Sequence[Site], data: Any, method: ArchMethod,
             ratio: float, forward: Forward | None) -> list[Site]:
    counts = {site.name: min(round(ratio * site.width), site.width - 1) for site in sites}
    return _prune_sites(model, sites, data, method, counts, {}, forward)


def _global(model: nn.Module, sites: Sequence[Site], data: Any, method: ArchMethod,
            ratio: float, forward: Forward | None) -> list[Site]:
    rule, (measure, _) = get_rule(method.rule), MEASURES.get(method.measure)
    covariance = rule.needs_covariance or measure.needs_covariance
    stats = {site.name: collect_site_statistics(model, site, data, covariance=covariance,
                                                forward=forward) for site in sites}
    scores = {site.name: efficiency(method.measure, model, site, stats[site.name], data)
              for site in sites}
    counts = flap_allocation(scores, ratio, {site.name: float(parameters_per_neuron(site))
                                             for site in sites})
    return _prune_sites(model, sites, data, method, counts, stats, forward)


Allocation = Callable[[nn.Module, Sequence[Site], Any, ArchMethod, float, "Forward | None"],
                      list[Site]]
ALLOCATIONS: dict[str, Allocation] = {"uniform": _uniform, "global": _global}
"""How a method spreads the ratio over the sites (module doc)."""


def apply_method(model: nn.Module, sites: Sequence[Site], data: Any, method: ArchMethod,
                 ratio: float, forward: Forward | None = None) -> list[Site]:
    """Prune ``sites`` of ``model`` in place with ``method`` at ``ratio``; returns the sites
    as they are after the pruning (some found again, see :func:`_prune_sites`).

    Raises:
        NeuroplastError: the method refuses a site (a measure that needs a BatchNorm, a
            missing optional dependency, ...) or the ratio is outside [0, 1).
    """
    if not 0.0 <= float(ratio) < 1.0:
        raise NeuroplastError(f"a pruning ratio must be in [0, 1), got {ratio}")
    return ALLOCATIONS[method.allocation](model, sites, data, method, float(ratio), forward)


DEFAULT_METHODS = (
    ArchMethod("E_k + A1", "ours", "A1", "connection"),
    ArchMethod("E_k + lstsq", "ours", "lstsq", "connection"),
    ArchMethod("E^c_k greedy + lstsq", "ours", "lstsq", "conditional:greedy"),
    ArchMethod("E'_k + A3", "ours", "A3", "covariance"),
    ArchMethod("flap (global)", "baseline", "A1", "flap", "global"),
    ArchMethod("wanda-sp", "baseline", "none", "wanda-sp"),
    ArchMethod("obs:greedy (ZipLM)", "baseline", "obs", "obs:greedy"),
    ArchMethod("tp-group-l1", "baseline", "none", "tp-group-l1"),
    ArchMethod("tp-group-l2", "baseline", "none", "tp-group-l2"),
    ArchMethod("tp-group-taylor", "baseline", "none", "tp-group-taylor"),
    ArchMethod("tp-group-lamp", "baseline", "none", "tp-group-lamp"),
    ArchMethod("tp-bn-scale", "baseline", "none", "tp-bn-scale"),
    ArchMethod("random", "baseline", "none", "random:0"),
)
"""Ours: E_k + A1, E_k + lstsq, greedy E^c_k + lstsq, E'_k + A3 (uniform). Baselines: FLAP
(its fluctuation, global standardised allocation, A1 bias compensation), Wanda-sp, ZipLM's
structured OBS (greedy, OBS update), the Torch-Pruning group importances (sliced) and random."""
