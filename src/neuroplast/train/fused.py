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
evaluated in place as 2σ(2z) − 1 (``torch.tanh`` is ~6× slower on this CPU: 648 against 107 µs
on a (28, 20, 600) float32 tensor, one thread; equal to it within 2e-7 in float32 and 1e-16 in
float64), the 2z coming straight out of the layer's product (α = β = 2, exact), with derivative
1 − h² in one ``addcmul``, and the softmax with one ``exp2`` of base-2 logits, which the last
layer's product returns (α = β = log₂ e): no ``log_softmax``, which takes an exp of its own
(``exp2`` is ~4× faster than ``exp`` with AVX-512, ~1.1× with AVX2). Together with an earlier
softmax (``exp2`` of log p · log₂ e after ``log_softmax``) ~20 % per step for 28 N1 nets on an
AVX-512 CPU; replacing that softmax by this one, 2.8 % more on an AVX2 one. With plain SGD (momentum
0: the paper's, so every protocol's) :meth:`FusedMLP.sgd_step` goes one further: each weight's
step is the ``addmm_``/``baddbmm_`` that forms its gradient (:class:`PlainSGD`), so no gradient
is stored and read back by an optimizer (3–5 % per step). Its float32 results differ from
``loss_and_gradients`` + ``torch.optim.SGD`` by rounding only, but with weight decay (every
protocol has it) θ is rounded twice per step instead of once: after 100 ``fast`` steps of
four Fig. 5 copies, the mean |θ − θ_float64| is 1.3e-8 against ``train()``'s 6.9e-9 (float64
members agree to 1e-13). The fused step is then bound by its matrix products — the first
layer's two (forward and weight gradient of the shared (batch × d) input), and for narrow
first layers such as N1's the later layers' small batched ones — which is what caps the
speed-up on a CPU; see ``benchmarks/bench_training.py``.

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

Several configurations of one seed. A run that prunes one net several ways (one cutoff
each) and retrains every pruned copy with the same seed visits the same batches in the same
order for all of them: those copies fuse with no change of meaning. Members may therefore
differ in their **first hidden width** and in the **input features they keep**: the first
layer holds Σ_s h_s rows over all inputs (a member's unread inputs are zero columns whose
gradient is masked), the second layer is padded with zero columns to the widest member, and
padded activations are written as zeros, so no member sees another's padding. Everything
else (input count, later widths, activation, dtype, device) must be equal.
:func:`train_together` trains any list of models with one data seed, fused where
:func:`can_fuse` allows and one after another otherwise; the pruning experiments retrain their
pruned copies with it (``neuroplast.death.prune_cycles_together``) in cutoff- and input-pruning;
goal- and untrained-pruning train separately because their claims compare training times.

Death and replication are **not** done on a fused model: surgery changes one member's width,
which breaks the fused layout. A sweep whose runs do surgery *during* training (the
death-and-replication schedule, callbacks) trains those runs as separate models; a run that
trains first and prunes or replicates afterwards may train fused and then
:meth:`FusedMLP.unfuse` (or :func:`train_fused`, which writes the trained weights back into the
members) before the surgery.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.activations import Activation, get_activation
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP, FeatureSelector, check_widths
from neuroplast.train.checkpoint import Checkpoint, CheckpointedRun
from neuroplast.train.loop import (
    Evaluation,
    History,
    _progress_bar,
    make_optimizer,
    restrict,
    step_schedule,
    train,
)
from neuroplast.train.lr_schedule import ScheduledRates
from neuroplast.train.protocols import Protocol

LOG2_E = 1.0 / math.log(2.0)
"""log₂ e: the last layer's product (the first layer's for a net without hidden layer) returns
the logits × log₂ e, and the softmax is taken with ``exp2`` (faster than ``exp`` here)."""
LN_2 = math.log(2.0)
"""ln 2 = 1 / log₂ e."""


