"""Readings of eq. 28 (neuroplast.efficiency.readings): the Appendix's reading equals the
library's E_k computed from streamed statistics; every reading equals a per-neuron loop written
here with numpy; zero-variance consumers; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_mlp

from neuroplast.activations import get_activation
from neuroplast.efficiency import connection_cut_efficiency
from neuroplast.efficiency.readings import READINGS, SiteSample, reading_efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.stats import collect_site_statistics

WIDTHS = (7, 6, 4, 3)


def hidden1_sample(model, x: torch.Tensor) -> SiteSample:
    with torch.no_grad():
        pre = model.layers[0](x)
        consumer = model.layers[1]
        return SiteSample(pre, torch.tanh(pre), consumer.weight.detach().clone(),
                          consumer.bias.detach().clone(), get_activation("tanh"))


def random_sample(seed: int, n: int = 200) -> tuple[object, torch.Tensor, SiteSample]:
    """A random tanh MLP (float64), ``n`` uniform inputs and its hidden1 sample."""
    model = random_mlp(WIDTHS, "tanh", seed=seed)
    x = torch.rand(n, WIDTHS[0], generator=torch.Generator().manual_seed(seed),
                   dtype=torch.float64)
    return model, x, hidden1_sample(model, x)


def loop_efficiency(name: str, pre: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E_k under reading ``name`` neuron by neuron and consumer by consumer (tanh consumer)."""
    post = np.tanh(pre)
    n_examples, n = post.shape
    y = post @ w.T + b  # (N, m)
    y_bar = w @ post.mean(axis=0) + b

    def variance(column: np.ndarray) -> float:
        return float(((column - column.mean()) ** 2).sum() / n_examples)

    result = np.zeros(n)
    for k in range(n):
        c_kk = variance(pre[:, k] if name == "site-pre-variance" else post[:, k])
        total = 0.0
        for i in range(w.shape[0]):
            c_ii = variance(y[:, i] if name == "consumer-pre-variance" else np.tanh(y[:, i]))
            if c_ii <= 1e-12:
                continue
            if name == "mean-slope-squared":
                slope_squared = float(np.mean((1.0 - np.tanh(y[:, i]) ** 2) ** 2))
            elif name == "slope-not-squared":
                slope_squared = 1.0 - np.tanh(y_bar[i]) ** 2
            elif name == "no-slope":
                slope_squared = 1.0
            else:
                slope_squared = (1.0 - np.tanh(y_bar[i]) ** 2) ** 2
            total += w[i, k] ** 2 * slope_squared / c_ii
        result[k] = c_kk * total
    return result


def test_appendix_reading_is_the_library_efficiency():
    model, x, sample = random_sample(5, 300)
    stats = collect_site_statistics(model, "hidden1", x, batch_size=41)
    np.testing.assert_allclose(
        reading_efficiency("appendix", sample).numpy(),
        connection_cut_efficiency(model, "hidden1", stats).numpy(), rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", list(READINGS))
def test_every_reading_matches_a_loop(name):
    _, _, sample = random_sample(9, 250)
    expected = loop_efficiency(name, sample.pre.numpy(), sample.consumer_weight.numpy(),
                               sample.consumer_bias.numpy())
    actual = reading_efficiency(name, sample)
    assert actual.dtype == torch.float64 and actual.shape == (WIDTHS[1],)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-9, atol=0)


def test_readings_differ_from_one_another():
    """Each reading changes something: on a generic net no two give the same efficiencies."""
    _, _, sample = random_sample(2)
    values = {name: reading_efficiency(name, sample) for name in READINGS}
    names = list(values)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not torch.allclose(values[names[a]], values[names[b]], rtol=1e-6), \
                (names[a], names[b])


@pytest.mark.parametrize("name", list(READINGS))
def test_constant_consumer_is_left_out(name):
    """A consumer with zero incoming weights never varies: its term is dropped, no NaN."""
    _, _, sample = random_sample(4)
    weight = sample.consumer_weight.clone()
    weight[0] = 0.0
    dead = SiteSample(sample.pre, sample.post, weight, sample.consumer_bias,
                      sample.consumer_activation)
    rest = SiteSample(sample.pre, sample.post, weight[1:], sample.consumer_bias[1:],
                      sample.consumer_activation)
    actual = reading_efficiency(name, dead)
    assert torch.isfinite(actual).all()
    torch.testing.assert_close(actual, reading_efficiency(name, rest), rtol=1e-12, atol=0)


def test_unknown_reading_and_bad_shapes_are_refused():
    model = random_mlp(WIDTHS, "tanh", seed=1)
    x = torch.rand(20, WIDTHS[0], dtype=torch.float64)
    sample = hidden1_sample(model, x)
    with pytest.raises(NeuroplastError, match="unknown reading 'median'.*appendix"):
        reading_efficiency("median", sample)
    with pytest.raises(NeuroplastError, match="inconsistent sample"):
        SiteSample(sample.pre, sample.post, sample.consumer_weight[:, :-1],
                   sample.consumer_bias, sample.consumer_activation)
    with pytest.raises(NeuroplastError, match="inconsistent sample"):
        SiteSample(sample.pre[:, 0], sample.post[:, 0], sample.consumer_weight,
                   sample.consumer_bias, sample.consumer_activation)
    with pytest.raises(NeuroplastError, match="floating-point.*double"):
        SiteSample(sample.pre.long(), sample.post, sample.consumer_weight,
                   sample.consumer_bias, sample.consumer_activation)
