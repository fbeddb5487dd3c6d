"""input-pruning: A1 on N4's input pixels after hidden pruning (paper §5.3, Figs 7–11).

A1 applies to the ``input`` site as to a hidden one: pixel k's efficiency (eq. 28) is
E_k = C_kk Σ_i w_ik² f'_i(ȳ_i)² / C_ii over the first hidden layer i, and a removed pixel is
replaced by its training mean, folded into the hidden biases (REFERENCE §1.13(c)). A model with
pruned inputs still takes 784 pixels; ``model.selector.kept`` says which it reads.

Two configurations, one run each per seed, both starting from N4 trained 5000 paper epochs
(the same net for the same seed):

* ``hidden-cutoff`` (Figs 7, 8, 9): the starting nets are lines 5 and 7 of Fig. 5, recomputed
  in the run: hidden1 pruned with ε = 0.1 (or 0.2), retrained 500 paper epochs, pruned again
  with ε. On a copy of each, for every input cutoff: prune the inputs in one shot, retrain 500
  paper epochs; training and test ("validation") accuracy.
* ``hidden-goal`` (Figs 10, 11): the starting nets are those of Fig. 6 after five retraining
  steps, recomputed as the paper does: hidden1 pruned with the accuracy goal, then 5 × (retrain
  500 + prune with the goal). Then the inputs are pruned with the same goal, one pixel at a
  time, least efficient first, without retraining.

Decisions: as in cutoff-pruning and goal-pruning (one-shot cutoffs, strict ``<``, training
accuracy, the most efficient neuron kept — and the row flagged — when a cutoff would empty a
site); pruning time excludes the accuracy evaluation; copies retrained with one seed are
retrained together as one fused model (equal to separate retrainings to float rounding), and a
row's retraining time is its share of the fused wall time (``retraining_fused_members`` says how
many copies shared it; rows stored before fusing lack it and timed each retraining alone, and
the timing tables say when times are shares — the fused first layer reads all 784 inputs, so
shares cannot show what pruning inputs saves); the report's "border" is the outer
4-pixel ring of the 28 × 28 field (MNIST digits are normalised into the central 20 × 20 box).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from neuroplast.analysis import crossing
from neuroplast.data import Dataset
from neuroplast.death import PruneResult, prune, prune_cycles_together
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    Verdict,
    all_of,
    claims_section,
    equivalence_verdict,
    reference_claim_text,
)
from neuroplast.experiments.definitions.goal_pruning import PAPER_GOALS, QUICK_GOALS
from neuroplast.experiments.definitions.pixel_regions import border_preference
from neuroplast.experiments.definitions.pruning_common import (
    TIMING_NOTE,
    below,
    border_share,
    cutoff_chains,
    emptied,
    find_row,
    format_seconds,
    format_summary,
    fused_share_note,
    kept_pixels,
    number,
    ours_vs_paper_table,
    paired,
    paper_cell,
    per_seed,
    pixel_grid,
    retrain_checkpoints,
    select,
    summarize_rows,
    timing_row,
    train_base,
    unique_values,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import PaperTable, paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import BOOLEAN, INTEGER, NUMBER, any_of, nullable
from neuroplast.experiments.stats_summary import (
    PAPER_VS_OURS_HEADERS,
    Summary,
    markdown_table,
    paper_vs_ours_row,
    summarize,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP
from neuroplast.plots.pixel_map import kept_mask
from neuroplast.train import Protocol, evaluate, restrict

PAPER_HIDDEN_CUTOFFS = (0.1, 0.2)
"""Lines 5 and 7 of Fig. 5: the starting nets of Figs 7 and 9."""
PAPER_INPUT_CUTOFFS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02)
PAPER_HIDDEN_CYCLES = 6
"""Fig. 10 starts from Fig. 6's nets: the first goal pruning plus five iterations."""
QUICK_HIDDEN_CUTOFFS = (0.01,)
QUICK_INPUT_CUTOFFS = (0.001, 0.005)
QUICK_HIDDEN_CYCLES = 2
N_PIXELS = 784
FIVE_PERCENT = 0.05
"""Claim 10: the input cutoff nearest 5 % of the maximum input efficiency."""
COST_TOLERANCE = 0.005
"""Claim 10: an accuracy cost within 0.01 ± 0.005 counts as "≈ 1 %" (half the claimed cost;
the former ± 0.02 accepted a cost of 0, which no result could refute)."""
RECOVERY_TOLERANCE = 0.005
"""Claim 10: retrained accuracy at most this far below the starting net's is "recovered"."""
BORDER_SHARE = 0.8
"""Claim 9: removed pixels "lie on the border" when more than this share is in the ring."""
GOAL_FRACTION = (0.40, 0.55)
"""Claim 9: "45–50 % of the inputs go", read generously as a removed fraction in this range."""
TARGET_11 = 0.95
"""Claim 11: "≈ 0.95 accuracy": the retrained training accuracy at which the weights of the
two families are compared (interpolated between input cutoffs)."""
ACCURACY_TOLERANCE = 0.005
"""Claim 12: accuracies within this count as "comparable" (as in goal-pruning)."""
PAPER_FIGURE = {0.1: "fig7", 0.2: "fig9"}
"""The paper's table for each starting hidden cutoff."""
QUANTITIES = (
    ("cutoff_over_max_efficiency", "Cutoff / max input efficiency", 4),
    ("accuracy_after_pruning", "Accuracy after pruning", 4),
    ("remaining_inputs", "Number of remaining input neurons", 1),
    ("accuracy_after_retraining", "Accuracy after retraining", 4),
    ("validation_accuracy_after_retraining", "Accuracy after retraining (validation)", 4),
)
GOAL_QUANTITIES = (
    ("accuracy_before_pruning", "Accuracy before pruning", 5),
    ("accuracy_after_pruning", "Accuracy after pruning", 5),
    ("remaining_inputs", "Number of remaining input neurons", 1),
    ("hidden_neurons", "Number of neurons on second layer", 1),
)


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    smoke = protocol.name in SMOKE_TEST_PROTOCOLS
    common = {"arch": "N4", "rule": "A1", "paper_epochs": 5000, "retrain_paper_epochs": 500}
    return [
        common | {"start": "hidden-cutoff",
                  "hidden_cutoffs": list(QUICK_HIDDEN_CUTOFFS if smoke else PAPER_HIDDEN_CUTOFFS),
                  "input_cutoffs": list(QUICK_INPUT_CUTOFFS if smoke else PAPER_INPUT_CUTOFFS)},
        common | {"start": "hidden-goal", "goals": list(QUICK_GOALS if smoke else PAPER_GOALS),
                  "hidden_cycles": QUICK_HIDDEN_CYCLES if smoke else PAPER_HIDDEN_CYCLES},
    ]


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    config = spec.config
    protocol = run_protocol(spec.protocol, config)
    dataset = mnist(data_dir, invert=option(config, "invert"))
    model, final = train_base(config["arch"], config["paper_epochs"], spec.seed, protocol,
                              dataset, option(config, "init"))
    result = STARTS[config["start"]](model, config, spec.seed, protocol, dataset)
    return {"train_accuracy": final["train_accuracy"], "test_accuracy": final["test_accuracy"],
            "training_time_s": final["wall_time_s"],
            "run_options": effective_options(config, INPUT_PRUNING.options)} | result


