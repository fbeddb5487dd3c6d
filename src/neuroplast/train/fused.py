"""Fused-seed training: S networks of one architecture trained as one model (DESIGN.md §5).

The paper averages its small networks N1–N3 over 13–50 random nets. Trained one after another
each net is tiny (N1's first layer is 784 → 5), so a CPU spends its time on per-step overhead
and skinny matrix products. :class:`FusedMLP` holds S members side by side:

* the **first layer** of all members is one Linear with weight (S·h1, d): one ``x @ Wᵀ`` on the
  shared input batch;
* every **later layer** is a batched matrix product (``torch.baddbmm``) with weights
  (S, out, in) and biases (S, out);
* the **loss** is Σ_s mean-cross-entropy_s, so the gradient of member s's parameters is exactly
  the gradient it would get trained alone on the same batch;
* **SGD** (momentum and ``weight_decay`` included) and **Adam** act element-wise on each
  parameter tensor, so one optimizer over the fused tensors takes, entry by entry, the same step
  as S separate optimizers.

Speed. The training step does not use autograd: :meth:`FusedMLP.loss_and_gradients` runs the
forward pass keeping each layer's activation derivative and back-propagates by hand (softmax −
one-hot, then ``Wᵀ g ⊙ f'`` layer by layer) straight into the parameters' ``.grad``; tanh is
evaluated as 2σ(2z) − 1 (4× faster than ``torch.tanh`` on CPU, equal to it within 2e-7 in
float32 and 1e-16 in float64) with derivative 1 − h². Together ~20 % per step for 28 N1 nets.
The fused step is then bound by the first layer's two matrix products (forward and weight
gradient of the shared (batch × d) input), which is what caps the speed-up on a CPU; see
``benchmarks/bench_training.py``.

Equivalence — and what it costs. ``train(model, split, protocol, seed=d)`` uses its seed for the
*shuffling* only; the weights come from ``initialize(model, seed)`` beforehand. Members can share
an input batch only if they share the shuffling, so :func:`train_fused` takes S members, each
initialised with its own seed, and one ``data_seed``: member s ends up equal (to float rounding;
matmul accumulation orders differ) to ``train(member_s, split, protocol, seed=data_seed)``. A
sweep that varies both the initialisation *and* the shuffling order with the seed cannot share
batches; the fused path varies only the initialisation. The paper's multi-run averages are
averages over random nets (REFERENCE §2.1), and the order in which the same examples are
visited is a second-order effect on them; a sweep that needs per-seed shuffling trains the
seeds separately.

Death and replication are **not** done on a fused model: surgery changes one member's width,
which breaks the shared (S, out, in) layout. A sweep whose runs do surgery *during* training
(the death-and-replication schedule, callbacks) trains those runs as separate models; a run
that trains first and prunes or replicates afterwards may train fused and then
:meth:`FusedMLP.unfuse` (or :func:`train_fused`, which writes the trained weights back into the
members) before the surgery. Members must have unpruned inputs (an identity input selector)
and identical widths and activation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.activations import Activation, get_activation
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP, check_widths
from neuroplast.train.loop import (
    Evaluation,
    History,
    _progress_bar,
    make_optimizer,
    restrict,
    step_schedule,
)
from neuroplast.train.protocols import Protocol


class FusedMLP(nn.Module):
    """S MLPs of identical widths and activation evaluated together; logits (S, batch, C).

    Build it with :func:`fuse` from initialised members; the constructor's parameters are
    placeholders.

    Attributes:
        n_members: S.
        widths: the members' widths ``(inputs, hidden..., outputs)``.
        first: Linear ``d → S·h1``; rows ``s·h1 … (s+1)·h1 − 1`` are member s's first layer.
        weights: later layers' weights, each (S, out, in).
        biases: later layers' biases, each (S, out).
    """

    def __init__(self, n_members: int, widths: Sequence[int], activation: str = "tanh") -> None:
        super().__init__()
        if n_members < 1:
            raise NeuroplastError(f"a fused model needs at least one member, got {n_members}")
        widths = check_widths(widths)
        self.n_members = int(n_members)
        self.widths = widths
        self.activation = get_activation(activation)
        self.first = nn.Linear(widths[0], n_members * widths[1])
        pairs = list(zip(widths[1:-1], widths[2:], strict=True))
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(n_members, n_out, n_in)) for n_in, n_out in pairs
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(n_members, n_out)) for _, n_out in pairs
        )

    @property
    def activation_name(self) -> str:
        return self.activation.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member for the shared batch ``x`` (batch, d): (S, batch, C)."""
        return self.logits_by_class(x).transpose(1, 2)  # (S, batch, C)

    def logits_by_class(self, x: torch.Tensor) -> torch.Tensor:
        """The same logits laid out (S, C, batch), the layout the loss is fastest on.

        Activations are kept as (S, width, batch) throughout: the first layer is one matmul
        ``W (S·h1, d) @ xᵀ (d, batch)`` whose result is already member-major, and every later
        layer is ``baddbmm(b, W (S, out, in), h (S, in, batch))`` — no transposes are copied.
        """
        s = self.n_members
        z = torch.addmm(self.first.bias.unsqueeze(1), self.first.weight, x.t())  # (S·h1, batch)
        z = z.view(s, -1, x.shape[0])  # (S, h1, batch)
        for weight, bias in zip(self.weights, self.biases, strict=True):
            h = self.activation.fn(z)  # (S, in, batch)
            z = torch.baddbmm(bias.unsqueeze(2), weight, h)  # (S, out, batch)
        return z  # (S, C, batch)

    def loss_and_gradients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's mean cross-entropy on (x, y), with its gradient written into ``.grad``.

        The same numbers as autograd of Σ_s mean-cross-entropy_s(``self.logits_by_class(x)``)
        (checked against autograd in the tests), computed without autograd: member s's
        parameters get exactly the gradient of its own mean cross-entropy.

        Args:
            x: shared input batch (batch, d).
            y: labels (batch,).

        Returns:
            (S,) per-member mean cross-entropy, detached.
        """
        s, batch = self.n_members, x.shape[0]
        with torch.no_grad():
            z = torch.addmm(self.first.bias.unsqueeze(1), self.first.weight, x.t())
            z = z.view(s, -1, batch)  # (S, h1, batch)
            outputs, slopes = [], []
            for weight, bias in zip(self.weights, self.biases, strict=True):
                h, slope = _activate(self.activation, z)  # f(z), f'(z): (S, in, batch)
                outputs.append(h)
                slopes.append(slope)
                z = torch.baddbmm(bias.unsqueeze(2), weight, h)  # (S, out, batch)
            log_p = torch.log_softmax(z, dim=1)  # (S, C, batch)
            target = y.view(1, 1, batch).expand(s, 1, batch)
            losses = -log_p.gather(1, target).mean(dim=(1, 2))  # (S,)
            g = log_p.exp_()  # softmax; d(mean CE)/dz = (p − onehot) / batch
            g.scatter_add_(1, target, torch.full((s, 1, batch), -1.0, dtype=g.dtype,
                                                 device=g.device))
            g.mul_(1.0 / batch)
            for k in range(len(self.weights) - 1, -1, -1):
                weight = self.weights[k]
                weight.grad = torch.bmm(g, outputs[k].transpose(1, 2))  # (S, out, in)
                self.biases[k].grad = g.sum(dim=2)  # (S, out)
                g = torch.bmm(weight.transpose(1, 2), g).mul_(slopes[k])  # (S, in, batch)
            g = g.reshape(-1, batch)  # (S·h1, batch)
            self.first.weight.grad = g @ x  # (S·h1, d)
            self.first.bias.grad = g.sum(dim=1)  # (S·h1,)
        return losses

    def member_layers(self, s: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``(weight (out, in), bias (out,))`` of member ``s``'s layers, first to last."""
        if not 0 <= s < self.n_members:
            raise NeuroplastError(f"member {s} does not exist; this model has {self.n_members}")
        h1 = self.widths[1]
        rows = slice(s * h1, (s + 1) * h1)
        layers = [(self.first.weight[rows], self.first.bias[rows])]
        layers += [(w[s], b[s]) for w, b in zip(self.weights, self.biases, strict=True)]
        return layers

    def copy_into(self, models: Sequence[MLP]) -> None:
        """Write every member's parameters into ``models`` in place (same order as fused)."""
        if len(models) != self.n_members:
            raise NeuroplastError(
                f"{len(models)} models given for {self.n_members} fused members"
            )
        with torch.no_grad():
            for s, model in enumerate(models):
                if model.widths != self.widths:
                    raise NeuroplastError(
                        f"model {s} has widths {model.widths}, the fused members {self.widths}"
                    )
                for layer, (weight, bias) in zip(model.layers, self.member_layers(s), strict=True):
                    layer.weight.copy_(weight)
                    layer.bias.copy_(bias)

    def unfuse(self) -> list[MLP]:
        """S independent :class:`MLP` copies of the members (same dtype and device)."""
        reference = self.first.weight
        models = [
            MLP(self.widths, self.activation.name).to(reference.device, reference.dtype)
            for _ in range(self.n_members)
        ]
        self.copy_into(models)
        return models

    def extra_repr(self) -> str:
        return (f"n_members={self.n_members}, widths={self.widths}, "
                f"activation={self.activation.name}")


