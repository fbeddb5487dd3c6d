"""Replication-shift with independent peaked sets: does the sets' overlap explain Fig. 23's gap?

The paper does not say whether its '3'-peaked and '1'-peaked sets (§5.7) share their 600
examples of every other digit (REFERENCE §1.15 item 21); ours do
(:mod:`neuroplast.experiments.definitions.replication_shift`). The fidelity study found our N1s,
trained on the '3'-peaked set, *more* accurate on the '1'-peaked set than the paper's before any
retraining, and the better trained, the more (docs/reproduction/fidelity.md). A set whose other
digits the net has trained on is easier; this benchmark tests that reading: it runs
replication-shift with the new set drawn independently (configuration ``peaked_sets:
independent``) under the reproduction's run options (or those given), and compares its paper
cells with the shared-sets runs stored under ``--compare`` (same protocol and options): cells
within 2 combined s.e. for each, and how often each is nearer the paper in value, with the
exact sign test.

Usage::

    python -m benchmarks.peaked_sets --protocol fast --seeds 10 --out OUT \\
        --compare docs/reproduction [--invert] [--init lecun-normal] [--l2 half-weights]

Writes ``OUT/<protocol>[-options]/replication-shift/`` (the experiment's own resumable runs
and summary) and ``OUT/<protocol>[-options]/peaked-sets.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report_cells import Cell, agreement, paper_cells
from benchmarks.run_arguments import add_run_arguments, options_folder

EXPERIMENT = "replication-shift"


def independent_sets_experiment(options: dict[str, Any]):  # -> Experiment
    """replication-shift under ``options`` with independent peaked sets."""
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options

    return with_options(EXPERIMENTS[EXPERIMENT], **(options | {"peaked_sets": "independent"}))


def shared_sets_records(folder: Path, options: dict[str, Any], protocol: str,
                        seeds: int) -> list[dict[str, Any]]:
    """The stored shared-sets runs under ``folder/replication-shift/runs`` that the same
    protocol, options and seeds plan (same run ids), in run order."""
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options
    from neuroplast.experiments.runner import stored_records

    return stored_records(with_options(EXPERIMENTS[EXPERIMENT], **options), protocol=protocol,
                          seeds=seeds, out_dir=folder)


def nearer_counts(first: list[Cell], second: list[Cell]) -> tuple[int, int, float]:
    """Over the paper cells both have: how often the first, then the second is nearer the
    paper in value (|ours − paper|), and the sign test's two-sided p (ties dropped)."""
    from neuroplast.analysis import sign_test

    others = {c.key: c for c in second}
    pairs = [(c, others[c.key]) for c in first if c.key in others]
    wins = sum(abs(a.difference) < abs(b.difference) for a, b in pairs)
    losses = sum(abs(b.difference) < abs(a.difference) for a, b in pairs)
    return wins, losses, sign_test(wins, losses)


def main(argv: Sequence[str] | None = None) -> int:
    from neuroplast.experiments.runner import run_sweep

    parser = argparse.ArgumentParser(prog="python -m benchmarks.peaked_sets",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--compare", type=Path, required=True,
                        help="folder holding the shared-sets runs (e.g. docs/reproduction)")
    args = parser.parse_args(argv)
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    folder = options_folder(args.out, args.protocol, options)  # off-default options name it
    shared = shared_sets_records(args.compare, options, args.protocol, args.seeds)
    if not shared:
        parser.error(f"no stored {EXPERIMENT} runs under {args.compare} for protocol "
                     f"{args.protocol} and options {options}; run them first (neuroplast "
                     "reproduce) or give the folder that holds them")
    experiment = independent_sets_experiment(options)
    records = run_sweep(experiment, protocol=args.protocol, seeds=args.seeds, out_dir=folder,
                        workers=args.workers, progress=False, data_dir=args.data)
    independent = paper_cells(experiment.report(records, folder / EXPERIMENT).read_text(),
                              EXPERIMENT)
    scratch = folder / "shared-sets"  # the comparison's own report, from the stored runs
    shared_cells = paper_cells(experiment.report(shared, scratch).read_text(), EXPERIMENT)
    wins, losses, p = nearer_counts(independent, shared_cells)
    lines = [f"# {EXPERIMENT}: independent vs shared peaked sets", "",
             f"Protocol `{args.protocol}`, options {options}, seeds 0–{args.seeds - 1} "
             f"({len(records)} independent-sets runs, {len(shared)} shared-sets runs from "
             f"`{args.compare}`). A cell agrees when |ours − paper| ≤ 2 combined s.e.", "",
             "| peaked sets | cells within 2 s.e. |", "|---|---|",
             f"| independent | {'/'.join(map(str, agreement(independent)))} |",
             f"| shared | {'/'.join(map(str, agreement(shared_cells)))} |", "",
             f"Nearer the paper in value: independent in {wins} cells, shared in {losses} "
             f"(exact sign test, two-sided p = {p:.2g}).", ""]
    path = folder / "peaked-sets.md"
    path.write_text("\n".join(lines))
    print(f"[peaked-sets] {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
