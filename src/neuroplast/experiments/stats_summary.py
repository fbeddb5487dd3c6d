"""Mean ± standard error over seeds, formatted like the paper, and paper-vs-ours table rows.

The paper reports "mean ± standard error of the mean" over its 28 (or 13–50) runs, e.g.
``0.97981 ± 0.00023``. We do the same: for values x_1 … x_n over seeds,

    mean = Σ x_s / n,    se = sqrt( Σ (x_s − mean)² / (n − 1) ) / sqrt(n),

and the standard error is undefined (None) for n = 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from neuroplast.experiments.paper_tables import PaperValue

MAX_AUTO_DECIMALS = 6


@dataclass(frozen=True)
class Summary:
    """Mean and standard error of one quantity over n seeds (``se`` is None when n = 1)."""

    mean: float
    se: float | None
    n: int

    def format(self, digits: int | None = None) -> str:
        """``"0.9784 ± 0.0002"``; see :func:`format_mean_se`."""
        return format_mean_se(self.mean, self.se, digits, n=self.n)


def summarize(values: Iterable[float]) -> Summary:
    """Mean and standard error of the mean of ``values`` (one per seed).

    Raises:
        ValueError: no values.
    """
    data = [float(v) for v in values]
    if not data:
        raise ValueError("cannot summarise an empty list of values")
    n = len(data)
    mean = math.fsum(data) / n
    if n == 1:
        return Summary(mean, None, 1)
    variance = math.fsum((x - mean) ** 2 for x in data) / (n - 1)
    return Summary(mean, math.sqrt(variance / n), n)


def auto_decimals(se: float | None, default: int = 4) -> int:
    """Decimals that show the standard error with two significant digits, as the paper does."""
    if se is None or not math.isfinite(se) or se <= 0:
        return default
    return max(0, min(MAX_AUTO_DECIMALS, 1 - math.floor(math.log10(se))))


def format_mean_se(mean: float, se: float | None, digits: int | None = None, *,
                   n: int | None = None) -> str:
    """``mean ± se`` with ``digits`` decimals (None: two significant digits of se).

    Examples: ``format_mean_se(0.97843, 0.00021, 4) == "0.9784 ± 0.0002"``;
    ``format_mean_se(0.97981, 0.00023) == "0.97981 ± 0.00023"``; with one seed the standard
    error is unknown: ``"0.6715 (n=1)"``.
    """
    decimals = auto_decimals(se) if digits is None else digits
    if not math.isfinite(mean):
        return str(mean)
    if se is None:
        return f"{mean:.{decimals}f}" + (f" (n={n})" if n is not None else "")
    return f"{mean:.{decimals}f} ± {se:.{decimals}f}"


def summarize_field(records: Sequence[dict[str, Any]], field: str) -> Summary:
    """Summary over records of ``record["result"][field]``."""
    return summarize(record["result"][field] for record in records)


def versus_paper(ours: Summary, paper: PaperValue) -> Summary:
    """ours − paper, with se(diff) = sqrt(se_ours² + se_paper²) (None with one seed).

    A missing printed error counts as 0. ``n`` is our number of seeds.
    """
    if paper.mean is None:
        raise ValueError(f"the paper's cell {paper.text!r} is not a number")
    se = None if ours.se is None else math.hypot(ours.se, paper.error or 0.0)
    return Summary(ours.mean - paper.mean, se, ours.n)


def format_difference(difference: Summary, digits: int | None = None) -> str:
    """A signed difference: ``"+0.0012 ± 0.0004"``, ``"-0.3051 (n=1)"``."""
    shown = difference.format(digits)
    return shown if shown.startswith("-") else "+" + shown


def paper_vs_ours_row(label: str, ours: Summary, paper: PaperValue | None,
                      digits: int | None = None) -> list[str]:
    """One table row: label, ours (mean ± se), the paper's printed value, ours − paper."""
    if paper is None or paper.mean is None:
        return [label, ours.format(digits), "—" if paper is None else paper.text, "—"]
    difference = versus_paper(ours, paper)
    if digits is None:
        digits = max(auto_decimals(difference.se), auto_decimals(ours.se))
    return [label, ours.format(digits), paper.text, format_difference(difference, digits)]


PAPER_VS_OURS_HEADERS = ("quantity", "ours (mean ± s.e.)", "paper", "ours − paper")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (cells as given, ``|`` escaped)."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
