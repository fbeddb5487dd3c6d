"""The compression frontier: N4's ``hidden1`` pruned to 80, 60, 40, 20 neurons, no retraining.

For each seed, N4 (784 → 100 → 5 → 10) is trained with the fast protocol (5000 paper epochs,
all 60,000 training images; trained nets are cached under ``--models`` so a rerun skips
training). Then, for every method and every kept width K, a copy of the net is pruned to K
neurons of ``hidden1`` (``amount = 100 − K``, one shot, statistics and rankings from the full
training set) and its accuracy on the 60,000 training and 10,000 test images is recorded.

Methods (``rule/measure``):

* **ours**: the re-wiring rules with their default rankings — ``A1``, ``A2`` and ``none`` on
  E_k (eq. 28, ``connection``), ``A3`` and ``lstsq`` on E'_k (eq. 17, ``covariance``), and
  ``lstsq`` on E_k. ``none`` on E_k isolates the compensation (x_l → 0, plain slicing). And
  ``lstsq`` with the conditional efficiency E^c_k = (1/P_kk) Σ_i g_i w_ik², the cost of a
  removal under least-squares compensation (:mod:`neuroplast.efficiency.conditional`): as a
  static ranking (``conditional``) and as a greedy selection that scores the survivors again
  after every removal (``conditional:greedy``);
* **baselines**: every other registered measure that supports hidden sites (magnitude-*,
  n2ps*, nnsp at every level above ``hidden1``, random, weight-norm, zeng-yeung, taylor and the
  Torch-Pruning importances tp-*), each with rule ``none`` (what other tools do), ``A1`` (mean
  compensation) and ``lstsq`` (our best compensation on their ranking), so that the table
  separates the choice of neurons from the compensation.

How a pruning is computed. A measure's ranking does not depend on the rule or the width, and
one-shot removal (:func:`neuroplast.death.prune` with ``amount``) removes the ``amount`` least
efficient neurons one after another with the rule's :class:`~neuroplast.death.rules.Rewirer`.
So each measure is scored once per net, and each (rule, measure) pair removes neurons in that
order once, committing a copy of the net whenever the site reaches a kept width: the copy at
width K is exactly what ``prune(model, "hidden1", train, rule=..., measure=...,
amount=100 − K)`` returns (``tests/test_frontier.py`` checks it), at a fraction of the cost.
The greedy selection removes the cheapest neuron of the moment
(:meth:`~neuroplast.death.rules.Rewirer.cheapest`), one at a time, as ``prune`` does; its
first removals do not depend on the width either, so it is continued the same way.

Each finished seed is appended to a JSONL file beside the cached nets, so an interrupted run
resumes where it stopped; a stored seed that lacks a method added since is computed again.
Writes ``frontier.md`` (tables of mean ± s.e. over seeds, the winner at each width with paired
margins, protocol, commit and machine), ``frontier.json`` (every seed's numbers and removal
orders) and ``frontier.png`` into ``--out-dir``.

Usage::

    python -m benchmarks.frontier --seeds 0 1 2 3 4 5 6 7 8 9 --threads 1 \\
        --out-dir docs/benchmarks [--models ~/.cache/neuroplast/frontier-models]
    python -m benchmarks.frontier --quick        # 2 seeds, quick protocol, 2 widths, < 1 min
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.compare_rules_at_width import mean_se
from benchmarks.runner import (
    REPO_ROOT,
    format_markdown_table,
    load_benchmark_mnist,
    machine_description,
    trained_n4,
)
from neuroplast.data import Dataset, Split
from neuroplast.death.rules import Rewirer
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.baselines.nnsp import site_level, top_level
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP
from neuroplast.stats import collect_site_statistics
from neuroplast.train import evaluate_splits, get_protocol
from neuroplast.train.loop import restrict

SITE = "hidden1"
WIDTHS = (80, 60, 40, 20)
PAPER_EPOCHS = 5000.0
DEFAULT_SEEDS = tuple(range(10))
DEFAULT_MODELS = Path.home() / ".cache" / "neuroplast" / "frontier-models"
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"

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
"""Every baseline ranking is applied with each of these rules."""
PAPER_MEASURES = ("connection", "covariance", "conditional")
"""Registered measures that are ours (the paper's E_k, E'_k and our E^c_k), never baselines."""
EXCLUDED = {
    "n2ps-mean-inverted": "identical to n2ps-mean on a hidden site (the inversion applies to "
                          "the input site only)",
}
"""Registered measures left out, with the reason (printed in the report)."""
RANKING_NAMES = {"connection": "E_k", "covariance": "E'_k", "conditional": "E^c_k",
                 "conditional:greedy": "E^c_k greedy"}
METRICS = ("train_accuracy", "test_accuracy")


@dataclass(frozen=True)
class FrontierConfig:
    """What one frontier run computes (also the key that decides whether stored seeds resume).

    Attributes:
        protocol: training protocol of the nets (``fast``; ``quick`` in quick mode).
        paper_epochs: training length in the paper's epochs.
        widths: kept widths of ``hidden1``, each in [1, width − 1].
        measures: baseline measures to use, or None for every registered one
            (:func:`baseline_measures`).
    """

    protocol: str = "fast"
    paper_epochs: float = PAPER_EPOCHS
    widths: tuple[int, ...] = WIDTHS
    measures: tuple[str, ...] | None = None


QUICK = FrontierConfig(protocol="quick", widths=(60, 20),
                       measures=("magnitude-l2", "taylor", "random:0"))
QUICK_SEEDS = (0, 1)


@dataclass(frozen=True)
class Method:
    """One (rule, measure) pair of the frontier.

    Attributes:
        rule: re-wiring rule (:data:`neuroplast.death.rules.RULES`).
        measure: efficiency measure that ranks the neurons (``name`` or ``name:argument``).
        ours: one of the paper's rankings (E_k, E'_k) — as opposed to a baseline measure.
    """

    rule: str
    measure: str
    ours: bool

    @property
    def key(self) -> str:
        return f"{self.rule}/{self.measure}"

    @property
    def ranking(self) -> str:
        """The measure as printed: E_k / E'_k for the paper's, else the registry name."""
        return RANKING_NAMES.get(self.measure, self.measure)

    @property
    def label(self) -> str:
        return f"{self.rule} / {self.ranking}"


# -- which methods ---------------------------------------------------------------------------


def _expand(name: str, model: MLP, site: str) -> list[str]:
    """The variants of a registered measure used here: nnsp at each usable level, random:0."""
    if name == "nnsp":
        return [f"nnsp:{level}" for level in range(site_level(model, site) + 2,
                                                   top_level(model) + 1)]
    if name == "random":
        return ["random:0"]
    return [name]


def baseline_measures(model: MLP, site: str = SITE) -> list[str]:
    """Every registered measure except the paper's and :data:`EXCLUDED`, arguments expanded."""
    names: list[str] = []
    for measure in MEASURES:
        if measure.name in PAPER_MEASURES or measure.name in EXCLUDED:
            continue
        names += _expand(measure.name, model, site)
    return names


