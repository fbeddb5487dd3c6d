"""The training loop: seeded mini-batch SGD over tensors held in memory, with callbacks.

Callbacks run between epochs and may change the model and the optimizer in place (the
death-and-replication schedule does: surgery keeps the optimizer usable). Events they log go into
``History.events``.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.checks import check_seed
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models.checks import check_model, check_split_for_model
from neuroplast.models.mlp import MLP, FeatureSelector
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.train.checkpoint import Checkpoint, CheckpointedRun
from neuroplast.train.lr_schedule import ScheduledRates
from neuroplast.train.protocols import Protocol


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy and accuracy of a model on one split."""

    loss: float
    accuracy: float

    def as_dict(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_loss": self.loss, f"{prefix}_accuracy": self.accuracy}


@dataclass
class History:
    """What happened during training: per-epoch records, callback events, final metrics."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "events": self.events, "final": self.final}


@dataclass
class TrainState:
    """What a callback sees between epochs; it may modify model and optimizer in place."""

    model: MLP
    optimizer: torch.optim.Optimizer
    epoch: int
    train: Split
    history: History


Callback = Callable[[TrainState], None]


@torch.no_grad()
def evaluate(model: MLP, split: Split, *, batch_size: int = 10_000) -> Evaluation:
    """Mean cross-entropy (no L2 term) and accuracy of ``model`` on ``split``.

    Accuracy is the fraction of examples whose largest logit is the label (ties go to the
    lowest class index, ``argmax``). The model's train/eval mode is left as it was.

    Raises:
        TypeError: ``model`` is not an MLP or ``split`` not a Split.
        NeuroplastError: if the split is empty, does not fit the model (features, labels,
            device), or the model outputs NaN or infinity.
    """
    check_model(model)
    split = check_split_for_model(model, split)
    if split.n == 0:
        raise NeuroplastError("cannot evaluate on an empty split; give at least one example")
    dtype = model.dtype
    modes = enter_evaluation(model)
    total_loss, correct = 0.0, 0
    try:
        for start in range(0, split.n, batch_size):
            x = split.x[start : start + batch_size].to(dtype)  # (batch, n_features)
            y = split.y[start : start + batch_size]  # (batch,)
            logits = model(x)  # (batch, n_classes)
            if not torch.isfinite(logits).all():
                raise NeuroplastError(non_finite_message(model))
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
    finally:
        restore_modes(modes)
    return Evaluation(total_loss / split.n, correct / split.n)


def has_finite_weights(model: nn.Module) -> bool:
    """Whether every parameter of ``model`` is finite (no NaN, no infinity)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def non_finite_message(model: MLP) -> str:
    """Why a model's outputs are NaN or infinite, and what to do about it."""
    if not has_finite_weights(model):
        return ("the model's weights contain NaN or infinity (saved from a diverged training "
                "run, or damaged); it cannot be evaluated, trained, pruned or grown: train a new "
                "model")
    return ("the model produced NaN or infinite outputs from finite weights; check the inputs "
            "for NaN, infinity or huge values")


def evaluate_splits(model: MLP, train_split: Split, test_split: Split | None = None,
                    ) -> dict[str, float]:
    """``train_loss``, ``train_accuracy`` and, with a test split, ``test_loss``,
    ``test_accuracy`` of ``model`` (:func:`evaluate` on each split)."""
    metrics = evaluate(model, train_split).as_dict("train")
    if test_split is not None:
        metrics |= evaluate(model, test_split).as_dict("test")
    return metrics


def check_protocol(protocol: object) -> Protocol:
    """``protocol`` if it is a :class:`Protocol`.

    Raises:
        TypeError: anything else, e.g. its name (pass ``get_protocol(name)``).
    """
    if not isinstance(protocol, Protocol):
        hint = (f"get_protocol({protocol!r})" if isinstance(protocol, str)
                else "get_protocol('fast')")
        raise TypeError(f"protocol must be a Protocol, got {type(protocol).__name__} "
                        f"{protocol!r}; pass {hint}")
    return protocol


def make_optimizer(model: MLP, protocol: Protocol, kind: str = "sgd",
                   learning_rate: float | None = None) -> torch.optim.Optimizer:
    """The protocol's optimizer: SGD (the paper's) or Adam, with L2 as ``weight_decay``.

    With ``protocol.decay_biases`` False the biases (parameters named ``bias`` or held in a
    ``biases`` list) form a second parameter group without weight decay.
    """
    lr = protocol.learning_rate if learning_rate is None else learning_rate
    params: list[dict[str, Any]] | Any = model.parameters()
    if not protocol.decay_biases:
        named = list(model.named_parameters())
        biases = [p for name, p in named if _is_bias(name)]
        params = [{"params": [p for name, p in named if not _is_bias(name)]},
                  {"params": biases, "weight_decay": 0.0}]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=protocol.momentum,
                               weight_decay=protocol.weight_decay)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=protocol.weight_decay)
    raise NeuroplastError(f"unknown optimizer {kind!r}; choose 'sgd' or 'adam'")


