"""Experiments: reproduce the paper's sweeps (seeds × configurations) with resumable storage.

Layers, from the bottom: :mod:`~neuroplast.experiments.sweep` (runs and their stable ids),
:mod:`~neuroplast.experiments.store` (one atomic JSON file per finished run),
:mod:`~neuroplast.experiments.executors` (local process pool or Ray),
:mod:`~neuroplast.experiments.runner` (``run_sweep``), :mod:`~neuroplast.experiments.registry`
(the experiments by name) and, for reports, ``stats_summary``, ``paper_tables``, ``claims`` and
``report``. The experiments themselves live in :mod:`neuroplast.experiments.definitions`.

Typical use::

    from neuroplast.experiments import get_experiment, run_sweep
    records = run_sweep("baseline-training", protocol="quick", seeds=2, out_dir="out")
    get_experiment("baseline-training").report(records, Path("out/baseline-training"))
"""

from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.registry import (
    EXPERIMENTS,
    all_experiments,
    extra_experiments,
    get_experiment,
)
from neuroplast.experiments.runner import RunFailedError, plan, run_sweep
from neuroplast.experiments.store import ResultStore
from neuroplast.experiments.sweep import RunSpec, expand

__all__ = [
    "EXPERIMENTS", "Experiment", "ResultStore", "RunFailedError", "RunSpec", "all_experiments",
    "expand", "extra_experiments", "get_experiment", "mnist", "plan", "run_sweep",
]
