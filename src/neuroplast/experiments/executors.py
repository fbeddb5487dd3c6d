"""Executors: where the runs of a sweep execute. A registry, so more can be plugged in.

Every executor runs :func:`neuroplast.experiments.worker.run_one` on each pending
:class:`RunSpec` and yields ``(spec, record)`` — or ``(spec, exception)`` for a run that raised
— in the order runs *finish*. The driver writes each record to the store as it arrives, so the
storing logic is the same whatever runs the work. Closing the executor (leaving the ``with``
block, also on an error or Ctrl-C) cancels what has not started.

* ``local`` (default): ``--workers 1`` runs in the driver process, one run after another;
  ``--workers K`` uses a ``concurrent.futures.ProcessPoolExecutor`` of K spawned processes.
* ``ray``: Ray remote tasks (one CPU each) on an existing cluster (``--address``) or on a local
  instance started with ``num_cpus=K``. Ray is optional: ``pip install 'neuroplast[ray]'``.

Runs execute with one torch thread each in every executor (see
:mod:`neuroplast.experiments.worker`), so the numbers do not depend on the executor.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.architectures import ARCHITECTURES_ENV_VAR, CACHE_ENV_VAR
from neuroplast.experiments.registry import EXTRA_ENV_VAR
from neuroplast.experiments.sweep import RunSpec
from neuroplast.experiments.worker import run_one

Outcome = tuple[RunSpec, "dict[str, Any] | BaseException"]

FORWARDED_ENV_VARS = (EXTRA_ENV_VAR, "NEUROPLAST_DATA", ARCHITECTURES_ENV_VAR, CACHE_ENV_VAR)
"""Environment variables handed to Ray workers when we start or join a cluster (extra
experiments, data, the architecture frontier's model families and model cache)."""


class Executor(Protocol):
    """Runs specs and yields outcomes as they finish; a context manager."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def run(self, specs: Sequence[RunSpec], data_dir: str | None,
            checkpoint_dir: str | None = None) -> Iterator[Outcome]: ...


class InProcessExecutor:
    """Runs one spec after another in the driver process (``--workers 1``)."""

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def run(self, specs: Sequence[RunSpec], data_dir: str | None,
            checkpoint_dir: str | None = None) -> Iterator[Outcome]:
        for spec in specs:
            try:
                yield spec, run_one(spec, data_dir, checkpoint_dir=checkpoint_dir)
            except Exception as exc:  # handed to the driver, which stops the sweep
                yield spec, exc


def exit_with_parent() -> None:
    """Pool-worker initializer: end this worker when the driver dies (even by ``kill -9``).

    A pool worker otherwise outlives a killed driver, blocked forever on its task queue.
    A daemon thread waits on the parent's sentinel (closed by the OS when the parent exits).
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - not in a multiprocessing child
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class ProcessPoolRunner:
    """A pool of ``workers`` spawned processes (spawn: no inherited torch state or threads).

    Workers exit on their own when the driver dies, so a killed sweep leaves no orphans.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessPoolRunner:
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, specs: Sequence[RunSpec], data_dir: str | None,
            checkpoint_dir: str | None = None) -> Iterator[Outcome]:
        if self._pool is None:
            raise RuntimeError("use the executor inside a `with` block")
        futures = {self._pool.submit(run_one, spec, data_dir, checkpoint_dir=checkpoint_dir): spec
                   for spec in specs}
        for future in concurrent.futures.as_completed(futures):
            exc = future.exception()
            yield futures[future], (future.result() if exc is None else exc)


class RayRunner:
    """Ray remote tasks, one CPU each, on a given cluster or a local instance."""

    def __init__(self, workers: int, address: str | None) -> None:
        self.workers = workers
        self.address = address
        self._ray: Any = None
        self._started_here = False

    def __enter__(self) -> RayRunner:
        try:
            import ray
        except ImportError:
            raise NeuroplastError(
                "--executor ray needs Ray, which is not installed; install it with "
                "pip install 'neuroplast[ray]' (or use --executor local)"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            env = {k: os.environ[k] for k in FORWARDED_ENV_VARS if k in os.environ}
            options: dict[str, Any] = {"runtime_env": {"env_vars": env}} if env else {}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers, include_dashboard=False, **options)
            self._started_here = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._started_here:
            self._ray.shutdown()
            self._started_here = False

    def run(self, specs: Sequence[RunSpec], data_dir: str | None,
            checkpoint_dir: str | None = None) -> Iterator[Outcome]:
        ray = self._ray
        if ray is None:
            raise RuntimeError("use the executor inside a `with` block")
        task = ray.remote(num_cpus=1, max_retries=0)(run_one)
        # a cluster's workers do not share this disk: their trainings run without checkpoints
        checkpoints = None if self.address else checkpoint_dir
        pending = {task.remote(spec, data_dir, checkpoint_dir=checkpoints): spec
                   for spec in specs}
        try:
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(ready)
                try:
                    yield spec, ray.get(ready)
                except ray.exceptions.RayTaskError as exc:
                    yield spec, exc.as_instanceof_cause()
                except ray.exceptions.RayError as exc:  # worker died, cluster lost, ...
                    yield spec, exc
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


@dataclass(frozen=True)
class ExecutorInfo:
    """A registered executor: ``open(workers, address)`` returns an :class:`Executor`."""

    name: str
    description: str
    open: Callable[[int, str | None], Executor]


def _open_local(workers: int, address: str | None) -> Executor:
    if address is not None:
        raise NeuroplastError("--address is for --executor ray; drop it or add --executor ray")
    return InProcessExecutor() if workers == 1 else ProcessPoolRunner(workers)


RAY_CONNECT_TIMEOUT_S = 5.0
"""Seconds :func:`check_ray_address` waits for a cluster's head to accept a connection."""


def check_ray_address(address: str | None) -> None:
    """Refuse, before Ray starts, a ``host:port`` (or ``ray://host:port``) cluster address
    whose head does not accept a TCP connection within :data:`RAY_CONNECT_TIMEOUT_S`: Ray's
    own connection retries an unreachable address for minutes, printing its log, and does not
    stop on SIGTERM. ``auto`` and addresses without a port are left to Ray.

    Raises:
        NeuroplastError: naming the address, the reason and what to do.
    """
    if not address:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)),
                                 timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise NeuroplastError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); check "
            "the address (the head node's host:port) or leave --address out to start a local "
            "Ray instance"
        ) from None


def _open_ray(workers: int, address: str | None) -> Executor:
    check_ray_address(address)
    return RayRunner(workers, address)


EXECUTORS: dict[str, ExecutorInfo] = {
    e.name: e for e in (
        ExecutorInfo("local", "this machine: in-process (--workers 1) or a process pool",
                     _open_local),
        ExecutorInfo("ray", "a Ray cluster (--address) or a local Ray instance "
                            "(needs neuroplast[ray])", _open_ray),
    )
}


def open_executor(name: str, workers: int = 1, address: str | None = None) -> Executor:
    """The executor ``name`` for ``workers`` parallel runs (use it in a ``with`` block).

    Raises:
        NeuroplastError: unknown executor, ``workers < 1``, a Ray address nothing answers at,
            or Ray requested but not installed (raised when the ``with`` block is entered).
    """
    if name not in EXECUTORS:
        raise NeuroplastError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise NeuroplastError(f"--workers must be a positive integer, got {workers!r}")
    return EXECUTORS[name].open(workers, address)
