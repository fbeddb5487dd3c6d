"""Structured-pruning baselines on general sites, each against an independent float64
reimplementation of its paper (issue 13 item 2): FLAP (An et al. 2024), Wanda-sp (FLAP's
structured Wanda), structured OBS (ZipLM, Kurtic et al. 2023; SlimGPT), Torch-Pruning's group
importances and network slimming's BN scale — and where a baseline is one of our rules:

* FLAP's fluctuation score is eq. 28's E_k with the consumer gain set to 1, and its bias
  compensation is rule A1 (``test_flap_score_is_e_k_with_unit_gain``,
  ``test_flap_procedure_equals_prune_a1_flap``);
* structured OBS is lstsq + conditional:greedy without intercept and gain; with zero site
  means and unit gain they coincide (``test_obs_equals_lstsq_greedy_on_zero_means_unit_gain``).

Three sites: Linear → tanh → Linear (nn.Sequential), Conv2d → BN → ReLU → Conv2d (zero
padding) and a gated FFN down(silu(gate(x)) · up(x)).
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import random_mlp
from torch import nn

import neuroplast
from neuroplast.data import Split
from neuroplast.efficiency import efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.sites import conv_site, gated_site, linear_site
from neuroplast.stats import collect_site_statistics

DT = torch.float64


# -- three small models, one site each -----------------------------------------------------


def linear_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4)).to(DT)
    site = linear_site("ffn", producer=model[0], consumer=model[2], activation="tanh")
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(240, 6, generator=g, dtype=DT)
    x[:, 5] = 0.5 * x[:, 0] - 0.3 * x[:, 1]  # correlated inputs: structured OBS has work to do
    y = torch.randint(0, 4, (240,), generator=g)
    return model, site, x, y


def conv_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    conv1, bn, conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Conv2d(6, 5, 3,
                                                                                 padding=1)
    model = nn.Sequential(conv1, bn, nn.ReLU(), conv2, nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(5, 3)).to(DT)
    with torch.no_grad():  # a BatchNorm that is not the identity
        bn.weight.uniform_(0.2, 2.0)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
    site = conv_site("block", producer=conv1, consumer=conv2, between=(bn,), activation="relu")
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(12, 3, 6, 6, generator=g, dtype=DT)
    y = torch.randint(0, 3, (12,), generator=g)
    return model, site, x, y


class GatedFFN(nn.Module):
    """down(silu(gate(x)) · up(x)), a LLaMA MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(5, 8), nn.Linear(5, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


def gated_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = GatedFFN().to(DT)
    site = gated_site("mlp", gate=model.gate, up=model.up, consumer=model.down)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(200, 5, generator=g, dtype=DT)
    y = torch.randint(0, 3, (200,), generator=g)
    return model, site, x, y


MODELS = {"linear": linear_model, "conv": conv_model, "gated": gated_model}


def site_rows(model: nn.Module, site: neuroplast.Site, x: torch.Tensor) -> np.ndarray:
    """The site's values as the consumer reads them, (rows, n), from a hook (no statistics)."""
    seen = []
    handle = site.consumer.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        handle.remove()
    values = seen[0].detach()
    if values.ndim == 4:  # (B, n, H, W) → (B·H·W, n)
        values = values.permute(0, 2, 3, 1).reshape(-1, values.shape[1])
    return values.reshape(-1, values.shape[-1]).numpy().astype(np.float64)


def consumer_weight(site: neuroplast.Site) -> np.ndarray:
    """W (m, n, K) as numpy float64."""
    weight = site.consumer.weight.detach().numpy().astype(np.float64)
    return weight.reshape(weight.shape[0], weight.shape[1], -1)


# -- rule none is plain slicing on every site kind -----------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_rule_none_leaves_the_consumer_bias_alone(kind):
    """Wanda-sp and the Torch-Pruning scores prune without compensation: the kept columns and
    the bias are the original ones (on a conv site too, where A1's per-offset means differ)."""
    model, site, x, _ = MODELS[kind]()
    weight, bias = consumer_weight(site), site.consumer.bias.detach().clone()
    result = neuroplast.prune(model, site, x, rule="none", measure="magnitude-l2", amount=3)
    kept = list(result.kept)
    np.testing.assert_array_equal(consumer_weight(site), weight[:, kept])
    assert torch.equal(site.consumer.bias.detach(), bias)


# -- structured OBS (ZipLM / SlimGPT) ------------------------------------------------------


def ziplm_structured_obs(weight: np.ndarray, rows: np.ndarray, count: int,
                         rel_damp: float = 1e-10) -> tuple[list[int], np.ndarray]:
    """ZipLM's structured OBS for single columns, written from the paper (§3) in numpy:
    H = XᵀX/N + λI (λ = rel_damp · mean diag), score_k = Σ_i W_ik² / [H⁻¹]_kk, remove the
    cheapest, W ← W − W_:,k [H⁻¹]_k,: / [H⁻¹]_kk, H⁻¹ ← H⁻¹ − [H⁻¹]_:,k [H⁻¹]_k,: / [H⁻¹]_kk,
    repeat. Returns the removal order and the final (m, n) weights (removed columns 0)."""
    h = rows.T @ rows / rows.shape[0]
    h = h + rel_damp * np.mean(np.diag(h)) * np.eye(h.shape[0])
    h_inv = np.linalg.inv(h)
    w = weight.copy()
    removed: list[int] = []
    for _ in range(count):
        diagonal = np.diag(h_inv).copy()
        diagonal[removed] = 1.0  # a removed column's H⁻¹ row and column are zero
        scores = (w**2).sum(axis=0) / diagonal
        scores[removed] = np.inf
        k = int(np.argmin(scores))
        row = h_inv[k].copy()
        w -= np.outer(w[:, k], row / row[k])
        w[:, k] = 0.0
        h_inv -= np.outer(row, row) / row[k]
        removed.append(k)
    return removed, w


@pytest.mark.parametrize("kind", ["linear", "gated"])
def test_obs_greedy_equals_ziplm(kind):
    """Same removal order and, on the survivors, the same consumer weights to 1e-10; the bias
    is untouched and the scores reported are ZipLM's."""
    model, site, x, _ = MODELS[kind]()
    rows, weight = site_rows(model, site, x), consumer_weight(site)[:, :, 0]
    bias = site.consumer.bias.detach().clone()
    order, expected = ziplm_structured_obs(weight, rows, 4)
    result = neuroplast.prune(model, site, x, rule="obs", measure="obs:greedy", amount=4)
    assert list(result.removed) == order
    kept = list(result.kept)
    np.testing.assert_allclose(consumer_weight(site)[:, :, 0], expected[:, kept], rtol=0,
                               atol=1e-10)
    assert torch.equal(site.consumer.bias.detach(), bias) and not result.bias_added
    h = rows.T @ rows / rows.shape[0]
    h += 1e-10 * np.mean(np.diag(h)) * np.eye(h.shape[0])
    first = (weight**2).sum(axis=0) / np.diag(np.linalg.inv(h))
    np.testing.assert_allclose(result.efficiencies, first, rtol=1e-8)
    assert result.removal_efficiencies[0] == pytest.approx(first.min(), rel=1e-8)


def test_obs_is_the_exact_mean_square_change_of_the_consumer():
    """The first score equals E_rows ‖W x − W' x‖² after that removal (ZipLM's loss)."""
    model, site, x, _ = linear_model()
    rows = site_rows(model, site, x)
    before = rows @ consumer_weight(site)[:, :, 0].T
    result = neuroplast.prune(model, site, x, rule="obs", measure="obs:greedy", amount=1)
    after = rows[:, list(result.kept)] @ consumer_weight(site)[:, :, 0].T
    change = ((before - after) ** 2).sum(axis=1).mean()
    assert change == pytest.approx(result.removal_efficiencies[0], rel=1e-7)


def test_obs_equals_lstsq_greedy_on_zero_means_unit_gain():
    """Structured OBS and lstsq + conditional:greedy remove the same neurons and leave the
    same weights when (1) the site's means are zero (then H = E[xxᵀ] = C, and lstsq's
    intercept a_0 = Σ a_j⟨x_j⟩ vanishes) and (2) the consumer gain g_i = f'_i(ȳ_i)²/C_ii is
    the same for every output i (the relations never depend on g; a uniform g scales every
    cost alike). With g_i = 1 the costs are equal too. Here: data {x, −x} through a bias-free
    producer and an odd activation (tanh) give zero means; no consumer activation (f' = 1)
    and rows of W scaled to unit output variance give g_i = 1."""
    model, site, x, _ = linear_model(seed=3)
    with torch.no_grad():
        model[0].bias.zero_()
    x = torch.cat([x, -x])
    stats = collect_site_statistics(model, site, x, covariance=True)
    assert stats.mean.abs().max() < 1e-15
    with torch.no_grad():  # unit output variance: w_iᵀ C w_i = 1
        w = model[2].weight
        w.div_(torch.einsum("in,nk,ik->i", w, stats.cov, w).sqrt().unsqueeze(1))
    stats = collect_site_statistics(model, site, x, covariance=True)
    torch.testing.assert_close(stats.consumer_var, torch.ones(4, dtype=DT), rtol=1e-12, atol=0)
    twin, twin_site = copy.deepcopy((model, site))
    obs = neuroplast.prune(model, site, x, rule="obs", measure="obs:greedy", amount=5)
    lstsq = neuroplast.prune(twin, twin_site, x, rule="lstsq", measure="conditional:greedy",
                             amount=5)
    # Equal up to the ridge: both invert C + δI (δ = 1e-10 · mean diag C, condition number
    # ~2e3 here), lstsq then refines its relation once against C and OBS does not.
    assert obs.removed == lstsq.removed
    np.testing.assert_allclose(obs.removal_efficiencies, lstsq.removal_efficiencies, rtol=1e-7)
    torch.testing.assert_close(model[2].weight, twin[2].weight, rtol=0, atol=1e-7)
    torch.testing.assert_close(model[2].bias, twin[2].bias, rtol=0, atol=1e-12)
    torch.testing.assert_close(model(x), twin(x), rtol=0, atol=1e-7)


def test_obs_differs_from_lstsq_when_the_means_are_not_zero():
    """With non-zero means the intercept matters: lstsq preserves the mean output, OBS does
    not move the bias (and loses more on this data)."""
    model, site, x, _ = linear_model()
    twin, twin_site = copy.deepcopy((model, site))
    expected = model(x).detach()
    neuroplast.prune(model, site, x, rule="obs", measure="obs:greedy", amount=5)
    neuroplast.prune(twin, twin_site, x, rule="lstsq", measure="conditional:greedy", amount=5)
    mean_shift = lambda m: (m(x).detach().mean(0) - expected.mean(0)).abs().max()  # noqa: E731
    assert mean_shift(twin) < 1e-10 < mean_shift(model)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_obs_on_every_site_kind(kind):
    """Static score = Σ_i Σ_δ W_ikδ² / [H⁻¹]_kk with H = E[xxᵀ] from the raw rows; the rule
    keeps an exact linear dependence through the origin exact (conv: at every position)."""
    model, site, x, _ = MODELS[kind]()
    rows, weight = site_rows(model, site, x), consumer_weight(site)
    stats = collect_site_statistics(model, site, x, covariance=True)
    h = rows.T @ rows / rows.shape[0]
    h += 1e-10 * np.mean(np.diag(h)) * np.eye(h.shape[0])
    expected = (weight**2).sum(axis=(0, 2)) / np.diag(np.linalg.inv(h))
    np.testing.assert_allclose(efficiency("obs", model, site, stats, x), expected, rtol=1e-8)
    result = neuroplast.prune(model, site, x, rule="obs", measure="obs:greedy", amount=2)
    assert result.width_after == site.width == rows.shape[1] - 2
    assert torch.isfinite(model(x)).all()


def test_obs_greedy_refuses_other_rules_and_obs_rule_needs_no_bias():
    model, site, x, _ = linear_model()
    with pytest.raises(NeuroplastError, match="rule obs only.*'obs'"):
        neuroplast.prune(model, site, x, rule="lstsq", measure="obs:greedy", amount=2)
    with pytest.raises(NeuroplastError, match="rule lstsq only"):
        neuroplast.prune(model, site, x, rule="obs", measure="conditional:greedy", amount=2)
    with pytest.raises(NeuroplastError, match="no argument other than 'greedy'"):
        stats = collect_site_statistics(model, site, x, covariance=True)
        efficiency("obs:fast", model, site, stats, x)
    from neuroplast.replication.split import most_efficient_neurons

    with pytest.raises(NeuroplastError, match="not a ranking of parents; use measure 'obs'"):
        most_efficient_neurons(model, site, 2, measure="obs:greedy", data=x)
    bare = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4, bias=False)).to(DT)
    bare_site = linear_site("ffn", producer=bare[0], consumer=bare[2])
    result = neuroplast.prune(bare, bare_site, x, rule="obs", amount=2)  # default: obs:greedy
    assert result.measure == "obs:greedy" and not result.bias_added and bare[2].bias is None