def _is_bias(name: str) -> bool:
    """Whether the parameter called ``name`` is a bias (``*.bias``, or in a ``biases`` list)."""
    parts = name.split(".")
    return parts[-1] == "bias" or "biases" in parts[:-1]


def restrict(split: Split, protocol: Protocol) -> Split:
    """The part of ``split`` the protocol trains on (all of it unless ``max_train_examples``)."""
    limit = protocol.max_train_examples
    if limit is None or split.n <= limit:
        return split
    return Split(split.x[:limit], split.y[:limit])


KEPT_COLUMNS_MIN_EPOCHS = 8
"""An input-pruned model's kept columns are gathered once (:class:`_KeptInputs`) only when at
least this many epochs remain: on MNIST that gather (62 ms for 502 of 784 columns) costs about
what 4 epochs of per-batch gathers cost, so shorter trainings keep gathering per batch."""


def _called_plainly(model: MLP) -> bool:
    """Whether ``model(x)`` is exactly ``model.forward_kept(model.selector(x))``: the MLP's and
    the selector's own ``forward``, and no forward hook (on either, or global) that stepping
    past ``__call__`` would silence."""
    selector = model.selector
    if type(model).forward is not MLP.forward \
            or type(selector).forward is not FeatureSelector.forward:
        return False
    hooks = [m._forward_hooks or m._forward_pre_hooks for m in (model, selector)]
    return not any(hooks) and not (nn.modules.module._global_forward_hooks
                                   or nn.modules.module._global_forward_pre_hooks)


def _selection(selector: FeatureSelector) -> tuple[torch.Tensor, int, int]:
    """What identifies the selector's current choice: its ``kept`` tensor (held, so its
    identity stays meaningful), that tensor's version (in-place edits) and storage
    (``kept.data = ...``)."""
    kept = selector.kept
    return kept, kept._version, kept.data_ptr()


def _same(a: tuple[torch.Tensor, int, int] | None, b: tuple[torch.Tensor, int, int]) -> bool:
    return a is not None and a[0] is b[0] and a[1:] == b[1:]