def methods_for(measures: Sequence[str]) -> list[Method]:
    """Our pairs, then each baseline measure with every rule of :data:`BASELINE_RULES`."""
    methods = [Method(rule, measure, ours=True) for rule, measure in OUR_METHODS]
    methods += [Method(rule, measure, ours=False)
                for measure in measures for rule in BASELINE_RULES]
    return methods


# -- the core: one trained net, every method, every width -------------------------------------


def _metrics(model: MLP, train_split: Split, test_split: Split) -> dict[str, float]:
    return evaluate_splits(model, train_split, test_split)


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


def frontier(model: MLP, train_split: Split, test_split: Split, widths: Sequence[int],
             measures: Sequence[str], site: str = SITE) -> dict[str, Any]:
    """Prune copies of ``model`` to every kept width with every method; no retraining.

    Statistics (with the covariance) and every measure's scores are computed once from
    ``train_split``; each (rule, measure) pair removes the neurons in ascending score order
    (stable argsort, as :func:`neuroplast.death.prune`) and commits a copy at each width.

    Args:
        model: the trained net (not modified).
        train_split: data for statistics, rankings and the training accuracy.
        test_split: data for the test accuracy.
        widths: kept widths of ``site``.
        measures: baseline measure names (:func:`baseline_measures`).
        site: the site pruned.

    Returns:
        ``{"width": n, "trained": metrics, "results": {key: {str(K): metrics | width}},
        "orders": {measure: removal order}, "skipped": {measure: reason}}``, where a
        measure that raised :class:`NeuroplastError` (e.g. Torch-Pruning not installed) is
        skipped with its message. A greedy measure's order is the one it removed.
    """
    width = model.site(site).width
    widths = check_widths(widths, width)
    stats = collect_site_statistics(model, site, train_split.x, covariance=True)
    scores: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    for name in dict.fromkeys([m for _, m in OUR_METHODS] + list(measures)):
        try:
            scores[name] = efficiency(name, model, site, stats, train_split)  # (n,)
        except NeuroplastError as error:
            skipped[name] = str(error)
    orders = {name: torch.argsort(s, stable=True) for name, s in scores.items()}  # (n,) each
    results: dict[str, dict[str, dict[str, float]]] = {}
    for method in methods_for(measures):
        if method.measure not in orders:
            continue
        greedy = is_greedy(method.measure)
        order = orders[method.measure]
        rewirer = Rewirer(model, site, stats, method.rule)
        removed = 0
        per_width: dict[str, dict[str, float]] = {}
        for kept in widths:  # largest first: each width continues the previous removals
            if greedy:  # the cheapest neuron now, one at a time, as prune() does; the
                # measure's stored order becomes the order it removed (rule lstsq only)
                for position in range(removed, width - kept):
                    order[position] = rewirer.cheapest()[0]
                    rewirer.remove(int(order[position]))
            else:
                rewirer.remove_many(order[removed : width - kept])
            removed = width - kept
            pruned = copy.deepcopy(model)
            rewirer.commit(pruned)
            per_width[str(kept)] = _metrics(pruned, train_split, test_split) | {
                "width": pruned.site(site).width}
        results[method.key] = per_width
    return {"width": width, "trained": _metrics(model, train_split, test_split),
            "results": results, "skipped": skipped,
            "orders": {name: order[: width - min(widths)].tolist()
                       for name, order in orders.items()}}