# -- FLAP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_flap_score_against_the_raw_rows(kind):
    """S_k = Var(x_k) · Σ_i Σ_δ W_ikδ² from the hooked rows (sample variance, as FLAP's
    paper, times (N − 1)/N: neuroplast's variances are population variances)."""
    model, site, x, _ = MODELS[kind]()
    rows, weight = site_rows(model, site, x), consumer_weight(site)
    stats = collect_site_statistics(model, site, x)
    fluctuation = rows.var(axis=0, ddof=1) * (rows.shape[0] - 1) / rows.shape[0]
    expected = fluctuation * (weight**2).sum(axis=(0, 2))
    np.testing.assert_allclose(efficiency("flap", model, site, stats, x), expected, rtol=1e-10)


def test_flap_score_is_e_k_with_unit_gain():
    """FLAP = eq. 28's E_k with g_i = f'²/C_ii replaced by 1; on a consumer whose outputs have
    f' = 1 and unit variance the two measures are the same numbers."""
    model, site, x, _ = linear_model()
    stats = collect_site_statistics(model, site, x)
    from neuroplast.efficiency.paper import squared_outgoing

    torch.testing.assert_close(efficiency("flap", model, site, stats, x),
                               stats.var * squared_outgoing(site).sum(dim=0), rtol=0, atol=0)
    with torch.no_grad():  # C_ii = w_iᵀ C w_i = 1 for every output i
        w = model[2].weight
        cov = collect_site_statistics(model, site, x, covariance=True).cov
        w.div_(torch.einsum("in,nk,ik->i", w, cov, w).sqrt().unsqueeze(1))
    stats = collect_site_statistics(model, site, x)
    torch.testing.assert_close(efficiency("flap", model, site, stats, x),
                               efficiency("connection", model, site, stats, x), rtol=1e-12,
                               atol=0)


