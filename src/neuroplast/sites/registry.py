"""What site discovery knows about module classes, by registry (one entry per class).

* :data:`LAYER_CLASSES` — the weight layers discovery accounts for (every one is either the
  producer of a site or explained): ``nn.Linear``, every convolution, Hugging Face ``Conv1D``.
* :data:`ACTIVATION_MODULES` — element-wise activation modules and the neuroplast activation
  (:data:`neuroplast.activations.ACTIVATIONS`) each one computes, or None for a configuration
  neuroplast has no derivative for (``nn.ELU(alpha=2)``).
* :data:`PER_CHANNEL` — modules holding one entry per channel that surgery resizes with the
  site (BatchNorm, InstanceNorm: each normalises a channel alone); they become a site's
  ``between``.
* :data:`CHANNELWISE` — parameter-free modules that act on each channel alone (Dropout,
  pooling, Flatten); they need no mention, and knowing them lets a refusal name the module
  that mixes channels instead.

Third-party classes are matched by top-level package and class name (no import of the
package), through the ``*_BY_NAME`` registries.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

CONVOLUTIONS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""The convolutions neuroplast resizes (with ``groups == 1``): weight (out, in, *kernel),
channels first. Transposed convolutions, whose weight is (in, out, *kernel), are not among
them."""

TRANSPOSED_CONVOLUTIONS: tuple[type[nn.Module], ...] = (
    nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
"""Transposed convolutions (a decoder's upsampling): weight (in, out, *kernel). They produce
sites (their output channels run along the weight's dim 1); as consumers they are refused (a
channel's mean input reaches the output through a transposed kernel, which the exact-mean
compensation does not model)."""

ActivationOf = Callable[[nn.Module], str | None]
"""Maps an activation module to the name of the neuroplast activation it computes, or None."""


def _always(name: str) -> ActivationOf:
    return lambda _module: name


def _gelu(module: nn.Module) -> str | None:
    return {"none": "gelu", "tanh": "gelu-tanh"}.get(module.approximate)


def _softplus(module: nn.Module) -> str | None:
    return "softplus" if (module.beta, module.threshold) == (1.0, 20.0) else None


def _elu(module: nn.Module) -> str | None:
    return "elu" if module.alpha == 1.0 else None


ACTIVATION_MODULES: dict[type, ActivationOf] = {
    nn.Tanh: _always("tanh"),
    nn.Sigmoid: _always("sigmoid"),
    nn.ReLU: _always("relu"),
    nn.GELU: _gelu,
    nn.SiLU: _always("silu"),
    nn.Softplus: _softplus,
    nn.ELU: _elu,
}
"""Element-wise activation module class → the neuroplast activation it computes."""

ACTIVATION_MODULES_BY_NAME: dict[tuple[str, str], ActivationOf] = {
    ("transformers", "GELUActivation"): _always("gelu"),
    ("transformers", "SiLUActivation"): _always("silu"),
    ("transformers", "NewGELUActivation"): _always("gelu-tanh"),
    ("transformers", "GELUTanh"): _always("gelu-tanh"),
    ("transformers", "PytorchGELUTanh"): _always("gelu-tanh"),
}
"""(top-level package, class name) of third-party activation classes → the activation they compute.
Hugging Face's tanh-approximated GELUs map to ``gelu-tanh`` (neuroplast's ``gelu`` is the
exact one)."""

PER_CHANNEL: tuple[type, ...] = (nn.modules.batchnorm._BatchNorm,
                                  nn.modules.instancenorm._InstanceNorm)
"""Modules with per-channel tensors that surgery resizes as part of a site (``between``)."""

CHANNELWISE: tuple[type, ...] = (
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Flatten,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.Upsample,
)
"""Parameter-free modules that act on every channel alone and alike (``nn.Identity`` is here,
not among the activations: it is a placeholder more often than a choice)."""

LAYER_CLASSES: tuple[type, ...] = (nn.Linear, nn.modules.conv._ConvNd)
"""Weight layers discovery accounts for (plus :data:`LAYER_CLASSES_BY_NAME`)."""

LAYER_CLASSES_BY_NAME: frozenset[tuple[str, str]] = frozenset({("transformers", "Conv1D")})
"""Third-party weight layers: Hugging Face's ``Conv1D`` (GPT-2), a transposed Linear."""


def _by_name(module: nn.Module) -> tuple[str, str]:
    """(top-level package, class name): how third-party classes are matched."""
    cls = type(module)
    return cls.__module__.partition(".")[0], cls.__name__


def _lookup(module: nn.Module, by_class: dict, by_name: dict):
    for cls in type(module).__mro__:
        if cls in by_class:
            return by_class[cls]
    return by_name.get(_by_name(module))


def is_activation(module: nn.Module) -> bool:
    """Whether ``module`` is a registered element-wise activation."""
    return _lookup(module, ACTIVATION_MODULES, ACTIVATION_MODULES_BY_NAME) is not None


def activation_of(module: nn.Module) -> str | None:
    """The neuroplast activation ``module`` computes, or None (unregistered or unsupported)."""
    of = _lookup(module, ACTIVATION_MODULES, ACTIVATION_MODULES_BY_NAME)
    return None if of is None else of(module)


def is_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a weight layer (Linear, any convolution, HF Conv1D)."""
    return isinstance(module, LAYER_CLASSES) or _by_name(module) in LAYER_CLASSES_BY_NAME


def is_per_channel(module: nn.Module) -> bool:
    """Whether ``module`` holds per-channel tensors that surgery resizes with a site."""
    return isinstance(module, PER_CHANNEL)


def is_channelwise(module: nn.Module) -> bool:
    """Whether ``module`` is known to treat channels alone and alike (an activation, Dropout,
    pooling, Flatten, or a per-channel module)."""
    return isinstance(module, CHANNELWISE) or is_activation(module) or is_per_channel(module)


def channel_dim(layer: nn.Module) -> int:
    """The dimension of a weight layer's input and output that runs over channels: 1 for a
    convolution (channels first), -1 for Linear and Conv1D (channels last)."""
    return 1 if isinstance(layer, nn.modules.conv._ConvNd) else -1
