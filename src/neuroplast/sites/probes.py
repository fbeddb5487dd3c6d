"""Experiments that tell whether a producer's channels form a site, each a forward pass or two.

Discovery does not read a model's ``forward`` code; it watches it (:mod:`~neuroplast.sites.trace`)
and changes one thing at a time, in eval mode, comparing against a baseline run on the example:

* :meth:`Probe.reach` — perturb a layer's output: which later calls read something different,
  and does the model's output change?
* :meth:`Probe.mixes_positions` — perturb a layer's output at the first position (token) only:
  does the consumer read changes at other positions (attention)?
* :meth:`Probe.bypass` — perturb the producers while the consumer reads its baseline input:
  does anything after the consumer, or the model's output, still change (a skip connection, a
  second consumer)?
* :meth:`Probe.exclusive` — run another input while the producers return the baseline's
  outputs: does the consumer read its baseline input (nothing else feeds it)?
* :meth:`Probe.channels_changed` — perturb some channels of a producer: which channels of the
  consumer's input change (locality: only those, or something mixes channels)?
* :meth:`Probe.homogeneous` — double a producer's output: does the consumer's input double
  (it enters as a factor, the ``up`` of act(gate)·up)?
* :meth:`Probe.copies` — give neuron j neuron k's upstream entries (what replication does):
  are the consumer's input channels j and k then equal?

Comparisons of values computed the same way allow ``100·eps`` of the model's dtype (they are
equal to the bit on one device); :meth:`copies` compares values computed by different rows of
a matrix product and allows ``1000·eps``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.sites.registry import channel_dim, is_layer
from neuroplast.sites.site import Site
from neuroplast.sites.trace import Call, Trace, Tracer, fingerprints_differ, tensors_in
from neuroplast.stats.site import model_device_dtype, to_model


class ProbeFailed(NeuroplastError):
    """A probe could not run: the forward raised, or took another path (other calls)."""


@dataclass(frozen=True)
class Reach:
    """What a change reached: the baseline's calls whose input changed, after the changed
    module, in execution order, and whether the model's output changed."""

    calls: list[Call]
    output_changed: bool


