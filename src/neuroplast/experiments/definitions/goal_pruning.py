"""goal-pruning: A1 pruning of N4's second layer with an accuracy goal (paper §5.2, Fig. 6).

The paper trains 28 N4 nets for 5000 epochs and removes second-layer (``hidden1``) neurons one
at a time, least efficient first (connection-cut E_k, eq. 28, A1 re-wiring), while the
*training* accuracy stays ≥ the goal; the removal that breaks the goal is undone (REFERENCE
§1.13(b)). Then five times: retrain 500 epochs and prune again with the same goal. Goals 0.97
and 0.95.

Claim 7 compares this with cutoff pruning (Fig. 5) at equal accuracy; the paper pairs ε = 0.1
(one retraining) with the goal 0.97 after five retrainings, and ε = 0.2 with 0.95. So that the
comparison is paired per seed, each run also runs the cutoff chains of Fig. 5 (prune ε →
retrain 500 → prune ε, as cutoff-pruning does) on copies of the same trained net. Our
efficiencies need not have the paper's scale (our trained nets' largest E_k differs), so besides
the paper's pairs the report compares each goal chain with the *accuracy-matched* cutoff chain
of the same seed: the one with the fewest neurons among those whose accuracy is at least the
goal chain's final accuracy (no tolerance: a cutoff chain allowed to be less accurate could be
smaller for that reason alone).

One run = one seed. Decisions:

* the ranking is computed once per pruning from one set of statistics (REFERENCE §1.15 item 10
  leaves it open) and each candidate removal is evaluated on cached activations
  (``neuroplast.death.strategies``); "accuracy before/after pruning" are those cached
  training accuracies, and the model's own evaluation after pruning is recorded beside them;
* iteration time: row 1 = pruning only; rows 2–6 = retraining wall time + pruning (as the
  paper's, whose first row is pruning only). Evaluations are not timed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuroplast.data import Split
from neuroplast.death import prune_cycles
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    all_of,
    claims_section,
    reference_claim_text,
)
from neuroplast.experiments.definitions.cutoff_pruning import (
    PAPER_CUTOFFS,  # Fig. 5's cutoffs: the cutoff chains run beside the goal chains
)
from neuroplast.experiments.definitions.pruning_common import (
    TIMING_NOTE,
    below,
    cutoff_cycles,
    format_seconds,
    format_summary,
    number,
    ours_vs_paper_table,
    paired,
    paper_cell,
    per_seed,
    retrain_checkpoints,
    smaller_at_equal_accuracy,
    summarize_rows,
    timing_row,
    train_base,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import PaperTable, paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER
from neuroplast.experiments.stats_summary import (
    PAPER_VS_OURS_HEADERS,
    markdown_table,
    paper_vs_ours_row,
    summarize,
    summarize_field,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP
from neuroplast.train import Protocol, restrict

PAPER_GOALS = (0.97, 0.95)
PAPER_PAIRED_CUTOFFS = (0.1, 0.2)
"""The cutoff whose chain the paper compares with each goal (claim 7)."""
PAPER_CYCLES = 6
"""Fig. 6: the initial pruning plus five (retrain 500 + prune) iterations."""
QUICK_GOALS = (0.6,)
"""Smoke test: quick nets reach ≈ 0.7 training accuracy, so a goal they can keep."""
QUICK_CUTOFFS = (0.01, 0.03)
QUICK_PAIRED_CUTOFFS = (0.03,)
QUICK_CYCLES = 2
SITE = "hidden1"
SIZE_SLACK = 1.0
"""Claim 7: "smaller or equal" allows the cutoff net up to one neuron more (interval bound)."""
ACCURACY_TOLERANCE = 0.005
"""Claim 7: the paper's own pair counts as "equal accuracy" within this (shown, not tested);
the tested comparison matches accuracy exactly (cutoff chain ≥ goal chain)."""
PAPER_CLAIM_7 = {0.97: ("43", "44", "76", "468"), 0.95: ("21", "29", "56", "407")}
"""The paper's claim 7 numbers per goal: neurons (cutoff, goal), seconds (cutoff, goal)."""
QUANTITIES = (
    ("accuracy_before_pruning", "Accuracy before pruning", 5),
    ("accuracy_after_pruning", "Accuracy after pruning", 5),
    ("remaining_neurons", "Number of remaining neurons after iteration", 1),
)


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    smoke = protocol.name in SMOKE_TEST_PROTOCOLS
    return [{"arch": "N4", "site": SITE, "rule": "A1", "paper_epochs": 5000,
             "retrain_paper_epochs": 500, "cycles": QUICK_CYCLES if smoke else PAPER_CYCLES,
             "goals": list(QUICK_GOALS if smoke else PAPER_GOALS),
             "cutoffs": list(QUICK_CUTOFFS if smoke else PAPER_CUTOFFS),
             "paired_cutoffs": list(QUICK_PAIRED_CUTOFFS if smoke else PAPER_PAIRED_CUTOFFS)}]


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    config = spec.config
    protocol = run_protocol(spec.protocol, config)
    dataset = mnist(data_dir, invert=option(config, "invert"))
    model, final = train_base(config["arch"], config["paper_epochs"], spec.seed, protocol,
                              dataset, option(config, "init"))
    split = restrict(dataset.train, protocol)
    goal_rows = [row for goal in config["goals"] for row in _goal_chain(
        copy.deepcopy(model), goal, config, spec.seed, protocol, split, dataset.test)]
    cutoff_rows = [_cutoff_chain(copy.deepcopy(model), cutoff, config, spec.seed, protocol,
                                 split, dataset.test) for cutoff in config["cutoffs"]]
    return {"train_accuracy": final["train_accuracy"], "train_loss": final["train_loss"],
            "test_accuracy": final["test_accuracy"], "training_time_s": final["wall_time_s"],
            "goal_rows": goal_rows, "cutoff_rows": cutoff_rows,
            "run_options": effective_options(config, GOAL_PRUNING.options)}


