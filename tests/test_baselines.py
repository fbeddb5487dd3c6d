"""Baseline efficiency measures (paper §5.5 and common tools) against independent formulas.

Every registered measure is exercised on every site of a tiny net; each baseline is compared
with a float64 implementation written here (loops / numpy); NNSP's per-example sensitivities
are compared with autograd Jacobians (``torch.func``) at every output level; the Torch-Pruning
adapter is tested when the package is installed.
"""

from __future__ import annotations

import copy
import json
import math
import sys

import numpy as np
import pytest
import torch
from conftest import random_mlp
from torch.func import jacrev, vmap

from neuroplast.cli.main import main
from neuroplast.data import Split
from neuroplast.death.rules import RULES, Rewirer
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.baselines import nnsp as nnsp_module
from neuroplast.errors import NeuroplastError
from neuroplast.stats import collect_site_statistics

WIDTHS = [6, 5, 4, 3]
ALL = {"input", "hidden1", "hidden2"}
HIDDEN = {"hidden1", "hidden2"}

try:
    import torch_pruning  # noqa: F401

    HAS_TP = True
except ImportError:
    HAS_TP = False
TP_REASON = "Torch-Pruning is not installed (pip install 'neuroplast[compare]')"

SUPPORT = {
    "connection": ALL, "covariance": ALL,
    "magnitude-l1-in": HIDDEN, "magnitude-l2-in": HIDDEN,
    "magnitude-l1-out": ALL, "magnitude-l2-out": ALL, "magnitude-l1": ALL, "magnitude-l2": ALL,
    "n2ps": ALL, "n2ps-mean": ALL, "n2ps-mean-inverted": ALL, "n2ps-product": ALL,
    "nnsp": {"input", "hidden1"},  # default level = logits = level right above hidden2
    "nnsp-summed": {"input", "hidden1"},  # likewise
    "random": ALL, "weight-norm": ALL, "zeng-yeung": HIDDEN, "taylor": ALL,
    **{name: (HIDDEN if HAS_TP else set())
       for name in ("tp-magnitude", "tp-taylor", "tp-hessian", "tp-lamp", "tp-fpgm")},
}
"""Which sites of a 6-5-4-3 net each baseline supports (the others must be refused)."""

ARGUMENT_FREE = [name for name in SUPPORT if name not in ("connection", "covariance", "nnsp",
                                                          "nnsp-summed", "random")]


def make_data(n_inputs: int = WIDTHS[0], count: int = 40, seed: int = 0) -> Split:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, n_inputs, generator=generator, dtype=torch.float64)
    y = torch.randint(0, WIDTHS[-1], (count,), generator=generator)
    return Split(x, y)


def stats_for(model, site, data):
    return collect_site_statistics(model, site, data.x, covariance=True)


# -- independent float64 numpy forward pass ------------------------------------------------


def weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy())
            for layer in model.layers]


