"""Adapter to the importances of Torch-Pruning (Fang et al. 2023, "DepGraph"), so a user can
compare with the tool they know on the same model, data and protocol.

Optional: ``pip install neuroplast[compare]`` (``torch-pruning>=1.3``; tested with 1.6). For a
hidden site the adapter builds Torch-Pruning's ``DependencyGraph`` of a copy of the model with
an example input, takes the pruning group of the producer Linear's output channels (which
couples the producer's rows and the consumer's columns) and returns the group importance with
Torch-Pruning's defaults (group reduction "mean", normaliser "mean"; LAMP's own normaliser):

* ``tp-magnitude`` — ``MagnitudeImportance(p=2)``: group L2 (Σ w²) of rows and columns;
* ``tp-taylor`` — ``TaylorImportance()``: Σ |w · ∂L/∂w| with ∂L/∂w the gradient of the mean
  cross-entropy over all of ``ctx.data`` (accumulated in batches of 10,000);
* ``tp-hessian`` — ``HessianImportance()`` (OBD): Σ w² · ⟨(∂L_n/∂w)²⟩, the diagonal of the
  empirical Fisher over all of ``ctx.data``. We compute the per-example squared gradients
  ourselves, exactly and in batches (for a Linear layer Σ_n (∂L_n/∂W)² = (δ²)ᵀ(a²) with δ the
  per-example output gradients and a the layer inputs), and hand them to Torch-Pruning as
  ``.grad``: in version 1.6 ``accumulate_grad`` keys its counters inconsistently and keeps
  only the last example;
* ``tp-lamp`` — ``LAMPImportance(p=2)``; ``tp-fpgm`` — ``FPGMImportance(p=2)``.

The ``input`` site is refused: Torch-Pruning prunes channels of layers, not input features.
Gradients are computed on a deep copy; the model passed in is never modified.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from neuroplast.data import Split
from neuroplast.efficiency.baselines.common import (
    batches,
    no_argument,
    require_data,
    require_hidden,
)
from neuroplast.efficiency.registry import MEASURES, MLP_ONLY, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.sites.layered import LayeredModel

BATCH = 10_000
REQUIREMENT = "torch-pruning>=1.3"


def load_torch_pruning() -> Any:
    """The ``torch_pruning`` module, or a clear error saying how to install it."""
    try:
        return importlib.import_module("torch_pruning")
    except ImportError:
        raise NeuroplastError(
            "the tp-* measures need Torch-Pruning: pip install 'neuroplast[compare]' "
            f"(or pip install '{REQUIREMENT}')"
        ) from None


def _importance_class(tp: Any, names: tuple[str, ...]) -> type:
    """The first of ``names`` that this Torch-Pruning version defines."""
    for name in names:
        cls = getattr(tp.importance, name, None)
        if cls is not None:
            return cls
    raise NeuroplastError(
        f"this Torch-Pruning version ({getattr(tp, '__version__', '?')}) has none of "
        f"{', '.join(names)}; install '{REQUIREMENT}'"
    )


def _layer_inputs_and_output_gradients(model: LayeredModel, x: torch.Tensor, y: torch.Tensor,
                                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Inputs a_l (batch, in) of every Linear and per-example ∂L_n/∂z_l (batch, out)."""
    inputs, outputs = [], []
    h = model.selector(x)  # (batch, n_kept)
    for index, layer in enumerate(model.layers):
        inputs.append(h.detach())
        z = layer(h)  # (batch, out)
        outputs.append(z)
        h = z if index == len(model.layers) - 1 else model.activation.fn(z)
    loss = F.cross_entropy(h, y, reduction="sum")
    deltas = torch.autograd.grad(loss, outputs)
    return inputs, list(deltas)


def set_mean_gradient(model: LayeredModel, data: Split) -> None:
    """``p.grad`` = ∂/∂p of the mean cross-entropy over ``data`` (Taylor)."""
    model.zero_grad(set_to_none=True)
    count = data.x.shape[0]
    for x, y in batches(model, data, BATCH):
        loss = F.cross_entropy(model(x), y, reduction="sum") / count
        loss.backward()