def _goal_chain(model: MLP, goal: float, config: dict[str, Any], seed: int,
                protocol: Protocol, split: Split, test: Split) -> list[dict[str, Any]]:
    """Prune with the goal, then (cycles − 1) × (retrain 500 + prune): the rows of Fig. 6."""
    results = prune_cycles(model, config["site"], split, protocol, cycles=config["cycles"],
                           retrain_paper_epochs=config["retrain_paper_epochs"], seed=seed,
                           test_split=test, rule=config["rule"], goal_accuracy=goal,
                           checkpoints=retrain_checkpoints(f"goal-{goal:g}"))
    rows, retrain_s = [], 0.0
    for index, result in enumerate(results, start=1):
        rows.append({
            "goal": goal, "row": index,
            "iteration_time_s": retrain_s + result.seconds,
            "pruning_time_s": result.seconds,
            "retraining_time_s": retrain_s,
            "accuracy_before_pruning": result.accuracy_before,
            "accuracy_after_pruning": result.accuracy,
            "evaluated_accuracy_after_pruning": result.after["train_accuracy"],
            "test_accuracy_after_pruning": result.after["test_accuracy"],
            "removed": result.n_removed,
            "remaining_neurons": result.width_after,
        })
        retrain_s = 0.0 if result.retrain is None else result.retrain["wall_time_s"]
    return rows


def _cutoff_chain(model: MLP, cutoff: float, config: dict[str, Any], seed: int,
                  protocol: Protocol, split: Split, test: Split) -> dict[str, Any]:
    """Prune with ε, retrain 500, prune with ε (Fig. 5's line for ε)."""
    first, second = cutoff_cycles(model, config["site"], cutoff, config, seed, protocol, split,
                                  test, stage=f"cutoff-{cutoff:g}")
    return {"cutoff": cutoff,
            "total_time_s": first.seconds + first.retrain["wall_time_s"] + second.seconds,
            "accuracy": second.after["train_accuracy"],
            "test_accuracy": second.after["test_accuracy"],
            "remaining_neurons": second.width_after}