# -- one seed, with the model cache ---------------------------------------------------------


def run_seed(dataset: Dataset, seed: int, config: FrontierConfig, models: Path | None,
             ) -> dict[str, Any]:
    """Train (or load) one N4 and compute its frontier; returns the seed's record."""
    started = time.perf_counter()
    cache = None if models is None else \
        models / f"n4-{config.protocol}-{config.paper_epochs:g}-seed{seed}.pt"
    model, train_seconds = trained_n4(dataset.train, seed=seed, protocol=config.protocol,
                                      paper_epochs=config.paper_epochs, cache=cache)
    measures = config.measures if config.measures is not None else baseline_measures(model)
    train_split = restrict(dataset.train, get_protocol(config.protocol))
    record = frontier(model, train_split, dataset.test, config.widths, measures)
    return {"seed": seed, "config": config_key(config), "train_seconds": train_seconds,
            "seconds": time.perf_counter() - started, "train_examples": train_split.n,
            "measures": list(measures)} | record


def missing_methods(record: dict[str, Any]) -> list[str]:
    """Keys of the methods the current code computes for ``record``'s measures but it lacks.

    A record written before a method was added lacks it; :func:`run` computes such a seed again
    rather than leaving the method out of the summary.
    """
    return [m.key for m in methods_for(record.get("measures", []))
            if m.measure not in record.get("skipped", {}) and m.key not in record["results"]]


def config_key(config: FrontierConfig) -> dict[str, Any]:
    """The config as stored (lists, not tuples), so it compares equal after a JSON round trip."""
    return json.loads(json.dumps(asdict(config)))


def read_records(path: Path, config: FrontierConfig) -> dict[int, dict[str, Any]]:
    """Seed → record from a JSONL file, keeping only records of ``config`` (the last wins)."""
    records: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return records
    key = config_key(config)
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted write
        if isinstance(record, dict) and record.get("config") == key:
            records[int(record["seed"])] = record
    return records


