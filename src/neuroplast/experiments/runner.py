"""``run_sweep``: expand an experiment into runs, run the missing ones, store each at once.

The sweep's state lives entirely in its store (``OUT/<experiment>/runs/``): a run is done
exactly when its record file exists, reads back and fits its schema. So a sweep killed at any
moment — even with ``kill -9`` — and started again with the same arguments runs only what is
missing: finished runs are neither redone nor lost, and a run in flight at the kill is run
again, its long trainings continuing from their checkpoints in ``OUT/<experiment>/partial/``
(:mod:`neuroplast.experiments.stage_checkpoints`).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.executors import Executor, open_executor
from neuroplast.experiments.experiment import Experiment, mnist, mnist_fingerprint
from neuroplast.experiments.folder import FolderLock, ResultsFolder
from neuroplast.experiments.registry import get_experiment
from neuroplast.experiments.stage_checkpoints import PARTIAL_FOLDER
from neuroplast.experiments.store import ResultStore
from neuroplast.experiments.sweep import RunSpec, expand
from neuroplast.files import atomic_write_text
from neuroplast.train import get_protocol


class RunFailedError(NeuroplastError):
    """A run of the sweep raised; finished runs are stored and a rerun resumes the sweep."""


def plan(experiment: str | Experiment, *, protocol: str,
         seeds: int | Sequence[int]) -> list[RunSpec]:
    """The sweep's runs in run order: the experiment's configurations × seeds."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    return expand(exp.name, exp.configs(get_protocol(protocol)), seeds, protocol)


def run_sweep(experiment: str | Experiment, *, protocol: str, seeds: int | Sequence[int],
              out_dir: str | Path, workers: int = 1, executor: str = "local",
              address: str | None = None, progress: bool | None = None,
              data_dir: str | None = None) -> list[dict[str, Any]]:
    """Run every (configuration, seed) of ``experiment`` not yet in the store.

    Before any run: the experiment's folder is locked (one sweep at a time), its ``runs/``
    must accept new files, and the data must be those the results folder's runs came from
    (:class:`~neuroplast.experiments.folder.ResultsFolder`; recorded on first use). Stored
    records that do not fit the experiment's schema, or come from other data, are set aside
    and redone.

    Args:
        experiment: a registered name or an :class:`Experiment` (it must also be registered
            for process-pool and Ray workers to find it by name).
        protocol: ``paper``, ``fast`` or ``quick``.
        seeds: a count ``N`` (seeds 0 … N−1) or a list of seeds.
        out_dir: the output root; records go to ``out_dir/<experiment>/runs/``.
        workers: parallel runs (processes for ``local``, CPUs of a local Ray instance).
        executor: ``local`` or ``ray`` (see :mod:`neuroplast.experiments.executors`).
        address: Ray cluster address (``ray`` only). Its workers read the data on their own
            machines, so the data are checked as each run comes back rather than before.
        progress: show a progress bar on stderr (None: only on a terminal).
        data_dir: data directory for the runs (None: ``$NEUROPLAST_DATA`` or the user cache).

    Returns:
        The records (``run_id``, ``spec``, ``result``, ``provenance``) of every run of the
        sweep, earlier ones included, in run order, exactly as the store reads them back.

    Raises:
        FolderLockedError: another process is running a sweep in the experiment's folder.
        NeuroplastError: the folder cannot store runs, or holds runs of other data.
        RunFailedError: one or more runs raised (raised once all runs have been tried: a
            failing run does not stop the others). Every other run is stored; each traceback
            is in ``out_dir/<experiment>/failed/<run_id>.txt``; rerunning resumes.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    specs = plan(exp, protocol=protocol, seeds=seeds)
    pool = open_executor(executor, workers, address)  # checks the arguments; starts nothing
    folder = ResultsFolder(out_dir)
    fingerprint = folder.data_fingerprint
    if exp.needs_data and address is None:  # other data are refused before anything is made
        fingerprint = folder.claim_data(mnist_fingerprint(data_dir), data_source(data_dir))
    with FolderLock(folder.directory / exp.name):
        store = ResultStore(folder.directory / exp.name, result_schema=exp.result_schema,
                            data_fingerprint=fingerprint)
        store.check_writable()
        return _run_pending(exp, specs, store, pool, folder, progress, data_dir)


def stored_records(experiment: str | Experiment, *, protocol: str,
                   seeds: int | Sequence[int], out_dir: str | Path) -> list[dict[str, Any]]:
    """The records of the sweep's runs already stored in ``out_dir``, in run order; nothing
    is computed, locked or moved (a sweep may be writing: its records appear atomically; a
    record that cannot be read back is skipped with a warning), so a report can be made from
    a sweep still running."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    folder = ResultsFolder(out_dir)
    if not (folder.directory / exp.name / "runs").is_dir():
        return []  # nothing stored; reading must not create the store's folders
    store = ResultStore(folder.directory / exp.name, result_schema=exp.result_schema,
                        data_fingerprint=folder.data_fingerprint, read_only=True)
    stored = store.scan()
    return [stored[spec.run_id] for spec in plan(exp, protocol=protocol, seeds=seeds)
            if spec.run_id in stored]


