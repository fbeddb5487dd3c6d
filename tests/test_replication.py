"""Replication B1–B5 (eqs 44–49): function invariance, parents, χ draws, optimizer state, CLI."""

from __future__ import annotations

import copy
import re

import pytest
import torch
from conftest import mnist_dir, random_mlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroplast.cli.main import main
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, build_mlp, initialize, load_model, save_model, xavier_std
from neuroplast.replication import METHODS, replicate, sample_beta
from neuroplast.stats import collect_site_statistics

ACTIVATIONS = ("tanh", "sigmoid", "relu", "gelu")


def _data(n_features: int, n: int = 64, seed: int = 0, dtype=torch.float64) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, n_features, generator=g, dtype=dtype),
                 torch.zeros(n, dtype=torch.long))


def _max_change(before: MLP, after: MLP, x: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        old, new = before(x), after(x)
    return float((new - old).abs().max()), float(old.abs().max())


# -- the invariant --------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hidden=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 4),
    activation=st.sampled_from(ACTIVATIONS),
    alpha=st.one_of(st.sampled_from([0.01, 1.0, 100.0]), st.floats(0.003, 1000.0)),
    seed=st.integers(0, 10_000),
    choice=st.data(),
)
def test_beta_split_leaves_function_unchanged(hidden, n_in, n_out, activation, alpha, seed,
                                              choice):
    model = random_mlp([n_in, *hidden, n_out], activation, seed)
    site = choice.draw(st.sampled_from(model.site_names[1:]))
    width = model.site(site).width
    parents = choice.draw(st.lists(st.integers(0, width - 1), min_size=1, max_size=width,
                                   unique=True))
    x = _data(n_in, seed=seed).x
    before = copy.deepcopy(model)
    result = replicate(model, site, parents, method="beta", alpha=alpha, seed=seed)

    change, scale = _max_change(before, model, x)
    assert change <= 1e-12 * max(1.0, scale)
    assert model.site(site).width == width + len(parents) == result.width_after
    assert result.children.tolist() == list(range(width, width + len(parents)))
    # eqs 45, 47-49 checked on the tensors themselves
    old, new = before.site(site), model.site(site)
    p = torch.tensor(parents)
    assert torch.equal(new.producer.weight[width:], old.producer.weight[p])
    assert torch.equal(new.producer.bias[width:], old.producer.bias[p])
    w = old.consumer.weight[:, p]  # (m, n)
    torch.testing.assert_close(new.consumer.weight[:, p] + new.consumer.weight[:, width:], w)
    torch.testing.assert_close(new.consumer.weight[:, p], result.chi.T * w)
    assert result.chi.shape == (len(parents), old.consumer.out_features)


@pytest.mark.parametrize("method", ["B1", "B2", "B3"])
def test_presets_leave_float32_function_unchanged(trained_n4, mnist_small, method):
    model = copy.deepcopy(trained_n4)
    before = copy.deepcopy(model)
    replicate(model, "hidden1", n=10, method=method, data=mnist_small.train, seed=3)
    change, scale = _max_change(before, model, mnist_small.train.x)
    assert model.widths == [784, 110, 5, 10]
    assert change <= 1e-5 * max(1.0, scale)


def test_b4_draws_from_the_initialiser_and_changes_the_output():
    model = initialize(build_mlp("N4"), seed=0)
    before = copy.deepcopy(model)
    result = replicate(model, "hidden1", n=40, method="B4", seed=1)
    layer1, layer2 = model.layers[0], model.layers[1]
    incoming = layer1.weight.detach()[100:]  # (40, 784)
    outgoing = layer2.weight.detach()[:, 100:]  # (5, 40)
    assert result.parents.numel() == 0 and result.chi is None
    assert torch.equal(layer1.weight[:100], before.layers[0].weight)
    assert torch.equal(layer1.bias[100:], torch.zeros(40))
    assert abs(float(incoming.std()) / xavier_std(784, 100) - 1) < 0.02
    assert abs(float(outgoing.std()) / xavier_std(100, 5) - 1) < 0.15
    assert abs(float(incoming.mean())) < 0.01
    change, _ = _max_change(before, model, _data(784, dtype=torch.float32).x)
    assert change > 1e-3


