"""``neuroplast bench``: run the benchmark suite of a source checkout (``python -m benchmarks``).

The benchmarks live beside the package in the repository (``benchmarks/``), not inside the
installed wheel, because they train networks and write results under ``docs/benchmarks/``. This
command runs them from the current directory's checkout and passes every argument through.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from neuroplast.errors import NeuroplastError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the benchmarks (python -m benchmarks) of a checkout",
                       description="Run the benchmark suite from the repository root; every "
                                   "figure is a ratio against a reference timed in the same run. "
                                   "Every argument after `bench` is passed on (`neuroplast "
                                   "bench -- --help` for the suite's own options).")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for python -m benchmarks")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not (Path.cwd() / "benchmarks" / "runner.py").is_file():
        raise NeuroplastError(
            "the benchmarks live in the neuroplast source checkout; run `neuroplast bench` (or "
            "`python -m benchmarks`) from the repository root"
        )
    sys.path.insert(0, str(Path.cwd()))
    runner = importlib.import_module("benchmarks.runner")
    passed = [a for a in args.args if a != "--"]
    return int(runner.main(passed) or 0)