# -- report --------------------------------------------------------------------------------


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    table = paper_table("fig6")
    config = records[0]["spec"]["config"]
    setup = markdown_table(PAPER_VS_OURS_HEADERS, [
        paper_vs_ours_row("training accuracy after 5000 paper epochs",
                          summarize_field(records, "train_accuracy"),
                          table.context["initial_accuracy"]),
        paper_vs_ours_row("test accuracy", summarize_field(records, "test_accuracy"), None),
        timing_row("training time (s)", summarize_field(records, "training_time_s"), None),
    ])
    parts = [header(GOAL_PRUNING, records), "## The trained nets\n\n" + setup,
             "## Fig. 6\n\nRow 1 prunes the trained net; rows 2–6 retrain 500 paper epochs "
             "and prune again. Accuracies are training accuracies (as the paper's goals)."]
    for goal in config["goals"]:
        for field, title, digits in QUANTITIES:
            parts.append(f"### Goal {number(goal)}: {title.lower()}\n\n" + ours_vs_paper_table(
                records, "goal_rows", "row", "row", field, table, field,
                paper_match={"accuracy_goal": goal}, digits=digits, goal=goal))
        parts.append(f"### Goal {number(goal)}: iteration time (s; {TIMING_NOTE})\n\n"
                     + _timing_table(records, goal, config["cycles"], table))
    parts.append("## Cutoff pruning against the accuracy goal (claim 7)\n\n"
                 + _comparison_table(records, config))
    claims = [_claim_7(records, goal, cutoff) for goal, cutoff
              in zip(config["goals"], config["paired_cutoffs"], strict=True)]
    parts += [claims_section(claims, records),
              "## Figure (Fig. 6 as curves)\n\n" + save_figure(
                  _figure(records, config, table), out_dir, "fig6.png")]
    return write_summary(out_dir, parts)


def _timing_table(records: Sequence[dict[str, Any]], goal: float, cycles: int,
                  table: PaperTable) -> str:
    rows = [timing_row(f"row {k}", summarize_rows(records, "goal_rows", "iteration_time_s",
                                                  goal=goal, row=k),
                       paper_cell(table, "iteration_time_s", accuracy_goal=goal, row=k))
            for k in range(1, cycles + 1)]
    rows.append(timing_row("all rows", _goal_total_time(records, goal), None))
    return markdown_table(("iteration", "ours (s)", "paper (s)", "note"), rows)


def _goal_total_time(records: Sequence[dict[str, Any]], goal: float) -> Any:
    return summarize(sum(row["iteration_time_s"] for row in r["result"]["goal_rows"]
                         if row["goal"] == goal) for r in records)


def _goal_final(records: Sequence[dict[str, Any]], goal: float, field: str) -> dict[int, float]:
    """seed → ``field`` of the last row of the goal chain."""
    out = {}
    for record in records:
        rows = [row for row in record["result"]["goal_rows"] if row["goal"] == goal]
        out[record["spec"]["seed"]] = float(rows[-1][field])
    return out


def _goal_time(records: Sequence[dict[str, Any]], goal: float) -> dict[int, float]:
    return {r["spec"]["seed"]: sum(row["iteration_time_s"] for row in r["result"]["goal_rows"]
                                   if row["goal"] == goal) for r in records}


def _matched(records: Sequence[dict[str, Any]], goal: float) -> dict[int, dict[str, Any]]:
    """seed → the cutoff chain with the fewest neurons among those at least as accurate as
    the goal chain's end (accuracy ≥ the goal chain's: matched, not merely close); seeds
    without one are left out."""
    goal_accuracy = _goal_final(records, goal, "accuracy_after_pruning")
    out = {}
    for record in records:
        seed = record["spec"]["seed"]
        candidates = [row for row in record["result"]["cutoff_rows"]
                      if row["accuracy"] >= goal_accuracy[seed]]
        if candidates:
            out[seed] = min(candidates, key=lambda row: (row["remaining_neurons"],
                                                         -row["accuracy"]))
    return out