def test_b5_adds_nothing():
    model = random_mlp([5, 4, 3], "tanh", 0)
    before = copy.deepcopy(model)
    result = replicate(model, "hidden1", n=2, method="B5")
    assert result.width_after == result.width_before == 4 and result.children.numel() == 0
    for (name, a), (_, b) in zip(model.state_dict().items(), before.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


# -- parents ------------------------------------------------------------------------------------
def _independent_connection_efficiency(model: MLP, site: str, x: torch.Tensor) -> torch.Tensor:
    """Eq. 28 computed from scratch in float64 for tanh models (f' = 1 − tanh²; logits: f' = 1)."""
    index = model.site_names.index(site)
    h = x
    for layer in model.layers[:index]:
        h = torch.tanh(h @ layer.weight.T + layer.bias)  # (N, n)
    consumer = model.layers[index]
    z = h @ consumer.weight.T + consumer.bias  # (N, m)
    is_output = index == len(model.layers) - 1
    out = z if is_output else torch.tanh(z)
    y_bar = h.mean(0) @ consumer.weight.T + consumer.bias  # (m,)
    slope = torch.ones_like(y_bar) if is_output else 1 - torch.tanh(y_bar) ** 2
    c_kk, c_ii = h.var(0, unbiased=False), out.var(0, unbiased=False)
    return c_kk * ((slope**2 / c_ii) @ consumer.weight**2)


@pytest.mark.parametrize("site", ["hidden1", "hidden2"])
def test_parents_are_the_most_efficient(site):
    model = random_mlp([6, 9, 7, 3], "tanh", 4)
    data = _data(6, n=300, seed=4)
    with torch.no_grad():
        expected = _independent_connection_efficiency(model, site, data.x)
    result = replicate(model, site, n=3, method="B1", data=data)
    assert result.parents.tolist() == expected.argsort(descending=True)[:3].tolist()
    torch.testing.assert_close(result.parent_efficiency, expected[result.parents])
    assert result.measure == "connection"


def test_parents_by_covariance_efficiency_with_given_statistics():
    model = random_mlp([6, 8, 3], "tanh", 5)
    data = _data(6, n=300, seed=5)
    stats = collect_site_statistics(model, "hidden1", data.x, covariance=True)
    values, vectors = torch.linalg.eigh(stats.cov)
    expected = (values.clamp_min(0)[None, :] / vectors**2).min(dim=1).values  # eq. 17
    result = replicate(model, "hidden1", n=2, method="B3", measure="covariance", stats=stats)
    assert result.parents.tolist() == expected.argsort(descending=True)[:2].tolist()


# -- χ and seeds ----------------------------------------------------------------------------
def test_same_seed_same_weights_different_seed_different_chi():
    model = random_mlp([5, 6, 4], "tanh", 1)
    a, b, c = copy.deepcopy(model), copy.deepcopy(model), copy.deepcopy(model)
    ra = replicate(a, "hidden1", [0, 2], method="B2", seed=7)
    rb = replicate(b, "hidden1", [0, 2], method="B2", seed=7)
    rc = replicate(c, "hidden1", [0, 2], method="B2", seed=8)
    assert torch.equal(ra.chi, rb.chi) and not torch.equal(ra.chi, rc.chi)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("alpha", [0.01, 1.0, 100.0])
def test_beta_draws_have_the_beta_moments(alpha):
    chi = sample_beta(alpha, (8000,), torch.Generator().manual_seed(0))
    variance = 1 / (4 * (2 * alpha + 1))  # Var Beta(α, α)
    assert chi.dtype == torch.float64 and bool(((chi >= 0) & (chi <= 1)).all())
    assert abs(float(chi.mean()) - 0.5) < 5 * (variance / chi.numel()) ** 0.5
    assert abs(float(chi.var()) / variance - 1) < 0.05


def test_chi_distributions_of_b1_b2_b3():
    m = 4000
    model = random_mlp([3, 2, m], "tanh", 0)
    chis = {name: replicate(copy.deepcopy(model), "hidden1", [0], method=name, seed=1).chi[0]
            for name in ("B1", "B2", "B3")}
    b1, b2, b3 = chis["B1"], chis["B2"], chis["B3"]
    middle = float(((b1 > 0.01) & (b1 < 0.99)).double().mean())
    assert middle < 0.08  # Beta(0.01, 0.01): ≈ 4 % between 0.01 and 0.99
    assert 0.4 < float((b1 < 0.5).double().mean()) < 0.6
    grid = torch.linspace(0, 1, 101, dtype=torch.float64)
    cdf = (b2[None, :] <= grid[:, None]).double().mean(1)
    assert float((cdf - grid).abs().max()) < 0.04  # uniform (Kolmogorov-Smirnov distance)
    assert float((b3 - 0.5).abs().max()) < 0.2 and abs(float(b3.std()) - 0.0353) < 0.003
    assert METHODS["B1"].alpha == 0.01 and METHODS["B2"].alpha == 1 and METHODS["B3"].alpha == 100


# -- optimizer state -----------------------------------------------------------------------------
def _optimizer(kind: str, model: MLP) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.001)
    return torch.optim.Adam(model.parameters(), lr=0.01)