class _KeptInputs:
    """The training inputs as the model reads them.

    A model whose input selector keeps some features (input pruning) gathers them from every
    batch; for a long training the split's kept columns are instead gathered once, and each
    step calls :meth:`MLP.forward_kept <neuroplast.models.MLP.forward_kept>` on batches of
    them: the same numbers in the same layout, so bit-identical training, ~5 % faster per step
    for an N4 keeping 502 of 784 inputs (1.96–2.02 against 2.06–2.15 ms over 800 ``fast``
    steps of ``train()``, the one gather included, one thread, three runs each), at the cost
    of one copy of the split's kept columns in memory.

    The columns are gathered at the start of an epoch when at least
    :data:`KEPT_COLUMNS_MIN_EPOCHS` epochs remain and the selector is the one the previous
    epoch saw (or this is the call's first epoch): after a callback changes it (prunes inputs)
    one epoch gathers per batch, so a callback that changes the selector every epoch never
    pays for a gather it cannot use. The model is always called as it is (``model(x)``) when
    it reads every feature, or when its ``forward`` is not the MLP's own or a forward hook is
    registered on it, its selector or globally, so overrides and hooks behave as before.
    """

    def __init__(self, x_full: torch.Tensor) -> None:
        self.x_full = x_full  # (n, n_features)
        self.seen: tuple[torch.Tensor, int, int] | None = None  # the previous epoch's selection
        self.gathered: tuple[torch.Tensor, int, int] | None = None  # what x_kept holds
        self.x_kept: torch.Tensor | None = None  # (n, n_kept)

    def for_model(self, model: MLP, epochs_left: int
                  ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        """(inputs to gather this epoch's batches from, the function mapping a batch to
        logits), at the start of an epoch with ``epochs_left`` epochs (this one included)."""
        if model.selector.is_identity or not _called_plainly(model):
            return self.x_full, model
        selection = _selection(model.selector)
        stable = self.seen is None or _same(self.seen, selection)
        self.seen = selection
        if not _same(self.gathered, selection):
            self.gathered, self.x_kept = None, None  # stale: let it go
            if not stable or epochs_left < KEPT_COLUMNS_MIN_EPOCHS:
                return self.x_full, model
            kept = selection[0].to(self.x_full.device)
            self.gathered, self.x_kept = selection, self.x_full.index_select(1, kept)
        return self.x_kept, model.forward_kept


def _plain_step(model: MLP, optimizer: torch.optim.Optimizer,
                forward: Callable[[torch.Tensor], torch.Tensor]
                ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """This epoch's step without autograd (:func:`neuroplast.train.plain_step.plain_sgd_step`:
    plain SGD on an MLP called plainly, to float rounding the same step, faster), taking the
    batches ``forward`` takes — the split's kept columns, or every feature, which it selects
    first; None: step by autograd."""
    from neuroplast.train.plain_step import plain_sgd_step  # it imports this module

    step = plain_sgd_step(model, optimizer)
    if step is None or forward is not model or model.selector.is_identity:
        return step  # forward_kept, or a model that reads every feature
    selector = model.selector
    return lambda x, y: step(selector(x), y)


def step_schedule(n_examples: int, batch_size: int, epochs: float) -> tuple[int, int, int]:
    """(steps per epoch, total steps, epochs begun) for ``epochs`` (may be fractional).

    A fraction trains a partial last epoch, ``round(epochs * steps_per_epoch)`` steps in all;
    any positive length trains at least one step.
    """
    steps_per_epoch = math.ceil(n_examples / batch_size)
    total_steps = round(epochs * steps_per_epoch)
    if epochs > 0:
        total_steps = max(total_steps, 1)
    return steps_per_epoch, total_steps, math.ceil(total_steps / steps_per_epoch)


PROGRESS_DELAY_S = 3.0
"""A progress bar appears only once a run has lasted this long (short runs stay silent)."""


def _progress_bar(total: int, enabled: bool | None):
    """A tqdm bar over epochs on stderr, or None.

    ``enabled``: False = never; None = only when stderr is a terminal; True = always. The bar
    appears after :data:`PROGRESS_DELAY_S` seconds and disappears when training ends. Without
    tqdm installed there is no bar.
    """
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="epoch", leave=False, file=sys.stderr, delay=PROGRESS_DELAY_S)


def train(model: MLP, train_split: Split, protocol: Protocol, *, epochs: float, seed: int,
          test_split: Split | None = None, optimizer: torch.optim.Optimizer | None = None,
          callbacks: Sequence[Callback] = (), progress: bool | None = None,
          history: History | None = None, checkpoint: Checkpoint | None = None) -> History:
    """Train ``model`` in place with mini-batch SGD as the protocol prescribes.

    Under plain SGD (the protocol's optimizer, or any ``torch.optim.SGD`` without momentum) an
    MLP called plainly steps without autograd (:mod:`neuroplast.train.plain_step`: the same
    step to float rounding, 1.08–1.21× the steps per second for N4 on this project's AVX2
    machine in two runs of ``benchmarks/bench_training.py``; ``.grad`` is left alone); anything
    else — another optimizer, momentum, a hook, tied weights — steps by autograd, and a step
    hook on the optimizer asks for autograd.

    An input-pruned model in a long training steps on its kept input columns, gathered once
    instead of from every batch (bit-identical; skipped when ``forward`` is overridden or a
    forward hook is registered, so those still run every step: :class:`_KeptInputs`).

    Args:
        model: the network (initialise it first, e.g. ``models.initialize(model, seed)``).
        train_split: training data; the protocol may restrict it (``max_train_examples``).
        protocol: hyper-parameters.
        epochs: our epochs (use ``protocol.epochs(paper_epochs)``); a fraction trains a partial
            last epoch (``round(epochs * steps_per_epoch)`` steps in all), and any positive
            length trains at least one step.
        seed: seeds the shuffling; same seed and model give the same numbers on CPU.
        test_split: evaluated at the end beside the training split.
        optimizer: continue with this optimizer (default: a new one from the protocol).
        callbacks: called in order after every *full* epoch (not after a partial last one)
            with a :class:`TrainState`; they may change model and optimizer in place.
        progress: show a progress bar (None = only on an interactive terminal).
        history: append to this history (default: a new one).
        checkpoint: save the training's state there after full epochs (at most every
            ``checkpoint.every_s`` seconds) and, if the file exists from an interrupted call
            with the same arguments, continue from it; the result equals an uninterrupted
            training's (:mod:`neuroplast.train.checkpoint`). The file is removed at the end
            unless ``checkpoint.remove_at_end`` is False.

    Returns:
        The history; ``history.final`` holds train/test loss and accuracy (on the data
        actually trained on, i.e. after ``restrict``), the training's wall time and the
        process's CPU time (``wall_time_s``, ``cpu_time_s``; evaluation excluded; with a
        checkpoint, summed over the interrupted calls, and ``resumed_at_epoch`` when this call
        continued one).

    Raises:
        TypeError: ``model``, ``train_split``, ``test_split`` or ``protocol`` of the wrong
            type (e.g. a protocol name instead of ``get_protocol(name)``, an ``(x, y)`` tuple
            instead of a Split), or a seed that is not an integer.
        NeuroplastError: if ``epochs`` is negative or not finite, the seed is out of range,
            the training split is empty or does not fit the model (features, labels, device),
            the model's weights are not finite to begin with, or the loss becomes NaN or
            infinite (checked after every epoch); a checkpoint given together with callbacks,
            or a file at the checkpoint path that is not this training's checkpoint
            (:class:`~neuroplast.train.checkpoint.CheckpointMismatch`; nothing is overwritten).
    """
    check_model(model)
    check_split_for_model(model, train_split, "train_split")
    if test_split is not None:
        check_split_for_model(model, test_split, "test_split")
    check_protocol(protocol)
    seed = check_seed(seed)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Real):
        raise TypeError(f"epochs must be a number, got {epochs!r}")
    if not math.isfinite(epochs) or epochs < 0:
        raise NeuroplastError(f"epochs must be a non-negative number, got {epochs}")
    if not has_finite_weights(model):
        raise NeuroplastError(non_finite_message(model))
    if checkpoint is not None:
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"checkpoint must be a neuroplast.train.Checkpoint, got "
                            f"{type(checkpoint).__name__}; pass Checkpoint(path)")
        if callbacks:
            raise NeuroplastError(
                "a checkpoint cannot be combined with callbacks: they may change the model "
                "and keep state of their own that a checkpoint does not hold; drop one of them"
            )
    data = restrict(train_split, protocol)
    if data.n == 0:
        raise NeuroplastError("the training split is empty; give at least one example")
    inputs = _KeptInputs(data.x.to(model.dtype))  # (n, n_features), the model's dtype
    optimizer = make_optimizer(model, protocol) if optimizer is None else optimizer
    history = History() if history is None else history
    generator = torch.Generator().manual_seed(int(seed))
    steps_per_epoch, total_steps, n_epochs = step_schedule(data.n, protocol.batch_size, epochs)
    first_epoch = len(history.epochs)
    rates = ScheduledRates(optimizer, protocol.lr_schedule, total_steps)  # before resuming
    run = CheckpointedRun(checkpoint, model, optimizer, generator, data, history, seed=seed,
                          epochs=float(epochs), total_steps=total_steps,
                          batch_size=protocol.batch_size, lr_schedule=protocol.lr_schedule)
    if run.resumed is not None:
        history.epochs[:] = run.resumed.history_epochs
    epochs_done, step = run.epochs_done, run.steps_done
    bar = _progress_bar(n_epochs, progress)
    if bar is not None and epochs_done:
        bar.update(epochs_done)
    try:
        for epoch in range(epochs_done, n_epochs):
            model.train()
            x_all, forward = inputs.for_model(model, n_epochs - epoch)  # inputs may change
            plain = _plain_step(model, optimizer, forward)  # callbacks may change both
            order = torch.randperm(data.n, generator=generator)  # (n,)
            running = torch.zeros((), dtype=torch.float64, device=x_all.device)
            batches = 0
            for start in range(0, data.n, protocol.batch_size):
                if step == total_steps:
                    break
                index = order[start : start + protocol.batch_size]  # (batch,)
                x, y = x_all.index_select(0, index), data.y.index_select(0, index)
                if plain is not None:
                    rates.before_step(step + 1)
                    loss = plain(x, y)
                else:
                    loss = F.cross_entropy(forward(x), y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    rates.before_step(step + 1)
                    optimizer.step()
                running += loss.detach()  # summed on the device: no sync per step
                batches += 1
                step += 1
            total = running.item()
            if not math.isfinite(total):
                raise NeuroplastError(
                    f"training diverged (loss is {total}) in epoch {first_epoch + epoch + 1}; "
                    "lower the learning rate"
                )
            history.epochs.append({"epoch": first_epoch + epoch + 1, "steps": batches,
                                   "mean_batch_loss": total / max(batches, 1)})
            if batches == steps_per_epoch:
                state = TrainState(model, optimizer, first_epoch + epoch + 1, data, history)
                for callback in callbacks:
                    callback(state)
                if epoch + 1 < n_epochs:
                    run.save_if_due(epochs_done=epoch + 1, steps=step,
                                    history_epochs=history.epochs)
            if bar is not None:
                bar.set_postfix(loss=f"{total / max(batches, 1):.4f}", refresh=False)
                bar.update(1)
    finally:
        rates.restore()
        if bar is not None:
            bar.close()
    wall, cpu = run.elapsed()
    final: dict[str, Any] = {"epochs": first_epoch + n_epochs, "steps": step, "wall_time_s": wall,
                             "cpu_time_s": cpu}
    if epochs_done:
        final["resumed_at_epoch"] = first_epoch + epochs_done
    final |= evaluate_splits(model, data, test_split)
    history.final = final
    run.finish()
    return history