def activation(model):
    return {"tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}[model.activation_name]


def site_values_np(model, site_index: int, x: np.ndarray) -> np.ndarray:
    f = activation(model)
    h = x
    for w, b in weights(model)[:site_index]:
        h = f(h @ w.T + b)
    return h


def preactivation_np(model, site_index: int, x: np.ndarray) -> np.ndarray:
    w, b = weights(model)[site_index - 1]
    return site_values_np(model, site_index - 1, x) @ w.T + b


def index_of(site: str) -> int:
    return 0 if site == "input" else int(site.removeprefix("hidden"))


# -- the whole registry --------------------------------------------------------------------


@pytest.mark.parametrize("site", sorted(ALL))
@pytest.mark.parametrize("name", MEASURES.names())
def test_every_measure_scores_or_refuses_every_site(name, site):
    model = random_mlp(WIDTHS, seed=1)
    before = copy.deepcopy(model.state_dict())
    data = make_data()
    stats = stats_for(model, site, data)
    try:
        scores = efficiency(name, model, site, stats, data)
    except NeuroplastError as error:
        if name in SUPPORT:
            assert site not in SUPPORT[name], f"{name} refused {site}: {error}"
        message = str(error)
        assert site in message or "pip install" in message or name in message
    else:
        if name in SUPPORT:
            assert site in SUPPORT[name], f"{name} should refuse site {site}"
        assert scores.shape == (model.site(site).width,)
        assert scores.dtype == torch.float64
        assert torch.isfinite(scores).all()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{name} modified {key}"
    assert all(p.grad is None for p in model.parameters()), f"{name} left gradients behind"


def test_every_registered_measure_has_a_description_and_reference():
    for measure in MEASURES:
        assert measure.description and measure.reference, measure.name


@pytest.mark.parametrize("name", ARGUMENT_FREE)
def test_measures_without_argument_refuse_one(name):
    model = random_mlp(WIDTHS, seed=1)
    data = make_data()
    with pytest.raises(NeuroplastError, match="takes no argument|does not support|pip install"):
        efficiency(f"{name}:7", model, "hidden1", stats_for(model, "hidden1", data), data)


def test_data_hungry_measures_refuse_without_data():
    model = random_mlp(WIDTHS, seed=1)
    stats = stats_for(model, "hidden1", make_data())
    for measure in MEASURES:  # those defined on this site (tp-bn-scale needs a BatchNorm)
        if measure.needs_data and measure.supports(model, model.site("hidden1")):
            with pytest.raises(NeuroplastError, match="needs the training data"):
                efficiency(measure.name, model, "hidden1", stats)


# -- weight-only measures ------------------------------------------------------------------


MAGNITUDE = {  # name: (p, incoming, outgoing)
    "magnitude-l1-in": (1, True, False), "magnitude-l2-in": (2, True, False),
    "magnitude-l1-out": (1, False, True), "magnitude-l2-out": (2, False, True),
    "magnitude-l1": (1, True, True), "magnitude-l2": (2, True, True),
}


@pytest.mark.parametrize(("name", "site"), [(name, site) for name in sorted(MAGNITUDE)
                                             for site in sorted(SUPPORT[name])])
def test_magnitude_against_loops(name, site):
    p, incoming, outgoing = MAGNITUDE[name]
    model = random_mlp(WIDTHS, seed=2)
    s = index_of(site)
    w_out = weights(model)[s][0]
    expected = []
    for k in range(model.site(site).width):
        total = 0.0
        if outgoing:
            total += sum(abs(w_out[i, k]) ** p for i in range(w_out.shape[0]))
        if incoming and s > 0:
            w_in = weights(model)[s - 1][0]
            total += sum(abs(w_in[k, j]) ** p for j in range(w_in.shape[1]))
        expected.append(total ** (1.0 / p))
    data = make_data()
    scores = efficiency(name, model, site, stats_for(model, site, data))
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("site", sorted(ALL))
def test_weight_norm_is_eq_69(site):
    model = random_mlp(WIDTHS, seed=3)
    w = weights(model)[index_of(site)][0]
    expected = [sum(w[i, k] ** 2 for i in range(w.shape[0])) for k in range(w.shape[1])]
    scores = efficiency("weight-norm", model, site, stats_for(model, site, make_data()))
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-12)


def test_random_is_seeded_uniform_and_ignores_the_model():
    data = make_data()
    a, b = random_mlp(WIDTHS, seed=1), random_mlp(WIDTHS, seed=2)
    first = efficiency("random:3", a, "input", stats_for(a, "input", data))
    again = efficiency("random:3", b, "input", stats_for(b, "input", data))
    other = efficiency("random:4", a, "input", stats_for(a, "input", data))
    default = efficiency("random", a, "input", stats_for(a, "input", data))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(default, efficiency("random:0", a, "input", stats_for(a, "input", data)))
    assert ((first >= 0) & (first < 1)).all()
    with pytest.raises(NeuroplastError, match="integer seed"):
        efficiency("random:abc", a, "input", stats_for(a, "input", data))


# -- N2PS ----------------------------------------------------------------------------------


def n2ps_direct(model, site, x, *, average, product, invert_input):
    s = index_of(site)
    net = x if s == 0 else preactivation_np(model, s, x)  # (N, n)
    w = weights(model)[s][0]  # (m, n)
    result = []
    for k in range(w.shape[1]):
        tx = sum(net[p, k] for p in range(net.shape[0]))
        if average:
            tx /= net.shape[0]
        f = 1.0 / (1.0 + math.exp(-tx)) if tx > -700 else 0.0
        if product:
            value = sum(abs(f * w[i, k]) for i in range(w.shape[0]))
        else:
            value = sum(abs(f + w[i, k]) for i in range(w.shape[0]))
        result.append(-value if invert_input and s == 0 else value)
    return result