def two_site_model(seed: int = 0) -> tuple[nn.Module, list[neuroplast.Site], torch.Tensor]:
    """6 → 10 → 5 → 4 with tanh: sites h1 (12 parameters per neuron) and h2 (15)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 5), nn.Tanh(),
                          nn.Linear(5, 4)).to(DT)
    sites = [linear_site("h1", producer=model[0], consumer=model[2], activation="tanh"),
             linear_site("h2", producer=model[2], consumer=model[4], activation="tanh")]
    x = torch.randn(300, 6, generator=torch.Generator().manual_seed(seed + 1), dtype=DT)
    return model, sites, x


def flap_reference(model: nn.Module, x: torch.Tensor, ratio: float,
                   ) -> tuple[np.ndarray, list[list[int]]]:
    """FLAP from its paper on the 6-10-5-4 net, in numpy: sample-variance fluctuation × squared
    column norms; per-layer standardisation (ddof 1); one global ranking; keep the largest
    standardised scores while their parameter cost is closest to (1 − ratio) of the total;
    the removed channels' means into the next bias; slice. Returns the pruned net's output
    and the neurons each site keeps."""
    layers = [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
              for m in (model[0], model[2], model[4])]
    h1 = np.tanh(x.numpy() @ layers[0][0].T + layers[0][1])
    h2 = np.tanh(h1 @ layers[1][0].T + layers[1][1])
    scores, costs = [], []
    for rows, (w, _), owned in ((h1, layers[1], layers[0]), (h2, layers[2], layers[1])):
        s = rows.var(axis=0, ddof=1) * (w**2).sum(axis=0)
        scores.append((s - s.mean()) / s.std(ddof=1))
        costs.append(owned[0].shape[1] + 1 + w.shape[0])  # producer row + bias + column
    standard = np.concatenate(scores)
    owner = np.repeat([0, 1], [len(s) for s in scores])
    cost = np.array(costs, dtype=float)[owner]
    order = np.argsort(-standard, kind="stable")
    kept_cost = np.concatenate([[0.0], np.cumsum(cost[order])])
    prefix = int(np.argmin(np.abs(kept_cost - (1 - ratio) * cost.sum())))
    kept = [np.sort(order[:prefix][owner[order[:prefix]] == i] - (0 if i == 0 else 10))
            for i in range(2)]
    (w1, b1), (w2, b2), (w3, b3) = layers
    for i, (rows, keep) in enumerate(((h1, kept[0]), (h2, kept[1]))):
        removed = np.setdiff1d(np.arange(rows.shape[1]), keep)
        mean = rows.mean(axis=0)
        if i == 0:
            b2 = b2 + w2[:, removed] @ mean[removed]
            w1, b1, w2 = w1[keep], b1[keep], w2[:, keep]
        else:
            b3 = b3 + w3[:, removed] @ mean[removed]
            w2, b2, w3 = w2[keep], b2[keep], w3[:, keep]
    out = np.tanh(np.tanh(x.numpy() @ w1.T + b1) @ w2.T + b2) @ w3.T + b3
    return out, [keep.tolist() for keep in kept]


@pytest.mark.parametrize("ratio", [0.2, 0.45])
def test_flap_procedure_equals_prune_a1_flap(ratio):
    """flap_prune (statistics first, flap scores, global standardised allocation, then
    prune(rule="A1", measure="flap") per site) = FLAP's procedure reimplemented in numpy."""
    from neuroplast.efficiency.baselines.flap import flap_prune, parameters_per_neuron

    model, sites, x = two_site_model()
    assert [parameters_per_neuron(s) for s in sites] == [12, 15]
    expected, kept = flap_reference(model, x, ratio)
    results = flap_prune(model, sites, x, ratio=ratio)
    assert [r.rule for r in results] == ["A1", "A1"]
    assert [sorted(r.kept) for r in results] == kept
    assert all(0 < len(k) < s for k, s in zip(kept, (10, 5), strict=True))
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=0, atol=1e-12)


