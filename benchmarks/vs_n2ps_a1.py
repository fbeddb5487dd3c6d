"""vs-n2ps: which A1 procedure gives the paper's Fig. 15 A1 rows?

Our A1 rows of Fig. 15 lose almost no accuracy (inverted MNIST, `fast`: 0.868 at 1 %, 0.825 at
10 %, from 0.869) where the paper's lose much (0.756 and 0.682, from 0.8695), under `medium`
too (docs/reproduction/fidelity.md). The paper does not say how it removed the neurons A1
chose in this comparison. This benchmark runs vs-n2ps on the paper's (inverted) encoding with
A1 variants beside the stock rows, each at both cutoffs, on the same trained nets:

* ``no compensation``: both sites' neurons deleted (rule ``none``, as N2PS removes);
* ``inputs deleted``: inputs deleted, hidden1 re-wired by A1;
* ``hidden1 deleted``: inputs re-wired by A1, hidden1 deleted;
* ``hidden1 ranked after input removal``: A1 on both, hidden1's efficiencies taken on the
  input-pruned net (the stock rows rank both sites on the unpruned net);
* ``constant inputs deleted``: the chosen inputs that never vary over the training data
  (C_kk = 0; on inverted MNIST the 67 border pixels that are 1 in every image) deleted, the
  other chosen inputs and hidden1 re-wired by A1 — what a compensation that skips
  zero-variance inputs (a 0/0 it cannot evaluate, say) would do.

Usage::

    python -m benchmarks.vs_n2ps_a1 --protocol fast --seeds 10 --out OUT [--data DIR]

Writes ``OUT/<protocol>/vs-n2ps/`` (the experiment's own resumable runs and summary, every
variant a row beside the paper's A1 row) and ``OUT/<protocol>/a1-variants.md``: for each
variant, its accuracy, inputs and hidden1 kept against the paper's, and the cells within 2
combined s.e.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.run_arguments import add_run_arguments, options_folder

EXPERIMENT = "vs-n2ps"
CUTOFFS = ((0.01, "1 %", 3), (0.1, "10 %", 4))
"""(threshold, label, the paper's Fig. 15 row)."""
VARIANTS = (
    ("no compensation", {"rules": ["none", "none"]}),
    ("inputs deleted", {"rules": ["none", "A1"]}),
    ("hidden1 deleted", {"rules": ["A1", "none"]}),
    ("hidden1 ranked after input removal", {"choose_hidden_after_inputs": True}),
    ("constant inputs deleted", {"delete_constant_inputs": True}),
)
"""(name, the method keys that differ from the stock A1 row)."""
QUANTITIES = (("train_accuracy", "accuracy", 3), ("input_neurons", "input_neurons", 1),
              ("hidden_neurons", "hidden_neurons", 1))
"""(our result key, the paper's Fig. 15 column, decimals)."""


def variant_methods() -> list[dict[str, Any]]:
    """One method per variant and cutoff, ids ``a1-<percent>%/<variant>``."""
    return [{"id": f"a1-{round(threshold * 100)}%/{name}",
             "label": f"A1 {label} cutoff, {name} (variant)", "input": "connection",
             "hidden": "connection", "threshold": threshold, "rule": "A1",
             "paper_row": paper_row, **keys}
            for threshold, label, paper_row in CUTOFFS for name, keys in VARIANTS]


@dataclass(frozen=True)
class InvertedWithVariants:
    """vs-n2ps' configurations on the inverted encoding only, with :func:`variant_methods`
    after Fig. 15's rows (picklable, for sweep workers)."""

    configs: Callable[[Any], list[dict[str, Any]]]

    def __call__(self, protocol: Any) -> list[dict[str, Any]]:
        return [config | {"methods": config["methods"] + variant_methods()}
                for config in self.configs(protocol) if config["invert"]]


def variants_table(records: list[dict[str, Any]]) -> tuple[str, int, int]:
    """Markdown rows (stock rows first) and the count of cells within 2 s.e. / cells."""
    from benchmarks.report_cells import within
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.experiments.stats_summary import format_difference, summarize, versus_paper

    paper = paper_table("fig15")
    lines = ["| A1 procedure | cutoff | accuracy (training) | paper | ours − paper | inputs kept "
             "| paper | hidden1 kept | paper | cells within 2 s.e. |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    agreeing = total = 0
    for method in records[0]["spec"]["config"]["methods"]:
        if method["input"] != "connection":
            continue
        row = paper.rows[method["paper_row"]]
        name = method["id"].partition("/")[2] or "stock (the reproduction)"
        cells, agreeing_cells = [], 0
        for key, column, digits in QUANTITIES:
            ours = summarize(r["result"]["methods"][method["id"]][key] for r in records)
            difference = versus_paper(ours, row[column])
            agreeing_cells += within(difference.mean, difference.se)
            cells.append((ours.format(digits), row[column].text,
                          format_difference(difference, digits)))
        agreeing, total = agreeing + agreeing_cells, total + len(QUANTITIES)
        (accuracy, paper_accuracy, gap), (inputs, paper_inputs, _), (hidden, paper_hidden, _) \
            = cells
        cutoff = f"{round(method['threshold'] * 100)} %"
        lines.append(f"| {name} | {cutoff} | {accuracy} | {paper_accuracy} | {gap} | {inputs} | "
                     f"{paper_inputs} | {hidden} | {paper_hidden} | "
                     f"{agreeing_cells}/{len(QUANTITIES)} |")
    return "\n".join(lines), agreeing, total


def main(argv: Sequence[str] | None = None) -> int:
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options
    from neuroplast.experiments.runner import run_sweep

    parser = argparse.ArgumentParser(prog="python -m benchmarks.vs_n2ps_a1",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    options = {"init": args.init, "l2": args.l2}
    folder = options_folder(args.out, args.protocol, options)
    experiment = with_options(EXPERIMENTS[EXPERIMENT], **options)
    experiment = replace(experiment, configs=InvertedWithVariants(experiment.configs))
    records = run_sweep(experiment, protocol=args.protocol, seeds=args.seeds, out_dir=folder,
                        workers=args.workers, progress=False, data_dir=args.data)
    experiment.report(records, folder / EXPERIMENT)
    table, agreeing, total = variants_table(records)
    lines = [f"# {EXPERIMENT}: A1 procedures against Fig. 15's A1 rows", "",
             f"Protocol `{args.protocol}`, options {options}, inverted MNIST, seeds "
             f"0–{args.seeds - 1} ({len(records)} sigmoid N4 nets, each pruned by every "
             "procedure). Paper: 28 nets. A cell agrees when |ours − paper| ≤ 2 combined s.e.; "
             f"{agreeing} of {total} cells do over all procedures.", "", table, ""]
    path = folder / "a1-variants.md"
    path.write_text("\n".join(lines))
    print(f"[vs-n2ps-a1] {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