def _step(model: MLP, optimizer: torch.optim.Optimizer, data: Split) -> None:
    loss = torch.nn.functional.cross_entropy(model(data.x), data.y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_state_kept_for_old_entries_and_zero_for_children(kind):
    model = random_mlp([6, 5, 4, 3], "tanh", 2)
    g = torch.Generator().manual_seed(0)
    data = Split(torch.rand(40, 6, generator=g, dtype=torch.float64),
                 torch.randint(0, 3, (40,), generator=g))
    optimizer = _optimizer(kind, model)
    for _ in range(3):
        _step(model, optimizer, data)
    old_state = {id(p): {k: v.clone() for k, v in optimizer.state[p].items()}
                 for p in model.parameters()}
    producer, consumer = model.layers[0], model.layers[1]

    replicate(model, "hidden1", [1, 3], method="B2", seed=0, optimizer=optimizer)

    # the expected state, built independently: old entries, then zeros for the 2 children
    def grown(p: torch.nn.Parameter, value: torch.Tensor) -> torch.Tensor:
        if value.dim() == 0 or value.shape == p.shape:  # Adam's step count; unchanged layers
            return value
        if p is consumer.weight:
            return torch.cat([value, value.new_zeros(value.shape[0], 2)], dim=1)
        return torch.cat([value, value.new_zeros(2, *value.shape[1:])], dim=0)

    expected = {id(p): {k: grown(p, v) for k, v in old_state[id(p)].items()}
                for p in model.parameters()}
    for p in model.parameters():
        for key, value in optimizer.state[p].items():
            assert torch.equal(value, expected[id(p)][key]), key
            if value.shape == p.shape and value.dim() > 0 and p is consumer.weight:
                assert torch.equal(value[:, 5:], torch.zeros_like(value[:, 5:]))
            elif value.shape == p.shape and value.dim() > 0 and p is producer.weight:
                assert torch.equal(value[5:], torch.zeros_like(value[5:]))

    # a fresh model with the grown weights and the expected state steps identically
    fresh = MLP([6, 7, 4, 3], "tanh").double()
    fresh.load_state_dict(model.state_dict())
    fresh_optimizer = _optimizer(kind, fresh)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        fresh_optimizer.state[q] = {k: v.clone() for k, v in expected[id(p)].items()}
    _step(model, optimizer, data)
    _step(fresh, fresh_optimizer, data)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-14)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"site": "input", "parents": [0]}, "input site cannot replicate"),
        ({"site": "hidden9", "parents": [0]}, "unknown site"),
        ({"parents": [1, 1]}, "distinct"),
        ({"parents": [4]}, r"\[0, 4\)"),
        ({"parents": [0.5]}, "integer"),
        ({"parents": [0, 1], "n": 3}, "n = 3 but 2 parents"),
        ({"n": 5, "data": "data"}, "between 1 and 4"),
        ({"n": 0}, "positive"),
        ({"n": 1}, "needs statistics or data"),
        ({"parents": [0], "method": "B9"}, "unknown replication method"),
        ({"parents": [0], "method": "B1", "alpha": 1.0}, "fixes alpha = 0.01"),
        ({"parents": [0], "method": "random", "alpha": 1.0}, "takes no alpha"),
        ({"parents": [0], "method": "beta", "alpha": -1.0}, "positive"),
        ({"n": 1, "stats": "wrong"}, "collect them again"),
        ({"n": 1, "data": "data", "measure": "bogus"}, "unknown efficiency measure"),
    ],
)
def test_errors_say_what_to_do(kwargs, message):
    model = random_mlp([3, 4, 2], "tanh", 0)
    data = _data(3)
    kwargs = dict(kwargs)
    if kwargs.get("data") == "data":
        kwargs["data"] = data
    if kwargs.get("stats") == "wrong":
        kwargs["stats"] = collect_site_statistics(random_mlp([3, 6, 2], "tanh", 0), "hidden1",
                                                  data.x)
    site = kwargs.pop("site", "hidden1")
    with pytest.raises(NeuroplastError, match=message):
        replicate(model, site, **kwargs)