# -- summaries ------------------------------------------------------------------------------


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

    Margins are paired differences over seeds (mean ± s.e.) between the methods named.
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


def _cell(pair: tuple[float, float], digits: int = 4) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def _signed(pair: tuple[float, float]) -> str:
    return f"{pair[0]:+.4f} ± {pair[1]:.4f}"


def accuracy_table(records: Sequence[dict[str, Any]], methods: Sequence[Method],
                   widths: Sequence[int], metric: str) -> dict[str, Any]:
    """Method × width, mean ± s.e.; the best mean of each width in bold."""
    means = {(m.key, w): mean_se(values(records, m.key, w, metric)) for m in methods
             for w in widths}
    tops = {w: max(means[(m.key, w)][0] for m in methods) for w in widths}
    trained = mean_se([r["trained"][metric] for r in records])
    rows = [["unpruned (100)", "-", "-", *[_cell(trained)] * len(widths)]]
    for m in methods:
        cells = []
        for w in widths:
            text = _cell(means[(m.key, w)])
            cells.append(f"**{text}**" if means[(m.key, w)][0] == tops[w] else text)
        rows.append(["ours" if m.ours else "baseline", m.ranking, m.rule, *cells])
    title = "training" if metric == "train_accuracy" else "test"
    return {"title": f"{title} accuracy after pruning hidden1 (mean ± s.e. over "
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
            _signed(row["winner_margin"]) + f" vs {name(row['runner_up'])}"
            if "winner_margin" in row else "-",
            f"{name(row.get('ours'))} ({row.get('ours_mean', math.nan):.4f})",
            f"{_signed(row['ours_minus_baseline_none'])} vs {name(row['baseline_none'])} "
            f"({row['baseline_none_mean']:.4f})" if "baseline_none" in row else "-",
            f"{_signed(row['ours_minus_baseline_compensated'])} vs "
            f"{name(row['baseline_compensated'])} ({row['baseline_compensated_mean']:.4f})"
            if "baseline_compensated" in row else "-",
        ])
    title = "training" if metric == "train_accuracy" else "test"
    return {"title": f"winner per width, {title} accuracy (margins: paired difference over "
                     "seeds, mean ± s.e.)",
            "headers": ["K", "winner (mean)", "winner − runner-up", "our best (mean)",
                        "our best − best baseline + none", "our best − best baseline + A1/lstsq"],
            "rows": lines}


