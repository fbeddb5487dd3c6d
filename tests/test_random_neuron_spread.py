"""B4's random neuron at a chosen spread: ``replicate(random_std=...)`` and the run option
``b4_std`` of replication and replication-shift."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from conftest import reproduce_quick

from neuroplast.cli.main import main
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions.random_neuron_spread import b4_random_std
from neuroplast.models import build_mlp, initialize
from neuroplast.models.init import xavier_std
from neuroplast.replication import replicate


def _n1(init: str = "kaiming-normal"):
    return initialize(build_mlp("N1"), 3, init)


def test_a_chosen_spread_scales_b4s_own_standard_normals_and_nothing_else():
    model = _n1()
    library, scaled = copy.deepcopy(model), copy.deepcopy(model)
    replicate(library, "hidden1", n=2, method="B4", seed=7)
    xavier_in, xavier_out = xavier_std(784, 5), xavier_std(5, 20)  # N1's 784 → 5 → 20
    replicate(scaled, "hidden1", n=2, method="B4", seed=7,
              random_std=(2 * xavier_in, 4 * xavier_out))
    torch.testing.assert_close(scaled.layers[0].weight[5:], 2 * library.layers[0].weight[5:])
    torch.testing.assert_close(scaled.layers[1].weight[:, 5:],
                               4 * library.layers[1].weight[:, 5:])
    assert torch.equal(scaled.layers[0].weight[:5], model.layers[0].weight)
    assert torch.equal(scaled.layers[1].weight[:, :5], model.layers[1].weight)
    assert torch.equal(scaled.layers[0].bias[5:], torch.zeros(2))
    # the Xavier-normal stds given explicitly are the library's own draw, bit for bit
    same = copy.deepcopy(model)
    replicate(same, "hidden1", n=2, method="B4", seed=7, random_std=(xavier_in, xavier_out))
    assert all(torch.equal(a, b) for a, b in zip(same.parameters(), library.parameters(),
                                                  strict=True))


def test_the_public_api_passes_the_spread_through():
    import neuroplast

    direct, public = _n1(), _n1()
    replicate(direct, "hidden1", n=2, method="B4", seed=5, random_std=(0.3, 0.2))
    neuroplast.replicate(public, "hidden1", n=2, method="B4", seed=5, random_std=(0.3, 0.2))
    assert all(torch.equal(a, b) for a, b in zip(direct.parameters(), public.parameters(),
                                                  strict=True))


def test_a_chosen_spread_is_the_sample_spread_of_many_new_neurons():
    grown = _n1()
    replicate(grown, "hidden1", n=400, method="random", seed=0, random_std=(0.2, 0.05))
    assert float(grown.layers[0].weight[5:].detach().std()) == pytest.approx(0.2, rel=0.02)
    assert float(grown.layers[1].weight[:, 5:].detach().std()) == pytest.approx(0.05, rel=0.03)


@pytest.mark.parametrize(("method", "random_std", "message"), [
    ("B1", (0.1, 0.1), "method B1 draws none: leave random_std out"),
    ("B5", (0.1, 0.1), "method B5 draws none"),
    ("B4", (0.1,), r"two positive finite numbers; got \(0.1,\)"),
    ("B4", (0.1, -1.0), "two positive finite numbers"),
    ("B4", (0.1, math.nan), "two positive finite numbers"),
    ("B4", "wide", "two positive finite numbers"),
    ("B4", "12", "two positive finite numbers"),
    ("B4", (True, 0.1), "two positive finite numbers"),
])
def test_a_bad_spread_is_refused_before_the_model_changes(method, random_std, message):
    model = _n1()
    before = copy.deepcopy(model)
    with pytest.raises(NeuroplastError, match=message):
        replicate(model, "hidden1", n=1, method=method, seed=0, random_std=random_std)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before.parameters(),
                                                  strict=True))


@pytest.mark.parametrize(("init", "incoming", "outgoing"), [
    ("kaiming-normal", math.sqrt(2 / 784), math.sqrt(2 / 5)),
    ("lecun-normal", math.sqrt(1 / 784), math.sqrt(1 / 5)),
    ("xavier-normal", math.sqrt(2 / 789), math.sqrt(2 / 25)),
])
def test_the_initialiser_spread_is_what_the_initialisation_draws_for_those_layers(
        init, incoming, outgoing):
    assert b4_random_std(_n1(init), "initialiser", init) == pytest.approx((incoming, outgoing))


def test_the_trained_spread_is_the_layers_own_and_the_default_is_the_library_draw():
    model = _n1()
    with torch.no_grad():
        model.layers[1].weight.mul_(3.0)
    weights = [model.layers[k].weight.detach().numpy().astype(np.float64) for k in (0, 1)]
    assert b4_random_std(model, "trained", "kaiming-normal") == pytest.approx(
        tuple(float(np.std(w, ddof=1)) for w in weights), rel=1e-5)
    assert b4_random_std(model, "xavier-normal", "kaiming-normal") is None
    with pytest.raises(NeuroplastError, match="unknown B4 spread 'empirical'"):
        b4_random_std(model, "empirical", "kaiming-normal")


def test_an_experiment_without_b4_refuses_the_option(tmp_path, capsys):
    assert main(["reproduce", "cutoff-pruning", "--protocol", "quick", "--seeds", "1",
                 "--out", str(tmp_path), "--b4-std", "trained"]) != 0
    err = capsys.readouterr().err
    assert "does not support the run option 'b4_std' (--b4-std; it supports: " \
        "invert (--invert), init (--init)" in err
    assert not (tmp_path / "cutoff-pruning").exists()


def test_the_option_changes_b4_alone(tmp_path, data_dir):
    """replication-shift with B4 at the trained layers' spread: B5 and B1 are the default run's
    to the last digit (same seed, same batches), B4 starts from a neuron of the recorded stds
    and ends elsewhere."""
    default = reproduce_quick("replication-shift", tmp_path / "default", data_dir)[0]
    trained = reproduce_quick("replication-shift", tmp_path / "trained", data_dir,
                              options=("--b4-std", "trained"))[0]
    assert trained["spec"]["config"]["b4_std"] == "trained"
    assert trained["result"]["run_options"]["b4_std"] == "trained"
    assert "b4_std" not in default["spec"]["config"]
    ours, theirs = trained["result"]["methods"], default["result"]["methods"]
    def measured(stages):  # everything but the wall times
        return [{k: v for k, v in stage.items() if k != "wall_s"} for stage in stages]

    for method in ("B5", "B1"):
        assert measured(ours[method]["stages"]) == measured(theirs[method]["stages"])
        assert "random_std" not in ours[method]
    assert "random_std" not in theirs["B4"]
    incoming, outgoing = ours["B4"]["random_std"]
    assert incoming > xavier_std(784, 5) and outgoing > xavier_std(5, 20)  # trained N1 spreads
    assert ours["B4"]["stages"][0]["validation"] != theirs["B4"]["stages"][0]["validation"]
    summary = (tmp_path / "trained" / "replication-shift" / "summary.md").read_text()
    assert "b4_std trained" in summary