def _from_cutoff_nets(model: MLP, config: dict[str, Any], seed: int, protocol: Protocol,
                      dataset: Dataset) -> dict[str, Any]:
    """Figs 7–9: hidden1 cutoff chain, then every input cutoff + retraining on a copy.

    Copies retrained with the same seed are retrained together (one fused model per cycle,
    ``pruning_common.cutoff_chains``): the hidden chains of all hidden cutoffs, then the input
    chains of all (hidden cutoff, input cutoff) pairs.
    """
    split = restrict(dataset.train, protocol)
    hidden_cutoffs, input_cutoffs = config["hidden_cutoffs"], config["input_cutoffs"]
    nets = [copy.deepcopy(model) for _ in hidden_cutoffs]
    hidden_chains = cutoff_chains(nets, "hidden1", hidden_cutoffs, config, seed, protocol,
                                  split, dataset.test, stage="hidden-chains")
    pairs = [(h, net, c) for h, net in zip(hidden_cutoffs, nets, strict=True)
             for c in input_cutoffs]
    copies = [copy.deepcopy(net) for _, net, _ in pairs]
    input_chains = cutoff_chains(copies, "input", [c for _, _, c in pairs], config, seed,
                                 protocol, split, dataset.test, stage="input-chains", cycles=1,
                                 retrain_last=True)
    rows = []
    for (hidden_cutoff, net, cutoff), pruned, (result,) in zip(pairs, copies, input_chains,
                                                                strict=True):
        hidden = net.site("hidden1").width
        row = _input_row(cutoff, result, pruned) | {"hidden_cutoff": hidden_cutoff,
                                                    "hidden_neurons": hidden}
        row["first_layer_weights"] = row["remaining_inputs"] * hidden
        rows.append(row)
    starts = []
    for hidden_cutoff, net, (first, second) in zip(hidden_cutoffs, nets, hidden_chains,
                                                   strict=True):
        chain = [row for row in rows if row["hidden_cutoff"] == hidden_cutoff]
        starts.append({"hidden_cutoff": hidden_cutoff,
                       "accuracy": second.after["train_accuracy"],
                       "test_accuracy": second.after["test_accuracy"],
                       "hidden_neurons": net.site("hidden1").width,
                       "hidden_emptied": emptied(first),
                       "max_input_efficiency": chain[0]["max_input_efficiency"]})
    return {"starts": starts, "cutoff_rows": rows}


