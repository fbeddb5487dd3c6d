"""``neuroplast reproduce``: run the paper's experiments as resumable sweeps and report them.

``neuroplast reproduce <experiment>|all --seeds N --out DIR`` runs seeds × configurations under
each experiment's reproduction setting (:mod:`neuroplast.experiments.settings`: its
best-matching one by default; ``--setting`` names one for all; ``--protocol`` and the
run-option flags override parts of it), storing each finished run at once under
``DIR/<experiment>/runs/``; started again, it runs only what is missing. Then it writes
``DIR/<experiment>/summary.md`` (+ PNG figures) and the index ``DIR/index.md``. ``neuroplast
reproduce --list`` names the experiments; ``--report-only`` writes the reports from the runs
already stored, computing nothing (a sweep stopped early).

Before any run the command checks the data, that every file it will write is absent or its own
(:mod:`neuroplast.experiments.folder`), that the folders accept new files, and locks ``DIR``
for the whole command; each sweep checks that the data are those of the folder's runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from neuroplast.cli.common import (
    add_protocol_argument,
    check_data_directory,
    check_local_workers,
    positive_int,
)
from neuroplast.cli.main import one_line
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.executors import EXECUTORS, check_ray_address
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.folder import (
    FolderLock,
    ResultsFolder,
    ResultsFolderWarning,
    check_markdown_owned,
    mark_markdown,
)
from neuroplast.experiments.options import OPTIONS, option_flag, reproduction_options
from neuroplast.experiments.registry import (
    BENCHMARKS,
    EXPERIMENTS,
    all_experiments,
    get_experiment,
)
from neuroplast.experiments.report import SUMMARY_NAME
from neuroplast.experiments.runner import RunFailedError, plan, run_sweep, stored_records
from neuroplast.experiments.settings import (
    BEST_MATCH,
    BEST_MATCHING,
    FAST,
    SETTINGS,
    ReproductionSetting,
    setting_for,
)
from neuroplast.experiments.stats_summary import markdown_table
from neuroplast.experiments.store import CorruptRecordWarning
from neuroplast.experiments.sweep import canonical_json
from neuroplast.files import atomic_write_text, check_writable_directory
from neuroplast.train import get_protocol
from neuroplast.train.report import format_table

INDEX_NAME = "index.md"
MAX_SEEDS = 10_000
"""The most seeds one sweep may have (the paper averages over at most 50)."""
INDEX_TITLE = "# neuroplast: reproduction of Grabovsky & Vanchurin (2023)"


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
    p.add_argument("--setting", choices=[BEST_MATCH, *SETTINGS], default=BEST_MATCH,
                   help="the protocol and run options the experiments run under (default "
                        f"{BEST_MATCH}: each experiment its best-matching setting — "
                        + ", ".join(f"{name}: {s}" for name, s in BEST_MATCHING.items())
                        + f", every other {FAST.name}; docs/decisions.md row 54); "
                        + "; ".join(f"{s.name}: {s.description}" for s in SETTINGS.values()))
    add_protocol_argument(p, default=None, shown_default="the setting's")
    p.add_argument("--seeds", type=seed_count, default=None,
                   help="seeds 0..N-1 (default: the paper's run count of each experiment; at "
                        f"most {MAX_SEEDS:,})")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (runs, summaries, index); reuse it to resume; "
                        "required unless --list")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="runs in parallel (processes, or CPUs of a local Ray instance; with "
                        "--address the cluster's CPUs decide); each run uses one torch thread; "
                        "at most this machine's cores unless --address (default 1)")
    p.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help="; ".join(f"{e.name}: {e.description}" for e in EXECUTORS.values()))
    p.add_argument("--address", default=None,
                   help="Ray cluster address (with --executor ray; default: start a local one)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="directory with the four MNIST IDX files (default: $NEUROPLAST_DATA, "
                        "then the user cache; downloaded when online)")
    p.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="run option: inverted MNIST (background 1, the paper's Mathematica "
                        "encoding) or, with --no-invert, standard MNIST, for the experiments "
                        "that support it (default: the setting's); use another --out")
    p.add_argument("--init", choices=list(OPTIONS["init"].levels), default=None,
                   help="run option: weight initialisation (default: the setting's, "
                        f"{FAST.options['init']} in {FAST.name}; --setting fast --init "
                        "xavier-normal --l2 half-all gives the first reproduction's runs); use "
                        "another --out")
    p.add_argument("--l2", choices=list(OPTIONS["l2"].levels), default=None,
                   help="run option: form of the L2 term (default: the setting's, "
                        f"{FAST.options['l2']} in every setting: "
                        "half-*: (λ/2)·Σθ², full-*: λ·Σθ², *-weights: biases not penalised, "
                        "quarter-weights: (λ/4)·Σw², a sensitivity level; "
                        f"--setting fast --l2 {OPTIONS['l2'].default} gives the previous "
                        "reproduction's runs) for the experiments that support it; use another "
                        "--out")
    p.add_argument("--lr-schedule", choices=list(OPTIONS["lr_schedule"].levels), default=None,
                   help="run option: how the learning rate changes over each training call "
                        f"(default {OPTIONS['lr_schedule'].default}, the paper's statement; "
                        "polynomial: Mathematica NetTrain's SGD default, rate × √(1 − t/(T+1)) "
                        "at update t of T) for the experiments that support it; use another "
                        "--out")
    p.add_argument("--nnsp-outputs", choices=list(OPTIONS["nnsp_outputs"].levels),
                   default=None,
                   help="run option (vs-nnsp): how NNSP combines a level's outputs (default "
                        f"{OPTIONS['nnsp_outputs'].default}, the paper's eqs 59-65; summed: the "
                        "variance of the summed outputs' sensitivity, the reading "
                        "docs/reproduction/fidelity.md tests against the paper's level 5); use "
                        "another --out")
    p.add_argument("--b4-std", choices=list(OPTIONS["b4_std"].levels), default=None,
                   help="run option (replication, replication-shift): the spread of B4's random "
                        f"neuron (default {OPTIONS['b4_std'].default}, the library's B4; "
                        "initialiser: the std --init gives those layers; trained: the trained "
                        "layers' own std); use another --out")
    p.add_argument("--peaked-sets", choices=list(OPTIONS["peaked_sets"].levels), default=None,
                   help="run option (replication-shift): how its '3'-peaked and '1'-peaked "
                        "sets relate (default: the setting's — independent in "
                        "fast-independent-sets, its default, else "
                        f"{OPTIONS['peaked_sets'].default}: both drawn with the run's seed, "
                        "sharing their 600 examples of every other digit; independent: the "
                        "new set drawn with its own seed); use another --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--report-only", action="store_true",
                   help="compute nothing: write the summaries and the index from the runs "
                        "already stored in OUT for these seeds, protocol and run options (a "
                        "sweep stopped early); the summary says how many runs it covers")
    p.set_defaults(run=run)


class Sweep(NamedTuple):
    """One experiment as the command runs it: with its run options, protocol and setting, and
    the command-line flags that changed that setting (empty: the setting itself)."""

    experiment: Experiment
    protocol: str
    setting: ReproductionSetting
    changes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``setting NAME, protocol P``, with the flags that changed the setting."""
        changed = f" changed by {' '.join(self.changes)}" if self.changes else ""
        return f"setting {self.setting.name}{changed}, protocol {self.protocol}"


