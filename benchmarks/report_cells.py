"""The paper cells of a summary report: each ``ours − paper`` difference with its combined
standard error, as ``neuroplast reproduce`` prints it, and the claims table's verdicts.

Read by the fidelity study (:mod:`benchmarks.fidelity`, arms compared cell by cell) and by
:mod:`benchmarks.cell_counts` (every experiment of a results folder counted). A cell agrees
with the paper when the difference is within :data:`WITHIN` combined standard errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

WITHIN = 2.0
"""A paper cell agrees when |ours − paper| ≤ WITHIN × combined s.e."""
DIFFERENCE_HEADER = "ours − paper"
"""The header of the columns :func:`neuroplast.experiments.stats_summary.paper_vs_ours_row`
fills."""
PAPER_HEADER = "paper"

_DIFFERENCE = re.compile(r"^([+-]?\d+(?:\.\d*)?) ± (\d+(?:\.\d*)?)$")
_VERDICT = re.compile(r"\*\*(confirmed|not confirmed|inconclusive)\*\*")


def within(difference: float, se: float | None) -> bool:
    """Whether |ours − paper| is within :data:`WITHIN` combined standard errors (a missing s.e.,
    one seed, counts as 0)."""
    return abs(difference) <= WITHIN * (se or 0.0)


@dataclass(frozen=True)
class Cell:
    """One ``ours − paper`` cell of a report."""

    experiment: str
    quantity: str
    difference: float
    se: float

    @property
    def agrees(self) -> bool:
        return within(self.difference, self.se)

    @property
    def key(self) -> tuple[str, str]:
        """(experiment, quantity): the same paper cell across arms."""
        return self.experiment, self.quantity

    @property
    def z(self) -> float:
        """(ours − paper) / combined s.e.: signed distance in standard errors."""
        if self.se > 0:
            return self.difference / self.se
        return 0.0 if self.difference == 0 else math.copysign(math.inf, self.difference)


def halves_gap(reference: Cell, other: Cell) -> bool:
    """Whether ``other``'s |ours − paper| is at most half of ``reference``'s: a move towards the
    paper that a wider standard error alone (fewer seeds) cannot make."""
    return abs(other.difference) <= abs(reference.difference) / 2


def paper_cells(summary: str, experiment: str) -> list[Cell]:
    """Every row of every table in ``summary`` whose ``ours − paper`` cell prints a difference
    with a standard error (rows without the paper's number or with one seed are skipped).

    A cell is named by the headings above its table below the title (``## … / ### …``) and
    its row's labels (the columns before the first value, e.g. ``B1 / After 10 epochs
    retraining``), so tables with the same subtitle under different figures stay apart; a
    table with several ``ours − paper`` columns adds the quantity each compares (the nearest
    header to its left that is neither ``paper`` nor another difference, e.g.
    ``peaked_at_1``); a name that still repeats gets ``#2``, ``#3``, … (each cell is compared
    across arms by its name). A row the paper's table prints more than once (replication-shift's
    pre-replication row under each method) counts once per printing, as the paper's tables do.
    """
    cells, layout, path = [], None, []
    seen: dict[str, int] = {}
    for line in summary.splitlines():
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            path = path[: max(level - 2, 0)] + ([line.lstrip("#").strip()] if level > 1 else [])
        if not line.startswith("|"):
            layout = None
            continue
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        if layout is None:
            layout = _TableLayout.of(parts)
            continue
        if set(parts[0]) <= {"-"}:
            continue
        row = " / ".join(parts[: layout.labels])
        for column, quantity in layout.differences.items():
            match = _DIFFERENCE.match(parts[column]) if column < len(parts) else None
            if match:
                name = f"{' / '.join(path)}: {row}{quantity}"
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name += f" #{seen[name]}"
                cells.append(Cell(experiment, name, float(match.group(1)),
                                  float(match.group(2))))
    return cells


@dataclass(frozen=True)
class _TableLayout:
    """Where a summary table keeps its row labels and its ``ours − paper`` columns."""

    labels: int
    """How many leading columns label a row: those before the value left of the first
    ``paper`` column (1 when there is none)."""
    differences: dict[int, str]
    """Index of each ``ours − paper`` column → the suffix naming what it compares (empty for a
    table with one such column, so single-column names stay short)."""

    @classmethod
    def of(cls, header: list[str]) -> _TableLayout:
        labels = max(header.index(PAPER_HEADER) - 1, 1) if PAPER_HEADER in header else 1
        found = [i for i, h in enumerate(header) if h == DIFFERENCE_HEADER]
        if len(found) < 2:
            return cls(labels, dict.fromkeys(found, ""))
        named = {}
        for i in found:
            label = next((h for h in reversed(header[:i])
                          if h not in (PAPER_HEADER, DIFFERENCE_HEADER)), "")
            named[i] = f" ({label.removesuffix(': ours') or f'column {i + 1}'})"
        return cls(labels, named)


def claim_verdicts(summary: str) -> dict[str, str]:
    """claim id → verdict, from the report's claims table; an id on several rows (a claim
    tested per network) gets ``#2``, ``#3``, … in the order of the rows."""
    verdicts, inside = {}, False
    seen: dict[str, int] = {}
    for line in summary.splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Claims"
        if inside and line.startswith("| ") and not line.startswith("| claim "):
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            found = _VERDICT.search(line)
            if found and len(parts) > 2:
                seen[parts[0]] = seen.get(parts[0], 0) + 1
                key = parts[0] if seen[parts[0]] == 1 else f"{parts[0]} #{seen[parts[0]]}"
                verdicts[key] = found.group(1)
    return verdicts


def agreement(cells: Iterable[Cell]) -> tuple[int, int]:
    """(cells within 2 combined s.e., cells)."""
    cells = list(cells)
    return sum(c.agrees for c in cells), len(cells)