N2PS = {
    "n2ps": dict(average=False, product=False, invert_input=False),
    "n2ps-mean": dict(average=True, product=False, invert_input=False),
    "n2ps-mean-inverted": dict(average=True, product=False, invert_input=True),
    "n2ps-product": dict(average=False, product=True, invert_input=False),
}


@pytest.mark.parametrize("site", sorted(ALL))
@pytest.mark.parametrize("name", sorted(N2PS))
def test_n2ps_against_eq_52_on_a_sigmoid_net(name, site):
    model = random_mlp(WIDTHS, "sigmoid", seed=4)
    data = make_data(count=30)
    # centre the inputs so that total net values of both signs occur
    data = Split(data.x - 0.5, data.y)
    expected = n2ps_direct(model, site, data.x.numpy(), **N2PS[name])
    scores = efficiency(name, model, site, stats_for(model, site, data), data)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_n2ps_with_the_total_saturates_to_the_weights():
    """The paper's argument (§5.5): with many examples f(tx) = 1 for every lit pixel."""
    model = random_mlp([4, 3, 2], "sigmoid", seed=5)
    x = torch.full((20_000, 4), 0.5, dtype=torch.float64)
    data = Split(x, torch.zeros(20_000, dtype=torch.long))
    scores = efficiency("n2ps", model, "input", stats_for(model, "input", data), data)
    w = weights(model)[0][0]
    np.testing.assert_allclose(scores.numpy(), np.abs(1.0 + w).sum(axis=0), rtol=1e-12)


# -- Zeng & Yeung --------------------------------------------------------------------------


@pytest.mark.parametrize("site", sorted(HIDDEN))
def test_zeng_yeung_against_a_loop(site):
    model = random_mlp(WIDTHS, seed=6)
    data = make_data(count=25)
    s = index_of(site)
    f = activation(model)
    h = site_values_np(model, s - 1, data.x.numpy())  # (N, n_previous)
    w_in, b_in = weights(model)[s - 1]
    w_out = weights(model)[s][0]
    shift = [sum(abs(h[p, j]) for p in range(h.shape[0])) / h.shape[0] for j in range(h.shape[1])]
    expected = []
    for k in range(w_in.shape[0]):
        total = 0.0
        for p in range(h.shape[0]):
            z = sum(w_in[k, j] * h[p, j] for j in range(h.shape[1])) + b_in[k]
            z_shifted = sum(w_in[k, j] * (h[p, j] + shift[j]) for j in range(h.shape[1])) + b_in[k]
            total += abs(f(z_shifted) - f(z))
        relevance = sum(abs(w_out[i, k]) for i in range(w_out.shape[0]))
        expected.append(total / h.shape[0] * relevance)
    scores = efficiency("zeng-yeung", model, site, stats_for(model, site, data), data)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-10)


# -- first-order Taylor --------------------------------------------------------------------


def per_example_site_gradient(model, s: int, h: np.ndarray, label: int) -> np.ndarray:
    """∂CE/∂(site values) for one example by hand-written backpropagation."""
    layers = weights(model)[s:]
    f = activation(model)
    pre, a = [], h
    for index, (w, b) in enumerate(layers):
        z = w @ a + b
        pre.append(z)
        a = z if index == len(layers) - 1 else f(z)
    p = np.exp(a - a.max())
    p /= p.sum()
    grad = p.copy()
    grad[label] -= 1.0  # ∂CE/∂logits
    for index in range(len(layers) - 1, -1, -1):
        grad = layers[index][0].T @ grad  # ∂CE/∂(input of this layer)
        if index > 0:
            grad = grad * (1.0 - np.tanh(pre[index - 1]) ** 2)
    return grad


@pytest.mark.parametrize("site", sorted(ALL))
def test_taylor_against_hand_backpropagation(site):
    model = random_mlp(WIDTHS, seed=7)
    data = make_data(count=20)
    s = index_of(site)
    values = site_values_np(model, s, data.x.numpy())
    total = np.zeros(values.shape[1])
    for n in range(values.shape[0]):
        gradient = per_example_site_gradient(model, s, values[n], int(data.y[n]))
        total += np.abs(values[n] * gradient)
    scores = efficiency("taylor", model, site, stats_for(model, site, data), data)
    np.testing.assert_allclose(scores.numpy(), total / values.shape[0], rtol=1e-10, atol=1e-14)


# -- NNSP ----------------------------------------------------------------------------------


