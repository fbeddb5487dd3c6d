"""The layer-by-layer interface of the paper's MLP, which its paper-only tools read.

NNSP levels, N2PS net values, Zeng–Yeung sensitivities, the Torch-Pruning adapter and the exact
loss-change oracle walk the paper's network layer by layer (``selector → (Linear → f) × L``).
They take any model with this structure (:class:`neuroplast.models.MLP` has it) without
importing a model class; the registry refuses them elsewhere (``Measure.site_kinds``).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn


class LayeredModel(Protocol):
    """``selector``, ``layers`` (Linear), one element-wise ``activation``, named sites."""

    layers: nn.ModuleList
    selector: nn.Module
    activation: Any

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def site_names(self) -> list[str]: ...

    def site(self, name: Any) -> Any: ...

    def site_values(self, name: str, x: torch.Tensor) -> torch.Tensor: ...

    def forward_from_preactivation(self, layer_index: int, z: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...
