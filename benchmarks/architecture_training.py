"""Death and replication during training of the zoo's CNNs and LLaMA vs plain training.

A thin entry point to the experiment ``architecture-training``
(:mod:`neuroplast.experiments.definitions.architecture_training`): one run per (model family,
seed), stored at once under ``--runs/architecture-training/runs/`` and resumed by the same
command; then ``architecture-training.md``, ``.json`` and ``.png`` into ``--out-dir``.

Usage::

    NEUROPLAST_DATA=../shared/data/mnist python -m benchmarks.architecture_training \\
        --specs benchmarks.architectures.specs:SPECS --models vgg-mnist llama-bytes \\
        --seeds 0 1 2 3 4 --out-dir docs/benchmarks
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from benchmarks.sweep_cli import (
    add_sweep_arguments,
    check_workers,
    register_specs,
    report_context,
    sweep_records,
)
from neuroplast.experiments.definitions.architecture_training import (
    MAX_FRACTION,
    RELATIVE_CUTOFF,
    architecture_training,
)
from neuroplast.experiments.definitions.architecture_training_report import write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architecture_training",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="architecture names (default: every one that can train)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default: each family's training_steps)")
    parser.add_argument("--relative-cutoff", type=float, default=RELATIVE_CUTOFF)
    parser.add_argument("--max-fraction", type=float, default=MAX_FRACTION)
    parser.add_argument("--quick", action="store_true", help="at most 20 steps (smoke test)")
    parser.add_argument("--stem", default=None,
                        help="name of the report files (default architecture-training, "
                             "-quick under --quick; give another for a second setting)")
    add_sweep_arguments(parser)
    args = parser.parse_args(argv)
    check_workers(parser, args)
    register_specs(args)
    experiment = architecture_training(args.models, steps=args.steps,
                                       relative_cutoff=args.relative_cutoff,
                                       max_fraction=args.max_fraction)
    records = sweep_records(experiment, args, "quick" if args.quick else "fast", args.seeds)
    command, context = report_context("benchmarks.architecture_training", argv)
    stem = args.stem or ("architecture-training-quick" if args.quick
                         else "architecture-training")
    path = write_report(records, args.out_dir, summary=False, stem=stem, command=command,
                        context=context)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
