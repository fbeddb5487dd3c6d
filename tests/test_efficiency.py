"""E_k (eq. 28) and E'_k (eq. 17) against a direct float64 implementation written here with
numpy and loops, hand-checked tiny cases, and the measure registry."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import random_mlp

from neuroplast.death.rules import Rewirer
from neuroplast.efficiency import (
    MEASURES,
    Measure,
    MeasureRegistry,
    connection_cut_efficiency,
    covariance_efficiency,
    efficiency,
)
from neuroplast.errors import NeuroplastError
from neuroplast.models import build_mlp, initialize
from neuroplast.stats import collect_site_statistics

WIDTHS = (9, 6, 4, 3)
ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1.0 - np.tanh(y) ** 2),
    "sigmoid": (lambda y: 1.0 / (1.0 + np.exp(-y)),
                lambda y: np.exp(-y) / (1.0 + np.exp(-y)) ** 2),
}


def inputs(n: int = 400, width: int = WIDTHS[0], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, width, generator=g, dtype=torch.float64)


def direct(model, x: torch.Tensor, site: str, activation: str):
    """Site values, consumer outputs, consumer weights/bias and f' (numpy, float64)."""
    f, f_prime = ACTIVATIONS[activation]
    weights = [layer.weight.detach().numpy().astype(np.float64) for layer in model.layers]
    biases = [layer.bias.detach().numpy().astype(np.float64) for layer in model.layers]
    values = [x.numpy()]
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        values.append(f(values[-1] @ w.T + b))
    index = 0 if site == "input" else int(site.removeprefix("hidden"))
    w, b = weights[index], biases[index]
    is_output = index == len(weights) - 1
    pre = values[index] @ w.T + b
    out = pre if is_output else f(pre)
    slope = (lambda y: 1.0) if is_output else f_prime
    return values[index], out, w, b, slope


def direct_connection_efficiency(values, out, w, b, slope) -> np.ndarray:
    """E_k = C_kk Σ_i w_ik² f'(ȳ_i)² / C_ii with loops; terms with C_ii ≤ 1e-12 left out."""
    n_examples, n = values.shape
    m = out.shape[1]
    mean = values.sum(axis=0) / n_examples
    c_kk = ((values - mean) ** 2).sum(axis=0) / n_examples
    out_mean = out.sum(axis=0) / n_examples
    c_ii = ((out - out_mean) ** 2).sum(axis=0) / n_examples
    result = np.zeros(n)
    for k in range(n):
        total = 0.0
        for i in range(m):
            if c_ii[i] <= 1e-12:
                continue
            y_bar = sum(w[i, j] * mean[j] for j in range(n)) + b[i]
            total += w[i, k] ** 2 * slope(y_bar) ** 2 / c_ii[i]
        result[k] = c_kk[k] * total
    return result


def direct_covariance_efficiency(values) -> tuple[np.ndarray, np.ndarray]:
    """E'_k = min_i λ_i / (v_k^(i))² with numpy's eigh, and the minimising i."""
    centred = values - values.mean(axis=0)
    cov = centred.T @ centred / values.shape[0]
    lam, vec = np.linalg.eigh(cov)
    n = cov.shape[0]
    best, where = np.full(n, np.inf), np.zeros(n, dtype=int)
    for k in range(n):
        for i in range(n):
            if vec[k, i] ** 2 > 1e-24 and max(lam[i], 0.0) / vec[k, i] ** 2 < best[k]:
                best[k], where[k] = max(lam[i], 0.0) / vec[k, i] ** 2, i
    return best, where


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
@pytest.mark.parametrize("site", ["input", "hidden1", "hidden2"])
def test_efficiencies_match_direct_float64_implementation(activation, site):
    model = random_mlp(WIDTHS, activation, seed=3)
    x = inputs()
    stats = collect_site_statistics(model, site, x, covariance=True, batch_size=37)
    values, out, w, b, slope = direct(model, x, site, activation)

    expected = direct_connection_efficiency(values, out, w, b, slope)
    actual = connection_cut_efficiency(model, site, stats)
    assert actual.dtype == torch.float64 and actual.shape == (values.shape[1],)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-9, atol=0)
    np.testing.assert_allclose(efficiency("connection", model, site, stats).numpy(), expected,
                               rtol=1e-9, atol=0)

    expected_prime, expected_index = direct_covariance_efficiency(values)
    result = covariance_efficiency(stats.cov)
    np.testing.assert_allclose(result.values.numpy(), expected_prime, rtol=1e-7, atol=0)
    assert result.eigen_index.tolist() == expected_index.tolist()
    np.testing.assert_allclose(efficiency("covariance", model, site, stats).numpy(),
                               expected_prime, rtol=1e-7, atol=0)


