"""Does Mathematica's default learning-rate schedule move a net's trained accuracy? The same
nets trained at a constant rate and under ``NetTrain``'s SGD default (REFERENCE §2.2;
docs/reproduction/fidelity.md, "The learning-rate schedule").

The paper states a "constant learning rate 0.001"; Mathematica's ``"SGD"`` method scales the
rate by √(1 − t/(T + 1)) over a ``NetTrain`` call unless told otherwise
(:mod:`neuroplast.train.lr_schedule`). This probe trains the same members under each
``--schedules`` level (the first the reference) with the run's L2 form and reports each level's
training and test accuracy and its difference from the first, paired by seed.

As in every level probe (:mod:`benchmarks.level_probe`), the members of a level are trained
fused: member s is initialised with seed s and all share one data order (``--data-seed``),
the same for every level, so levels differ in the schedule alone; levels train side by side
with ``--workers`` and a stopped run resumes.

Usage::

    python -m benchmarks.lr_schedule --protocol medium --init kaiming-normal --l2 half-weights \\
        --seeds 10 --out OUT [--schedules constant polynomial] [--arch N1] \\
        [--paper-epochs 10000] [--invert] [--data DIR] [--workers 2]

Writes ``OUT/<protocol>[-options]/lr-schedule.{json,md}``.
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
from benchmarks.run_arguments import add_run_arguments


def markdown(levels: Sequence[dict[str, Any]], header: str, paper: Sequence[str]) -> str:
    """The table: each schedule's accuracies and their differences from the first schedule,
    paired by seed."""
    table = paired_table(levels, ("learning-rate schedule",),
                         lambda level: (f"`{level['schedule']}`",), levels[0]["schedule"])
    return "\n".join([header, "", *table, *paper]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every schedule's members; write the JSON and markdown."""
    from neuroplast.train.lr_schedule import LR_SCHEDULES

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lr_schedule",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--schedules", nargs="+", default=["constant", "polynomial"],
                        choices=list(LR_SCHEDULES),
                        help="learning-rate schedules, the first the reference")
    add_member_arguments(parser)
    args = parser.parse_args(argv)
    refuse_repeats(parser, "--schedules", "schedule", args.schedules)
    setting = probe_setting(parser, args)
    started = time.perf_counter()
    levels = train_labelled_levels(
        args, setting, [({"schedule": schedule}, replace(setting.protocol, lr_schedule=schedule))
                        for schedule in args.schedules], "lr-schedule")
    header = levels_header(args, f"Does the learning-rate schedule move {args.arch}'s trained "
                           "accuracy?", "schedule", "benchmarks.lr_schedule", argv, started)
    write_level_report(setting, "lr-schedule",
                       markdown(levels, header, paper_line(args)),
                       probe_record(args, setting, levels), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
