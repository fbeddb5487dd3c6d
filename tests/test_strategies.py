"""Tests for neuroplast.death.strategies: cutoff, relative cutoff, amount, goals, options.

Efficiencies, counts and accuracies that the assertions compare with are computed here in
float64 numpy (eq. 28 from the site values) or with an independent float64 copy of the model,
never read back from the code under test.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.death import PruneResult, Rewirer, prune, prune_cycles, prune_cycles_together
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, build_mlp, count_macs, count_parameters, initialize
from neuroplast.stats import collect_site_statistics
from neuroplast.train import evaluate, get_protocol, train

DT = torch.float64



def small_split(features: int = 12, n: int = 600, seed: int = 0, classes: int = 3) -> Split:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 5, generator=g, dtype=DT)
    x = base @ torch.randn(5, features, generator=g, dtype=DT) \
        + 0.3 * torch.randn(n, features, generator=g, dtype=DT)
    y = (base[:, 0] > 0).long() + (base[:, 1] > 0.5).long()
    return Split(x, y.clamp_max(classes - 1))


def small_model(seed: int = 0, widths=(12, 10, 6, 3)) -> MLP:
    return random_mlp(list(widths), seed=seed)


def fitted_model(seed: int, split: Split, widths=(12, 10, 6, 3)) -> MLP:
    """A small float64 model fitted to ``split`` (full-batch Adam, 150 steps)."""
    model = small_model(seed, widths)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(split.x), split.y).backward()
        optimizer.step()
    return model


def connection_efficiency_np(model: MLP, site: str, x: torch.Tensor) -> np.ndarray:
    """E_k = C_kk Σ_i w_ik² f'(ȳ_i)² / C_ii (eq. 28) from the site values, in numpy."""
    with torch.no_grad():
        values = model.site_values(site, x).numpy().astype(np.float64)
    consumer = model.site(site).consumer
    w = consumer.weight.detach().numpy().astype(np.float64)
    b = consumer.bias.detach().numpy().astype(np.float64)
    z = values @ w.T + b
    out_var = np.var(np.tanh(z), axis=0)
    y_bar = w @ values.mean(axis=0) + b
    g = np.where(out_var > 1e-12, (1 - np.tanh(y_bar) ** 2) ** 2 / np.maximum(out_var, 1e-300), 0)
    return np.var(values, axis=0) * (g @ w**2)


def float64_copy_evaluate(model: MLP, removed: list[int], split: Split, stats) -> float:
    """Training accuracy of a float64 copy after A1-removing ``removed`` (one set of stats)."""
    copy64 = copy.deepcopy(model).double()
    rewirer = Rewirer(copy64, "hidden1", stats, "A1")
    rewirer.remove_many(removed)
    rewirer.commit(copy64)
    with torch.no_grad():
        logits = copy64(split.x.double())
    return (logits.argmax(1) == split.y).double().mean().item()


# -- counts match the definitions ----------------------------------------------------------


def test_cutoff_removes_exactly_the_neurons_below_it_least_efficient_first(trained_n4,
                                                                           mnist_small):
    model = copy.deepcopy(trained_n4)
    split = mnist_small.train
    e = connection_efficiency_np(model, "hidden1", split.x)
    cutoff = float(np.quantile(e, 0.3))  # about 30 neurons
    expected = np.flatnonzero(e < cutoff)
    result = prune(model, "hidden1", split, cutoff=cutoff)
    assert sorted(result.removed) == expected.tolist()
    assert list(result.removed) == expected[np.argsort(e[expected], kind="stable")].tolist()
    np.testing.assert_allclose(result.efficiencies, e, rtol=1e-4, atol=1e-9)
    assert result.width_before == 100 and result.width_after == 100 - expected.size
    assert model.widths == [784, 100 - expected.size, 5, 10]
    assert sorted(result.kept + result.removed) == list(range(100))
    assert result.parameters_after == count_parameters(model)
    assert result.parameters_before - result.parameters_after == expected.size * (784 + 1 + 5)
    assert result.macs_before - result.macs_after == expected.size * (784 + 5)
    assert result.threshold == cutoff and result.strategy == "cutoff"
    assert result.rule == "A1" and result.measure == "connection"
    assert result.accuracy is None and result.seconds > 0