def test_last_hidden_site_uses_unit_slope_and_logit_variance():
    """hidden2 feeds the output layer: f' = 1 and C_ii is the variance of the logits."""
    model = random_mlp(WIDTHS, "tanh", seed=8)
    x = inputs(seed=8)
    stats = collect_site_statistics(model, "hidden2", x)
    assert stats.consumer_is_output
    with torch.no_grad():
        h2 = model.site_values("hidden2", x)
        logits = model(x)
    weight = model.layers[-1].weight.detach()
    expected = torch.var(h2, dim=0, correction=0) * (
        (weight**2) / torch.var(logits, dim=0, correction=0).unsqueeze(1)).sum(dim=0)
    torch.testing.assert_close(connection_cut_efficiency(model, "hidden2", stats), expected,
                               rtol=1e-10, atol=0)


def test_constant_input_pixel_has_zero_efficiencies():
    model = random_mlp(WIDTHS, "tanh", seed=1)
    x = inputs()
    x[:, 2] = 0.37
    stats = collect_site_statistics(model, "input", x, covariance=True, batch_size=50)
    e = connection_cut_efficiency(model, "input", stats)
    e_prime = covariance_efficiency(stats.cov).values
    assert e[2] == 0.0
    assert torch.all(e[torch.arange(9) != 2] > 0)
    assert e_prime[2] <= 1e-12 * e_prime.median()
    assert torch.isfinite(e_prime).all()


def test_constant_hidden_neuron_has_zero_efficiencies():
    model = random_mlp(WIDTHS, "sigmoid", seed=2)
    with torch.no_grad():
        model.layers[0].weight[4] = 0.0  # hidden1 neuron 4 = sigmoid(b_4) for every input
    stats = collect_site_statistics(model, "hidden1", inputs(), covariance=True, batch_size=64)
    assert stats.var[4] == 0.0
    assert connection_cut_efficiency(model, "hidden1", stats)[4] == 0.0
    e_prime = covariance_efficiency(stats.cov).values
    assert e_prime[4] <= 1e-12 * e_prime.median()


def test_zero_variance_consumer_gives_finite_efficiencies():
    model = random_mlp(WIDTHS, "tanh", seed=5)
    with torch.no_grad():
        model.layers[1].weight[2] = 0.0  # consumer neuron 2 of hidden1 is constant
    x = inputs()
    stats = collect_site_statistics(model, "hidden1", x)
    assert stats.consumer_var[2] == 0.0
    e = efficiency("connection", model, "hidden1", stats)
    assert torch.isfinite(e).all() and torch.all(e > 0)
    values, out, w, b, slope = direct(model, x, "hidden1", "tanh")
    np.testing.assert_allclose(e.numpy(), direct_connection_efficiency(values, out, w, b, slope),
                               rtol=1e-9, atol=0)


def test_constant_data_gives_zeros_never_nan():
    model = random_mlp(WIDTHS, "tanh", seed=6)
    x = torch.full((50, WIDTHS[0]), 0.5, dtype=torch.float64)
    for site in model.site_names:
        stats = collect_site_statistics(model, site, x, covariance=True)
        for name in ("connection", "covariance"):
            scores = efficiency(name, model, site, stats)
            assert torch.isfinite(scores).all()
            assert torch.all(scores == 0.0), (site, name)


def linear_combination_model():
    """An identity-activation net: hidden1 holds 4 neurons in a 3-dimensional affine space."""
    return random_mlp((3, 4, 3, 2), "identity", seed=7)


@pytest.mark.parametrize("case", ["dependent pixel", "identity hidden layer"])
def test_exact_linear_combination_has_zero_covariance_efficiency_and_a3_is_lossless(case):
    if case == "dependent pixel":
        model, site = random_mlp((6, 5, 4, 3), "tanh", seed=9), "input"
        x = inputs(width=6, seed=9)
        x[:, 3] = 0.5 * x[:, 0] - 2.0 * x[:, 1] + 0.25
        involved, free = [0, 1, 3], [2, 4, 5]
        victim = 3
    else:
        model, site = linear_combination_model(), "hidden1"
        x = inputs(width=3, seed=10)
        involved, free = [0, 1, 2, 3], []
        victim = None
    stats = collect_site_statistics(model, site, x, covariance=True)
    e_prime = covariance_efficiency(stats.cov).values
    scale = float(stats.var.max())
    assert torch.all(e_prime[involved] <= 1e-10 * scale)
    if free:
        assert torch.all(e_prime[free] > 1e-3 * e_prime[free].max())
    victim = int(e_prime.argmin()) if victim is None else victim

    pruned = copy.deepcopy(model)
    rewirer = Rewirer(pruned, site, stats, "A3")
    rewirer.remove(victim)
    rewirer.commit(pruned)
    assert pruned.site(site).width == stats.width - 1
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), rtol=1e-9, atol=1e-9)


