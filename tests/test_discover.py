"""Tests for site discovery (neuroplast.sites.discover): which sites are found on hand-made and
third-party models, why every other layer is refused, and that every site found is one (B1
replication leaves the model's output unchanged; removing an exact duplicate with lstsq too).
"""

from __future__ import annotations

import copy

import pytest
import torch
from thirdparty import import_torchvision_models, import_transformers
from torch import nn

import neuroplast
from neuroplast import MLP, build_mlp, explain_sites, find_sites
from neuroplast.death.rules import Rewirer
from neuroplast.errors import NeuroplastError
from neuroplast.replication.split import replicate
from neuroplast.sites import Discovery, Site, resolve_site
from neuroplast.sites.registry import is_layer
from neuroplast.sites.trace import tensors_in
from neuroplast.stats import collect_site_statistics

TOLERANCE = 1e-10


# -- hand-made models ----------------------------------------------------------------------------
def sequential_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3))


class FFN(nn.Module):
    """fc1 → GELU → Dropout → fc2, as a transformer's feed-forward block."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.drop = nn.Linear(6, 12), nn.GELU(), nn.Dropout(0.1)
        self.fc2 = nn.Linear(12, 6)

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x))))


class GatedFFN(nn.Module):
    """down(act(gate(x)) · up(x)), bias-free; ``up_first`` computes up before gate."""

    def __init__(self, up_first: bool = False) -> None:
        super().__init__()
        self.gate = nn.Linear(6, 10, bias=False)
        self.up = nn.Linear(6, 10, bias=False)
        self.down = nn.Linear(10, 6, bias=False)
        self.act = nn.SiLU()
        self.up_first = up_first

    def forward(self, x):
        if self.up_first:
            up = self.up(x)
            return self.down(up * self.act(self.gate(x)))
        return self.down(self.act(self.gate(x)) * self.up(x))


class FunctionalMLP(nn.Module):
    """Activations as functions, not modules: tanh(fc1) → fc2 → tanh → fc3."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 8), nn.Linear(8, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
    )


def adaptive_pool_cnn() -> nn.Sequential:
    """VGG's head in small: a 2×2 map average-pooled up to 3×3, flattened."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
                         nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Linear(4 * 9, 5))


class Residual(nn.Module):
    """c(relu(b(h)) + h) with h = relu(a(x))."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.c(torch.relu(self.b(h)) + h)


def depthwise_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(4, 5, 1))


class Normed(nn.Module):
    """fc1 → LayerNorm → fc2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.norm, self.fc2 = nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.norm(self.fc1(x)))


class Concat(nn.Module):
    """fc(cat(relu(a(x)), relu(b(x))))."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.fc = nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(10, 3)

    def forward(self, x):
        return self.fc(torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], dim=-1))


class Attention(nn.Module):
    """Single-head self-attention, then tanh(out) → fc."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.out, self.fc = nn.Linear(8, 8), nn.Linear(8, 4)

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(-1, -2) / 8**0.5
        return self.fc(torch.tanh(self.out(torch.softmax(scores, dim=-1) @ self.v(x))))


class TwoHeads(nn.Module):
    """fc1's channels read by two layers: head1(h) + head2(h)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.head1, self.head2 = nn.Linear(6, 8), nn.Linear(8, 3), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        return self.head1(h) + self.head2(h)


class Scaled(nn.Module):
    """fc2(relu(fc1(x)) · scale) with a per-channel parameter used outside any submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 3)
        self.scale = nn.Parameter(torch.ones(8))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)) * self.scale)


class PReLUBetween(nn.Module):
    """fc1 → PReLU(8) (per-channel slopes neuroplast does not resize) → fc2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(6, 8), nn.PReLU(8), nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Shared(nn.Module):
    """The same Linear applied twice."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.out = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.out(torch.relu(self.fc(torch.relu(self.fc(x)))))


class Noisy(nn.Module):
    """Samples noise even in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)) + torch.rand(6))


def vectors(rows: int = 4, width: int = 6) -> torch.Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(1))


def images(size: int = 8) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))


def sequences(width: int = 8) -> torch.Tensor:
    return torch.randn(2, 5, width, generator=torch.Generator().manual_seed(3))