def _input_row(cutoff: float, result: PruneResult, model: MLP) -> dict[str, Any]:
    """One line of Fig. 7/9 from its chain: inputs pruned with ``cutoff``, retrained 500
    paper epochs (``model`` is the pruned, retrained net)."""
    largest = max(result.efficiencies)
    return {"input_cutoff": cutoff, "max_input_efficiency": largest,
            "cutoff_over_max_efficiency": cutoff / largest if largest > 0 else None,
            "accuracy_after_pruning": result.after["train_accuracy"],
            "test_accuracy_after_pruning": result.after["test_accuracy"],
            "remaining_inputs": result.width_after, "emptied": emptied(result),
            "pruning_time_s": result.seconds,
            "accuracy_after_retraining": result.retrain["train_accuracy"],
            "validation_accuracy_after_retraining": result.retrain["test_accuracy"],
            "retraining_time_s": result.retrain["wall_time_s"],
            "retraining_fused_members": int(result.retrain.get("fused_members", 1)),
            "kept_pixels": kept_pixels(model)}


def _from_goal_nets(model: MLP, config: dict[str, Any], seed: int, protocol: Protocol,
                    dataset: Dataset) -> dict[str, Any]:
    """Figs 10–11: the goal chain of Fig. 6, then input pruning with the same goal (the goal
    chains of all goals in lock-step, their retrainings fused)."""
    split = restrict(dataset.train, protocol)
    goals = config["goals"]
    nets = [copy.deepcopy(model) for _ in goals]
    prune_cycles_together(nets, "hidden1", split, protocol, cycles=config["hidden_cycles"],
                          retrain_paper_epochs=config["retrain_paper_epochs"], seed=seed,
                          test_split=dataset.test,
                          prune_kwargs=[{"rule": config["rule"], "goal_accuracy": goal}
                                        for goal in goals],
                          checkpoints=retrain_checkpoints("goal-chains"))
    rows = []
    for goal, net in zip(goals, nets, strict=True):
        result = prune(net, "input", split, rule=config["rule"], goal_accuracy=goal)
        hidden = net.site("hidden1").width
        rows.append({"goal": goal, "iteration_time_s": result.seconds,
                     "accuracy_before_pruning": result.accuracy_before,
                     "accuracy_after_pruning": result.accuracy,
                     "evaluated_accuracy_after_pruning": evaluate(net, split).accuracy,
                     "test_accuracy_after_pruning": evaluate(net, dataset.test).accuracy,
                     "remaining_inputs": result.width_after, "hidden_neurons": hidden,
                     "first_layer_weights": result.width_after * hidden,
                     "kept_pixels": kept_pixels(net)})
    return {"goal_rows": rows}


STARTS: dict[str, Callable[[MLP, dict[str, Any], int, Protocol, Dataset], dict[str, Any]]] = {
    "hidden-cutoff": _from_cutoff_nets,
    "hidden-goal": _from_goal_nets,
}
"""How the starting nets are made, by ``config["start"]``."""


# -- report --------------------------------------------------------------------------------


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    cut = select(records, start="hidden-cutoff")
    goal = select(records, start="hidden-goal")
    parts = [header(INPUT_PRUNING, records)]
    claims: list[Claim] = []
    if cut:
        parts += _cutoff_sections(cut, out_dir)
        claims += [_claim_border(cut, goal), _claim_cost(cut), _claim_validation(cut),
                   _claim_hidden_first(cut)]
    if goal:
        parts += _goal_sections(goal, out_dir)
        claims.insert(1, _claim_goal_fraction(goal))
    if cut and goal:
        claims += [_claim_cutoff_vs_goal(cut, goal, g) for g in goal[0]["spec"]["config"]["goals"]]
    parts.append(claims_section(claims, records))
    return write_summary(out_dir, parts)


