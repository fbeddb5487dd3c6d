"""The conditional efficiency E^c and the greedy selection ``conditional:greedy`` (rule lstsq).

E^c_l = (1/P_ll) Σ_i g_i w_il² claims to be the weighted mean-square change of the consumer's
pre-activation when neuron l is removed next with least-squares compensation. Every expected
value here is computed by brute force in float64 numpy: regress x_l on its living layer-mates
(with an intercept) over the data, substitute it into the consumer, and measure the change of
the pre-activation; g_i = f'(ȳ_i)²/C_ii is computed from the data too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.death import Rewirer, prune
from neuroplast.efficiency import connection_cut_efficiency, efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP
from neuroplast.stats import collect_site_statistics
from neuroplast.train import evaluate

DT = torch.float64
SITE = "hidden1"
WIDTHS = (12, 10, 6, 3)



def correlated_split(n: int = 400, features: int = 12, seed: int = 0) -> Split:
    """Inputs near a rank-4 subspace, so the hidden neurons are strongly correlated."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 4, generator=g, dtype=DT)
    x = base @ torch.randn(4, features, generator=g, dtype=DT) \
        + 0.2 * torch.randn(n, features, generator=g, dtype=DT)
    y = (base[:, 0] > 0).long() + (base[:, 1] > 0.5).long()
    return Split(x, y)