def test_flap_allocation():
    from neuroplast.efficiency.baselines.flap import flap_allocation, standardise

    a = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=DT)
    b = torch.tensor([10.0, 40.0, 20.0, 30.0], dtype=DT) * 7 + 5  # same standardised scores
    torch.testing.assert_close(standardise(a)[[0, 1, 2, 3]], standardise(b)[[0, 2, 3, 1]])
    assert flap_allocation({"a": a, "b": b}, 0.0) == {"a": 0, "b": 0}
    assert flap_allocation({"a": a, "b": b}, 0.5) == {"a": 2, "b": 2}  # scale-free
    # Ŝ(c) = (−.5, −.5, −.5, 1.5), Ŝ(a) = (−1.16, −.39, .39, 1.16): ranked c3 a3 a2 a1 c0 c1
    # c2 a0. Half the neurons: keep c3 a3 a2 a1. Half the cost with a costing 3: kept cost
    # 1, 4, 7, 10 → 7 is closest to 8: keep c3 a3 a2.
    c = torch.tensor([0.0, 0.0, 0.0, 10.0], dtype=DT)
    assert flap_allocation({"a": a, "c": c}, 0.5) == {"a": 1, "c": 3}
    assert flap_allocation({"a": a, "c": c}, 0.5, {"a": 3.0, "c": 1.0}) == {"a": 2, "c": 3}
    assert flap_allocation({"a": a, "c": torch.ones(3, dtype=DT)}, 0.99) == {"a": 3, "c": 2}
    with pytest.raises(NeuroplastError, match=r"\[0, 1\)"):
        flap_allocation({"a": a}, 1.0)
    with pytest.raises(NeuroplastError, match="positive cost"):
        flap_allocation({"a": a, "b": b}, 0.5, {"a": 1.0})