def test_relative_cutoff_uses_a_fraction_of_the_largest_efficiency(trained_n4, mnist_small):
    model = copy.deepcopy(trained_n4)
    e = connection_efficiency_np(model, "hidden1", mnist_small.train.x)
    result = prune(model, "hidden1", mnist_small.train, relative_cutoff=0.1)
    assert sorted(result.removed) == np.flatnonzero(e < 0.1 * e.max()).tolist()
    assert result.threshold == pytest.approx(0.1 * e.max(), rel=1e-4)


@pytest.mark.parametrize("amount, count", [(7, 7), (0.3, 3), (0, 0), (0.0, 0)])
def test_amount_int_is_a_count_and_float_a_fraction(amount, count):
    split = small_split()
    model = small_model()
    e = connection_efficiency_np(model, "hidden1", split.x)
    result = prune(model, "hidden1", split, amount=amount)
    assert list(result.removed) == np.argsort(e, kind="stable")[:count].tolist()
    assert model.widths[1] == 10 - count


def test_zero_cutoff_removes_nothing_even_constant_neurons():
    split = small_split()
    model = small_model()
    with torch.no_grad():
        model.layers[0].weight[3] = 0.0  # a constant neuron: E = 0
    result = prune(model, "hidden1", split, cutoff=0.0)
    assert result.removed == () and model.widths[1] == 10
    result = prune(model, "hidden1", split, cutoff=1e-30)
    assert result.removed == (3,)


def test_max_fraction_caps_the_removal():
    split = small_split()
    model = small_model()
    e = connection_efficiency_np(model, "hidden1", split.x)
    result = prune(model, "hidden1", split, cutoff=1e9, max_fraction=0.35)
    assert list(result.removed) == np.argsort(e, kind="stable")[:3].tolist()
    model = small_model()
    result = prune(model, "hidden1", split, goal_accuracy=0.01, max_fraction=0.5)
    assert len(result.removed) == 5


# -- goals -----------------------------------------------------------------------------------


def test_accuracy_goal_holds_and_the_next_removal_would_break_it(trained_n4, mnist_small):
    model = copy.deepcopy(trained_n4)
    split = mnist_small.train
    initial = evaluate(model, split).accuracy
    goal = initial - 0.02
    stats = collect_site_statistics(trained_n4, "hidden1", split.x)
    e = connection_efficiency_np(trained_n4, "hidden1", split.x)
    order = np.argsort(e, kind="stable").tolist()
    result = prune(model, "hidden1", split, goal_accuracy=goal)
    n = len(result.removed)
    assert 0 < n < 99
    assert list(result.removed) == order[:n]
    assert result.accuracy >= goal and result.accuracy_before == pytest.approx(initial, abs=2e-4)
    assert evaluate(model, split).accuracy == pytest.approx(result.accuracy, abs=3e-4)
    slack = 2.5 / split.n  # float32 vs float64: an example or two on a decision boundary
    assert float64_copy_evaluate(trained_n4, order[:n], split, stats) >= goal - slack
    assert float64_copy_evaluate(trained_n4, order[: n + 1], split, stats) < goal + slack


def test_loss_goal_holds_and_the_next_removal_would_break_it():
    split = small_split(n=800)
    model = fitted_model(3, split)
    initial = evaluate(model, split).loss
    goal = initial * 1.5
    result = prune(model, "hidden1", split, goal_loss=goal, rule="lstsq")
    assert result.loss <= goal
    assert evaluate(model, split).loss == pytest.approx(result.loss, rel=1e-10)
    if result.width_after > 1:  # undo: redo one more removal with the same rule by hand
        reference = fitted_model(3, split)
        stats = collect_site_statistics(reference, "hidden1", split.x, covariance=True)
        order = np.argsort(torch.as_tensor(result.efficiencies).numpy(), kind="stable")
        rewirer = Rewirer(reference, "hidden1", stats, "lstsq")
        rewirer.remove_many(order[: len(result.removed) + 1].tolist())
        rewirer.commit(reference)
        assert evaluate(reference, split).loss > goal


