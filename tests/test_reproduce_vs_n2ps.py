"""``neuroplast reproduce vs-n2ps`` (§5.5, Figs 15–16) with the quick protocol."""

from __future__ import annotations

import pytest
import torch
from conftest import quick_trained_n4, reproduce_quick, reproduction_protocol

from neuroplast.data import load_mnist
from neuroplast.experiments.definitions.pixel_regions import (
    border_preference,
    region_masks,
    removal_rates,
)
from neuroplast.train import restrict

NAME = "vs-n2ps"


def test_regions_are_the_frame_and_the_central_square():
    border, centre = region_masks()
    assert int(border.sum()) == 784 - 20 * 20 and int(centre.sum()) == 12 * 12
    assert not bool((border & centre).any())
    assert border[0, 13] and border[27, 27] and border[13, 3] and not border[13, 4]
    everything_but_border = torch.arange(784)[~border.flatten()]
    assert removal_rates(everything_but_border) == (1.0, 0.0)
    assert border_preference(everything_but_border) == 1.0
    assert border_preference(torch.arange(784)[~centre.flatten()]) == -1.0
    assert border_preference(torch.arange(784)) == 0.0


def _significance(activated: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 52 in float64: s_k = Σ_i |f_k + w_ik| for f (n,) and outgoing weights w (m, n)."""
    return (activated.double().unsqueeze(0) + weight.double()).abs().sum(dim=0)


def test_quick_run_matches_an_independent_n2ps_and_reports_the_paper(tmp_path, data_dir):
    out = tmp_path / "out"
    records = {r["spec"]["config"]["invert"]: r for r in reproduce_quick(NAME, out, data_dir)}
    assert set(records) == {True, False}

    for record in records.values():
        methods = record["result"]["methods"]
        assert set(methods) >= {"n2ps", "n2ps-mean", "n2ps-mean-inverted", "a1-1%", "a1-10%"}
        for numbers in methods.values():
            assert 0.0 <= numbers["train_accuracy"] <= 1.0 and numbers["pruning_time_s"] > 0
            assert numbers["input_neurons"] == len(numbers["kept_inputs"]) < 784
            assert 0 < numbers["hidden_neurons"] <= 100
        # A larger relative cutoff keeps a subset of the smaller one's neurons.
        assert set(methods["a1-10%"]["kept_inputs"]) <= set(methods["a1-1%"]["kept_inputs"])
        assert methods["a1-10%"]["hidden_neurons"] <= methods["a1-1%"]["hidden_neurons"]
        # The N2PS rows share the hidden criterion; compensation does not change the choice.
        assert len({methods[m]["hidden_neurons"] for m in
                    ("n2ps", "n2ps-mean", "n2ps-mean-inverted")}) == 1
        for variant in ("n2ps", "n2ps-mean", "n2ps-mean-inverted"):
            assert methods[f"{variant}+A1"]["kept_inputs"] == methods[variant]["kept_inputs"]

    # Re-train the inverted run's net and recompute N2PS in float64, independently.
    protocol = reproduction_protocol("quick")
    data = restrict(load_mnist(data_dir, download=False, invert=True).train, protocol)
    model = quick_trained_n4(data, activation="sigmoid")
    w0, b0 = model.layers[0].weight.detach(), model.layers[0].bias.detach()
    w1 = model.layers[1].weight.detach()
    x = data.x.double()
    average = _significance(torch.sigmoid(x.mean(dim=0)), w0)  # (784,) with tx / N
    total_hidden = (x @ w0.double().T + b0.double()).sum(dim=0)  # (100,) total net value
    hidden = _significance(torch.sigmoid(total_hidden), w1)
    methods = records[True]["result"]["methods"]
    assert methods["n2ps-mean"]["kept_inputs"] == \
        (average >= average.mean()).nonzero().flatten().tolist()
    assert methods["n2ps-mean-inverted"]["kept_inputs"] == \
        (average <= average.mean()).nonzero().flatten().tolist()
    assert methods["n2ps"]["hidden_neurons"] == int((hidden >= hidden.mean()).sum())
    constant = (x.var(dim=0) == 0).nonzero().flatten().tolist()
    assert constant and not set(constant) & set(methods["a1-1%"]["kept_inputs"])

    summary = (out / NAME / "summary.md").read_text()
    for printed in ("0.8695 ± 0.0023", "3.231 ± 0.005", "0.248 ± 0.018", "393.5 ± 3.1",
                    "0.273 ± 0.016", "0.756 ± 0.008", "285. ± 4.", "54.4 ± 1.6"):
        assert printed in summary
    for claim in ("| 15a |", "| 15b |", "| 15c |", "| 15d |"):
        assert claim in summary
    assert "**confirmed**" not in summary and "**inconclusive**" in summary
    assert (out / NAME / "fig16_pixel_maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_claim_verdicts_follow_the_statistics():
    from neuroplast.experiments.definitions.vs_n2ps import _claims

    def record(seed: int, invert: bool) -> dict:
        jitter = 0.01 * seed
        preference = {"n2ps": 0.02 - jitter, "n2ps-mean": -0.95 if invert else 0.95,
                      "n2ps-mean-inverted": 0.95, "a1-1%": 0.8, "a1-10%": 0.9}
        accuracy = {"n2ps": 0.25, "n2ps-mean": 0.12, "n2ps-mean-inverted": 0.27,
                    "a1-1%": 0.75, "a1-10%": 0.68}
        return {"result": {"methods": {m: {"border_preference": preference[m],
                                           "train_accuracy": accuracy[m] + jitter}
                                       for m in preference}}}

    groups = {True: [record(s, True) for s in range(5)],
              False: [record(s, False) for s in range(5)]}
    verdicts = {c.id: c.verdict.value for c in _claims(groups)}
    assert verdicts == {"15a": "confirmed", "15b": "confirmed", "15c": "confirmed",
                        "15d": "confirmed"}
    for r in groups[True]:
        r["result"]["methods"]["n2ps"]["train_accuracy"] = 0.9  # N2PS beats A1
        r["result"]["methods"]["n2ps-mean"]["border_preference"] = 0.9  # removes the border
    verdicts = {c.id: c.verdict.value for c in _claims(groups)}
    assert verdicts["15a"] == verdicts["15b"] == "not confirmed"
    assert [c.verdict.value for c in _claims({False: groups[False]})] == ["inconclusive"]


def _net_with_a_background_pixel_and_dead_neurons():
    """A float64 sigmoid net 8 → 6 → 4 → 3 on data whose pixel 6 is always 1 (background,
    E = 0); hidden1's neuron 5 is constant (no incoming weights) and neuron 4 saturated by a
    weight of 20 from the background pixel (E ≈ 1e-16), so A1 at 1 % chooses exactly pixel 6
    and neurons 4 and 5 on the unpruned net."""
    from neuroplast.data import Split
    from neuroplast.models import MLP

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 8, generator=generator, dtype=torch.float64)
    x[:, 6] = 1.0
    split = Split(x, torch.randint(0, 3, (1000,), generator=generator))
    model = MLP([8, 6, 4, 3], activation="sigmoid").double()
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator,
                                           dtype=torch.float64))
            layer.bias.zero_()
        model.layers[0].weight[4, 6] = 20.0
        model.layers[0].weight[5].zero_()
        model.layers[0].bias[5] = 0.3
    return model, split


def _logits_by_hand(model, x: torch.Tensor, zero_inputs=(), zero_hidden=()) -> torch.Tensor:
    """The net's logits in float64 with the given inputs' and hidden1 neurons' outgoing
    weights set to zero (deletion without compensation)."""
    (w0, b0), (w1, b1), (w2, b2) = [(layer.weight.detach().clone(), layer.bias.detach())
                                    for layer in model.layers]
    w0[:, list(zero_inputs)] = 0.0
    w1[:, list(zero_hidden)] = 0.0
    hidden1 = torch.sigmoid(x @ w0.T + b0)
    return torch.sigmoid(hidden1 @ w1.T + b1) @ w2.T + b2


def test_a1_variants_delete_or_compensate_per_site_and_can_rank_hidden1_after_inputs():
    import copy

    from neuroplast.experiments.definitions.vs_n2ps import prune_input_and_hidden

    model, split = _net_with_a_background_pixel_and_dead_neurons()
    base = {"input": "connection", "hidden": "connection", "threshold": 0.01, "rule": "A1"}

    def pruned(**keys):
        net = copy.deepcopy(model)
        prune_input_and_hidden(net, split, base | keys)
        assert net.selector.kept.tolist() == [0, 1, 2, 3, 4, 5, 7]
        return net

    x = split.x
    deleted = pruned(rules=["none", "none"])
    assert deleted.site("hidden1").width == 4
    torch.testing.assert_close(deleted(x), _logits_by_hand(model, x, [6], [4, 5]))
    # The background pixel's contribution is constant: A1 on the inputs loses nothing of it.
    hidden_deleted = pruned(rules=["A1", "none"])
    torch.testing.assert_close(hidden_deleted(x), _logits_by_hand(model, x, [], [4, 5]))
    # Deleting the pixel unsaturates neuron 4: ranked on the input-pruned net it is kept.
    assert pruned(rules=["none", "A1"]).site("hidden1").width == 4
    sequential = pruned(rules=["none", "A1"], choose_hidden_after_inputs=True)
    assert sequential.site("hidden1").width == 5
    torch.testing.assert_close(sequential(x), _logits_by_hand(model, x, [6], []))
    # Ranking after the inputs changes nothing when A1 keeps the inputs' contribution.
    stock, after = pruned(), pruned(choose_hidden_after_inputs=True)
    assert stock.site("hidden1").width == after.site("hidden1").width == 4
    torch.testing.assert_close(stock(x), after(x))


def test_a1_variant_with_a_rule_per_site_needs_one_for_each_site_and_changes_nothing_else():
    import copy

    from neuroplast.errors import NeuroplastError
    from neuroplast.experiments.definitions.vs_n2ps import prune_input_and_hidden

    model, split = _net_with_a_background_pixel_and_dead_neurons()
    base = {"id": "v", "input": "connection", "hidden": "connection", "threshold": 0.01}
    before = copy.deepcopy(model)
    with pytest.raises(NeuroplastError, match="one re-wiring rule per site"):
        prune_input_and_hidden(model, split, base | {"rules": ["none"]})
    assert model.selector.kept.numel() == 8 and all(  # refused before any removal
        torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                          before.state_dict().values(), strict=True))
    prune_input_and_hidden(model, split, base | {"rules": ["none", "none"]})  # no "rule"
    assert model.site("hidden1").width == 4


def test_a1_variant_deleting_constant_inputs_compensates_only_the_varying_ones():
    """Pixel 6 never varies (always 1); pixel 1 varies but barely reaches hidden1 (weights
    × 1e-6), so A1 at 1 % chooses both. The variant deletes pixel 6 and replaces pixel 1 by its
    mean (re-wired first, so pixel 6 has moved one place down when it is deleted); hidden1's
    chosen neurons 4 and 5 are replaced by their means on the input-pruned net. Checked
    against the same removals written out in float64."""
    import copy

    from neuroplast.errors import NeuroplastError
    from neuroplast.experiments.definitions.vs_n2ps import prune_input_and_hidden

    model, split = _net_with_a_background_pixel_and_dead_neurons()
    with torch.no_grad():
        model.layers[0].weight[:, 1] *= 1e-6
    x = split.x
    method = {"input": "connection", "hidden": "connection", "threshold": 0.01, "rule": "A1",
              "delete_constant_inputs": True}
    net = copy.deepcopy(model)
    prune_input_and_hidden(net, split, method)
    assert net.selector.kept.tolist() == [0, 2, 3, 4, 5, 7]
    assert net.site("hidden1").width == 4

    (w0, b0), (w1, b1), (w2, b2) = [(layer.weight.detach().clone(), layer.bias.detach().clone())
                                    for layer in model.layers]
    b0 += w0[:, 1] * x[:, 1].mean()  # pixel 1 replaced by its mean; pixel 6 simply deleted
    w0[:, [1, 6]] = 0.0
    hidden1 = torch.sigmoid(x @ w0.T + b0)
    b1 += w1[:, [4, 5]] @ hidden1[:, [4, 5]].mean(0)  # neurons 4 and 5 replaced by their means
    w1[:, [4, 5]] = 0.0
    expected = torch.sigmoid(hidden1 @ w1.T + b1) @ w2.T + b2
    torch.testing.assert_close(net(x), expected)
    # with only the constant pixel chosen, the variant is "inputs deleted, hidden1 re-wired"
    plain, _ = _net_with_a_background_pixel_and_dead_neurons()
    variant, deleted = copy.deepcopy(plain), copy.deepcopy(plain)
    prune_input_and_hidden(variant, split, method)
    prune_input_and_hidden(deleted, split, method | {"delete_constant_inputs": False,
                                                     "rules": ["none", "A1"]})
    torch.testing.assert_close(variant(x), deleted(x))
    # a rule whose removals read each other cannot be split into two passes
    with pytest.raises(NeuroplastError, match="re-wires the varying inputs by A1 or none"):
        prune_input_and_hidden(copy.deepcopy(model), split, method | {"rule": "A2"})
