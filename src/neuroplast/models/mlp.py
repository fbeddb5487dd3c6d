"""Multi-layer perceptrons with named neuron sites.

A site is a place where neurons live and can die or replicate (DESIGN.md §2): ``input`` (the
features entering the first Linear) and ``hidden1``, ``hidden2``, ... (the outputs of the hidden
activations). The paper's "second layer" is ``hidden1``. The output layer returns logits; the
softmax lives in the cross-entropy loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial

import torch
from torch import nn

from neuroplast.activations import get_activation
from neuroplast.errors import NeuroplastError
from neuroplast.sites.build import input_site, linear_site
from neuroplast.sites.site import Site

PRESETS: dict[str, tuple[tuple[int, ...], str]] = {
    "N1": ((784, 5, 20, 10), "tanh"),
    "N2": ((784, 10, 10, 10), "tanh"),
    "N3": ((784, 20, 5, 10), "tanh"),
    "N4": ((784, 100, 5, 10), "tanh"),
    "lenet-300-100": ((784, 300, 100, 10), "relu"),
}
"""The paper's networks N1–N4 (REFERENCE §2.1) and LeNet-300-100 (LeCun et al. 1998)."""


class FeatureSelector(nn.Module):
    """Keeps a subset of the input features, so an input-pruned model accepts full-size inputs.

    The indices of the surviving features are a buffer (``kept``), saved with the model.
    """

    def __init__(self, n_features: int, kept: torch.Tensor | None = None) -> None:
        super().__init__()
        self.n_features = int(n_features)
        if kept is None:
            kept = torch.arange(self.n_features)
        self.register_buffer("kept", kept.to(torch.long).clone())
        self._identity_cache: tuple[torch.Tensor, int, bool] | None = None

    @property
    def is_identity(self) -> bool:
        """True when ``kept`` is exactly ``0, 1, ..., n_features - 1`` (nothing removed or moved).

        A permutation of all features is *not* the identity. The answer is cached per ``kept``
        tensor and its version counter, so surgery (which assigns a new tensor) and in-place
        edits both invalidate it, and an unpruned model pays no device sync per forward.
        """
        kept = self.kept
        cache = self._identity_cache
        if cache is not None and cache[0] is kept and cache[1] == kept._version:
            return cache[2]
        identity = kept.numel() == self.n_features and bool(
            torch.equal(kept, torch.arange(self.n_features, device=kept.device))
        )
        self._identity_cache = (kept, kept._version, identity)
        return identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.n_features:
            raise NeuroplastError(
                f"the model expects {self.n_features} input features, got {x.shape[-1]}"
            )
        if self.is_identity:
            return x
        return x.index_select(-1, self.kept)  # (batch, n_kept)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, kept={self.kept.numel()}"


@dataclass(eq=False, repr=False)
class MLPSite(Site):
    """A site of the paper's MLP: a general :class:`~neuroplast.sites.Site` that also knows its
    place in ``MLP.layers`` (the paper-only baselines NNSP, N2PS and Zeng–Yeung read it).

    Attributes:
        index: 0 for ``input``, k for ``hidden<k>``.
        consumer_index: index of the consumer in ``model.layers``.
    """

    index: int = 0
    consumer_index: int = 0