def test_goal_already_missed_removes_nothing():
    split = small_split()
    model = small_model()
    result = prune(model, "hidden1", split, goal_accuracy=1.0)
    assert result.removed == () and model.widths[1] == 10
    assert result.accuracy == result.accuracy_before < 1.0


def test_goal_strategies_stop_at_one_neuron():
    split = small_split()
    model = small_model()
    result = prune(model, "hidden1", split, goal_loss=1e6)
    assert result.width_after == 1 and len(result.removed) == 9


# -- recompute --------------------------------------------------------------------------------


def test_recompute_follows_the_sequential_definition():
    split = small_split(n=500)
    model = small_model(seed=4)
    reference = small_model(seed=4)
    cutoff = float(np.quantile(connection_efficiency_np(model, "hidden1", split.x), 0.5))
    result = prune(model, "hidden1", split, cutoff=cutoff, recompute=True)
    # by hand: recollect statistics, recompute E_k (numpy), remove the least one if < cutoff
    original = list(range(10))
    removed = []
    while True:
        e = connection_efficiency_np(reference, "hidden1", split.x)
        l = int(np.argmin(e))
        if not e[l] < cutoff:
            break
        stats = collect_site_statistics(reference, "hidden1", split.x)
        rewirer = Rewirer(reference, "hidden1", stats, "A1")
        rewirer.remove(l)
        rewirer.commit(reference)
        removed.append(original.pop(l))
    assert list(result.removed) == removed
    assert list(result.kept) == original
    torch.testing.assert_close(model.layers[1].weight, reference.layers[1].weight)
    torch.testing.assert_close(model.layers[1].bias, reference.layers[1].bias, rtol=1e-9,
                               atol=1e-12)
    assert len(result.removal_efficiencies) == len(removed)


@pytest.mark.parametrize("kind", ["amount", "goal_accuracy"])
def test_recompute_with_amount_and_goal(kind):
    split = small_split()
    model = fitted_model(5, split)
    goal = evaluate(model, split).accuracy - 0.05
    kwargs = {"amount": 4} if kind == "amount" else {"goal_accuracy": goal}
    rule = "A2" if kind == "amount" else "A1"
    result = prune(model, "hidden1", split, recompute=True, rule=rule, **kwargs)
    if kind == "amount":
        assert len(result.removed) == 4
    else:
        assert 0 < len(result.removed) < 9
        assert result.accuracy >= goal
        assert evaluate(model, split).accuracy == pytest.approx(result.accuracy, abs=1e-12)
    assert model.widths[1] == 10 - len(result.removed)


# -- every site, rule and measure -------------------------------------------------------------


@pytest.mark.parametrize("site", ["input", "hidden1", "hidden2"])
@pytest.mark.parametrize("rule", ["A1", "A2", "A3", "A3-appendix", "lstsq", "none"])
def test_every_rule_on_every_site(site, rule):
    split = small_split()
    model = small_model(seed=6)
    width = model.site(site).width
    result = prune(model, site, split, rule=rule, amount=2)
    assert model.site(site).width == width - 2 == result.width_after
    assert torch.isfinite(model(split.x)).all()
    model = fitted_model(6, split)
    goal = evaluate(model, split).accuracy - 0.05
    result = prune(model, site, split, rule=rule, goal_accuracy=goal)
    assert result.accuracy >= goal
    assert evaluate(model, split).accuracy == pytest.approx(result.accuracy, abs=1e-12)


