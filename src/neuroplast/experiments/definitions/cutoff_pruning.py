"""cutoff-pruning: A1 efficiency-cutoff pruning of N4's second layer (paper §5.2, Figs 4–5).

The paper trains 28 N4 nets (784 → 100 → 5 → 10, tanh) for 5000 epochs, removes every
second-layer (``hidden1``) neuron whose connection-cut efficiency (eq. 28)

    E_k = C_kk · Σ_i w_ik² f'_i(ȳ_i)² / C_ii

is below a cutoff ε with the A1 re-wiring (the dead neuron's mean is folded into the consumer's
biases), retrains 500 epochs and prunes again with the same ε (REFERENCE §1.13(a), §2.3 E2(a)).

One run = one seed: train once, then for every ε a copy of the trained net goes through
prune → retrain 500 → prune. Decisions:

* one-shot cutoff: all E_k < ε from one set of statistics (REFERENCE §1.15 item 10), strict
  ``<`` (item 11); statistics over the training data the protocol trains on;
* "accuracy" is training-set accuracy (item 8); test accuracy is recorded beside it;
* a cutoff above every efficiency would empty the layer; the prune then keeps the most
  efficient neuron and the row is flagged ``emptied`` (the report counts such rows);
* pruning time = statistics + efficiencies + re-wiring + surgery (``PruneResult.seconds``),
  without the accuracy evaluation; "learning and second pruning time" = retraining wall time
  + second pruning time. The retraining of every ε uses the same shuffling seed, so the
  copies are retrained together as one fused model (``pruning_common.cutoff_chains``; equal
  to separate retrainings to float rounding) and each row's retraining time is its share of
  the fused wall time; ``retraining_fused_members`` records how many copies shared it (rows
  stored before fusing lack it and timed each retraining alone), and the timing table says
  when its times are such shares.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuroplast.death import PruneResult
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    Verdict,
    all_of,
    claims_section,
    equivalence_verdict,
    reference_claim_text,
)
from neuroplast.experiments.definitions.pruning_common import (
    TIMING_NOTE,
    cutoff_chains,
    emptied,
    format_summary,
    fused_share_note,
    non_increasing,
    number,
    ours_vs_paper_table,
    paired,
    paper_cell,
    per_seed,
    summarize_rows,
    timing_row,
    train_base,
    unique_values,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import BOOLEAN, INTEGER, NUMBER
from neuroplast.experiments.stats_summary import (
    PAPER_VS_OURS_HEADERS,
    markdown_table,
    paper_vs_ours_row,
    summarize_field,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.train import Protocol, restrict

PAPER_CUTOFFS = (0.01, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3)
"""The cutoffs ε of Fig. 5."""
QUICK_CUTOFFS = (0.01, 0.05)
"""Smoke test: two cutoffs (quick nets have max E_k ≈ 0.1, so larger ones empty the layer)."""
SITE = "hidden1"
NEURONS_TOLERANCE = 1.0
"""Claim 6: a second pruning removing on average less than one neuron removes "essentially
none" (the paper: at most 0.2)."""
ACCURACY_TOLERANCE = 0.001
"""Claim 6: accuracy change of the second pruning we still call "unchanged" (paper: 0.0002)."""
QUANTITIES = (
    ("accuracy_after_pruning", "Accuracy after pruning", 4),
    ("remaining_neurons", "Number of remaining neurons", 1),
    ("accuracy_after_learning", "Accuracy after learning (retraining 500 paper epochs)", 4),
    ("accuracy_after_second_pruning", "Accuracy after second pruning", 4),
    ("remaining_neurons_after_second_pruning", "Number of remaining neurons after second "
     "pruning", 1),
)
"""(result field = the paper's column key, heading, decimals) of the Fig. 5 table."""


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    cutoffs = QUICK_CUTOFFS if protocol.name in SMOKE_TEST_PROTOCOLS else PAPER_CUTOFFS
    return [{"arch": "N4", "site": SITE, "rule": "A1", "paper_epochs": 5000,
             "retrain_paper_epochs": 500, "cutoffs": list(cutoffs)}]


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    config = spec.config
    protocol = run_protocol(spec.protocol, config)
    dataset = mnist(data_dir, invert=option(config, "invert"))
    model, final = train_base(config["arch"], config["paper_epochs"], spec.seed, protocol,
                              dataset, option(config, "init"))
    split = restrict(dataset.train, protocol)
    cutoffs = config["cutoffs"]
    chains = cutoff_chains([copy.deepcopy(model) for _ in cutoffs], config["site"], cutoffs,
                           config, spec.seed, protocol, split, dataset.test, stage="chains")
    rows = [_row(cutoff, first, second) for cutoff, (first, second) in zip(cutoffs, chains,
                                                                          strict=True)]
    return {"train_accuracy": final["train_accuracy"], "train_loss": final["train_loss"],
            "test_accuracy": final["test_accuracy"], "training_time_s": final["wall_time_s"],
            "max_hidden_efficiency": rows[0]["max_efficiency"], "rows": rows,
            "run_options": effective_options(config, CUTOFF_PRUNING.options)}