def build(factory, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return factory().double().eval()


def explain(model: nn.Module, example: torch.Tensor) -> Discovery:
    if example.is_floating_point():
        example = example.double()
    return explain_sites(model, example)


def summary(discovery: Discovery) -> list[tuple[str, str, int, str]]:
    """(name, kind, width, consumer class) of every site."""
    return [(s.name, s.kind, s.width, type(s.consumer).__name__) for s in discovery.sites]


def patterns(discovery: Discovery) -> dict[str, str]:
    return {s.module: s.pattern for s in discovery.skipped}


class TiedLayers(nn.Module):
    """``extra`` shares ``a``'s weight (``extra.weight = a.weight``): two heads on one input."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 16), nn.Linear(16, 3)
        self.extra, self.head = nn.Linear(8, 16), nn.Linear(16, 3)
        self.extra.weight = self.a.weight
        self.c, self.d = nn.Linear(8, 6), nn.Linear(6, 3)  # an untied site beside them

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.b(torch.tanh(self.a(x))) + self.head(torch.relu(self.extra(x)))
                + self.d(torch.tanh(self.c(x))))


def test_layers_with_tied_parameters_are_refused_with_the_partner_named():
    """Resizing a producer whose weight another layer also uses would leave the partner with
    the old shape (a hostile user's tied model crashed after the surgery): refused, the
    untied site beside them offered."""
    model = build(TiedLayers)
    found = explain(model, vectors(width=8))
    assert summary(found) == [("c", "linear", 6, "Linear")]
    assert patterns(found)["a"] == patterns(found)["extra"] == "shared"
    assert "its parameters are also extra's (tied weights" in found.reason("a")
    assert "its parameters are also a's (tied weights" in found.reason("extra")
    assert_accounts_for_every_layer(model, found)


def upstream_modules(site: Site) -> list[nn.Module]:
    out: list[nn.Module] = []
    for axis in site.upstream:
        if not any(m is axis.module for m in out):
            out.append(axis.module)
    return out


def assert_accounts_for_every_layer(model: nn.Module, discovery: Discovery) -> None:
    names = {m: n for n, m in model.named_modules()}
    offered = {names[p] for s in discovery.sites for p in s.producers}
    refused = {s.module for s in discovery.skipped}
    layers = {n for n, m in model.named_modules() if is_layer(m)}
    assert offered | refused == layers
    assert not offered & refused


def output(model: nn.Module, example) -> torch.Tensor:
    with torch.no_grad():
        return tensors_in(model(example))[0]


def assert_replication_preserves(model: nn.Module, sites: list[Site], example) -> None:
    """B1 on the two most efficient neurons (E_k from statistics on the example) of every
    site: the model's output is unchanged and the site two neurons wider."""
    before = output(model, example)
    for site in sites:
        width = site.width
        result = replicate(model, site, n=2, method="B1", data=example, seed=1)
        assert result.parents.numel() == 2 and result.measure == "connection"
        assert site.width == width + 2, site.name
        after = output(model, example)
        assert (after - before).abs().max().item() < TOLERANCE, site.name


def make_duplicate(site: Site, source: int, target: int) -> None:
    """Neuron ``target`` becomes an exact copy of neuron ``source`` (upstream entries)."""
    with torch.no_grad():
        for axis in site.upstream:
            tensor = axis.tensor
            tensor.index_copy_(axis.dim, axis.entries(torch.tensor([target])),
                               tensor.index_select(axis.dim, axis.entries(torch.tensor([source]))))


def assert_duplicate_removal_preserves(model: nn.Module, site: Site, example) -> None:
    make_duplicate(site, 0, site.width - 1)
    site.add_consumer_bias()
    before = output(model, example)
    stats = collect_site_statistics(model, site, example, covariance=True)
    rewirer = Rewirer(model, site, stats, "lstsq")
    width = site.width
    rewirer.remove(width - 1)
    rewirer.commit()
    assert site.width == width - 1
    assert (output(model, example) - before).abs().max().item() < 1e-9, site.name


# -- which sites, which refusals -----------------------------------------------------------------
def test_sequential_mlp():
    model = build(sequential_mlp)
    found = explain(model, vectors())
    assert summary(found) == [("0", "linear", 7, "Linear"), ("2", "linear", 5, "Linear")]
    first, second = found.sites
    assert first.producer is model[0] and first.consumer is model[2]
    assert second.producer is model[2] and second.consumer is model[4]
    assert first.activation.name == "tanh" and second.activation.name == "tanh"
    assert first.consumer_activation.name == "tanh"  # model[3] follows the consumer
    assert second.consumer_activation is None  # the consumer is the output layer
    assert patterns(found) == {"4": "output layer"}
    assert found.reason("4") == "output layer: produces the model's output: no consumer (no " \
        "Linear/Conv reads it)"
    assert any("selector" in note for note in found.notes)
    assert_accounts_for_every_layer(model, found)


def test_pass_through_modules_are_looked_past():
    model = build(lambda: nn.Sequential(
        nn.Linear(6, 8), nn.Identity(), nn.ReLU(), nn.Linear(8, 5), nn.Dropout(0.2), nn.Tanh(),
        nn.Linear(5, 3)))
    found = explain(model, vectors())
    assert [(s.name, s.activation.name) for s in found.sites] == [("0", "relu"), ("3", "tanh")]
    assert found.sites[0].consumer_activation.name == "tanh"  # past the Dropout


def test_ffn_in_a_custom_module():
    model = build(FFN)
    found = explain(model, vectors())
    assert summary(found) == [("fc1", "linear", 12, "Linear")]
    site = found.site("fc1")
    assert site.consumer is model.fc2 and site.activation.name == "gelu"
    assert site.consumer_activation is None
    assert patterns(found) == {"fc2": "output layer"}


def test_functional_activations_are_identified():
    model = build(FunctionalMLP)
    found = explain(model, vectors())
    assert [s.name for s in found.sites] == ["fc1", "fc2"]
    first, second = found.sites
    assert first.activation.name == "tanh"  # torch.tanh between fc1 and fc2
    assert first.consumer_activation.name == "tanh"  # torch.tanh on fc2's output
    assert second.consumer_activation is None


@pytest.mark.parametrize("up_first", [False, True])
def test_gated_ffn(up_first):
    model = build(lambda: GatedFFN(up_first))
    found = explain(model, vectors())
    assert summary(found) == [("gate*up", "gated", 10, "Linear")]
    site = found.sites[0]
    assert site.producers == (model.gate, model.up)  # roles, whatever the order of the calls
    assert site.consumer is model.down and site.activation.name == "silu"
    assert patterns(found) == {"down": "output layer"}
    assert_accounts_for_every_layer(model, found)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_small_cnn_with_batchnorm_and_flatten(dtype):
    model = build(small_cnn).to(dtype)  # float32: a fresh BatchNorm is identity to 5e-6
    found = explain_sites(model, images().to(dtype))
    assert summary(found) == [("0", "conv", 4, "Conv2d"), ("4", "flatten", 6, "Linear")]
    conv, flat = found.sites
    assert upstream_modules(conv) == [model[0], model[1]]  # the BatchNorm is resized too
    assert upstream_modules(flat) == [model[4], model[5]]
    assert conv.consumer is model[4] and conv.offsets == 9  # 3×3 kernel
    assert flat.consumer is model[8] and flat.offsets == 16  # a 4×4 block per channel
    assert conv.activation.name == "relu" and conv.consumer_activation is None  # BN follows
    assert patterns(found) == {"8": "output layer"}
    replicate(model, conv, parents=[1, 2], method="B1")
    replicate(model, flat, parents=[0], method="B1")
    assert model[1].num_features == 6 and model[1].running_var.shape == (6,)
    assert model[4].weight.shape == (7, 6, 3, 3)  # conv's consumer, flat's producer
    assert model[5].num_features == 7 and model[8].weight.shape == (5, 7 * 16)


def test_adaptive_average_pool_before_flatten():
    model = build(adaptive_pool_cnn)
    found = explain(model, images())
    assert summary(found) == [("0", "flatten", 4, "Linear")]
    assert found.sites[0].offsets == 9


def test_residual_block_is_refused():
    model = build(Residual)
    found = explain(model, vectors())
    assert found.sites == []
    assert patterns(found) == {"a": "residual-coupled", "b": "residual-coupled",
                               "c": "output layer"}
    assert "skip" in found.reason("a") and "residual" in found.reason("b")


class BothActivatedGate(nn.Module):
    """down(σ(gate(x)) · tanh(up(x))): a gate whose up projection is not a plain factor."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.down(torch.sigmoid(self.gate(x)) * torch.tanh(self.up(x)))


class SummedPair(nn.Module):
    """down(tanh(a(x) + b(x))): two projections summed, no product."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.down = nn.Linear(6, 5), nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.down(torch.tanh(self.a(x) + self.b(x)))


def test_a_gate_with_an_activated_up_projection_is_named_a_gate():
    found = explain(build(BothActivatedGate), vectors())
    assert found.sites == []
    assert patterns(found) == {"gate": "unsupported gate", "up": "unsupported gate",
                               "down": "output layer"}
    assert "a product of gate and up that is not act(gate)·up" in found.reason("gate")


def test_a_summed_pair_is_not_called_a_gate():
    found = explain(build(SummedPair), vectors())
    assert found.sites == []
    assert patterns(found) == {"a": "residual-coupled", "b": "residual-coupled",
                               "down": "output layer"}


class TokenMixing(nn.Module):
    """MLP-Mixer's token MLP: mix(tanh(tokens(x.transpose(1, 2)))).transpose(1, 2) → head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 8)
        self.tokens, self.mix, self.head = nn.Linear(6, 12), nn.Linear(12, 6), nn.Linear(8, 2)

    def forward(self, x):  # (batch, 6 tokens, 3)
        h = self.embed(x).transpose(1, 2)  # (batch, 8 channels, 6 tokens)
        return self.head(self.mix(torch.tanh(self.tokens(h))).transpose(1, 2).mean(1))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # torch's import
def test_a_compiled_model_is_discovered_through_the_module_it_wraps():
    model = build(sequential_mlp)
    found = explain(torch.compile(model), vectors())
    assert summary(found) == [("0", "linear", 7, "Linear"), ("2", "linear", 5, "Linear")]
    assert found.sites[0].producer is model[0]  # not "_orig_mod.0"


def test_a_transposed_output_is_named_as_such_and_the_token_mlp_is_a_site():
    example = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(3))
    found = explain(build(TokenMixing), example)
    assert [s.name for s in found.sites] == ["tokens"]
    assert patterns(found) == {"embed": "transposed", "mix": "transposed",
                               "head": "output layer"}
    assert "along another dimension (a transpose or permute)" in found.reason("mix")


@pytest.mark.parametrize(("conv", "norm", "pool", "shape", "positions"), [
    (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, (4, 2, 12), 4),
    (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d, (3, 2, 6, 6, 6), 1),
])
def test_one_and_three_dimensional_convolutions_are_sites(conv, norm, pool, shape, positions):
    """Conv1d (signals) and Conv3d (volumes) chains: channels into a convolution, and the last
    convolution's channels into Flatten → Linear (a block of positions per channel)."""
    def factory() -> nn.Sequential:
        return nn.Sequential(conv(2, 6, 3, padding=1), norm(6), nn.ReLU(), pool(2),
                             conv(6, 4, 3), nn.Tanh(), nn.Flatten(),
                             nn.Linear(4 * positions, 3))

    model = build(factory)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    found = explain(model, x)
    assert summary(found) == [("0", "conv", 6, conv.__name__), ("4", "flatten", 4, "Linear")]
    assert found.sites[1].offsets == positions
    assert patterns(found) == {"7": "output layer"}
    site = found.sites[0]
    before = model(x)
    replicate(model, site, [0, 3], method="B1", seed=0)  # splits keep the function
    torch.testing.assert_close(model(x), before)
    assert model[0].out_channels == model[1].num_features == model[4].in_channels == 8


def test_an_affine_instance_norm_between_is_resized_with_the_site():
    """InstanceNorm (style-transfer and GAN blocks) normalises each channel alone; with affine
    parameters it was refused ("holds tensors that neuroplast does not resize")."""
    def factory() -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.InstanceNorm2d(6, affine=True),
                             nn.ReLU(), nn.Conv2d(6, 4, 3))

    model = build(factory)
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(5),
                    dtype=torch.float64)
    found = explain(model, x)
    assert summary(found) == [("0", "conv", 6, "Conv2d")]
    site = found.sites[0]
    assert {axis.module for axis in site.upstream} == {model[0], model[1]}  # norm resized too
    before = model(x)
    replicate(model, site, [1, 4], method="B1", seed=0)  # per-instance statistics: still equal
    torch.testing.assert_close(model(x), before)
    site.keep([0, 2, 3, 5, 6])
    assert model[1].num_features == model[1].weight.numel() == 5 == model[3].in_channels
    assert model(x).shape == (3, 4, 6, 6)