def _cutoff_sections(records: Sequence[dict[str, Any]], out_dir: Path) -> list[str]:
    parts = []
    fused_note = fused_share_note(records, "cutoff_rows")
    for hidden_cutoff in unique_values(records, "starts", "hidden_cutoff"):
        table = _paper_table(hidden_cutoff)
        context = {} if table is None else table.context
        figure = "" if table is None else f" ({table.figure})"
        start = markdown_table(PAPER_VS_OURS_HEADERS, [
            paper_vs_ours_row(label, summarize_rows(records, "starts", field,
                                                    hidden_cutoff=hidden_cutoff),
                              context.get(paper_key), digits)
            for label, field, paper_key, digits in (
                ("training accuracy", "accuracy", "initial_accuracy", 4),
                ("test accuracy", "test_accuracy", None, 4),
                ("hidden1 neurons", "hidden_neurons", "initial_hidden_neurons", 1),
                ("max input efficiency", "max_input_efficiency", "max_input_efficiency", 4))])
        parts.append(f"## Inputs of the ε = {number(hidden_cutoff)} nets{figure}\n\n"
                     f"Starting nets (Fig. 5 line for ε = {number(hidden_cutoff)}: train, prune "
                     "hidden1, retrain 500 paper epochs, prune again):\n\n" + start)
        for field, title, digits in QUANTITIES:
            parts.append(f"### ε = {number(hidden_cutoff)}: {title.lower()}\n\n"
                         + ours_vs_paper_table(records, "cutoff_rows", "input_cutoff",
                                               "input cutoff", field, table, field,
                                               digits=digits, hidden_cutoff=hidden_cutoff))
        timing = []
        for c in unique_values(records, "cutoff_rows", "input_cutoff"):
            for field, label in (("pruning_time_s", "pruning"),
                                 ("retraining_time_s", "retraining")):
                timing.append(timing_row(
                    f"{number(c)}: {label}",
                    summarize_rows(records, "cutoff_rows", field, hidden_cutoff=hidden_cutoff,
                                   input_cutoff=c),
                    None if table is None else paper_cell(table, field, input_cutoff=c)))
        parts.append(f"### ε = {number(hidden_cutoff)}: timings (s; {TIMING_NOTE})\n\n"
                     + fused_note
                     + markdown_table(("input cutoff", "ours (s)", "paper (s)", "note"), timing))
    emptied_rows = sum(row["emptied"] for r in records for row in r["result"]["cutoff_rows"])
    if emptied_rows:
        parts.append(f"> {emptied_rows} rows had every input efficiency below the cutoff: the "
                     "most efficient pixel was kept.")
    parts.append("## Figs 7 and 9 as curves\n\n" + save_figure(_figure(records), out_dir,
                                                              "fig7_fig9.png"))
    panels = []
    for hidden_cutoff in unique_values(records, "starts", "hidden_cutoff"):
        for c in unique_values(records, "cutoff_rows", "input_cutoff"):
            kept = _kept_sets(records, "cutoff_rows", hidden_cutoff=hidden_cutoff,
                              input_cutoff=c)
            mean = sum(len(k) for k in kept) / len(kept)
            panels.append((f"ε {number(hidden_cutoff)}, input {number(c)}\n{mean:.0f} kept",
                           kept))
    columns = len(unique_values(records, "cutoff_rows", "input_cutoff"))
    parts.append("## Fig. 8: pixels removed by the input cutoffs\n\nFraction of seeds in which "
                 "each pixel was removed (black: never, blue: always); one row of maps per "
                 "starting net.\n\n" + save_figure(
                     pixel_grid(panels, columns, "A1 input pruning (paper: Fig. 8)"), out_dir,
                     "fig8_pixels.png"))
    return parts


def _goal_sections(records: Sequence[dict[str, Any]], out_dir: Path) -> list[str]:
    table = paper_table("fig10")
    config = records[0]["spec"]["config"]
    parts = [f"## Fig. 10: input pruning with an accuracy goal\n\nStarting nets: N4 trained 5000 "
             f"paper epochs, hidden1 pruned with the goal, then {config['hidden_cycles'] - 1} × "
             "(retrain 500 paper epochs + prune with the goal) — Fig. 6's nets, recomputed. "
             "Then the inputs are pruned with the same goal, without retraining."]
    for field, title, digits in GOAL_QUANTITIES:
        parts.append(f"### {title}\n\n" + ours_vs_paper_table(
            records, "goal_rows", "goal", "accuracy goal", field, table, field,
            paper_key="accuracy_goal", digits=digits))
    timing = [timing_row(f"goal {number(g)}", summarize_rows(records, "goal_rows",
                                                             "iteration_time_s", goal=g),
                         paper_cell(table, "iteration_time_s", accuracy_goal=g))
              for g in config["goals"]]
    parts.append(f"### Input pruning time (s; {TIMING_NOTE})\n\n"
                 + markdown_table(("goal", "ours (s)", "paper (s)", "note"), timing))
    panels = [(f"goal {number(g)}", _kept_sets(records, "goal_rows", goal=g))
              for g in config["goals"]]
    if len(config["goals"]) == 2:
        panels.append((f"removed at {number(config['goals'][1])}, kept at "
                       f"{number(config['goals'][0])}", _difference(records, *config["goals"])))
    parts.append("## Fig. 11: pixels removed with an accuracy goal\n\n" + save_figure(
        pixel_grid(panels, len(panels), "A1 input pruning with a goal (paper: Fig. 11)"),
        out_dir, "fig11_pixels.png"))
    return parts


def _paper_table(hidden_cutoff: float) -> PaperTable | None:
    name = next((v for k, v in PAPER_FIGURE.items() if abs(k - hidden_cutoff) < 1e-12), None)
    return None if name is None else paper_table(name)


