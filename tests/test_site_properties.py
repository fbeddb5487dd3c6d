"""Property tests of the core invariants on every site kind (DESIGN.md §7, issue 12 item 4).

Site kinds, each a small float64 model built here and declared with the site constructors:

* ``linear``: Linear → Tanh → Linear → Tanh → Linear; ``linear3d`` the same on (batch, tokens,
  features) inputs; ``linear_nobias`` with a bias-free consumer;
* ``gated``: a LLaMA-style MLP ``down(silu(gate(x)) * up(x))``, all ``bias=False``, on tokens;
* ``conv_pool``: Conv2d → BatchNorm2d → ReLU → MaxPool2d → Conv2d with padding 1 (border);
  ``conv_valid``: the same without pooling and padding 0; ``conv_geometry``: the consumer's
  kernel, padding (0-2 per dimension, "valid", "same"), stride and dilation drawn per
  dimension, and its bias; BatchNorm in eval mode with drawn running statistics and affine
  parameters;
* ``flatten``: Conv2d → BatchNorm2d → ReLU → MaxPool2d → Flatten → Linear (H·W block per channel);
* ``conv_1d_geometry``: Conv1d → BatchNorm1d → ReLU → Conv1d with the consumer's kernel (1-4),
  padding (0-2, "valid", "same"), stride, dilation and bias drawn; ``conv_3d``: Conv3d →
  BatchNorm3d → ReLU → MaxPool3d → Conv3d with an anisotropic kernel, padding and stride;
  ``flatten_1d``: Conv1d → BatchNorm1d → ReLU → Flatten → Linear; ``conv_instance_norm``:
  Conv2d → InstanceNorm2d (affine, running statistics) → ReLU → Conv2d;
* ``conv1d``: Hugging Face's transposed ``Conv1D`` (GPT-2 MLP), when transformers is importable;
* ``mlp_hidden1`` / ``mlp_hidden2``: the paper's N4 (``build_mlp("N4")``) and its own sites.

Invariants: statistics, E_k and ȳ against independent float64 computations written here (the
site's values are captured with a hook on the consumer and flattened to rows by this file,
the consumer's weights reshaped to (m, n, K) by this file); B1–B3 leave the output unchanged,
B4 changes it, B5 changes nothing; lstsq removes an exact duplicate or linear combination
without changing the output; A1 (and A2, A3, lstsq) keep the consumer's mean pre-activation
exact; after surgery the optimizer steps exactly as a model built at the new width with the
same weights and the same (independently resized) optimizer state.

Set ``NEUROPLAST_PROPERTY_EXAMPLES`` to run more examples, ``NEUROPLAST_PROPERTY_RANDOM=1`` for
fresh random draws (the default replays the same derandomised draws on every run).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from neuroplast.death.rules import Rewirer
from neuroplast.efficiency.paper import connection_cut_efficiency
from neuroplast.models import build_mlp, initialize
from neuroplast.replication import replicate
from neuroplast.sites import Site, conv_site, gated_site, linear_site
from neuroplast.stats import collect_site_statistics

try:  # optional: Hugging Face's transposed Conv1D consumer
    from transformers.pytorch_utils import Conv1D
except Exception:  # pragma: no cover - transformers absent or broken
    Conv1D = None

DTYPE = torch.float64
EXAMPLES = int(os.environ.get("NEUROPLAST_PROPERTY_EXAMPLES", "25"))
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    derandomize=os.environ.get("NEUROPLAST_PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOL = 1e-10


# == the site kinds =============================================================================
@dataclass
class Case:
    """One model with one declared site, and what the tests need to check it independently.

    Attributes:
        kind: the kind's name (see the module docstring).
        model: the float64 model, in eval mode.
        site: the declared site.
        data: calibration inputs; ``fresh``: other inputs from the same distribution.
        consumer: the site's consumer module.
        rows: consumer input → (rows, n) site values (written here, not the library's view).
        out_rows: consumer output → (rows, m) pre-activations.
        weight3: the consumer's current weights as (m, n, K).
        activation: the consumer's element-wise activation (None: its output is used as is).
        tensors: state_dict key → (dim, block) of every tensor running over the site's neurons.
        widths: the integer width attributes → entries per neuron.
        rebuild: the same architecture at site width n (consumer bias as the model has now).
        unfold: for a Conv2d consumer, its (kernel, dilation, padding, stride) for F.unfold.
        options: what was drawn for the geometry (for messages).
    """

    kind: str
    model: nn.Module
    site: Site
    data: torch.Tensor
    fresh: torch.Tensor
    consumer: nn.Module
    rows: Callable[[torch.Tensor], torch.Tensor]
    out_rows: Callable[[torch.Tensor], torch.Tensor]
    weight3: Callable[[], torch.Tensor]
    activation: Callable[[torch.Tensor], torch.Tensor] | None
    tensors: dict[str, tuple[int, int]]
    widths: list[tuple[nn.Module, str, int]]
    rebuild: Callable[[int], nn.Module]
    unfold: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.weight3().shape[1]

    @property
    def consumer_key(self) -> str:
        """The state_dict key of the consumer's weight."""
        return next(k for k, p in self.model.named_parameters() if p is self.consumer.weight)

    @property
    def has_consumer_bias(self) -> bool:
        return getattr(self.consumer, "bias", None) is not None


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
"""The per-channel normalisations a site's ``between`` may hold."""


def _fill(model: nn.Module, seed: int, scale: float = 0.6) -> nn.Module:
    """Every parameter ~ N(0, scale²); BatchNorm: scale 1 ± 0.5, running mean ~ N(0, 0.3²),
    running variance in [0.5, 2], so eval-mode BatchNorm is a non-trivial affine map."""
    g = _generator(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DTYPE) * scale)
        for m in model.modules():
            if isinstance(m, NORMS):
                m.weight.copy_(1.0 + 0.5 * torch.randn(m.weight.shape, generator=g, dtype=DTYPE))
                m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g, dtype=DTYPE))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(m.num_features, generator=g,
                                                           dtype=DTYPE))
    return model.eval()


