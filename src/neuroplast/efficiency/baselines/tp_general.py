"""Torch-Pruning's group importances (Fang et al. 2023, "DepGraph") on any site.

Optional: ``pip install neuroplast[compare]`` (tested with torch-pruning 1.6.1). For a site
with a producer (Linear or a convolution; a gated site's ``gate``) the adapter builds
Torch-Pruning's ``DependencyGraph`` of a deep copy of the model from the first calibration
batch, takes the pruning group of the producer's output channels — the producer's rows, a
BatchNorm's entries, a gated site's second projection, the consumer's input columns — checks
that the group holds exactly the site's modules (otherwise Torch-Pruning would score channels
the site does not own, and the measure refuses), and returns the importance with
Torch-Pruning's defaults
(group reduction "mean" over the group's tensors, then normaliser "mean"; LAMP's own):

* ``tp-group-l1`` / ``tp-group-l2`` — ``GroupMagnitudeImportance(p)``: for channel k the
  mean over the group's tensors of Σ|w|^p over its slice (a BatchNorm contributes |γ_k|^p),
  divided by the mean over the site. On a site without BatchNorm (m tensors: producer rows,
  consumer columns) it is ``magnitude-l<p>`` to the power p, divided by its mean:
  score_k = M_k^p / mean_j M_j^p (M = ``magnitude-l1``/``magnitude-l2``), the same ranking;
* ``tp-group-taylor`` — ``GroupTaylorImportance()``: Σ |w · ∂L/∂w| over the group's Linear
  and conv slices (Molchanov et al. 2019), ∂L/∂w the gradient of the mean cross-entropy over
  every labelled calibration batch. Torch-Pruning 1.6.1's Taylor skips BatchNorm γ (its
  branch tests the GroupNorm pruning function);
* ``tp-group-lamp`` — ``LAMPImportance(p=2)`` (Lee et al. 2021): the group L2² importance I
  normalised as I_k / Σ_{j: I_j ≥ I_k} I_j. LAMP is monotone within a site (same ranking as
  ``tp-group-l2``); it matters only for comparing layers;
* ``tp-bn-scale`` — ``BNScaleImportance()`` (network slimming): |γ_k| / mean_j |γ_j|, i.e.
  ``bn-scale`` divided by its mean.

Every score is Torch-Pruning's slicing semantics (no compensation): use rule ``none`` to
compare with Torch-Pruning as it prunes. The ``input`` site is refused (no producer). The
MLP-only ``tp-*`` measures (:mod:`.torch_pruning`) stay as they are; on the paper's MLP
``tp-group-l2`` equals ``tp-magnitude`` and ``tp-group-lamp`` equals ``tp-lamp``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.efficiency.baselines.common import no_argument
from neuroplast.efficiency.baselines.torch_pruning import _importance_class, load_torch_pruning
from neuroplast.efficiency.registry import (
    BATCHNORM_SCALE,
    MEASURES,
    Measure,
    MeasureContext,
    SiteRequirement,
)
from neuroplast.errors import NeuroplastError
from neuroplast.sites.registry import CONVOLUTIONS
from neuroplast.sites.resolve import first_batch
from neuroplast.sites.site import Site
from neuroplast.stats.site import default_forward, model_device_dtype, to_model

BATCH = 10_000
PRUNING_FUNCTIONS = {nn.Linear: "prune_linear_out_channels",
                     **dict.fromkeys(CONVOLUTIONS, "prune_conv_out_channels")}
"""Producer class → Torch-Pruning's function that prunes its output channels."""
PARAMETRIC = (nn.Linear, *CONVOLUTIONS, nn.modules.batchnorm._BatchNorm,
              nn.modules.instancenorm._InstanceNorm, nn.LayerNorm)
"""Module classes whose presence in a group changes its importance."""


@dataclass(frozen=True)
class GroupImportance:
    """A registered Torch-Pruning group importance.

    Attributes:
        name: registry key.
        class_names: Torch-Pruning importance classes to try, newest name first.
        p: the norm degree, or None for classes without one.
        gradients: needs ∂L/∂w of the mean cross-entropy on labelled data.
        description: one line for ``neuroplast methods``.
        reference: the publication.
        requires: what the site must hold (``Measure.requires``), or None.
    """

    name: str
    class_names: tuple[str, ...]
    p: int | None
    gradients: bool
    description: str
    reference: str
    requires: SiteRequirement | None = None

    def make(self, tp: Any) -> Any:
        cls = _importance_class(tp, self.class_names)
        return cls() if self.p is None else cls(p=self.p)


