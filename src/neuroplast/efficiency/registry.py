"""A registry of efficiency measures: a score per neuron of a site, small = expendable.

Every measure (the paper's E_k and E'_k, the baselines, new ones) plugs in the same way, so
every strategy and rule works with every measure. A measure may take one argument after a
colon (``nnsp:5``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats.site import SiteStatistics


@dataclass(frozen=True)
class MeasureContext:
    """Everything a measure may read.

    Attributes:
        model: the network (not to be modified).
        site: the site name.
        target: the site itself (its consumer view, producers, activations).
        stats: statistics of the site over the training data.
        data: the training data, for measures that need more than ``stats`` (gradients,
            sensitivities); None when the caller has only statistics.
        argument: the text after ``name:`` in the measure's name, or None.
    """

    model: nn.Module
    site: str
    stats: SiteStatistics
    data: Split | None = None
    argument: str | None = None
    target: Site | None = None


@dataclass(frozen=True)
class SiteRequirement:
    """Something a measure needs a site to hold beyond its kind's layers.

    Attributes:
        description: what, in words (``neuroplast methods`` and error messages say it).
        holds: whether a site holds it.
        advice: how a user gives a site what it lacks.
    """

    description: str
    holds: Callable[[Site], bool]
    advice: str


def _has_batchnorm_scale(site: Site) -> bool:
    return any(axis.role == "scale" and isinstance(axis.module, nn.modules.batchnorm._BatchNorm)
               for axis in site.upstream)  # an InstanceNorm's scale is not network slimming's


BATCHNORM_SCALE = SiteRequirement(
    "a BatchNorm after the producer", _has_batchnorm_scale,
    "a BatchNorm that discovery did not find is declared with between=(bn,) in the site")
"""A BatchNorm between the site's producer and its consumer (its scale γ is an upstream axis
of role ``scale``): network slimming's ``bn-scale`` and Torch-Pruning's ``tp-bn-scale``."""


@dataclass(frozen=True)
class Measure:
    """A registered efficiency measure.

    Attributes:
        name: registry key.
        description: one line for ``neuroplast methods``.
        reference: the paper's equation or the publication.
        compute: maps a context to a (n,) float64 tensor of finite scores.
        needs_covariance: the statistics must include the full covariance.
        needs_data: the context must carry the training data.
        site_kinds: the site kinds it is defined for (None: every kind); measures that read
            the paper's MLP layer by layer (NNSP, N2PS, Zeng-Yeung) say ``("mlp",)``.
        greedy_rule: the re-wiring rule whose removal costs ``name:greedy`` follows as a greedy
            selection (:meth:`~neuroplast.death.rules.Rewirer.removal_costs`; ``lstsq`` for
            ``conditional``, ``obs`` for ``obs``); None when the measure has no greedy form.
        requires: what a site must hold besides its kind's layers (a BatchNorm after the
            producer, :data:`BATCHNORM_SCALE`); None when any site of its kinds will do.
    """

    name: str
    description: str
    reference: str
    compute: Callable[[MeasureContext], torch.Tensor]
    needs_covariance: bool = False
    needs_data: bool = False
    site_kinds: tuple[str, ...] | None = None
    greedy_rule: str | None = None
    requires: SiteRequirement | None = None

    def supports(self, model: nn.Module, site: Site) -> bool:
        """Whether the measure is defined on ``site`` of ``model``: of a kind it takes, holding
        what it requires."""
        if self.requires is not None and not self.requires.holds(site):
            return False
        if self.site_kinds is None:
            return True
        if "mlp" in self.site_kinds and callable(getattr(model, "site_values", None)):
            return True
        return site.kind in self.site_kinds


MLP_ONLY = ("mlp",)
"""``site_kinds`` of measures that exist only for the paper's MLP."""


class MeasureRegistry:
    """Name → :class:`Measure`; one instance, :data:`MEASURES`, holds the built-in ones."""

    def __init__(self) -> None:
        self._measures: dict[str, Measure] = {}

    def register(self, measure: Measure) -> Measure:
        if measure.name in self._measures:
            raise NeuroplastError(f"a measure called {measure.name!r} is already registered")
        self._measures[measure.name] = measure
        return measure

    def names(self) -> list[str]:
        return list(self._measures)

    def __iter__(self):
        return iter(self._measures.values())

    def get(self, name: str) -> tuple[Measure, str | None]:
        """The measure for ``name`` (``base`` or ``base:argument``) and its argument."""
        base, _, argument = name.partition(":")
        if base not in self._measures:
            raise NeuroplastError(
                f"unknown efficiency measure {name!r}; run `neuroplast methods` to list them "
                f"({', '.join(self._measures)})"
            )
        return self._measures[base], (argument or None)


MEASURES = MeasureRegistry()


def _usable(model: nn.Module, site: Site) -> str:
    """The names of the measures defined on ``site``, comma-separated (for messages)."""
    return ", ".join(m.name for m in MEASURES if m.supports(model, site))


def efficiency(name: str, model: nn.Module, site: Site | str, stats: SiteStatistics,
               data: Split | None = None) -> torch.Tensor:
    """Score every neuron of ``site`` with the measure ``name``; returns (n,) float64.

    Raises:
        NeuroplastError: for an unknown measure, missing covariance or data, or a measure that
            produced NaN/inf (never passed on to a ranking).
    """
    measure, argument = MEASURES.get(name)
    target = resolve_site(model, site, data)
    if measure.requires is not None and not measure.requires.holds(target):
        raise NeuroplastError(
            f"measure {name!r} needs {measure.requires.description}, which site "
            f"{target.name!r} does not have ({measure.requires.advice}); measures for this "
            f"site: {_usable(model, target)}"
        )
    if not measure.supports(model, target):
        kinds = ", ".join(measure.site_kinds or ())
        usable = _usable(model, target)
        raise NeuroplastError(
            f"measure {name!r} is defined for {kinds} sites only, not for the {target.kind} "
            f"site {target.name!r}; measures for this site: {usable}"
        )
    if measure.needs_covariance and stats.cov is None:
        raise NeuroplastError(
            f"measure {name!r} needs the site covariance; collect statistics with covariance=True"
        )
    if measure.needs_data and data is None:
        raise NeuroplastError(f"measure {name!r} needs the training data")
    scores = measure.compute(MeasureContext(model, target.name, stats, data, argument, target))
    scores = scores.to(torch.float64)
    if scores.shape != (stats.width,):
        raise NeuroplastError(
            f"measure {name!r} returned shape {tuple(scores.shape)}, expected ({stats.width},)"
        )
    if not torch.isfinite(scores).all():
        raise NeuroplastError(
            f"measure {name!r} produced NaN or infinite efficiencies on site {target.name!r}; "
            "check the model and data for NaN"
        )
    return scores
