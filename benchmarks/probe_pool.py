"""A probe's independent trainings run side by side: ``--workers K`` spawned processes, each
training on one torch thread as the sweep workers do (:mod:`neuroplast.experiments.executors`);
``--workers 1`` runs them one after another in this process. Results come back in the jobs'
order whatever order they finish in, so a probe's records do not depend on ``--workers``.

A job's function must be importable at module level (spawn pickles it by name) and should load
what it trains on itself (e.g. :func:`neuroplast.experiments.experiment.mnist`, cached once per
process) rather than receive a dataset through the pipe.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

Job = TypeVar("Job")
Result = TypeVar("Result")


def _one_torch_thread() -> None:
    """A pool worker's initializer: one intra-op thread, as the sweep workers train."""
    import torch

    torch.set_num_threads(1)


def run_jobs(function: Callable[[Job], Result], jobs: Sequence[Job], *, workers: int,
             names: Sequence[str], tag: str) -> list[Result]:
    """``[function(job) for job in jobs]``, on ``workers`` processes (at most one per job);
    ``[tag] <name> done`` on stderr as each job finishes (``names`` pairs with ``jobs``).

    Raises:
        ValueError: ``workers`` below 1, or ``names`` not one per job.
        Exception: the first failing job's exception (jobs not started are cancelled; running
            ones finish first).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from neuroplast.train.threads import torch_threads

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if len(names) != len(jobs):
        raise ValueError(f"{len(names)} names for {len(jobs)} jobs")
    if workers == 1 or len(jobs) <= 1:
        results = []
        with torch_threads(1):  # as the sweep workers train
            for job, name in zip(jobs, names, strict=True):
                results.append(function(job))
                print(f"[{tag}] {name} done", file=sys.stderr)
        return results
    slots: list[Result | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                             mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_torch_thread) as pool:
        futures = {pool.submit(function, job): index for index, job in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                index = futures[future]
                slots[index] = future.result()
                print(f"[{tag}] {names[index]} done", file=sys.stderr)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return cast("list[Result]", slots)  # every slot was filled above