class BruteForce:
    """The site's values and the consumer in numpy; removal by explicit regression."""

    def __init__(self, model: MLP, site: str, x: torch.Tensor) -> None:
        with torch.no_grad():
            self.x = model.site_values(site, x).numpy().astype(np.float64)  # (N, n)
        consumer = model.site(site).consumer
        self.w = consumer.weight.detach().numpy().astype(np.float64).copy()  # (m, n)
        self.b = consumer.bias.detach().numpy().astype(np.float64).copy()  # (m,)
        self.alive = np.ones(self.x.shape[1], dtype=bool)
        z = self.z()
        y_bar = self.w @ self.x.mean(axis=0) + self.b  # eq. 24
        out = np.tanh(z) if model.site(site).consumer_activation is not None else z
        slope = 1.0 - np.tanh(y_bar) ** 2 if model.site(site).consumer_activation is not None \
            else np.ones_like(y_bar)
        self.gain = slope**2 / out.var(axis=0)  # (m,) g_i of eq. 28

    def z(self, w: np.ndarray | None = None, b: np.ndarray | None = None) -> np.ndarray:
        w = self.w if w is None else w
        b = self.b if b is None else b
        return self.x @ w.T + b  # (N, m)

    def removed(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """(W, b) after regressing x_l on [1, living others] and substituting it."""
        others = np.flatnonzero(self.alive & (np.arange(self.alive.size) != l))
        design = np.column_stack([np.ones(self.x.shape[0]), self.x[:, others]])
        beta, *_ = np.linalg.lstsq(design, self.x[:, l], rcond=None)
        w, b = self.w.copy(), self.b.copy()
        w[:, others] += np.outer(self.w[:, l], beta[1:])
        b += self.w[:, l] * beta[0]
        w[:, l] = 0.0
        return w, b

    def cost(self, l: int) -> float:
        """Σ_i g_i mean((z'_i − z_i)²) when l is removed now."""
        change = self.z(*self.removed(l)) - self.z()  # (N, m)
        return float(self.gain @ (change**2).mean(axis=0))

    def costs(self) -> np.ndarray:
        return np.array([self.cost(l) if self.alive[l] else np.inf
                         for l in range(self.alive.size)])

    def remove(self, l: int) -> None:
        self.w, self.b = self.removed(l)
        self.alive[l] = False


def setup(seed: int = 1) -> tuple[MLP, Split]:
    return random_mlp(WIDTHS, seed=seed), correlated_split(seed=seed)


def fitted(seed: int = 1) -> tuple[MLP, Split]:
    """The model of :func:`setup` fitted to its data (full-batch Adam, 150 steps)."""
    model, split = setup(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(split.x), split.y).backward()
        optimizer.step()
    return model, split


def test_first_costs_equal_brute_force_and_the_static_measure():
    model, split = setup()
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    expected = BruteForce(model, SITE, split.x).costs()
    costs = Rewirer(model, SITE, stats, "lstsq").removal_costs()
    np.testing.assert_allclose(costs.numpy(), expected, rtol=1e-7)
    measure = efficiency("conditional", model, SITE, stats, split)
    np.testing.assert_allclose(measure.numpy(), expected, rtol=1e-7)
    greedy = efficiency("conditional:greedy", model, SITE, stats, split)
    assert torch.equal(greedy, measure)  # before any removal the greedy costs are the static
    # the conditional variance never exceeds the variance: E^c_k ≤ E_k (eq. 28)
    e_k = connection_cut_efficiency(model, SITE, stats)
    assert bool((measure <= e_k * (1 + 1e-9)).all())
    assert float((measure / e_k).min()) < 0.5  # the correlation matters on this data


@pytest.mark.parametrize("seed", [1, 2])
def test_greedy_steps_follow_the_brute_force_argmin_and_costs(seed):
    """Five greedy steps: at each one the costs (with the compensated columns and the
    downdated precision) equal the brute force on the brute-force-pruned consumer, and the
    neuron chosen is the brute force's argmin."""
    model, split = setup(seed)
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    rewirer = Rewirer(model, SITE, stats, "lstsq")
    brute = BruteForce(model, SITE, split.x)
    for _ in range(5):
        expected = brute.costs()
        costs = rewirer.removal_costs().numpy()
        assert np.isinf(costs[~brute.alive]).all()
        np.testing.assert_allclose(costs[brute.alive], expected[brute.alive], rtol=1e-6)
        l, cost = rewirer.cheapest()
        assert l == int(np.argmin(expected))
        assert cost == pytest.approx(expected[l], rel=1e-6)
        rewirer.remove(l)
        brute.remove(l)
        np.testing.assert_allclose(rewirer.weight.numpy(), brute.w, rtol=1e-6, atol=1e-9)


def greedy_steps(model: MLP, split: Split, count: int) -> tuple[Rewirer, list[tuple[int, float]]]:
    """A re-wirer after ``count`` greedy removals, and each (neuron, cost) in order."""
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    rewirer = Rewirer(model, SITE, stats, "lstsq")
    steps = []
    for _ in range(count):
        steps.append(rewirer.cheapest())
        rewirer.remove(steps[-1][0])
    return rewirer, steps


def test_prune_amount_removes_the_greedy_sequence_and_reports_its_costs():
    model, split = setup()
    rewirer, steps = greedy_steps(model, split, 6)
    first = efficiency("conditional", model, SITE,
                       collect_site_statistics(model, SITE, split.x, covariance=True), split)
    expected = copy.deepcopy(model)
    rewirer.commit(expected)
    result = prune(model, SITE, split, rule="lstsq", measure="conditional:greedy", amount=6)
    assert list(result.removed) == [l for l, _ in steps]
    assert list(result.removal_efficiencies) == pytest.approx([c for _, c in steps], rel=1e-12)
    assert result.measure == "conditional:greedy" and result.rule == "lstsq"
    assert list(result.efficiencies) == pytest.approx(first.tolist(), rel=1e-12)
    torch.testing.assert_close(model(split.x), expected(split.x), rtol=0, atol=1e-12)
    # the static ranking would have removed other neurons here (the greedy differs)
    static = torch.argsort(torch.tensor(result.efficiencies), stable=True)[:6].tolist()
    assert static != list(result.removed)


def test_cutoff_and_goal_follow_the_greedy_sequence():
    model, split = fitted()
    _, steps = greedy_steps(model, split, 9)
    costs = [c for _, c in steps]
    # a cutoff between the k-th cost and every later one removes exactly the first k
    k = next(i for i in range(3, 8) if min(costs[i + 1 :]) > costs[i])
    cutoff = 0.5 * (costs[k] + costs[k + 1])
    result = prune(copy.deepcopy(model), SITE, split, rule="lstsq",
                   measure="conditional:greedy", cutoff=cutoff)
    assert list(result.removed) == [l for l, _ in steps[: k + 1]]
    assert result.threshold == cutoff
    assert prune(copy.deepcopy(model), SITE, split, rule="lstsq", measure="conditional:greedy",
                 cutoff=0.0).removed == ()
    goal = evaluate(model, split).accuracy - 0.02
    pruned = copy.deepcopy(model)
    result = prune(pruned, SITE, split, rule="lstsq", measure="conditional:greedy",
                   goal_accuracy=goal)
    n = len(result.removed)
    assert 0 < n < len(steps) and list(result.removed) == [l for l, _ in steps[:n]]
    assert result.accuracy >= goal
    assert evaluate(pruned, split).accuracy == pytest.approx(result.accuracy, abs=1e-12)
    # one more greedy removal breaks the goal (the failing removal is not applied)
    longer = copy.deepcopy(model)
    prune(longer, SITE, split, rule="lstsq", measure="conditional:greedy", amount=n + 1)
    assert evaluate(longer, split).accuracy < goal


def test_an_exact_duplicate_goes_first_and_the_outputs_do_not_change():
    """Neuron 7 copies neuron 2's incoming weights: x_7 = x_2 exactly, so removing either
    with least squares is exact, E^c ≈ 0, and the greedy removes one of them first."""
    model, split = setup()
    first = model.layers[0]
    with torch.no_grad():
        first.weight[7] = first.weight[2]
        first.bias[7] = first.bias[2]
    before = model(split.x).detach()
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    costs = Rewirer(model, SITE, stats, "lstsq").removal_costs()
    alive = [c for i, c in enumerate(costs.tolist()) if i not in (2, 7)]
    assert float(costs[[2, 7]].max()) < 1e-6 * min(alive)
    result = prune(model, SITE, split, rule="lstsq", measure="conditional:greedy", amount=1)
    assert result.removed[0] in (2, 7)
    torch.testing.assert_close(model(split.x), before, rtol=0, atol=1e-10)


def test_an_exactly_dependent_input_feature_goes_first():
    """On the input site: feature 5 = 2 x_0 − x_3 + 0.5 is removed first, outputs unchanged."""
    model, split = setup()
    x = split.x.clone()
    x[:, 5] = 2 * x[:, 0] - x[:, 3] + 0.5
    split = Split(x, split.y)
    before = model(split.x).detach()
    result = prune(model, "input", split, rule="lstsq", measure="conditional:greedy", amount=1)
    assert result.removed[0] in (0, 3, 5)
    assert result.removal_efficiencies[0] < 1e-6 * sorted(result.efficiencies)[4]
    torch.testing.assert_close(model(split.x), before, rtol=0, atol=1e-10)


@pytest.mark.parametrize("rule", ["A1", "A2", "A3", "A3-appendix", "none"])
def test_greedy_refuses_other_rules(rule):
    model, split = setup()
    state = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match="rule lstsq only.*conditional"):
        prune(model, SITE, split, rule=rule, measure="conditional:greedy", amount=2)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    with pytest.raises(NeuroplastError, match="use rule lstsq"):
        Rewirer(model, SITE, stats, rule).removal_costs()
    # the static measure works with every rule
    assert prune(model, SITE, split, rule=rule, measure="conditional", amount=2).n_removed == 2


