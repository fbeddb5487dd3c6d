"""An axis: one tensor of a model indexed by a site's neurons, and how surgery resizes it.

A site's neurons run along one dimension of several tensors at once (Torch-Pruning's
dependency group): the producer's weight rows and bias, a BatchNorm's four per-channel
vectors, a gated FFN's two projections, the consumer's weight columns (a block of ``block``
columns per neuron when a ``Flatten`` sits in between), an input selector's index buffer.
Surgery changes all of them along the same index map.

Every ``nn.Parameter`` object is kept and given a new tensor, so an optimizer built before the
surgery still holds the right objects; its per-parameter state (SGD momentum, Adam moments, any
tensor shaped like the parameter) is resized along the same map and appended entries get zero
state. Buffers (BatchNorm running statistics, selector indices) are replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Resize = Callable[[torch.Tensor, bool], torch.Tensor]
"""Maps an old tensor to its resized version; the flag says whether it is optimizer state."""

ROLES = ("weight", "bias", "scale", "shift", "running_mean", "running_var", "index")
"""What an upstream tensor is, so a new random neuron (B4) gets the right fresh entries:
``weight`` Xavier-normal, ``bias``/``shift``/``running_mean`` 0, ``scale``/``running_var`` 1;
``index`` (an input selector) cannot grow."""


def resize_parameter(param: nn.Parameter, resize: Resize,
                     optimizer: torch.optim.Optimizer | None) -> None:
    """Give ``param`` the tensor ``resize(param, False)`` in place, and its optimizer state too."""
    old_shape = param.shape
    with torch.no_grad():
        new = resize(param.data, False).contiguous()
        if new.shape != old_shape:
            # A graph still alive from the last forward (e.g. the last `loss`) keeps the
            # parameter's cached gradient accumulator, which remembers the old shape, and the
            # next backward would fail ("invalid gradient ... expected shape"). Assigning
            # `.data` of another dtype is what makes PyTorch drop that cache.
            param.data = new.to(torch.float32 if new.dtype == torch.float64 else torch.float64)
        param.data = new
    param.grad = None
    if optimizer is None or param not in optimizer.state:
        return
    state = optimizer.state[param]
    for key, value in list(state.items()):
        if torch.is_tensor(value) and value.shape == old_shape:
            state[key] = resize(value, True).contiguous()


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

        def take(t: torch.Tensor, _: bool) -> torch.Tensor:
            return t.index_select(self.dim, index)

        self._apply(take, optimizer)

    def extend(self, new: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
        """Append ``new`` (the new neurons' entries, already laid out along ``dim``)."""
        tensor = self.tensor
        if tensor is None:
            return

        def append(t: torch.Tensor, is_state: bool) -> torch.Tensor:
            extra = torch.zeros_like(new, dtype=t.dtype, device=t.device) if is_state \
                else new.to(dtype=t.dtype, device=t.device)
            return torch.cat([t, extra], dim=self.dim)

        self._apply(append, optimizer)

    def _apply(self, resize: Resize, optimizer: torch.optim.Optimizer | None) -> None:
        tensor = self.tensor
        if isinstance(tensor, nn.Parameter):
            resize_parameter(tensor, resize, optimizer)
        else:
            with torch.no_grad():
                setattr(self.module, self.name, resize(tensor, False).contiguous())
