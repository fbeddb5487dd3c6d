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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.runner import REPO_ROOT, git_output, machine_description
from neuroplast.experiments.architectures import ARCHITECTURES_ENV_VAR
from neuroplast.experiments.definitions.architecture_frontier import architecture_frontier
from neuroplast.experiments.definitions.architecture_report import write_report
from neuroplast.experiments.executors import EXECUTORS
from neuroplast.experiments.runner import run_sweep, stored_records

DEFAULT_RUNS = REPO_ROOT / "docs" / "benchmarks" / "runs"
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"




def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architecture_frontier",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default=None,
                        help=f"module:attribute of the ArchitectureSpecs (sets "
                             f"${ARCHITECTURES_ENV_VAR})")
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
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS,
                        help=f"results folder of the stored runs (default {DEFAULT_RUNS})")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"where architectures.md/.json/.png go (default {DEFAULT_OUT_DIR})")
    parser.add_argument("--executor", choices=list(EXECUTORS), default="local")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel")
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: report the runs already stored")
    args = parser.parse_args(argv)
    if args.specs is not None:  # read by this process and inherited by its workers
        os.environ[ARCHITECTURES_ENV_VAR] = args.specs
    experiment = architecture_frontier(args.models, ratios=args.ratios,
                                       finetune_steps=args.finetune_steps)
    protocol = "quick" if args.quick else "fast"
    if args.report_only:
        records = stored_records(experiment, protocol=protocol, seeds=args.seeds,
                                 out_dir=args.runs)
    else:
        records = run_sweep(experiment, protocol=protocol, seeds=args.seeds, out_dir=args.runs,
                            workers=args.workers, executor=args.executor, address=args.address)
    stem = "architectures-quick" if args.quick else "architectures"
    command = "python -m benchmarks.architecture_frontier " + " ".join(
        sys.argv[1:] if argv is None else argv)
    context = {"commit": git_output("rev-parse", "HEAD"),
               "describe": git_output("describe", "--always", "--dirty"),
               "machine": machine_description()}
    path = write_report(records, args.out_dir, summary=False, stem=stem,
                        command=command.strip(), context=context)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