def test_prune_a1_flap_on_a_gated_site_is_flap_on_llama_down_proj():
    """FLAP's own setting (LLaMA MLP, one layer): the k lowest fluctuation channels removed,
    their means times their down_proj columns added to the bias; here in numpy."""
    model, site, x, _ = gated_model()
    rows, weight = site_rows(model, site, x), consumer_weight(site)[:, :, 0]
    bias = model.down.bias.detach().numpy().copy()
    scores = rows.var(axis=0, ddof=1) * (weight**2).sum(axis=0)
    removed = np.argsort(scores, kind="stable")[:3]
    keep = np.setdiff1d(np.arange(8), removed)
    expected = rows[:, keep] @ weight[:, keep].T + bias + weight[:, removed] @ \
        rows.mean(axis=0)[removed]
    result = neuroplast.prune(model, site, x, rule="A1", measure="flap", amount=3)
    assert list(result.removed) == removed.tolist()
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=0, atol=1e-12)


# -- Wanda-sp ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_wanda_sp_against_the_raw_rows(kind):
    """score_k = Σ_i Σ_δ |W_ikδ| · ‖X_k‖₂ with the norm over every row the consumer reads."""
    model, site, x, _ = MODELS[kind]()
    rows, weight = site_rows(model, site, x), consumer_weight(site)
    stats = collect_site_statistics(model, site, x)
    expected = np.abs(weight).sum(axis=(0, 2)) * np.linalg.norm(rows, axis=0)
    np.testing.assert_allclose(efficiency("wanda-sp", model, site, stats, x), expected,
                               rtol=1e-10)
    order = np.argsort(expected, kind="stable")
    result = neuroplast.prune(model, site, x, rule="none", measure="wanda-sp", amount=2)
    assert list(result.removed) == order[:2].tolist()