def _row(cutoff: float, first: PruneResult, second: PruneResult) -> dict[str, Any]:
    """One row of Fig. 5 from its chain: prune with ε, retrain, prune again with ε."""
    retrain_s = first.retrain["wall_time_s"]
    return {
        "cutoff": cutoff,
        "max_efficiency": max(first.efficiencies),
        "accuracy_after_pruning": first.after["train_accuracy"],
        "test_accuracy_after_pruning": first.after["test_accuracy"],
        "remaining_neurons": first.width_after,
        "pruning_time_s": first.seconds,
        "emptied": emptied(first),
        "accuracy_after_learning": first.retrain["train_accuracy"],
        "test_accuracy_after_learning": first.retrain["test_accuracy"],
        "retraining_time_s": retrain_s,
        "retraining_fused_members": int(first.retrain.get("fused_members", 1)),
        "learning_and_second_pruning_time_s": retrain_s + second.seconds,
        "accuracy_after_second_pruning": second.after["train_accuracy"],
        "test_accuracy_after_second_pruning": second.after["test_accuracy"],
        "remaining_neurons_after_second_pruning": second.width_after,
        "removed_by_second_pruning": second.n_removed,
        "second_pruning_time_s": second.seconds,
    }


# -- report --------------------------------------------------------------------------------


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    table = paper_table("fig5")
    context = table.context
    cutoffs = unique_values(records, "rows", "cutoff")
    setup = markdown_table(PAPER_VS_OURS_HEADERS, [
        paper_vs_ours_row("training accuracy after 5000 paper epochs",
                          summarize_field(records, "train_accuracy"),
                          context["initial_accuracy"]),
        paper_vs_ours_row("test accuracy", summarize_field(records, "test_accuracy"), None),
        paper_vs_ours_row("max hidden1 efficiency E_k", summarize_field(
            records, "max_hidden_efficiency"), context["max_hidden_efficiency"], 3),
        timing_row("training time (s)", summarize_field(records, "training_time_s"), None),
    ])
    parts = [header(CUTOFF_PRUNING, records),
             "## The trained nets (Fig. 5 caption)\n\n" + setup,
             "## Fig. 5, column by column\n\nRows are the cutoffs ε; accuracies are training "
             "accuracies, as the paper's."]
    for field, title, digits in QUANTITIES:
        parts.append(f"### {title}\n\n" + ours_vs_paper_table(
            records, "rows", "cutoff", "ε", field, table, field, digits=digits))
    parts.append("### Test (validation) accuracy — the paper does not report it\n\n"
                 + _test_table(records, cutoffs))
    parts.append(f"### Timings (s; {TIMING_NOTE})\n\n" + fused_share_note(records, "rows")
                 + _timing_table(records, cutoffs, table))
    emptied_rows = sum(row["emptied"] for r in records for row in r["result"]["rows"])
    if emptied_rows:
        parts.append(f"> {emptied_rows} (seed, ε) rows had every efficiency below ε: the most "
                     "efficient neuron was kept.")
    claims = [_claim_stable(records, cutoffs), _claim_monotone(records, cutoffs, table),
              _claim_cutoff_half(records, table)]
    parts += [claims_section(claims, records),
              "## Fig. 4\n\n" + save_figure(_figure(records, cutoffs, table), out_dir,
                                            "fig4.png")]
    return write_summary(out_dir, parts)


def _test_table(records: Sequence[dict[str, Any]], cutoffs: Sequence[float]) -> str:
    fields = ("test_accuracy_after_pruning", "test_accuracy_after_learning",
              "test_accuracy_after_second_pruning")
    rows = [[number(c)] + [format_summary(summarize_rows(records, "rows", f, cutoff=c), 4)
                           for f in fields] for c in cutoffs]
    return markdown_table(("ε", "after pruning", "after learning", "after second pruning"), rows)


