"""The record of every shape change a site made: what a saved model's plan is made of.

Only :meth:`Site.keep`, :meth:`Site.append` and :meth:`Site.add_consumer_bias` change tensor
shapes; each calls :func:`record` once it succeeded. The record lives on the site's consumer
module as a plain list attribute (:data:`ATTRIBUTE`), one entry per run of events on one site
description::

    consumer._neuroplast_plan = [Entry(site=SiteShape(...), events=[Keep((0, 2, 3)), Append(2)])]

The entry holds module *objects*, not names, so it stays right when the model is moved,
cast, or ``copy.deepcopy``-ed (the copy's record points at the copy's modules); names are
given only when a plan is written (:mod:`neuroplast.sites.plan`). Each site's events are kept
in order; events of different sites touch different tensor dimensions (a dimension runs over
the neurons of one site only), so they commute and need no global order.

Consecutive events of one kind fold into one (keep ``a`` then keep ``b`` is keep ``a[b]``;
append ``k`` then append ``l`` is append ``k + l``), so a long death-and-replication schedule
leaves a record as short as the changes it made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:  # site.py imports this module
    from neuroplast.sites.site import Site

ATTRIBUTE = "_neuroplast_plan"
"""Name of the list attribute on a consumer module that holds its site's record."""


@dataclass(frozen=True)
class Keep:
    """The site kept only neurons ``indices`` (in that order)."""

    indices: tuple[int, ...]

    def after(self, previous: Event) -> Event | None:
        """This event folded onto ``previous`` (one event doing both), or None."""
        if isinstance(previous, Keep):
            return Keep(tuple(previous.indices[i] for i in self.indices))
        return None


@dataclass(frozen=True)
class Append:
    """The site gained ``count`` neurons at its end."""

    count: int

    def after(self, previous: Event) -> Event | None:
        if isinstance(previous, Append):
            return Append(previous.count + self.count)
        return None


@dataclass(frozen=True)
class AddBias:
    """The site's consumer, which had no bias, was given a zero one."""

    def after(self, previous: Event) -> Event | None:
        return None


Event = Keep | Append | AddBias


@dataclass(frozen=True, eq=False)
class SiteShape:
    """Which modules make up a site, by object: enough to build the site again.

    Attributes:
        kind: the :attr:`Site.kind`.
        producers: the site's producers (gate and up for ``gated``; none for ``input``).
        between: the other modules owning tensors along the site's neurons (BatchNorm; the
            selector of an ``input`` site).
        consumer: the consumer module.
        flatten_block: H·W consumer columns per channel for ``flatten``, else None.
    """

    kind: str
    producers: tuple[nn.Module, ...]
    between: tuple[nn.Module, ...]
    consumer: nn.Module
    flatten_block: int | None = None

    @classmethod
    def of(cls, site: Site) -> SiteShape:
        """The shape of ``site`` now."""
        producers = tuple(site.producers)
        between: list[nn.Module] = []
        for axis in site.upstream:
            module = axis.module
            if all(module is not m for m in producers) and all(module is not m for m in between):
                between.append(module)
        block = site.view.block if site.kind == "flatten" else None
        return cls(site.kind, producers, tuple(between), site.consumer, block)

    def modules(self) -> tuple[nn.Module, ...]:
        """Every module named in the shape: producers, between, consumer."""
        return (*self.producers, *self.between, self.consumer)

    def same_as(self, other: SiteShape) -> bool:
        """Whether both describe the same site (the same module objects, kind and block)."""
        mine, theirs = self.modules(), other.modules()
        return (self.kind, self.flatten_block, len(self.producers), len(mine)) == \
            (other.kind, other.flatten_block, len(other.producers), len(theirs)) and \
            all(a is b for a, b in zip(mine, theirs, strict=True))


@dataclass(eq=False)
class Entry:
    """A run of events on one site description, oldest first."""

    site: SiteShape
    events: list[Event] = field(default_factory=list)

    def add(self, event: Event) -> None:
        """Append ``event``, folded into the last one where it can be."""
        folded = event.after(self.events[-1]) if self.events else None
        if folded is None:
            self.events.append(event)
        else:
            self.events[-1] = folded


def record(site: Site, event: Event) -> None:
    """Note that ``site`` just went through ``event`` (called by the Site's surgery methods)."""
    consumer = site.consumer
    entries: list[Entry] | None = getattr(consumer, ATTRIBUTE, None)
    if entries is None:
        entries = []
        setattr(consumer, ATTRIBUTE, entries)  # a plain attribute: not a parameter or buffer
    shape = SiteShape.of(site)
    if not entries or not entries[-1].site.same_as(shape):
        entries.append(Entry(shape))
    entries[-1].add(event)


def last_event_is_added_bias(site: Site) -> bool:
    """Whether the last event ``site``'s consumer recorded is an :class:`AddBias` (nothing —
    no removal, no growth — was recorded after the bias was added)."""
    kept: list[Entry] = getattr(site.consumer, ATTRIBUTE, None) or []
    return bool(kept) and bool(kept[-1].events) and isinstance(kept[-1].events[-1], AddBias)


def forget_added_bias(site: Site) -> None:
    """Take back the :class:`AddBias` that ``site`` recorded last (its bias was removed again
    because the operation that added it failed); the record is as it was before."""
    if not last_event_is_added_bias(site):
        raise AssertionError("the site's last recorded event is not an added bias")
    kept: list[Entry] = getattr(site.consumer, ATTRIBUTE)
    kept[-1].events.pop()
    if not kept[-1].events:
        kept.pop()
    if not kept:
        delattr(site.consumer, ATTRIBUTE)


def entries(module: nn.Module) -> list[Entry]:
    """The record kept on ``module`` (a site's consumer), oldest first; empty if none."""
    return list(getattr(module, ATTRIBUTE, None) or ())