def goal_verdicts(rows: Sequence[dict[str, Any]], metric: str, against: str = "baseline_any",
                  ) -> list[str]:
    """One line per width: is our best rule above the best baseline, and by how much.

    Args:
        rows: :func:`winners` rows.
        metric: the metric the rows are about.
        against: ``baseline_any`` (every baseline ranking with any rule), ``baseline_none``
            (as other tools run them) or ``baseline_compensated`` (with A1 or lstsq).
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
            f"{row[f'{against}_mean']:.4f}; paired difference {_signed(diff)}."
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


# -- the figure -----------------------------------------------------------------------------

_OUR_STYLES = {
    "A1/connection": "tab:blue", "A2/connection": "tab:purple", "A3/covariance": "tab:green",
    "lstsq/covariance": "tab:red", "lstsq/connection": "tab:orange",
    "none/connection": "tab:brown", "lstsq/conditional": "tab:pink",
    "lstsq/conditional:greedy": "black",
}
_BASELINE_LINES = {"none": "-", "A1": "--", "lstsq": ":"}
CLIP = 0.1
"""The difference panels show at most this far below zero (A2 and none fall far lower)."""


def plot(records: Sequence[dict[str, Any]], methods: Sequence[Method], widths: Sequence[int],
         path: Path) -> None:
    """Accuracy vs kept width (top: train, test) and our rules minus the best baseline (bottom).

    Our rules in colour with s.e. bars; every baseline in grey (line style = its rule).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    full = [100, *sorted(widths, reverse=True)]
    figure, axes = plt.subplots(2, 2, figsize=(12, 9), sharex=True)
    baselines = [m for m in methods if not m.ours]
    for column, metric in enumerate(METRICS):
        top, bottom = axes[0, column], axes[1, column]
        trained = mean_se([r["trained"][metric] for r in records])[0]
        for m in baselines:
            ys = [trained] + [mean_se(values(records, m.key, w, metric))[0]
                              for w in full[1:]]
            top.plot(full, ys, color="0.55", lw=0.8, alpha=0.5, ls=_BASELINE_LINES[m.rule])
        rows = {row["width"]: row for row in winners(records, methods, widths, metric)}
        for m in methods:
            if not m.ours:
                continue
            colour = _OUR_STYLES.get(m.key, "black")
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
        name = "training" if metric == "train_accuracy" else "test"
        top.set_title(f"{name} accuracy after pruning hidden1 (no retraining)")
        top.set_ylabel("accuracy")
        top.grid(alpha=0.3)
        bottom.set_title(f"ours − best baseline at that width ({name}; paired ± s.e.; "
                         f"clipped at −{CLIP:g})", fontsize=10)
        bottom.set_ylabel("accuracy difference")
        bottom.set_xlabel("kept neurons of hidden1 (of 100)")
        bottom.grid(alpha=0.3)
    proxies = [Line2D([], [], color="0.55", ls=style, label=f"baseline ranking + {rule}")
               for rule, style in _BASELINE_LINES.items()]
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, 0].legend(handles + proxies, labels + [p.get_label() for p in proxies],
                      fontsize=8, loc="lower left")
    figure.suptitle(f"N4 hidden1 compression frontier, {len(records)} seeds (mean ± s.e.)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# -- the report -----------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summarise(records: Sequence[dict[str, Any]], config: FrontierConfig, dataset: Dataset,
              command: str) -> dict[str, Any]:
    """The benchmark dict (``runner`` row format) plus tables, winners and every record."""
    measures = list(dict.fromkeys(m for r in records for m in r["measures"]))
    methods = common_methods(records, methods_for(measures))
    widths = sorted(config.widths, reverse=True)
    skipped = {name: reason for r in records for name, reason in r["skipped"].items()}
    result_rows, tables, verdicts, plain_verdicts, winner_rows = [], [], [], [], {}
    for metric in METRICS:
        tables.append(accuracy_table(records, methods, widths, metric))
    for metric in METRICS:
        rows = winners(records, methods, widths, metric)
        winner_rows[metric] = rows
        tables.append(winners_table(rows, metric))
        verdicts += goal_verdicts(rows, metric)
        plain_verdicts += goal_verdicts(rows, metric, "baseline_none")
        for row in rows:
            if "baseline_any" not in row:
                continue
            result_rows.append({
                "name": f"N4 hidden1 kept {row['width']}: our best ({row['ours']}) vs best "
                        f"baseline ({row['baseline_any']}), {metric.replace('_', ' ')}",
                "value": row["ours_mean"], "unit": "accuracy",
                "reference": row["baseline_any_mean"],
                "reference_name": f"best baseline ranking with any rule: {row['baseline_any']}",
                "ratio": row["ours_mean"] / row["baseline_any_mean"], "goal": "> 1",
                "note": f"paired difference {_signed(row['ours_minus_baseline_any'])} over "
                        f"{len(records)} seeds",
            })
    notes = [
        f"Protocol: N4 (784-100-5-10, tanh) trained with the `{config.protocol}` protocol "
        f"({json.dumps(get_protocol(config.protocol).as_dict())}) for "
        f"{config.paper_epochs:g} paper epochs; {records[0]['train_examples']:,} training "
        f"images ({dataset.source}), {dataset.test.n:,} test images. hidden1 pruned to each "
        f"kept width K with amount = 100 − K, one shot, from one set of statistics over the "
        f"training images; no retraining. Seeds: {[r['seed'] for r in records]}.",
        "Every baseline ranking is also run with A1 and lstsq compensation: the three rows of "
        "one ranking remove the same neurons, so their differences are the compensation's. "
        "A1 is the paper's compensation and lstsq ours, so a baseline ranking that wins only "
        "with A1 or lstsq means that ranking picks better neurons for our compensation, not "
        "that a baseline tool (which slices: rule none) does better.",
        "E^c_k = (1/P_kk) Σ_i g_i w_ik² (ours, `neuroplast.efficiency.conditional`) is what "
        "removing neuron k costs under lstsq compensation: the variance of x_k given its "
        "layer-mates (P = C⁻¹) times eq. 28's consumer weights. `E^c_k` ranks once; `E^c_k "
        "greedy` (`conditional:greedy`) removes the cheapest neuron, lets lstsq re-wire the "
        "consumer and downdate P, scores the survivors again and repeats.",
    ]
    notes += [f"Measure left out: `{name}` — {why}." for name, why in EXCLUDED.items()
              if config.measures is None]
    notes += [f"Measure skipped: `{name}` — {why}" for name, why in skipped.items()]
    same = identical_rankings(records)
    if same:
        notes.append("Identical rankings on every seed (so identical rows): " + "; ".join(
            " = ".join(f"`{name}`" for name in group) for group in same) + ".")
    return {
        "rows": result_rows, "tables": tables, "notes": notes, "goal": verdicts,
        "goal_vs_none": plain_verdicts,
        "winners": winner_rows, "command": command, "config": config_key(config),
        "methods": [asdict(m) | {"key": m.key} for m in methods],
        "summary": {m.key: {str(w): {metric: mean_se(values(records, m.key, w, metric))
                                     for metric in METRICS} for w in widths}
                    for m in methods},
        "commit": _git("rev-parse", "HEAD"), "describe": _git("describe", "--always", "--dirty"),
        "machine": machine_description(), "data": dataset.source,
        "records": list(records),
    }