def _labelled(data: Any, measure: str) -> Iterator[tuple[Any, torch.Tensor]]:
    """(input, label) batches of ``data``: a Split (chunks of its x and y) or an iterable of
    (input, label) pairs (a DataLoader of a TensorDataset)."""
    x, y = getattr(data, "x", None), getattr(data, "y", None)
    if torch.is_tensor(x) and torch.is_tensor(y):
        for start in range(0, x.shape[0], BATCH):
            yield x[start : start + BATCH], y[start : start + BATCH]
        return
    if not torch.is_tensor(data) and not isinstance(data, dict):
        for item in data:
            if isinstance(item, tuple | list) and len(item) >= 2 and torch.is_tensor(item[1]):
                yield item[0], item[1]
                continue
            break
        else:
            return
    raise NeuroplastError(
        f"measure {measure!r} needs labelled data for the gradient of the cross-entropy: "
        "a Split, or batches of (input, label) pairs (e.g. a DataLoader of a TensorDataset)"
    )


def set_mean_cross_entropy_gradient(model: nn.Module, data: Any, measure: str) -> None:
    """``.grad`` of every parameter = ∂/∂θ of the mean cross-entropy over all ``data``
    (summed batch by batch, divided by the number of predictions at the end). Logits are
    (batch, classes) against labels (batch,), or (batch, ..., classes) against labels
    (batch, ...) — a language model's next-token targets — every position counted once."""
    device, dtype = model_device_dtype(model)
    model.zero_grad(set_to_none=True)
    count = 0
    for x, y in _labelled(data, measure):
        logits = default_forward(model, to_model(x, device, dtype))
        if not torch.is_tensor(logits) or logits.ndim < 2 or logits.shape[:-1] != y.shape:
            raise NeuroplastError(
                f"measure {measure!r} needs a model that returns logits (batch, ..., classes) "
                "for labels (batch, ...) to compute a cross-entropy"
            )
        F.cross_entropy(logits.flatten(0, -2), y.to(device).flatten(),
                        reduction="sum").backward()
        count += int(y.numel())
    for parameter in model.parameters():
        if parameter.grad is not None:
            parameter.grad /= count


def _owned_names(model: nn.Module, site: Site) -> tuple[str, set[str]]:
    """The names in ``model`` of the site's producer and of every module the site owns."""
    names = {id(module): name for name, module in model.named_modules()}
    owned = [axis.module for axis in site.upstream] + [site.consumer]
    return names[id(site.producer)], {names[id(module)] for module in owned}


def site_group(tp: Any, model: nn.Module, site: Site, copy_: nn.Module, example: Any,
               measure: str) -> Any:
    """Torch-Pruning's pruning group of ``site``'s producer, built on ``copy_`` (a deep copy
    of ``model``, the model the site belongs to).

    Raises:
        NeuroplastError: for a site without a Linear/convolution producer, or a group that holds
            other parametrised modules than the site's own.
    """
    function = next((name for cls, name in PRUNING_FUNCTIONS.items()
                     if isinstance(site.producer, cls)), None)
    if function is None:
        what = "input features" if site.producer is None else type(site.producer).__name__
        raise NeuroplastError(
            f"measure {measure!r} is not supported on site {site.name!r}: Torch-Pruning prunes "
            f"the output channels of a Linear or convolution producer, not {what}"
        )
    producer, owned = _owned_names(model, site)
    try:
        traced, prefix = copy_, ""
        graph = tp.DependencyGraph().build_dependency(copy_, example_inputs=example)
    except NeuroplastError:
        raise
    except Exception as whole_model_error:  # Torch-Pruning's tracer fails on this model
        traced, prefix, inputs = _enclosing_module(copy_, owned | {producer}, example)
        if traced is copy_ or inputs is None:
            raise whole_model_error from None
        graph = tp.DependencyGraph().build_dependency(traced, example_inputs=(inputs,))
    group = graph.get_pruning_group(copy_.get_submodule(producer), getattr(tp, function),
                                    idxs=list(range(site.width)))
    names = {id(module): prefix + name for name, module in traced.named_modules()}
    members = {names[id(dep.target.module)] for dep, _ in group
               if isinstance(dep.target.module, PARAMETRIC)}
    if members != owned:
        raise NeuroplastError(
            f"measure {measure!r}: Torch-Pruning couples the channels of site {site.name!r} "
            f"with modules {sorted(members)}, the site owns {sorted(owned)}; its group "
            "importance would score channels the site does not prune; choose another measure"
        )
    return group