def _kept_sets(records: Sequence[dict[str, Any]], rows_key: str,
               **match: Any) -> list[list[int]]:
    rows = (find_row(r["result"][rows_key], **match) for r in records)
    return [row["kept_pixels"] for row in rows if row is not None]


def _difference(records: Sequence[dict[str, Any]], kept_goal: float,
                removed_goal: float) -> torch.Tensor:
    """Fraction of seeds in which a pixel is removed at ``removed_goal`` but kept at the other."""
    maps = []
    for record in records:
        kept = find_row(record["result"]["goal_rows"], goal=kept_goal)["kept_pixels"]
        removed = find_row(record["result"]["goal_rows"], goal=removed_goal)["kept_pixels"]
        maps.append((kept_mask(torch.tensor(kept)) & ~kept_mask(torch.tensor(removed))).double())
    return torch.stack(maps).mean(dim=0)


def _figure(records: Sequence[dict[str, Any]]) -> Any:
    starts = unique_values(records, "starts", "hidden_cutoff")
    figure = new_figure(5.0 * len(starts), 7.0)
    if figure is None:
        return None
    axes = figure.subplots(2, len(starts), squeeze=False)
    cutoffs = unique_values(records, "cutoff_rows", "input_cutoff")
    for column, hidden_cutoff in enumerate(starts):
        table = _paper_table(hidden_cutoff)
        top, bottom = axes[0][column], axes[1][column]
        for ax, fields in ((top, (("accuracy_after_pruning", "after pruning"),
                                  ("accuracy_after_retraining", "after retraining"),
                                  ("validation_accuracy_after_retraining",
                                   "after retraining, validation"))),
                           (bottom, (("remaining_inputs", "remaining inputs"),))):
            for field, label in fields:
                ours = [summarize_rows(records, "cutoff_rows", field,
                                       hidden_cutoff=hidden_cutoff, input_cutoff=c)
                        for c in cutoffs]
                line = ax.errorbar(cutoffs, [s.mean for s in ours],
                                   yerr=[s.se or 0.0 for s in ours], marker="o", capsize=2,
                                   label=f"ours, {label}")
                paper = [None if table is None else paper_cell(table, field, input_cutoff=c)
                         for c in cutoffs]
                if all(p is not None for p in paper):
                    ax.errorbar(cutoffs, [p.mean for p in paper],
                                yerr=[p.error or 0.0 for p in paper], marker="o",
                                linestyle="--", alpha=0.5, color=line[0].get_color(),
                                capsize=2, label=f"paper, {label}")
            ax.set_xscale("log")
            ax.legend(fontsize="x-small")
        top.set(title=f"starting net: hidden1 ε = {number(hidden_cutoff)}",
                ylabel="accuracy")
        bottom.set(xlabel="input efficiency cutoff", ylabel="input pixels left")
    figure.suptitle(f"A1 input pruning + 500 paper epochs ({records[0]['spec']['protocol']} "
                    "protocol; paper: Figs 7, 9)", fontsize=10)
    return figure


# -- claims --------------------------------------------------------------------------------


def _per_seed_mean(records: Sequence[dict[str, Any]], rows_key: str,
                   value: Callable[[dict[str, Any]], float | None]) -> dict[int, float]:
    """seed → mean of ``value(row)`` over the rows where it is not None."""
    out = {}
    for record in records:
        values = [v for v in map(value, record["result"][rows_key]) if v is not None]
        if values:
            out[record["spec"]["seed"]] = sum(values) / len(values)
    return out


def _claim_border(cut: Sequence[dict[str, Any]], goal: Sequence[dict[str, Any]]) -> Claim:
    """Claim 9, border: removed pixels lie in the outer ring (rows removing ≤ 384 pixels)."""
    def share(row: dict[str, Any]) -> float | None:
        removed = N_PIXELS - len(row["kept_pixels"])
        return border_share(row["kept_pixels"]) if 0 < removed <= 384 else None

    shares, preference = {}, {}
    for label, records, rows_key in (("cutoff rows", cut, "cutoff_rows"),
                                     ("goal rows", goal, "goal_rows")):
        values = _per_seed_mean(records, rows_key, share)
        shares[label] = summarize(values.values()) if values else None
        values = _per_seed_mean(records, rows_key,
                                lambda row: border_preference(row["kept_pixels"]))
        preference[label] = summarize(values.values()) if values else None
    verdicts = [Verdict.INCONCLUSIVE if s is None else below(
        Summary(1 - s.mean, s.se, s.n), 1 - BORDER_SHARE) for s in shares.values()]
    statistic = ("share of removed pixels in the outer 4-pixel ring (rows removing 1–384 "
                 "pixels; chance 0.49): " + ", ".join(f"{k} {format_summary(v, 3)}"
                                                    for k, v in shares.items())
                 + f"; confirmed above {BORDER_SHARE:g}. Border − centre removal rate (all "
                 "rows): " + ", ".join(f"{k} {format_summary(v, 3)}"
                                       for k, v in preference.items()))
    return Claim("9 (border)", reference_claim_text(9), all_of(verdicts), statistic)