def planned_sweeps(experiments: list[Experiment], args: argparse.Namespace) -> list[Sweep]:
    """Each experiment under its reproduction setting (``--setting``; by default its
    best-matching one, :func:`~neuroplast.experiments.settings.setting_for`) with the protocol
    and run options the command line chose on top (``--protocol``, ``--invert``/``--no-invert``,
    ``--init``, ``--l2``, ``--lr-schedule``, ``--nnsp-outputs``, ``--b4-std``,
    ``--peaked-sets``).

    With ``all`` a chosen option applies to the experiments that support it; a single
    experiment that does not support a chosen option is refused (``with_options`` says which
    it supports). A setting's options apply wherever they are supported.
    """
    chosen = {key: value for key, value in (("invert", args.invert),
                                            ("init", args.init), ("l2", args.l2),
                                            ("lr_schedule", args.lr_schedule),
                                            ("nnsp_outputs", args.nnsp_outputs),
                                            ("b4_std", args.b4_std),
                                            ("peaked_sets", args.peaked_sets))
              if value is not None}
    sweeps = []
    for experiment in experiments:
        setting = setting_for(experiment.name, args.setting)
        own = chosen if len(experiments) == 1 else {k: v for k, v in chosen.items()
                                                    if k in experiment.options}
        protocol = args.protocol or setting.protocol
        changes = [f"--protocol {protocol}"] if protocol != setting.protocol else []
        changes += [_flag(key, value) for key, value in own.items()
                    if value != setting.options.get(key, OPTIONS[key].default)]
        sweeps.append(Sweep(reproduction_options(experiment, own, setting.options),
                            protocol, setting, tuple(changes)))
    return sweeps