class FusedMLP(nn.Module):
    """S MLPs of one architecture family evaluated together; logits (S, batch, C).

    Members share the input features, the activation and every width after the first hidden
    layer. Their **first hidden widths may differ** (a site pruned to different sizes) and so
    may the **inputs they read** (input-pruned members): the first layer holds every member's
    rows one after another (``first_widths[s]`` rows for member s) over all ``n_inputs``
    features, with the columns a member does not read held at zero by a gradient mask; the
    second layer's weights are padded with zero columns to the widest member. Padded neurons
    stay exactly zero (their activations are written as zeros, so their weights get no
    gradient), so each member computes what it computes alone.

    Build it with :func:`fuse` from initialised members; the constructor's parameters are
    placeholders.

    Attributes:
        n_members: S.
        widths: ``(inputs, widest first hidden, later widths..., outputs)``.
        first_widths: each member's first hidden width (for a net without hidden layer, its
            output width).
        first: Linear ``inputs → Σ first_widths``; member s's rows follow member s − 1's.
        weights: later layers' weights, each (S, out, in); the first of them padded to the
            widest member.
        biases: later layers' biases, each (S, out).
    """

    def __init__(self, n_members: int, widths: Sequence[int], activation: str = "tanh",
                 first_widths: Sequence[int] | None = None) -> None:
        super().__init__()
        if n_members < 1:
            raise NeuroplastError(f"a fused model needs at least one member, got {n_members}")
        widths = check_widths(widths)
        first_widths = [widths[1]] * n_members if first_widths is None else list(first_widths)
        if len(first_widths) != n_members or not all(0 < w <= widths[1] for w in first_widths):
            raise NeuroplastError(
                f"first_widths {first_widths} must give {n_members} widths in 1..{widths[1]}"
            )
        if len(widths) == 2 and any(w != widths[1] for w in first_widths):
            raise NeuroplastError("members without hidden layer must have equal output widths")
        self.n_members = int(n_members)
        self.widths = widths
        self.first_widths = first_widths
        self.activation = get_activation(activation)
        self.first = nn.Linear(widths[0], sum(first_widths))
        pairs = list(zip(widths[1:-1], widths[2:], strict=True))
        self.weights = nn.ParameterList(
            nn.Parameter(torch.zeros(n_members, n_out, n_in)) for n_in, n_out in pairs
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(n_members, n_out)) for _, n_out in pairs
        )
        self.ragged = any(w != widths[1] for w in first_widths)
        positions = [s * widths[1] + j for s, w in enumerate(first_widths) for j in range(w)]
        self.register_buffer("pad_index", torch.tensor(positions, dtype=torch.long))
        self.register_buffer("input_mask", None)  # (Σ first_widths, inputs) or None
        self.member_inputs: list[torch.Tensor | None] = [None] * n_members
        """Each member's kept input features (None: all of them)."""

    @property
    def activation_name(self) -> str:
        return self.activation.name

    def member_widths(self, s: int) -> list[int]:
        """Member ``s``'s own widths ``(kept inputs, first hidden, later widths...)``."""
        kept = self.member_inputs[s]
        inputs = self.widths[0] if kept is None else int(kept.numel())
        return [inputs, self.first_widths[s], *self.widths[2:]]

    def _rows(self, s: int) -> slice:
        start = sum(self.first_widths[:s])
        return slice(start, start + self.first_widths[s])

    def _padded(self, h: torch.Tensor) -> torch.Tensor:
        """First-layer activations (Σ first_widths, batch) laid out (S, widest, batch), the
        padding exactly zero."""
        if not self.ragged:
            return h.view(self.n_members, -1, h.shape[1])
        padded = h.new_zeros(self.n_members * self.widths[1], h.shape[1])
        padded.index_copy_(0, self.pad_index, h)
        return padded.view(self.n_members, -1, h.shape[1])

    def _unpadded(self, g: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`_padded` for a gradient (S, widest, batch)."""
        g = g.reshape(-1, g.shape[2])
        return g.index_select(0, self.pad_index) if self.ragged else g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member for the shared batch ``x`` (batch, d): (S, batch, C)."""
        return self.logits_by_class(x).transpose(1, 2)  # (S, batch, C)

    def logits_by_class(self, x: torch.Tensor) -> torch.Tensor:
        """The same logits laid out (S, C, batch), the layout the loss is fastest on.

        Activations are kept as (S, width, batch) throughout: the first layer is one matmul
        ``W (Σh, d) @ xᵀ (d, batch)`` whose result is already member-major, and every later
        layer is ``baddbmm(b, W (S, out, in), h (S, in, batch))`` — no transposes are copied.
        """
        s = self.n_members
        z = torch.addmm(self.first.bias.unsqueeze(1), self.first.weight, x.t())  # (Σh, batch)
        if not self.weights:
            return z.view(s, -1, x.shape[0])  # (S, C, batch)
        h = self._padded(self.activation.fn(z))  # (S, widest, batch)
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            if k > 0:
                h = self.activation.fn(z)  # (S, in, batch)
            z = torch.baddbmm(bias.unsqueeze(2), weight, h)  # (S, out, batch)
        return z  # (S, C, batch)

    def loss_and_gradients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each member's mean cross-entropy on (x, y), with its gradient written into ``.grad``.

        The same numbers as autograd of Σ_s mean-cross-entropy_s(``self.logits_by_class(x)``)
        (checked against autograd in the tests), computed without autograd: member s's
        parameters get exactly the gradient of its own mean cross-entropy. Columns of the
        first layer a member does not read get zero gradient.

        Args:
            x: shared input batch (batch, d).
            y: labels (batch,).

        Returns:
            (S,) per-member mean cross-entropy, detached.
        """
        return self._backpropagate(x, y, _StoreGradients())

    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, sgd: PlainSGD) -> torch.Tensor:
        """One step of plain SGD on (x, y), applied inside the gradient's own products.

        θ ← θ − ηλθ − η·∇θ for every parameter (η, λ: its group's learning rate and weight
        decay in ``sgd``): what :meth:`loss_and_gradients` followed by ``torch.optim.SGD``
        without momentum computes, to float rounding, but each weight's gradient step is the
        ``addmm_``/``baddbmm_`` that forms its gradient (α = −η / batch), so no gradient is
        stored or read back. Columns a member does not read stay zero. ``.grad`` is left as
        it was.

        Returns:
            (S,) per-member mean cross-entropy before the step, detached.
        """
        return self._backpropagate(x, y, sgd)

    def _backpropagate(self, x: torch.Tensor, y: torch.Tensor,
                       sink: _GradientSink) -> torch.Tensor:
        """Forward pass keeping f'(z), then back-propagation by hand; each parameter's
        gradient goes to ``sink`` as the product or sum that forms it.

        The gradient flowing back is held unscaled, ``batch`` times d(mean CE)/dz (softmax −
        one-hot), and ``1 / batch`` is the ``scale`` of every product given to ``sink``. For
        tanh the first product of each layer already returns 2z (α = β = 2, exact in binary
        floating point), so f = 2σ(2z) − 1 needs no separate doubling (:func:`_activate`); the
        last product (the first, for a net without hidden layer) returns the logits × log₂ e,
        so the loss and softmax work in base 2.
        """
        s, batch = self.n_members, x.shape[0]
        scale = 1.0 / batch
        pre = _PRE_SCALE.get(self.activation.name, 1.0) if self.weights else LOG2_E
        with torch.no_grad():
            z = torch.addmm(self.first.bias.unsqueeze(1), self.first.weight, x.t(),
                            beta=pre, alpha=pre)  # (Σh, batch), ×pre
            outputs, slopes = [], []
            if self.weights:
                h, slope = _activate(self.activation, z)  # f(z), f'(z): (Σh, batch)
                outputs.append(self._padded(h))  # (S, widest, batch)
                slopes.append(slope)
                last = len(self.weights) - 1
                for k, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
                    factor = LOG2_E if k == last else pre
                    z = torch.baddbmm(bias.unsqueeze(2), weight, outputs[k],
                                      beta=factor, alpha=factor)  # (S, out, batch)
                    if k < last:
                        h, slope = _activate(self.activation, z)  # (S, out, batch)
                        outputs.append(h)
                        slopes.append(slope)
            else:
                z = z.view(s, -1, batch)
            # z holds the logits × log₂e (the last product's α = β = log₂e), so the softmax is
            # 2^(z − max z) / Σ with one exp2 and no log_softmax, which would take an exp of
            # its own: 2.8 % less per step for 28 N1 nets (12.34 against 12.70 ms, AVX2, one
            # thread, 2026-12-06)
            target = y.view(1, 1, batch).expand(s, 1, batch)
            z.sub_(z.amax(dim=1, keepdim=True))  # (S, C, batch): (logit − max logit)·log₂e
            picked = z.gather(1, target)  # (S, 1, batch): the target's
            p = z.exp2_()  # exp(logit − max logit)
            total = p.sum(dim=1, keepdim=True)  # (S, 1, batch)
            # −log p_target = log Σ − (logit_target − max logit)
            losses = total.log().sub_(picked, alpha=LN_2).mean(dim=(1, 2))  # (S,)
            g = p.mul_(total.reciprocal_())  # p; batch · d(mean CE)/dz = p − onehot
            g.scatter_add_(1, target, torch.full((s, 1, batch), -1.0, dtype=g.dtype,
                                                 device=g.device))
            for k in range(len(self.weights) - 1, -1, -1):
                weight = self.weights[k]
                below = torch.bmm(weight.transpose(1, 2), g)  # (S, in, batch), before sink
                sink.product(weight, g, outputs[k].transpose(1, 2), scale)  # (S, out, in)
                sink.total(self.biases[k], g, 2, scale)  # (S, out)
                g = self._unpadded(below).mul_(slopes[0]) if k == 0 else below.mul_(slopes[k])
            g = g.reshape(-1, batch)  # (Σh, batch)
            sink.product(self.first.weight, g, x, scale)  # (Σh, d)
            if self.input_mask is not None:
                sink.mask(self.first.weight, self.input_mask)
            sink.total(self.first.bias, g, 1, scale)  # (Σh,)
        return losses

    def member_layers(self, s: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views ``(weight (out, in), bias (out,))`` of member ``s``'s layers, first to last.

        The first layer's weight spans all input features (zeros where the member reads none);
        the second layer's weight is cut to the member's own first hidden width.
        """
        if not 0 <= s < self.n_members:
            raise NeuroplastError(f"member {s} does not exist; this model has {self.n_members}")
        rows, width = self._rows(s), self.first_widths[s]
        layers = [(self.first.weight[rows], self.first.bias[rows])]
        layers += [(w[s][:, :width] if k == 0 else w[s], b[s])
                   for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True))]
        return layers

    def copy_into(self, models: Sequence[MLP]) -> None:
        """Write every member's parameters into ``models`` in place (same order as fused)."""
        if len(models) != self.n_members:
            raise NeuroplastError(
                f"{len(models)} models given for {self.n_members} fused members"
            )
        with torch.no_grad():
            for s, model in enumerate(models):
                if model.widths != self.member_widths(s):
                    raise NeuroplastError(
                        f"model {s} has widths {model.widths}, fused member {s} "
                        f"{self.member_widths(s)}"
                    )
                kept = self.member_inputs[s]
                reads = model.selector.kept
                if (kept is None and not model.selector.is_identity) or (
                        kept is not None and not torch.equal(reads, kept.to(reads.device))):
                    raise NeuroplastError(
                        f"model {s} keeps other inputs than fused member {s}; copy into the "
                        "models the fused model was made from"
                    )
                for k, (layer, (weight, bias)) in enumerate(
                        zip(model.layers, self.member_layers(s), strict=True)):
                    if k == 0 and kept is not None:
                        weight = weight.index_select(1, kept.to(weight.device))
                    layer.weight.copy_(weight)
                    layer.bias.copy_(bias)

    def unfuse(self) -> list[MLP]:
        """S independent :class:`MLP` copies of the members (same dtype and device)."""
        reference = self.first.weight
        models = []
        for s in range(self.n_members):
            model = MLP(self.member_widths(s), self.activation.name)
            model.selector = FeatureSelector(self.widths[0], self.member_inputs[s])
            models.append(model.to(reference.device, reference.dtype))
        self.copy_into(models)
        return models

    def extra_repr(self) -> str:
        ragged = f", first_widths={self.first_widths}" if self.ragged else ""
        return (f"n_members={self.n_members}, widths={self.widths}{ragged}, "
                f"activation={self.activation.name}")