def check_widths(widths: Sequence[int]) -> list[int]:
    """``widths`` as a list of ints, checked: at least two, all positive.

    Raises:
        NeuroplastError: otherwise.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise NeuroplastError(
            "widths must be at least two positive integers (inputs, ..., outputs), "
            f"got {widths}"
        )
    return widths


class MLP(nn.Module):
    """Feed-forward network ``selector → (Linear → f) × hidden → Linear`` returning logits."""

    def __init__(self, widths: Sequence[int], activation: str = "tanh") -> None:
        super().__init__()
        widths = check_widths(widths)
        self.activation = get_activation(activation)
        self.selector = FeatureSelector(widths[0])
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False)
        )

    @property
    def activation_name(self) -> str:
        return self.activation.name

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the weights (inputs are cast to it; float32 by default)."""
        return self.layers[0].weight.dtype

    @property
    def n_inputs(self) -> int:
        """Number of features the model accepts (before input selection)."""
        return self.selector.n_features

    @property
    def widths(self) -> list[int]:
        """Current widths: kept inputs, each hidden layer, outputs."""
        return [self.layers[0].in_features] + [layer.out_features for layer in self.layers]

    @property
    def site_names(self) -> list[str]:
        return ["input"] + [f"hidden{k}" for k in range(1, len(self.layers))]

    def site(self, name: str | Site) -> MLPSite:
        """Return the site called ``name`` (``input``, ``hidden1``, ...), built afresh on the
        current layers; a :class:`Site` of this model is accepted as it is."""
        if isinstance(name, Site):
            return name
        if name not in self.site_names:
            raise NeuroplastError(
                f"unknown site {name!r}; this model has: {', '.join(self.site_names)}"
            )
        index = 0 if name == "input" else int(name.removeprefix("hidden"))
        is_last_hidden = index == len(self.layers) - 1
        consumer_activation = None if is_last_hidden else self.activation
        downstream = partial(self.forward_from_preactivation, index)
        if index == 0:
            general = input_site(name, selector=self.selector, consumer=self.layers[0],
                                 downstream=downstream, consumer_activation=consumer_activation)
        else:
            general = linear_site(name, producer=self.layers[index - 1],
                                  consumer=self.layers[index], activation=self.activation,
                                  consumer_activation=consumer_activation,
                                  downstream=downstream)
        values = {f.name: getattr(general, f.name) for f in fields(Site)}
        return MLPSite(**values, index=index, consumer_index=index)

    def neuroplast_sites(self) -> dict[str, MLPSite]:
        """Every site of the model by name (the protocol :func:`neuroplast.sites.resolve_site`
        reads)."""
        return {name: self.site(name) for name in self.site_names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_kept(self.selector(x))  # selector: (batch, n_kept)

    def forward_kept(self, x_kept: torch.Tensor) -> torch.Tensor:
        """Logits for inputs already restricted to the kept features (``x[..., kept]`` with
        ``kept = self.selector.kept``; (batch, n_kept)): :meth:`forward` without the
        selector's gather. :func:`neuroplast.train.train` gathers its split's kept columns
        once and steps on them, which gives bit-identical results."""
        h = x_kept
        for layer in self.layers[:-1]:
            h = self.activation.fn(layer(h))  # (batch, width)
        return self.layers[-1](h)  # (batch, n_classes)

    def site_values(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """The values of the neurons of site ``name`` for inputs ``x``: (batch, width)."""
        index = self.site(name).index
        h = self.selector(x)
        for layer in self.layers[:index]:
            h = self.activation.fn(layer(h))
        return h

    def forward_from_preactivation(self, layer_index: int, z: torch.Tensor) -> torch.Tensor:
        """Logits given the pre-activation ``z`` (batch, out) of ``layers[layer_index]``.

        This is what lies downstream of a site whose consumer is ``layers[layer_index]``; the
        oracle and the goal strategies use it to re-evaluate a re-wired consumer cheaply.
        """
        if layer_index == len(self.layers) - 1:
            return z
        h = self.activation.fn(z)
        for layer in self.layers[layer_index + 1 : -1]:
            h = self.activation.fn(layer(h))
        return self.layers[-1](h)

    def extra_repr(self) -> str:
        return f"widths={self.widths}, activation={self.activation.name}"


def preset_name(arch: str) -> str | None:
    """The preset ``arch`` names, in any case (``n4`` → ``N4``), or None if none."""
    return next((k for k in PRESETS if k.lower() == arch.lower()), None)


def build_mlp(arch: str | None = None, *, widths: Sequence[int] | None = None,
              activation: str | None = None) -> MLP:
    """Build a preset (``N1``–``N4``, ``lenet-300-100``) or an MLP of any ``widths``.

    Args:
        arch: a preset name; its widths and activation are the defaults.
        widths: layer widths ``(inputs, hidden..., outputs)``; overrides the preset's.
        activation: element-wise activation name; overrides the preset's (default tanh).
    """
    if arch is not None:
        key = preset_name(arch)
        if key is None:
            raise NeuroplastError(
                f"unknown architecture {arch!r}; choose one of: {', '.join(PRESETS)} "
                "or give --widths"
            )
        preset_widths, preset_activation = PRESETS[key]
        widths = widths or preset_widths
        activation = activation or preset_activation
    if widths is None:
        raise NeuroplastError("give an architecture name or the layer widths")
    return MLP(widths, activation or "tanh")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: MLP) -> int:
    """Multiply-accumulates of one forward pass of one example (Linear layers only)."""
    return sum(layer.in_features * layer.out_features for layer in model.layers)