def test_recorded_eigenpair_is_the_minimiser():
    g = torch.Generator().manual_seed(11)
    a = torch.randn(8, 8, generator=g, dtype=torch.float64)
    cov = a @ a.T / 8
    result = covariance_efficiency(cov)
    for k in range(8):
        p = int(result.eigen_index[k])
        v = result.eigenvector_for(k)
        torch.testing.assert_close(v, result.eigenvectors[:, p])
        torch.testing.assert_close(cov @ v, result.eigenvalues[p] * v, rtol=1e-10, atol=1e-12)
        assert float(v @ v) == pytest.approx(1.0, abs=1e-12)
        assert result.values[k] == result.eigenvalues[p] / v[k] ** 2
        ratios = [float(result.eigenvalues[i] / result.eigenvectors[k, i] ** 2) for i in range(8)]
        assert p == int(np.argmin(ratios))


def test_covariance_efficiency_is_at_least_the_best_relation_residual():
    """E'_k is the residual variance of one particular relation with a_k = 1, so it can never
    be below the residual variance of the best (least-squares) relation."""
    g = torch.Generator().manual_seed(12)
    x = torch.rand(200, 10, generator=g, dtype=torch.float64)
    x[:, :4] = 0.0  # four constant neurons: a 4-dimensional null space
    x[:, 9] = x[:, 8] * 1e-3 + 0.1 * torch.rand(200, generator=g, dtype=torch.float64)
    centred = x - x.mean(0)
    cov = centred.T @ centred / 200
    result = covariance_efficiency(cov)
    varying = torch.arange(4, 10)
    for k in varying.tolist():
        others = [j for j in varying.tolist() if j != k]
        a = centred[:, others]
        coef = torch.linalg.lstsq(a, centred[:, k:k + 1]).solution
        residual = float(((centred[:, k:k + 1] - a @ coef) ** 2).mean())
        assert result.values[k] >= residual * (1 - 1e-9)
    assert torch.all(result.values[:4] <= 1e-12)


def test_mnist_pixels_are_not_given_false_zero_covariance_efficiency(mnist_small):
    """The pixel covariance of MNIST is singular (constant border pixels, rare pixels that
    are exact multiples of each other), and round-off leaks varying pixels into its null
    eigenvectors. Clipping the eigenvalues at exactly 0 gave pixels whose best linear relation
    leaves a variance up to ~1e-4 a false E'_k = 0 (47 pixels on all 60,000 images)."""
    model = initialize(build_mlp("N4"), seed=0)
    stats = collect_site_statistics(model, "input", mnist_small.train.x, covariance=True)
    e_prime = covariance_efficiency(stats.cov).values
    # Residual variance of the best relation for pixel k: 1 / (C + δI)⁻¹_kk, within ~δ.
    delta = 1e-12
    precision = torch.cholesky_inverse(torch.linalg.cholesky(
        stats.cov + delta * torch.eye(stats.width, dtype=torch.float64)))
    residual = 1.0 / precision.diagonal() - delta
    assert torch.all(e_prime >= 0.5 * residual - 1e-9)
    assert int((e_prime < 1e-9).sum()) >= int((stats.var == 0).sum())  # constants stay ≈ 0


def test_registry_errors():
    model = random_mlp(WIDTHS, "tanh", seed=0)
    stats = collect_site_statistics(model, "hidden1", inputs())
    with pytest.raises(NeuroplastError, match="unknown efficiency measure 'nope'"):
        efficiency("nope", model, "hidden1", stats)
    with pytest.raises(NeuroplastError, match="covariance=True"):
        efficiency("covariance", model, "hidden1", stats)
    registry = MeasureRegistry()
    measure = Measure("x", "test", "none", compute=lambda ctx: torch.zeros(ctx.stats.width))
    registry.register(measure)
    assert registry.get("x:3") == (measure, "3")
    with pytest.raises(NeuroplastError, match="already registered"):
        registry.register(measure)


def test_statistics_of_another_site_are_refused():
    model = random_mlp(WIDTHS, "tanh", seed=0)
    stats = collect_site_statistics(model, "hidden2", inputs())
    with pytest.raises(NeuroplastError, match="collect the statistics again"):
        connection_cut_efficiency(model, "hidden1", stats)


@pytest.mark.parametrize("name", ["connection", "covariance"])
def test_paper_measures_are_registered_with_references(name):
    measure, argument = MEASURES.get(name)
    assert argument is None
    assert "eq." in measure.reference
    assert measure.needs_covariance == (name == "covariance")