def markdown(report: dict[str, Any]) -> str:
    """``frontier.md``: protocol, goal verdict, winners, tables, figure, machine."""
    machine = report["machine"]
    config = report["config"]
    quick = config["protocol"] == "quick"
    lines = [
        "# Compression frontier: N4 hidden1 pruned without retraining"
        + (" (quick mode)" if quick else ""),
        "",
        f"Generated by `{report['command']}` on {machine['date_utc']} UTC, neuroplast commit "
        f"`{report['commit']}` (`git describe`: `{report['describe']}`).",
        "",
        *[f"{note}\n" for note in report["notes"]],
        "Margins are paired differences over seeds (same net, two methods), mean ± standard "
        "error (sample s.d./√n). Winners are chosen by mean over the same seeds, so a margin "
        "within about 2 s.e. is not a clear win.",
        "",
        "## Goal: our best rule above every baseline at every width",
        "",
        "Against every baseline ranking with any rule (none, A1 or lstsq — the strict reading):",
        "",
        *report["goal"],
        "",
        "Against every baseline as other tools run it (its ranking, neurons sliced: rule none):",
        "",
        *report["goal_vs_none"],
        "",
    ]
    tables = report["tables"]
    for table in tables[2:] + tables[:2]:
        lines += [f"## {table['title'][0].upper()}{table['title'][1:]}", "",
                  format_markdown_table(table["headers"], table["rows"]), ""]
    figure = report.get("figures", [])
    for name in figure:
        lines += [f"![{name}]({name})", ""]
    seconds = [r["seconds"] for r in report["records"]]
    trained = [r["train_seconds"] for r in report["records"] if r["train_seconds"] > 0]
    lines += [
        "## Run",
        "",
        f"Per seed: {sum(seconds) / len(seconds):.1f} s on average (training included when "
        f"not cached{'' if not trained else f'; training {sum(trained) / len(trained):.1f} s'}"
        f"). Pruning is computed as described in `benchmarks/frontier.py`'s docstring "
        "(each ranking scored once, each rule's removals continued from one width to the next: "
        "identical to `neuroplast.death.prune(..., amount=100 − K)`).",
        "",
        "## Machine",
        "",
        format_markdown_table(["property", "value"], [[k, v] for k, v in machine.items()]),
        "",
    ]
    return "\n".join(lines)