_PRE_SCALE = {"tanh": 2.0}
"""Activations whose fast form wants the pre-activation scaled: tanh(z) = 2σ(2z) − 1 takes
2z, which the layer's product returns directly (α = β = 2)."""


def _activate(activation: Activation, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(z), f'(z)) for the hand-written backward pass, given ``z`` times
    ``_PRE_SCALE[activation]`` (default 1); ``z`` may be overwritten.

    tanh is computed from 2z as 2σ(2z) − 1 (one ``sigmoid_``, one ``add``) with
    f' = 1 − h², and the sigmoid as σ(z) with f' = h − h², in place on ``z`` and one
    ``addcmul`` for f', instead of ``torch.tanh``'s slow kernel and two temporaries. Other
    activations use their own function and derivative (neuroplast.activations).
    """
    if activation.name == "tanh":
        h = z.sigmoid_()  # σ(2z), in place: z is not needed again
        h = torch.add(h.new_full((), -1.0), h, alpha=2.0, out=h)  # 2σ − 1, one kernel
        return h, torch.addcmul(h.new_ones(()), h, h, value=-1.0)  # 1 − h², one kernel
    if activation.name == "sigmoid":
        h = z.sigmoid_()
        return h, torch.addcmul(h, h, h, value=-1.0)  # h − h²
    return activation.fn(z), activation.derivative(z)


class _GradientSink:
    """Where :meth:`FusedMLP._backpropagate` sends each parameter's gradient, given as the
    product ``scale · a @ b`` (mm or bmm) or the sum ``scale · g.sum(dim)`` that forms it."""

    def product(self, param: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                scale: float) -> None:
        raise NotImplementedError

    def total(self, param: torch.Tensor, g: torch.Tensor, dim: int, scale: float) -> None:
        raise NotImplementedError

    def mask(self, param: torch.Tensor, mask: torch.Tensor) -> None:
        """Entries where ``mask`` is 0 are unread inputs: their gradient is zero."""
        raise NotImplementedError


class _StoreGradients(_GradientSink):
    """Writes each gradient into ``param.grad`` (for any optimizer)."""

    def product(self, param: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                scale: float) -> None:
        empty = a.new_empty(*a.shape[:-1], b.shape[-1])
        param.grad = (torch.baddbmm if a.dim() == 3 else torch.addmm)(
            empty, a, b, beta=0.0, alpha=scale)  # β = 0: ``empty`` is not read

    def total(self, param: torch.Tensor, g: torch.Tensor, dim: int, scale: float) -> None:
        param.grad = g.sum(dim=dim).mul_(scale)

    def mask(self, param: torch.Tensor, mask: torch.Tensor) -> None:
        param.grad.mul_(mask)


class PlainSGD(_GradientSink):
    """SGD without momentum applied in place: θ ← θ − ηλθ, then θ ← θ − η·∇θ inside the
    product or sum that forms ∇θ (``addmm_``/``baddbmm_`` with α = −η / batch); what
    ``torch.optim.SGD`` with momentum 0 computes, to float rounding (it adds λθ to the
    gradient, then steps).

    Build it with :meth:`from_optimizer`, which returns None for anything else (momentum,
    maximising, Adam, a parameter the optimizer does not hold): those train through ``.grad``
    and ``optimizer.step()``. η and λ are read from the optimizer's groups at every step, so
    a changed learning rate takes effect as it would in the optimizer.
    """

    def __init__(self, groups: dict[torch.Tensor, dict[str, Any]]) -> None:
        self.groups = groups
        """The optimizer's parameter group of every parameter (its ``lr``, ``weight_decay``)."""

    @classmethod
    def from_optimizer(cls, optimizer: torch.optim.Optimizer,
                       model: nn.Module) -> PlainSGD | None:
        """A sink taking ``optimizer``'s step for every parameter of ``model``, or None when
        it cannot (not plain ``torch.optim.SGD``, momentum, ``maximize``, or a parameter of
        ``model`` in none of its groups)."""
        groups = plain_sgd_groups(optimizer)
        if groups is None or any(param not in groups for param in model.parameters()):
            return None
        return cls(groups)

    def _rates(self, param: torch.Tensor) -> tuple[float, float]:
        group = self.groups[param]
        return float(group["lr"]), float(group["weight_decay"])

    def product(self, param: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                scale: float) -> None:
        lr = self._decay(param)
        (param.baddbmm_ if a.dim() == 3 else param.addmm_)(a, b, alpha=-lr * scale)

    def total(self, param: torch.Tensor, g: torch.Tensor, dim: int, scale: float) -> None:
        lr = self._decay(param)
        param.add_(g.sum(dim=dim), alpha=-lr * scale)

    def _decay(self, param: torch.Tensor) -> float:
        """θ ← θ − ηλθ, as θ + (−ηλ)·θ; returns η. The factor 1 − ηλ (0.9999 for the fast
        protocol) is not a float32 number, and multiplying by its rounding every step drifts
        θ by ~1e-6 relatively in 100 steps; −ηλ's own rounding only touches the small decay
        term."""
        lr, decay = self._rates(param)
        if decay:
            param.add_(param, alpha=-lr * decay)
        return lr

    def mask(self, param: torch.Tensor, mask: torch.Tensor) -> None:
        param.mul_(mask)  # unread entries were zero, so the step left them −η·∇θ: zero again


def plain_sgd_groups(optimizer: torch.optim.Optimizer
                     ) -> dict[torch.Tensor, dict[str, Any]] | None:
    """Each parameter ``optimizer`` holds → its group, when ``optimizer`` is plain
    ``torch.optim.SGD`` (momentum 0, not maximising), the step :class:`PlainSGD` takes; else
    None."""
    if type(optimizer) is not torch.optim.SGD:
        return None
    groups: dict[torch.Tensor, dict[str, Any]] = {}
    for group in optimizer.param_groups:
        if group["momentum"] != 0 or group.get("maximize", False):
            return None
        for param in group["params"]:
            groups[param] = group
    return groups


def _check_fusable(models: Sequence[MLP]) -> None:
    if len(models) == 0:
        raise NeuroplastError("give at least one model to fuse")
    first = models[0]
    for s, model in enumerate(models):
        if not isinstance(model, MLP):
            raise NeuroplastError(
                f"model {s} is a {type(model).__name__}, not an MLP; train it separately"
            )
        same = (model.n_inputs == first.n_inputs and model.widths[2:] == first.widths[2:]
                and len(model.widths) == len(first.widths)
                and model.activation_name == first.activation_name)
        if len(model.widths) == 2:  # no hidden layer: the first layer is the output layer
            same = same and model.widths == first.widths and model.selector.is_identity
        if not same:
            raise NeuroplastError(
                f"model {s} is {model.widths} {model.activation_name} on {model.n_inputs} "
                f"inputs but model 0 is {first.widths} {first.activation_name} on "
                f"{first.n_inputs}; members may differ only in their first hidden width and "
                "the inputs they keep — train the others separately with neuroplast.train.train"
            )
        param = model.layers[0].weight
        reference = first.layers[0].weight
        if param.dtype != reference.dtype or param.device != reference.device:
            raise NeuroplastError(
                f"model {s} is {param.dtype} on {param.device} but model 0 is "
                f"{reference.dtype} on {reference.device}; convert them to one dtype and device"
            )


def can_fuse(models: Sequence[nn.Module]) -> bool:
    """Whether :func:`fuse` accepts ``models`` (MLPs that differ at most in their first
    hidden width and kept inputs, one dtype and device)."""
    try:
        _check_fusable(models)  # type: ignore[arg-type]
    except NeuroplastError:
        return False
    return True


def fuse(models: Sequence[MLP]) -> FusedMLP:
    """One :class:`FusedMLP` holding copies of ``models``.

    Members may differ in their first hidden width (a pruned site) and in the input features
    they keep (input pruning); everything else — input count, later widths, activation, dtype,
    device — must be equal.

    Raises:
        NeuroplastError: if the models differ in anything else (train those separately).
    """
    _check_fusable(models)
    reference = models[0].layers[0].weight
    d = models[0].n_inputs
    first_widths = [m.layers[0].out_features for m in models]
    widths = [d, max(first_widths), *models[0].widths[2:]]
    fused = FusedMLP(len(models), widths, models[0].activation_name, first_widths)
    fused = fused.to(reference.device, reference.dtype)
    with torch.no_grad():
        for s, m in enumerate(models):
            weight = m.layers[0].weight  # (h_s, kept_s)
            rows = fused._rows(s)
            if m.selector.is_identity:
                fused.first.weight[rows] = weight
                continue
            kept = m.selector.kept.to(weight.device)
            fused.member_inputs[s] = kept.clone()
            fused.first.weight[rows] = 0.0
            fused.first.weight[rows, kept] = weight
        fused.first.bias.copy_(torch.cat([m.layers[0].bias for m in models]))  # (Σh,)
        if any(kept is not None for kept in fused.member_inputs):
            mask = torch.zeros_like(fused.first.weight)  # (Σh, d): 1 where a member reads
            for s, kept in enumerate(fused.member_inputs):
                mask[fused._rows(s), slice(None) if kept is None else kept] = 1.0
            fused.input_mask = mask
        for k, (weight, bias) in enumerate(zip(fused.weights, fused.biases, strict=True)):
            for s, m in enumerate(models):
                w = m.layers[k + 1].weight
                weight[s, :, : w.shape[1]] = w  # (out, in_s); the padding stays zero
                bias[s] = m.layers[k + 1].bias
    return fused


EVALUATION_BATCH = 10_000
"""Examples per forward pass when :func:`evaluate_fused` measures the members."""


@torch.no_grad()
def evaluate_fused(model: FusedMLP, split: Split, *,
                   batch_size: int = EVALUATION_BATCH) -> list[Evaluation]:
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
                optimizer: str = "sgd", progress: bool | None = None,
                checkpoint: Checkpoint | None = None) -> list[History]:
    """Train S same-architecture models together, in place, sharing every input batch.

    Member s ends up equal, to float rounding, to ``train(models[s], train_split, protocol,
    epochs=epochs, seed=data_seed)`` run alone: the same batches in the same order (one
    generator seeded with ``data_seed`` shuffles for all), the same per-member mean
    cross-entropy and the same element-wise optimizer step. Initialise each member with its own
    seed beforehand (``models.initialize(model, seed)``); only the initialisation differs
    between members (see the module docstring for what that means for seed sweeps).

    Args:
        models: S MLPs that differ at most in their first hidden width and kept inputs
            (:func:`fuse`); trained in place (the fused weights are written back at the end).
        train_split: training data; the protocol may restrict it (``max_train_examples``).
        protocol: hyper-parameters (SGD momentum and L2 ``weight_decay`` included).
        epochs: our epochs, as in :func:`neuroplast.train.train`.
        data_seed: seeds the shared shuffling.
        test_split: evaluated at the end beside the training split.
        optimizer: ``"sgd"`` (the paper's) or ``"adam"``; both act element-wise, so the fused
            step equals the separate ones.
        progress: show a progress bar (None = only on an interactive terminal).
        checkpoint: save the fused training's state there (after full epochs, at most every
            ``checkpoint.every_s`` seconds) and continue from it if an interrupted call with
            the same arguments left it — to the weights and histories an uninterrupted call
            gives (as :func:`neuroplast.train.train` does; :mod:`neuroplast.train.checkpoint`).
            Removed at the end unless ``checkpoint.remove_at_end`` is False.

    Returns:
        One :class:`History` per member: per-epoch mean batch loss, and ``final`` with that
        member's train/test loss and accuracy, the shared wall and CPU time (``wall_time_s``,
        ``cpu_time_s``, for all members together; with a checkpoint summed over the interrupted
        calls, and ``resumed_at_epoch`` when this call continued one), ``fused_members`` = S
        and ``data_seed``. No callbacks run: death and replication during training need
        separate models.

    Raises:
        NeuroplastError: if the models cannot be fused, ``epochs`` is negative, the split is
            empty, or a member diverges (the message names it; the models are then left as
            they were); a file at the checkpoint path that is not this training's checkpoint
            (:class:`~neuroplast.train.checkpoint.CheckpointMismatch`).
    """
    if not math.isfinite(epochs) or epochs < 0:
        raise NeuroplastError(f"epochs must be a non-negative number, got {epochs}")
    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        raise TypeError(f"checkpoint must be a neuroplast.train.Checkpoint, got "
                        f"{type(checkpoint).__name__}; pass Checkpoint(path)")
    fused = fuse(models)
    opt = make_optimizer(fused, protocol, optimizer)  # type: ignore[arg-type]  # any nn.Module
    sgd = PlainSGD.from_optimizer(opt, fused)  # plain SGD steps inside the products
    data = restrict(train_split, protocol)
    if data.n == 0:
        raise NeuroplastError("the training split is empty; give at least one example")
    x_all = data.x.to(fused.first.weight.dtype)  # (n, d), the members' dtype
    s = fused.n_members
    generator = torch.Generator().manual_seed(int(data_seed))
    steps_per_epoch, total_steps, n_epochs = step_schedule(data.n, protocol.batch_size, epochs)
    histories = [History() for _ in range(s)]
    rates = ScheduledRates(opt, protocol.lr_schedule, total_steps)  # before resuming
    run = CheckpointedRun(checkpoint, fused, opt, generator, data, History(),
                          seed=int(data_seed), epochs=float(epochs), total_steps=total_steps,
                          batch_size=protocol.batch_size, lr_schedule=protocol.lr_schedule)
    if run.resumed is not None:
        for history, earlier in zip(histories, run.resumed.history_epochs, strict=True):
            history.epochs[:] = earlier
    epochs_done, step = run.epochs_done, run.steps_done
    bar = _progress_bar(n_epochs, progress)
    if bar is not None and epochs_done:
        bar.update(epochs_done)
    try:
        for epoch in range(epochs_done, n_epochs):
            fused.train()
            order = torch.randperm(data.n, generator=generator)
            running = torch.zeros(s, dtype=torch.float64, device=x_all.device)  # (S,)
            batches = 0
            for start in range(0, data.n, protocol.batch_size):
                if step == total_steps:
                    break
                index = order[start : start + protocol.batch_size].to(x_all.device)  # (batch,)
                x = x_all.index_select(0, index)  # (batch, d); much faster than x_all[index]
                y = data.y.index_select(0, index)  # (batch,)
                rates.before_step(step + 1)  # PlainSGD reads the groups' rates every step
                if sgd is not None:
                    losses = fused.sgd_step(x, y, sgd)  # (S,), the step included
                else:
                    losses = fused.loss_and_gradients(x, y)  # (S,)
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
            if batches == steps_per_epoch and epoch + 1 < n_epochs:
                run.save_if_due(epochs_done=epoch + 1, steps=step,
                                history_epochs=[h.epochs for h in histories])
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    wall, cpu = run.elapsed()
    fused.copy_into(models)
    train_eval = evaluate_fused(fused, data)
    test_eval = evaluate_fused(fused, test_split) if test_split is not None else None
    for member, h in enumerate(histories):
        final: dict[str, Any] = {"epochs": n_epochs, "steps": step, "wall_time_s": wall,
                                 "cpu_time_s": cpu, "fused_members": s,
                                 "data_seed": int(data_seed)}
        if epochs_done:
            final["resumed_at_epoch"] = epochs_done
        final |= train_eval[member].as_dict("train")
        if test_eval is not None:
            final |= test_eval[member].as_dict("test")
        h.final = final
    run.finish()
    return histories


