"""Does Mathematica's default learning-rate schedule move a net's trained accuracy? The same
nets trained at a constant rate and under ``NetTrain``'s SGD default (REFERENCE §2.2;
docs/reproduction/fidelity.md, "The learning-rate schedule").

The paper states a "constant learning rate 0.001"; Mathematica's ``"SGD"`` method scales the
rate by √(1 − t/(T + 1)) over a ``NetTrain`` call unless told otherwise
(:mod:`neuroplast.train.lr_schedule`). This probe trains the same members under each
``--schedules`` level (the first the reference) with the run's L2 form and reports each level's
training and test accuracy and its difference from the first, paired by seed.

As in :mod:`benchmarks.l2_strength`, the members of a level are trained fused: member s is
initialised with seed s and all share one data order (``--data-seed``), the same for every
level, so levels differ in the schedule alone.

Usage::

    python -m benchmarks.lr_schedule --protocol medium --init kaiming-normal --l2 half-weights \\
        --seeds 10 --out OUT [--schedules constant polynomial] [--arch N1] \\
        [--paper-epochs 10000] [--invert] [--data DIR]

Writes ``OUT/<protocol>[-options]/lr-schedule.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from benchmarks.l2_strength import paired_table, paper_line, train_level
from benchmarks.run_arguments import (
    add_run_arguments,
    made_by,
    options_folder,
    write_probe_report,
)


def markdown(levels: Sequence[dict[str, Any]], header: str, paper: str | None) -> str:
    """The table: each schedule's accuracies and their differences from the first schedule,
    paired by seed."""
    table = paired_table(levels, ("learning-rate schedule",),
                         lambda level: (f"`{level['schedule']}`",), levels[0]["schedule"])
    return "\n".join([header, "", *table, *paper_line(paper)]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every schedule's members; write the JSON and markdown."""
    from neuroplast.experiments.experiment import mnist
    from neuroplast.experiments.options import encoding_name, run_protocol
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.train import restrict
    from neuroplast.train.lr_schedule import LR_SCHEDULES
    from neuroplast.train.threads import torch_threads

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lr_schedule",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--schedules", nargs="+", default=["constant", "polynomial"],
                        choices=list(LR_SCHEDULES),
                        help="learning-rate schedules, the first the reference")
    parser.add_argument("--arch", default="N1", help="a preset (default N1, Fig. 22's net)")
    parser.add_argument("--paper-epochs", type=float, default=10000.0,
                        help="training length in the paper's epochs (default Fig. 22's 10000)")
    parser.add_argument("--data-seed", type=int, default=0, help="the shared data order's seed")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (a standard error needs two members)")
    if len(set(args.schedules)) != len(args.schedules):
        parser.error(f"--schedules lists a schedule twice: {args.schedules}")
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    folder = options_folder(args.out, args.protocol, options)
    protocol = run_protocol(args.protocol, options)
    data = mnist(args.data, invert=args.invert)
    train_split = restrict(data.train, protocol)
    started = time.perf_counter()
    levels = []
    with torch_threads(1):  # as the sweep workers train
        for schedule in args.schedules:
            scheduled = replace(protocol, lr_schedule=schedule)
            level = train_level(args.arch, 1.0, scheduled, train_split, data.test,
                                init=args.init, seeds=args.seeds,
                                paper_epochs=args.paper_epochs, data_seed=args.data_seed)
            levels.append({"schedule": schedule, **level})
            print(f"[lr-schedule] {schedule} done", file=sys.stderr)
    paper = (paper_table("fig22").context["initial_accuracy"].text
             if args.arch.upper() == "N1" and args.paper_epochs == 10000 else None)
    header = (
        f"# Does the learning-rate schedule move {args.arch}'s trained accuracy?\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}`; {args.arch} trained {args.paper_epochs:g} paper epochs under each "
        f"schedule; members 0–{args.seeds - 1} fused, one data order (seed {args.data_seed}) "
        "for every schedule, so differences are paired by seed. "
        + made_by("benchmarks.lr_schedule", argv, started))
    write_probe_report(folder, "lr-schedule", markdown(levels, header, paper), {
        "protocol": args.protocol, "options": options, "arch": args.arch,
        "paper_epochs": args.paper_epochs, "data_seed": args.data_seed, "seeds": args.seeds,
        "levels": levels}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
