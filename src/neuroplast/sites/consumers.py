"""Consumer views: a site's consumer as a linear map on the site's values, whatever its class.

Every consumer neuroplast handles computes, for each output channel i and each *row* r (an
example, a token, a spatial position), z_i(r) = Σ_j Σ_δ W[i, j, δ] · x_j(r + δ) + b_i: a weight
tensor of shape (m, n, K) over m outputs, n site neurons and K offsets (K = 1 for a Linear,
the kernel positions kh·kw for a Conv2d, the H×W positions of a flattened channel for a
Linear after ``Flatten``). A view gives that tensor, writes it back, turns the consumer's
input and output into rows of site values (rows, n) and consumer outputs (rows, m), and sums
the consumer's input *patches* per offset, so that compensation can be exact in the mean
(see :class:`~neuroplast.stats.site.SiteStatistics`). Views are registered per module class
(:data:`VIEWS`); a new consumer class is one entry, not a branch in the core.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.sites.axis import Axis
from neuroplast.sites.registry import CONVOLUTIONS, PER_CHANNEL, TRANSPOSED_CONVOLUTIONS


class ConsumerView:
    """How one consumer class looks as the (m, n, K) map above. Subclasses fill it in: the
    shape properties, ``axis``, ``width_attributes``, ``weight``/``write_weight`` and the
    value views ``row_values``/``output_row_values`` (``rows``/``output_rows`` derive from
    them; streaming statistics read the views, so a subclass overriding only ``rows`` is not
    enough)."""

    def __init__(self, module: nn.Module, block: int = 1) -> None:
        self.module = module
        self.block = int(block)

    # -- shapes --------------------------------------------------------------------------
    @property
    def out_channels(self) -> int:
        raise NotImplementedError

    @property
    def in_entries(self) -> int:
        """Entries of the consumer's input along its neuron axis (n · block)."""
        raise NotImplementedError

    @property
    def width(self) -> int:
        return self.in_entries // self.block

    @property
    def offsets(self) -> int:
        """K, the number of offsets per (output, neuron) pair."""
        return self.block

    def axis(self) -> Axis:
        raise NotImplementedError

    def width_attributes(self) -> tuple[tuple[nn.Module, str, int], ...]:
        """(module, attribute, entries per neuron) integers that record the input width."""
        raise NotImplementedError

    # -- weights -------------------------------------------------------------------------
    def weight(self) -> torch.Tensor:
        """(m, n, K), detached, in the module's dtype (a view where the layout allows)."""
        raise NotImplementedError

    def write_weight(self, weight: torch.Tensor) -> None:
        """Copy an (m, n, K) tensor into the consumer's weight, in place."""
        raise NotImplementedError

    @property
    def bias(self) -> torch.Tensor | None:
        bias = getattr(self.module, "bias", None)
        return None if bias is None else bias.detach()

    def add_bias(self, optimizer: torch.optim.Optimizer | None) -> nn.Parameter:
        """Give a bias-free consumer a zero bias parameter, registered in ``optimizer`` where
        the user's own biases train: the first group that holds only 0- and 1-D parameters
        (the usual "no weight decay for biases and norms" group, e.g.
        :func:`neuroplast.train.make_optimizer` without bias decay), else the weight's
        group."""
        weight = self.module.weight
        with torch.inference_mode(False):  # a parameter, even when called in inference mode
            bias = nn.Parameter(torch.zeros(self.out_channels, dtype=weight.dtype,
                                            device=weight.device),
                                requires_grad=weight.requires_grad)  # a frozen consumer stays so
        self.module.bias = bias
        if optimizer is not None:
            groups = optimizer.param_groups
            group = next((g for g in groups if g["params"]
                          and all(p.dim() <= 1 for p in g["params"])), None)
            group = group or next((g for g in groups if any(p is weight for p in g["params"])),
                                  None)
            if group is not None:
                group["params"].append(bias)
        return bias

    def remove_bias(self, optimizer: torch.optim.Optimizer | None) -> None:
        """Undo :meth:`add_bias`: the consumer has no bias again, and ``optimizer`` neither
        holds it nor keeps state for it."""
        bias = self.module.bias
        self.module.bias = None
        if optimizer is not None:
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if p is not bias]
            optimizer.state.pop(bias, None)

    # -- values --------------------------------------------------------------------------
    def row_values(self, x: torch.Tensor) -> torch.Tensor:
        """The consumer's input with the site's neurons last, (..., n): a view where the
        layout allows (no copy), its leading dimensions in the order of :meth:`rows`."""
        raise NotImplementedError

    def output_row_values(self, y: torch.Tensor) -> torch.Tensor:
        """The consumer's output with its output channels last, (..., m), a view."""
        raise NotImplementedError

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """The consumer's input as rows of site values: (rows, n)."""
        return self.row_values(x).reshape(-1, self.width)

    def output_rows(self, y: torch.Tensor) -> torch.Tensor:
        """The consumer's output as rows of output channels: (rows, m)."""
        values = self.output_row_values(y)
        return values.reshape(-1, values.shape[-1])

    def patch_sums(self, x: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        """Σ over rows of each neuron's value at each offset, (n, K) float64, and the row
        count; None when K = 1 and every row sees every neuron once (the mean suffices)."""
        return None


class LinearView(ConsumerView):
    """``nn.Linear`` (weight (m, in)); with ``block`` > 1 a Linear after ``Flatten`` whose
    input holds ``block`` consecutive entries per neuron (a channel's H×W positions)."""

    @property
    def out_channels(self) -> int:
        return self.module.weight.shape[0]

    @property
    def in_entries(self) -> int:
        return self.module.weight.shape[1]

    def axis(self) -> Axis:
        return Axis(self.module, "weight", 1, "weight", self.block)

    def width_attributes(self) -> tuple[tuple[nn.Module, str, int], ...]:
        return ((self.module, "in_features", self.block),)

    def weight(self) -> torch.Tensor:
        w = self.module.weight.detach()  # (m, n·K)
        return w.view(w.shape[0], -1, self.block)  # (m, n, K)

    def write_weight(self, weight: torch.Tensor) -> None:
        with torch.no_grad():
            self.module.weight.copy_(weight.reshape(self.module.weight.shape))

    def row_values(self, x: torch.Tensor) -> torch.Tensor:
        if self.block == 1:
            return x  # (..., n)
        return x.reshape(-1, self.width, self.block).transpose(1, 2)  # (B, K, n)

    def output_row_values(self, y: torch.Tensor) -> torch.Tensor:
        return y  # (..., m)

    def patch_sums(self, x: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        if self.block == 1:
            return None
        patches = x.reshape(-1, self.width, self.block)  # (B, n, K)
        return patches.sum(dim=0, dtype=torch.float64), patches.shape[0]


class Conv1DView(LinearView):
    """Hugging Face's GPT-2 ``Conv1D``: a Linear whose weight is stored transposed, (in, m)."""

    @property
    def out_channels(self) -> int:
        return self.module.weight.shape[1]

    @property
    def in_entries(self) -> int:
        return self.module.weight.shape[0]

    def axis(self) -> Axis:
        return Axis(self.module, "weight", 0, "weight", self.block)

    def width_attributes(self) -> tuple[tuple[nn.Module, str, int], ...]:
        return ((self.module, "nx", self.block),)

    def weight(self) -> torch.Tensor:
        w = self.module.weight.detach().T  # (m, n)
        return w.reshape(w.shape[0], -1, self.block)

    def write_weight(self, weight: torch.Tensor) -> None:
        with torch.no_grad():
            self.module.weight.copy_(weight.reshape(weight.shape[0], -1).T)


class ConvView(ConsumerView):
    """``nn.Conv1d``/``Conv2d``/``Conv3d`` with ``groups == 1`` and zero padding: weight
    (m, n, *kernel), K = the kernel's positions (kh·kw for a Conv2d).

    The site's values are the consumer's input channels at every position of every example
    (rows = batch × positions). A relation among channels that holds per position folds into
    every kernel slice; zero padding reads 0 instead of a neuron's value at the border, which
    the exact-mean compensation accounts for (``patch_sums`` pads as the convolution does).
    """

    def __init__(self, module: nn.Module, block: int = 1) -> None:
        super().__init__(module, 1)
        if module.groups != 1:
            raise NeuroplastError(
                f"grouped or depthwise convolution (groups={module.groups}) ties channels "
                "together; neuroplast handles groups=1 consumers only"
            )
        if module.padding_mode != "zeros":
            raise NeuroplastError(
                f"padding_mode {module.padding_mode!r} is not supported; use zero padding"
            )

    @property
    def out_channels(self) -> int:
        return self.module.weight.shape[0]

    @property
    def in_entries(self) -> int:
        return self.module.weight.shape[1]

    @property
    def offsets(self) -> int:
        return math.prod(self.module.weight.shape[2:])

    def axis(self) -> Axis:
        return Axis(self.module, "weight", 1, "weight")

    def width_attributes(self) -> tuple[tuple[nn.Module, str, int], ...]:
        return ((self.module, "in_channels", 1),)

    def weight(self) -> torch.Tensor:
        w = self.module.weight.detach()
        return w.reshape(w.shape[0], w.shape[1], -1)  # (m, n, K)

    def write_weight(self, weight: torch.Tensor) -> None:
        with torch.no_grad():
            self.module.weight.copy_(weight.reshape(self.module.weight.shape))

    def row_values(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(1, -1)  # (B, *positions, n)

    def output_row_values(self, y: torch.Tensor) -> torch.Tensor:
        return y.movedim(1, -1)  # (B, *positions', m)

    def _padding(self) -> list[tuple[int, int]]:
        """(before, after) zero padding of each spatial dimension, as the convolution pads."""
        padding, kernel = self.module.padding, self.module.weight.shape[2:]
        dilation = self.module.dilation
        if padding == "valid":
            return [(0, 0)] * len(kernel)
        if padding == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            return [(t // 2, t - t // 2) for t in totals]
        return [(p, p) for p in padding]

    def patch_sums(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """For every channel and kernel offset, the sum of the input values that offset reads
        over all output positions of all examples (zero padding included): (n, K), and the
        number of (example, output position) pairs."""
        total = x.sum(dim=0, dtype=torch.float64)  # (n, *S)
        padding = self._padding()
        total = F.pad(total, [p for pair in reversed(padding) for p in pair])
        kernel, dilation = self.module.weight.shape[2:], self.module.dilation
        stride = self.module.stride
        outputs = [(size - d * (k - 1) - 1) // s + 1 for size, k, d, s in
                   zip(total.shape[1:], kernel, dilation, stride, strict=True)]
        sums = []
        for offset in itertools.product(*(range(k) for k in kernel)):  # the weight's order
            window = total[(slice(None), *(
                slice(o * d, o * d + (out - 1) * s + 1, s)
                for o, d, out, s in zip(offset, dilation, outputs, stride, strict=True)))]
            sums.append(window.reshape(total.shape[0], -1).sum(dim=1))
        return torch.stack(sums, dim=1), x.shape[0] * math.prod(outputs)


VIEWS: dict[type, Callable[[nn.Module, int], ConsumerView]] = {
    nn.Linear: LinearView,
    **dict.fromkeys(CONVOLUTIONS, ConvView),
}
"""Consumer class → view. Third-party classes are registered lazily (:func:`view_for`)."""


def _third_party_view(module: nn.Module) -> Callable[[nn.Module, int], ConsumerView] | None:
    cls = type(module)
    if cls.__name__ == "Conv1D" and cls.__module__.startswith("transformers"):
        return Conv1DView
    return None


def view_for(module: nn.Module, block: int = 1) -> ConsumerView:
    """The view of ``module`` as a consumer.

    Raises:
        NeuroplastError: for a module class neuroplast cannot read as a linear map.
    """
    for cls in type(module).__mro__:
        if cls in VIEWS:
            return VIEWS[cls](module, block)
    factory = _third_party_view(module)
    if factory is None:
        raise NeuroplastError(
            f"{type(module).__name__} cannot be a consumer: neuroplast reads nn.Linear, "
            "nn.Conv1d/2d/3d (groups=1) and Hugging Face Conv1D"
        )
    return factory(module, block)


@dataclass(frozen=True)
class ProducerAxes:
    """The tensors a producer module owns along its output channels, by module class."""

    module: nn.Module

    def axes(self) -> tuple[Axis, ...]:
        m = self.module
        if isinstance(m, (nn.Linear, *CONVOLUTIONS, *TRANSPOSED_CONVOLUTIONS)):
            if getattr(m, "groups", 1) != 1:
                raise NeuroplastError(
                    f"a grouped or depthwise convolution (groups={m.groups}) cannot produce a "
                    "site: its channels are tied to its input's"
                )
            # output channels: the weight's rows, a transposed convolution's dim 1 (in, out, …)
            dim = 1 if isinstance(m, TRANSPOSED_CONVOLUTIONS) else 0
            out = [Axis(m, "weight", dim, "weight")]
            if m.bias is not None:
                out.append(Axis(m, "bias", 0, "bias"))
            return tuple(out)
        if isinstance(m, PER_CHANNEL):  # BatchNorm, InstanceNorm: entries per channel
            out = []
            if m.affine:
                out += [Axis(m, "weight", 0, "scale"), Axis(m, "bias", 0, "shift")]
            if m.track_running_stats:
                out += [Axis(m, "running_mean", 0, "running_mean"),
                        Axis(m, "running_var", 0, "running_var")]
            return tuple(out)
        if type(m).__name__ == "Conv1D" and type(m).__module__.startswith("transformers"):
            return (Axis(m, "weight", 1, "weight"), Axis(m, "bias", 0, "bias"))
        raise NeuroplastError(
            f"{type(m).__name__} cannot produce a site: neuroplast resizes nn.Linear, "
            "nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d, BatchNorm, InstanceNorm and Hugging "
            "Face Conv1D"
        )

    def width_attributes(self) -> tuple[tuple[nn.Module, str, int], ...]:
        m = self.module
        for attr in ("out_features", "out_channels", "num_features", "nf"):
            if hasattr(m, attr) and isinstance(getattr(m, attr), int):
                return ((m, attr, 1),)
        return ()