def test_an_instance_norm_without_tensors_is_channel_wise_whatever_its_num_features():
    """InstanceNorm without affine parameters or running statistics holds nothing per channel
    (PyTorch only warns when num_features differs); it is channel-wise, not a module to
    resize."""
    def factory() -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.InstanceNorm2d(1), nn.ReLU(),
                             nn.Conv2d(6, 4, 3))

    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(6),
                    dtype=torch.float64)
    with pytest.warns(UserWarning, match="num_features"):
        found = explain(build(factory), x)
    assert summary(found) == [("0", "conv", 6, "Conv2d")]


def test_a_pooled_conv3d_site_keeps_its_activation():
    def factory() -> nn.Sequential:
        return nn.Sequential(nn.Conv3d(2, 6, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
                             nn.Conv3d(6, 4, 3))

    x = torch.randn(3, 2, 6, 6, 6, generator=torch.Generator().manual_seed(7),
                    dtype=torch.float64)
    site = explain(build(factory), x).sites[0]
    assert site.activation is not None and site.activation.name == "relu"


def test_a_transposed_convolution_produces_a_site():
    """A decoder's upsampling (ConvTranspose2d → BatchNorm2d → ReLU → Conv2d): its output
    channels run along its weight's dim 1. Splits keep the function, and an exactly duplicated
    channel dies without changing it; as a consumer it stays refused."""
    def factory() -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(2, 6, 3, stride=2), nn.BatchNorm2d(6),
                             nn.ReLU(), nn.Conv2d(6, 4, 3), nn.ConvTranspose2d(4, 3, 2))

    model = build(factory)
    x = torch.randn(6, 2, 5, 5, generator=torch.Generator().manual_seed(8),
                    dtype=torch.float64)
    found = explain(model, x)
    assert summary(found) == [("0", "conv", 6, "Conv2d")]
    assert found.reason("3").startswith("unsupported module: its consumer 4 cannot be read")
    site = found.sites[0]
    with torch.no_grad():  # channel 5 an exact copy of channel 2 (weights, bias, BatchNorm)
        model[0].weight[:, 5] = model[0].weight[:, 2]
        model[0].bias[5] = model[0].bias[2]
        for tensor in (model[1].weight, model[1].bias, model[1].running_mean,
                       model[1].running_var):
            tensor[5] = tensor[2]
    before = model(x)
    result = neuroplast.prune(model, site, [x], amount=1, rule="lstsq",
                              measure="conditional:greedy")
    assert result.removed in ((2,), (5,))  # one of the twins
    torch.testing.assert_close(model(x), before, rtol=1e-7, atol=1e-7)
    assert model[0].weight.shape[1] == model[1].num_features == model[3].in_channels == 5
    replicate(model, site, [1, 4], method="B1", seed=0)
    torch.testing.assert_close(model(x), before, rtol=1e-7, atol=1e-7)
    assert model[0].weight.shape == (2, 7, 3, 3) and model[0].out_channels == 7
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(x).square().mean().backward()
    optimizer.step()
    replicate(model, site, n=1, method="B4", seed=0, optimizer=optimizer)  # a random channel
    model(x).square().mean().backward()
    optimizer.step()  # the momentum follows the transposed weight's dim 1
    assert optimizer.state[model[0].weight]["momentum_buffer"].shape == (2, 8, 3, 3)