def _claim_goal_fraction(goal: Sequence[dict[str, Any]]) -> Claim:
    """Claim 9, goal: 45–50 % of the inputs are removed with an accuracy goal."""
    low, high = GOAL_FRACTION
    verdicts, parts = [], []
    for g in goal[0]["spec"]["config"]["goals"]:
        fraction = summarize(1 - v / N_PIXELS for v in per_seed(
            goal, "goal_rows", "remaining_inputs", goal=g).values())
        verdicts.append(equivalence_verdict(fraction.mean - (low + high) / 2, fraction.se,
                                            (high - low) / 2))
        parts.append(f"goal {number(g)}: {format_summary(fraction, 3)} removed")
    return Claim("9 (goal, 45–50 %)", reference_claim_text(9), all_of(verdicts),
                 "; ".join(parts) + f" (paper 0.444, 0.501); confirmed within {low:g}–{high:g}")


def _nearest_five_percent(records: Sequence[dict[str, Any]], hidden_cutoff: float) -> float:
    """The input cutoff whose mean cutoff / max efficiency is nearest 5 %."""
    def distance(c: float) -> float:
        ratio = summarize_rows(records, "cutoff_rows", "cutoff_over_max_efficiency",
                               hidden_cutoff=hidden_cutoff, input_cutoff=c)
        return abs(ratio.mean - FIVE_PERCENT)
    return min(unique_values(records, "cutoff_rows", "input_cutoff"), key=distance)


def _claim_cost(records: Sequence[dict[str, Any]]) -> Claim:
    """Claim 10, cost: ≈5 % of max costs ≈1 % accuracy, recovered by retraining."""
    verdicts, parts = [], []
    for h in unique_values(records, "starts", "hidden_cutoff"):
        c = _nearest_five_percent(records, h)
        start = per_seed(records, "starts", "accuracy", hidden_cutoff=h)
        cost = paired(start, per_seed(records, "cutoff_rows", "accuracy_after_pruning",
                                      hidden_cutoff=h, input_cutoff=c))
        recovery = paired(per_seed(records, "cutoff_rows", "accuracy_after_retraining",
                                   hidden_cutoff=h, input_cutoff=c), start)
        ratio = summarize_rows(records, "cutoff_rows", "cutoff_over_max_efficiency",
                               hidden_cutoff=h, input_cutoff=c)
        verdicts += [equivalence_verdict(cost.mean - 0.01, cost.se, COST_TOLERANCE),
                     below(Summary(-recovery.mean, recovery.se, recovery.n),
                           RECOVERY_TOLERANCE)]
        parts.append(f"ε = {number(h)}, input cutoff {number(c)} ({ratio.mean:.3f} of max): "
                     f"cost {format_summary(cost, 4)}, retrained − start "
                     f"{format_summary(recovery, 4)}")
    return Claim("10 (cost)", reference_claim_text(10), all_of(verdicts),
                 "; ".join(parts) + " (paper, Fig. 7 at 0.058 of max: cost 0.0108, retrained − "
                 f"start −0.0032); cost within 0.01 ± {COST_TOLERANCE:g}, recovered within "
                 f"{RECOVERY_TOLERANCE:g}")


def _claim_validation(records: Sequence[dict[str, Any]]) -> Claim:
    """Claim 10, validation: the train − validation gap shrinks from the smallest cutoff."""
    cutoffs = unique_values(records, "cutoff_rows", "input_cutoff")
    verdicts, parts = [], []
    for h in unique_values(records, "starts", "hidden_cutoff"):
        gaps = [paired(per_seed(records, "cutoff_rows", "accuracy_after_retraining",
                                hidden_cutoff=h, input_cutoff=c),
                       per_seed(records, "cutoff_rows", "validation_accuracy_after_retraining",
                                hidden_cutoff=h, input_cutoff=c)) for c in cutoffs]
        last, first = (_gap(records, h, c) for c in (cutoffs[-1], cutoffs[0]))
        change = paired(last, first)
        verdicts.append(below(change, 0.0))
        parts.append(f"ε = {number(h)}: train − validation "
                     + " → ".join(f"{g.mean:+.4f}" for g in gaps)
                     + f" (last − first {format_summary(change, 4)})")
    return Claim("10 (validation)", reference_claim_text(10), all_of(verdicts),
                 "; ".join(parts) + " over input cutoffs; paper (Fig. 7) +0.0122 → 0.0000")


