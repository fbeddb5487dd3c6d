"""The compression frontier's methods: our (rule, measure) pairs and every baseline measure.

Ours are the paper's rules on the paper's rankings and our least-squares rule on E_k, E'_k
and E^c_k (:data:`OUR_METHODS`). The baselines are every other registered measure, expanded
to the variants used here (:func:`expand_measure`), each run with every rule of
:data:`BASELINE_RULES` — or, for a greedy selection such as ``obs:greedy``, with its own rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from neuroplast.efficiency import MEASURES
from neuroplast.efficiency.baselines.nnsp import site_level, top_level
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.experiments.definitions.frontier_tables import Method

SITE = "hidden1"

OUR_METHODS = (
    ("A1", "connection"),
    ("A2", "connection"),
    ("A3", "covariance"),
    ("lstsq", "covariance"),
    ("lstsq", "connection"),
    ("none", "connection"),
    ("lstsq", "conditional"),
    ("lstsq", "conditional:greedy"),
)
"""(rule, measure) pairs of the paper's rules and ours, on the paper's rankings and ours."""
BASELINE_RULES = ("none", "A1", "lstsq")
"""Every static baseline ranking is applied with each of these rules."""
PAPER_MEASURES = ("connection", "covariance", "conditional")
"""Registered measures that are ours (the paper's E_k, E'_k and our E^c_k), never baselines."""
EXCLUDED = {
    "n2ps-mean-inverted": "identical to n2ps-mean on a hidden site (the inversion applies to "
                          "the input site only)",
    "nnsp-summed": "a reading of NNSP tested against the paper's numbers (fidelity.md), not a "
                   "published method; NNSP itself runs at every level",
}
"""Registered measures left out, with the reason (printed in the report)."""


def expand_measure(name: str, model: nn.Module, site: str) -> list[str]:
    """The variants of a registered measure used here: nnsp at each usable level, random:0,
    and the greedy form of a measure that has one (``obs`` → ``obs``, ``obs:greedy``)."""
    if name == "nnsp":
        return [f"nnsp:{level}" for level in range(site_level(model, site) + 2,
                                                   top_level(model) + 1)]
    if name == "random":
        return ["random:0"]
    measure, _ = MEASURES.get(name)
    return [name] + ([f"{name}:greedy"] if measure.greedy_rule is not None else [])


def baseline_measures(model: nn.Module, site: str = SITE) -> list[str]:
    """Every registered measure except ours and :data:`EXCLUDED`, variants expanded, in the
    registry's order."""
    names: list[str] = []
    for measure in MEASURES:
        if measure.name in PAPER_MEASURES or measure.name in EXCLUDED:
            continue
        names += expand_measure(measure.name, model, site)
    return names


def methods_for(measures: Sequence[str]) -> list[Method]:
    """Our pairs, then each baseline measure with every rule of :data:`BASELINE_RULES` (a
    greedy selection with its own rule only)."""
    methods = [Method(rule, measure, ours=True) for rule, measure in OUR_METHODS]
    for measure in measures:
        if is_greedy(measure):
            methods.append(Method(str(MEASURES.get(measure)[0].greedy_rule), measure, False))
        else:
            methods += [Method(rule, measure, ours=False) for rule in BASELINE_RULES]
    return methods