def test_depthwise_convolution_is_refused():
    model = build(depthwise_cnn)
    found = explain(model, images())
    assert found.sites == []
    assert patterns(found) == {"0": "grouped conv", "2": "grouped conv", "4": "output layer"}
    assert "groups=4" in found.reason("0") and "depthwise" in found.reason("2")


def test_layernorm_between_is_refused_and_named():
    model = build(Normed)
    found = explain(model, vectors())
    assert found.sites == []
    assert patterns(found)["fc1"] == "channel-mixing op"
    assert "norm (LayerNorm)" in found.reason("fc1")


def test_concatenated_branches_are_refused():
    model = build(Concat)
    found = explain(model, vectors())
    assert found.sites == []
    assert patterns(found) == {"a": "concat/split", "b": "concat/split", "fc": "output layer"}
    assert "fc reads 10 channels but a makes 5" in found.reason("a")


def test_attention_projections_are_refused_but_its_output_layer_is_a_site():
    model = build(Attention)
    found = explain(model, sequences())
    assert patterns(found) == {"q": "attention", "k": "attention", "v": "attention",
                               "fc": "output layer"}
    assert summary(found) == [("out", "linear", 8, "Linear")]
    assert found.sites[0].activation.name == "tanh"


def test_transformer_encoder_layer():
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32,
                                       batch_first=True).double().eval()
    example = sequences(16).double()
    found = explain(model, example)
    assert summary(found) == [("linear1", "linear", 32, "Linear")]
    assert found.sites[0].consumer is model.linear2
    assert found.sites[0].activation.name == "relu"  # F.relu, a function in this layer
    assert patterns(found) == {"linear2": "output layer", "self_attn.out_proj": "attention"}
    assert_accounts_for_every_layer(model, found)
    assert_replication_preserves(model, found.sites, example)


