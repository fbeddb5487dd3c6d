"""benchmarks.border_weights: the border's first-layer norms, eq. 69 and NNSP(2) counts."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from benchmarks.border_weights import decay_only, kept_below, seed_row, squared_norms
from neuroplast.efficiency import efficiency
from neuroplast.experiments.definitions.pixel_regions import region_masks
from neuroplast.models import build_mlp, initialize
from neuroplast.stats import collect_site_statistics


def _n4(seed: int = 0):
    return initialize(build_mlp("N4"), seed, "kaiming-normal")


def test_squared_norms_are_the_librarys_eq69_weight_norm_measure():
    model = _n4()
    x = torch.rand(64, 784)
    stats = collect_site_statistics(model, "input", x)
    library = efficiency("weight-norm", model, "input", stats)
    by_numpy = (model.layers[0].weight.detach().numpy().astype(np.float64) ** 2).sum(axis=0)
    assert torch.allclose(squared_norms(model), library, rtol=1e-6)
    assert np.allclose(squared_norms(model).numpy(), by_numpy, rtol=1e-12)


def test_an_input_is_kept_unless_its_score_is_below_a_tenth_of_the_largest():
    scores = torch.tensor([1.0, 0.09, 0.1, 0.5, 0.0], dtype=torch.float64)
    assert kept_below(scores).tolist() == [True, False, True, True, False]


def test_decay_only_is_what_sgd_weight_decay_leaves_of_a_weight_without_gradient():
    weight = torch.nn.Parameter(torch.tensor([0.3, -0.7], dtype=torch.float64))
    optimizer = torch.optim.SGD([weight], lr=0.05, weight_decay=0.01)
    start = float((weight.detach() ** 2).sum())
    for _ in range(300):
        optimizer.zero_grad()
        (weight * 0.0).sum().backward()  # a zero data gradient: only the decay acts
        optimizer.step()
    assert float((weight.detach() ** 2).sum()) / start == pytest.approx(
        decay_only(0.05, 0.01, 300), rel=1e-12)
    assert decay_only(0.001, 0.001, 500_000) == pytest.approx(np.exp(-1.0), rel=1e-3)


def test_constant_inputs_get_the_bias_gradient_so_only_the_decay_shrinks_their_spread():
    """The premise of the probe: two always-1 inputs' weights into a hidden unit move
    together; their difference shrinks by exactly (1 − lr·λ) a step, whatever the data."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    model.double()
    x = torch.rand(200, 12, dtype=torch.float64)
    x[:, :4] = 1.0  # a "border": four inputs that are 1 in every example
    y = torch.randint(0, 3, (200,))
    before = model[0].weight.detach()[:, :4].clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.02)
    for step in range(50):
        batch = slice(step % 4 * 50, step % 4 * 50 + 50)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    after = model[0].weight.detach()[:, :4]
    spread_before = before - before.mean(dim=1, keepdim=True)
    spread_after = after - after.mean(dim=1, keepdim=True)
    assert torch.allclose(spread_after, spread_before * (1 - 0.1 * 0.02) ** 50, atol=1e-12)
    assert not torch.allclose(after.mean(dim=1), before.mean(dim=1) * (1 - 0.1 * 0.02) ** 50,
                              atol=1e-3)  # the common part did learn


def test_a_net_with_a_faint_border_loses_exactly_its_border_to_both_criteria():
    untrained = _n4()
    trained = copy.deepcopy(untrained)
    border = region_masks()[0].flatten()
    with torch.no_grad():
        weight = trained.layers[0].weight
        weight.fill_(0.005)  # tanh unsaturated, so NNSP(2)'s slope variances are not zero
        weight[:, border] = 0.0005  # S² = 100 · 0.0005² = 2.5e-5 against 2.5e-3 for the rest
    row = seed_row(untrained, trained, torch.rand(256, 784))
    assert int(border.sum()) == 784 - 400  # the 4-pixel frame
    assert row["eq69_kept"] == row["nnsp2_kept"] == 400
    assert row["eq69_border_removed"] == row["nnsp2_border_removed"] == 1.0
    assert row["border_norm"] == pytest.approx(2.5e-5) and row["max_norm"] == pytest.approx(2.5e-3)
    assert row["border_to_max"] == pytest.approx(0.01)
    expected_before = float((untrained.layers[0].weight.detach().double() ** 2)
                            .sum(dim=0)[border].median())
    assert row["border_norm_untrained"] == pytest.approx(expected_before)
    assert row["border_shrink"] == pytest.approx(2.5e-5 / expected_before)


def test_quick_run_writes_both_files(tmp_path, data_dir):
    from benchmarks.border_weights import main

    assert main(["--protocol", "quick", "--invert", "--seeds", "2", "--out",
                 str(tmp_path / "out"), "--data", data_dir,
                 "--trained-cache", str(tmp_path / "cache")]) == 0
    (folder,) = (tmp_path / "out").iterdir()
    stored = json.loads((folder / "border-weights.json").read_text())
    assert [b["seed"] for b in stored["base_nets"]] == [0, 1]
    assert len(stored["per_seed"]) == 2 and 0 < stored["l2_alone"] < 1
    text = (folder / "border-weights.md").read_text()
    assert "| inputs eq. 69 keeps (0.1 · max) |" in text and "643 ± 11" in text
