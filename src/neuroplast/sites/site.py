"""A site: a layer of neurons between producer(s) and one consumer (DESIGN.md §2, §7).

A site is defined by *what its neurons' values are* — the consumer's input, viewed as rows of
n values (:mod:`neuroplast.sites.consumers`) — and by *which tensors run over its neurons*
(:class:`~neuroplast.sites.axis.Axis`): upstream (the producer's rows, BatchNorm entries, a
gated FFN's two projections, an input selector's indices) and the consumer's columns. The core
(statistics, efficiencies, re-wiring rules, replication) reads the site through this object
only and never sees a model class; only :meth:`Site.keep` and :meth:`Site.append` change a
tensor's shape, and each notes what it did in the consumer's record
(:mod:`neuroplast.sites.record`), from which a saved model's plan is written.

Kinds (``Site.kind``): ``linear`` (Linear → element-wise chain → Linear, any leading
dimensions), ``gated`` (act(gate(x)) · up(x) → down), ``conv`` (Conv → [BN] → act → [pool]
→ Conv, 1-, 2- or 3-d, rows = batch × positions), ``flatten`` (the last conv's channels
feeding Flatten → Linear, a channel owning its block of positions as columns), ``input``
(the features entering the first layer, kept by a selector).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuroplast.activations import Activation
from neuroplast.errors import NeuroplastError
from neuroplast.sites.axis import Axis
from neuroplast.sites.consumers import ConsumerView
from neuroplast.sites.optimizer_state import check_resizable_state
from neuroplast.sites.record import (
    AddBias,
    Append,
    Keep,
    forget_added_bias,
    last_event_is_added_bias,
    record,
)

Downstream = Callable[[torch.Tensor], torch.Tensor]
"""Maps the consumer's pre-activation (rows, m) to the model's output, for sites whose
downstream is cheap to evaluate on its own (the paper's MLP); None elsewhere."""


@dataclass(eq=False)
class Site:
    """A place where neurons live and can die or replicate.

    Attributes:
        name: the site's name (``hidden1``, ``features.3``, ``layers.0.mlp``, ...).
        kind: ``linear``, ``gated``, ``conv``, ``flatten`` or ``input``.
        view: the consumer as an (m, n, K) map (:class:`ConsumerView`).
        declared_upstream: tensors indexed by the site's neurons before the consumer, as
            they were when the site was built (:attr:`upstream` adds biases added since).
        upstream_widths: (module, attribute, per-neuron) integers recording the width.
        activation: the site's own element-wise activation, when known (None for ``input``).
        consumer_activation: the element-wise activation applied to the consumer's output
            (eq. 28's f'), or None when the consumer's output is used as it is (f' = 1).
        producers: the modules computing the site's pre-activation(s) (empty for ``input``).
        downstream: see :data:`Downstream`.
        notes: decisions discovery or the caller made about this site, one line each.
    """

    name: str
    kind: str
    view: ConsumerView
    declared_upstream: tuple[Axis, ...]
    upstream_widths: tuple[tuple[nn.Module, str, int], ...] = ()
    activation: Activation | None = None
    consumer_activation: Activation | None = None
    producers: tuple[nn.Module, ...] = ()
    downstream: Downstream | None = None
    notes: tuple[str, ...] = field(default=())

    # -- shape ---------------------------------------------------------------------------
    @property
    def upstream(self) -> tuple[Axis, ...]:
        """Every tensor indexed by the site's neurons before the consumer, now: the declared
        axes plus the bias of a producer that had none when the site was built and was given
        one since (a bias-free conv that is also another site's consumer gets a bias when that
        site is compensated; this site must then resize it too)."""
        late = tuple(
            Axis(module, "bias", 0, "bias") for module in self.producers
            if isinstance(getattr(module, "bias", None), nn.Parameter)
            and not any(a.module is module and a.name == "bias" for a in self.declared_upstream)
        )
        return self.declared_upstream + late

    @property
    def consumer(self) -> nn.Module:
        return self.view.module

    @property
    def producer(self) -> nn.Module | None:
        """The first producer (the only one except for gated sites), None for ``input``."""
        return self.producers[0] if self.producers else None

    @property
    def width(self) -> int:
        """n, the number of neurons now."""
        return self.view.width

    @property
    def consumer_width(self) -> int:
        """m, the consumer's output channels."""
        return self.view.out_channels

    @property
    def offsets(self) -> int:
        """K, kernel offsets (conv) or positions (flatten) per neuron; 1 for Linear."""
        return self.view.offsets

    @property
    def can_grow(self) -> bool:
        """Whether neurons can be added (not for ``input``: data features have no producer)."""
        return bool(self.producers)

    def __repr__(self) -> str:
        return (f"Site({self.name!r}, kind={self.kind}, width={self.width}, "
                f"consumer={type(self.consumer).__name__})")

    # -- values --------------------------------------------------------------------------
    def rows(self, consumer_input: torch.Tensor) -> torch.Tensor:
        """The site's values from the consumer's input: (rows, n)."""
        return self.view.rows(consumer_input)

    def row_values(self, consumer_input: torch.Tensor) -> torch.Tensor:
        """The site's values with the neurons last, (..., n): a view, rows in the order of
        :meth:`rows` (for streaming statistics, which gather it once in float64)."""
        return self.view.row_values(consumer_input)

    def consumer_rows(self, consumer_output: torch.Tensor) -> torch.Tensor:
        """The consumer's outputs after its activation (eq. 28's C_ii is their variance):
        (rows, m)."""
        out = self.consumer_row_values(consumer_output)
        return out.reshape(-1, out.shape[-1])

    def consumer_row_values(self, consumer_output: torch.Tensor) -> torch.Tensor:
        """:meth:`consumer_rows` with the output channels last, (..., m), without flattening
        (a view when the consumer's output is used as it is)."""
        out = self.view.output_row_values(consumer_output)
        return out if self.consumer_activation is None else self.consumer_activation.fn(out)

    # -- consumer ------------------------------------------------------------------------
    def consumer_weight(self) -> torch.Tensor:
        """W (m, n, K), detached, in the model's dtype."""
        return self.view.weight()

    def consumer_bias(self) -> torch.Tensor | None:
        """b (m,), detached, or None when the consumer has no bias."""
        return self.view.bias

    def write_consumer(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        """Copy a re-wired W (m, n, K) and b (m,) into the consumer, in place."""
        self.view.write_weight(weight.to(self.view.module.weight.dtype))
        if bias is not None:
            with torch.no_grad():
                self.view.module.bias.copy_(bias.to(self.view.module.bias.dtype))

    def add_consumer_bias(self, optimizer: torch.optim.Optimizer | None = None) -> bool:
        """Give the consumer a zero bias if it has none; returns whether one was added."""
        if self.consumer_bias() is not None:
            return False
        self.view.add_bias(optimizer)
        record(self, AddBias())
        return True

    def remove_added_consumer_bias(self, optimizer: torch.optim.Optimizer | None = None) -> bool:
        """Undo :meth:`add_consumer_bias` for an operation that then failed — only when nothing
        was recorded after it (a removal committed since may have moved the bias, which is
        then part of the model's function): the consumer has no bias, ``optimizer`` does not
        hold one, the record does not mention it. Returns whether it undid it."""
        if not last_event_is_added_bias(self):
            return False
        self.view.remove_bias(optimizer)
        forget_added_bias(self)
        return True

    # -- surgery -------------------------------------------------------------------------
    def _axes(self) -> tuple[Axis, ...]:
        return self.upstream + (self.view.axis(),)

    def _set_width(self, width: int) -> None:
        for module, attribute, per_neuron in self.upstream_widths + \
                self.view.width_attributes():
            setattr(module, attribute, width * per_neuron)

    def keep(self, keep: torch.Tensor | Sequence[int],
             optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
        """Keep only the neurons ``keep`` (in that order) on every axis; returns them.

        Raises:
            NeuroplastError: if ``keep`` is empty (a site may not lose every neuron) or holds
                repeated or out-of-range indices.
        """
        check_resizable_state(optimizer)
        width = self.width
        keep = torch.as_tensor(keep, dtype=torch.long).flatten()
        if keep.numel() == 0:
            raise NeuroplastError(
                f"refusing to remove every neuron of site {self.name!r} (width {width}); "
                "lower the cutoff or amount so at least one neuron survives"
            )
        if keep.min() < 0 or keep.max() >= width or keep.unique().numel() != keep.numel():
            raise NeuroplastError(
                f"neuron indices to keep must be distinct and in [0, {width})"
            )
        for axis in self._axes():
            axis.select(keep, optimizer)
        self._set_width(keep.numel())
        record(self, Keep(tuple(keep.tolist())))
        return keep

    def append(self, upstream: Sequence[torch.Tensor], consumer_columns: torch.Tensor,
               optimizer: torch.optim.Optimizer | None = None) -> None:
        """Append k neurons at the end of the site.

        Args:
            upstream: one tensor per :attr:`upstream` axis, the new neurons' entries laid out
                along that axis's dimension.
            consumer_columns: (m, k, K) the consumer's weights from the new neurons.
            optimizer: its state for the new entries starts where a fresh optimizer's would
                (:mod:`neuroplast.sites.optimizer_state`).
        """
        check_resizable_state(optimizer)
        if not self.can_grow:
            raise NeuroplastError(
                f"site {self.name!r} cannot grow: its neurons are data features with no "
                "incoming weights to copy"
            )
        m, k, offsets = consumer_columns.shape
        if (m, offsets) != (self.consumer_width, self.offsets) or len(upstream) != \
                len(self.upstream):
            raise NeuroplastError(
                f"new neurons of site {self.name!r} need consumer columns "
                f"({self.consumer_width}, k, {self.offsets}) and one tensor per upstream axis "
                f"({len(self.upstream)}); got {tuple(consumer_columns.shape)} and "
                f"{len(upstream)}"
            )
        width = self.width
        for axis, new in zip(self.upstream, upstream, strict=True):
            axis.extend(new, optimizer)
        consumer_axis = self.view.axis()
        columns = consumer_columns  # (m, k, K) → the consumer's own layout
        weight = self.view.module.weight
        if consumer_axis.dim == 0:  # stored transposed (Conv1D): (k·K, m)
            columns = columns.reshape(m, -1).T
        else:
            columns = columns.reshape(m, k * offsets) if weight.ndim == 2 \
                else columns.reshape(m, k, *weight.shape[2:])
        consumer_axis.extend(columns, optimizer)
        self._set_width(width + k)
        record(self, Append(k))

    def upstream_entries(self, neurons: torch.Tensor) -> list[torch.Tensor]:
        """Copies of the upstream entries of ``neurons``, one tensor per axis (eq. 45)."""
        out = []
        for axis in self.upstream:
            tensor = axis.tensor.detach()
            out.append(tensor.index_select(axis.dim, axis.entries(neurons)).clone())
        return out


def rebind(site: Site, source: nn.Module, target: nn.Module) -> Site:
    """``site`` of ``source`` as the same site of ``target``, a model with the same module
    names (a ``copy.deepcopy`` of ``source``, a model rebuilt by its factory): every module,
    parameter and buffer the site refers to is replaced by ``target``'s of the same name.
    Works for hand-declared sites as well as discovered ones (no discovery is run).

    Raises:
        NeuroplastError: ``target`` lacks one of the site's modules.
    """
    memo: dict[int, Any] = {}
    try:
        for name, module in source.named_modules(remove_duplicate=False):
            memo[id(module)] = target.get_submodule(name)
        for name, parameter in source.named_parameters(remove_duplicate=False):
            memo[id(parameter)] = target.get_parameter(name)
        for name, buffer in source.named_buffers(remove_duplicate=False):
            memo[id(buffer)] = target.get_buffer(name)
    except AttributeError as error:
        raise NeuroplastError(f"site {site.name!r} cannot be found in the other model: "
                              f"{error}; give a model with the same module names") from None
    if id(site.consumer) not in memo:
        raise NeuroplastError(f"site {site.name!r} does not belong to the model given as its "
                              "source")
    return copy.deepcopy(site, memo)