@pytest.mark.parametrize("factory, pattern, words", [
    (TwoHeads, "residual-coupled", "head2 around head1"),
    (Scaled, "unsupported module", "scale"),
    (PReLUBetween, "unsupported module", "act (PReLU)"),
    (Shared, "shared", "2 times"),
])
def test_other_refusals_name_their_reason(factory, pattern, words):
    model = build(factory)
    found = explain(model, vectors())
    first = next(iter(patterns(found)))
    assert found.sites == []
    assert patterns(found)[first] == pattern
    assert words in found.reason(first)


def test_discovery_leaves_the_model_as_it_was():
    model = build(small_cnn).train()
    state = copy.deepcopy(model.state_dict())
    explain(model, images())
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_declared_sites_are_returned_as_they_are():
    model = build_mlp(widths=[6, 5, 4, 3])
    found = explain_sites(model, vectors())
    assert isinstance(model, MLP)
    assert [s.name for s in found.sites] == ["input", "hidden1", "hidden2"]
    assert found.sites[0].kind == "input" and found.skipped == []


def test_examples_must_differ():
    model = build(FFN)
    with pytest.raises(NeuroplastError, match="at least two different examples"):
        find_sites(model, vectors(rows=1).double())
    with pytest.raises(NeuroplastError, match="at least two different examples"):
        find_sites(model, vectors(rows=1).double().expand(3, 6))


