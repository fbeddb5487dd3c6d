"""cutoff-pruning's first prune under every reading of eq. 28, and with sequential removal.

The paper's nets keep more second-layer neurons than ours at large cutoffs (Fig. 5, ε ≥ 0.15;
docs/reproduction/fidelity.md) and have a larger top efficiency (0.631 ± 0.026). Two
choices of ours could cause that without any difference in the trained nets:

* **the reading of eq. 28** (``neuroplast.efficiency.readings``): output or pre-activation
  variances, f' at the mean pre-activation or averaged over the data, f' squared, not squared
  or left out; and statistics over the training or the test set;
* **one-shot or sequential removal** (REFERENCE §1.15 item 10): we remove every E_k < ε from
  one set of statistics; recomputing the efficiencies after each removal (``prune(...,
  recompute=True)``) removes fewer, since a removal lowers the consumers' variances.

A reading is one formula for every site, so it must also give the paper's numbers where our
Appendix reading already does: the top **input** efficiency of Fig. 7's nets (0.0432 ± 0.0017;
ours 0.0462 ± 0.0030 on the probable `paper` arm). The benchmark takes each net's ε = 0.1 prune
(the reproduction's own, one shot, not retrained: Fig. 7's nets are these after 500 epochs of
retraining and a second prune) and reports the largest input efficiency under every reading
(for the inputs the pre-activation is the pixel itself, so ``site-pre-variance`` equals
``appendix`` there).

On the same trained N4s (the trained cache's base nets of one fidelity arm), each row prunes a
copy at every cutoff of Fig. 5 with A1 — removing, most expendable first, every neuron whose
efficiency under that row's reading is below ε (one shot; the most efficient neuron kept if
all are below), the consumer re-wired with the means of the row's statistics — and records the
neurons kept and the training accuracy right after pruning. These 18 cells and the top
efficiency are the ones a reading can move without retraining; each is compared with the
paper's (within 2 combined s.e.). The ``appendix`` row is the reproduction's own prune: the
report says in how many prunes it keeps the same neurons as the library's ``prune``.

Usage::

    python -m benchmarks.cutoff_readings --protocol paper --invert --init lecun-normal \\
        --l2 half-weights --seeds 10 --out OUT [--data DIR] [--trained-cache DIR] \\
        [--workers K] [--momentum 0.93]

``--workers K`` trains the base nets the cache lacks K side by side first; ``--momentum μ``
trains them with SGD momentum μ (Mathematica's default 0.93, where the paper says 0) and
writes to ``OUT/<protocol>[-options]-momentum-μ``.

The base nets come from the trained cache (``--trained-cache``; default
``$NEUROPLAST_TRAINED_CACHE``, else ``~/.cache/neuroplast/trained``, as ``benchmarks.fidelity``),
so an arm the fidelity study
ran costs seconds a seed; a net not in the cache is trained first (under ``paper`` ~25 minutes
a net on one core). Writes ``OUT/<protocol>[-options]/cutoff-readings.{json,md}``.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from benchmarks.report_cells import within
from benchmarks.run_arguments import arm_probe, made_by, write_probe_report

SITE = "hidden1"
CUTOFFS = (0.01, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3)
"""Fig. 5's cutoffs ε."""
QUANTITIES = (("remaining_neurons", "neurons kept", 1), ("accuracy_after_pruning",
                                                         "accuracy after pruning", 4))
"""(the paper's Fig. 5 column, heading, decimals)."""
INPUT_NETS_CUTOFF = 0.1
"""Fig. 7's nets are N4s pruned at this hidden1 cutoff."""
SEQUENTIAL = "appendix, sequential removal"
TEST_SET = "appendix, test-set statistics"


@dataclass(frozen=True)
class Row:
    """One way of pruning: a reading of eq. 28, the data its statistics come from, and whether
    the efficiencies are recomputed after every removal."""

    name: str
    reading: str
    data: str = "train"
    sequential: bool = False


def rows() -> list[Row]:
    """Every reading on the training set, then the Appendix's on the test set and with
    sequential removal."""
    from neuroplast.efficiency.readings import READINGS

    return [Row(name, name) for name in READINGS] + [Row(TEST_SET, "appendix", data="test"),
                                                     Row(SEQUENTIAL, "appendix", sequential=True)]


