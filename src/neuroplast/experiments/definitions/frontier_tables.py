"""The compression frontier's summaries: paired margins, winners, verdicts and tables.

Everything here reads *seed records* — one dict per trained net, ``{"seed", "trained":
metrics, "results": {method key: {str(K): metrics}}, "orders": {measure: removal order}, ...}``
(the ``result`` of a ``compression-frontier`` run with its seed,
:func:`~neuroplast.experiments.definitions.compression_frontier.seed_records`) — and
:class:`Method` lists. Mean ± standard error over seeds is the sample s.d./√n (0 for one seed);
margins between two methods are paired by seed (same net).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RANKING_NAMES = {"connection": "E_k", "covariance": "E'_k", "conditional": "E^c_k",
                 "conditional:greedy": "E^c_k greedy"}
"""How the paper's rankings and ours are printed (others: the registry name)."""
METRICS = ("train_accuracy", "test_accuracy")


@dataclass(frozen=True)
class Method:
    """One (rule, measure) pair of the frontier.

    Attributes:
        rule: re-wiring rule (:data:`neuroplast.death.rules.RULES`).
        measure: efficiency measure that ranks the neurons (``name`` or ``name:argument``).
        ours: one of the paper's rankings or ours (E_k, E'_k, E^c_k) — as opposed to a
            baseline measure.
    """

    rule: str
    measure: str
    ours: bool

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.measure}"

    @property
    def ranking(self) -> str:
        """The measure as printed: E_k / E'_k / E^c_k for ours, else the registry name."""
        return RANKING_NAMES.get(self.measure, self.measure)

    @property
    def label(self) -> str:
        return f"{self.rule} / {self.ranking}"


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample s.d. / √n; 0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def common_methods(records: Sequence[dict[str, Any]], methods: Sequence[Method]) -> list[Method]:
    """The methods every record has (a measure skipped on some seed is left out)."""
    return [m for m in methods if all(m.key in r["results"] for r in records)]


def values(records: Sequence[dict[str, Any]], key: str, width: int, metric: str) -> list[float]:
    """One number per seed."""
    return [r["results"][key][str(width)][metric] for r in records]


def paired(records: Sequence[dict[str, Any]], a: str, b: str, width: int, metric: str,
           ) -> tuple[float, float]:
    """Mean ± s.e. over seeds of (method a − method b), paired by seed."""
    pa, pb = values(records, a, width, metric), values(records, b, width, metric)
    return mean_se([x - y for x, y in zip(pa, pb, strict=True)])


def best(records: Sequence[dict[str, Any]], methods: Sequence[Method], width: int,
         metric: str) -> Method:
    """The method with the highest mean (first listed on a tie)."""
    return max(methods, key=lambda m: mean_se(values(records, m.key, width, metric))[0])


def winners(records: Sequence[dict[str, Any]], methods: Sequence[Method],
            widths: Sequence[int], metric: str) -> list[dict[str, Any]]:
    """Per width: the winner, our best, the best baseline with ``none`` and with compensation.

    Margins are paired differences over seeds (mean ± s.e.) between the methods named. A
    baseline's own compensation (e.g. ``obs`` for ``obs:greedy``) counts as compensated.
    """
    ours = [m for m in methods if m.ours]
    plain = [m for m in methods if not m.ours and m.rule == "none"]
    compensated = [m for m in methods if not m.ours and m.rule != "none"]
    rows = []
    for width in widths:
        def mean(m: Method, width: int = width) -> float:
            return mean_se(values(records, m.key, width, metric))[0]
        ranked = sorted(methods, key=mean, reverse=True)
        row: dict[str, Any] = {"width": width, "winner": ranked[0].key,
                               "winner_mean": mean(ranked[0])}
        if len(ranked) > 1:
            row |= {"runner_up": ranked[1].key,
                    "winner_margin": paired(records, ranked[0].key, ranked[1].key, width,
                                            metric)}
        if ours:
            top = best(records, ours, width, metric)
            row |= {"ours": top.key, "ours_mean": mean(top)}
            for name, group in (("baseline_none", plain), ("baseline_compensated",
                                                             compensated)):
                if group:
                    other = best(records, group, width, metric)
                    row |= {name: other.key, f"{name}_mean": mean(other),
                            f"ours_minus_{name}": paired(records, top.key, other.key, width,
                                                         metric)}
            baselines = plain + compensated
            if baselines:
                other = best(records, baselines, width, metric)
                row |= {"baseline_any": other.key, "baseline_any_mean": mean(other),
                        "ours_minus_baseline_any": paired(records, top.key, other.key, width,
                                                          metric)}
        rows.append(row)
    return rows