def level_output(model, s: int, level: int, h: torch.Tensor) -> torch.Tensor:
    """The output at a Fig. 17 level from one example's site values (written independently)."""
    n_layers = len(model.layers)
    a = h
    for j in range(s + 1, n_layers + 1):
        layer = model.layers[j - 1]
        z = layer.weight @ a + layer.bias
        if level == 2 * j - 1:
            return z
        if j == n_layers:
            return torch.exp(z) / torch.exp(z).sum()  # level 2L: softmax
        a = torch.tanh(z)
        if level == 2 * j:
            return a
    raise AssertionError("level out of range")


def autograd_jacobians(model, site, values, level):
    s = index_of(site)
    return vmap(jacrev(lambda h: level_output(model, s, level, h)))(values)  # (N, m, n)


def nnsp_cases(widths):
    n_layers = len(widths) - 1
    for s in range(n_layers):
        site = "input" if s == 0 else f"hidden{s}"
        for level in range(2 * s + 2, 2 * n_layers + 1):
            yield site, level


@pytest.mark.parametrize(("site", "level"), list(nnsp_cases(WIDTHS)))
def test_nnsp_sensitivities_and_variances_match_autograd(site, level):
    model = random_mlp(WIDTHS, seed=8)
    data = make_data(count=33)
    values = model.site_values(site, data.x)
    with torch.no_grad():
        ours = nnsp_module.sensitivities(model, site, values, level)
    reference = autograd_jacobians(model, site, values, level).detach()
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    expected = reference.var(dim=0, unbiased=False).sum(dim=0)  # (n,)
    scores = efficiency(f"nnsp:{level}", model, site, stats_for(model, site, data), data)
    torch.testing.assert_close(scores, expected, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("level", [2, 3, 4, 5, 6])
def test_nnsp_on_an_n4_shaped_net(level):
    model = random_mlp([784, 100, 5, 10], seed=9)
    generator = torch.Generator().manual_seed(1)
    data = Split(torch.rand(24, 784, generator=generator, dtype=torch.float64),
                 torch.randint(0, 10, (24,), generator=generator))
    values = model.site_values("input", data.x)
    expected = autograd_jacobians(model, "input", values, level).detach()
    expected = expected.var(dim=0, unbiased=False).sum(dim=0)
    scores = efficiency(f"nnsp:{level}", model, "input", stats_for(model, "input", data), data)
    torch.testing.assert_close(scores, expected, rtol=1e-9, atol=1e-14)


def test_nnsp_level_2_is_eq_59():
    """σ̂² = Σ_i (⟨(x²_i)⁴⟩ − ⟨(x²_i)²⟩²)(w¹_ik)², the paper's closed form for level 2."""
    model = random_mlp(WIDTHS, seed=10)
    data = make_data(count=50)
    x2 = site_values_np(model, 1, data.x.numpy())  # (N, 5) level-2 outputs
    w1 = weights(model)[0][0]  # (5, 6)
    variance = (x2**4).mean(axis=0) - ((x2**2).mean(axis=0)) ** 2  # (5,)
    expected = variance @ w1**2
    scores = efficiency("nnsp:2", model, "input", stats_for(model, "input", data), data)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-9)


def test_nnsp_does_not_depend_on_the_batch_size(monkeypatch):
    model = random_mlp(WIDTHS, seed=11)
    data = make_data(count=40)
    stats = stats_for(model, "input", data)
    whole = efficiency("nnsp:5", model, "input", stats, data)
    assert torch.equal(efficiency("nnsp:logits", model, "input", stats, data), whole)
    assert torch.equal(efficiency("nnsp", model, "input", stats, data), whole)
    summed = {level: efficiency(f"nnsp-summed:{level}", model, "input", stats, data)
              for level in (2, 5)}  # the diagonal level goes through the covariance merge too
    monkeypatch.setattr(nnsp_module, "ELEMENTS_PER_BATCH", 7 * 15)
    monkeypatch.setattr(nnsp_module, "MAX_BATCH", 7)
    chunked = efficiency("nnsp:5", model, "input", stats, data)
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-15)
    for level, scores in summed.items():
        torch.testing.assert_close(efficiency(f"nnsp-summed:{level}", model, "input", stats,
                                              data), scores, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("name", "site", "pattern"), [
    ("nnsp:1", "input", "nnsp:1 .*constant weights.*from 2 to 6"),
    ("nnsp:7", "input", "from 2 to 6"),
    ("nnsp:top", "input", "nnsp takes an output level"),
    ("nnsp", "hidden2", r"choose nnsp:6 \(softmax\)"),
    ("nnsp-summed:softmax", "input", r"nnsp-summed:6 .*sum to 1.*from 2 to 5 \(logits = 5\)$"),
    ("nnsp-summed:1", "input", "nnsp-summed:1 .*constant weights.*from 2 to 5"),
    ("nnsp-summed:top", "input", "nnsp-summed takes an output level"),
    ("nnsp-summed", "hidden2", r"no level is usable.*nnsp:6 \(per output\)"),
])
def test_nnsp_refuses_useless_levels_with_the_valid_range(name, site, pattern):
    """Both readings name themselves and the levels they accept (the summed reading has no
    softmax level: its outputs sum to 1)."""
    model = random_mlp(WIDTHS, seed=12)
    data = make_data()
    with pytest.raises(NeuroplastError, match=pattern):
        efficiency(name, model, site, stats_for(model, site, data), data)