def _comparison_table(records: Sequence[dict[str, Any]], config: dict[str, Any]) -> str:
    rows = []
    for goal, cutoff in zip(config["goals"], config["paired_cutoffs"], strict=True):
        paper = PAPER_CLAIM_7.get(goal, ("—",) * 4)
        cut = {f: summarize_rows(records, "cutoff_rows", f, cutoff=cutoff)
               for f in ("remaining_neurons", "accuracy", "test_accuracy", "total_time_s")}
        rows.append([f"cutoff ε = {number(cutoff)} (the paper's pair)",
                     format_summary(cut["remaining_neurons"], 1), paper[0],
                     format_summary(cut["accuracy"], 4), format_summary(cut["test_accuracy"], 4),
                     format_seconds(cut["total_time_s"]), paper[2]])
        matched = _matched(records, goal)
        if matched:
            chosen = ", ".join(number(c) for c in sorted({row["cutoff"]
                                                          for row in matched.values()}))
            values = {f: summarize(row[f] for row in matched.values()) for f in
                      ("remaining_neurons", "accuracy", "test_accuracy", "total_time_s")}
            rows.append([f"cutoff matched to the goal's accuracy (ε = {chosen})",
                         format_summary(values["remaining_neurons"], 1), "—",
                         format_summary(values["accuracy"], 4),
                         format_summary(values["test_accuracy"], 4),
                         format_seconds(values["total_time_s"]), "—"])
        goal_values = {f: summarize(_goal_final(records, goal, f).values()) for f in
                       ("remaining_neurons", "accuracy_after_pruning",
                        "test_accuracy_after_pruning")}
        rows.append([f"goal {number(goal)} (row {config['cycles']})",
                     format_summary(goal_values["remaining_neurons"], 1), paper[1],
                     format_summary(goal_values["accuracy_after_pruning"], 4),
                     format_summary(goal_values["test_accuracy_after_pruning"], 4),
                     format_seconds(_goal_total_time(records, goal)), paper[3]])
    return markdown_table(("strategy", "neurons (ours)", "neurons (paper)", "training accuracy",
                           "test accuracy", "total time (s, ours)", "time (s, paper)"), rows)


def _claim_7(records: Sequence[dict[str, Any]], goal: float, cutoff: float) -> Claim:
    """Claim 7 at one accuracy: the accuracy-matched cutoff chain is not larger, not less
    accurate, and faster than the goal chain; the paper's own pair is shown beside."""
    goal_neurons = _goal_final(records, goal, "remaining_neurons")
    goal_accuracy = _goal_final(records, goal, "accuracy_after_pruning")
    matched = _matched(records, goal)
    neurons = paired({s: row["remaining_neurons"] for s, row in matched.items()}, goal_neurons)
    accuracy = paired({s: row["accuracy"] for s, row in matched.items()}, goal_accuracy)
    ratio = paired({s: row["total_time_s"] for s, row in matched.items()},
                   _goal_time(records, goal), lambda a, b: a / b)
    size_verdict = smaller_at_equal_accuracy(neurons, accuracy, size_slack=SIZE_SLACK,
                                             accuracy_tolerance=ACCURACY_TOLERANCE)
    pair_neurons = paired(per_seed(records, "cutoff_rows", "remaining_neurons", cutoff=cutoff),
                          goal_neurons)
    pair_accuracy = paired(per_seed(records, "cutoff_rows", "accuracy", cutoff=cutoff),
                           goal_accuracy)
    paper = PAPER_CLAIM_7.get(goal)
    paper_text = "" if paper is None else (
        f"; paper {paper[0]} vs {paper[1]} neurons, {paper[2]} s vs {paper[3]} s")
    statistic = (f"goal {number(goal)}, accuracy-matched cutoff chain (accuracy ≥ the goal "
                 f"chain's) − goal chain: neurons {format_summary(neurons, 1)} (smaller or equal "
                 f"within +{SIZE_SLACK:g}), accuracy {format_summary(accuracy, 4)}, time ratio "
                 f"{format_summary(ratio, 3)} "
                 f"({len(matched)} seeds with a match); the paper's pair ε = {number(cutoff)}: "
                 f"neurons {format_summary(pair_neurons, 1)}, accuracy "
                 f"{format_summary(pair_accuracy, 4)}" + paper_text)
    return Claim(f"7 (≈{number(goal)})", reference_claim_text(7),
                 all_of([size_verdict, below(ratio, 1.0)]), statistic)


