"""What every executor runs for one run: the experiment's ``run`` plus provenance.

:func:`run_one` is a top-level function of an importable module, so it pickles by reference
for process pools and Ray. It looks the experiment up by name in the worker (built-in
experiments and those named by ``$NEUROPLAST_EXTRA_EXPERIMENTS``, which workers inherit) and
returns a complete, JSON-clean record; the driver only writes it to the store, so the storing
logic is the same for every executor.

**Threads.** Each run executes with ``torch.set_num_threads(threads)`` (default 1), in the
driver process or in a pool or Ray worker alike. One thread per run avoids oversubscribing the
cores when ``K`` runs go in parallel, and — because CPU matrix products may round differently
with a different thread count — it makes a run's numbers independent of the executor and of
``--workers``. Use ``--workers K`` to use ``K`` cores.

**Time.** Provenance records ``wall_s``, the run's elapsed time, and, since 2026-12-06,
``cpu_s``, the CPU time of the process running it (all its threads) over the same span. On a
shared machine the elapsed time grows with whatever else runs there and the CPU time far less,
so compute tables give ``cpu_s`` beside ``wall_s`` where every run has it. Runs stored earlier
have ``wall_s`` only.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import torch

import neuroplast
from neuroplast.experiments.experiment import mnist_fingerprint
from neuroplast.experiments.options import run_protocol
from neuroplast.experiments.registry import get_experiment
from neuroplast.experiments.stage_checkpoints import checkpoints_in
from neuroplast.experiments.store import RECORD_FORMAT
from neuroplast.experiments.sweep import RunSpec
from neuroplast.train.threads import torch_threads

DEFAULT_THREADS = 1
"""torch threads per run (see the module docstring)."""


def provenance(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    """Versions, platform, every hyper-parameter of the run's protocol, and the fingerprint of
    the data (for experiments that read MNIST)."""
    needs_data = get_experiment(spec.experiment).needs_data
    return {
        "neuroplast": neuroplast.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "protocol": run_protocol(spec.protocol, spec.config).as_dict(),  # run option l2 applied
        "data_argument": data_dir,
        "data_fingerprint": mnist_fingerprint(data_dir) if needs_data else None,
    }


def run_one(spec: RunSpec, data_dir: str | None = None,
            threads: int | None = DEFAULT_THREADS, *,
            checkpoint_dir: str | None = None) -> dict[str, Any]:
    """Run one sweep entry and return its record.

    Args:
        spec: the run.
        data_dir: data directory handed to the experiment (None: ``$NEUROPLAST_DATA`` or the
            user cache, as :func:`neuroplast.data.load_mnist` searches).
        threads: torch threads for the run (None: leave the process setting alone); restored
            afterwards.
        checkpoint_dir: the experiment's folder of runs in flight; the run's long trainings
            checkpoint into ``checkpoint_dir/<run_id>/`` and resume from it
            (:mod:`neuroplast.experiments.stage_checkpoints`). None: no checkpoints.

    Returns:
        ``{"format", "run_id", "spec", "result", "provenance"}``, exactly as the store will
        read it back.

    Raises:
        NeuroplastError: the experiment is unknown or its result is not plain JSON.
        Exception: whatever the experiment's ``run`` raises.
    """
    experiment = get_experiment(spec.experiment)
    with torch_threads(threads):
        started = datetime.now(UTC)
        clock, cpu_clock = time.perf_counter(), time.process_time()
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / spec.run_id
        with checkpoints_in(folder) as checkpoints:
            result = experiment.run(spec, data_dir)
        wall, cpu = time.perf_counter() - clock, time.process_time() - cpu_clock
        finished = datetime.now(UTC)
        record = {
            "format": RECORD_FORMAT,
            "run_id": spec.run_id,
            "spec": spec.to_dict(),
            "result": result,
            "provenance": provenance(spec, data_dir) | {
                "started": started.isoformat(timespec="seconds"),
                "finished": finished.isoformat(timespec="seconds"),
                "wall_s": wall,
                "cpu_s": cpu,
            },
        }
        if checkpoints is not None and checkpoints.resumed:  # wall_s, cpu_s: this attempt's
            record["provenance"]["resumed_stages"] = list(checkpoints.resumed)
    if not isinstance(result, dict):
        raise TypeError(f"experiment {spec.experiment!r}: run() must return a dict, "
                        f"got {type(result).__name__}")
    try:
        text = json.dumps(record)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"experiment {spec.experiment!r}: run() returned a result that is not "
                        f"plain JSON ({exc}); convert tensors and arrays with .tolist() or "
                        "float()") from None
    return json.loads(text)  # the same types the store will read back (tuples become lists)