def test_methods_registry_is_complete():
    assert {"B1", "B2", "B3", "B4", "B5", "beta", "random", "none"} <= set(METHODS)
    for method in METHODS.values():
        assert method.description and method.reference


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture
def saved_n4(trained_n4, tmp_path):
    """(the trained N4 saved as a model file, the MNIST folder, an --out path); skips the test
    without MNIST."""
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found")
    path = tmp_path / "n4.pt"
    save_model(trained_n4, path, metadata={"arch": "N4"})
    return path, directory, tmp_path / "grown.pt"


def test_cli_grow_prints_change_and_width(saved_n4, capsys):
    path, directory, out = saved_n4
    code = main(["grow", str(path), "--site", "hidden1", "--n", "3", "--method", "B1",
                 "--data", str(directory), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "width 100 -> 103" in text and "parents (connection)" in text
    change = float(re.search(r"max \|change of logits\|.*: (\S+)", text).group(1))
    assert change < 1e-4
    grown, metadata = load_model(out)
    assert grown.widths == [784, 103, 5, 10]
    assert metadata["grown"][0]["method"] == "B1" and metadata["arch"] == "N4"


def test_cli_grow_defaults_are_one_neuron_and_seed_zero(saved_n4, tmp_path, capsys):
    """--n and --seed default to None so that B5/none can refuse them; left out they are still
    one parent and seed 0 (the same grown net as when both are given), and B5 still runs."""
    path, directory, _ = saved_n4
    outs = {}
    for name, extra in (("default", []), ("explicit", ["--n", "1", "--seed", "0"])):
        outs[name] = tmp_path / f"{name}.pt"
        assert main(["grow", str(path), "--method", "B2", "--data", str(directory),
                     "--out", str(outs[name]), *extra]) == 0
    default, metadata = load_model(outs["default"])
    explicit, _ = load_model(outs["explicit"])
    assert default.widths == [784, 101, 5, 10]
    assert metadata["grown"][0]["seed"] == 0  # recorded, so the draw can be repeated
    for a, b in zip(default.parameters(), explicit.parameters(), strict=True):
        assert torch.equal(a, b)
    capsys.readouterr()
    assert main(["grow", str(path), "--method", "B5", "--data", str(directory)]) == 0
    assert "width 100 -> 100" in capsys.readouterr().out


def test_cli_grow_saves_no_net_whose_new_weights_overflowed(saved_n4, capsys):
    """--random-std 1e300 gave infinite weights that `evaluate` then refused; the grown net
    is not saved and the message says why."""
    path, directory, out = saved_n4
    code = main(["grow", str(path), "--method", "random", "--random-std", "1e300", "1e300",
                 "--data", str(directory), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "the grown net has NaN or infinite weights" in err and "--random-std" in err


def test_cli_grow_refuses_input_site(trained_n4, tmp_path, capsys):
    path = tmp_path / "n4.pt"
    save_model(trained_n4, path)
    assert main(["grow", str(path), "--site", "input"]) == 2
    assert "input site cannot replicate" in capsys.readouterr().err
    assert main(["grow", str(path), "--method", "B2", "--alpha", "3"]) == 2
    assert "fixes alpha" in capsys.readouterr().err
    # more parents than neurons, refused before any data is read (none is given here)
    assert main(["grow", str(path), "--method", "B1", "--n", "101"]) == 2
    assert ("--n 101 parents, but site 'hidden1' has 100 neurons; choose --n between 1 and "
            "100") in capsys.readouterr().err


def test_cli_grow_draws_the_random_neuron_at_the_given_spread(saved_n4, tmp_path, capsys):
    path, directory, out = saved_n4
    assert main(["grow", str(path), "--n", "300", "--method", "random", "--random-std", "0.2",
                 "0.05", "--data", str(directory), "--out", str(out)]) == 0
    grown, metadata = load_model(out)
    assert tuple(metadata["grown"][0]["random_std"]) == (0.2, 0.05)  # recorded: it repeats
    new_in = grown.layers[0].weight[100:].detach()
    new_out = grown.layers[1].weight[:, 100:].detach()
    assert float(new_in.std()) == pytest.approx(0.2, rel=0.02)
    assert float(new_out.std()) == pytest.approx(0.05, rel=0.05)
    capsys.readouterr()
    # refused before the model is read: a spread for a method that draws no random neuron
    assert main(["grow", str(tmp_path / "missing.pt"), "--method", "B1", "--random-std",
                 "0.1", "0.1"]) == 2
    assert "method B1 draws none: leave random_std out" in capsys.readouterr().err
    assert main(["grow", str(path), "--method", "random", "--random-std", "0.1", "-1"]) == 2
    assert "two positive finite numbers" in capsys.readouterr().err