def _gap(records: Sequence[dict[str, Any]], hidden_cutoff: float,
         input_cutoff: float) -> dict[int, float]:
    return {s: a - b for s, (a, b) in _zip(
        per_seed(records, "cutoff_rows", "accuracy_after_retraining",
                 hidden_cutoff=hidden_cutoff, input_cutoff=input_cutoff),
        per_seed(records, "cutoff_rows", "validation_accuracy_after_retraining",
                 hidden_cutoff=hidden_cutoff, input_cutoff=input_cutoff)).items()}


def _zip(a: dict[int, float], b: dict[int, float]) -> dict[int, tuple[float, float]]:
    return {s: (a[s], b[s]) for s in sorted(a.keys() & b.keys())}


def _smallest_weights(records: Sequence[dict[str, Any]], target: dict[int, float],
                      **match: Any) -> tuple[dict[int, float], dict[int, float],
                                             dict[int, float]]:
    """Per seed, the cutoff row with the fewest first-layer weights whose retrained training
    accuracy is ≥ ``target[seed]``: (weights, accuracy, pruning time) by seed."""
    weights, accuracy, seconds = {}, {}, {}
    for record in records:
        seed = record["spec"]["seed"]
        rows = [row for row in record["result"]["cutoff_rows"]
                if seed in target and row["accuracy_after_retraining"] >= target[seed]
                and all(abs(row[k] - v) < 1e-12 for k, v in match.items())]
        if rows:
            best = min(rows, key=lambda row: row["first_layer_weights"])
            weights[seed] = best["first_layer_weights"]
            accuracy[seed] = best["accuracy_after_retraining"]
            seconds[seed] = best["pruning_time_s"]
    return weights, accuracy, seconds


def _best_accuracy(records: Sequence[dict[str, Any]], hidden_cutoff: float) -> dict[int, float]:
    """seed → the highest retrained accuracy of the family started at ``hidden_cutoff``."""
    return {r["spec"]["seed"]: max(row["accuracy_after_retraining"]
                                   for row in r["result"]["cutoff_rows"]
                                   if abs(row["hidden_cutoff"] - hidden_cutoff) < 1e-12)
            for r in records}


def _weights_at(records: Sequence[dict[str, Any]], hidden_cutoff: float,
                target: dict[int, float]) -> dict[int, float]:
    """seed → first-layer weights at which the family started at ``hidden_cutoff`` reaches
    the retrained accuracy ``target[seed]``, interpolated linearly between its input cutoffs
    (:func:`neuroplast.analysis.crossing`); seeds whose family never reaches it are left out."""
    out = {}
    for record in records:
        seed = record["spec"]["seed"]
        rows = [row for row in record["result"]["cutoff_rows"]
                if abs(row["hidden_cutoff"] - hidden_cutoff) < 1e-12]
        if seed not in target or not rows:
            continue
        weights = crossing([row["first_layer_weights"] for row in rows],
                           [row["accuracy_after_retraining"] for row in rows], target[seed])
        if weights is not None:
            out[seed] = weights
    return out


def _claim_hidden_first(records: Sequence[dict[str, Any]]) -> Claim:
    """Claim 11: at equal accuracy ≈0.95, the aggressively hidden-pruned family needs fewer
    first-layer weights.

    Each family's (first-layer weights, retrained accuracy) points over the input cutoffs
    are joined by straight lines, and the weights at which each reaches the same accuracy
    are compared per seed (:func:`_weights_at`): 0.95, or — when a family never gets there,
    as with nets whose efficiencies have another scale than the paper's — the highest
    accuracy both families reach.
    """
    starts = unique_values(records, "starts", "hidden_cutoff")
    if len(starts) < 2:
        return Claim("11", reference_claim_text(11), Verdict.INCONCLUSIVE,
                     "needs two starting nets (ε = 0.1 and 0.2); quick protocol runs one")
    mild, aggressive = min(starts), max(starts)
    best_mild, best_aggressive = _best_accuracy(records, mild), _best_accuracy(records,
                                                                               aggressive)
    target = {s: min(TARGET_11, best_mild[s], best_aggressive[s])
              for s in best_mild.keys() & best_aggressive.keys()}
    w_mild, w_aggr = _weights_at(records, mild, target), _weights_at(records, aggressive,
                                                                      target)
    difference = paired(w_aggr, w_mild)
    exact = [summarize_rows(records, "cutoff_rows", "first_layer_weights", hidden_cutoff=h,
                            input_cutoff=c) for h, c in ((mild, 0.01), (aggressive, 0.001))]
    exact_text = " vs ".join(format_summary(s, 0) for s in exact)
    target_text = format_summary(summarize(target.values()) if target else None, 4)
    family = {h: format_summary(summarize(w.values()) if w else None, 0)
              for h, w in ((mild, w_mild), (aggressive, w_aggr))}
    statistic = (f"first-layer weights at equal retrained accuracy ({target_text}; lines "
                 f"between input cutoffs): ε = {number(aggressive)} {family[aggressive]}, "
                 f"ε = {number(mild)} {family[mild]}, difference "
                 f"{format_summary(difference, 0)} ({difference.n if difference else 0} seeds); "
                 f"at the paper's pairs (0.1, 0.01) vs (0.2, 0.001): {exact_text} (paper 8299 "
                 "vs 7077)")
    return Claim("11", reference_claim_text(11), below(difference, 0.0), statistic)