@pytest.mark.parametrize("measure", MEASURES.names())
@pytest.mark.parametrize("site", ["input", "hidden1"])
def test_every_registered_measure_drives_every_strategy(measure, site):
    split = small_split()
    model = small_model(seed=7)
    stats = collect_site_statistics(model, site, split.x, covariance=True)
    try:
        scores = efficiency(measure, model, site, stats, split)
    except NeuroplastError as exc:
        pytest.skip(f"{measure} does not apply to {site}: {exc}")
    order = torch.argsort(scores, stable=True)
    for kwargs in ({"amount": 3}, {"relative_cutoff": 0.5}, {"goal_accuracy": 0.2},
                   {"amount": 2, "recompute": True}):
        pruned = small_model(seed=7)
        if "relative_cutoff" in kwargs and float(scores.min()) < 0:
            with pytest.raises(NeuroplastError, match="needs non-negative scores"):
                prune(pruned, site, split, measure=measure, **kwargs)
            continue
        result = prune(pruned, site, split, measure=measure, **kwargs)
        assert result.measure == measure
        if "amount" in kwargs and not kwargs.get("recompute"):
            assert list(result.removed) == order[:3].tolist()


def test_input_site_pruning_keeps_full_size_inputs():
    split = small_split()
    split.x[:, 5] = 0.5  # a constant feature
    model = small_model(seed=8)
    expected = model(split.x).detach()
    result = prune(model, "input", split, cutoff=1e-12)
    assert result.removed == (5,)
    assert model.selector.kept.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    torch.testing.assert_close(model(split.x), expected, rtol=0, atol=1e-12)


def test_untrained_net_loses_its_constant_border_pixels(mnist_small):
    """§5.4: A1 on an untrained N4; zero-variance pixels have E_k = 0 and go first."""
    split = mnist_small.train
    model = initialize(build_mlp("N4"), seed=0)
    constant = torch.nonzero(split.x.var(dim=0) == 0).flatten().tolist()
    assert {0, 27, 756, 783} <= set(constant)
    result = prune(model, "input", split, relative_cutoff=0.01)
    removed = set(result.removed)  # positions = pixel ids (nothing was pruned before)
    assert set(constant) <= removed
    assert model.selector.kept.numel() == 784 - len(removed)
    assert not set(model.selector.kept.tolist()) & set(constant)
    e = np.asarray(result.efficiencies)
    assert all(e[k] < 0.01 * e.max() for k in removed)


def test_optimizer_state_follows_the_pruning_and_training_continues(mnist_small):
    split = Split(mnist_small.train.x[:1200], mnist_small.train.y[:1200])
    model = initialize(build_mlp("N4"), seed=1)
    protocol = get_protocol("quick")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, split, protocol, epochs=1, seed=0, optimizer=optimizer, progress=False)
    buffer = optimizer.state[model.layers[0].weight]["momentum_buffer"].clone()
    result = prune(model, "hidden1", split, amount=30, optimizer=optimizer)
    kept = torch.tensor(result.kept)
    torch.testing.assert_close(optimizer.state[model.layers[0].weight]["momentum_buffer"],
                               buffer[kept])
    train(model, split, protocol, epochs=1, seed=1, optimizer=optimizer, progress=False)
    assert model.widths == [784, 70, 5, 10]


def test_stats_argument_gives_the_same_result():
    split = small_split()
    a, b = small_model(seed=9), small_model(seed=9)
    stats = collect_site_statistics(a, "hidden1", split.x, covariance=True)
    ra = prune(a, "hidden1", split, rule="lstsq", amount=4, stats=stats)
    rb = prune(b, "hidden1", split, rule="lstsq", amount=4)
    assert ra.removed == rb.removed
    torch.testing.assert_close(a.layers[1].weight, b.layers[1].weight)


def test_result_as_dict_is_json():
    split = small_split()
    result = prune(small_model(), "hidden1", split, goal_accuracy=0.2)
    assert isinstance(result, PruneResult)
    text = json.dumps(result.as_dict())
    assert json.loads(text)["removed"] == list(result.removed)