def cell(pair: tuple[float, float], digits: int = 4) -> str:
    """``mean ± se``."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def signed(pair: tuple[float, float]) -> str:
    """``+mean ± se``."""
    return f"{pair[0]:+.4f} ± {pair[1]:.4f}"


def metric_name(metric: str) -> str:
    """``training`` or ``test``."""
    return "training" if metric == "train_accuracy" else "test"


def accuracy_table(records: Sequence[dict[str, Any]], methods: Sequence[Method],
                   widths: Sequence[int], metric: str, site: str = "hidden1",
                   width: int = 100) -> dict[str, Any]:
    """Method × width, mean ± s.e.; the best mean of each width in bold."""
    means = {(m.key, w): mean_se(values(records, m.key, w, metric)) for m in methods
             for w in widths}
    tops = {w: max(means[(m.key, w)][0] for m in methods) for w in widths}
    trained = mean_se([r["trained"][metric] for r in records])
    rows = [[f"unpruned ({width})", "-", "-", *[cell(trained)] * len(widths)]]
    for m in methods:
        cells = []
        for w in widths:
            text = cell(means[(m.key, w)])
            cells.append(f"**{text}**" if means[(m.key, w)][0] == tops[w] else text)
        rows.append(["ours" if m.ours else "baseline", m.ranking, m.rule, *cells])
    return {"title": f"{metric_name(metric)} accuracy after pruning {site} (mean ± s.e. over "
                     f"{len(records)} seeds; kept width in the header)",
            "headers": ["family", "ranking", "rule", *[f"K = {w}" for w in widths]],
            "rows": rows}


def winners_table(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The winner section as a table."""
    def name(key: str | None) -> str:
        if key is None:
            return "-"
        rule, measure = key.split("/", 1)
        return f"{rule} / {RANKING_NAMES.get(measure, measure)}"

    lines = []
    for row in rows:
        lines.append([
            row["width"], f"{name(row['winner'])} ({row['winner_mean']:.4f})",
            signed(row["winner_margin"]) + f" vs {name(row['runner_up'])}"
            if "winner_margin" in row else "-",
            f"{name(row.get('ours'))} ({row.get('ours_mean', math.nan):.4f})",
            f"{signed(row['ours_minus_baseline_none'])} vs {name(row['baseline_none'])} "
            f"({row['baseline_none_mean']:.4f})" if "baseline_none" in row else "-",
            f"{signed(row['ours_minus_baseline_compensated'])} vs "
            f"{name(row['baseline_compensated'])} ({row['baseline_compensated_mean']:.4f})"
            if "baseline_compensated" in row else "-",
        ])
    return {"title": f"winner per width, {metric_name(metric)} accuracy (margins: paired "
                     "difference over seeds, mean ± s.e.)",
            "headers": ["K", "winner (mean)", "winner − runner-up", "our best (mean)",
                        "our best − best baseline + none",
                        "our best − best baseline + A1/lstsq/obs"],
            "rows": lines}


def goal_verdicts(rows: Sequence[dict[str, Any]], metric: str, against: str = "baseline_any",
                  ) -> list[str]:
    """One line per width: is our best rule above the best baseline, and by how much.

    Args:
        rows: :func:`winners` rows.
        metric: the metric the rows are about.
        against: ``baseline_any`` (every baseline ranking with any rule), ``baseline_none``
            (as other tools run them) or ``baseline_compensated`` (with A1, lstsq or obs).
    """
    lines = []
    for row in rows:
        if against not in row:
            continue
        diff = row[f"ours_minus_{against}"]
        ok = row["ours_mean"] > row[f"{against}_mean"]
        clear = diff[0] > 2 * diff[1]
        verdict = ("**met**" + ("" if clear else " (but within 2 s.e.)")) if ok else "**FAILS**"
        lines.append(
            f"- K = {row['width']}, {metric.replace('_', ' ')}: {verdict} — our best "
            f"{row['ours']} {row['ours_mean']:.4f} vs best baseline {row[against]} "
            f"{row[f'{against}_mean']:.4f}; paired difference {signed(diff)}."
        )
    return lines


def identical_rankings(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Groups of measures that removed the same neurons in the same order on every seed.

    Such measures give identical rows (e.g. weight-norm and magnitude-l2-out rank by the same
    norm of the outgoing weights).
    """
    groups: dict[str, list[str]] = {}
    for name in records[0]["orders"]:
        if all(name in r["orders"] for r in records):
            key = json.dumps([r["orders"][name] for r in records])
            groups.setdefault(key, []).append(name)
    return [group for group in groups.values() if len(group) > 1]