def _figure(records: Sequence[dict[str, Any]], config: dict[str, Any],
            table: PaperTable) -> Any:
    figure = new_figure(10.0, 4.0)
    if figure is None:
        return None
    left, right = figure.subplots(1, 2)
    steps = list(range(1, config["cycles"] + 1))
    for goal, cutoff in zip(config["goals"], config["paired_cutoffs"], strict=True):
        for ax, field in ((left, "remaining_neurons"), (right, "accuracy_after_pruning")):
            ours = [summarize_rows(records, "goal_rows", field, goal=goal, row=k) for k in steps]
            line = ax.errorbar(steps, [s.mean for s in ours], yerr=[s.se or 0.0 for s in ours],
                               marker="o", capsize=2, label=f"ours, goal {number(goal)}")
            colour = line[0].get_color()
            paper = [paper_cell(table, field, accuracy_goal=goal, row=k) for k in steps]
            if all(p is not None for p in paper):
                ax.errorbar(steps, [p.mean for p in paper], yerr=[p.error or 0 for p in paper],
                            marker="o", linestyle="--", color=colour, alpha=0.5, capsize=2,
                            label=f"paper, goal {number(goal)}")
            cut_field = "remaining_neurons" if field == "remaining_neurons" else "accuracy"
            cut = summarize_rows(records, "cutoff_rows", cut_field, cutoff=cutoff)
            ax.errorbar([2], [cut.mean], yerr=[cut.se or 0.0], marker="*", markersize=12,
                        color=colour, linestyle="none",
                        label=f"ours, cutoff ε = {number(cutoff)} (prune, retrain, prune)")
    left.set(xlabel="row (1 = first pruning, k = after k − 1 retrainings)",
             ylabel="hidden1 neurons left")
    right.set(xlabel="row", ylabel="training accuracy after pruning")
    for ax in (left, right):
        ax.legend(fontsize="x-small")
    figure.suptitle(f"A1 accuracy-goal pruning of N4 hidden1 ({records[0]['spec']['protocol']}"
                    " protocol; paper: Fig. 6)", fontsize=10)
    return figure


GOAL_ROW_SCHEMA = {
    "goal": NUMBER, "row": INTEGER, "iteration_time_s": NUMBER, "pruning_time_s": NUMBER,
    "retraining_time_s": NUMBER, "accuracy_before_pruning": NUMBER,
    "accuracy_after_pruning": NUMBER, "evaluated_accuracy_after_pruning": NUMBER,
    "test_accuracy_after_pruning": NUMBER, "removed": INTEGER, "remaining_neurons": INTEGER,
}
CUTOFF_ROW_SCHEMA = {"cutoff": NUMBER, "total_time_s": NUMBER, "accuracy": NUMBER,
                     "test_accuracy": NUMBER, "remaining_neurons": INTEGER}
RESULT_SCHEMA = {"train_accuracy": NUMBER, "train_loss": NUMBER, "test_accuracy": NUMBER,
                 "training_time_s": NUMBER, "goal_rows": [GOAL_ROW_SCHEMA],
                 "cutoff_rows": [CUTOFF_ROW_SCHEMA]}
"""What :func:`run` returns (checked when a stored run is read back)."""


GOAL_PRUNING = Experiment(
    name="goal-pruning",
    section="5.2",
    figures=("Fig. 6",),
    description="A1 accuracy-goal pruning of N4 hidden1 (0.97, 0.95), 5 × (retrain 500 + "
                "prune); vs cutoff pruning",
    configs=configs,
    run=run,
    report=report,
    options=("invert", "init", "l2", "lr_schedule"),
    result_schema=RESULT_SCHEMA,
)
