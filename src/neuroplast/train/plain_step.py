"""One plain-SGD step of an MLP without autograd: what ``train()`` steps with when it can.

``train()`` steps by autograd (``loss.backward()``, then ``optimizer.step()``). For the case
that dominates the reproduction's cost — an :class:`~neuroplast.models.MLP` trained by
``torch.optim.SGD`` without momentum (the paper's optimizer, §2.2; its L2 term as each
group's ``weight_decay``, eq. 4) — the fused trainer's hand-written back-propagation
(:meth:`FusedMLP._backpropagate <neuroplast.train.fused.FusedMLP>`, with :class:`PlainSGD`)
computes the same step for one member faster — N4, batch 600, one thread on this project's
AVX2 machine: 1.08× and 1.21× the steps per second in two runs (``python -m benchmarks --only
training --threads 1``, row "N4 training by train(): its plain-SGD step / the same training by
autograd", 2026-12-07; the strict-count FLOP/s 0.711 and 0.702 of a matmul by the plain step,
0.656 and 0.581 by autograd in the same runs) — with no autograd graph, no stored gradients, each
weight's step taken inside the product that forms its gradient. :func:`plain_sgd_step` builds
that step on a one-member :class:`FusedMLP` whose parameters *share storage* (and version
counters) with the model's, so every in-place update is the model's own; the model's ``.grad``
is left as it was.

The two steps agree to float rounding, not bit for bit (the hand-written step takes the softmax
in base 2 and rounds θ twice per step: :mod:`neuroplast.train.fused`), so a training run since
2026-12-07 differs in its last bits from the same run made before (as runs on two CPUs do).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from neuroplast.models.mlp import MLP
from neuroplast.train.fused import FusedMLP, PlainSGD, plain_sgd_groups

PlainStep = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``step(x, y)``: one SGD step on a batch of the model's *kept* input columns (batch, kept)
and labels (batch,); returns the batch's mean cross-entropy before the step (0-d)."""


def plain_sgd_step(model: MLP, optimizer: torch.optim.Optimizer) -> PlainStep | None:
    """The hand-written SGD step of ``model`` under ``optimizer``, or None where it would not
    compute what autograd and ``optimizer.step()`` compute.

    None unless: ``model`` is exactly an :class:`MLP` (a subclass may change ``forward`` or
    ``forward_kept``) whose layers are exactly ``nn.Linear`` with biases, none parametrized
    (its ``weight`` would be computed, not stored); no forward or backward hook sits on it, its
    selector, its layers or globally, and no gradient hook on a parameter; no two parameters
    are one tensor or share storage (tied weights); every parameter requires a gradient and
    lies in exactly one group of a plain ``torch.optim.SGD`` with
    momentum 0 and ``maximize`` off, and no step hook is registered on the optimizer or
    globally (it would expect ``optimizer.step()`` to run). Build it again whenever the model
    or the optimizer may have changed (surgery between epochs).
    """
    if type(model) is not MLP or not _plain_layers(model) or not _no_hooks(model):
        return None
    params = list(model.parameters())
    if not all(p.requires_grad for p in params) or _aliased(model):
        return None
    groups = None if _step_hooks(optimizer) else plain_sgd_groups(optimizer)
    if groups is None or set(groups) != set(params):  # every parameter, and only those
        return None
    view, pairs = _shared_view(model)
    sink = PlainSGD({view_param: groups[param] for view_param, param in pairs})

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return view._backpropagate(x, y, sink)[0]

    return step


def _plain_layers(model: MLP) -> bool:
    """Every layer exactly an ``nn.Linear`` with a bias (the view holds one per layer) and
    none parametrized (its ``weight`` would be computed, not stored)."""
    return all(type(layer) is nn.Linear and layer.bias is not None
               and not nn.utils.parametrize.is_parametrized(layer) for layer in model.layers)


def _no_hooks(model: MLP) -> bool:
    """No hook that the hand-written step would skip: forward and backward hooks on the
    model, its selector or its layers, gradient hooks on its parameters, and global forward
    and backward hooks."""
    modules = [model, model.selector, *model.layers]
    if any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
           or m._backward_pre_hooks for m in modules):
        return False
    if any(p._backward_hooks or p._post_accumulate_grad_hooks for p in model.parameters()):
        return False
    module = nn.modules.module
    return not (module._global_forward_hooks or module._global_forward_pre_hooks
                or module._global_backward_hooks or module._global_backward_pre_hooks)


def _aliased(model: MLP) -> bool:
    """Whether two of the model's parameter slots hold one tensor (tied weights) or two
    parameters share storage: the hand-written step updates a layer in place before the
    layer below reads it, so their updates would interact unlike autograd's."""
    params = [p for _, p in model.named_parameters(remove_duplicate=False)]
    storages = {p.untyped_storage().data_ptr() for p in params}
    return len({id(p) for p in params}) < len(params) or len(storages) < len(params)


def _step_hooks(optimizer: torch.optim.Optimizer) -> bool:
    """Whether a step hook is registered on ``optimizer`` or globally: it expects
    ``optimizer.step()`` to run."""
    from torch.optim import optimizer as optim_module

    return bool(optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
                or optim_module._global_optimizer_pre_hooks
                or optim_module._global_optimizer_post_hooks)


def _shared_view(model: MLP) -> tuple[FusedMLP, list[tuple[nn.Parameter, nn.Parameter]]]:
    """A one-member :class:`FusedMLP` of ``model``'s layers over its kept inputs whose
    parameters are views of the model's storage (the later layers' weights (1, out, in)), and
    its (view parameter, model parameter) pairs."""
    layers = model.layers
    first = layers[0].weight
    view = FusedMLP(1, model.widths, model.activation_name).to(first.device, first.dtype)
    # detach(), not .data: the views share the model's version counters too, so a graph
    # recorded before train() still sees that its weights changed
    view.first.weight = nn.Parameter(first.detach())
    view.first.bias = nn.Parameter(layers[0].bias.detach())
    pairs = [(view.first.weight, first), (view.first.bias, layers[0].bias)]
    for k, layer in enumerate(layers[1:]):
        view.weights[k] = nn.Parameter(layer.weight.detach().unsqueeze(0))
        view.biases[k] = nn.Parameter(layer.bias.detach().unsqueeze(0))
        pairs += [(view.weights[k], layer.weight), (view.biases[k], layer.bias)]
    return view, pairs
