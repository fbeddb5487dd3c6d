"""Does SGD momentum — Mathematica ``NetTrain``'s default 0.93, which the paper says it set to
0 — move a net's trained accuracy towards the paper's? The same nets trained under each
``--momenta`` level (the first the reference; docs/reproduction/fidelity.md, "Momentum").

The paper (§5.2, REFERENCE §2.2) trains with "momentum 0"; Mathematica's ``"SGD"`` method
defaults to ``"Momentum" -> 0.93`` (read in its source, decisions row 4). It is the one
difference between the paper's statement and its software's defaults that no run had tried.
PyTorch's SGD with momentum μ (v ← μv + g, θ ← θ − ηv, no dampening, the L2 term inside g) is
the heavy-ball rule v ← μv − ηg, θ ← θ + v at a constant rate, so a level is the protocol with
``momentum`` set; at μ = 0.93 a constant gradient moves θ 1/(1 − μ) ≈ 14.3 times as far per
step.

As in every level probe (:mod:`benchmarks.level_probe`), the members of a level are trained
fused: member s is initialised with seed s and all share one data order (``--data-seed``),
the same for every level, so levels differ in the momentum alone; levels train side by side
with ``--workers`` and a stopped run resumes. The report ends with the paper's accuracy where
it prints one for the net and length trained (N1 after 10000 epochs, Fig. 22; N4 after 5000,
Fig. 5's caption).

Usage::

    python -m benchmarks.momentum --protocol paper --invert --init lecun-normal \\
        --l2 half-weights --seeds 10 --out OUT [--momenta 0 0.93] [--arch N1] \\
        [--paper-epochs 10000] [--data DIR] [--workers 2]

Writes ``OUT/<protocol>[-options]/momentum.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from benchmarks.level_probe import (
    add_member_arguments,
    levels_header,
    paired_table,
    paper_line,
    probe_record,
    probe_setting,
    refuse_repeats,
    train_labelled_levels,
    write_level_report,
)
from benchmarks.run_arguments import (
    MATHEMATICA_MOMENTUM,
    add_run_arguments,
    momentum_value,
)


def markdown(levels: Sequence[dict[str, Any]], header: str, paper: Sequence[str]) -> str:
    """The table: each momentum's accuracies and their differences from the first momentum,
    paired by seed."""
    reference = f"momentum {levels[0]['momentum']:g}"
    table = paired_table(levels, ("momentum",), lambda level: (f"{level['momentum']:g}",),
                         reference)
    return "\n".join([header, "", *table, *paper]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every momentum's members; write the JSON and markdown."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.momentum",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--momenta", nargs="+", type=momentum_value,
                        default=[0.0, MATHEMATICA_MOMENTUM],
                        help="SGD momenta, the first the reference (default 0, the paper's, "
                             f"and {MATHEMATICA_MOMENTUM}, Mathematica's default)")
    add_member_arguments(parser)
    args = parser.parse_args(argv)
    refuse_repeats(parser, "--momenta", "momentum", args.momenta)
    setting = probe_setting(parser, args)
    started = time.perf_counter()
    levels = train_labelled_levels(
        args, setting, [({"momentum": momentum}, replace(setting.protocol, momentum=momentum))
                        for momentum in args.momenta], "momentum")
    header = levels_header(args, f"Does SGD momentum move {args.arch}'s trained accuracy?",
                           "momentum", "benchmarks.momentum", argv, started,
                           protocol_note=" (its rate and epochs unchanged)")
    write_level_report(setting, "momentum", markdown(levels, header, paper_line(args)),
                       probe_record(args, setting, levels), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