def _inputs(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = _generator(seed + 7919)
    return (torch.randn(shape, generator=g, dtype=DTYPE),
            torch.randn(shape, generator=g, dtype=DTYPE))


def _channel_rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, *positions) → (B·positions, C)."""
    return t.movedim(1, -1).reshape(-1, t.shape[1])


def _activation_module(name: str) -> nn.Module:
    return {"tanh": nn.Tanh(), "relu": nn.ReLU(), "identity": nn.Identity()}[name]


def _linear_case(kind: str, n: int, seed: int, *, tokens: int | None = None,
                 consumer_bias: bool = True, activation: str = "tanh",
                 batch: int = 24) -> Case:
    d, m, o = 8, 4, 3

    def build(width: int, bias: bool = consumer_bias) -> nn.Module:
        return nn.Sequential(nn.Linear(d, width), _activation_module(activation),
                             nn.Linear(width, m, bias=bias), nn.Tanh(),
                             nn.Linear(m, o)).to(DTYPE)

    model = _fill(build(n), seed)
    shape = (batch, d) if tokens is None else (batch // 4, tokens, d)
    data, fresh = _inputs(shape, seed)
    site = linear_site("hidden", producer=model[0], consumer=model[2], activation=activation,
                       consumer_activation="tanh")
    consumer = model[2]
    return Case(
        kind, model, site, data, fresh, consumer,
        rows=lambda x: x.reshape(-1, x.shape[-1]),
        out_rows=lambda y: y.reshape(-1, y.shape[-1]),
        weight3=lambda: consumer.weight.detach().unsqueeze(2),
        activation=torch.tanh,
        tensors={"0.weight": (0, 1), "0.bias": (0, 1), "2.weight": (1, 1)},
        widths=[(model[0], "out_features", 1), (consumer, "in_features", 1)],
        rebuild=lambda w: build(w, consumer.bias is not None),
    )


class GatedMLP(nn.Module):
    """LLaMA's MLP: down(silu(gate(x)) · up(x)), no biases."""

    def __init__(self, d: int, width: int, out: int, down_bias: bool = False) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d, width, bias=False)
        self.up_proj = nn.Linear(d, width, bias=False)
        self.down_proj = nn.Linear(width, out, bias=down_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def _gated_case(kind: str, n: int, seed: int) -> Case:
    d, o = 5, 4

    def build(width: int, bias: bool = False) -> nn.Module:
        return GatedMLP(d, width, o, bias).to(DTYPE)

    model = _fill(build(n), seed)
    data, fresh = _inputs((6, 4, d), seed)
    site = gated_site("mlp", gate=model.gate_proj, up=model.up_proj, consumer=model.down_proj,
                      activation="silu")
    consumer = model.down_proj
    return Case(
        kind, model, site, data, fresh, consumer,
        rows=lambda x: x.reshape(-1, x.shape[-1]),
        out_rows=lambda y: y.reshape(-1, y.shape[-1]),
        weight3=lambda: consumer.weight.detach().unsqueeze(2),
        activation=None,
        tensors={"gate_proj.weight": (0, 1), "up_proj.weight": (0, 1),
                 "down_proj.weight": (1, 1)},
        widths=[(model.gate_proj, "out_features", 1), (model.up_proj, "out_features", 1),
                (consumer, "in_features", 1)],
        rebuild=lambda w: build(w, consumer.bias is not None),
    )


CONV_MODULES = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d),
                2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d),
                3: (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, nn.AvgPool3d)}
"""Spatial dimensions → (convolution, BatchNorm, max pool, average pool)."""


def _conv_case(kind: str, n: int, seed: int, *, pool: str | None, kernel: Any = 3,
               padding: Any = 1, stride: Any = 1, dilation: Any = 1,
               activation: str = "relu", size: int = 8, consumer_bias: bool = True,
               dims: int = 2, instance_norm: bool = False) -> Case:
    c_in, m = 2, 3
    conv, norm, max_pool, avg_pool = CONV_MODULES[dims]
    if instance_norm:  # affine, with running statistics (what eval mode then uses)
        instance = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[dims]

        def norm(width: int) -> nn.Module:
            return instance(width, affine=True, track_running_stats=True)

    def build(width: int, bias: bool = consumer_bias) -> nn.Module:
        layers: list[nn.Module] = [conv(c_in, width, 3, padding=1), norm(width),
                                   _activation_module(activation)]
        if pool == "max":
            layers.append(max_pool(2))
        elif pool == "avg":
            layers.append(avg_pool(2))
        layers += [conv(width, m, kernel, padding=padding, stride=stride, dilation=dilation,
                        bias=bias), nn.Tanh()]
        return nn.Sequential(*layers).to(DTYPE)

    model = _fill(build(n), seed)
    data, fresh = _inputs((5, c_in) + (size,) * dims, seed)
    index = len(model) - 2
    consumer = model[index]
    site = conv_site("block", producer=model[0], consumer=consumer, between=(model[1],),
                     activation=activation, consumer_activation="tanh")
    tensors = {f"{index}.weight": (1, 1)}
    for name in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        tensors[name] = (0, 1)
    return Case(
        kind, model, site, data, fresh, consumer,
        rows=_channel_rows, out_rows=_channel_rows,
        weight3=lambda: consumer.weight.detach().reshape(m, consumer.weight.shape[1], -1),
        activation=torch.tanh, tensors=tensors,
        widths=[(model[0], "out_channels", 1), (model[1], "num_features", 1),
                (consumer, "in_channels", 1)],
        rebuild=lambda w: build(w, consumer.bias is not None),
        unfold={"kernel_size": kernel, "dilation": dilation, "padding": padding,
                "stride": stride, "dims": dims},
        options={"pool": pool, "kernel": kernel, "padding": padding, "stride": stride,
                 "dilation": dilation, "activation": activation, "bias": consumer_bias,
                 "dims": dims},
    )