def test_an_example_the_model_cannot_run_is_refused_as_such():
    """A forward that fails on the example itself (a wrong input width) says so and what to
    pass — not that it "fails when a layer's output is changed" — as a NeuroplastError."""
    model = build(FFN)
    with pytest.raises(NeuroplastError, match=r"forward fails on the example \(RuntimeError: "
                                              r".*\); discover sites with an example batch "
                                              "the model runs on") as raised:
        find_sites(model, vectors(width=5).double())
    assert "output is changed" not in str(raised.value)


def test_a_failed_probe_is_a_neuroplast_error():
    from neuroplast.sites.probes import ProbeFailed

    assert issubclass(ProbeFailed, NeuroplastError)


def test_nondeterministic_model_is_refused():
    with pytest.raises(NeuroplastError, match="deterministic"):
        find_sites(build(Noisy), vectors().double())


def test_sites_resolve_by_name_through_discovery():
    model = build(FFN)
    example = vectors().double()
    site = resolve_site(model, "fc1", example)
    assert site.producer is model.fc1
    stats = collect_site_statistics(model, "fc1", example)
    assert stats.width == 12 and stats.count == 4
    with pytest.raises(NeuroplastError, match="fc1"):
        resolve_site(model, "fc2", example)


# -- every site found is one ---------------------------------------------------------------------
@pytest.mark.parametrize("factory, example", [
    (sequential_mlp, vectors), (FFN, vectors), (FunctionalMLP, vectors),
    (GatedFFN, vectors), (small_cnn, images), (adaptive_pool_cnn, images),
    (Attention, sequences),
])
def test_replication_of_every_hand_made_site_preserves_the_function(factory, example):
    model = build(factory)
    x = example().double()
    sites = find_sites(model, x)
    assert sites
    assert_replication_preserves(model, sites, x)


@pytest.mark.parametrize("factory, example, index", [
    (sequential_mlp, vectors, 0), (GatedFFN, vectors, 0), (small_cnn, images, 0),
    (small_cnn, images, 1),
])
def test_removing_an_exact_duplicate_preserves_the_function(factory, example, index):
    model = build(factory)
    x = example().double()
    site = find_sites(model, x)[index]
    assert_duplicate_removal_preserves(model, site, x)