def _rounded(value: Any, digits: int = 6) -> Any:
    """Floats rounded to ``digits`` decimals (an accuracy k/N stays exact for N < 10⁶)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v, digits) for v in value]
    return value


def write(report: dict[str, Any], records: Sequence[dict[str, Any]], out_dir: Path,
          stem: str) -> None:
    """``<stem>.md``, ``<stem>.json`` and ``<stem>.png`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = [Method(m["rule"], m["measure"], m["ours"]) for m in report["methods"]]
    plot(records, methods, report["config"]["widths"], out_dir / f"{stem}.png")
    report["figures"] = [f"{stem}.png"]
    head = json.dumps(_rounded({k: v for k, v in report.items() if k != "records"}), indent=1)
    body = ",\n".join(json.dumps(_rounded(r)) for r in report["records"])  # one line a seed
    (out_dir / f"{stem}.json").write_text(f'{head[:-2]},\n "records": [\n{body}\n ]\n}}\n')
    (out_dir / f"{stem}.md").write_text(markdown(report) + a2_section(out_dir, stem))


def a2_section(out_dir: Path, stem: str) -> str:
    """The A2 singular-value table of :mod:`benchmarks.a2_rank` (``a2_rank.md`` beside the
    report, when there), appended to ``frontier.md`` to say why A2's rows are at chance."""
    table = out_dir / "a2_rank.md"
    return "\n" + table.read_text() if stem == "frontier" and table.is_file() else ""


# -- entry points ---------------------------------------------------------------------------


def run(quick: bool = False, out_dir: Path | None = None, *, seeds: Sequence[int] | None = None,
        models: Path | None = None, threads: int | None = None, command: str | None = None,
        ) -> dict[str, Any]:
    """Compute the frontier over seeds; write the report into ``out_dir`` when given.

    Args:
        quick: 2 seeds, the quick protocol (6,000 training images), widths 60 and 20, three
            baseline measures, no cache — a smoke test of the whole path (< 1 min).
        out_dir: where ``frontier.md/.json/.png`` go (``frontier-quick.*`` in quick mode).
        seeds: training seeds (default 0–9; 0, 1 in quick mode).
        models: folder of cached nets and of the per-seed JSONL (default
            :data:`DEFAULT_MODELS`; none in quick mode).
        threads: ``torch.set_num_threads`` before anything runs.
        command: the command line recorded in the report.

    Returns:
        The report: ``rows`` (runner format: our best vs the best baseline per width and
        metric, goal ``> 1``), ``tables``, ``winners``, ``goal``, ``records`` and more.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    config = QUICK if quick else FrontierConfig()
    seeds = list(seeds if seeds is not None else (QUICK_SEEDS if quick else DEFAULT_SEEDS))
    if not quick and models is None:
        models = DEFAULT_MODELS
    dataset = load_benchmark_mnist()
    journal = None if models is None else models / f"frontier-{config.protocol}.jsonl"
    stored = {} if journal is None else read_records(journal, config)
    if models is not None:
        models.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        if seed in stored:
            missing = missing_methods(stored[seed])
            if not missing:
                continue
            print(f"seed {seed}: the stored record lacks {', '.join(missing)}; computing it "
                  "again", file=sys.stderr, flush=True)
        record = run_seed(dataset, seed, config, models)
        stored[seed] = record
        print(f"seed {seed}: {record['seconds']:.1f} s (training {record['train_seconds']:.1f} "
              "s)", file=sys.stderr, flush=True)
        if journal is not None:
            with journal.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
    records = [stored[seed] for seed in seeds]
    command = command or ("python -m benchmarks.frontier" + (" --quick" if quick else ""))
    report = summarise(records, config, dataset, command)
    if out_dir is not None:
        write(report, records, out_dir, "frontier-quick" if quick else "frontier")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frontier",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, quick protocol, 2 widths, 3 measures (< 1 min)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="training seeds (default 0..9; 0 1 with --quick)")
    parser.add_argument("--models", type=Path, default=None,
                        help=f"cache of trained nets and per-seed results (default "
                             f"{DEFAULT_MODELS}; keep it outside the repository)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"where frontier.md/.json/.png go (default {DEFAULT_OUT_DIR})")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.frontier " + " ".join(sys.argv[1:] if argv is None
                                                          else argv)
    report = run(args.quick, args.out_dir, seeds=args.seeds, models=args.models,
                 threads=args.threads, command=command.strip())
    for table in report["tables"][2:]:
        print(table["title"])
        for row in table["rows"]:
            print("  " + " | ".join(str(c) for c in row))
    print("\n".join(report["goal"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