def _timing_table(records: Sequence[dict[str, Any]], cutoffs: Sequence[float],
                  table: Any) -> str:
    rows = []
    for c in cutoffs:
        rows.append(timing_row(f"ε = {number(c)}: pruning", summarize_rows(
            records, "rows", "pruning_time_s", cutoff=c), paper_cell(table, "pruning_time_s",
                                                                   cutoff=c)))
        rows.append(timing_row(f"ε = {number(c)}: learning and second pruning", summarize_rows(
            records, "rows", "learning_and_second_pruning_time_s", cutoff=c),
            paper_cell(table, "learning_and_second_pruning_time_s", cutoff=c)))
    return markdown_table(("quantity", "ours (s)", "paper (s)", "note"), rows)


def _claim_stable(records: Sequence[dict[str, Any]], cutoffs: Sequence[float]) -> Claim:
    """Claim 6: the second pruning removes < 1 neuron and changes accuracy by < 0.001."""
    verdicts, worst_removed, worst_change = [], (0.0, None), (0.0, None)
    for c in cutoffs:
        removed = summarize_rows(records, "rows", "removed_by_second_pruning", cutoff=c)
        change = paired(per_seed(records, "rows", "accuracy_after_second_pruning", cutoff=c),
                        per_seed(records, "rows", "accuracy_after_learning", cutoff=c))
        verdicts += [equivalence_verdict(removed.mean, removed.se, NEURONS_TOLERANCE),
                     equivalence_verdict(change.mean, change.se, ACCURACY_TOLERANCE)]
        if worst_removed[1] is None or removed.mean >= worst_removed[1].mean:
            worst_removed = (c, removed)
        if worst_change[1] is None or abs(change.mean) >= abs(worst_change[1].mean):
            worst_change = (c, change)
    statistic = (f"second pruning removes at most {format_summary(worst_removed[1], 2)} "
                 f"neurons (ε = {number(worst_removed[0])}); largest accuracy change "
                 f"{format_summary(worst_change[1], 5)} (ε = {number(worst_change[0])}); "
                 f"tolerances {NEURONS_TOLERANCE:g} neuron, {ACCURACY_TOLERANCE:g} at every ε; "
                 "paper ≤ 0.2 neurons, ≤ 0.0002")
    return Claim("6", reference_claim_text(6), all_of(verdicts), statistic)


def _claim_monotone(records: Sequence[dict[str, Any]], cutoffs: Sequence[float],
                    table: Any) -> Claim:
    """Claim 8: accuracy after pruning, after retraining and the width fall with ε."""
    series = (("accuracy_after_pruning", "after pruning", 4),
              ("accuracy_after_learning", "after retraining", 4),
              ("remaining_neurons", "neurons", 1))
    verdicts, parts = [], []
    for field, label, digits in series:
        values = [per_seed(records, "rows", field, cutoff=c) for c in cutoffs]
        steps = [paired(b, a) for a, b in zip(values, values[1:], strict=False)]
        total = paired(values[-1], values[0]) if len(values) > 1 else None
        verdicts.append(non_increasing(steps, total))
        first, last = (summarize_rows(records, "rows", field, cutoff=c)
                       for c in (cutoffs[0], cutoffs[-1]))
        paper = [paper_cell(table, field, cutoff=c) for c in (cutoffs[0], cutoffs[-1])]
        paper_text = " → ".join("—" if p is None else p.text for p in paper)
        rise = max(range(len(steps)), key=lambda k: steps[k].mean, default=None)
        rise_text = "" if rise is None else (
            f", largest step {format_summary(steps[rise], digits)} at ε = "
            f"{number(cutoffs[rise])} → {number(cutoffs[rise + 1])}")
        parts.append(f"{label} {first.mean:.{digits}f} → {last.mean:.{digits}f} "
                     f"(paper {paper_text}){rise_text}")
    statistic = (f"ε = {number(cutoffs[0])} → {number(cutoffs[-1])}: " + "; ".join(parts)
                 + "; verdict from paired per-seed steps between consecutive ε")
    return Claim("8", reference_claim_text(8), all_of(verdicts), statistic)