def set_empirical_fisher(model: LayeredModel, data: Split) -> None:
    """``p.grad`` = ⟨(∂L_n/∂p)²⟩ over ``data``, per-example squared gradients (Hessian/OBD)."""
    sums = [(torch.zeros_like(layer.weight), torch.zeros_like(layer.bias))
            for layer in model.layers]
    for x, y in batches(model, data, BATCH):
        inputs, deltas = _layer_inputs_and_output_gradients(model, x, y)
        for (weight_sum, bias_sum), a, delta in zip(sums, inputs, deltas, strict=True):
            weight_sum += (delta**2).T @ a**2  # (out, in) Σ_n δ_ni² a_nj²
            bias_sum += (delta**2).sum(dim=0)  # (out,)
    count = data.x.shape[0]
    for layer, (weight_sum, bias_sum) in zip(model.layers, sums, strict=True):
        layer.weight.grad = weight_sum / count
        layer.bias.grad = bias_sum / count


@dataclass(frozen=True)
class TorchPruningImportance:
    """A registered Torch-Pruning importance."""

    name: str
    class_names: tuple[str, ...]
    description: str
    gradients: Callable[[LayeredModel, Split], None] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def torch_pruning_importance(ctx: MeasureContext, spec: TorchPruningImportance) -> torch.Tensor:
    """Torch-Pruning's group importance of the site's neurons: (n,) float64."""
    no_argument(ctx, spec.name)
    require_hidden(ctx, spec.name, "not supported by Torch-Pruning, which prunes layer "
                                   "channels, not input features")
    tp = load_torch_pruning()
    importance = _importance_class(tp, spec.class_names)(**spec.kwargs)
    model = copy.deepcopy(ctx.model)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    if spec.gradients is not None:
        spec.gradients(model, require_data(ctx, spec.name))
    example = torch.zeros(1, model.n_inputs, dtype=model.dtype)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
    producer = model.site(ctx.site).producer
    group = graph.get_pruning_group(producer, tp.prune_linear_out_channels,
                                    idxs=list(range(ctx.stats.width)))
    with torch.no_grad():
        scores = importance(group)
    if scores is None:
        raise NeuroplastError(f"Torch-Pruning returned no importance for site {ctx.site!r}")
    return scores.detach().to(torch.float64).reshape(-1)


SPECS = (
    TorchPruningImportance("tp-magnitude", ("MagnitudeImportance", "GroupMagnitudeImportance"),
                           "Torch-Pruning MagnitudeImportance(p=2), group L2 of rows+columns",
                           kwargs={"p": 2}),
    TorchPruningImportance("tp-taylor", ("TaylorImportance", "GroupTaylorImportance"),
                           "Torch-Pruning TaylorImportance, sum |w dL/dw| on the training data",
                           gradients=set_mean_gradient),
    TorchPruningImportance("tp-hessian", ("HessianImportance", "GroupHessianImportance",
                                          "OBDImportance"),
                           "Torch-Pruning HessianImportance (OBD), sum w^2 <(dL_n/dw)^2>",
                           gradients=set_empirical_fisher),
    TorchPruningImportance("tp-lamp", ("LAMPImportance",),
                           "Torch-Pruning LAMPImportance(p=2)", kwargs={"p": 2}),
    TorchPruningImportance("tp-fpgm", ("FPGMImportance",),
                           "Torch-Pruning FPGMImportance(p=2), geometric-median distance",
                           kwargs={"p": 2}),
)

for _spec in SPECS:
    MEASURES.register(Measure(
        site_kinds=MLP_ONLY,
        name=_spec.name,
        description=_spec.description + " (hidden sites; needs neuroplast[compare])",
        reference="Torch-Pruning (Fang et al. 2023, DepGraph)",
        compute=lambda ctx, spec=_spec: torch_pruning_importance(ctx, spec),
        needs_data=_spec.gradients is not None,
    ))