def _flag(key: str, value: Any) -> str:
    """The command-line flag that sets run option ``key`` to ``value``."""
    flag = option_flag(key)
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    return f"{flag} {value}"


def stored_runs_by_setting(sweep: Sweep, out: Path) -> tuple[int, int]:
    """How many runs stored in ``OUT/<experiment>/runs`` this sweep plans for some seed, and
    how many it does not (another protocol or other run options, e.g. another ``--setting``:
    its report leaves them out). Files that do not parse as JSON with a ``spec`` are not
    counted."""
    experiment = sweep.experiment
    planned = {canonical_json(config)
               for config in experiment.configs(get_protocol(sweep.protocol))}
    mine = others = 0
    for path in (out / experiment.name / "runs").glob("*.json"):
        try:
            spec = json.loads(path.read_text())["spec"]
            ours = (spec["protocol"] == sweep.protocol
                    and canonical_json(spec["config"]) in planned)
        except (OSError, ValueError, KeyError, TypeError, NeuroplastError):
            continue
        mine += ours
        others += not ours
    return mine, others


def runs_of_other_settings(sweep: Sweep, out: Path) -> int:
    """How many runs stored in ``OUT/<experiment>/runs`` this sweep does not plan for any seed
    (:func:`stored_runs_by_setting`): its report leaves them out."""
    return stored_runs_by_setting(sweep, out)[1]


def check_report_not_replaced(sweeps: list[Sweep], out: Path) -> None:
    """Refuse, before any run, a sweep whose report would replace the report of another
    setting's runs: the experiment's folder holds a summary and runs, none of them this
    sweep's (a one-seed ``--protocol quick`` check replaced a 10-seed paper-protocol report).
    The runs themselves are never touched; one ``--out`` per setting keeps reports apart.

    Raises:
        NeuroplastError: naming the experiment and what to do.
    """
    replaced = []
    for sweep in sweeps:
        name = sweep.experiment.name
        if not (out / name / SUMMARY_NAME).is_file():
            continue
        mine, others = stored_runs_by_setting(sweep, out)
        if others and not mine:
            replaced.append(f"{name} ({others} stored runs, none of this {sweep.label})")
    if replaced:
        raise NeuroplastError(
            f"{out} holds reports of runs of another protocol or other run options, which this "
            f"sweep's reports would replace: {'; '.join(replaced)}; give another --out (one per "
            "setting), or the --setting, --protocol and run options of the stored runs")


def seed_count(text: str) -> int:
    """An argparse type: a number of seeds, 1 to :data:`MAX_SEEDS`."""
    count = positive_int(text)
    if count > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SEEDS:,} seeds, got {text}")
    return count


def run(args: argparse.Namespace) -> int:
    if args.list:
        given = [name for name, value in (
            ("an experiment name", args.experiment), ("--out", args.out),
            ("--seeds", args.seeds), ("--workers", None if args.workers == 1 else args.workers),
            ("--report-only", args.report_only or None)) if value is not None]
        if given:
            raise NeuroplastError(f"--list lists every experiment and runs nothing; drop "
                                  f"{' and '.join(given)}, or drop --list to run")
        print(_listing())
        return 0
    if args.experiment is None:
        raise NeuroplastError("name an experiment or `all` (see `neuroplast reproduce --list`)")
    if args.out is None or not args.out.strip():  # Path("") would be the current folder
        raise NeuroplastError("give --out DIR, the directory for runs and reports")
    if args.address is not None and args.executor != "ray":
        raise NeuroplastError("--address is for --executor ray; add --executor ray or drop it")
    if not args.address and not args.report_only:  # an empty address starts a local Ray too
        check_local_workers(args.workers)
    if args.executor == "ray" and not args.report_only:
        check_ray_address(args.address)  # before any folder is made
    sweeps = planned_sweeps(list(EXPERIMENTS.values()) if args.experiment == "all"
                            else [get_experiment(args.experiment)], args)
    experiments = [sweep.experiment for sweep in sweeps]
    if any(e.needs_data for e in experiments) and args.address is None and not args.report_only:
        # Fail now, with the loader's message, rather than in every run. (Workers of a remote
        # Ray cluster look for the data on their own machines, so it is not checked here.)
        if args.data is not None:
            check_data_directory(args.data)  # DIR only, as every other command reads it
        mnist(args.data)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NeuroplastError(f"--out {out} is a file; give a directory for runs and reports")
    if args.report_only and not out.is_dir():
        raise NeuroplastError(f"--report-only: there is no results folder {out}; give the --out "
                              "of an earlier sweep, or run without --report-only")
    check_writable_directory(out, f"--out {out}")
    check_outputs(out, experiments)  # before the lock file is created in a folder not ours
    if not args.report_only:  # a report of stored runs is asked for by name: it may replace
        check_report_not_replaced(sweeps, out)
    with warnings.catch_warnings(), FolderLock(out):
        for category in (CorruptRecordWarning, ResultsFolderWarning):
            warnings.simplefilter("always", category)
        warnings.showwarning = _note
        try:
            return _reproduce_all(sweeps, args, out)
        except KeyboardInterrupt:
            if not args.report_only:
                print(f"neuroplast reproduce: interrupted; the finished runs are stored in {out} "
                      "and the same command continues the rest (a run in flight from its "
                      "checkpoints)", file=sys.stderr)
            raise


