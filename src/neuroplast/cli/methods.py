"""``neuroplast methods``: list the efficiency measures, re-wiring rules and replication methods.

Each entry has its name, a one-line description and the paper's equation or the publication.
``--json`` prints the same catalogue as JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from neuroplast.death.rules import RULES
from neuroplast.efficiency import MEASURES
from neuroplast.replication import METHODS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "methods", help="list efficiency measures, re-wiring rules and replication methods",
        description="List every registered efficiency measure (--measure), re-wiring rule "
                    "(--rule) and replication method with a one-line description and the "
                    "paper's equation or reference.",
    )
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.set_defaults(run=run)


SITE_KINDS = ("linear", "gated", "conv", "flatten", "input")
"""Every site kind (neuroplast.sites.Site.kind)."""


def _site_kinds(measure: Any) -> list[str]:
    """The site kinds a measure applies to; ``mlp`` = the paper's MLP only (its layer chain)."""
    return list(SITE_KINDS) if measure.site_kinds is None else list(measure.site_kinds)


def _measures() -> list[dict[str, Any]]:
    return [{"name": m.name, "description": m.description, "reference": m.reference,
             "needs_data": m.needs_data, "needs_covariance": m.needs_covariance,
             "site_kinds": _site_kinds(m),
             "requires": m.requires.description if m.requires else None}
            for m in MEASURES]


def _rules() -> list[dict[str, Any]]:
    return [{"name": r.name, "description": r.description, "reference": r.reference,
             "default_measure": r.default_measure, "needs_covariance": r.needs_covariance}
            for r in RULES.values()]


def _replication() -> list[dict[str, Any]]:
    return [{"name": m.name, "description": m.description, "reference": m.reference}
            for m in METHODS.values()]


def catalogue() -> dict[str, list[dict[str, Any]]]:
    """Measures, rules and replication methods as lists of plain dictionaries."""
    return {"measures": _measures(), "rules": _rules(), "replication": _replication()}


def _needs(entry: dict[str, Any]) -> str:
    needs = [word for key, word in (("needs_data", "the training data"),
                                    ("needs_covariance", "the site covariance"))
             if entry.get(key)]
    if entry.get("requires"):
        needs.append(entry["requires"])
    kinds = entry["site_kinds"]
    where = "; the paper's MLP only" if kinds == ["mlp"] else \
        ("; every site kind" if kinds == list(SITE_KINDS) else f"; sites: {', '.join(kinds)}")
    return (f"; needs {' and '.join(needs)}" if needs else "") + where


def _section(title: str, entries: list[dict[str, Any]], extra=lambda entry: "") -> str:
    """A title and, per entry, ``name  description`` over ``reference`` (left-aligned)."""
    width = max(len(e["name"]) for e in entries) + 2
    lines = [title]
    for e in entries:
        lines.append(f"  {e['name']:<{width}}{e['description']}")
        lines.append(f"  {'':<{width}}[{e['reference']}{extra(e)}]")
    return "\n".join(lines)


def format_catalogue(data: dict[str, list[dict[str, Any]]]) -> str:
    """The catalogue as three plain-text sections."""
    blocks = [
        _section("Efficiency measures (--measure NAME or NAME:ARGUMENT; small = expendable; "
                 f"site kinds: {', '.join(SITE_KINDS)})",
                 data["measures"], _needs),
        _section("Re-wiring rules (--rule NAME)", data["rules"],
                 lambda r: f"; default measure {r['default_measure']}"),
    ]
    blocks.append(_section("Replication methods", data["replication"]))
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    data = catalogue()
    print(json.dumps(data, indent=2) if args.json else format_catalogue(data))
    return 0