def _enclosing_module(model: nn.Module, names: set[str], example: Any
                      ) -> tuple[nn.Module, str, Any]:
    """The smallest module of ``model`` holding every module in ``names``, the prefix of its
    submodules' names in ``model``, and the positional input it receives when ``model`` runs
    on ``example`` (None when it takes keyword arguments or several inputs).

    When Torch-Pruning cannot trace a whole model (LLaMA's rotary embedding concatenates
    halves of a tensor whose sizes its index mapping cannot follow), the pruning group of a
    site that lies inside one block — a transformer's MLP — is the same group traced on that
    block alone. The group's membership is still checked against the site's modules, but a
    coupling *outside* the block (the block's output channels tied to a residual stream) is
    out of this trace's sight: discovery (:func:`neuroplast.find_sites`) has refused such
    sites already, which is what makes the fallback safe for the sites it offers.
    """
    parts = [name.split(".") for name in names]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    # the deepest shared *module*: a name shared by every path may be the site's own module
    while common and ".".join(common) in names and len(names) > 1:
        common.pop()
    if not common:
        return model, "", None
    block = model.get_submodule(".".join(common))
    captured: list[Any] = []

    def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        captured.append((args, kwargs))

    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            default_forward(model, example)
    finally:
        handle.remove()
    if not captured:
        return model, "", None
    args, kwargs = captured[0]
    if kwargs or len(args) != 1 or not torch.is_tensor(args[0]):
        return model, "", None
    return block, ".".join(common) + ".", args[0].detach()


def torch_pruning_group_importance(ctx: MeasureContext, spec: GroupImportance) -> torch.Tensor:
    """Torch-Pruning's group importance of every neuron of the site: (n,) float64.

    Computed on a deep copy (gradients included); the model is not modified.
    """
    no_argument(ctx, spec.name)
    if ctx.data is None:
        raise NeuroplastError(f"measure {spec.name!r} needs the training data")
    tp = load_torch_pruning()
    importance = spec.make(tp)
    work = copy.deepcopy(ctx.model)
    work.eval()
    for parameter in work.parameters():
        parameter.requires_grad_(True)
    if spec.gradients:
        set_mean_cross_entropy_gradient(work, ctx.data, spec.name)
    device, dtype = model_device_dtype(work)
    example = to_model(first_batch(ctx.data), device, dtype)
    group = site_group(tp, ctx.model, ctx.target, work, example, spec.name)
    with torch.no_grad():
        scores = importance(group)
    if scores is None:
        raise NeuroplastError(
            f"measure {spec.name!r}: Torch-Pruning returned no importance for site "
            f"{ctx.site!r} (its group has no tensor this importance reads, e.g. no "
            "BatchNorm for tp-bn-scale); choose another measure"
        )
    return scores.detach().to(torch.float64).reshape(-1)


SPECS = (
    GroupImportance("tp-group-l1", ("GroupMagnitudeImportance", "MagnitudeImportance"), 1,
                    False, "Torch-Pruning group L1: mean over the group of sum |w|, / mean",
                    "Torch-Pruning (Fang et al. 2023); Li et al. 2017 (L1 filter norm)"),
    GroupImportance("tp-group-l2", ("GroupMagnitudeImportance", "MagnitudeImportance"), 2,
                    False, "Torch-Pruning group L2: mean over the group of sum w^2, / mean",
                    "Torch-Pruning (Fang et al. 2023), GroupMagnitudeImportance(p=2)"),
    GroupImportance("tp-group-taylor", ("GroupTaylorImportance", "TaylorImportance"), None,
                    True, "Torch-Pruning group Taylor: sum |w dL/dw| over the group, mean CE",
                    "Torch-Pruning (Fang et al. 2023); Molchanov et al. 2019 (CVPR)"),
    GroupImportance("tp-group-lamp", ("LAMPImportance",), 2, False,
                    "Torch-Pruning LAMP of the group L2^2: I_k / sum_{I_j >= I_k} I_j",
                    "Torch-Pruning (Fang et al. 2023); Lee et al. 2021 (ICLR), LAMP"),
    GroupImportance("tp-bn-scale", ("BNScaleImportance",), None, False,
                    "Torch-Pruning BN scale |gamma_k| / mean |gamma| (= bn-scale / mean)",
                    "Torch-Pruning (Fang et al. 2023); Liu et al. 2017 (network slimming)",
                    requires=BATCHNORM_SCALE),
)

for _spec in SPECS:
    MEASURES.register(Measure(
        name=_spec.name,
        description=_spec.description + " (needs neuroplast[compare])",
        reference=_spec.reference,
        compute=lambda ctx, spec=_spec: torch_pruning_group_importance(ctx, spec),
        needs_data=True,
        requires=_spec.requires,
    ))
