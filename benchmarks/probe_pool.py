"""A probe's independent jobs run side by side and survive being stopped.

``--workers K`` runs them in K spawned processes, each training on one torch thread as the
sweep workers do (:mod:`neuroplast.experiments.executors`; a worker exits when the probe's
process dies, even by ``kill -9``), at most K jobs started at a time; ``--workers 1`` runs
them one after another in this process. Results come back in the jobs' order whatever order
they finish in, so a probe's records do not depend on ``--workers``.

With a ``store`` folder each job's result is written there as it finishes
(``<digest>.json``, the digest of the job's :meth:`KeyedJob.key`, the key stored beside the
result), and a job whose result is stored under the same key is not run again: the same
command started again after a kill continues with the jobs it had not finished. A job may
keep working files in the store named ``<digest>.<suffix>`` (:func:`job_file`, e.g. a
training checkpoint); they are removed once its result is stored. A key names what a result
depends on as the job states it: code changed between two attempts is not seen (remove the
store to compute afresh).

A job's function must be importable at module level (spawn pickles it by name) and should load
what it trains on itself (e.g. :func:`neuroplast.experiments.experiment.mnist`, cached once per
process) rather than receive a dataset through the pipe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast


class KeyedJob(Protocol):
    """A job whose result a store can keep: :meth:`key` names everything the result depends
    on, as JSON data."""

    def key(self) -> dict[str, Any]: ...


Job = TypeVar("Job")


def code_versions() -> dict[str, str]:
    """The neuroplast and torch versions, for a job's key."""
    import torch

    import neuroplast

    return {"neuroplast": neuroplast.__version__, "torch": torch.__version__}


def job_file(store: Path, job: KeyedJob, suffix: str) -> Path:
    """``store/<digest of job.key()>.<suffix>``: where ``job``'s result (``json``) or one of
    its working files is kept (the digest of the sweeps' canonical JSON, as run ids are)."""
    from neuroplast.experiments.sweep import canonical_json

    text = canonical_json(job.key())
    return store / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.{suffix}"


def stored_result(store: Path, job: KeyedJob) -> Any | None:
    """``job``'s stored result, or None when none is stored under its key (a file that cannot
    be read, or holds another key, counts as none)."""
    path = job_file(store, job, "json")
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(job.key())):
        return None
    return stored.get("result")


def run_and_store(function: Callable[[Job], Any], job: Job, store: Path | None) -> Any:
    """``function(job)``; with a ``store``, its result written there (atomically) before
    ``job``'s working files in the store are removed."""
    from neuroplast.files import atomic_write_text

    result = function(job)
    if store is not None:
        keyed = cast(KeyedJob, job)
        store.mkdir(parents=True, exist_ok=True)
        finished = job_file(store, keyed, "json")
        atomic_write_text(finished, json.dumps({"key": keyed.key(), "result": result}))
        for leftover in store.glob(f"{finished.stem}.*"):
            if leftover != finished:
                leftover.unlink(missing_ok=True)
    return result


def arguments_digest(args: argparse.Namespace, ignore: Sequence[str] = ()) -> str:
    """12 hex digits naming a probe's run by its arguments, but for ``--workers``, ``--out``,
    ``--data`` (which change where and how fast it runs, not what) and those named in
    ``ignore``: the same command gets the same store, a command with other arguments
    another."""
    left_out = {"workers", "out", "data", *ignore}
    arguments = {k: v for k, v in sorted(vars(args).items()) if k not in left_out}
    return hashlib.sha256(json.dumps(arguments, default=str).encode()).hexdigest()[:12]


def discard_store(store: Path) -> None:
    """Remove ``store`` (a probe's finished jobs and working files, once its report is written)
    and its parent folder when nothing else is left in it."""
    import shutil

    shutil.rmtree(store, ignore_errors=True)
    try:
        store.parent.rmdir()
    except OSError:  # another probe's store is still there, or it is already gone
        pass


def _pool_worker_setup() -> None:
    """A pool worker's initializer: one intra-op thread, as the sweep workers train, and exit
    when the probe's process dies."""
    import torch

    from neuroplast.experiments.executors import exit_with_parent

    torch.set_num_threads(1)
    exit_with_parent()


def run_jobs(function: Callable[[Job], Any], jobs: Sequence[Job], *, workers: int,
             names: Sequence[str], tag: str, store: Path | None = None) -> list[Any]:
    """``[function(job) for job in jobs]``, on ``workers`` processes (at most one per job);
    ``[tag] <name> done`` on stderr as each job finishes (``names`` pairs with ``jobs``), or
    ``[tag] <name> stored`` for a job whose result ``store`` already holds (jobs are then
    :class:`KeyedJob`; results must be JSON data).

    Raises:
        ValueError: ``workers`` below 1, or ``names`` not one per job.
        Exception: the first failing job's exception, once the jobs already running have
            finished (no other job is started).
        KeyboardInterrupt: at once, without waiting for running jobs (they end with this
            process, :func:`neuroplast.experiments.executors.exit_with_parent`; what they
            had checkpointed stays in the store).
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    from neuroplast.train.threads import torch_threads

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if len(names) != len(jobs):
        raise ValueError(f"{len(names)} names for {len(jobs)} jobs")
    results: list[Any] = [None] * len(jobs)
    pending = []
    for index, job in enumerate(jobs):
        stored = None if store is None else stored_result(store, cast(KeyedJob, job))
        if stored is None:
            pending.append(index)
        else:
            results[index] = stored
            print(f"[{tag}] {names[index]} stored", file=sys.stderr)
    if workers == 1 or len(pending) <= 1:
        with torch_threads(1):  # as the sweep workers train
            for index in pending:
                results[index] = run_and_store(function, jobs[index], store)
                print(f"[{tag}] {names[index]} done", file=sys.stderr)
        return results
    pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)),
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_pool_worker_setup)
    interrupted = False
    try:
        queue = list(reversed(pending))
        running: dict[Future[Any], int] = {}
        while queue or running:
            while queue and len(running) < workers:  # nothing queued beyond the free workers
                index = queue.pop()
                running[pool.submit(run_and_store, function, jobs[index], store)] = index
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                error = future.exception()
                if error is not None:
                    queue.clear()
                    wait(running)
                    raise error
                results[index] = future.result()
                print(f"[{tag}] {names[index]} done", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    return results
