"""``neuroplast reproduce``: run the paper's experiments as resumable sweeps and report them.

``neuroplast reproduce <experiment>|all --protocol P --seeds N --out DIR`` runs seeds ×
configurations, storing each finished run at once under ``DIR/<experiment>/runs/``; started
again, it runs only what is missing. Then it writes ``DIR/<experiment>/summary.md`` (+ PNG
figures) and the index ``DIR/index.md``. ``neuroplast reproduce --list`` names the experiments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuroplast.cli.common import add_protocol_argument, positive_int
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.executors import EXECUTORS
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.registry import EXPERIMENTS, all_experiments, get_experiment
from neuroplast.experiments.report import SUMMARY_NAME
from neuroplast.experiments.runner import RunFailedError, plan, run_sweep
from neuroplast.experiments.stats_summary import markdown_table
from neuroplast.experiments.store import atomic_write_text
from neuroplast.train.report import format_table

INDEX_NAME = "index.md"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="reproduce the paper's experiments (resumable sweeps + reports)",
        description="Run an experiment of the paper (or all of them) over seeds × "
                    "configurations. Each finished run is stored at once; the same command "
                    "run again finishes only what is missing. Writes OUT/<experiment>/"
                    "summary.md beside the paper's numbers and OUT/index.md.")
    p.add_argument("experiment", nargs="?", default=None,
                   help="experiment name, or `all` for every experiment of the paper")
    p.add_argument("--list", action="store_true",
                   help="list the experiments with their paper sections and figures")
    add_protocol_argument(p)
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="seeds 0..N-1 (default: the paper's run count of each experiment)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (runs, summaries, index); reuse it to resume")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="runs in parallel (processes, or CPUs of a local Ray instance); each "
                        "run uses one torch thread (default 1)")
    p.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help="; ".join(f"{e.name}: {e.description}" for e in EXECUTORS.values()))
    p.add_argument("--address", default=None,
                   help="Ray cluster address (with --executor ray; default: start a local one)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="directory with the four MNIST IDX files (default: $NEUROPLAST_DATA, "
                        "then the user cache; downloaded when online)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(_listing())
        return 0
    if args.experiment is None:
        raise NeuroplastError("name an experiment or `all` (see `neuroplast reproduce --list`)")
    if args.out is None:
        raise NeuroplastError("give --out DIR, the directory for runs and reports")
    if args.address is not None and args.executor != "ray":
        raise NeuroplastError("--address is for --executor ray; add --executor ray or drop it")
    experiments = (list(EXPERIMENTS.values()) if args.experiment == "all"
                   else [get_experiment(args.experiment)])
    if any(e.needs_data for e in experiments) and args.address is None:
        # Fail now, with the loader's message, rather than in every run. (Workers of a remote
        # Ray cluster look for the data on their own machines, so it is not checked here.)
        mnist(args.data)
    out = Path(args.out)
    failed = []
    for experiment in experiments:
        try:
            _reproduce(experiment, args, out)
        except RunFailedError as exc:
            print(f"neuroplast reproduce: {experiment.name}: {exc}", file=sys.stderr)
            failed.append(experiment.name)
    index = write_index(out)
    print(f"index: {index}")
    if failed:
        print(f"neuroplast reproduce: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _reproduce(experiment: Experiment, args: argparse.Namespace, out: Path) -> Path:
    seeds = args.seeds or experiment.default_seeds
    total = len(plan(experiment, protocol=args.protocol, seeds=seeds))
    print(f"{experiment.name}: {total} runs ({seeds} seeds), protocol {args.protocol}, "
          f"executor {args.executor}, {args.workers} worker(s)")
    records = run_sweep(experiment, protocol=args.protocol, seeds=seeds, out_dir=out,
                        workers=args.workers, executor=args.executor, address=args.address,
                        progress=False if args.no_progress else None, data_dir=args.data)
    summary = experiment.report(records, out / experiment.name)
    print(f"{experiment.name}: report {summary}")
    return summary


def _listing() -> str:
    rows = [[e.name + ("" if e.name in EXPERIMENTS else " (extra)"), e.section,
             ", ".join(e.figures), e.description] for e in all_experiments().values()]
    return format_table(("experiment", "section", "figures", "description"), rows)


def write_index(out: Path) -> Path:
    """``OUT/index.md``: every experiment with a summary in ``out``, linked."""
    rows = []
    for experiment in all_experiments().values():
        summary = out / experiment.name / SUMMARY_NAME
        if summary.is_file():
            n_runs = sum(1 for _ in (out / experiment.name / "runs").glob("*.json"))
            rows.append([f"[{experiment.name}]({experiment.name}/{SUMMARY_NAME})",
                         experiment.section, ", ".join(experiment.figures), n_runs,
                         experiment.description])
    text = "# neuroplast: reproduction of Grabovsky & Vanchurin (2023)\n\n"
    text += (markdown_table(("experiment", "paper section", "figures", "stored runs",
                             "what it reproduces"), rows) if rows else "_No reports yet._")
    out.mkdir(parents=True, exist_ok=True)
    path = out / INDEX_NAME
    atomic_write_text(path, text + "\n")
    return path
