"""benchmarks.b4_width: the three readings of B4's distribution, and the rescaled neuron."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from benchmarks.b4_width import reading_stds, widen_new_neuron
from neuroplast.models import build_mlp, initialize
from neuroplast.replication import replicate


def _n1(init: str = "kaiming-normal"):
    return initialize(build_mlp("N1"), 3, init)


@pytest.mark.parametrize(("init", "incoming", "outgoing"), [
    ("kaiming-normal", math.sqrt(2 / 784), math.sqrt(2 / 5)),
    ("lecun-normal", math.sqrt(1 / 784), math.sqrt(1 / 5)),
    ("xavier-normal", math.sqrt(2 / 789), math.sqrt(2 / 25)),
])
def test_the_initialiser_reading_is_the_std_of_a_fresh_layer_of_that_shape(init, incoming,
                                                                           outgoing):
    assert reading_stds(_n1(init), "initialiser", init) == pytest.approx((incoming, outgoing))
    # Xavier-normal for N1's 784 → 5 and 5 → 20 layers, whatever the net's initialisation
    assert reading_stds(_n1(init), "xavier-normal", init) == pytest.approx(
        (math.sqrt(2 / 789), math.sqrt(2 / 25)))


def test_the_trained_reading_is_the_spread_of_the_layers_weights():
    model = _n1()
    with torch.no_grad():
        model.layers[1].weight.mul_(3.0)
    weights = [model.layers[k].weight.detach().numpy().astype(np.float64) for k in (0, 1)]
    assert reading_stds(model, "trained", "kaiming-normal") == pytest.approx(
        tuple(float(np.std(w, ddof=1)) for w in weights), rel=1e-5)
    with pytest.raises(ValueError, match="unknown B4 reading 'empirical'"):
        reading_stds(model, "empirical", "kaiming-normal")


def test_the_widened_neuron_is_b4s_own_draw_rescaled_and_nothing_else_moves():
    model = _n1()
    b4 = copy.deepcopy(model)
    replicate(b4, "hidden1", n=1, method="B4", seed=7)
    widened = copy.deepcopy(b4)
    widen_new_neuron(widened, (0.5, 0.25), (1.0, 1.0))  # ×2 incoming, ×4 outgoing
    first, second = widened.layers[0].weight, widened.layers[1].weight
    assert torch.equal(first[-1], 2 * b4.layers[0].weight[-1])
    assert torch.equal(second[:, -1], 4 * b4.layers[1].weight[:, -1])
    assert torch.equal(first[:-1], b4.layers[0].weight[:-1])
    assert torch.equal(second[:, :-1], b4.layers[1].weight[:, :-1])
    assert torch.equal(widened.layers[0].bias, b4.layers[0].bias)
    assert widened.layers[0].bias[-1] == 0 and first.shape[0] == model.layers[0].weight.shape[0] + 1


def test_the_check_counts_the_cells_equal_to_the_stored_replication_runs(tmp_path):
    from benchmarks.b4_width import stored_agreement

    def stages(values):
        return {"stages": [{"train": {"accuracy": v}} for v in values]}

    (tmp_path / "runs").mkdir()
    for seed, b4 in ((0, [0.5, 0.6, 0.7]), (1, [0.5, 0.6, 0.9])):
        record = {"spec": {"seed": seed, "config": {"figure": "fig22"}},
                  "result": {"pretrain": {"train": {"accuracy": 0.4}},
                             "methods": {"B5": stages([0.41, 0.42, 0.43]), "B4": stages(b4)}}}
        (tmp_path / "runs" / f"r{seed}.json").write_text(json.dumps(record))
    fig21 = {"spec": {"seed": 0, "config": {"figure": "fig21"}}, "result": {}}
    (tmp_path / "runs" / "fig21.json").write_text(json.dumps(fig21))  # not compared
    ours = [{"seed": seed, "pretrained": 0.4,
             "accuracy": {"B5": [0.41, 0.42, 0.43], "xavier-normal": [0.5, 0.6, 0.7]}}
            for seed in (0, 1, 2)]  # seed 1's last B4 differs; seed 2 is not stored
    assert stored_agreement(ours, tmp_path) == (13, 14)


def test_check_against_a_folder_without_runs_is_refused_before_any_training(tmp_path, capsys):
    from benchmarks.b4_width import main

    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "out"), "--seeds", "1", "--check-against",
              str(tmp_path)])
    assert "holds no runs/ folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