@pytest.mark.parametrize(("site", "level"), [case for case in nnsp_cases(WIDTHS)
                                              if case[1] < 2 * (len(WIDTHS) - 1)])
def test_nnsp_summed_is_the_variance_of_the_summed_outputs_sensitivity(site, level):
    """Var_n(∂(Σ_o ŷ_o)/∂x_k): autograd of the summed output, independent of the C matrix."""
    model = random_mlp(WIDTHS, seed=14)
    data = make_data(count=31)
    values = model.site_values(site, data.x)
    s = index_of(site)
    gradients = vmap(jacrev(lambda h: level_output(model, s, level, h).sum()))(values)
    expected = gradients.detach().var(dim=0, unbiased=False)  # (N, n) -> (n,)
    stats = stats_for(model, site, data)
    scores = efficiency(f"nnsp-summed:{level}", model, site, stats, data)
    torch.testing.assert_close(scores, expected, rtol=1e-9, atol=1e-14)
    per_output = efficiency(f"nnsp:{level}", model, site, stats, data)
    assert not torch.allclose(scores, per_output)  # the cross-output covariances count


def test_nnsp_summed_defaults_to_the_logits():
    model = random_mlp(WIDTHS, seed=15)
    data = make_data()
    stats = stats_for(model, "input", data)
    default = efficiency("nnsp-summed", model, "input", stats, data)
    assert torch.equal(default, efficiency("nnsp-summed:logits", model, "input", stats, data))
    assert torch.equal(default, efficiency("nnsp-summed:5", model, "input", stats, data))


def test_nnsp_follows_a_pruned_input_selector():
    """After input surgery the sensitivities are those of the surviving features."""
    model = random_mlp(WIDTHS, seed=13)
    data = make_data()
    stats = stats_for(model, "input", data)
    rewirer = Rewirer(model, "input", stats, "A1")
    rewirer.remove_many([1, 4])
    rewirer.commit(model)
    values = model.site_values("input", data.x)  # (N, 4)
    expected = autograd_jacobians(model, "input", values, 5).detach()
    expected = expected.var(dim=0, unbiased=False).sum(dim=0)
    scores = efficiency("nnsp:5", model, "input", stats_for(model, "input", data), data)
    torch.testing.assert_close(scores, expected, rtol=1e-9, atol=1e-14)


def test_a_baseline_chooses_and_a1_compensates():
    """nnsp chooses the neurons, A1 replaces them by their means: the function equals the
    network fed the data with those inputs set to their means."""
    model = random_mlp(WIDTHS, seed=14)
    data = make_data(count=60)
    stats = stats_for(model, "input", data)
    order = torch.argsort(efficiency("nnsp:5", model, "input", stats, data))[:2].tolist()
    reference = data.x.clone()
    reference[:, order] = stats.mean[order]
    with torch.no_grad():
        expected = model(reference)
    rewirer = Rewirer(model, "input", stats, "A1")
    rewirer.remove_many(order)
    rewirer.commit(model)
    with torch.no_grad():
        torch.testing.assert_close(model(data.x), expected, rtol=1e-12, atol=1e-12)


# -- Torch-Pruning adapter -----------------------------------------------------------------


def test_tp_measures_without_the_package_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_pruning", None)
    model = random_mlp(WIDTHS, seed=15)
    data = make_data()
    stats = stats_for(model, "hidden1", data)
    for name in ("tp-magnitude", "tp-taylor", "tp-hessian", "tp-lamp", "tp-fpgm"):
        with pytest.raises(NeuroplastError, match=r"pip install 'neuroplast\[compare\]'"):
            efficiency(name, model, "hidden1", stats, data)


