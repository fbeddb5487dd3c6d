"""Checkpoints of a run's long trainings, so that a run killed part-way resumes them.

The sweep stores a run only when it has finished, so a run in flight when the process ends (a
session's end, a batch job's time limit, ``kill``) is run again from the start — under the
paper protocol that is up to hours of lost work (untrained-pruning trains seven N4 nets for
5000 epochs each; replication trains N1 for 10000–25000). :func:`run_sweep
<neuroplast.experiments.runner.run_sweep>` therefore gives every run a folder
``OUT/<experiment>/partial/<run_id>/``, and an experiment asks :func:`stage_checkpoint` for a
:class:`~neuroplast.train.Checkpoint` for each long training (``"pretrain"``, ``"base"``, …)
and passes it to :func:`neuroplast.train.train`. The training saves its state about once a
minute; when the sweep runs the killed run again, everything before the training is recomputed
(it is deterministic) and the training continues where it stopped, to the same numbers an
uninterrupted run gives (:mod:`neuroplast.train.checkpoint`). The sweep removes the run's
folder once the run's record is stored.

Without a folder — a run function called directly, or Ray workers on other machines, which do
not share the driver's disk — :func:`stage_checkpoint` returns None and trainings run without
checkpoints. Trainings whose *time* a claim compares read ``final["cpu_time_s"]``, which a
checkpoint carries across the interruptions; a run's ``provenance.wall_s`` counts its last
attempt only, and ``provenance.resumed_stages`` names the trainings that attempt continued.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import torch

import neuroplast
from neuroplast.errors import NeuroplastError
from neuroplast.train.checkpoint import Checkpoint

PARTIAL_FOLDER = "partial"
"""The folder beside ``runs/`` that holds the checkpoints of runs in flight."""

STAGE_EVERY_S = 60.0
"""Seconds between the checkpoints of a run's trainings."""

_STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass
class RunCheckpoints:
    """The checkpoints of the run executing in this context.

    Attributes:
        folder: where they go (``OUT/<experiment>/partial/<run_id>``).
        stages: the stage names handed out so far (each may be used once per run).
        resumed: those whose checkpoint file already existed: trainings this attempt continued
            (or, where the file was a leftover of other code, replaced).
    """

    folder: Path
    stages: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


_CURRENT: ContextVar[RunCheckpoints | None] = ContextVar("neuroplast_run_checkpoints",
                                                         default=None)


@contextmanager
def checkpoints_in(folder: Path | None) -> Iterator[RunCheckpoints | None]:
    """Within the block, :func:`stage_checkpoint` puts checkpoints in ``folder`` (None: none);
    yields the run's :class:`RunCheckpoints` (None without a folder)."""
    current = None if folder is None else RunCheckpoints(Path(folder))
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


def stage_checkpoint(stage: str) -> Checkpoint | None:
    """The checkpoint of the current run's training ``stage``, or None outside a sweep.

    ``stage`` names the training within the run (letters, digits, ``._+-``); each training of
    a run needs its own name. The checkpoint's key holds the run, the stage and the versions
    of neuroplast and torch; a file left by other code or versions is replaced, not resumed
    (``replace_foreign``). The caller removes nothing: the sweep removes the run's folder once
    the run is stored.

    Raises:
        NeuroplastError: ``stage`` is not a usable file name, or this run already used it.
    """
    if not _STAGE_NAME.fullmatch(stage):
        raise NeuroplastError(f"stage name {stage!r} must be letters, digits and ._+- only")
    current = _CURRENT.get()
    if current is None:
        return None
    if stage in current.stages:
        raise NeuroplastError(f"stage {stage!r} is used twice in one run; give each training "
                              "of a run its own stage name")
    current.stages.append(stage)
    checkpoint = Checkpoint(current.folder / f"{stage}.safetensors", every_s=STAGE_EVERY_S,
                            remove_at_end=False, replace_foreign=True,
                            key={"run": current.folder.name, "stage": stage,
                                 "neuroplast": neuroplast.__version__, "torch": torch.__version__})
    if checkpoint.saved():  # its own file, or its members' (train_together, one by one)
        current.resumed.append(stage)
    return checkpoint


def note_resumed(name: str) -> None:
    """Record in the current run (if a sweep runs one) that a training called ``name``
    continued from a checkpoint that is not a stage's — the trained cache's, beside its entry —
    so the run's ``provenance.resumed_stages`` says its ``wall_s`` is the last attempt only."""
    current = _CURRENT.get()
    if current is not None and name not in current.resumed:
        current.resumed.append(name)
