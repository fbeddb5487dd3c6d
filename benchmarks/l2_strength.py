"""How strongly the L2 term limits a net's trained accuracy: the same nets trained with the
decay scaled by several factors (REFERENCE §1.15 item 2; docs/reproduction/fidelity.md, "The
strength of the L2 term").

The paper's N1s train to 0.91751 ± 0.00034 (Fig. 22, 10000 paper epochs); ours stop 0.002–0.003
short under the paper's own protocol on every setting run, although they have stopped learning
(B5's 1000 extra epochs add 0.0003 in the paper and 0.0004–0.0006 here). With weight decay the
accuracy a net settles at depends on the decay's strength, so this probe trains the same
members with the run's L2 form and its decay multiplied by each ``--factors`` level (1: the
form itself; 0.5: ``quarter-weights`` for ``half-weights``; 0: no decay) and reports each
level's training and test accuracy, and its difference from level 1 paired by seed.

The members of a level are trained fused (:func:`neuroplast.train.fused.train_fused`): member
s is initialised with seed s and all share one data order (``--data-seed``), the same for every
level, so levels differ in the decay alone; levels train side by side with ``--workers`` and
a stopped run resumes (:mod:`benchmarks.level_probe`). The sweeps of ``neuroplast reproduce``
give each seed its own data order instead, so level 1 is not the replication experiment's runs, only
the same distribution: compare its mean with the stored runs' (e.g. the report of
docs/reproduction/fidelity/medium/standard-kaiming-normal-l2-half-weights/replication).

Usage::

    python -m benchmarks.l2_strength --protocol medium --init kaiming-normal --l2 half-weights \\
        --seeds 10 --out OUT [--factors 1 0.5 0] [--arch N1] [--paper-epochs 10000] \\
        [--invert] [--data DIR] [--workers 3]

Writes ``OUT/<protocol>[-options]/l2-strength.{json,md}`` (progress, while it runs, under
``partial/l2-strength/`` there).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.level_probe import (
    add_member_arguments,
    paired_table,
    paper_line,
    probe_record,
    probe_setting,
    train_levels,
    write_level_report,
)
from benchmarks.run_arguments import add_run_arguments, made_by


def markdown(levels: Sequence[dict[str, Any]], header: str, paper: Sequence[str]) -> str:
    """The table: each level's accuracies and their differences from the first level, paired
    by seed."""
    table = paired_table(levels, ("decay factor", "weight decay"),
                         lambda level: (f"{level['factor']:g}", f"{level['weight_decay']:g}"),
                         f"factor {levels[0]['factor']:g}")
    return "\n".join([header, "", *table, *paper]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every level; write the JSON and markdown."""
    from neuroplast.experiments.options import encoding_name

    parser = argparse.ArgumentParser(prog="python -m benchmarks.l2_strength",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--factors", type=float, nargs="+", default=[1.0, 0.5, 0.0],
                        help="multiples of the L2 form's decay, the first the reference")
    add_member_arguments(parser)
    args = parser.parse_args(argv)
    if not all(math.isfinite(f) and f >= 0 for f in args.factors):
        parser.error(f"--factors must be non-negative numbers, got {args.factors}")
    if len(set(args.factors)) != len(args.factors):
        parser.error(f"--factors lists a factor twice: {args.factors}")
    setting = probe_setting(parser, args)
    started = time.perf_counter()
    levels = train_levels(args, setting, [(factor, setting.protocol) for factor in args.factors],
                          [f"factor {factor:g}" for factor in args.factors], "l2-strength")
    header = (
        f"# How strongly the L2 term limits {args.arch}'s trained accuracy\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}` with its decay × each factor; {args.arch} trained "
        f"{args.paper_epochs:g} paper epochs; members 0–{args.seeds - 1} fused, one data order "
        f"(seed {args.data_seed}) for every level, so differences are paired by seed. "
        + made_by("benchmarks.l2_strength", argv, started))
    write_level_report(setting, "l2-strength", markdown(levels, header, paper_line(args)),
                       probe_record(args, setting, levels), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