def test_prune_cycles_prunes_retrains_and_prunes_again(mnist_small):
    split = Split(mnist_small.train.x[:2000], mnist_small.train.y[:2000])
    test = Split(mnist_small.test.x[:500], mnist_small.test.y[:500])
    model = initialize(build_mlp("N4"), seed=2)
    protocol = get_protocol("quick")
    train(model, split, protocol, epochs=3, seed=0, progress=False)
    results = prune_cycles(model, "hidden1", split, protocol, cycles=3, retrain_paper_epochs=500,
                           seed=0, test_split=test, relative_cutoff=0.05)
    assert len(results) == 3
    assert [r.retrain is not None for r in results] == [True, True, False]
    widths = [r.width_after for r in results]
    assert widths == sorted(widths, reverse=True) and widths[-1] == model.widths[1]
    assert results[1].width_before == results[0].width_after
    assert set(results[0].after) == {"train_loss", "train_accuracy", "test_loss",
                                     "test_accuracy"}
    assert results[0].retrain["steps"] == round(protocol.epochs(500) * math.ceil(
        min(split.n, protocol.max_train_examples or split.n) / protocol.batch_size))
    with pytest.raises(NeuroplastError, match="cycles must be an integer >= 1"):
        prune_cycles(model, "hidden1", split, protocol, cycles=0, retrain_paper_epochs=1,
                     seed=0, amount=1)


def test_a_seed_the_last_retraining_cannot_use_is_refused_before_the_first_prune():
    """Cycle k retrains with seed + 1000 k: a seed near 2**63 − 1 would fail after the earlier
    cycles' work; it is refused before any (the model is not touched). The last retrained
    cycle is the last one with ``retrain_last``, else the one before it."""
    model, split = small_model(), small_split()
    widths = list(model.widths)
    quick = get_protocol("quick")
    with pytest.raises(NeuroplastError, match=r"give a seed of at most 9223372036854773807"):
        prune_cycles(model, "hidden1", split, quick, cycles=3, retrain_paper_epochs=10,
                     seed=2**63 - 2000, amount=1)  # cycles 1 and 2 retrain
    with pytest.raises(NeuroplastError, match=r"give a seed of at most 9223372036854772807"):
        prune_cycles(model, "hidden1", split, quick, cycles=3, retrain_paper_epochs=10,
                     seed=2**63 - 3000, amount=1, retrain_last=True)  # cycles 1, 2 and 3
    assert model.widths == widths
    results = prune_cycles(model, "hidden1", split, quick, cycles=3, retrain_paper_epochs=0,
                           seed=2**63 - 2000, amount=1)
    assert len(results) == 3  # no retraining: the seed is never used
    results = prune_cycles(model, "hidden1", split, quick, cycles=1, retrain_paper_epochs=10,
                           seed=2**63 - 1, amount=1)
    assert results[0].retrain is None  # one cycle, not retrained after: the seed is unused


