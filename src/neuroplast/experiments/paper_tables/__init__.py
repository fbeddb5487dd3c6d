"""The paper's numeric tables and the claims to test, as package data (JSON).

``figN.json`` holds the table of the journal version's Fig. N exactly as printed (REFERENCE
§3.1): every cell keeps its printed ``text`` (odd formats such as ``"193. ± 4."`` included)
beside the parsed ``mean`` and ``error`` (None when the cell prints no error, both None for
text cells). ``context`` holds the numbers the caption states (initial accuracy, ...).
``claims.json`` holds the 22 testable statements of REFERENCE §4.

Typical use::

    table = paper_table("fig5")
    table.cell("accuracy_after_pruning", cutoff="0.01")   # PaperValue(0.9784, 0.0002, ...)
    table.context["initial_accuracy"].text                 # "0.97981 ± 0.00023"
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from neuroplast.errors import NeuroplastError


@dataclass(frozen=True)
class PaperValue:
    """One printed number of the paper: mean, error (None if not printed) and the text."""

    mean: float | None
    error: float | None
    text: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PaperValue:
        return cls(data["mean"], data["error"], data["text"])


@dataclass(frozen=True)
class PaperTable:
    """One table of the paper.

    Attributes:
        figure: e.g. ``"Fig. 5"``.
        caption: the caption as REFERENCE.md gives it.
        context: numbers the caption states, by key.
        columns: ``(key, printed title)`` pairs in the paper's order.
        rows: the rows, each a dict key → :class:`PaperValue`.
    """

    figure: str
    caption: str
    context: dict[str, PaperValue]
    columns: tuple[tuple[str, str], ...]
    rows: tuple[dict[str, PaperValue], ...]

    def column(self, key: str) -> list[PaperValue]:
        """Every row's value in column ``key``."""
        self._check_key(key)
        return [row[key] for row in self.rows]

    def row(self, **match: str) -> dict[str, PaperValue]:
        """The single row whose cells print exactly the given texts, e.g. ``row(cutoff="0.1")``.

        Raises:
            NeuroplastError: no row, or several rows, match.
        """
        for key in match:
            self._check_key(key)
        found = [row for row in self.rows
                 if all(row[key].text == text for key, text in match.items())]
        if len(found) != 1:
            raise NeuroplastError(f"{self.figure}: {len(found)} rows match {match}; give texts "
                                  "as printed that select exactly one row")
        return found[0]

    def cell(self, column: str, **match: str) -> PaperValue:
        """The value in ``column`` of the row selected by ``match`` (see :meth:`row`)."""
        self._check_key(column)
        return self.row(**match)[column]

    def _check_key(self, key: str) -> None:
        keys = [k for k, _ in self.columns]
        if key not in keys:
            raise NeuroplastError(f"{self.figure} has no column {key!r}; columns: {keys}")


def _resource(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def table_names() -> list[str]:
    """Names of the stored tables (``fig5``, ``fig6``, …), in figure order."""
    names = [p.name.removesuffix(".json") for p in resources.files(__name__).iterdir()
             if re.fullmatch(r"fig\d+\.json", p.name)]
    return sorted(names, key=lambda n: int(n[3:]))


def _normalise(name: str | int) -> str:
    digits = re.fullmatch(r"\s*(?:fig(?:ure)?\.?\s*)?0*(\d+)\s*", str(name), re.IGNORECASE)
    if digits is None:
        raise NeuroplastError(f"unknown paper table {name!r}; use e.g. 'fig5' or 5")
    return f"fig{digits.group(1)}"


def paper_table(name: str | int) -> PaperTable:
    """The paper's table for a figure: ``paper_table("fig5")``, ``paper_table(5)``, ``"Fig. 5"``.

    Raises:
        NeuroplastError: the paper has no numeric table for that figure.
    """
    key = _normalise(name)
    if key not in table_names():
        raise NeuroplastError(f"no stored table {key!r}; available: {', '.join(table_names())}")
    data = json.loads(_resource(f"{key}.json"))
    return PaperTable(
        figure=data["figure"],
        caption=data["caption"],
        context={k: PaperValue.from_json(v) for k, v in data["context"].items()},
        columns=tuple((c["key"], c["title"]) for c in data["columns"]),
        rows=tuple({k: PaperValue.from_json(v) for k, v in row.items()} for row in data["rows"]),
    )


@dataclass(frozen=True)
class ReferenceClaim:
    """One testable statement of REFERENCE §4: its number, bold title and full text."""

    id: int
    title: str
    text: str


def reference_claims() -> dict[int, ReferenceClaim]:
    """The 22 claims of REFERENCE §4, by number."""
    data = json.loads(_resource("claims.json"))
    return {c["id"]: ReferenceClaim(c["id"], c["title"], c["text"]) for c in data["claims"]}
