"""The compression frontier's figure: accuracy vs kept width, and ours minus the best baseline.

Top row: training and test accuracy after pruning, our methods in colour with s.e. bars, every
baseline in grey (line style = its rule). Bottom row: each of our methods minus the best
baseline at that width (paired by seed, ± s.e.), clipped at −:data:`CLIP`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neuroplast.experiments.definitions.frontier_tables import (
    METRICS,
    Method,
    mean_se,
    metric_name,
    paired,
    values,
    winners,
)
from neuroplast.experiments.report import new_figure

OUR_STYLES = {
    "A1/connection": "tab:blue", "A2/connection": "tab:purple", "A3/covariance": "tab:green",
    "lstsq/covariance": "tab:red", "lstsq/connection": "tab:orange",
    "none/connection": "tab:brown", "lstsq/conditional": "tab:pink",
    "lstsq/conditional:greedy": "black",
}
BASELINE_LINES = {"none": "-", "A1": "--", "lstsq": ":"}
"""Line style of a baseline by its rule; a baseline's own rule (``obs``) is dash-dotted."""
CLIP = 0.1
"""The difference panels show at most this far below zero (A2 and none fall far lower)."""


def frontier_figure(records: Sequence[dict[str, Any]], methods: Sequence[Method],
                    widths: Sequence[int], width: int, site: str) -> Any | None:
    """The figure (a matplotlib ``Figure``), or None without matplotlib.

    Args:
        records: seed records (:mod:`~neuroplast.experiments.definitions.frontier_tables`).
        methods: the methods every record has.
        widths: kept widths.
        width: the unpruned width of the site.
        site: the site's name.
    """
    figure = new_figure(12, 9)
    if figure is None:
        return None
    from matplotlib.lines import Line2D

    full = [width, *sorted(widths, reverse=True)]
    axes = figure.subplots(2, 2, sharex=True)
    baselines = [m for m in methods if not m.ours]
    for column, metric in enumerate(METRICS):
        top, bottom = axes[0, column], axes[1, column]
        trained = mean_se([r["trained"][metric] for r in records])[0]
        for m in baselines:
            ys = [trained] + [mean_se(values(records, m.key, w, metric))[0] for w in full[1:]]
            top.plot(full, ys, color="0.55", lw=0.8, alpha=0.5,
                     ls=BASELINE_LINES.get(m.rule, "-."))
        rows = {row["width"]: row for row in winners(records, methods, widths, metric)}
        for m in methods:
            if not m.ours:
                continue
            colour = OUR_STYLES.get(m.key, "black")
            stats = [mean_se(values(records, m.key, w, metric)) for w in full[1:]]
            top.errorbar(full, [trained] + [s[0] for s in stats], [0] + [s[1] for s in stats],
                         color=colour, lw=2, marker="o", ms=4, capsize=3, label=m.label)
            if baselines:
                diffs = [paired(records, m.key, rows[w]["baseline_any"], w, metric)
                         for w in full[1:]]
                bottom.errorbar(full[1:], [d[0] for d in diffs], [d[1] for d in diffs],
                                color=colour, lw=2, marker="o", ms=4, capsize=3, label=m.label)
        bottom.axhline(0.0, color="0.3", lw=1)
        low, high = bottom.get_ylim()
        bottom.set_ylim(max(low, -CLIP), high)
        name = metric_name(metric)
        top.set_title(f"{name} accuracy after pruning {site} (no retraining)")
        top.set_ylabel("accuracy")
        top.grid(alpha=0.3)
        bottom.set_title(f"ours − best baseline at that width ({name}; paired ± s.e.; "
                         f"clipped at −{CLIP:g})", fontsize=10)
        bottom.set_ylabel("accuracy difference")
        bottom.set_xlabel(f"kept neurons of {site} (of {width})")
        bottom.grid(alpha=0.3)
    proxies = [Line2D([], [], color="0.55", ls=style, label=f"baseline ranking + {rule}")
               for rule, style in (BASELINE_LINES | {"own rule": "-."}).items()]
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles + proxies, labels + [p.get_label() for p in proxies],
                      fontsize=8, loc="lower left")
    figure.suptitle(f"N4 {site} compression frontier, {len(records)} seeds (mean ± s.e.)")
    return figure