def group_reduce(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Torch-Pruning's defaults: mean over the group's two layers, then divide by the mean."""
    reduced = (rows + columns) / 2.0
    return reduced / reduced.mean()


def mean_loss_gradients(model, data):
    model = copy.deepcopy(model)
    loss = torch.nn.functional.cross_entropy(model(data.x), data.y)
    return [g.detach().numpy() for g in torch.autograd.grad(loss, [layer.weight
                                                                   for layer in model.layers])]


def fisher_by_loop(model, data):
    model = copy.deepcopy(model)
    squares = [np.zeros(tuple(layer.weight.shape)) for layer in model.layers]
    for n in range(data.x.shape[0]):
        loss = torch.nn.functional.cross_entropy(model(data.x[n : n + 1]), data.y[n : n + 1])
        grads = torch.autograd.grad(loss, [layer.weight for layer in model.layers])
        for total, g in zip(squares, grads, strict=True):
            total += g.detach().numpy() ** 2
    return [total / data.x.shape[0] for total in squares]


def fpgm_distances(vectors: np.ndarray) -> np.ndarray:
    """Σ_j ‖v_k − v_j‖₂ for each row k."""
    return np.array([sum(np.linalg.norm(vectors[k] - vectors[j]) for j in range(len(vectors)))
                     for k in range(len(vectors))])


@pytest.mark.skipif(not HAS_TP, reason=TP_REASON)
@pytest.mark.parametrize("site", sorted(HIDDEN))
@pytest.mark.parametrize("name", ["tp-magnitude", "tp-lamp", "tp-fpgm", "tp-taylor",
                                  "tp-hessian"])
def test_torch_pruning_against_direct_formulas(name, site):
    model = random_mlp(WIDTHS, seed=16)
    data = make_data(count=12)
    s = index_of(site)
    w_in, w_out = weights(model)[s - 1][0], weights(model)[s][0]  # (n, prev), (m, n)
    if name in ("tp-magnitude", "tp-lamp"):
        reduced = ((w_in**2).sum(axis=1) + (w_out**2).sum(axis=0)) / 2.0
        if name == "tp-magnitude":
            expected = reduced / reduced.mean()
        else:  # LAMP: score / sum of the scores not smaller than it
            expected = np.array([r / reduced[reduced >= r].sum() for r in reduced])
    elif name == "tp-fpgm":
        expected = group_reduce(fpgm_distances(w_in**2), fpgm_distances((w_out**2).T))
    elif name == "tp-taylor":
        grads = mean_loss_gradients(model, data)
        expected = group_reduce(np.abs(w_in * grads[s - 1]).sum(axis=1),
                                np.abs(w_out * grads[s]).sum(axis=0))
    else:
        fisher = fisher_by_loop(model, data)
        expected = group_reduce((w_in**2 * fisher[s - 1]).sum(axis=1),
                                (w_out**2 * fisher[s]).sum(axis=0))
    scores = efficiency(name, model, site, stats_for(model, site, data), data)
    # Torch-Pruning reduces group importances in float32
    np.testing.assert_allclose(scores.numpy(), expected, rtol=2e-5, atol=1e-7)


@pytest.mark.skipif(not HAS_TP, reason=TP_REASON)
def test_torch_pruning_refuses_the_input_site_clearly():
    model = random_mlp(WIDTHS, seed=17)
    data = make_data()
    with pytest.raises(NeuroplastError, match="not supported by Torch-Pruning"):
        efficiency("tp-magnitude", model, "input", stats_for(model, "input", data), data)


# -- neuroplast methods --------------------------------------------------------------------


def test_methods_json_lists_every_measure_and_rule(capsys):
    assert main(["methods", "--json"]) == 0
    catalogue = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in catalogue["measures"]] == MEASURES.names()
    assert [r["name"] for r in catalogue["rules"]] == list(RULES)
    assert all(m["description"] and m["reference"] for m in catalogue["measures"])
    try:
        from neuroplast.replication import METHODS
    except ImportError:
        assert catalogue["replication"] == []
    else:
        assert [m["name"] for m in catalogue["replication"]] == list(METHODS)


def test_methods_text_names_every_entry(capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    for name in [*MEASURES.names(), *RULES]:
        assert f"  {name} " in text
    assert "eq. 69" in text and "eqs 53-68" in text