@pytest.mark.parametrize(("site", "settings", "cycles", "retrain_last"), [
    ("hidden1", [{"relative_cutoff": 0.02}, {"relative_cutoff": 0.1},
                 {"relative_cutoff": 0.3}, {"goal_accuracy": 0.5}], 3, False),
    ("input", [{"relative_cutoff": 0.001}, {"relative_cutoff": 0.05}], 1, True),
])
def test_prune_cycles_together_equals_one_chain_after_another(mnist_small, site, settings,
                                                              cycles, retrain_last):
    """Lock-step chains whose retrainings are fused give each chain's own results (float64,
    so the fused sums' rounding cannot flip a pruning decision)."""
    split = Split(mnist_small.train.x[:2000], mnist_small.train.y[:2000])
    test = Split(mnist_small.test.x[:500], mnist_small.test.y[:500])
    base = initialize(build_mlp("N4"), seed=2).double()
    protocol = get_protocol("quick")
    train(base, split, protocol, epochs=3, seed=0, progress=False)
    together = [copy.deepcopy(base) for _ in settings]
    chains = prune_cycles_together(together, site, split, protocol, cycles=cycles,
                                   retrain_paper_epochs=1000, seed=4, test_split=test,
                                   retrain_last=retrain_last, prune_kwargs=settings)
    widths = set()
    for model, chain, kwargs in zip(together, chains, settings, strict=True):
        alone = copy.deepcopy(base)
        reference = prune_cycles(alone, site, split, protocol, cycles=cycles,
                                 retrain_paper_epochs=1000, seed=4, test_split=test,
                                 retrain_last=retrain_last, **kwargs)
        assert [r.removed for r in chain] == [r.removed for r in reference]
        assert model.widths == alone.widths
        widths.add(tuple(model.widths))
        for p, q in zip(model.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-10)
        for got, want in zip(chain, reference, strict=True):
            assert got.after == pytest.approx(want.after, rel=1e-9)
            assert (got.retrain is None) == (want.retrain is None)
            if got.retrain is not None:
                assert got.retrain["train_accuracy"] == pytest.approx(
                    want.retrain["train_accuracy"], abs=1e-12)
                assert got.retrain["fused_members"] == len(settings)
                assert got.retrain["steps"] == want.retrain["steps"]
    assert len(widths) > 1  # the chains really pruned to different sizes
    with pytest.raises(NeuroplastError, match="one prune setting per model"):
        prune_cycles_together(together, site, split, protocol, cycles=1,
                              retrain_paper_epochs=0, seed=0, prune_kwargs=settings[:1])


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give one of cutoff, relative_cutoff, amount, goal_accuracy, goal_loss"),
    ({"cutoff": 0.1, "amount": 3}, "exactly one pruning strategy, got cutoff and amount"),
    ({"cutoff": -0.1}, "cutoff must be >= 0"),
    ({"cutoff": float("nan")}, "cutoff must be finite"),
    ({"relative_cutoff": 1.5}, r"must be in \[0, 1\]"),
    ({"amount": 10}, "amount 10 would remove every neuron of the site \\(width 10\\)"),
    ({"amount": -1}, "amount must be >= 0"),
    ({"amount": 1.0}, r"fractional amount must be in \[0, 1\)"),
    ({"amount": True}, "amount must be a number"),
    ({"goal_accuracy": 0.0}, r"goal_accuracy must be in \(0, 1\]"),
    ({"goal_accuracy": 97}, r"goal_accuracy must be in \(0, 1\]"),
    ({"goal_loss": 0}, "goal_loss must be > 0"),
    ({"amount": 2, "max_fraction": 0}, r"max_fraction must be in \(0, 1\]"),
    ({"amount": 2, "max_fraction": 1.5}, r"max_fraction must be in \(0, 1\]"),
    ({"amount": 2, "rule": "A9"}, "unknown re-wiring rule 'A9'"),
    ({"amount": 2, "measure": "nope"}, "unknown efficiency measure 'nope'"),
])
def test_bad_arguments_give_clear_errors(kwargs, message):
    model = small_model()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match=message):
        prune(model, "hidden1", small_split(), **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kwargs", [{"cutoff": 1e9}, {"relative_cutoff": 1.0},
                                    {"cutoff": 1e9, "recompute": True}, {"amount": 0.99}])
def test_refuses_to_remove_every_neuron_and_leaves_the_model_alone(kwargs):
    model = small_model()
    split = small_split()
    if "relative_cutoff" in kwargs:  # all equal efficiencies: nothing is below the maximum
        with torch.no_grad():
            model.layers[0].weight.zero_()
        assert prune(model, "hidden1", split, **kwargs).removed == ()
        return
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match="would remove every neuron of site 'hidden1'"):
        prune(model, "hidden1", split, **kwargs)
    assert model.widths == [12, 10, 6, 3]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert count_macs(model) == 12 * 10 + 10 * 6 + 6 * 3


def test_unknown_site_and_stale_statistics():
    model = small_model()
    split = small_split()
    with pytest.raises(NeuroplastError, match="unknown site 'hidden7'"):
        prune(model, "hidden7", split, amount=1)
    stats = collect_site_statistics(small_model(widths=(12, 8, 6, 3)), "hidden1", split.x)
    with pytest.raises(NeuroplastError, match="statistics are for 8 neurons"):
        prune(model, "hidden1", split, amount=1, stats=stats)