def rolled(batch: Any) -> Any:
    """``batch`` with its examples shifted by one along dim 0: another input of the same shape."""
    if torch.is_tensor(batch):
        return batch.roll(1, 0) if batch.ndim and batch.shape[0] > 1 else batch
    if isinstance(batch, dict):
        return {k: rolled(v) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(rolled(v) for v in batch)
    return batch


class Probe:
    """The baseline run of ``model`` on ``example`` and the experiments above.

    The caller puts the model in eval mode and disables gradients.

    Raises:
        NeuroplastError: if the example has fewer than two different examples along dim 0,
            the model's output is not finite, or two identical runs differ.
    """

    def __init__(self, model: nn.Module, example: Any,
                 forward: Callable[[nn.Module, Any], Any], seed: int = 0) -> None:
        device, dtype = model_device_dtype(model)
        self.batch = to_model(example, device, dtype)
        self.other = rolled(self.batch)
        if not list(tensors_in(self.batch)):
            raise NeuroplastError(
                f"the example holds no torch tensor (got {type(example).__name__}); pass a "
                "tensor (torch.from_numpy(array) for a NumPy array) or a dict of tensors"
            )
        if all(torch.equal(a, b) for a, b in zip(tensors_in(self.batch),
                                                 tensors_in(self.other), strict=True)):
            raise NeuroplastError(
                "site discovery needs an example batch of at least two different examples "
                "along dim 0 (it compares the model on two inputs); pass e.g. data[:2]"
            )
        eps = torch.finfo(dtype).eps
        self.exact = min(100.0 * eps, 1e-3)
        self.rounding = min(1000.0 * eps, 1e-2)
        self.seed = seed
        self._draws = 0
        self.tracer = Tracer(model, forward)
        try:
            self.base = self.tracer.run(self.batch, record=None)
        except NeuroplastError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of the user's forward
            raise NeuroplastError(
                f"the model's forward fails on the example ({type(error).__name__}: {error}); "
                "discover sites with an example batch the model runs on as it is (its shape, "
                "dtype and device; several inputs through forward=...)"
            ) from error
        if self.base.output_print is None or not torch.isfinite(self.base.output_print).all():
            raise NeuroplastError(
                "the model's output on the example is not finite; discover sites on a model "
                "and example that give finite outputs"
            )
        again = self._run(self.batch, check=False)
        if self._output_changed(again) or len(again.calls) != len(self.base.calls):
            raise NeuroplastError(
                "two identical forward passes in eval mode gave different results; site "
                "discovery needs a deterministic model (no sampling or dropout in eval mode)"
            )
        self._reach: dict[int, Reach] = {}

    # -- baseline ------------------------------------------------------------------------
    def calls_of(self, module: nn.Module) -> list[Call]:
        return self.base.calls_of(module)

    def call(self, module: nn.Module) -> Call:
        """The one baseline call of ``module`` (the caller checked there is exactly one)."""
        return self.calls_of(module)[0]

    # -- running -------------------------------------------------------------------------
    def _run(self, batch: Any, *, check: bool = True, **kwargs: Any) -> Trace:
        try:
            trace = self.tracer.run(batch, **kwargs)
        except NeuroplastError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure of the user's forward
            raise ProbeFailed(f"the forward fails when a layer's output is changed ({error})") \
                from error
        base = self.base.calls if check else []
        complete = trace.output_print is not None
        if check and ((complete and len(trace.calls) != len(base)) or
                      len(trace.calls) > len(base) or
                      any(a.module is not b.module
                          for a, b in zip(trace.calls, base[:len(trace.calls)], strict=True))):
            raise ProbeFailed("the forward runs other modules when a layer's output changes "
                              "(control flow depends on values)")
        return trace

    def _until(self, module: nn.Module) -> Callable[[Call], bool]:
        """Stops a pass as ``module`` starts (its input recorded): nothing after it matters."""
        return lambda call: call.module is module

    def _input_of(self, trace: Trace, module: nn.Module) -> torch.Tensor:
        return trace.calls[self.call(module).index].input

    def _noise(self, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``y`` plus seeded Gaussian noise of the size of its entries (where ``mask``)."""
        generator = torch.Generator().manual_seed(self.seed + self._draws)
        self._draws += 1
        z = torch.randn(y.shape, generator=generator, dtype=torch.float64)
        z = z.to(device=y.device, dtype=y.dtype) * (y.detach().abs().mean() + 1e-3)
        return y + (z if mask is None else z * mask)

    def _perturb(self, mask: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda y: self._noise(y, mask)

    @staticmethod
    def _constant(value: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda _y: value.clone()  # a fresh copy: in-place modules downstream write it

    def _changed(self, trace: Trace, index: int) -> list[Call]:
        """The baseline's calls after ``index`` whose input differs in ``trace``."""
        return [b for a, b in zip(trace.calls, self.base.calls, strict=False)
                if a.index > index and self._differs(a, b)]

    def _differs(self, call: Call, base: Call) -> bool:
        return fingerprints_differ(call.input_print, base.input_print, self.exact)

    def _output_changed(self, trace: Trace) -> bool:
        return fingerprints_differ(trace.output_print, self.base.output_print, self.exact)

    def _close(self, a: torch.Tensor, b: torch.Tensor, rtol: float | None = None) -> bool:
        if a.shape != b.shape:
            return False
        scale = float(torch.maximum(a.abs().max(), b.abs().max())) if a.numel() else 0.0
        tol = (self.exact if rtol is None else rtol) * max(scale, 1e-30)
        return bool(((a - b).abs() <= tol).all())

    # -- experiments ---------------------------------------------------------------------
    def reach(self, module: nn.Module) -> Reach:
        """What perturbing ``module``'s output reaches (cached). The pass stops at the first
        weight layer it reaches (``is_layer``); the output is compared only when it reaches
        none (``output_changed`` is False otherwise)."""
        if id(module) not in self._reach:
            start = self.call(module).index

            def first_layer(call: Call) -> bool:
                return call.index > start and is_layer(call.module) and \
                    self._differs(call, self.base.calls[call.index])

            trace = self._run(self.batch, outputs={module: self._perturb()}, stop=first_layer)
            complete = trace.output_print is not None
            self._reach[id(module)] = Reach(self._changed(trace, start),
                                            complete and self._output_changed(trace))
        return self._reach[id(module)]

    def mixes_positions(self, producer: nn.Module, consumer: nn.Module) -> bool:
        """Whether changing ``producer``'s output at position 0 of dim -2 (the first token)
        changes ``consumer``'s input at other positions. False where the two do not share
        their leading shape (nothing to compare) or the output has fewer than 3 dims."""
        y, x = self.call(producer).output, self.call(consumer).input
        if y.ndim < 3 or x.ndim != y.ndim or x.shape[:-1] != y.shape[:-1] or \
                channel_dim(producer) != -1 or channel_dim(consumer) != -1:
            return False
        mask = torch.zeros_like(y)
        mask[..., 0, :] = 1.0
        trace = self._run(self.batch, outputs={producer: self._perturb(mask)}, record=[consumer],
                          stop=self._until(consumer))
        new = self._input_of(trace, consumer)
        return not self._close(new[..., 1:, :], x[..., 1:, :])

    def bypass(self, producers: Sequence[nn.Module], consumer: nn.Module) -> Reach:
        """What perturbing ``producers`` still changes while ``consumer`` reads its baseline
        input: calls after the consumer, and the model's output."""
        held = self.call(consumer)
        trace = self._run(self.batch, outputs={p: self._perturb() for p in producers},
                          inputs={consumer: self._constant(held.input)})
        return Reach(self._changed(trace, held.index), self._output_changed(trace))

    def exclusive(self, producers: Sequence[nn.Module], consumer: nn.Module) -> bool:
        """Whether ``consumer`` reads its baseline input when the model runs on another input
        but ``producers`` return their baseline outputs."""
        fixed = {p: self._constant(self.call(p).output) for p in producers}
        trace = self._run(self.other, outputs=fixed, record=[consumer],
                          stop=self._until(consumer))
        return self._close(self._input_of(trace, consumer), self.call(consumer).input)

    def channels_changed(self, producer: nn.Module, channels: torch.Tensor,
                         consumer: nn.Module, block: int) -> set[int]:
        """The channels of ``consumer``'s input (entries // ``block``) that change when only
        ``channels`` (indices) of ``producer``'s output are perturbed."""
        y = self.call(producer).output
        dim = channel_dim(producer) % y.ndim
        shape = [1] * y.ndim
        shape[dim] = y.shape[dim]
        mask = torch.zeros(shape, dtype=y.dtype, device=y.device)
        mask.view(-1)[channels.to(y.device)] = 1.0
        trace = self._run(self.batch, outputs={producer: self._perturb(mask)}, record=[consumer],
                          stop=self._until(consumer))
        x = self.call(consumer).input
        diff = (self._input_of(trace, consumer) - x).abs().movedim(channel_dim(consumer), 0)
        per_entry = diff.reshape(diff.shape[0], -1).amax(dim=1)  # (entries,)
        tol = self.exact * max(float(x.abs().max()), 1e-30)
        return {int(i) // block for i in (per_entry > tol).nonzero().flatten()}

    def homogeneous(self, producer: nn.Module, consumer: nn.Module) -> bool:
        """Whether doubling ``producer``'s output doubles ``consumer``'s input."""
        trace = self._run(self.batch, outputs={producer: lambda y: 2.0 * y}, record=[consumer],
                          stop=self._until(consumer))
        return self._close(self._input_of(trace, consumer), 2.0 * self.call(consumer).input)

    def vanishes_with(self, producer: nn.Module, consumer: nn.Module) -> bool:
        """Whether zeroing ``producer``'s output zeroes ``consumer``'s input (a factor of a
        product, ``f(a)·g(b)`` with g(0) = 0; not a term of a sum)."""
        trace = self._run(self.batch, outputs={producer: torch.zeros_like}, record=[consumer],
                          stop=self._until(consumer))
        reference = self.call(consumer).input
        scale = float(reference.abs().max()) if reference.numel() else 0.0
        return bool((self._input_of(trace, consumer).abs() <= self.exact * max(scale, 1e-30))
                    .all())

    def copies(self, site: Site, k: int, targets: Sequence[int]) -> bool:
        """Whether giving every neuron of ``targets`` neuron ``k``'s upstream entries (producer
        rows, bias, BatchNorm entries) makes the consumer's input channels of ``targets`` all
        equal to channel k. The model's tensors are restored afterwards."""
        targets = torch.as_tensor(list(targets), dtype=torch.long)
        saved = []
        try:
            with torch.no_grad():
                for axis in site.upstream:
                    tensor = axis.tensor
                    source = axis.entries(torch.full_like(targets, k)).to(tensor.device)
                    target = axis.entries(targets).to(tensor.device)
                    saved.append((tensor, target, tensor.index_select(axis.dim, target).clone(),
                                  axis.dim))
                    tensor.index_copy_(axis.dim, target, tensor.index_select(axis.dim, source))
            trace = self._run(self.batch, record=[site.consumer], stop=self._until(site.consumer))
        finally:
            with torch.no_grad():
                for tensor, target, old, dim in saved:
                    tensor.index_copy_(dim, target, old)
        rows = site.rows(self._input_of(trace, site.consumer))  # (rows, n)
        return self._close(rows[:, targets], rows[:, [k]].expand(-1, targets.numel()),
                           self.rounding)

    def matches(self, computed: torch.Tensor, observed: torch.Tensor) -> bool:
        """Whether a value computed from recorded tensors equals an observed one (to the
        exact tolerance)."""
        return self._close(computed, observed)


def leaves(calls: Iterable[Call]) -> list[Call]:
    """The calls of modules without submodules (the operations, not the containers)."""
    return [c for c in calls if next(c.module.children(), None) is None]