def hidden1_sample(model: Any, x: torch.Tensor) -> Any:
    """The N4's second layer and its consumer on ``x``, in float64."""
    from neuroplast.efficiency.readings import SiteSample

    with torch.no_grad():
        model64 = copy.deepcopy(model).double()
        pre = model64.layers[0](model64.selector(x.double()))  # (N, 100)
        consumer = model64.layers[1]
        return SiteSample(pre, model64.activation.fn(pre), consumer.weight.clone(),
                          consumer.bias.clone(), model64.activation)


def one_shot(model: Any, stats: Any, efficiencies: torch.Tensor,
             cutoff: float) -> tuple[Any, list[int]]:
    """A copy of ``model`` with every neuron of efficiency < ``cutoff`` removed by A1, most
    expendable first (the most efficient kept if all are below; ties in the library's stable
    order), and the indices it keeps."""
    from neuroplast.death import Rewirer

    order = [int(k) for k in efficiencies.argsort(stable=True) if efficiencies[k] < cutoff]
    pruned = copy.deepcopy(model)
    rewirer = Rewirer(pruned, SITE, stats, "A1")
    rewirer.remove_many(order[: efficiencies.numel() - 1])
    return pruned, sorted(int(k) for k in rewirer.commit(pruned))


def prune_seed(model: Any, train: Any, test: Any) -> dict[str, dict[str, Any]]:
    """Every row's top efficiency and, per cutoff, neurons kept and training accuracy; the
    ``appendix`` row also lists the cutoffs where it keeps other neurons than the library's
    ``prune`` (``differs_from_prune``: its efficiencies come from a float64 copy, ``prune``'s
    from the model's own dtype, so a neuron within rounding of ε may fall either side)."""
    from neuroplast.death import prune
    from neuroplast.death.evaluation import classification_evaluator
    from neuroplast.efficiency.readings import reading_efficiency
    from neuroplast.experiments.definitions.pruning_common import keep_one
    from neuroplast.stats import collect_site_statistics

    evaluate = classification_evaluator(train)
    accuracy: Callable[[Any], float] = lambda m: evaluate(m)[0]  # noqa: E731
    width = model.site(SITE).width
    splits = {"train": train, "test": test}
    stats = {name: collect_site_statistics(model, SITE, split.x) for name, split in splits.items()}
    samples = {name: hidden1_sample(model, split.x) for name, split in splits.items()}
    out: dict[str, dict[str, Any]] = {}
    for row in rows():
        efficiencies = reading_efficiency(row.reading, samples[row.data])
        results, kept_sets = [], []
        for cutoff in CUTOFFS:
            if row.sequential:
                pruned = copy.deepcopy(model)
                prune(pruned, SITE, train, rule="A1", cutoff=cutoff,
                      max_fraction=keep_one(width), recompute=True)
            else:
                pruned, kept = one_shot(model, stats[row.data], efficiencies, cutoff)
                kept_sets.append(kept)
            results.append({"cutoff": cutoff, "remaining_neurons": pruned.site(SITE).width,
                            "accuracy_after_pruning": accuracy(pruned)})
        out[row.name] = {"max_efficiency": float(efficiencies.max()), "cutoffs": results}
        if row.name == "appendix":  # the reproduction's own prune, checked
            out[row.name]["differs_from_prune"] = [
                cutoff for cutoff, kept in zip(CUTOFFS, kept_sets, strict=True)
                if sorted(prune(copy.deepcopy(model), SITE, train, rule="A1", cutoff=cutoff,
                                max_fraction=keep_one(width)).kept) != kept]
    return out


def input_top_efficiencies(model: Any, train: Any) -> dict[str, float]:
    """The largest input efficiency of ``model`` pruned at ε = 0.1 (one shot, A1, Appendix
    reading; not retrained) under every reading."""
    from neuroplast.efficiency import connection_cut_efficiency
    from neuroplast.efficiency.readings import READINGS, SiteSample, reading_efficiency
    from neuroplast.stats import collect_site_statistics

    stats = collect_site_statistics(model, SITE, train.x)
    pruned, _ = one_shot(model, stats, connection_cut_efficiency(model, SITE, stats),
                         INPUT_NETS_CUTOFF)
    with torch.no_grad():
        pruned64 = copy.deepcopy(pruned).double()
        x = pruned64.selector(train.x.double())  # (N, 784): the pixels are the site
        first = pruned64.layers[0]
        sample = SiteSample(x, x, first.weight.clone(), first.bias.clone(), pruned64.activation)
    return {name: float(reading_efficiency(name, sample).max()) for name in READINGS}