def _claim_cutoff_half(records: Sequence[dict[str, Any]], table: Any) -> Claim:
    """Claim 7, the cutoff half: the ε = 0.1 and 0.2 chains (sizes, accuracies, times)."""
    parts = []
    for c in (0.1, 0.2):
        neurons = summarize_rows(records, "rows", "remaining_neurons_after_second_pruning",
                                 cutoff=c)
        if neurons is None:
            continue
        accuracy = summarize_rows(records, "rows", "accuracy_after_second_pruning", cutoff=c)
        seconds = paired(per_seed(records, "rows", "pruning_time_s", cutoff=c),
                         per_seed(records, "rows", "learning_and_second_pruning_time_s",
                                  cutoff=c), lambda a, b: a + b)
        paper = [paper_cell(table, k, cutoff=c).text for k in (
            "remaining_neurons_after_second_pruning", "accuracy_after_second_pruning")]
        parts.append(f"ε = {number(c)}: {neurons.mean:.1f} neurons at {accuracy.mean:.4f} in "
                     f"{seconds.mean:.1f} s (paper {paper[0]} at {paper[1]}, "
                     f"{'76' if c == 0.1 else '56'} s)")
    statistic = "; ".join(parts) if parts else "ε = 0.1 and 0.2 not run (quick protocol)"
    return Claim("7 (cutoff half)", reference_claim_text(7), Verdict.INCONCLUSIVE,
                 statistic + "; the comparison with accuracy-goal pruning is in goal-pruning")


def _figure(records: Sequence[dict[str, Any]], cutoffs: Sequence[float], table: Any) -> Any:
    figure = new_figure(10.0, 4.0)
    if figure is None:
        return None
    left, right = figure.subplots(1, 2)
    panels = ((left, (("accuracy_after_pruning", "after first pruning", "o"),
                      ("accuracy_after_second_pruning", "after retraining + second pruning",
                       "s")), "training accuracy"),
              (right, (("remaining_neurons", "after first pruning", "o"),
                       ("remaining_neurons_after_second_pruning",
                        "after retraining + second pruning", "s")), "hidden1 neurons left"))
    for ax, fields, ylabel in panels:
        for field, label, marker in fields:
            summaries = [summarize_rows(records, "rows", field, cutoff=c) for c in cutoffs]
            line = ax.errorbar(cutoffs, [s.mean for s in summaries],
                               yerr=[s.se or 0.0 for s in summaries], marker=marker,
                               capsize=2, label=f"ours, {label}")
            paper = [(c, paper_cell(table, field, cutoff=c)) for c in cutoffs]
            paper = [(c, p) for c, p in paper if p is not None]
            if paper:
                ax.errorbar([c for c, _ in paper], [p.mean for _, p in paper],
                            yerr=[p.error or 0.0 for _, p in paper], marker=marker,
                            linestyle="--", color=line[0].get_color(), alpha=0.5, capsize=2,
                            label=f"paper, {label}")
        ax.set(xlabel="efficiency cutoff ε", ylabel=ylabel)
        ax.legend(fontsize="x-small")
    figure.suptitle(f"A1 cutoff pruning of N4 hidden1 ({records[0]['spec']['protocol']} "
                    "protocol; paper: Figs 4–5)", fontsize=10)
    return figure


ROW_SCHEMA = {
    "cutoff": NUMBER, "max_efficiency": NUMBER, "accuracy_after_pruning": NUMBER,
    "test_accuracy_after_pruning": NUMBER, "remaining_neurons": INTEGER, "pruning_time_s": NUMBER,
    "emptied": BOOLEAN, "accuracy_after_learning": NUMBER, "test_accuracy_after_learning": NUMBER,
    "retraining_time_s": NUMBER, "learning_and_second_pruning_time_s": NUMBER,
    "accuracy_after_second_pruning": NUMBER, "test_accuracy_after_second_pruning": NUMBER,
    "remaining_neurons_after_second_pruning": INTEGER, "removed_by_second_pruning": INTEGER,
    "second_pruning_time_s": NUMBER,
}
RESULT_SCHEMA = {"train_accuracy": NUMBER, "train_loss": NUMBER, "test_accuracy": NUMBER,
                 "training_time_s": NUMBER, "max_hidden_efficiency": NUMBER, "rows": [ROW_SCHEMA]}
"""What :func:`run` returns (checked when a stored run is read back)."""


CUTOFF_PRUNING = Experiment(
    name="cutoff-pruning",
    section="5.2",
    figures=("Fig. 4", "Fig. 5"),
    description="A1 cutoff ε on N4 hidden1, retrain 500 paper epochs, prune again with ε",
    configs=configs,
    run=run,
    report=report,
    options=("invert", "init", "l2", "lr_schedule"),
    result_schema=RESULT_SCHEMA,
)
