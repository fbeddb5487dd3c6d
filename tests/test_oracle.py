"""The loss-change oracle against brute force: copy the model, remove one neuron with the rule,
commit, evaluate — for every neuron, every rule, hidden and input sites."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.death.rules import RULES, Rewirer
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP
from neuroplast.oracle import loss_change_oracle
from neuroplast.stats import collect_site_statistics
from neuroplast.train import evaluate

WIDTHS = (8, 6, 4, 3)


@pytest.fixture(scope="module")
def model() -> MLP:
    return random_mlp(WIDTHS, "tanh", seed=3)


@pytest.fixture(scope="module")
def split() -> Split:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, WIDTHS[0], generator=g, dtype=torch.float64)
    return Split(x, torch.randint(0, WIDTHS[-1], (300,), generator=g))


def brute_force(model: MLP, site: str, split: Split, rule: str, stats):
    base = evaluate(model, split)
    losses, accuracies = [], []
    for neuron in range(model.site(site).width):
        pruned = copy.deepcopy(model)
        rewirer = Rewirer(pruned, site, stats, rule)
        rewirer.remove(neuron)
        rewirer.commit(pruned)
        assert pruned.site(site).width == model.site(site).width - 1
        after = evaluate(pruned, split)
        losses.append(after.loss - base.loss)
        accuracies.append(after.accuracy - base.accuracy)
    return base, torch.tensor(losses, dtype=torch.float64), torch.tensor(accuracies,
                                                                           dtype=torch.float64)


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("site", ["input", "hidden1", "hidden2"])
def test_oracle_equals_brute_force_for_every_neuron(model, split, site, rule):
    stats = collect_site_statistics(model, site, split.x, covariance=True)
    result = loss_change_oracle(model, site, split, rule, stats=stats, batch_size=70,
                                memory_budget=500)  # several chunks of examples and neurons
    base, losses, accuracies = brute_force(model, site, split, rule, stats)
    assert result.site == site and result.rule == rule and result.count == split.n
    assert result.neurons.tolist() == list(range(stats.width))
    assert result.base_loss == pytest.approx(base.loss, rel=1e-12)
    assert result.base_accuracy == base.accuracy
    assert result.delta_loss.dtype == torch.float64 and result.delta_loss.shape == (stats.width,)
    torch.testing.assert_close(result.delta_loss, losses, rtol=1e-9, atol=1e-13)
    torch.testing.assert_close(result.delta_accuracy, accuracies, rtol=0, atol=1e-12)
    torch.testing.assert_close(result.loss, base.loss + losses, rtol=1e-9, atol=1e-13)


def test_statistics_are_collected_when_not_given(model, split):
    stats = collect_site_statistics(model, "hidden1", split.x, covariance=True)
    given = loss_change_oracle(model, "hidden1", split, "lstsq", stats=stats)
    collected = loss_change_oracle(model, "hidden1", split, "LSTSQ")
    assert collected.rule == "lstsq"
    torch.testing.assert_close(collected.delta_loss, given.delta_loss, rtol=1e-9, atol=1e-13)


def test_chunking_and_neuron_subsets_do_not_change_the_result(model, split):
    whole = loss_change_oracle(model, "input", split, "A2", batch_size=10_000)
    chunked = loss_change_oracle(model, "input", split, "A2", batch_size=1, memory_budget=1)
    subset = loss_change_oracle(model, "input", split, "A2", neurons=[5, 1])
    torch.testing.assert_close(chunked.delta_loss, whole.delta_loss, rtol=1e-9, atol=1e-13)
    assert subset.neurons.tolist() == [5, 1]
    torch.testing.assert_close(subset.delta_loss, whole.delta_loss[[5, 1]], rtol=1e-9,
                               atol=1e-13)
    torch.testing.assert_close(subset.delta_accuracy, whole.delta_accuracy[[5, 1]])


def test_model_is_not_modified(model, split):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    loss_change_oracle(model, "hidden2", split, "A3")
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_tied_logits_count_like_argmax(split):
    """All-zero output weights tie every class: argmax (and evaluate) picks class 0."""
    tied = random_mlp(WIDTHS, "tanh", seed=4)
    with torch.no_grad():
        tied.layers[-1].weight.zero_()
        tied.layers[-1].bias.zero_()
    result = loss_change_oracle(tied, "hidden1", split, "none")
    base = evaluate(tied, split)
    assert result.base_accuracy == base.accuracy == float((split.y == 0).double().mean())
    assert torch.all(result.delta_accuracy == 0.0)


def test_float32_model_matches_brute_force_closely():
    model = random_mlp((20, 12, 5, 4), "tanh", seed=6).float()
    g = torch.Generator().manual_seed(1)
    split = Split(torch.rand(2000, 20, generator=g), torch.randint(0, 4, (2000,), generator=g))
    stats = collect_site_statistics(model, "hidden1", split.x, covariance=True)
    for rule in ("A1", "A3"):
        result = loss_change_oracle(model, "hidden1", split, rule, stats=stats)
        _, losses, _ = brute_force(model, "hidden1", split, rule, stats)
        torch.testing.assert_close(result.delta_loss, losses, rtol=1e-4, atol=1e-6)


def test_errors(model, split):
    stats = collect_site_statistics(model, "hidden2", split.x, covariance=True)
    with pytest.raises(NeuroplastError, match="not 'hidden1'"):
        loss_change_oracle(model, "hidden1", split, "A1", stats=stats)
    with pytest.raises(NeuroplastError, match="unknown re-wiring rule"):
        loss_change_oracle(model, "hidden1", split, "A9")
    with pytest.raises(NeuroplastError, match="unknown site"):
        loss_change_oracle(model, "hidden9", split, "A1")
    with pytest.raises(NeuroplastError, match="needs the site covariance"):
        loss_change_oracle(model, "hidden1", split, "A3",
                           stats=collect_site_statistics(model, "hidden1", split.x))
    with pytest.raises(NeuroplastError, match="empty"):
        loss_change_oracle(model, "hidden1", Split(split.x[:0], split.y[:0]), "A1")
    with pytest.raises(NeuroplastError, match="neuron indices"):
        loss_change_oracle(model, "hidden1", split, "A1", neurons=[6])
    bad = Split(split.x.clone(), split.y)
    bad.x[3, 0] = float("nan")
    with pytest.raises(NeuroplastError, match="NaN or infinite"):
        loss_change_oracle(model, "hidden1", bad, "A1", stats=collect_site_statistics(
            model, "hidden1", split.x))