def _note(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Show a warning (a record set aside, an old folder) as one line."""
    print(f"neuroplast reproduce: note: {one_line(Exception(str(message)))}", file=sys.stderr)


def check_outputs(out: Path, experiments: list[Experiment]) -> None:
    """Before any work: every file the command will write is absent or neuroplast's, and every
    experiment's folder accepts new files.

    Raises:
        NeuroplastError: a file neuroplast did not write is in the way (index.md, a summary,
            the folder record), or a folder is not writable.
    """
    check_markdown_owned(out / INDEX_NAME, legacy_first_line=INDEX_TITLE)
    folder = ResultsFolder(out)
    folder.read()
    for experiment in experiments:
        directory = out / experiment.name
        check_markdown_owned(directory / SUMMARY_NAME, legacy_first_line=f"# {experiment.name}: ")
        check_writable_directory(directory, f"the results of {experiment.name} into {directory}")
        runs = directory / "runs"
        if runs.exists() and not runs.is_dir():
            raise NeuroplastError(f"{runs} is a file, not the folder of {experiment.name}'s runs; "
                                  "move it away or choose another --out")


def _reproduce_all(sweeps: list[Sweep], args: argparse.Namespace, out: Path) -> int:
    failed, reported = [], 0
    for sweep in sweeps:
        try:
            reported += _reproduce(sweep, args, out) is not None
        except RunFailedError as exc:
            print(f"neuroplast reproduce: {sweep.experiment.name}: {exc}", file=sys.stderr)
            failed.append(sweep.experiment.name)
    if args.report_only and not reported:
        what = (f"{sweeps[0].experiment.name} for protocol {sweeps[0].protocol}"
                if len(sweeps) == 1 else "any experiment for its protocol")
        raise NeuroplastError(
            f"--report-only: {out} holds no stored runs of {what}, these run options and "
            "seeds; run without --report-only to compute them (or give the --setting, "
            "--protocol, --seeds and run options the runs had)")
    index = write_index(out)
    print(f"index: {index}")
    if failed:
        print(f"neuroplast reproduce: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _reproduce(sweep: Sweep, args: argparse.Namespace, out: Path) -> Path | None:
    """Run (or with ``--report-only`` read) one experiment's sweep and write its report;
    None when ``--report-only`` finds no stored run of it."""
    experiment, protocol = sweep.experiment, sweep.protocol
    seeds = args.seeds or experiment.default_seeds
    total = len(plan(experiment, protocol=protocol, seeds=seeds))
    setting = sweep.label
    others = runs_of_other_settings(sweep, out)
    if others:
        print(f"neuroplast reproduce: note: {out / experiment.name / 'runs'} holds {others} "
              f"runs of another protocol or other run options than this {setting}; its report "
              "leaves them out (to report them give their --setting, --protocol and run "
              "options; one --out per setting keeps reports apart)", file=sys.stderr)
    if args.report_only:
        records = stored_records(experiment, protocol=protocol, seeds=seeds, out_dir=out)
        print(f"{experiment.name}: {len(records)} of {total} runs ({seeds} seeds) stored, "
              f"{setting}; reporting them, computing nothing")
        if not records:
            return None
    else:
        print(f"{experiment.name}: {total} runs ({seeds} seeds), {setting}, "
              f"executor {args.executor}, {args.workers} worker(s)")
        note = cost_note(protocol)
        if note:
            print(f"neuroplast reproduce: note: {note}", file=sys.stderr)
        records = run_sweep(experiment, protocol=protocol, seeds=seeds, out_dir=out,
                            workers=args.workers, executor=args.executor,
                            address=args.address,
                            progress=False if args.no_progress else None, data_dir=args.data)
    summary = _report(experiment, records, out / experiment.name)
    ResultsFolder(out).record_report(experiment.name, len(records),
                                     sorted({r["spec"]["seed"] for r in records}))
    print(f"{experiment.name}: report {summary}")
    return summary


PAPER_N4_CORE_MINUTES = 70
"""Minutes of one CPU core for one N4 training of 5000 paper epochs under ``paper``: ≈ 0.9 s
an epoch by autograd on this project's 2 GHz AVX2 AMD EPYC (docs/reproduction/fidelity.md,
"Cost"), 1.08–1.21× the steps per second since ``train()``'s plain-SGD step
(docs/decisions.md row 55)."""


def cost_note(protocol: str) -> str | None:
    """What a protocol longer than ``fast`` costs, said before its sweep starts (None for
    ``fast`` and shorter): its length against ``fast``, an N4 training's time under it for
    scale, and the way to the quick reproduction."""
    epoch_scale = get_protocol(protocol).epoch_scale  # ours per paper epoch: 1 under paper
    scale = epoch_scale / get_protocol(FAST.protocol).epoch_scale
    if scale <= 1:
        return None
    minutes = PAPER_N4_CORE_MINUTES * epoch_scale
    return (f"protocol {protocol} trains {scale:g}× the steps of {FAST.protocol} (for scale: "
            f"one N4 training of 5000 paper epochs is about {minutes:.0f} min of one CPU core "
            "on a 2 GHz AVX2 machine, and a run may hold several); stopped, the same command "
            "resumes; --setting fast is the quick reproduction")


def _report(experiment: Experiment, records: list[dict[str, Any]], directory: Path) -> Path:
    """The experiment's report; a failure on the stored runs is one line, its traceback a file.

    Raises:
        NeuroplastError: the report refused to overwrite a file, or failed on the records.
    """
    try:
        return experiment.report(records, directory)
    except NeuroplastError:
        raise
    except (ArithmeticError, KeyError, IndexError, TypeError, ValueError) as exc:
        log = directory / "failed" / "report.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(log, "".join(traceback.format_exception(exc)))
        raise NeuroplastError(
            f"{experiment.name}: the report failed on the {len(records)} stored runs "
            f"({type(exc).__name__}: {exc}; traceback in {log}); the runs are kept in "
            f"{directory / 'runs'}: if one of them was edited by hand, move it to runs/corrupt/ "
            "and run the same command again"
        ) from None


def _listing() -> str:
    rows = [[e.name + ("" if e.name in EXPERIMENTS else " (benchmark)" if e.name in BENCHMARKS
                       else " (extra)"), e.section, ", ".join(e.figures),
             setting_for(e.name).name, e.description] for e in all_experiments().values()]
    return format_table(("experiment", "section", "figures", "default setting",
                         "description"), rows)


def write_index(out: Path) -> Path:
    """``OUT/index.md``: every experiment with a summary in ``out``, linked, with the number of
    runs its summary reports and the data the folder's runs were computed from.

    Raises:
        NeuroplastError: ``index.md`` exists and neuroplast did not write it.
    """
    path = out / INDEX_NAME
    check_markdown_owned(path, legacy_first_line=INDEX_TITLE)
    folder = ResultsFolder(out)
    rows = []
    for experiment in all_experiments().values():
        summary = out / experiment.name / SUMMARY_NAME
        if summary.is_file():
            n_runs = folder.reported_runs(experiment.name)
            if n_runs is None:  # a summary written before the folder recorded its runs
                n_runs = sum(1 for _ in (out / experiment.name / "runs").glob("*.json"))
            rows.append([f"[{experiment.name}]({experiment.name}/{SUMMARY_NAME})",
                         experiment.section, ", ".join(experiment.figures), n_runs,
                         experiment.description])
    text = f"{INDEX_TITLE}\n\n"
    text += (markdown_table(("experiment", "paper section", "figures", "runs in summary",
                             "what it reproduces"), rows) if rows else "_No reports yet._")
    data = folder.read()["data"]
    if isinstance(data, dict):
        text += f"\n\nData: {data.get('source')} ({data.get('fingerprint')})."
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, mark_markdown(text + "\n"))
    return path
