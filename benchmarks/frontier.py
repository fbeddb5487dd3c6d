"""The compression frontier: N4's ``hidden1`` pruned to 80, 60, 40, 20 neurons, no retraining.

A thin entry point to the experiment ``compression-frontier``
(:mod:`neuroplast.experiments.definitions.compression_frontier`): it runs the seeds as a sweep
of the experiments engine — each finished seed stored at once under
``--runs/compression-frontier/runs/``, so a rerun computes only the missing seeds, with the
local executor or Ray — and writes the report from the stored runs into ``--out-dir``:
``frontier.md`` (tables of mean ± s.e. over seeds, the winner at each width with paired
margins, protocol, commit and machine; ``a2_rank.md``'s table appended when present),
``frontier.json`` (every seed's numbers and removal orders) and ``frontier.png``.

The same runs are ``neuroplast reproduce compression-frontier --protocol fast --seeds 10 --out
DIR`` (which writes ``DIR/compression-frontier/summary.md``).

Usage::

    python -m benchmarks.frontier --seeds 0 1 2 3 4 5 6 7 8 9 --out-dir docs/benchmarks \\
        [--runs docs/benchmarks/runs] [--executor ray --workers 2]
    python -m benchmarks.frontier --quick        # 2 seeds, quick protocol, 2 widths, < 1 min
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.runner import REPO_ROOT, git_output, machine_description
from benchmarks.sweep_cli import check_workers
from neuroplast.cli.common import positive_int
from neuroplast.data import DataNotFoundError, load_mnist
from neuroplast.experiments.definitions.compression_frontier import (
    COMPRESSION_FRONTIER,
    seed_records,
)
from neuroplast.experiments.definitions.frontier_report import write_report
from neuroplast.experiments.executors import EXECUTORS
from neuroplast.experiments.runner import run_sweep

DEFAULT_SEEDS = tuple(range(10))
QUICK_SEEDS = (0, 1)
DEFAULT_RUNS = REPO_ROOT / "docs" / "benchmarks" / "runs"
DEFAULT_OUT_DIR = REPO_ROOT / "docs" / "benchmarks"


def benchmark_data_dir() -> str | None:
    """Where MNIST is, never downloading: ``$NEUROPLAST_DATA`` or the user cache (None), else
    ``../shared/data/mnist`` beside the repository (as :func:`benchmarks.runner.
    load_benchmark_mnist` looks)."""
    try:
        load_mnist(None, download=False)
    except DataNotFoundError:
        beside = REPO_ROOT.parent / "shared" / "data" / "mnist"
        return str(beside) if beside.is_dir() else None
    return None




def a2_section(out_dir: Path, stem: str) -> str:
    """The A2 singular-value table of :mod:`benchmarks.a2_rank` (``a2_rank.md`` beside the
    report, when there), appended to ``frontier.md`` to say why A2's rows are at chance."""
    table = out_dir / "a2_rank.md"
    return "\n" + table.read_text() if stem == "frontier" and table.is_file() else ""


def run(quick: bool = False, out_dir: Path | None = None, *, seeds: Sequence[int] | None = None,
        runs: Path | None = None, executor: str = "local", workers: int = 1,
        address: str | None = None, data_dir: str | None = None, command: str | None = None,
        ) -> list[dict[str, Any]]:
    """Run the missing seeds of the frontier, then write its report into ``out_dir``.

    Args:
        quick: the ``quick`` protocol (6,000 training images), widths 60 and 20, three
            baseline measures, seeds 0 and 1 — a smoke test of the whole path.
        out_dir: where ``frontier.md/.json/.png`` go (``frontier-quick.*`` in quick mode);
            None: no report.
        seeds: training seeds (default 0–9; 0, 1 in quick mode).
        runs: the results folder of the sweep (default :data:`DEFAULT_RUNS`).
        executor, workers, address: as ``neuroplast reproduce``.
        data_dir: MNIST (default :func:`benchmark_data_dir`).
        command: the command line recorded in the report.

    Returns:
        The seed records, in seed order.
    """
    seeds = list(seeds if seeds is not None else (QUICK_SEEDS if quick else DEFAULT_SEEDS))
    records = run_sweep(COMPRESSION_FRONTIER, protocol="quick" if quick else "fast",
                        seeds=seeds, out_dir=runs or DEFAULT_RUNS, workers=workers,
                        executor=executor, address=address, progress=None,
                        data_dir=data_dir if data_dir is not None else benchmark_data_dir())
    records = seed_records(records)
    if out_dir is not None:
        stem = "frontier-quick" if quick else "frontier"
        context = {"commit": git_output("rev-parse", "HEAD"),
                   "describe": git_output("describe", "--always", "--dirty"),
                   "machine": machine_description()}
        write_report(records, out_dir, command=command or "python -m benchmarks.frontier",
                     summary=False, stem=stem, context=context,
                     appendix=a2_section(out_dir, stem))
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frontier",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, quick protocol, 2 widths, 3 measures (< 1 min)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="training seeds (default 0..9; 0 1 with --quick)")
    parser.add_argument("--runs", type=Path, default=None,
                        help=f"results folder of the stored runs (default {DEFAULT_RUNS}; keep "
                             "it outside the repository; reuse it to resume)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"where frontier.md/.json/.png go (default {DEFAULT_OUT_DIR})")
    parser.add_argument("--executor", choices=list(EXECUTORS), default="local",
                        help="where the runs execute (as neuroplast reproduce)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="runs in parallel (at most this machine's cores unless --address)")
    parser.add_argument("--address", default=None, help="Ray cluster address (--executor ray)")
    parser.add_argument("--data", default=None, help="MNIST folder (default: found, never "
                                                     "downloaded)")
    args = parser.parse_args(argv)
    check_workers(parser, args)
    command = "python -m benchmarks.frontier " + " ".join(sys.argv[1:] if argv is None
                                                          else argv)
    run(args.quick, args.out_dir, seeds=args.seeds, runs=args.runs, executor=args.executor,
        workers=args.workers, address=args.address, data_dir=args.data,
        command=command.strip())
    stem = "frontier-quick" if args.quick else "frontier"
    print(f"report: {args.out_dir / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
