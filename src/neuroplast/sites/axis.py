"""An axis: one tensor of a model indexed by a site's neurons, and how surgery resizes it.

A site's neurons run along one dimension of several tensors at once (Torch-Pruning's
dependency group): the producer's weight rows and bias, a BatchNorm's four per-channel
vectors, a gated FFN's two projections, the consumer's weight columns (a block of ``block``
columns per neuron when a ``Flatten`` sits in between), an input selector's index buffer.
Surgery changes all of them along the same index map.

Every ``nn.Parameter`` object is kept and given a new tensor, so an optimizer built before the
surgery still holds the right objects; its per-parameter state (SGD momentum, Adam moments, any
tensor laid out like the parameter, Adafactor's factored variances too) is resized along the
same map, and appended entries get what a fresh optimizer would give them
(:mod:`neuroplast.sites.optimizer_state`). Buffers (BatchNorm running statistics, selector
indices) are replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from neuroplast.sites.optimizer_state import follows_parameter, fresh_value

Resize = Callable[[torch.Tensor, float | None], torch.Tensor]
"""Maps an old tensor to its resized version; the number is, for optimizer state, the value of
its appended entries (None for the parameter itself)."""

ROLES = ("weight", "bias", "scale", "shift", "running_mean", "running_var", "index")
"""What an upstream tensor is, so a new random neuron (B4) gets the right fresh entries:
``weight`` Xavier-normal, ``bias``/``shift``/``running_mean`` 0, ``scale``/``running_var`` 1;
``index`` (an input selector) cannot grow."""


CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}
"""Dimension count → the channels-last memory format a tensor of it may have."""


def memory_format(tensor: torch.Tensor) -> torch.memory_format:
    """The memory format a resized copy of ``tensor`` keeps: channels-last when ``tensor`` is
    laid out so (a conv weight the user converted with ``model.to(memory_format=...)``),
    else contiguous."""
    channels_last = CHANNELS_LAST.get(tensor.dim())
    if (channels_last is not None and not tensor.is_contiguous()
            and tensor.is_contiguous(memory_format=channels_last)):
        return channels_last
    return torch.contiguous_format


def _resized(resize: Resize, tensor: torch.Tensor, fill: float | None) -> torch.Tensor:
    """``resize(tensor, fill)``, contiguous in the memory format ``tensor`` had."""
    return resize(tensor, fill).contiguous(memory_format=memory_format(tensor))


def resize_parameter(param: nn.Parameter, resize: Resize,
                     optimizer: torch.optim.Optimizer | None, dim: int) -> None:
    """Give ``param`` the tensor ``resize(param, None)`` in place, and its gradient (new entries
    0) and optimizer state laid out like it along ``dim`` too
    (:func:`~neuroplast.sites.optimizer_state.follows_parameter`), each in the memory format it
    had (:func:`memory_format`)."""
    old_shape = param.shape
    grad = param.grad
    with torch.no_grad():
        new = _resized(resize, param.data, None)
        if new.shape != old_shape:
            # A graph still alive from the last forward (e.g. the last `loss`) keeps the
            # parameter's cached gradient accumulator, which remembers the old shape, and the
            # next backward would fail ("invalid gradient ... expected shape"). Assigning
            # `.data` of another dtype is what makes PyTorch drop that cache.
            param.data = new.to(torch.float32 if new.dtype == torch.float64 else torch.float64)
        param.data = new
        # a gradient accumulating over micro-batches follows the surgery (new entries 0)
        param.grad = None if grad is None else _resized(resize, grad, 0.0)
    if optimizer is None or param not in optimizer.state:
        return
    state = optimizer.state[param]
    for key, value in list(state.items()):
        if torch.is_tensor(value) and follows_parameter(optimizer, key, value, old_shape, dim):
            state[key] = _resized(resize, value, fresh_value(optimizer, param, key))


@dataclass(frozen=True, eq=False)
class Axis:
    """Tensor ``module.<name>`` whose dimension ``dim`` runs over the site's neurons.

    Attributes:
        module: the module owning the tensor (kept across surgery).
        name: the parameter or buffer name (``weight``, ``bias``, ``running_mean``, ...).
        dim: the dimension indexed by neurons.
        role: one of :data:`ROLES`.
        block: consecutive entries per neuron (a flattened channel's H×W columns).
    """

    module: nn.Module
    name: str
    dim: int
    role: str
    block: int = 1

    @property
    def tensor(self) -> torch.Tensor | None:
        return getattr(self.module, self.name, None)

    def entries(self, neurons: torch.Tensor) -> torch.Tensor:
        """Indices along ``dim`` of the entries of ``neurons`` (each neuron's block)."""
        neurons = neurons.to(torch.long)
        if self.block == 1:
            return neurons
        offsets = torch.arange(self.block)
        return (neurons.unsqueeze(1) * self.block + offsets).flatten()

    def select(self, keep: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
        """Keep only the entries of neurons ``keep`` (in that order)."""
        tensor = self.tensor
        if tensor is None:
            return
        index = self.entries(keep).to(tensor.device)

        def take(t: torch.Tensor, _: float | None) -> torch.Tensor:
            return t.index_select(self.dim, index)

        self._apply(take, optimizer)

    def extend(self, new: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
        """Append ``new`` (the new neurons' entries, already laid out along ``dim``)."""
        tensor = self.tensor
        if tensor is None:
            return

        def append(t: torch.Tensor, fill: float | None) -> torch.Tensor:
            if fill is None:
                extra = new.to(dtype=t.dtype, device=t.device)
            else:  # state: t's own shape (a factored variance has 1s), the new neurons' count
                shape = list(t.shape)
                shape[self.dim] = new.shape[self.dim]
                extra = torch.full(shape, fill, dtype=t.dtype, device=t.device)
            return torch.cat([t, extra], dim=self.dim)

        self._apply(append, optimizer)

    def _apply(self, resize: Resize, optimizer: torch.optim.Optimizer | None) -> None:
        # Tensors made under torch.inference_mode() are inference tensors: a parameter or
        # optimizer state made of them fails the next training step ("Inference tensors cannot
        # be saved for backward"), far from the surgery. The model's new tensors are made
        # outside inference mode whatever mode the caller is in.
        tensor = self.tensor
        with torch.inference_mode(False):
            if isinstance(tensor, nn.Parameter):
                resize_parameter(tensor, resize, optimizer, self.dim)
            else:
                with torch.no_grad():
                    setattr(self.module, self.name, resize(tensor, None).contiguous())