def _claim_cutoff_vs_goal(cut: Sequence[dict[str, Any]], goal: Sequence[dict[str, Any]],
                          g: float) -> Claim:
    """Claim 12: cutoff input pruning (+ retraining) reaches the goal row's accuracy (less
    :data:`ACCURACY_TOLERANCE`) with fewer first-layer weights, and prunes faster."""
    goal_weights = per_seed(goal, "goal_rows", "first_layer_weights", goal=g)
    goal_accuracy = per_seed(goal, "goal_rows", "accuracy_after_pruning", goal=g)
    goal_time = per_seed(goal, "goal_rows", "iteration_time_s", goal=g)
    target = {s: a - ACCURACY_TOLERANCE for s, a in goal_accuracy.items()}
    weights, accuracy, seconds = _smallest_weights(cut, target)
    difference = paired(weights, goal_weights)
    accuracy_difference = paired(accuracy, goal_accuracy)
    ratio = paired(seconds, goal_time, lambda a, b: a / b)
    verdict = all_of([below(difference, 0.0), below(ratio, 1.0)])
    paper = " (paper at 0.97: 17501 vs 19184 weights, ~3.5 s vs ~450 s)" if abs(
        g - 0.97) < 1e-12 else ""
    goal_seconds = format_seconds(summarize(goal_time.values()) if goal_time else None)
    statistic = (f"goal {number(g)}: fewest weights of a cutoff row retrained to ≥ the goal "
                 f"row's accuracy − {ACCURACY_TOLERANCE:g}, minus the goal row's: "
                 f"{format_summary(difference, 0)} (accuracy difference "
                 f"{format_summary(accuracy_difference, 4)}, {difference.n if difference else 0}"
                 f" seeds), pruning time cutoff / goal {format_summary(ratio, 3)} (goal pruning "
                 f"{goal_seconds} s)" + paper)
    return Claim(f"12 ({number(g)})", reference_claim_text(12), verdict, statistic)


_BASE_SCHEMA = {"train_accuracy": NUMBER, "test_accuracy": NUMBER, "training_time_s": NUMBER}
START_SCHEMA = {"hidden_cutoff": NUMBER, "accuracy": NUMBER, "test_accuracy": NUMBER,
                "hidden_neurons": INTEGER, "hidden_emptied": BOOLEAN,
                "max_input_efficiency": NUMBER}
CUTOFF_ROW_SCHEMA = {
    "input_cutoff": NUMBER, "max_input_efficiency": NUMBER,
    "cutoff_over_max_efficiency": nullable(NUMBER), "accuracy_after_pruning": NUMBER,
    "test_accuracy_after_pruning": NUMBER, "remaining_inputs": INTEGER, "emptied": BOOLEAN,
    "pruning_time_s": NUMBER, "accuracy_after_retraining": NUMBER,
    "validation_accuracy_after_retraining": NUMBER, "retraining_time_s": NUMBER,
    "kept_pixels": [INTEGER], "hidden_cutoff": NUMBER, "hidden_neurons": INTEGER,
    "first_layer_weights": INTEGER,
}
GOAL_ROW_SCHEMA = {
    "goal": NUMBER, "iteration_time_s": NUMBER, "accuracy_before_pruning": NUMBER,
    "accuracy_after_pruning": NUMBER, "evaluated_accuracy_after_pruning": NUMBER,
    "test_accuracy_after_pruning": NUMBER, "remaining_inputs": INTEGER, "hidden_neurons": INTEGER,
    "first_layer_weights": INTEGER, "kept_pixels": [INTEGER],
}
RESULT_SCHEMA = any_of(
    _BASE_SCHEMA | {"starts": [START_SCHEMA], "cutoff_rows": [CUTOFF_ROW_SCHEMA]},
    _BASE_SCHEMA | {"goal_rows": [GOAL_ROW_SCHEMA]},
)
"""What :func:`run` returns for a ``hidden-cutoff`` or a ``hidden-goal`` start (checked when
a stored run is read back)."""


INPUT_PRUNING = Experiment(
    name="input-pruning",
    section="5.3",
    figures=("Fig. 7", "Fig. 8", "Fig. 9", "Fig. 10", "Fig. 11"),
    description="A1 on N4 input pixels (cutoffs + 500 retraining; accuracy goals) after "
                "hidden1 pruning; pixel maps",
    configs=configs,
    run=run,
    report=report,
    options=("invert", "init", "l2", "lr_schedule"),
    result_schema=RESULT_SCHEMA,
)