# -- Torch-Pruning group importances and BN scale ---------------------------------------------

TP_GROUP = ("tp-group-l1", "tp-group-l2", "tp-group-taylor", "tp-group-lamp")


def labelled(x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[:100], y[:100]), (x[100:], y[100:])]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_tp_group_measures_score_every_site_kind(kind):
    pytest.importorskip("torch_pruning")
    model, site, x, y = MODELS[kind]()
    before = copy.deepcopy(model.state_dict())
    stats = collect_site_statistics(model, site, x)
    names = TP_GROUP + (("tp-bn-scale", "bn-scale") if kind == "conv" else ())
    for name in names:
        scores = efficiency(name, model, site, stats, labelled(x, y))
        assert scores.shape == (site.width,) and scores.dtype == DT
        assert torch.isfinite(scores).all() and (scores >= 0).all(), name
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(p.grad is None for p in model.parameters())


def incoming_power(site: neuroplast.Site, p: int) -> np.ndarray:
    """Σ |w|^p over every producer weight entering each neuron (gated: gate and up)."""
    parts = [axis.tensor.detach().movedim(axis.dim, 0).reshape(site.width, -1).numpy()
             for axis in site.upstream if axis.role == "weight"]
    return sum(np.abs(part) ** p for part in parts).sum(axis=1)


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("p", [1, 2])
def test_tp_group_magnitude_is_magnitude_to_the_p_over_its_mean(kind, p):
    """Torch-Pruning's GroupMagnitudeImportance(p) = (Σ_in |w|^p + Σ_out |w|^p [+ |γ|^p])
    / mean: on sites without BatchNorm, magnitude-l<p>^p over its mean (same ranking)."""
    pytest.importorskip("torch_pruning")
    model, site, x, y = MODELS[kind]()
    stats = collect_site_statistics(model, site, x)
    ours = efficiency(f"magnitude-l{p}", model, site, stats, x).numpy() ** p
    np.testing.assert_allclose(ours, incoming_power(site, p) + np.abs(
        consumer_weight(site)).__pow__(p).sum(axis=(0, 2)), rtol=1e-12)
    if kind == "conv":
        ours = ours + np.abs(model[1].weight.detach().numpy()) ** p
    tp_scores = efficiency(f"tp-group-l{p}", model, site, stats, x).numpy()
    np.testing.assert_allclose(tp_scores, ours / ours.mean(), rtol=1e-5)


