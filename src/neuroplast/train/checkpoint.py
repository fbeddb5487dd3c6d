"""Resumable training: what :func:`neuroplast.train.train` saves between epochs so that an
interrupted training goes on where it stopped.

A paper-protocol N4 is 500,000 SGD steps (~25 minutes on one core here); the end of a session,
a batch job's time limit or a closed laptop ends it, and without a checkpoint all of it is
lost. With ``train(..., checkpoint=Checkpoint(path))`` the loop writes, after a full epoch and
at most once every ``every_s`` seconds, one safetensors file holding everything the rest of
the training depends on:

* the model's parameters and buffers;
* the optimizer's state (SGD momentum buffers, Adam's moments and step counts);
* the shuffling generator's state (it draws the next epoch's permutation);
* the epochs done, the steps taken, the per-epoch history so far, and the wall and CPU seconds
  spent.

A later ``train`` call with the same arguments and path loads it and continues with the next
epoch. On a CPU with the same thread count the result is bit for bit the uninterrupted
training's: same weights, same history (tested); ``final["wall_time_s"]`` and
``final["cpu_time_s"]`` add up every attempt's training time and ``final["resumed_at_epoch"]``
says where the last one began.

**Identity.** The file records what training it belongs to: the caller's ``key`` (JSON data,
e.g. the trained cache's key) and what ``train`` itself sees — seed, epochs and steps, batch
size, number of examples and a checksum of the data, the model's widths and dtype, a digest of
the weights and optimizer state it *started* from, the optimizer's hyper-parameters, the
history's length at the start. A file made by another training is refused with a message
(:class:`CheckpointMismatch`), never silently used or overwritten; so is a file at the path
that is not a neuroplast checkpoint. The non-tensor state is JSON in the safetensors header;
no pickle is written or read. Every save is atomic (a kill while saving leaves the previous
checkpoint). The file is removed once the training has finished — or, with
``remove_at_end=False``, by the caller once it has stored the trained net (the trained cache and
``neuroplast train --checkpoint`` do so), so that a kill between the end of training and the
stored result loses nothing.

Fused training (:func:`neuroplast.train.fused.train_fused`, ``train_together``) saves the
same state for the fused model and every member's history. Not supported: callbacks (they may
change the model's shape and keep state of their own, as the death-and-replication schedule
does).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save
from torch import nn

from neuroplast.data.datasets import tensors_fingerprint
from neuroplast.errors import NeuroplastError
from neuroplast.files import atomic_write
from neuroplast.saving import read_weights
from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE

FORMAT = "neuroplast-training-checkpoint/1"
"""The value of the ``format`` entry that marks a file as a training checkpoint."""

_METADATA_KEY = "neuroplast_checkpoint"
"""The safetensors metadata entry holding the JSON state."""


class CheckpointMismatch(NeuroplastError):
    """A file at the checkpoint path that does not belong to this training."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """Where and how often :func:`neuroplast.train.train` saves its state.

    Attributes:
        path: the checkpoint file (safetensors); created and replaced while training.
        every_s: seconds between saves (a save happens after a full epoch, never more often
            than this; 0 saves after every epoch).
        key: JSON data naming the training (e.g. the trained cache's key); a file whose key
            differs is refused.
        remove_at_end: ``train`` removes the file when it has finished. A caller that stores
            the trained net itself passes False and calls :func:`discard_checkpoint` once the
            net is safely stored, so a kill in between loses nothing.
        replace_foreign: what to do with a file at ``path`` that is not this training's
            checkpoint (another training's, a damaged one, no checkpoint at all): False (the
            default) refuses it with :class:`CheckpointMismatch` and leaves it as it is; True
            deletes it and trains from the beginning — for folders neuroplast owns (the
            trained cache, a sweep's ``partial/``), where such a file is a leftover of other
            code or versions.
    """

    path: Path
    every_s: float = 60.0
    key: Mapping[str, Any] = field(default_factory=dict)
    remove_at_end: bool = True
    replace_foreign: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if isinstance(self.every_s, bool) or not isinstance(self.every_s, int | float) \
                or not math.isfinite(self.every_s) or self.every_s < 0:
            raise NeuroplastError(
                f"Checkpoint every_s must be a non-negative number of seconds, got "
                f"{self.every_s!r}"
            )
        try:
            object.__setattr__(self, "key", json.loads(json.dumps(dict(self.key))))
        except (TypeError, ValueError) as exc:
            raise NeuroplastError(
                f"Checkpoint key must be JSON data (strings, numbers, lists, dicts): {exc}"
            ) from None

    def for_member(self, index: int) -> Checkpoint:
        """The checkpoint of model ``index`` of several trained one after another under this
        one (``<stem>.member<index><suffix>`` beside it)."""
        path = self.path
        return replace(self, path=path.with_name(f"{path.stem}.member{index}{path.suffix}"))

    def saved(self) -> bool:
        """Whether a file of this checkpoint (or of one of its members) exists."""
        return self.path.exists() or any(
            self.path.parent.glob(f"{self.path.stem}.member*{self.path.suffix}"))


@dataclass
class Resumed:
    """What a loaded checkpoint restores besides the tensors."""

    epochs_done: int
    steps: int
    wall_s: float
    cpu_s: float
    history_epochs: list[Any]
    """The history's epochs (``train``), or one such list per member (fused training)."""


def state_digest(model: nn.Module, optimizer: torch.optim.Optimizer) -> str:
    """SHA-256 over the model's state and the optimizer's tensor state (names, dtypes, shapes,
    bytes): the starting point a checkpoint must have been made from."""
    digest = hashlib.sha256()
    tensors = {f"model/{n}": t for n, t in model.state_dict().items()}
    tensors |= _optimizer_tensors(optimizer)[0]
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def optimizer_settings(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's class and per-group hyper-parameters as JSON data (each group's
    parameter list as its length)."""
    groups = []
    for group in optimizer.state_dict()["param_groups"]:
        entry = {name: value for name, value in group.items() if name != "params"}
        entry["n_params"] = len(group["params"])
        groups.append(entry)
    settings = {"class": type(optimizer).__name__, "groups": groups}
    return json.loads(json.dumps(settings, default=str))


class TrainingIdentity:
    """What a training is, as JSON data: a checkpoint resumes only the training whose identity
    it records (see the module docstring).

    Made at the start of the training (the starting weights and optimizer state, the earlier
    history); the data's fingerprint, which reads all of it, is taken only when a checkpoint is
    read or first written (:attr:`value`), so a training that never saves — shorter than
    ``every_s`` — never pays for it.

    Args:
        checkpoint: its ``key`` is the caller's part.
        model: at the start of the training (its widths, activation, dtype and weights).
        optimizer: at the start (its settings and state).
        data: the split trained on (``x``, ``y``, ``n``), after ``restrict``.
        history: the history the training appends to (its earlier epochs).
        seed, epochs, total_steps, batch_size: the schedule.
        lr_schedule: the learning-rate schedule's name; part of the identity only when it is
            not ``constant``, so checkpoints written before schedules existed still resume.
    """

    def __init__(self, checkpoint: Checkpoint, model: nn.Module,
                 optimizer: torch.optim.Optimizer, data: Any, history: Any, *, seed: int,
                 epochs: float, total_steps: int, batch_size: int,
                 lr_schedule: str = DEFAULT_LR_SCHEDULE) -> None:
        earlier = json.dumps(history.epochs, sort_keys=True).encode()
        self._data = data
        self._known = {
            "key": checkpoint.key, "seed": int(seed), "epochs": float(epochs),
            "total_steps": int(total_steps), "batch_size": int(batch_size),
            "examples": int(data.n), "widths": list(model.widths),
            "activation": model.activation_name, "dtype": str(next(model.parameters()).dtype),
            "start": state_digest(model, optimizer), "optimizer": optimizer_settings(optimizer),
            "earlier_history": hashlib.sha256(earlier).hexdigest()}
        if lr_schedule != DEFAULT_LR_SCHEDULE:
            self._known["lr_schedule"] = lr_schedule

    @cached_property
    def value(self) -> dict[str, Any]:
        """The whole identity, the data's fingerprint included."""
        return self._known | {"data": tensors_fingerprint([self._data.x, self._data.y])}


def _optimizer_tensors(optimizer: torch.optim.Optimizer,
                       ) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, Any]]]:
    """The optimizer's per-parameter state split into tensors (``optimizer/<index>/<name>``)
    and JSON values (``{index: {name: value}}``)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, entries in optimizer.state_dict()["state"].items():
        values: dict[str, Any] = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{name}"] = value
            elif value is None or isinstance(value, bool | int | float | str):
                values[name] = value
            else:
                raise NeuroplastError(
                    f"the optimizer's state {name!r} is a {type(value).__name__}, which a "
                    "checkpoint cannot hold; train without a checkpoint"
                )
        plain[str(index)] = values
    return tensors, plain


def save_checkpoint(checkpoint: Checkpoint, identity: TrainingIdentity, model: nn.Module,
                    optimizer: torch.optim.Optimizer, generator: torch.Generator, *,
                    epochs_done: int, steps: int, wall_s: float, cpu_s: float,
                    history_epochs: list[Any]) -> None:
    """Write the training's state to ``checkpoint.path`` atomically (see the module)."""
    optimizer_tensors, optimizer_plain = _optimizer_tensors(optimizer)
    tensors = {f"model/{n}": t for n, t in model.state_dict().items()} | optimizer_tensors
    tensors["generator"] = generator.get_state()
    tensors = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    state = {"format": FORMAT, "identity": identity.value, "epochs_done": int(epochs_done),
             "steps": int(steps), "wall_s": float(wall_s), "cpu_s": float(cpu_s),
             "optimizer_state": optimizer_plain,
             "history_epochs": history_epochs}
    data = save(tensors, metadata={_METADATA_KEY: json.dumps(state)})
    checkpoint.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(checkpoint.path, lambda handle: handle.write(data))


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and JSON state of a checkpoint file (:func:`neuroplast.saving.read_weights`).

    Raises:
        CheckpointMismatch: the file is not a neuroplast training checkpoint.
        NeuroplastError: the file cannot be read (permissions, a folder at the path).
    """
    if not path.is_file():
        raise NeuroplastError(f"{path} is not a file; give a file path for the checkpoint")
    if not os.access(path, os.R_OK):
        raise NeuroplastError(f"cannot read the checkpoint {path}; check its permissions")
    not_ours = CheckpointMismatch(
        f"{path} exists but is not a neuroplast training checkpoint; give another checkpoint "
        "path (nothing was overwritten)"
    )
    try:
        tensors, metadata = read_weights(path)
        state = json.loads(metadata[_METADATA_KEY])
    except (NeuroplastError, ValueError, KeyError):
        raise not_ours from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise not_ours
    return tensors, state


def _differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The identity entries whose values differ (or are present in one only)."""
    names = sorted(set(saved) | set(wanted))
    return [name for name in names if saved.get(name) != wanted.get(name)]