# -- third-party models --------------------------------------------------------------------------
def torchvision_models():
    models = import_torchvision_models()
    if models is None:
        pytest.skip("torchvision is not installed")
    return models


def transformers_package():
    package = import_transformers()
    if package is None:
        pytest.skip("transformers is not installed")
    return package


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    model = torchvision_models().resnet18(num_classes=10).double().eval()
    example = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)).double()
    return model, example, explain_sites(model, example)


def test_resnet18_offers_the_inner_channel_of_every_basic_block(resnet18):
    model, _, found = resnet18
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    widths = [64, 64, 128, 128, 256, 256, 512, 512]
    assert summary(found) == [(f"{b}.conv1", "conv", w, "Conv2d")
                              for b, w in zip(blocks, widths, strict=True)]
    for block, site in zip(blocks, found.sites, strict=True):
        assert site.consumer is model.get_submodule(f"{block}.conv2")
        assert upstream_modules(site) == [model.get_submodule(f"{block}.conv1"),
                                          model.get_submodule(f"{block}.bn1")]
        assert site.activation.name == "relu"
    refused = patterns(found)
    residual = ["conv1"] + [f"{b}.conv2" for b in blocks] + \
        [f"layer{i}.0.downsample.0" for i in range(2, 5)]
    assert refused == {**dict.fromkeys(residual, "residual-coupled"), "fc": "output layer"}
    assert_accounts_for_every_layer(model, found)


def test_resnet18_replication_preserves_the_function(resnet18):
    model, example, found = resnet18
    model, sites = copy.deepcopy((model, found.sites))
    assert_replication_preserves(model, sites, example)


@pytest.mark.slow
def test_vgg11_bn_sites_and_replication():
    torch.manual_seed(0)
    model = torchvision_models().vgg11_bn(num_classes=10).double().eval()
    example = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4)).double()
    found = explain_sites(model, example)
    convs = [("features.0", 64), ("features.4", 128), ("features.8", 256),
             ("features.11", 256), ("features.15", 512), ("features.18", 512),
             ("features.22", 512)]
    assert summary(found) == [(n, "conv", w, "Conv2d") for n, w in convs] + [
        ("features.25", "flatten", 512, "Linear"), ("classifier.0", "linear", 4096, "Linear"),
        ("classifier.3", "linear", 4096, "Linear")]
    assert all(found.site(name).consumer_activation is None for name, _ in convs)  # BN first
    flat = found.site("features.25")
    assert flat.offsets == 49  # AdaptiveAvgPool2d((7, 7)): a 7×7 block per channel
    assert flat.consumer_activation.name == "relu"
    assert patterns(found) == {"classifier.6": "output layer"}
    assert_replication_preserves(model, found.sites, example)


@pytest.fixture(scope="module")
def gpt2():
    transformers = transformers_package()
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50,
                                     n_positions=32)
    model = transformers.GPT2LMHeadModel(config).double().eval()
    tokens = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(5))
    return model, tokens, explain_sites(model, tokens)


def test_gpt2_offers_each_mlp(gpt2):
    model, _, found = gpt2
    assert summary(found) == [(f"transformer.h.{i}.mlp.c_fc", "linear", 64, "Conv1D")
                              for i in range(2)]
    for i, site in enumerate(found.sites):
        assert site.consumer is model.transformer.h[i].mlp.c_proj
        assert site.activation.name == "gelu-tanh"  # NewGELUActivation: tanh-approximated
    refused = patterns(found)
    for i in range(2):
        assert refused[f"transformer.h.{i}.attn.c_attn"] == "attention"
        assert refused[f"transformer.h.{i}.attn.c_proj"] == "residual-coupled"
        assert refused[f"transformer.h.{i}.mlp.c_proj"] == "residual-coupled"
    assert refused["lm_head"] == "output layer"
    assert_accounts_for_every_layer(model, found)


def test_gpt2_replication_and_statistics(gpt2):
    model, tokens, found = gpt2
    model, sites = copy.deepcopy((model, found.sites))
    stats = collect_site_statistics(model, sites[0], tokens)
    assert stats.count == 2 * 7  # every token of every sequence is a row
    assert_replication_preserves(model, sites, tokens)