def test_bad_argument_and_emptying_are_refused():
    model, split = setup()
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    with pytest.raises(NeuroplastError, match="no argument other than 'greedy'"):
        efficiency("conditional:fast", model, SITE, stats, split)
    with pytest.raises(NeuroplastError, match="every neuron"):
        prune(model, SITE, split, rule="lstsq", measure="conditional:greedy", cutoff=1e300)
    assert model.site(SITE).width == 10


def test_recompute_uses_the_same_first_choice():
    """With recompute the costs come from fresh statistics; the first step is the same."""
    model, split = setup()
    greedy = prune(copy.deepcopy(model), SITE, split, rule="lstsq",
                   measure="conditional:greedy", amount=3)
    again = prune(copy.deepcopy(model), SITE, split, rule="lstsq",
                  measure="conditional:greedy", amount=3, recompute=True)
    assert again.removed[0] == greedy.removed[0]
    assert again.removal_efficiencies[0] == pytest.approx(greedy.removal_efficiencies[0],
                                                          rel=1e-9)
    with pytest.raises(NeuroplastError, match="rule lstsq only"):
        prune(model, SITE, split, rule="A1", measure="conditional:greedy", amount=3,
              recompute=True)


def test_greedy_is_refused_for_choosing_parents_and_by_the_schedule():
    from neuroplast.replication.schedule import DeathReplicationSchedule
    from neuroplast.replication.split import most_efficient_neurons

    model = random_mlp(WIDTHS, seed=1)
    with pytest.raises(NeuroplastError, match="not a ranking of parents"):
        most_efficient_neurons(model, SITE, 1, measure="conditional:greedy",
                               data=correlated_split())
    with pytest.raises(NeuroplastError, match="use 'conditional' instead"):
        DeathReplicationSchedule(cutoff=0.01, every_paper_epochs=500,
                                 measure="conditional:greedy")
