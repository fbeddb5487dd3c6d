"""The architecture frontier: trained CNNs, ResNets and LLaMA-style models pruned by every method.

A thin entry point to the experiment ``architecture-frontier``
(:mod:`neuroplast.experiments.definitions.architecture_frontier`): it runs one run per
(model family, seed) on the experiments engine — each stored at once under
``--runs/architecture-frontier/runs/``, resumed by the same command, local or Ray — and
writes ``architectures.md``, ``architectures.json`` (the schema of
:mod:`~neuroplast.experiments.definitions.architecture_report`) and ``architectures.png``
into ``--out-dir`` from the stored runs.

The model families are :class:`~neuroplast.experiments.architectures.ArchitectureSpec`\\ s
named by ``$NEUROPLAST_EXTRA_ARCHITECTURES=module:attribute`` (or ``--specs``, which sets it
for this command and its workers); trained models are cached in ``$NEUROPLAST_CACHE``.

Usage::

    python -m benchmarks.architecture_frontier --specs benchmarks.architectures.specs:SPECS \\
        --models vgg resnet llama --seeds 0 1 2 --out-dir docs/benchmarks
    python -m benchmarks.architecture_frontier --quick ...   # ratios 0.3, 0.7; 5 steps
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
from neuroplast.experiments.definitions.architecture_frontier import architecture_frontier
from neuroplast.experiments.definitions.architecture_report import write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architecture_frontier",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="architecture names (default: every registered one)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training seeds (default 0 1 2)")
    parser.add_argument("--ratios", type=float, nargs="+", default=None,
                        help="pruning ratios (default 0.1 0.3 0.5 0.7)")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="fine-tuning budget (default: each family's)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick protocol: ratios 0.3 0.7, at most 5 fine-tuning steps")
    add_sweep_arguments(parser)
    args = parser.parse_args(argv)
    check_workers(parser, args)
    if args.ratios is not None and not all(0 < r < 1 for r in args.ratios):
        parser.error(f"--ratios must lie strictly between 0 and 1, got {args.ratios}")
    if args.finetune_steps is not None and args.finetune_steps < 0:
        parser.error(f"--finetune-steps must be 0 or more, got {args.finetune_steps}")
    register_specs(args)
    experiment = architecture_frontier(args.models, ratios=args.ratios,
                                       finetune_steps=args.finetune_steps)
    records = sweep_records(experiment, args, "quick" if args.quick else "fast", args.seeds)
    command, context = report_context("benchmarks.architecture_frontier", argv)
    path = write_report(records, args.out_dir, summary=False,
                        stem="architectures-quick" if args.quick else "architectures",
                        command=command, context=context)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