@pytest.fixture(scope="module")
def llama():
    transformers = transformers_package()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=2, vocab_size=50)
    model = transformers.LlamaForCausalLM(config).double().eval()
    tokens = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(6))
    return model, tokens, explain_sites(model, tokens)


def test_llama_offers_a_gated_site_per_layer(llama):
    model, _, found = llama
    assert summary(found) == [(f"model.layers.{i}.mlp", "gated", 32, "Linear")
                              for i in range(2)]
    for layer, site in zip(model.model.layers, found.sites, strict=True):
        assert site.producers == (layer.mlp.gate_proj, layer.mlp.up_proj)
        assert site.consumer is layer.mlp.down_proj
        assert site.activation.name == "silu"
    refused = patterns(found)
    for i in range(2):
        for name in ("q_proj", "k_proj", "v_proj"):
            assert refused[f"model.layers.{i}.self_attn.{name}"] == "attention"
        assert refused[f"model.layers.{i}.self_attn.o_proj"] == "residual-coupled"
        assert refused[f"model.layers.{i}.mlp.down_proj"] == "residual-coupled"
    assert refused["lm_head"] == "output layer"
    assert_accounts_for_every_layer(model, found)


def test_llama_replication_preserves_the_function(llama):
    model, tokens, found = llama
    model, sites = copy.deepcopy((model, found.sites))
    assert_replication_preserves(model, sites, tokens)


def test_hugging_face_keyword_inputs(llama):
    model, tokens, found = llama
    inputs = {"input_ids": tokens, "attention_mask": torch.ones_like(tokens)}
    assert [s.name for s in find_sites(model, inputs)] == [s.name for s in found.sites]


class _IndexedHidden(nn.Module):
    """fc1 → tanh → (something that treats channels by index) → fc2."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.fc1, self.fc2, self.mode = nn.Linear(4, 6), nn.Linear(6, 2), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        if self.mode == "grouped":  # one activation on the first half, another on the rest
            return self.fc2(torch.cat([torch.relu(h[:, :3]), torch.tanh(h[:, 3:])], dim=1))
        h = torch.tanh(h).clone()
        if self.mode == "zero":  # a hand-made mask of channel 2
            h[:, 2] = 0
        else:  # "scale"
            h[:, 2] = h[:, 2] * 3
        return self.fc2(h)


@pytest.mark.parametrize("mode", ["zero", "scale", "grouped"])
def test_a_forward_treating_a_channel_by_its_index_is_refused(mode):
    """Copying neuron n−1 into neuron 0 looked the same; surgery then changed the function
    (B1 by 0.2, pruning a constant-zero neuron by 0.19: a hostile user's pass)."""
    torch.manual_seed(0)
    model = _IndexedHidden(mode).double()
    discovery = explain_sites(model, torch.randn(16, 4, dtype=torch.float64))
    assert discovery.sites == []
    assert any(skipped.module == "fc1" and "treats channels differently" in skipped.reason
               for skipped in discovery.skipped)


class _Scaled(nn.Module):
    """fc1 → relu → × a per-channel scale the forward reads without calling a module."""

    def __init__(self, holder: str) -> None:
        super().__init__()
        self.fc1, self.fc2, self.holder = nn.Linear(4, 6), nn.Linear(6, 2), holder
        if holder == "parameter-list":
            self.scales = nn.ParameterList([nn.Parameter(torch.full((6,), 0.5))])
        elif holder == "attribute":
            self.mask = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
        else:  # "uncalled submodule"
            self.ls = nn.Module()
            self.ls.gamma = nn.Parameter(torch.full((6,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        scale = {"parameter-list": lambda: self.scales[0], "attribute": lambda: self.mask,
                 "uncalled submodule": lambda: self.ls.gamma}[self.holder]()
        return self.fc2(h * scale)


@pytest.mark.parametrize("holder", ["parameter-list", "attribute", "uncalled submodule"])
def test_a_tensor_of_the_sites_width_read_without_a_module_call_is_refused(holder):
    """Surgery would not resize it: replication broke the next forward, and a prune failed
    after it had resized fc1 (a hostile user's pass)."""
    torch.manual_seed(0)
    model = _Scaled(holder)
    discovery = explain_sites(model, torch.randn(16, 4))
    assert discovery.sites == []
    assert any(skipped.module == "fc1" and "(6,)" in skipped.reason
               and "would not resize it" in skipped.reason for skipped in discovery.skipped)
