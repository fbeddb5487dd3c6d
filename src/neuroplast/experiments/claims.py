"""The claims table: each testable statement of REFERENCE §4 with our verdict and its statistic.

An experiment's report builds :class:`Claim` objects from its runs and renders them with
:func:`claims_table`. A verdict is one of *confirmed*, *not confirmed* or *inconclusive*, and
always comes with the statistic it rests on, so a reader can disagree with the threshold.

Two rules keep verdicts honest:

* with fewer than two seeds there is no standard error, so the verdict is *inconclusive*;
* runs made with a smoke-test protocol (``quick``: shortened, on a data subset) cannot confirm
  or refute the paper's numbers, so :func:`for_protocol` turns their verdicts into
  *inconclusive* while keeping the statistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from neuroplast.experiments.paper_tables import reference_claims
from neuroplast.experiments.stats_summary import Summary, markdown_table

SMOKE_TEST_PROTOCOLS = frozenset({"quick"})
"""Protocols whose runs can only be *inconclusive* about the paper's claims."""


class Verdict(StrEnum):
    """What our runs say about a claim."""

    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not confirmed"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Claim:
    """One row of a claims table.

    Attributes:
        id: the claim's number in REFERENCE §4 as text (``"6"``; ``"8a"`` for a part), or
            another short label for checks that are not §4 claims.
        text: the statement tested, in a few words.
        verdict: our verdict.
        statistic: the number(s) behind the verdict, e.g. ``"diff −0.0012 ± 0.0004 (n=28)"``.
    """

    id: str
    text: str
    verdict: Verdict
    statistic: str


def reference_claim_text(number: int) -> str:
    """The bold title of claim ``number`` of REFERENCE §4 (for :attr:`Claim.text`)."""
    return reference_claims()[number].title


Z = 1.96
"""Two-sided 95 % normal quantile: every verdict reads the interval ``mean ± Z · se``."""


def interval_sign(summary: Summary | None) -> int | None:
    """Where the 95 % interval ``mean ± Z · se`` lies: +1 above 0, −1 below 0, 0 across it;
    None without a value or a finite standard error (one seed)."""
    if summary is None or summary.se is None or not math.isfinite(summary.se):
        return None
    if summary.mean - Z * summary.se > 0:
        return 1
    return -1 if summary.mean + Z * summary.se < 0 else 0


def equivalence_verdict(difference: float, standard_error: float | None,
                        tolerance: float, z: float = Z) -> Verdict:
    """Whether ``difference`` (ours − paper) is within ``±tolerance``, at confidence ``z``.

    An interval test of practical equivalence: with the interval ``d ± z·se``,

    * confirmed: the whole interval lies inside ``[−tolerance, tolerance]``;
    * not confirmed: the whole interval lies outside it;
    * inconclusive: otherwise, or when the standard error is unknown (one seed) or not finite.
    """
    if standard_error is None or not math.isfinite(standard_error) or not math.isfinite(
            difference):
        return Verdict.INCONCLUSIVE
    low, high = difference - z * standard_error, difference + z * standard_error
    if -tolerance <= low and high <= tolerance:
        return Verdict.CONFIRMED
    if low > tolerance or high < -tolerance:
        return Verdict.NOT_CONFIRMED
    return Verdict.INCONCLUSIVE


def direction_verdict(difference: float, standard_error: float | None,
                      z: float = Z) -> Verdict:
    """Whether ``difference`` is positive, at confidence ``z``: a claim "a > b" tested on a − b.

    With the interval ``d ± z·se``: confirmed when it lies above 0, not confirmed when it lies
    below 0, inconclusive otherwise or when the standard error is unknown (one seed) or not
    finite. For "a < b" pass b − a.
    """
    if standard_error is None or not math.isfinite(standard_error) or not math.isfinite(
            difference):
        return Verdict.INCONCLUSIVE
    if difference - z * standard_error > 0:
        return Verdict.CONFIRMED
    if difference + z * standard_error < 0:
        return Verdict.NOT_CONFIRMED
    return Verdict.INCONCLUSIVE


def all_of(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict of a claim made of parts: confirmed if every part is, not confirmed if any
    part is not, inconclusive otherwise (and for no parts)."""
    verdicts = list(verdicts)  # a generator would be spent by the first test
    if verdicts and all(v is Verdict.CONFIRMED for v in verdicts):
        return Verdict.CONFIRMED
    if any(v is Verdict.NOT_CONFIRMED for v in verdicts):
        return Verdict.NOT_CONFIRMED
    return Verdict.INCONCLUSIVE


def for_protocol(claims: Sequence[Claim], protocol: str) -> list[Claim]:
    """Verdicts made *inconclusive* for smoke-test protocols (statistic kept, reason added)."""
    if protocol not in SMOKE_TEST_PROTOCOLS:
        return list(claims)
    return [replace(c, verdict=Verdict.INCONCLUSIVE,
                    statistic=f"{c.statistic} ({protocol} protocol: a smoke test)")
            for c in claims]


def claims_table(claims: Sequence[Claim]) -> str:
    """The claims as a Markdown table: claim, statement, verdict, statistic."""
    if not claims:
        return "_No claims of REFERENCE §4 are tested by this experiment._"
    rows = [[c.id, c.text, f"**{c.verdict.value}**", c.statistic] for c in claims]
    return markdown_table(("claim", "statement", "verdict", "statistic"), rows)


def claims_section(claims: Sequence[Claim], records: Sequence[dict[str, Any]],
                   intro: str = "") -> str:
    """The report's ``## Claims`` section: ``intro`` and the claims table, with verdicts made
    inconclusive when the records' protocol is a smoke test (:func:`for_protocol`)."""
    protocol = records[0]["spec"]["protocol"]
    return "## Claims\n\n" + intro + claims_table(for_protocol(claims, protocol))
