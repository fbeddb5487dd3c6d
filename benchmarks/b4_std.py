"""Replication and replication-shift with B4's random neuron at another spread (run option
``b4_std``): does a wider neuron give the paper's B4 cells?

The paper draws B4's neuron "from the same distribution as other weights" (§5.6, REFERENCE
§1.15 item 13); ours is Xavier-normal, and costs the net less at first than the paper's
(docs/reproduction/fidelity.md, "The N1 experiments"; ``benchmarks/b4_width.py`` measured the
cost on Fig. 22's nets). This probe runs the experiments themselves with
``b4_std`` = ``initialiser`` or ``trained`` (:mod:`neuroplast.experiments.definitions.
random_neuron_spread`) — replication only its Fig. 22 configuration, the one with paper
numbers, as the fidelity study does — and compares each experiment's paper cells with the
library-B4 runs of the same protocol, options and seeds stored under ``--compare``: cells
within 2 combined s.e. for each, and the B4 cells side by side. B5 and B1 runs are the same
under every spread (same seeds, same batches), so only B4's cells can move.

Usage::

    python -m benchmarks.b4_std --b4-std trained --protocol fast --seeds 10 --out OUT \\
        [--experiments replication replication-shift] [--compare docs/reproduction] \\
        [--invert] [--init INIT] [--l2 FORM] [--workers 2]

Writes ``OUT/<protocol>[-options]/<experiment>/`` (the experiment's own resumable runs and
summary, which ``python -m benchmarks.cell_counts`` reads like any results folder) and
``OUT/<protocol>[-options]/b4-std.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report_cells import Cell, agreement, paper_cells
from benchmarks.run_arguments import add_run_arguments, options_folder

if TYPE_CHECKING:
    from neuroplast.experiments import Experiment

EXPERIMENT_NAMES = ("replication", "replication-shift")
B4_NAME = re.compile(r"(?<!\w)B4(?!\w)")


def spread_experiment(name: str, options: dict[str, Any]) -> Experiment:
    """``name`` under ``options`` (``b4_std`` among them), cut to the configurations the
    fidelity study runs (replication: Fig. 22)."""
    from benchmarks.fidelity import studied_configurations
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options

    return studied_configurations(with_options(EXPERIMENTS[name], **options), name)


def b4_rows(cells: Sequence[Cell]) -> dict[str, Cell]:
    """The cells of B4's rows or columns by quantity (the reports name them ``B4``:
    ``…: After 10 epochs retraining, B4`` in Fig. 22, ``…: B4 / After 10 epochs retraining
    (validation)`` in Fig. 23)."""
    return {c.quantity: c for c in cells if B4_NAME.search(c.quantity)}


def main(argv: Sequence[str] | None = None) -> int:
    from neuroplast.experiments.options import OPTIONS
    from neuroplast.experiments.runner import run_sweep

    parser = argparse.ArgumentParser(prog="python -m benchmarks.b4_std",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    spreads = [v for v in OPTIONS["b4_std"].levels if v != OPTIONS["b4_std"].default]
    parser.add_argument("--b4-std", required=True, choices=spreads,
                        help="B4's spread: the initialiser's for those layers, or the trained "
                             "layers' own")
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENT_NAMES,
                        default=list(EXPERIMENT_NAMES))
    parser.add_argument("--compare", type=Path, default=None,
                        help="a folder holding the library-B4 runs of the same protocol, "
                             "options and seeds (e.g. docs/reproduction)")
    args = parser.parse_args(argv)
    args.experiments = list(dict.fromkeys(args.experiments))  # each experiment once
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    spread = options | {"b4_std": args.b4_std}
    folder = options_folder(args.out, args.protocol, spread)
    library = {}
    if args.compare is not None:
        from neuroplast.experiments.runner import stored_records

        for name in args.experiments:
            library[name] = stored_records(spread_experiment(name, options),
                                           protocol=args.protocol, seeds=args.seeds,
                                           out_dir=args.compare)
            if not library[name]:
                parser.error(f"no stored {name} runs under {args.compare} for protocol "
                             f"{args.protocol}, options {options} and {args.seeds} seeds; run "
                             "them first or give the folder that holds them")
    lines = [f"# Replication's B4 at the `{args.b4_std}` spread", "",
             f"Protocol `{args.protocol}`, options {options}, seeds 0–{args.seeds - 1}; "
             "`python -m benchmarks.b4_std` (module docstring). A cell agrees when "
             "|ours − paper| ≤ 2 combined s.e."]
    for name in args.experiments:
        experiment = spread_experiment(name, spread)
        records = run_sweep(experiment, protocol=args.protocol, seeds=args.seeds,
                            out_dir=folder, workers=args.workers, progress=False,
                            data_dir=args.data)
        cells = paper_cells(experiment.report(records, folder / name).read_text(), name)
        lines += ["", f"## {name} ({len(records)} runs)", "",
                  f"Cells within 2 s.e.: `{args.b4_std}` {'/'.join(map(str, agreement(cells)))}"]
        if name not in library:
            continue
        base = spread_experiment(name, options)
        with tempfile.TemporaryDirectory() as scratch:  # the library runs' own report
            theirs = paper_cells(base.report(library[name], Path(scratch) / name).read_text(),
                                 name)
        lines[-1] += f", library B4 (`{args.compare}`) {'/'.join(map(str, agreement(theirs)))}."
        ours_b4, theirs_b4 = b4_rows(cells), b4_rows(theirs)
        lines += ["", f"| B4 cell | `{args.b4_std}`: ours − paper | library B4: ours − paper |",
                  "|---|---|---|"]
        lines += [f"| {quantity} | {cell.difference:+.4g} ± {cell.se:.2g}"
                  f"{'' if cell.agrees else ' (miss)'} | {theirs_b4[quantity].difference:+.4g} "
                  f"± {theirs_b4[quantity].se:.2g}"
                  f"{'' if theirs_b4[quantity].agrees else ' (miss)'} |"
                  for quantity, cell in ours_b4.items() if quantity in theirs_b4]
    path = folder / "b4-std.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"[b4-std] {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
