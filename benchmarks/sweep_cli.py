"""The command line the benchmark sweeps share (architecture frontier, architecture training):
where runs are stored, how they run (local or Ray), ``--report-only``, and the context a
report records (commit, ``git describe``, machine)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.runner import REPO_ROOT, git_output, machine_description
from neuroplast.cli.common import check_local_workers, positive_int
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.architectures import ARCHITECTURES_ENV_VAR
from neuroplast.experiments.executors import EXECUTORS
from neuroplast.experiments.experiment import Experiment
from neuroplast.experiments.runner import run_sweep, stored_records

DEFAULT_RUNS = REPO_ROOT / "docs" / "benchmarks" / "runs"
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``--specs --runs --out-dir --executor --workers --address --report-only``."""
    parser.add_argument("--specs", default=None,
                        help=f"module:attribute of the ArchitectureSpecs (sets "
                             f"${ARCHITECTURES_ENV_VAR})")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS,
                        help=f"results folder of the stored runs (default {DEFAULT_RUNS})")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"where the report goes (default {DEFAULT_OUT_DIR})")
    parser.add_argument("--executor", choices=list(EXECUTORS), default="local")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="runs in parallel (at most this machine's cores unless --address)")
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing: report the runs already stored")


def check_workers(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """End the command with a usage error when ``--workers`` asks for more processes than
    this machine's cores and the runs are local (no ``--address``; ``--report-only`` runs
    nothing)."""
    if args.address or getattr(args, "report_only", False):
        return
    try:
        check_local_workers(args.workers)
    except NeuroplastError as error:
        parser.error(str(error))


def register_specs(args: argparse.Namespace) -> None:
    """``--specs`` into the environment (read by this process and inherited by workers)."""
    if args.specs is not None:
        os.environ[ARCHITECTURES_ENV_VAR] = args.specs


def sweep_records(experiment: Experiment, args: argparse.Namespace, protocol: str,
                  seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The sweep's records: run what is missing, or with ``--report-only`` only read."""
    if args.report_only:
        return stored_records(experiment, protocol=protocol, seeds=seeds, out_dir=args.runs)
    return run_sweep(experiment, protocol=protocol, seeds=seeds, out_dir=args.runs,
                     workers=args.workers, executor=args.executor, address=args.address)


def report_context(module: str, argv: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    """The command line as typed and the commit / machine the report records."""
    command = f"python -m {module} " + " ".join(sys.argv[1:] if argv is None else argv)
    return command.strip(), {"commit": git_output("rev-parse", "HEAD"),
                             "describe": git_output("describe", "--always", "--dirty"),
                             "machine": machine_description()}