def _flatten_case(kind: str, n: int, seed: int, *, activation: str = "relu",
                  pool: str | None = "max", dims: int = 2) -> Case:
    c_in, m, size = 2, 4, 6
    positions = (size // 2) ** dims if pool else size**dims
    conv, norm, max_pool, avg_pool = CONV_MODULES[dims]

    def build(width: int, bias: bool = True) -> nn.Module:
        layers: list[nn.Module] = [conv(c_in, width, 3, padding=1), norm(width),
                                   _activation_module(activation)]
        if pool == "max":
            layers.append(max_pool(2))
        elif pool == "avg":
            layers.append(avg_pool(2))
        layers += [nn.Flatten(), nn.Linear(width * positions, m, bias=bias), nn.Tanh()]
        return nn.Sequential(*layers).to(DTYPE)

    model = _fill(build(n), seed, scale=0.4)
    data, fresh = _inputs((12, c_in) + (size,) * dims, seed)
    index = len(model) - 2
    consumer = model[index]
    site = conv_site("last", producer=model[0], consumer=consumer, between=(model[1],),
                     activation=activation, consumer_activation="tanh",
                     flatten_block=positions)
    tensors = {f"{index}.weight": (1, positions)}
    for name in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        tensors[name] = (0, 1)

    def rows(x: torch.Tensor) -> torch.Tensor:  # (B, n·K) → (B·K, n), channel-major blocks
        width = x.shape[1] // positions
        return x.reshape(-1, width, positions).transpose(1, 2).reshape(-1, width)

    return Case(
        kind, model, site, data, fresh, consumer, rows=rows,
        out_rows=lambda y: y,
        weight3=lambda: consumer.weight.detach().reshape(m, -1, positions),
        activation=torch.tanh, tensors=tensors,
        widths=[(model[0], "out_channels", 1), (model[1], "num_features", 1),
                (consumer, "in_features", positions)],
        rebuild=lambda w: build(w, consumer.bias is not None),
        options={"positions": positions, "pool": pool, "activation": activation},
    )


class GPT2MLP(nn.Module):
    """GPT-2's MLP with Hugging Face's transposed Conv1D: c_proj(act(c_fc(x)))."""

    def __init__(self, d: int, width: int, activation: str) -> None:
        super().__init__()
        self.c_fc = Conv1D(width, d)
        self.act = _activation_module(activation)
        self.c_proj = Conv1D(d, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


def _conv1d_case(kind: str, n: int, seed: int, *, activation: str = "tanh") -> Case:
    if Conv1D is None:
        pytest.skip("transformers is not importable: no Hugging Face Conv1D to test")
    d = 8

    def build(width: int) -> nn.Module:
        return GPT2MLP(d, width, activation).to(DTYPE)

    model = _fill(build(n), seed)
    data, fresh = _inputs((6, 4, d), seed)
    consumer = model.c_proj
    site = linear_site("mlp", producer=model.c_fc, consumer=consumer, activation=activation)
    return Case(
        kind, model, site, data, fresh, consumer,
        rows=lambda x: x.reshape(-1, x.shape[-1]),
        out_rows=lambda y: y.reshape(-1, y.shape[-1]),
        weight3=lambda: consumer.weight.detach().T.unsqueeze(2),
        activation=None,
        tensors={"c_fc.weight": (1, 1), "c_fc.bias": (0, 1), "c_proj.weight": (0, 1)},
        widths=[(model.c_fc, "nf", 1), (consumer, "nx", 1)],
        rebuild=build,
    )


def _mlp_case(kind: str, seed: int, name: str) -> Case:
    def build(widths: list[int]) -> nn.Module:
        return build_mlp(widths=widths, activation="tanh").to(DTYPE)

    model = initialize(build([784, 100, 5, 10]), seed)
    g = _generator(seed)
    with torch.no_grad():  # non-zero biases, so ȳ and the bias compensation are not trivial
        for layer in model.layers:
            layer.bias.copy_(0.3 * torch.randn(layer.bias.shape, generator=g, dtype=DTYPE))
    model.eval()
    data = torch.rand(128, 784, generator=g, dtype=DTYPE)
    fresh = torch.rand(32, 784, generator=g, dtype=DTYPE)
    index = int(name.removeprefix("hidden"))
    site = model.neuroplast_sites()[name]
    consumer = model.layers[index]
    producer = model.layers[index - 1]

    def rebuild(width: int) -> nn.Module:
        widths = model.widths
        widths[index] = width
        return build(widths)

    return Case(
        kind, model, site, data, fresh, consumer,
        rows=lambda x: x.reshape(-1, x.shape[-1]),
        out_rows=lambda y: y.reshape(-1, y.shape[-1]),
        weight3=lambda: consumer.weight.detach().unsqueeze(2),
        activation=torch.tanh if index < len(model.layers) - 1 else None,
        tensors={f"layers.{index - 1}.weight": (0, 1), f"layers.{index - 1}.bias": (0, 1),
                 f"layers.{index}.weight": (1, 1)},
        widths=[(producer, "out_features", 1), (consumer, "in_features", 1)],
        rebuild=rebuild,
    )


KINDS = ("linear", "linear3d", "linear_nobias", "gated", "conv_pool", "conv_valid",
         "conv_geometry", "flatten", "conv_1d_geometry", "conv_3d", "flatten_1d",
         "conv_instance_norm", "conv1d", "mlp_hidden1", "mlp_hidden2")
CONV_KINDS = ("conv_pool", "conv_valid", "conv_geometry", "conv_1d_geometry", "conv_3d",
              "conv_instance_norm")


def draw_case(data: st.DataObject, kind: str, *, activation: str | None = None,
              min_width: int = 2) -> Case:
    """Draw a model of ``kind`` (seed, site width, geometry); ``activation`` overrides the
    site's default activation (``identity`` for linear dependences)."""
    seed = data.draw(st.integers(0, 2**20), label="seed")
    n = data.draw(st.integers(min_width, 6), label="width")
    act = {} if activation is None else {"activation": activation}
    if kind == "linear":
        return _linear_case(kind, n, seed, **act)
    if kind == "linear3d":
        return _linear_case(kind, n, seed, tokens=3, **act)
    if kind == "linear_nobias":
        return _linear_case(kind, n, seed, consumer_bias=False, **act)
    if kind == "gated":
        return _gated_case(kind, n, seed)
    if kind == "conv_pool":
        pool = "avg" if activation == "identity" else "max"  # max-pool is not linear
        return _conv_case(kind, n, seed, pool=pool, padding=1, **act)
    if kind == "conv_valid":
        return _conv_case(kind, n, seed, pool=None, padding=0, **act)
    if kind == "conv_geometry":
        pair = st.tuples
        kernel = data.draw(pair(st.integers(1, 3), st.integers(1, 3)), label="kernel")
        stride = data.draw(pair(st.integers(1, 2), st.integers(1, 2)), label="stride")
        dilation = data.draw(pair(st.integers(1, 2), st.integers(1, 2)), label="dilation")
        paddings = st.one_of(pair(st.integers(0, 2), st.integers(0, 2)),
                             st.sampled_from(["valid"] + (["same"] if stride == (1, 1) else [])))
        padding = data.draw(paddings, label="padding")
        bias = data.draw(st.booleans(), label="consumer bias")
        return _conv_case(kind, n, seed, pool=None, kernel=kernel, padding=padding,
                          stride=stride, dilation=dilation, size=7, consumer_bias=bias, **act)
    if kind == "conv_1d_geometry":
        kernel = data.draw(st.integers(1, 4), label="kernel")
        stride = data.draw(st.integers(1, 2), label="stride")
        dilation = data.draw(st.integers(1, 2), label="dilation")
        paddings = st.one_of(st.integers(0, 2),
                             st.sampled_from(["valid"] + (["same"] if stride == 1 else [])))
        padding = data.draw(paddings, label="padding")
        bias = data.draw(st.booleans(), label="consumer bias")
        return _conv_case(kind, n, seed, pool=None, kernel=kernel, padding=padding,
                          stride=stride, dilation=dilation, size=9, consumer_bias=bias,
                          dims=1, **act)
    if kind == "conv_3d":
        pool = "avg" if activation == "identity" else "max"
        return _conv_case(kind, n, seed, pool=pool, padding=(1, 0, 1), size=4, dims=3,
                          kernel=(3, 2, 2), stride=(1, 2, 1), **act)
    if kind == "conv_instance_norm":
        return _conv_case(kind, n, seed, pool=None, padding=1, instance_norm=True, **act)
    if kind == "flatten":
        pool = "avg" if activation == "identity" else "max"
        return _flatten_case(kind, n, seed, pool=pool, **act)
    if kind == "flatten_1d":
        return _flatten_case(kind, n, seed, pool=None, dims=1, **act)
    if kind == "conv1d":
        return _conv1d_case(kind, n, seed, **act)
    if kind == "mlp_hidden1":
        return _mlp_case(kind, seed, "hidden1")
    if kind == "mlp_hidden2":
        return _mlp_case(kind, seed, "hidden2")
    raise AssertionError(kind)


# == independent helpers ========================================================================
def capture(case: Case, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The consumer's input and output (pre-activation) on ``x``, by a hook written here."""
    seen: dict[str, torch.Tensor] = {}

    def hook(_module, inputs, output):
        seen["in"], seen["out"] = inputs[0].detach().clone(), output.detach().clone()

    handle = case.consumer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            case.model(x)
    finally:
        handle.remove()
    return seen["in"], seen["out"]


def output(case: Case, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return case.model(x).clone()


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float = TOL,
                 what: str = "") -> None:
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    error = float((actual - expected).abs().max()) if expected.numel() else 0.0
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert error <= tol * scale, f"{what}: max error {error:.3e} > {tol:g} × {scale:.3g}"


def slope(activation: Callable[[torch.Tensor], torch.Tensor] | None,
          y: torch.Tensor) -> torch.Tensor:
    """f'(y) by autograd (1 for no activation)."""
    if activation is None:
        return torch.ones_like(y)
    y = y.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(activation(y).sum(), y)
    return grad


def patches(case: Case, x_in: torch.Tensor) -> torch.Tensor:
    """The convolution consumer's input patches, zero padding included: (B, n·K, L), K the
    kernel's positions in the weight's order, L the output positions (F.unfold's layout, for
    any number of spatial dimensions, by ``Tensor.unfold`` along each)."""
    u = case.unfold
    dims = u["dims"]
    kernel, dilation, stride = (_tuple(u[key], dims) for key in ("kernel_size", "dilation",
                                                                  "stride"))
    if u["padding"] == "same":  # PyTorch puts the odd extra zero after
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        pad = [(t // 2, t - t // 2) for t in totals]
    elif u["padding"] == "valid":
        pad = [(0, 0)] * dims
    else:
        pad = [(p, p) for p in _tuple(u["padding"], dims)]
    x = F.pad(x_in, [p for pair in reversed(pad) for p in pair])
    for d in range(dims):  # each dim: (…, out_d) windows of the dilated kernel's extent
        extent = dilation[d] * (kernel[d] - 1) + 1
        x = x.unfold(2 + d, extent, stride[d])[..., ::dilation[d]]
    # (B, n, *out, *kernel) → (B, n, *kernel, *out) → (B, n·K, L)
    order = [0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims)]
    x = x.permute(order)
    return x.reshape(x.shape[0], x.shape[1] * math.prod(kernel), -1)


def _tuple(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * dims


def reference_efficiency(case: Case) -> torch.Tensor:
    """E_k = C_kk · Σ_i Σ_δ w_ikδ² f'(ȳ_i)² / C_ii (eq. 28) from this file's own statistics;
    terms of constant consumer outputs (C_ii ≤ 1e-12) are left out, as documented."""
    x_in, y = capture(case, case.data)
    rows, pre = case.rows(x_in), case.out_rows(y)
    post = pre if case.activation is None else case.activation(pre)
    c_kk = rows.var(0, unbiased=False)  # (n,)
    c_ii = post.var(0, unbiased=False)  # (m,)
    y_bar = pre.mean(0)  # (m,)
    gain = slope(case.activation, y_bar) ** 2  # (m,)
    squared = (case.weight3() ** 2).sum(dim=2)  # (m, n) Σ_δ w_ikδ²
    expected = torch.zeros(case.width, dtype=DTYPE)
    for i in range(pre.shape[1]):
        if c_ii[i] > 1e-12:
            expected += c_kk * squared[i] * gain[i] / c_ii[i]
    return expected


def entries(neurons: torch.Tensor, block: int) -> torch.Tensor:
    """Indices of ``neurons``' blocks along a dimension with ``block`` entries per neuron."""
    return (neurons.view(-1, 1) * block + torch.arange(block)).flatten()


def width_attributes(case: Case) -> dict[str, int]:
    return {f"{type(m).__name__}.{attr}": getattr(m, attr) // per for m, attr, per in
            case.widths}


def check_widths(case: Case, width: int) -> None:
    """Every integer width attribute, every tensor along the site's axis, the site and the
    module tree agree with a model built at ``width``."""
    assert case.site.width == width
    assert set(width_attributes(case).values()) == {width}, width_attributes(case)
    state = case.model.state_dict()
    for key, (dim, block) in case.tensors.items():
        assert state[key].shape[dim] == width * block, (key, state[key].shape)
    fresh = case.rebuild(width)
    assert repr(fresh) == repr(case.model)  # Linear/Conv/BN/Conv1D reprs print their widths
    fresh.load_state_dict(state)  # strict: every parameter and buffer has the fresh shape


RIDGE_LIMITED = 1e-4
"""How far lstsq or obs may miss an exact relation when the surviving neurons are themselves
nearly dependent. Their inverse carries a ridge δ = 1e-10 · mean of its diagonal (for
constant neurons). lstsq's one refinement step leaves a relative bias (δ/(λ+δ))² along an
eigen-direction λ of the survivors' covariance, obs (no refinement, ZipLM's update to the
letter) δ/(λ+δ) along one of their uncentred second moment: exact to rounding when λ_min ≫ δ,
but off by O(1) along a direction with λ ~ δ, where the function changes by ~sqrt(δ)."""


def removal_tolerance(rows: torch.Tensor, survivors: list[int], rule: str) -> float:
    """The precision an exact relation is reproduced with by ``rule`` (lstsq or obs), from
    λ_min of the survivors' covariance (lstsq) or second moment (obs) computed here:
    max(1e-9, 100 (δ/λ_min)²) for lstsq, max(1e-9, 1e4 δ/λ_min) for obs, at most
    RIDGE_LIMITED (the factors cover the weights and values the relation error multiplies).
    Survivors that are 0 on every row (lstsq: constant) are left out: the ridge decouples
    them exactly."""
    if rule == "lstsq":
        moment = torch.cov(rows.T, correction=0)
    else:
        moment = rows.T @ rows / rows.shape[0]
    delta = 1e-10 * float(moment.diagonal().mean())
    index = torch.tensor([j for j in survivors if moment[j, j] > 0], dtype=torch.long)
    if index.numel() == 0:
        return 1e-9
    smallest = float(torch.linalg.eigvalsh(moment[index][:, index])[0])
    ratio = delta / max(smallest, 1e-300)
    bound = 100 * ratio**2 if rule == "lstsq" else 1e4 * ratio
    tol = min(RIDGE_LIMITED, max(1e-9, bound))
    event(f"{rule}: " + ("exact to 1e-9" if tol == 1e-9 else "ridge-limited"
                         if tol == RIDGE_LIMITED else "ridge bias"))
    return tol


def distinct(data: st.DataObject, width: int, low: int, high: int, label: str) -> list[int]:
    return data.draw(st.lists(st.integers(0, width - 1), min_size=low, max_size=high,
                              unique=True), label=label)


# == statistics =================================================================================
@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_statistics_equal_an_independent_float64_computation(kind, data):
    case = draw_case(data, kind)
    x_in, y = capture(case, case.data)
    rows = case.rows(x_in)  # (rows, n)
    pre = case.out_rows(y)  # (rows, m)
    post = pre if case.activation is None else case.activation(pre)
    batch = data.draw(st.integers(1, case.data.shape[0]), label="batch_size")

    stats = collect_site_statistics(case.model, case.site, case.data, covariance=True,
                                    batch_size=batch)
    whole = collect_site_statistics(case.model, case.site, case.data, covariance=True,
                                    batch_size=case.data.shape[0])
    cut = data.draw(st.integers(1, case.data.shape[0] - 1), label="uneven batches")
    loader = [(case.data[:cut], None), (case.data[cut:], None)]  # (input, target) batches
    uneven = collect_site_statistics(case.model, case.site, loader, covariance=True)

    assert stats.count == rows.shape[0] == whole.count
    assert_close(stats.mean, rows.mean(0), 1e-12, "mean")
    assert_close(stats.var, rows.var(0, unbiased=False), 1e-12, "var")
    assert_close(stats.cov, torch.cov(rows.T, correction=0).reshape(stats.cov.shape), 1e-12,
                 "cov")
    assert_close(stats.consumer_mean, post.mean(0), 1e-12, "consumer mean")
    assert_close(stats.consumer_var, post.var(0, unbiased=False), 1e-12, "consumer var")
    # ȳ_i is the exact mean of the consumer's pre-activation (eq. 24), zero padding included
    assert_close(stats.consumer_preactivation_at_mean, pre.mean(0), 1e-12, "ȳ")
    for name in ("mean", "var", "cov", "consumer_mean", "consumer_var",
                 "consumer_preactivation_at_mean"):  # batch-size invariance
        assert_close(getattr(stats, name), getattr(whole, name), 1e-12, f"{name} by batch")
        assert_close(getattr(uneven, name), getattr(whole, name), 1e-12, f"{name} uneven")
    if case.unfold is not None:  # per-offset means as the convolution reads them
        cols = patches(case, x_in)  # (B, n·K, L), zero padding included
        weight = case.weight3().reshape(y.shape[1], -1)  # (m, n·K)
        again = torch.einsum("mc,bcl->bml", weight, cols)
        if case.has_consumer_bias:
            again = again + case.consumer.bias.detach().view(1, -1, 1)
        assert_close(again, y.reshape(again.shape), 1e-12, "patches reproduce the conv")
        offsets = cols.mean(dim=(0, 2)).reshape(case.width, -1)  # (n, K)
        assert_close(stats.offset_mean, offsets, 1e-12, "offset means")
    elif kind.startswith("flatten"):
        positions = case.options["positions"]
        assert_close(stats.offset_mean, x_in.reshape(-1, case.width, positions).mean(0),
                     1e-12, "offset means")
    else:
        assert stats.offset_mean is None


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_connection_cut_efficiency_matches_eq_28(kind, data):
    case = draw_case(data, kind)
    expected = reference_efficiency(case)
    stats = collect_site_statistics(case.model, case.site, case.data)
    actual = connection_cut_efficiency(case.model, case.site, stats)
    assert_close(actual, expected, 1e-9, "E_k")
    assert (actual >= 0).all()


# == replication ================================================================================
@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_replication_b1_b2_b3_keep_the_function_and_copy_the_parents(kind, data):
    case = draw_case(data, kind)
    width = case.width
    method = data.draw(st.sampled_from(["B1", "B2", "B3"]), label="method")
    explicit = data.draw(st.booleans(), label="explicit parents")
    before = {key: t.clone() for key, t in case.model.state_dict().items()}
    out_data, out_fresh = output(case, case.data), output(case, case.fresh)
    old_weight = case.weight3().clone()
    reference = reference_efficiency(case)
    if explicit:
        parents = distinct(data, width, 1, width, "parents")
        result = replicate(case.model, case.site, parents, method=method, seed=3)
    else:
        k = data.draw(st.integers(1, width), label="n")
        measure = data.draw(st.sampled_from(["connection", "covariance"]), label="measure")
        result = replicate(case.model, case.site, n=k, method=method, measure=measure,
                           data=case.data, seed=3)
        parents = result.parents.tolist()
        assert len(parents) == k and len(set(parents)) == k
        scores = result.parent_efficiency
        assert (scores[:-1] >= scores[1:]).all()  # most efficient first
        if measure == "connection":  # the k largest E_k of eq. 28
            assert_close(scores, reference[result.parents], 1e-9, "parents' E_k")
            others = [j for j in range(width) if j not in parents]
            if others:
                assert float(reference[others].max()) <= float(scores.min()) * (1 + 1e-9) + 1e-15
    k = len(parents)
    assert result.width_after == width + k
    assert result.children.tolist() == list(range(width, width + k))
    check_widths(case, width + k)

    after = case.model.state_dict()
    p = torch.tensor(parents)
    for key, (dim, block) in case.tensors.items():
        old, new = before[key], after[key]
        keep = torch.arange(width * block)
        if key == case.consumer_key:
            continue  # the consumer's columns are checked below
        # the child copies every upstream entry of its parent (producer rows and bias,
        # BatchNorm scale, shift and running statistics), the rest is untouched (eq. 45)
        assert torch.equal(new.index_select(dim, keep), old), key
        assert torch.equal(new.index_select(dim, entries(torch.arange(width, width + k), block)),
                           old.index_select(dim, entries(p, block))), key
    new_weight = case.weight3()  # (m, n + k, K)
    others = torch.tensor([j for j in range(width) if j not in parents], dtype=torch.long)
    assert torch.equal(new_weight[:, others], old_weight[:, others])
    # parent + child reproduce the parent's old outgoing weights (eq. 47), per output channel
    assert_close(new_weight[:, p] + new_weight[:, width:], old_weight[:, p], 1e-15, "eq. 47")
    chi = result.chi  # (k, m): one χ per consumer channel, shared by every offset
    assert_close(new_weight[:, p], chi.T.unsqueeze(2) * old_weight[:, p], 1e-15, "eq. 48")

    assert_close(output(case, case.data), out_data, TOL, "output on the data")
    assert_close(output(case, case.fresh), out_fresh, TOL, "output on fresh inputs")


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_replication_b4_changes_the_output_and_b5_changes_nothing(kind, data):
    case = draw_case(data, kind)
    width = case.width
    k = data.draw(st.integers(1, 3), label="n")
    before = {key: t.clone() for key, t in case.model.state_dict().items()}
    out = output(case, case.fresh)

    result = replicate(case.model, case.site, n=k, method="B5", seed=1)
    assert result.width_after == width and result.children.numel() == 0
    check_widths(case, width)
    after = case.model.state_dict()
    assert all(torch.equal(after[key], before[key]) for key in before)
    assert torch.equal(output(case, case.fresh), out)

    result = replicate(case.model, case.site, n=k, method="B4", seed=1)
    assert result.width_after == width + k
    check_widths(case, width + k)
    change = float((output(case, case.fresh) - out).abs().max())
    assert change > 1e-6, f"B4 added {k} random neurons but the output moved by {change:.1e}"


# == death ======================================================================================
def _with_bias(case: Case, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Re-wiring moves the consumer's bias: give a bias-free consumer a zero one first, and
    check that this alone changes nothing."""
    if case.has_consumer_bias:
        return
    out = output(case, case.fresh)
    assert case.site.add_consumer_bias(optimizer)
    assert torch.equal(case.consumer.bias, torch.zeros_like(case.consumer.bias))
    assert torch.equal(output(case, case.fresh), out)


def _mean_preactivation(case: Case) -> torch.Tensor:
    return case.out_rows(capture(case, case.data)[1]).mean(0)  # (m,)


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_removal_keeps_the_mean_consumer_preactivation_exact(kind, data):
    """A1 (x_l → ⟨x_l⟩) and the relations whose a_0 is Σ_j a_j⟨x_j⟩ (A2, A3, lstsq) keep every
    consumer pre-activation's mean over the calibration data, zero padding included."""
    case = draw_case(data, kind)
    rule = data.draw(st.sampled_from(["A1", "A1", "A2", "A3", "lstsq"]), label="rule")
    width = case.width
    dying = distinct(data, width, 1, width - 1, "dying")
    _with_bias(case)
    before = _mean_preactivation(case)
    stats = collect_site_statistics(case.model, case.site, case.data, covariance=True)

    rewirer = Rewirer(case.model, case.site, stats, rule)
    rewirer.remove_many(dying)
    rewirer.write(case.model)  # dead neurons' columns are zero: already the pruned function
    written = output(case, case.fresh)
    kept = rewirer.commit(case.model)
    assert_close(output(case, case.fresh), written, 1e-12, "commit computes what write did")

    assert kept.tolist() == [j for j in range(width) if j not in dying]
    check_widths(case, width - len(dying))
    assert_close(_mean_preactivation(case), before, 1e-9, f"mean pre-activation ({rule})")


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_lstsq_and_obs_remove_a_duplicate_neuron_without_changing_the_output(kind, data):
    """Duplicates made by B1 (the child computes exactly its parent's value, also at a
    convolution's zero-padded border, where both read 0) are removed exactly by lstsq and by
    structured OBS (a relation through the origin, no bias change), whichever of the pair
    dies."""
    case = draw_case(data, kind)
    rule = data.draw(st.sampled_from(["lstsq", "lstsq", "obs"]), label="rule")
    width = case.width
    parents = distinct(data, width, 1, min(width, 3), "parents")
    replicate(case.model, case.site, parents, method="B1", seed=5)
    grown = case.width
    children = list(range(width, grown))
    pairs = list(zip(parents, children, strict=True))
    dying = [data.draw(st.sampled_from(pair), label="dies") for pair in pairs]
    if rule == "lstsq":
        _with_bias(case)
    bias = None if not case.has_consumer_bias else case.consumer.bias.detach().clone()
    out_data, out_fresh = output(case, case.data), output(case, case.fresh)
    rows = case.rows(capture(case, case.data)[0])

    stats = collect_site_statistics(case.model, case.site, case.data, covariance=True)
    rewirer = Rewirer(case.model, case.site, stats, rule)
    rewirer.remove_many(dying)
    rewirer.commit(case.model)

    check_widths(case, width)
    if rule == "obs":  # ZipLM never touches the bias
        assert (bias is None and not case.has_consumer_bias) or torch.equal(
            case.consumer.bias, bias)
    survivors = [j for j in range(grown) if j not in dying]
    tol = removal_tolerance(rows, survivors, rule)
    assert_close(output(case, case.data), out_data, tol, "output on the data")
    if bool((rows[:, dying].var(0) > 0).all()):
        # a pair constant on the data (a ReLU channel dead there) is replaced by its constant,
        # which is exact on the data only: its twin is as good a regressor as the intercept
        assert_close(output(case, case.fresh), out_fresh, tol, "output on fresh inputs")


def make_dependent(case: Case, l: int, coefficients: dict[int, float], constant: float) -> None:
    """Rewrite neuron l's producer so that its value is Σ_j a_j x_j + c at every row
    (the site's activation is the identity; ``gated`` shares one gate row, so c must be 0)."""
    model = case.model
    js = torch.tensor(list(coefficients), dtype=torch.long)
    a = torch.tensor(list(coefficients.values()), dtype=DTYPE)
    with torch.no_grad():
        if case.kind.startswith("linear"):
            producer = model[0]
            producer.weight[l] = a @ producer.weight[js]
            producer.bias[l] = a @ producer.bias[js] + constant
        elif case.kind == "conv1d":
            producer = model.c_fc
            producer.weight[:, l] = producer.weight[:, js] @ a
            producer.bias[l] = a @ producer.bias[js] + constant
        elif case.kind == "gated":
            assert constant == 0.0
            shared = model.gate_proj.weight[js[0]].clone()
            model.gate_proj.weight[l] = shared
            model.gate_proj.weight[js] = shared
            model.up_proj.weight[l] = a @ model.up_proj.weight[js]
        else:  # Conv2d → eval BatchNorm: x_j = s_j · conv_j + t_j
            conv, bn = model[0], model[1]
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (n,)
            t = s * (conv.bias - bn.running_mean) + bn.bias  # (n,)
            conv.weight[l] = torch.einsum("j,j...->...", a * s[js], conv.weight[js]) / s[l]
            target = a @ t[js] + constant  # the wanted t_l
            conv.bias[l] = (target - bn.bias[l]) / s[l] + bn.running_mean[l]
    x_in, _ = capture(case, case.data)
    rows = case.rows(x_in)
    assert_close(rows[:, l], rows[:, js] @ a + constant, 1e-12, "constructed dependence")


LINEAR_DEPENDENCE_KINDS = tuple(k for k in KINDS if not k.startswith("mlp"))


@pytest.mark.parametrize("kind", LINEAR_DEPENDENCE_KINDS)
@PROPERTY
@given(data=st.data())
def test_lstsq_and_obs_remove_an_exact_linear_combination(kind, data):
    """x_l = Σ_j a_j x_j + c exactly (identity activation): lstsq finds the relation and the
    function is unchanged; so does structured OBS (obs) for c = 0, a relation through the
    origin, which holds at zero padding too. The exception, lstsq with c ≠ 0 where a
    convolution reads zero padding: there
    the substitution would need a position-dependent bias c Σ_δ w_ilδ [r + δ inside], and the
    rewirer uses its mean over positions (per-offset means, so the mean pre-activation stays
    exact). The pre-activation then moves by exactly c Σ_δ w_ilδ (ρ_δ − [r + δ inside]),
    ρ_δ the fraction of positions whose offset δ is inside — at the border *and* in the
    interior. A homogeneous relation (c = 0) and a duplicate are exact everywhere."""
    case = draw_case(data, kind, activation="identity", min_width=3)
    width = case.width
    l = data.draw(st.integers(0, width - 1), label="dies")
    others = [j for j in range(width) if j != l]
    support = data.draw(st.lists(st.sampled_from(others), min_size=1, max_size=len(others),
                                 unique=True), label="support")
    coefficient = st.floats(0.25, 2.0).flatmap(lambda v: st.sampled_from([v, -v]))
    coefficients = {j: data.draw(coefficient, label=f"a_{j}") for j in support}
    constant = 0.0 if kind == "gated" else data.draw(
        st.sampled_from([0.0, 0.0, 0.7, -1.3]), label="c")
    rule = "lstsq" if constant else data.draw(st.sampled_from(["lstsq", "obs"]), label="rule")
    make_dependent(case, l, coefficients, constant)
    if rule == "lstsq":
        _with_bias(case)
    x_in, y_before = capture(case, case.data)
    column = case.weight3()[:, l].clone()  # (m, K) w_ilδ
    out_data, out_fresh = output(case, case.data), output(case, case.fresh)

    stats = collect_site_statistics(case.model, case.site, case.data, covariance=True)
    rewirer = Rewirer(case.model, case.site, stats, rule)
    relation = rewirer.relation(l)
    tol = removal_tolerance(case.rows(x_in), others, rule)
    if tol < 1e-6:  # the regression is determined: it is the constructed relation
        expected = torch.zeros(width, dtype=DTYPE)
        expected[l] = 1.0
        for j, a_j in coefficients.items():
            expected[j] = -a_j
        assert_close(relation.coefficients / relation.coefficients[l], expected, 1e-7,
                     "relation")
    rewirer.remove(l, relation)
    rewirer.commit(case.model)
    check_widths(case, width - 1)
    _, y_after = capture(case, case.data)

    if case.unfold is None:
        shift = torch.zeros_like(y_before)
    else:
        ones = torch.ones((1, 1) + tuple(x_in.shape[2:]), dtype=DTYPE)
        inside = patches(case, ones)[0]  # (K, L) 1 where offset δ of position r is inside
        rho = inside.mean(dim=1, keepdim=True)  # (K, 1)
        shift = constant * column @ (rho - inside)  # (m, L)
        shift = shift.reshape(y_before.shape[1:]).expand_as(y_before)
    assert_close(y_after - y_before, shift, tol, "consumer pre-activation change")
    change = case.out_rows(y_after - y_before)
    exact_mean = 1e-9 if rule == "lstsq" else tol  # a_0 = Σ_j a_j⟨x_j⟩ (obs: a_0 = 0)
    assert_close(change.mean(0), torch.zeros(change.shape[1], dtype=DTYPE), exact_mean,
                 "mean change")
    if not bool(shift.any()):
        assert_close(output(case, case.data), out_data, tol, "output on the data")
        assert_close(output(case, case.fresh), out_fresh, tol, "output on fresh inputs")


# == surgery and optimizers =====================================================================
OPTIMIZERS: dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd-momentum": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9,
                                                   weight_decay=1e-3),
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
    "adamw": lambda params: torch.optim.AdamW(params, lr=0.01, weight_decay=0.1),
}


def _loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return (out**2).mean() + out.mean()


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> None:
    optimizer.zero_grad()
    _loss(model, x).backward()
    optimizer.step()


def _state_by_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict]:
    names = {p: n for n, p in model.named_parameters()}
    return {names[p]: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
            for p, state in optimizer.state.items() if state}


def _surgery(case: Case, data: st.DataObject, optimizer: torch.optim.Optimizer,
             ) -> tuple[int, Callable[[torch.Tensor, int, int], torch.Tensor]]:
    """Prune (a drawn rule, drawn neurons) or replicate (a drawn method, drawn parents) with
    ``optimizer``; returns the new width and how a tensor along the site's axis changed."""
    width = case.width
    if width > 1 and data.draw(st.booleans(), label="prune"):
        rule = data.draw(st.sampled_from(["A1", "A2", "A3", "lstsq"]), label="rule")
        dying = distinct(data, width, 1, width - 1, "dying")
        _with_bias(case, optimizer)
        stats = collect_site_statistics(case.model, case.site, case.data, covariance=True)
        rewirer = Rewirer(case.model, case.site, stats, rule)
        rewirer.remove_many(dying)
        keep = rewirer.commit(case.model, optimizer)
        assert keep.tolist() == [j for j in range(width) if j not in dying]
        return width - len(dying), lambda t, dim, block: t.index_select(dim, entries(keep, block))
    method = data.draw(st.sampled_from(["B1", "B2", "B3", "B4"]), label="method")
    parents = distinct(data, width, 1, min(width, 4), "parents")
    replicate(case.model, case.site, parents, method=method, seed=2, optimizer=optimizer)

    def append_zeros(t: torch.Tensor, dim: int, block: int) -> torch.Tensor:
        shape = list(t.shape)
        shape[dim] = len(parents) * block
        return torch.cat([t, torch.zeros(shape, dtype=t.dtype)], dim=dim)

    return width + len(parents), append_zeros


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_optimizer_after_surgery_steps_as_a_model_built_at_the_new_width(kind, data):
    """One to three rounds of: prune (Rewirer + commit) or replicate with an optimizer that has
    state, while the graph of an earlier forward is still alive; the optimizer's state must be
    the old state resized here (kept neurons' entries selected, new neurons' entries zero), and
    one step must equal the step of a model built at the new width, loaded with the same
    weights, whose optimizer holds that state."""
    case = draw_case(data, kind)
    optimizer_name = data.draw(st.sampled_from(sorted(OPTIMIZERS)), label="optimizer")
    optimizer = OPTIMIZERS[optimizer_name](case.model.parameters())
    x = case.data
    for _ in range(2):
        _step(case.model, optimizer, x)
    for _ in range(data.draw(st.integers(1, 3), label="rounds")):
        old_shapes = {n: p.shape for n, p in case.model.named_parameters()}
        old_state = _state_by_name(case.model, optimizer)
        stale = _loss(case.model, x)  # a graph of the old shapes, alive across the surgery
        new_width, resize = _surgery(case, data, optimizer)

        check_widths(case, new_width)
        params = dict(case.model.named_parameters())
        held = {p for group in optimizer.param_groups for p in group["params"]}
        assert held == set(params.values())  # the optimizer holds the model's parameters
        expected = {}
        for name, state in old_state.items():
            dim, block = case.tensors.get(name, (None, 1))
            expected[name] = {
                key: resize(value, dim, block)
                if dim is not None and torch.is_tensor(value) and value.shape == old_shapes[name]
                else value
                for key, value in state.items()
            }
        actual = _state_by_name(case.model, optimizer)
        assert set(actual) == set(expected)
        for name, state in expected.items():
            assert set(actual[name]) == set(state)
            for key, value in state.items():
                assert torch.equal(actual[name][key], value), (name, key)

        reference = case.rebuild(new_width).train(case.model.training)
        reference.load_state_dict(case.model.state_dict())
        reference_params = dict(reference.named_parameters())
        names = {p: n for n, p in params.items()}
        ordered = [reference_params[names[p]] for group in optimizer.param_groups
                   for p in group["params"]]
        reference_optimizer = OPTIMIZERS[optimizer_name](ordered)
        for name, state in expected.items():
            reference_optimizer.state[reference_params[name]] = {
                k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}

        _step(case.model, optimizer, x)  # backward works although `stale` is alive
        _step(reference, reference_optimizer, x)
        del stale
        for name, p in reference.named_parameters():
            assert_close(params[name].detach(), p.detach(), 1e-13, f"{name} after a step")
        stepped = _state_by_name(case.model, optimizer)
        for name, state in _state_by_name(reference, reference_optimizer).items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    assert_close(stepped[name][key], value, 1e-13, f"{name} {key} after a step")


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_keeping_a_permutation_of_the_neurons_is_a_symmetry(kind, data):
    """Site.keep(π) reorders every tensor along the site's axis by the same π (producer rows,
    BatchNorm entries and running statistics, gate and up rows, the consumer's columns or
    H·W blocks): the function is unchanged; keep(subset) equals zeroing the others' columns."""
    case = draw_case(data, kind)
    width = case.width
    order = data.draw(st.permutations(range(width)), label="order")
    out = output(case, case.fresh)
    before = {key: t.clone() for key, t in case.model.state_dict().items()}
    case.site.keep(order)
    check_widths(case, width)
    after = case.model.state_dict()
    for key, (dim, block) in case.tensors.items():
        assert torch.equal(after[key], before[key].index_select(
            dim, entries(torch.tensor(order), block))), key
    assert_close(output(case, case.fresh), out, 1e-12, "output after a permutation")

    kept = distinct(data, width, 1, width, "kept")
    with torch.no_grad():  # the reference: the other neurons' consumer columns set to zero
        reference = copy.deepcopy(case.model)
        key = case.consumer_key
        dim, block = case.tensors[key]
        weight = reference.state_dict()[key]
        dropped = torch.tensor([j for j in range(width) if j not in kept], dtype=torch.long)
        weight.index_fill_(dim, entries(dropped, block), 0.0)
        expected = reference(case.fresh)
    case.site.keep(kept)
    check_widths(case, len(kept))
    assert_close(output(case, case.fresh), expected, 1e-12, "output after keep(subset)")


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(data=st.data())
def test_b4_draws_new_neurons_from_the_initialisers_distribution(kind, data):
    """B4's new neurons: every weight tensor's new entries ~ N(0, σ²) with σ the Xavier-normal
    std of that tensor's shape before growing (fans as PyTorch computes them, the transposed
    Conv1D swapped), biases 0, BatchNorm entries as a fresh BatchNorm's (1, 0, 0, 1)."""
    case = draw_case(data, kind)
    width, k = case.width, 60
    before = {key: t.clone() for key, t in case.model.state_dict().items()}
    replicate(case.model, case.site, n=k, method="B4", seed=data.draw(st.integers(0, 99)))
    after = case.model.state_dict()
    fresh = {"bias": 0.0, "running_mean": 0.0, "running_var": 1.0}
    for key, (dim, block) in case.tensors.items():
        old, new = before[key], after[key]
        assert torch.equal(new.narrow(dim, 0, width * block), old), key  # the rest kept
        added = new.narrow(dim, width * block, k * block)
        module = case.model.get_submodule(key.rpartition(".")[0])
        leaf = key.rpartition(".")[2]
        if isinstance(module, NORMS):
            value = 1.0 if leaf in ("weight", "running_var") else 0.0
            assert torch.equal(added, torch.full_like(added, value)), key
        elif leaf in fresh:
            assert torch.equal(added, torch.full_like(added, fresh[leaf])), key
        else:
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(old)
            if Conv1D is not None and isinstance(module, Conv1D):  # stored (in, out)
                fan_in, fan_out = fan_out, fan_in
            sigma = math.sqrt(2.0 / (fan_in + fan_out))
            count = added.numel()
            assert abs(float(added.mean())) <= 6 * sigma / math.sqrt(count), key
            ratio = float(added.std(unbiased=False)) / sigma
            assert abs(ratio - 1.0) <= 6 / math.sqrt(2 * count), (key, ratio)