def train_together(models: Sequence[nn.Module], train_split: Split, protocol: Protocol, *,
                   epochs: float, seed: int, test_split: Split | None = None,
                   progress: bool | None = False,
                   checkpoint: Checkpoint | None = None) -> list[History]:
    """Train each model as ``train(model, train_split, protocol, epochs=epochs, seed=seed)``
    would — all with the same data seed, so with the same batches — fused into one model when
    :func:`can_fuse` allows (several pruned copies of one net), one after another otherwise.

    Fused members equal their separate trainings to float rounding (:func:`train_fused`).
    Each member's ``final["wall_time_s"]`` and ``final["cpu_time_s"]`` are its share of the
    fused times (total ÷ S); ``final["fused_wall_time_s"]`` and ``final["fused_cpu_time_s"]``
    are the totals and ``final["fused_members"]`` is S.

    ``checkpoint`` makes the training resumable (:mod:`neuroplast.train.checkpoint`): the fused
    training, or the one model, uses it as it is; models trained one after another each use
    their own file beside it (``<stem>.member<i><suffix>``).

    Returns:
        One :class:`History` per model, in order.
    """
    if len(models) > 1 and can_fuse(models):
        histories = train_fused(models, train_split, protocol, epochs=epochs,  # type: ignore[arg-type]
                                data_seed=seed, test_split=test_split, progress=progress,
                                checkpoint=checkpoint)
        for history in histories:
            for kind in ("wall", "cpu"):
                total = history.final[f"{kind}_time_s"]
                history.final[f"fused_{kind}_time_s"] = total
                history.final[f"{kind}_time_s"] = total / len(models)
        return histories
    return [train(model, train_split, protocol, epochs=epochs, seed=seed,  # type: ignore[arg-type]
                  test_split=test_split, progress=progress,
                  checkpoint=checkpoint if checkpoint is None or len(models) == 1
                  else checkpoint.for_member(i))
            for i, model in enumerate(models)]