def data_source(data_dir: str | None) -> str:
    """Where the data of a sweep are read from, for the folder record and messages."""
    if data_dir is not None:
        return str(Path(data_dir).expanduser().resolve())
    return mnist(None).source


def _run_pending(exp: Experiment, specs: list[RunSpec], store: ResultStore, pool: Executor,
                 folder: ResultsFolder, progress: bool | None,
                 data_dir: str | None) -> list[dict[str, Any]]:
    """Run the specs without a record, store each as it arrives, return all records."""
    records = store.scan()
    pending = [spec for spec in specs if spec.run_id not in records]
    bar = _Progress(exp.name, total=len(specs), done=len(specs) - len(pending), enabled=progress)
    failures: list[tuple[RunSpec, BaseException, Path]] = []
    try:
        partial = (store.directory / PARTIAL_FOLDER).resolve()
        for folder in (partial.iterdir() if partial.is_dir() else ()):
            if folder.name in records:  # stored, but a kill came before this was removed
                shutil.rmtree(folder, ignore_errors=True)
        if pending:
            with pool:
                for spec, outcome in pool.run(pending, data_dir, checkpoint_dir=str(partial)):
                    if not isinstance(outcome, BaseException):
                        outcome = _store(store, folder, exp, outcome)
                    if isinstance(outcome, BaseException):
                        failures.append((spec, outcome, _log_failure(store, spec, outcome)))
                        continue
                    shutil.rmtree(partial / spec.run_id, ignore_errors=True)  # it is stored
                    (store.directory / "failed" / f"{spec.run_id}.txt").unlink(missing_ok=True)
                    records[spec.run_id] = outcome
                    bar.update()
        with contextlib.suppress(OSError):  # empty once every run is stored
            partial.rmdir()
    finally:
        bar.close()
    if failures:
        spec, error, log = failures[0]
        raise RunFailedError(
            f"{len(failures)} of {len(specs)} runs failed, first {spec.describe()}: "
            f"{type(error).__name__}: {error} (tracebacks in {log.parent}); the "
            f"{len(specs) - len(failures)} finished runs are stored in {store.runs_dir} — fix "
            "the cause and run the same command again to finish the sweep"
        ) from error
    return [records[spec.run_id] for spec in specs]


def _store(store: ResultStore, folder: ResultsFolder, exp: Experiment,
           record: dict[str, Any]) -> dict[str, Any] | BaseException:
    """Store a finished run and return it as the store reads it back (so a fresh run and a
    resumed one give the same report); a record that cannot be stored is returned as the
    error: from other data than the folder's, or not fitting the experiment's schema."""
    fingerprint = record["provenance"].get("data_fingerprint")
    try:
        if exp.needs_data and fingerprint is not None and store.data_fingerprint is None:
            store.data_fingerprint = folder.claim_data(fingerprint, "the workers' data")
        store.write(record)
    except NeuroplastError as exc:
        return exc
    return store.load(record["run_id"])


def _log_failure(store: ResultStore, spec: RunSpec, error: BaseException) -> Path:
    """Write the run's traceback to ``failed/<run_id>.txt``; return that path."""
    log_dir = store.directory / "failed"
    log_dir.mkdir(exist_ok=True)
    log = log_dir / f"{spec.run_id}.txt"
    text = "".join(traceback.format_exception(error))
    atomic_write_text(log, f"run {spec.describe()}\n\n{text}")
    return log


class _Progress:
    """Runs done / total with the time left: tqdm when installed, else a line per run."""

    def __init__(self, name: str, *, total: int, done: int, enabled: bool | None) -> None:
        self.total, self.done = total, done
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.new = 0
        self.name = name
        self._bar = None
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            print(f"{name}: {done}/{total} runs done", file=sys.stderr)
            return
        self._bar = tqdm(total=total, initial=done, unit="run", desc=name, file=sys.stderr,
                         dynamic_ncols=True, smoothing=0.1)

    def update(self) -> None:
        self.done += 1
        self.new += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        left = elapsed / self.new * (self.total - self.done)
        print(f"{self.name}: {self.done}/{self.total} runs done, about {left:.0f} s left",
              file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