def _activate(activation: Activation, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(z), f'(z)) for the hand-written backward pass; ``z`` may be overwritten.

    tanh is computed as 2σ(2z) − 1 with f' = 1 − h² and the sigmoid as σ(z) with f' = h(1 − h):
    one cheap element-wise kernel each instead of ``torch.tanh``'s slow one. Other activations
    use their own function and derivative (neuroplast.models.activations).
    """
    if activation.name == "tanh":
        h = torch.sigmoid(z.mul_(2.0)).mul_(2.0).sub_(1.0)
        return h, 1.0 - h * h
    if activation.name == "sigmoid":
        h = torch.sigmoid(z)
        return h, h * (1.0 - h)
    return activation.fn(z), activation.derivative(z)


def _check_fusable(models: Sequence[MLP]) -> None:
    if len(models) == 0:
        raise NeuroplastError("give at least one model to fuse")
    first = models[0]
    for s, model in enumerate(models):
        if not isinstance(model, MLP):
            raise NeuroplastError(
                f"model {s} is a {type(model).__name__}, not an MLP; train it separately"
            )
        if not model.selector.is_identity:
            raise NeuroplastError(
                f"model {s} has pruned inputs ({model.selector.kept.numel()} of "
                f"{model.selector.n_features} kept); fused members share the full input batch, "
                "so train input-pruned models separately with neuroplast.train.train"
            )
        if model.widths != first.widths or model.activation_name != first.activation_name:
            raise NeuroplastError(
                f"model {s} is {model.widths} {model.activation_name} but model 0 is "
                f"{first.widths} {first.activation_name}; only identical architectures can be "
                "fused, train the others separately with neuroplast.train.train"
            )
        param = model.layers[0].weight
        reference = first.layers[0].weight
        if param.dtype != reference.dtype or param.device != reference.device:
            raise NeuroplastError(
                f"model {s} is {param.dtype} on {param.device} but model 0 is "
                f"{reference.dtype} on {reference.device}; convert them to one dtype and device"
            )


def fuse(models: Sequence[MLP]) -> FusedMLP:
    """One :class:`FusedMLP` holding copies of ``models`` (identical widths, unpruned inputs).

    Raises:
        NeuroplastError: if the models differ in widths, activation, dtype or device, or have
            pruned inputs (train those separately).
    """
    _check_fusable(models)
    reference = models[0].layers[0].weight
    fused = FusedMLP(len(models), models[0].widths, models[0].activation_name)
    fused = fused.to(reference.device, reference.dtype)
    with torch.no_grad():
        fused.first.weight.copy_(torch.cat([m.layers[0].weight for m in models]))  # (S·h1, d)
        fused.first.bias.copy_(torch.cat([m.layers[0].bias for m in models]))  # (S·h1,)
        for k, (weight, bias) in enumerate(zip(fused.weights, fused.biases, strict=True)):
            weight.copy_(torch.stack([m.layers[k + 1].weight for m in models]))  # (S, out, in)
            bias.copy_(torch.stack([m.layers[k + 1].bias for m in models]))  # (S, out)
    return fused


@torch.no_grad()
def evaluate_fused(model: FusedMLP, split: Split, *,
                   batch_size: int = 10_000) -> list[Evaluation]:
    """Each member's mean cross-entropy (no L2 term) and accuracy on ``split``.

    Raises:
        NeuroplastError: if a member's outputs are NaN or infinite (the message names it).
    """
    if split.n == 0:
        raise NeuroplastError("cannot evaluate on an empty split; give at least one example")
    dtype = model.first.weight.dtype
    was_training = model.training
    model.eval()
    loss = torch.zeros(model.n_members, dtype=torch.float64)
    correct = torch.zeros(model.n_members, dtype=torch.long)
    try:
        for start in range(0, split.n, batch_size):
            x = split.x[start : start + batch_size].to(dtype)  # (batch, d)
            y = split.y[start : start + batch_size]  # (batch,)
            logits = model.logits_by_class(x)  # (S, C, batch)
            finite = torch.isfinite(logits).flatten(1).all(dim=1)  # (S,)
            if not finite.all():
                bad = (~finite).nonzero().flatten().tolist()
                raise NeuroplastError(
                    f"fused members {bad} produced NaN or infinite outputs; lower the learning "
                    "rate or check the inputs"
                )
            per_example = F.cross_entropy(logits, y.expand(model.n_members, -1),
                                          reduction="none")  # (S, batch)
            loss += per_example.sum(dim=1).to(torch.float64).cpu()
            correct += (logits.argmax(dim=1) == y).sum(dim=1).cpu()
    finally:
        model.train(was_training)
    return [Evaluation(float(loss[s]) / split.n, int(correct[s]) / split.n)
            for s in range(model.n_members)]


def train_fused(models: Sequence[MLP], train_split: Split, protocol: Protocol, *,
                epochs: float, data_seed: int, test_split: Split | None = None,
                optimizer: str = "sgd", progress: bool | None = None) -> list[History]:
    """Train S same-architecture models together, in place, sharing every input batch.

    Member s ends up equal, to float rounding, to ``train(models[s], train_split, protocol,
    epochs=epochs, seed=data_seed)`` run alone: the same batches in the same order (one
    generator seeded with ``data_seed`` shuffles for all), the same per-member mean
    cross-entropy and the same element-wise optimizer step. Initialise each member with its own
    seed beforehand (``models.initialize(model, seed)``); only the initialisation differs
    between members (see the module docstring for what that means for seed sweeps).

    Args:
        models: S MLPs with identical widths and activation and unpruned inputs; trained in
            place (the fused weights are written back at the end).
        train_split: training data; the protocol may restrict it (``max_train_examples``).
        protocol: hyper-parameters (SGD momentum and L2 ``weight_decay`` included).
        epochs: our epochs, as in :func:`neuroplast.train.train`.
        data_seed: seeds the shared shuffling.
        test_split: evaluated at the end beside the training split.
        optimizer: ``"sgd"`` (the paper's) or ``"adam"``; both act element-wise, so the fused
            step equals the separate ones.
        progress: show a progress bar (None = only on an interactive terminal).

    Returns:
        One :class:`History` per member: per-epoch mean batch loss, and ``final`` with that
        member's train/test loss and accuracy, the shared wall time (``wall_time_s``, for all
        members together), ``fused_members`` = S and ``data_seed``. No callbacks run: death and
        replication during training need separate models.

    Raises:
        NeuroplastError: if the models cannot be fused, ``epochs`` is negative, the split is
            empty, or a member diverges (the message names it; the models are then left as
            they were).
    """
    if not math.isfinite(epochs) or epochs < 0:
        raise NeuroplastError(f"epochs must be a non-negative number, got {epochs}")
    fused = fuse(models)
    opt = make_optimizer(fused, protocol, optimizer)  # type: ignore[arg-type]  # any nn.Module
    data = restrict(train_split, protocol)
    if data.n == 0:
        raise NeuroplastError("the training split is empty; give at least one example")
    x_all = data.x.to(fused.first.weight.dtype)  # (n, d), the members' dtype
    s = fused.n_members
    generator = torch.Generator().manual_seed(int(data_seed))
    _, total_steps, n_epochs = step_schedule(data.n, protocol.batch_size, epochs)
    histories = [History() for _ in range(s)]
    bar = _progress_bar(n_epochs, progress)
    started = time.perf_counter()
    step = 0
    try:
        for epoch in range(n_epochs):
            fused.train()
            order = torch.randperm(data.n, generator=generator)
            running = torch.zeros(s, dtype=torch.float64, device=x_all.device)  # (S,)
            batches = 0
            for start in range(0, data.n, protocol.batch_size):
                if step == total_steps:
                    break
                index = order[start : start + protocol.batch_size].to(x_all.device)  # (batch,)
                x = x_all.index_select(0, index)  # (batch, d); much faster than x_all[index]
                losses = fused.loss_and_gradients(x, data.y.index_select(0, index))  # (S,)
                opt.step()
                running += losses.detach()  # sum of batch losses
                batches += 1
                step += 1
            running = running.cpu()
            finite = torch.isfinite(running)
            if not finite.all():
                bad = (~finite).nonzero().flatten().tolist()
                raise NeuroplastError(
                    f"training diverged for fused members {bad} in epoch {epoch + 1}; lower the "
                    "learning rate"
                )
            for h, total in zip(histories, running.tolist(), strict=True):
                h.epochs.append({"epoch": epoch + 1, "steps": batches,
                                 "mean_batch_loss": total / max(batches, 1)})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - started
    fused.copy_into(models)
    train_eval = evaluate_fused(fused, data)
    test_eval = evaluate_fused(fused, test_split) if test_split is not None else None
    for member, h in enumerate(histories):
        final: dict[str, Any] = {"epochs": n_epochs, "steps": step, "wall_time_s": wall,
                                 "fused_members": s, "data_seed": int(data_seed)}
        final |= train_eval[member].as_dict("train")
        if test_eval is not None:
            final |= test_eval[member].as_dict("test")
        h.final = final
    return histories
