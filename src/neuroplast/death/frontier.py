"""Prune one site along its removal order and take the model at every kept width.

A one-shot prune (:func:`neuroplast.death.prune` with ``amount``) ranks the neurons once and
removes the ``amount`` least efficient ones one after another with the rule's
:class:`~neuroplast.death.rules.Rewirer`; a greedy selection (``conditional:greedy``,
``obs:greedy``) removes the cheapest neuron of the moment, one at a time. In both the first
removals do not depend on how many follow. So the pruned models at several kept widths
K_1 > K_2 > … come from *one* pass: score once, remove in order, and copy the model whenever
the site reaches a kept width. The copy at width K is exactly what
``prune(model, site, data, rule=rule, measure=measure, amount=width − K)`` returns (same
statistics, same order, same re-wiring), for the cost of one prune to the smallest width.

:func:`prune_to_widths` is that pass. The compression frontier
(:mod:`neuroplast.experiments.definitions.compression_frontier`) calls it for every
(rule, measure) pair of a trained net.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.death.rules import Rewirer, get_rule
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats import collect_site_statistics
from neuroplast.stats.site import Forward, SiteStatistics

__all__ = ["WidthPoint", "check_widths", "prune_to_widths"]


@dataclass(frozen=True)
class WidthPoint:
    """The pruned model at one kept width.

    Attributes:
        width: neurons the site keeps.
        model: a pruned copy of the model (the caller's model is never modified).
        removed: the original indices removed so far, in removal order.
    """

    width: int
    model: nn.Module
    removed: tuple[int, ...]


def check_widths(widths: Sequence[int], width: int) -> tuple[int, ...]:
    """Kept widths, largest first; each an integer in [1, width − 1], no repeats.

    Raises:
        NeuroplastError: for an empty list, a repeat, a non-integer or a width out of range.
    """
    if not widths:
        raise NeuroplastError("give at least one kept width, e.g. 80 60 40 20")
    for value in widths:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < width:
            raise NeuroplastError(
                f"kept width {value!r} is not an integer from 1 to {width - 1} (the site has "
                f"{width} neurons)"
            )
    if len(set(widths)) != len(widths):
        raise NeuroplastError(f"kept widths repeat: {list(widths)}; give each once")
    return tuple(sorted(widths, reverse=True))


def prune_to_widths(model: nn.Module, site: Site | str, data: Any, *, rule: str,
                    widths: Sequence[int], measure: str | None = None,
                    stats: SiteStatistics | None = None, scores: torch.Tensor | None = None,
                    forward: Forward | None = None) -> Iterator[WidthPoint]:
    """Yield ``model`` pruned to each kept width of ``site``, largest width first.

    Equal, at every width K, to ``prune(model, site, data, rule=rule, measure=measure,
    amount=width − K)`` on a fresh copy (module doc), but the ranking, the statistics and the
    removals are computed once. ``model`` is not modified: each point holds its own copy.

    Args:
        model: the network.
        site: a :class:`~neuroplast.sites.Site` of ``model`` or its name.
        data: calibration data, as for :func:`~neuroplast.death.prune`.
        rule: the re-wiring rule (:data:`~neuroplast.death.rules.RULES`).
        widths: kept widths, each in [1, width − 1] (any order).
        measure: the ranking (default: the rule's); ``conditional:greedy`` / ``obs:greedy``
            select greedily with rule ``lstsq`` / ``obs``.
        stats: statistics of the site over ``data`` (with the covariance when the rule or
            measure needs it); collected when None.
        scores: the measure's (n,) scores on ``stats``, when the caller already has them
            (several rules sharing one ranking); computed when None. Not used by a greedy
            selection, whose costs change after every removal.
        forward: how to run the model on one batch.

    Yields:
        A :class:`WidthPoint` per kept width, in decreasing width.

    Raises:
        NeuroplastError: bad widths, a greedy measure with another rule than its own, scores
            of the wrong shape, or a rule that moves the bias of a bias-free consumer.
    """
    rule_info = get_rule(rule)
    measure = measure or rule_info.default_measure
    measure_info, _ = MEASURES.get(measure)
    greedy = is_greedy(measure)
    if greedy and rule_info.name != measure_info.greedy_rule:
        raise NeuroplastError(
            f"measure {measure} is a greedy selection for rule {measure_info.greedy_rule} only, "
            f"got rule {rule_info.name}"
        )
    target = resolve_site(model, site, data, forward)
    width = target.width
    kept_widths = check_widths(widths, width)
    if target.consumer_bias() is None and rule_info.moves_bias:
        model, target = copy.deepcopy((model, target))  # prune() adds a zero bias; so do we,
        target.add_consumer_bias()  # on a working copy
    if stats is None:  # a Split's inputs, as prune() reads them
        inputs = data.x if torch.is_tensor(getattr(data, "x", None)) else data
        stats = collect_site_statistics(
            model, target, inputs,
            covariance=rule_info.needs_covariance or measure_info.needs_covariance,
            forward=forward)
    rewirer = Rewirer(model, target, stats, rule_info.name)
    if greedy:
        order: list[int] = []
    else:
        if scores is None:
            scores = efficiency(measure, model, target, stats, data)
        if scores.shape != (width,):
            raise NeuroplastError(f"scores have shape {tuple(scores.shape)}, expected ({width},)")
        order = torch.argsort(scores, stable=True).tolist()  # as prune's one-shot selection
    removed = 0
    for kept in kept_widths:
        if greedy:  # the cheapest neuron now, one at a time, as prune() does
            while len(order) < width - kept:
                order.append(rewirer.cheapest()[0])
                rewirer.remove(order[-1])
        else:
            rewirer.remove_many(order[removed : width - kept])
        removed = width - kept
        pruned, snapshot = copy.deepcopy((model, rewirer))  # the copy's rewirer targets it
        snapshot.commit()
        yield WidthPoint(kept, pruned, tuple(order[:removed]))
