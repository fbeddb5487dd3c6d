"""Does the form of the L2 term move a net's trained accuracy? The same nets trained under the
run's L2 form and under each other ``--against`` form (REFERENCE §1.15 item 2;
docs/reproduction/fidelity.md, "The form of the L2 term").

Mathematica's ``"L2Regularization" -> λ`` is MXNet's ``wd`` on every trained array, biases
included: the gradient gains λθ for weights *and* biases, on the mean loss — ``half-all``
(read in the NeuralNetworks paclet's source; :mod:`neuroplast.train.l2`). The reproduction
trains with ``half-weights`` (biases not decayed), which the fidelity study's cells favour
under ``fast``. This probe trains the same members under ``--l2`` (the reference) and each
``--against`` form and reports each form's training and test accuracy and its difference from
the reference, paired by seed.

As in every level probe (:mod:`benchmarks.level_probe`), the members of a form are trained
fused: member s is initialised with seed s and all share one data order (``--data-seed``),
the same for every form, so forms differ in the L2 term alone; forms train side by side with
``--workers`` and a stopped run resumes.

Usage::

    python -m benchmarks.l2_form --protocol medium --init kaiming-normal --l2 half-weights \\
        --against half-all --seeds 10 --out OUT [--arch N1] [--paper-epochs 10000] \\
        [--invert] [--data DIR] [--workers 2]

Writes ``OUT/<protocol>[-options]/l2-form.{json,md}`` (the folder named by the reference form).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
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
    """The table: each form's accuracies and their differences from the first form, paired
    by seed."""
    table = paired_table(levels, ("L2 form", "decays biases", "weight decay"),
                         lambda level: (f"`{level['l2']}`", "yes" if level["decay_biases"]
                                        else "no", f"{level['weight_decay']:g}"),
                         f"`{levels[0]['l2']}`")
    return "\n".join([header, "", *table, *paper]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every form's members; write the JSON and markdown."""
    from neuroplast.experiments.options import run_protocol
    from neuroplast.train.l2 import L2_FORMS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.l2_form",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--against", nargs="+", default=["half-all"], choices=list(L2_FORMS),
                        help="L2 forms compared with --l2 (default half-all, Mathematica's)")
    add_member_arguments(parser)
    args = parser.parse_args(argv)
    forms = [args.l2, *args.against]
    refuse_repeats(parser, "--l2 and --against", "form", forms)
    setting = probe_setting(parser, args)
    started = time.perf_counter()
    protocols = [run_protocol(args.protocol, {**setting.options, "l2": form}) for form in forms]
    levels = train_labelled_levels(
        args, setting, [({"l2": form, "decay_biases": protocol.decay_biases}, protocol)
                        for form, protocol in zip(forms, protocols, strict=True)], "l2-form")
    header = levels_header(args, f"Does the form of the L2 term move {args.arch}'s trained "
                           "accuracy?", "L2 form", "benchmarks.l2_form", argv, started,
                           show_l2=False)
    write_level_report(setting, "l2-form", markdown(levels, header, paper_line(args)),
                       probe_record(args, setting, levels), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
