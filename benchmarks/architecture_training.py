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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.runner import REPO_ROOT, git_output, machine_description
from neuroplast.experiments.architectures import ARCHITECTURES_ENV_VAR
from neuroplast.experiments.definitions.architecture_training import (
    MAX_FRACTION,
    RELATIVE_CUTOFF,
    architecture_training,
)
from neuroplast.experiments.definitions.architecture_training_report import write_report
from neuroplast.experiments.executors import EXECUTORS
from neuroplast.experiments.runner import run_sweep, stored_records

DEFAULT_RUNS = REPO_ROOT / "docs" / "benchmarks" / "runs"
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.architecture_training",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default=None,
                        help=f"module:attribute of the ArchitectureSpecs (sets "
                             f"${ARCHITECTURES_ENV_VAR})")
    parser.add_argument("--models", nargs="+", default=None,
                        help="architecture names (default: every one that can train)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default: each family's training_steps)")
    parser.add_argument("--relative-cutoff", type=float, default=RELATIVE_CUTOFF)
    parser.add_argument("--max-fraction", type=float, default=MAX_FRACTION)
    parser.add_argument("--quick", action="store_true", help="at most 20 steps (smoke test)")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument("--stem", default=None,
                        help="name of the report files (default architecture-training, "
                             "-quick under --quick; give another for a second setting)")
    parser.add_argument("--executor", choices=list(EXECUTORS), default="local")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: report the runs already stored")
    args = parser.parse_args(argv)
    if args.specs is not None:
        os.environ[ARCHITECTURES_ENV_VAR] = args.specs
    experiment = architecture_training(args.models, steps=args.steps,
                                       relative_cutoff=args.relative_cutoff,
                                       max_fraction=args.max_fraction)
    protocol = "quick" if args.quick else "fast"
    if args.report_only:
        records = stored_records(experiment, protocol=protocol, seeds=args.seeds,
                                 out_dir=args.runs)
    else:
        records = run_sweep(experiment, protocol=protocol, seeds=args.seeds, out_dir=args.runs,
                            workers=args.workers, executor=args.executor, address=args.address)
    command = "python -m benchmarks.architecture_training " + " ".join(
        sys.argv[1:] if argv is None else argv)
    context = {"commit": git_output("rev-parse", "HEAD"),
               "describe": git_output("describe", "--always", "--dirty"),
               "machine": machine_description()}
    stem = args.stem or ("architecture-training-quick" if args.quick
                         else "architecture-training")
    path = write_report(records, args.out_dir, summary=False, stem=stem,
                        command=command.strip(), context=context)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