def compare_inputs(per_seed: Sequence[dict[str, float]]) -> list[dict[str, Any]]:
    """Per reading: the top input efficiency over seeds against Fig. 7's."""
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.experiments.stats_summary import summarize, versus_paper

    paper = paper_table("fig7").context["max_input_efficiency"]
    result = []
    for name in per_seed[0]:
        ours = summarize(seed[name] for seed in per_seed)
        difference = versus_paper(ours, paper)
        result.append({"reading": name, "mean": ours.mean, "se": ours.se, "paper": paper.mean,
                       "paper_se": paper.error, "difference": difference.mean,
                       "difference_se": difference.se,
                       "within_2se": within(difference.mean, difference.se)})
    return result


def compare(per_seed: Sequence[dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per row: mean ± s.e. of every cell over seeds, ours − paper, and whether it agrees."""
    from neuroplast.experiments.definitions.pruning_common import paper_cell
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.experiments.stats_summary import summarize, versus_paper

    table = paper_table("fig5")
    summary = []
    for row in rows():
        cells = []
        top = summarize(seed[row.name]["max_efficiency"] for seed in per_seed)
        paper_top = table.context["max_hidden_efficiency"]
        cells.append(("max_efficiency", None, top, paper_top, versus_paper(top, paper_top)))
        for i, cutoff in enumerate(CUTOFFS):
            for key, _, _ in QUANTITIES:
                ours = summarize(seed[row.name]["cutoffs"][i][key] for seed in per_seed)
                paper = paper_cell(table, key, cutoff=cutoff)
                cells.append((key, cutoff, ours, paper, versus_paper(ours, paper)))
        summary.append({
            "row": row.name, "reading": row.reading, "data": row.data,
            "sequential": row.sequential,
            "within_2se": sum(within(d.mean, d.se) for *_, d in cells),
            "cells": len(cells),
            "width_gap_sum": sum(abs(d.mean) for key, _, _, _, d in cells
                                 if key == "remaining_neurons"),
            "values": [{"quantity": key, "cutoff": cutoff, "mean": ours.mean, "se": ours.se,
                        "paper": paper.mean, "paper_se": paper.error,
                        "difference": d.mean, "difference_se": d.se}
                       for key, cutoff, ours, paper, d in cells]})
    return summary


def cell(row: dict[str, Any], quantity: str, cutoff: float | None, digits: int) -> str:
    """A summary row's mean of ``quantity`` at ``cutoff``, bold when within 2 combined s.e. of
    the paper's."""
    value = next(v for v in row["values"] if v["quantity"] == quantity and v["cutoff"] == cutoff)
    mark = "**" if within(value["difference"], value["difference_se"]) else ""
    return f"{mark}{value['mean']:.{digits}f}{mark}"


def quantity_tables(summary: list[dict[str, Any]], key: str) -> list[str]:
    """Markdown lines: per quantity of :data:`QUANTITIES`, one table of every summary row
    (named by its ``key``) at Fig. 5's cutoffs, and the paper's row."""
    lines: list[str] = []
    for quantity, heading, digits in QUANTITIES:
        lines += ["", f"### {heading} (bold: within 2 combined s.e. of the paper's)", "",
                  f"| {key} | " + " | ".join(f"ε = {c:g}" for c in CUTOFFS) + " |",
                  "|---|" + "---|" * len(CUTOFFS)]
        for row in summary:
            lines.append(f"| {row[key]} | "
                         + " | ".join(cell(row, quantity, c, digits) for c in CUTOFFS) + " |")
        papers = [next(v for v in summary[0]["values"]
                       if v["quantity"] == quantity and v["cutoff"] == c) for c in CUTOFFS]
        lines.append("| paper | " + " | ".join(f"{v['paper']:.{digits}f}" for v in papers)
                     + " |")
    return lines


def markdown(summary: list[dict[str, Any]], inputs: list[dict[str, Any]], header: str) -> str:
    """The report: per row the cells within 2 s.e., then the widths, the accuracies and the
    top input efficiencies beside the paper's."""
    paper = summary[0]
    lines = [header, "", "| row | cells within 2 s.e. | Σ \\|ours − paper\\| of the "
             f"{len(CUTOFFS)} widths | top efficiency |", "|---|---|---|---|"]
    for row in summary:
        lines.append(f"| {row['row']} | {row['within_2se']} of {row['cells']} | "
                     f"{row['width_gap_sum']:.1f} | {cell(row, 'max_efficiency', None, 3)} |")
    first = next(v for v in paper["values"] if v["quantity"] == "max_efficiency")
    lines.append(f"| paper | | | {first['paper']:.3f} ± {first['paper_se']:.3f} |")
    lines += quantity_tables(summary, "row")
    lines += ["", f"### The top input efficiency of the nets pruned at ε = {INPUT_NETS_CUTOFF:g} "
              "(one shot, not retrained) against Fig. 7's", "",
              "| reading | top input efficiency | paper | ours − paper | within 2 s.e. |",
              "|---|---|---|---|---|"]
    for row in inputs:
        agrees = "yes" if row["within_2se"] else "no"
        lines.append(f"| {row['reading']} | {row['mean']:.4f} ± {row['se'] or 0.0:.4f} | "
                     f"{row['paper']:.4f} ± {row['paper_se']:.4f} | {row['difference']:+.4f} ± "
                     f"{row['difference_se'] or 0.0:.4f} | {agrees} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark on one arm's base nets; write the JSON and markdown reports."""
    from neuroplast.efficiency.readings import READINGS
    from neuroplast.experiments.options import encoding_name
    from neuroplast.train import restrict

    probe = arm_probe("python -m benchmarks.cutoff_readings", __doc__.split("\n\n")[0], argv)
    args, options, folder = probe.args, probe.options, probe.folder
    protocol, dataset = probe.protocol, probe.dataset
    train = restrict(dataset.train, protocol)
    started = time.perf_counter()
    per_seed, inputs, bases = [], [], []
    for seed, model, base in probe.base_nets():
        bases.append(base)
        per_seed.append(prune_seed(model, train, dataset.test))
        inputs.append(input_top_efficiencies(model, train))
        print(f"[cutoff-readings] seed {seed} done", file=sys.stderr)
    summary, input_summary = compare(per_seed), compare_inputs(inputs)
    checked = len(CUTOFFS) * len(per_seed)
    differs = [f"seed {seed} ε = {cutoff:g}" for seed, result in enumerate(per_seed)
               for cutoff in result["appendix"]["differs_from_prune"]]
    header = (
        f"# cutoff-pruning's first prune under each reading of eq. 28\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}`{probe.momentum_note}; seeds 0–{args.seeds - 1} "
        f"(the trained cache's base N4s; "
        f"{sum(b['from_cache'] for b in bases)} of {args.seeds} loaded from it). Each row prunes "
        f"copies of the same nets at Fig. 5's cutoffs (A1, one shot unless sequential); the "
        f"cells are the neurons kept and the training accuracy right after pruning (9 each) "
        f"and the top efficiency. Paper: 28 nets. "
        + made_by("benchmarks.cutoff_readings", argv, started) + " Readings: "
        + "; ".join(f"`{r.name}`: {r.description}" for r in READINGS.values()) + ". The "
        f"`appendix` row keeps the same neurons as the library's `prune` in "
        f"{checked - len(differs)} of {checked} prunes"
        + (f" (not at {', '.join(differs)})" if differs else "") + ".")
    write_probe_report(folder, "cutoff-readings", markdown(summary, input_summary, header), {
        "protocol": args.protocol, "options": options, "seeds": args.seeds, "site": SITE,
        "cutoffs": list(CUTOFFS), "base_nets": bases, "summary": summary,
        "per_seed": per_seed,
        "input_top_efficiency": {"summary": input_summary, "per_seed": inputs}}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