def test_tp_bn_scale_is_bn_scale_over_its_mean_and_lamp_is_lamp():
    pytest.importorskip("torch_pruning")
    model, site, x, _ = conv_model()
    stats = collect_site_statistics(model, site, x)
    gamma = np.abs(model[1].weight.detach().numpy())
    np.testing.assert_array_equal(efficiency("bn-scale", model, site, stats, x), gamma)
    np.testing.assert_allclose(efficiency("tp-bn-scale", model, site, stats, x),
                               gamma / gamma.mean(), rtol=1e-6)
    model, site, x, _ = linear_model()
    stats = collect_site_statistics(model, site, x)
    importance = efficiency("magnitude-l2", model, site, stats, x).numpy() ** 2
    # LAMP (Lee et al. 2021): I_k / Σ_{j: I_j ≥ I_k} I_j
    lamp = np.array([value / importance[importance >= value].sum() for value in importance])
    np.testing.assert_allclose(efficiency("tp-group-lamp", model, site, stats, x), lamp,
                               rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_tp_group_taylor_against_autograd(kind):
    """Σ |w ∂L/∂w| over the producer rows and consumer columns (∂L/∂w of the mean
    cross-entropy over all labelled batches), averaged over the group's weight tensors and
    divided by its mean; Torch-Pruning 1.6.1 leaves BatchNorm γ out."""
    pytest.importorskip("torch_pruning")
    model, site, x, y = MODELS[kind]()
    stats = collect_site_statistics(model, site, x)
    scores = efficiency("tp-group-taylor", model, site, stats, labelled(x, y)).numpy()
    work = copy.deepcopy(model).eval()
    F.cross_entropy(work(x), y).backward()
    names = {id(m): n for n, m in model.named_modules()}
    terms = []
    for module, dim in [(m, 0) for m in site.producers] + [(site.consumer, 1)]:
        copied = work.get_submodule(names[id(module)]).weight  # rows (dim 0) or columns (1)
        product = (copied * copied.grad).detach().abs().movedim(dim, 0)
        terms.append(product.reshape(site.width, -1).sum(dim=1).numpy())
    expected = np.mean(terms, axis=0)
    np.testing.assert_allclose(scores, expected / expected.mean(), rtol=1e-5)


def tiny_llama() -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    """The zoo's LLaMA at a tiny size (RoPE, RMSNorm, gated MLP without biases), float64,
    with next-token targets; its MLP as a discovered site."""
    from neuroplast.zoo import build

    torch.manual_seed(0)
    model = build("llama", {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24,
                            "context": 16}).to(DT)
    g = torch.Generator().manual_seed(5)
    tokens = torch.randint(0, 256, (6, 17), generator=g)
    x, y = tokens[:, :-1], tokens[:, 1:]
    (site,) = [s for s in neuroplast.find_sites(model, x) if s.kind != "input"]
    return model, site, x, y


def test_tp_group_measures_trace_the_block_when_the_whole_model_fails():
    """Torch-Pruning cannot trace the LLaMA (its index mapping fails on RoPE's concatenated
    halves); the adapter then traces the smallest block holding the site (the MLP), whose
    group is the same: group L2 = magnitude-l2² over its mean, and group Taylor = Σ|w ∂L/∂w|
    of the next-token cross-entropy (every position once) over its mean."""
    tp = pytest.importorskip("torch_pruning")
    model, site, x, y = tiny_llama()
    with pytest.warns(UserWarning), pytest.raises(TypeError):  # the whole model: no graph
        tp.DependencyGraph().build_dependency(copy.deepcopy(model), example_inputs=x)
    stats = collect_site_statistics(model, site, x)
    power = incoming_power(site, 2) + (consumer_weight(site) ** 2).sum(axis=(0, 2))
    with pytest.warns(UserWarning):
        scores = efficiency("tp-group-l2", model, site, stats, [(x, y)]).numpy()
    np.testing.assert_allclose(scores, power / power.mean(), rtol=1e-6)
    work = copy.deepcopy(model).eval()
    F.cross_entropy(work(x).flatten(0, 1), y.flatten()).backward()
    names = {id(m): n for n, m in model.named_modules()}
    terms = []
    for module, dim in [(m, 0) for m in site.producers] + [(site.consumer, 1)]:
        copied = work.get_submodule(names[id(module)]).weight
        product = (copied * copied.grad).detach().abs().movedim(dim, 0)
        terms.append(product.reshape(site.width, -1).sum(dim=1).numpy())
    expected = np.mean(terms, axis=0)
    with pytest.warns(UserWarning):
        taylor = efficiency("tp-group-taylor", model, site, stats, [(x, y)]).numpy()
    np.testing.assert_allclose(taylor, expected / expected.mean(), rtol=1e-6)


def test_tp_group_measures_equal_the_mlp_adapter_on_the_papers_mlp():
    """On the paper's MLP the general adapter gives the MLP-only adapter's numbers."""
    pytest.importorskip("torch_pruning")

    model = random_mlp([6, 5, 4, 3], seed=1)
    g = torch.Generator().manual_seed(0)
    split = Split(torch.rand(40, 6, generator=g, dtype=DT), torch.randint(0, 3, (40,),
                                                                          generator=g))
    stats = collect_site_statistics(model, "hidden1", split.x)
    for general, mlp_only in (("tp-group-l2", "tp-magnitude"), ("tp-group-lamp", "tp-lamp"),
                              ("tp-group-taylor", "tp-taylor")):
        torch.testing.assert_close(efficiency(general, model, "hidden1", stats, split),
                                   efficiency(mlp_only, model, "hidden1", stats, split),
                                   rtol=1e-6, atol=0)


def test_refusals_say_what_to_do():
    model, site, x, y = linear_model()
    stats = collect_site_statistics(model, site, x)
    with pytest.raises(NeuroplastError, match="needs a BatchNorm.*between="):
        efficiency("bn-scale", model, site, stats, x)
    if importlib.util.find_spec("torch_pruning") is not None:
        with pytest.raises(NeuroplastError, match="needs labelled data"):
            efficiency("tp-group-taylor", model, site, stats, x)
        mlp = random_mlp([6, 5, 4, 3], seed=1)
        mlp_stats = collect_site_statistics(mlp, "input", x)
        with pytest.raises(NeuroplastError, match="not supported on site 'input'"):
            efficiency("tp-group-l2", mlp, "input", mlp_stats, x)


def test_measures_offered_for_a_site_hold_what_they_require():
    """bn-scale and tp-bn-scale are offered only where a BatchNorm sits after the producer
    (a hostile user's pass: they were listed as usable on sites without one)."""
    from neuroplast.efficiency import MEASURES

    bn_measures = ("bn-scale", "tp-bn-scale")
    for make, offered in ((linear_model, False), (conv_model, True)):
        model, site, x, _ = make()
        for name in bn_measures:
            assert MEASURES.get(name)[0].supports(model, site) is offered, (make, name)
    mlp = random_mlp([6, 5, 4, 3], seed=1)
    assert not any(MEASURES.get(name)[0].supports(mlp, mlp.site("hidden1"))
                   for name in bn_measures)
    model, site, x, _ = linear_model()
    stats = collect_site_statistics(model, site, x)
    with pytest.raises(NeuroplastError) as refused:
        efficiency("bn-scale", model, site, stats, x)
    usable = str(refused.value).split("measures for this site: ")[1].split(", ")
    assert "connection" in usable and not set(bn_measures) & set(usable)


# -- the catalogue ------------------------------------------------------------------------------


def test_methods_lists_the_structured_baselines(capsys):
    from neuroplast.cli.main import main
    from neuroplast.cli.methods import catalogue

    entries = {m["name"]: m for m in catalogue()["measures"]}
    for name in ("flap", "wanda-sp", "obs", "bn-scale", *TP_GROUP, "tp-bn-scale"):
        assert name in entries and entries[name]["reference"], name
    assert {"linear", "gated", "conv", "flatten"} <= set(entries["flap"]["site_kinds"])
    rules = {r["name"]: r for r in catalogue()["rules"]}
    assert rules["obs"]["default_measure"] == "obs:greedy"
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    assert "  wanda-sp " in text and "  obs " in text and "ZipLM" in text