def load_checkpoint(checkpoint: Checkpoint, identity: TrainingIdentity, model: nn.Module,
                    optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> Resumed | None:
    """Restore model, optimizer and generator from ``checkpoint.path`` if it exists.

    Returns:
        What else it restores, or None when there is no file (start from the beginning).

    Raises:
        CheckpointMismatch: the file is not a checkpoint, belongs to another training (the
            message names what differs) or is damaged; model, optimizer and generator are then
            as they were. With ``checkpoint.replace_foreign`` such a file is deleted instead
            and None returned.
    """
    try:
        return _load(checkpoint, identity, model, optimizer, generator)
    except CheckpointMismatch:
        if not checkpoint.replace_foreign:
            raise
        discard_checkpoint(checkpoint)
        return None


def _load(checkpoint: Checkpoint, identity: TrainingIdentity, model: nn.Module,
          optimizer: torch.optim.Optimizer, generator: torch.Generator) -> Resumed | None:
    """:func:`load_checkpoint` without the ``replace_foreign`` handling."""
    path = checkpoint.path
    if not path.exists():
        return None
    tensors, state = _read(path)
    wanted = json.loads(json.dumps(identity.value))
    differs = _differences(state.get("identity", {}), wanted)
    if differs:
        raise CheckpointMismatch(
            f"{path} holds the checkpoint of another training ({', '.join(differs)} differ); "
            "delete it to start this training from the beginning, or give another checkpoint "
            "path"
        )
    model_before = {name: t.detach().clone() for name, t in model.state_dict().items()}
    optimizer_before = optimizer.state_dict()
    generator_before = generator.get_state()
    try:
        model_state = {name[len("model/"):]: t for name, t in tensors.items()
                       if name.startswith("model/")}
        optimizer_state: dict[int, dict[str, Any]] = {
            int(index): dict(values) for index, values in state["optimizer_state"].items()}
        for name, tensor in tensors.items():
            if name.startswith("optimizer/"):
                _, index, entry = name.split("/", 2)
                optimizer_state.setdefault(int(index), {})[entry] = tensor
        groups = optimizer.state_dict()["param_groups"]
        model.load_state_dict(model_state, strict=True)
        optimizer.load_state_dict({"state": optimizer_state, "param_groups": groups})
        generator.set_state(tensors["generator"])
        resumed = Resumed(int(state["epochs_done"]), int(state["steps"]),
                          float(state["wall_s"]), float(state["cpu_s"]),
                          list(state["history_epochs"]))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        model.load_state_dict(model_before)
        optimizer.load_state_dict(optimizer_before)
        generator.set_state(generator_before)
        raise CheckpointMismatch(
            f"{path} is a damaged checkpoint ({exc.__class__.__name__}); delete it to start "
            "this training from the beginning"
        ) from None
    return resumed


def discard_checkpoint(checkpoint: Checkpoint) -> None:
    """Remove the checkpoint file (the training it belonged to has finished)."""
    checkpoint.path.unlink(missing_ok=True)


class CheckpointedRun:
    """The checkpoint bookkeeping a training loop needs, shared by
    :func:`neuroplast.train.train` and :func:`neuroplast.train.fused.train_fused`: the
    training's identity, continuing from a saved state, the clock summed over attempts, saving
    after a full epoch when ``checkpoint.every_s`` has passed, and removing the file at the end.
    With ``checkpoint=None`` it only keeps the clock.

    Args:
        checkpoint: where the state is saved, or None.
        model, optimizer, generator: what the loop trains with (restored in place when a saved
            state is continued).
        data: the split trained on (after ``restrict``).
        history: the history the training appends to (its earlier epochs are part of the
            identity).
        seed, epochs, total_steps, batch_size, lr_schedule: the schedule (part of the
            identity; ``lr_schedule`` only when not ``constant``).

    Attributes:
        resumed: the saved state continued from, or None.
    """

    def __init__(self, checkpoint: Checkpoint | None, model: nn.Module,
                 optimizer: torch.optim.Optimizer, generator: torch.Generator, data: Any,
                 history: Any, *, seed: int, epochs: float, total_steps: int,
                 batch_size: int, lr_schedule: str = DEFAULT_LR_SCHEDULE) -> None:
        self.checkpoint = checkpoint
        self._state = (model, optimizer, generator)
        self._identity: TrainingIdentity | None = None
        self.resumed: Resumed | None = None
        if checkpoint is not None:
            self._identity = TrainingIdentity(checkpoint, model, optimizer, data, history,
                                              seed=seed, epochs=epochs,
                                              total_steps=total_steps, batch_size=batch_size,
                                              lr_schedule=lr_schedule)
            self.resumed = load_checkpoint(checkpoint, self._identity, model, optimizer,
                                           generator)
        # this attempt's clock starts here, after loading; elapsed() adds the earlier attempts'
        self._started, self._started_cpu = time.perf_counter(), time.process_time()
        self._saved_at = self._started

    @property
    def epochs_done(self) -> int:
        """Full epochs done before this attempt (0 for a fresh training)."""
        return 0 if self.resumed is None else self.resumed.epochs_done

    @property
    def steps_done(self) -> int:
        """Steps taken before this attempt."""
        return 0 if self.resumed is None else self.resumed.steps

    def elapsed(self) -> tuple[float, float]:
        """(wall, CPU) seconds of training over every attempt so far."""
        earlier_wall, earlier_cpu = ((0.0, 0.0) if self.resumed is None
                                     else (self.resumed.wall_s, self.resumed.cpu_s))
        return (earlier_wall + time.perf_counter() - self._started,
                earlier_cpu + time.process_time() - self._started_cpu)

    def save_if_due(self, *, epochs_done: int, steps: int, history_epochs: list[Any]) -> None:
        """Save after a full epoch that is not the last, if ``every_s`` has passed since the
        attempt began or the last save (the caller checks the epoch)."""
        if self.checkpoint is None or self._identity is None:
            return
        if time.perf_counter() - self._saved_at < self.checkpoint.every_s:
            return
        wall, cpu = self.elapsed()
        save_checkpoint(self.checkpoint, self._identity, *self._state, epochs_done=epochs_done,
                        steps=steps, wall_s=wall, cpu_s=cpu, history_epochs=history_epochs)
        self._saved_at = time.perf_counter()

    def finish(self) -> None:
        """The training has finished: remove the file unless ``remove_at_end`` is False."""
        if self.checkpoint is not None and self.checkpoint.remove_at_end:
            discard_checkpoint(self.checkpoint)
