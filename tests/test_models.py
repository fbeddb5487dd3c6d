"""Models: presets, activations, sites, the feature selector, save/load, size counts.

Reference values are computed here independently (float64 matrix products written out, hand
counts of parameters), never copied from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import random_mlp

from neuroplast.errors import NeuroplastError
from neuroplast.models import (
    ACTIVATIONS,
    MLP,
    PRESETS,
    FeatureSelector,
    build_mlp,
    count_macs,
    count_parameters,
    get_activation,
    initialize,
    load_model,
    save_model,
    xavier_std,
)
from neuroplast.surgery import add_neurons, keep_neurons, remove_neurons

# ---------------------------------------------------------------------------------------------
# builder and presets


@pytest.mark.parametrize(
    ("arch", "widths", "activation"),
    [
        ("N1", [784, 5, 20, 10], "tanh"),
        ("N2", [784, 10, 10, 10], "tanh"),
        ("N3", [784, 20, 5, 10], "tanh"),
        ("N4", [784, 100, 5, 10], "tanh"),
        ("lenet-300-100", [784, 300, 100, 10], "relu"),
    ],
)
def test_presets_have_the_paper_widths(arch, widths, activation):
    model = build_mlp(arch)
    assert model.widths == widths
    assert model.activation_name == activation
    assert model.n_inputs == 784
    assert [(layer.in_features, layer.out_features) for layer in model.layers] == list(
        zip(widths[:-1], widths[1:], strict=True)
    )


def test_every_preset_is_tested():
    assert set(PRESETS) == {"N1", "N2", "N3", "N4", "lenet-300-100"}


def test_preset_names_are_case_insensitive():
    assert build_mlp("n4").widths == [784, 100, 5, 10]
    assert build_mlp("LeNet-300-100").widths == [784, 300, 100, 10]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_custom_widths_and_any_activation(activation):
    model = build_mlp(widths=[12, 7, 6, 5, 3], activation=activation)
    assert model.widths == [12, 7, 6, 5, 3]
    assert model.activation_name == activation
    assert model(torch.rand(4, 12)).shape == (4, 3)


def test_preset_widths_and_activation_can_be_overridden():
    model = build_mlp("N4", widths=[784, 300, 100, 10], activation="relu")
    assert model.widths == [784, 300, 100, 10]
    assert model.activation_name == "relu"
    assert build_mlp("N4", activation="sigmoid").widths == [784, 100, 5, 10]
    assert build_mlp(widths=[5, 3]).activation_name == "tanh"


def test_unknown_architecture_lists_the_presets():
    with pytest.raises(NeuroplastError, match="unknown architecture 'N9'.*N1, N2, N3, N4"):
        build_mlp("N9")


def test_builder_needs_a_name_or_widths():
    with pytest.raises(NeuroplastError, match="architecture name or the layer widths"):
        build_mlp()


@pytest.mark.parametrize("widths", [[784], [], [784, 0, 10], [784, -3, 10]])
def test_bad_widths_are_refused(widths):
    with pytest.raises(NeuroplastError, match="at least two positive integers"):
        MLP(widths)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(NeuroplastError, match="unknown activation 'swish'.*gelu.*tanh"):
        build_mlp("N4", activation="swish")


def test_initialize_is_seeded_xavier_normal_with_zero_biases():
    a = initialize(build_mlp("lenet-300-100"), seed=3)
    b = initialize(build_mlp("lenet-300-100"), seed=3)
    c = initialize(build_mlp("lenet-300-100"), seed=4)
    for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
        assert torch.equal(la.weight, lb.weight)
        assert not torch.equal(la.weight, lc.weight)
        assert torch.count_nonzero(la.bias) == 0
    first = a.layers[0].weight.double()  # 235,200 draws: the sample std is within 1 %
    assert first.std().item() == pytest.approx(math.sqrt(2 / (784 + 300)), rel=0.01)
    assert abs(first.mean().item()) < 0.01 * xavier_std(784, 300)


# ---------------------------------------------------------------------------------------------
# activations


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative_matches_autograd(name):
    activation = get_activation(name)
    y = torch.linspace(-5.0, 5.0, 401, dtype=torch.float64)
    y = y[y.abs() > 1e-3]  # relu and elu have a kink at 0
    y.requires_grad_(True)
    (grad,) = torch.autograd.grad(activation.fn(y).sum(), y)
    derivative = activation.derivative(y.detach())
    assert derivative.dtype == torch.float64
    torch.testing.assert_close(derivative, grad, rtol=1e-12, atol=1e-12)


def test_activations_are_the_named_functions():
    y = torch.linspace(-3, 3, 13, dtype=torch.float64)
    expected = {
        "tanh": np.tanh(y.numpy()),
        "sigmoid": 1 / (1 + np.exp(-y.numpy())),
        "relu": np.maximum(y.numpy(), 0),
        "identity": y.numpy(),
        "softplus": np.log1p(np.exp(y.numpy())),
        "gelu-tanh": 0.5 * y.numpy() * (1 + np.tanh(np.sqrt(2 / np.pi)
                                                   * (y.numpy() + 0.044715 * y.numpy() ** 3))),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(get_activation(name).fn(y).numpy(), values, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# sites


def test_site_names_and_fields():
    model = build_mlp("N4")
    assert model.site_names == ["input", "hidden1", "hidden2"]
    tanh = get_activation("tanh")

    site = model.site("input")
    assert (site.name, site.index, site.width, site.consumer_index) == ("input", 0, 784, 0)
    assert site.producer is None and site.activation is None
    assert site.consumer is model.layers[0]
    assert site.consumer_activation == tanh

    site = model.site("hidden1")
    assert (site.index, site.width, site.consumer_index) == (1, 100, 1)
    assert site.producer is model.layers[0] and site.consumer is model.layers[1]
    assert site.activation == tanh and site.consumer_activation == tanh

    site = model.site("hidden2")  # its consumer is the output layer: logits, no activation
    assert (site.index, site.width, site.consumer_index) == (2, 5, 2)
    assert site.producer is model.layers[1] and site.consumer is model.layers[2]
    assert site.consumer_activation is None


def test_site_width_follows_surgery():
    model = build_mlp("N4")
    remove_neurons(model, "hidden1", torch.tensor([0, 5, 7]))
    assert model.site("hidden1").width == 97
    assert model.widths == [784, 97, 5, 10]


def test_model_without_hidden_layer_has_only_the_input_site():
    model = build_mlp(widths=[6, 3])
    assert model.site_names == ["input"]
    assert model.site("input").consumer_activation is None


@pytest.mark.parametrize("name", ["hidden3", "hidden0", "output", "Hidden1", "hidden01"])
def test_unknown_site_names_the_known_ones(name):
    with pytest.raises(NeuroplastError, match="unknown site.*input, hidden1, hidden2"):
        build_mlp("N4").site(name)


def _manual_forward(model: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Every site's values and the logits, written out in float64 from the raw weights."""
    h = x.double()[:, model.selector.kept]
    values = [h]
    weights = [(layer.weight.double(), layer.bias.double()) for layer in model.layers]
    for w, b in weights[:-1]:
        h = model.activation.fn(h @ w.T + b)
        values.append(h)
    w, b = weights[-1]
    values.append(h @ w.T + b)
    return values


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_site_values_and_forward_from_preactivation_agree_with_forward(activation):
    model = random_mlp([9, 7, 6, 5, 4], activation, seed=2)
    x = torch.rand(11, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    manual = _manual_forward(model, x)
    with torch.no_grad():
        torch.testing.assert_close(model(x), manual[-1], rtol=1e-12, atol=1e-12)
        for name in model.site_names:
            site = model.site(name)
            values = model.site_values(name, x)
            torch.testing.assert_close(values, manual[site.index], rtol=1e-12, atol=1e-12)
            z = site.consumer(values)  # (batch, consumer width): the consumer's pre-activation
            logits = model.forward_from_preactivation(site.consumer_index, z)
            torch.testing.assert_close(logits, manual[-1], rtol=1e-12, atol=1e-12)


def test_feature_selector_rejects_a_wrong_input_size():
    model = build_mlp("N4")
    with pytest.raises(NeuroplastError, match="expects 784 input features, got 783"):
        model(torch.zeros(2, 783))
    remove_neurons(model, "input", torch.arange(100))  # still expects full-size inputs
    with pytest.raises(NeuroplastError, match="expects 784 input features, got 684"):
        model(torch.zeros(2, 684))
    assert model(torch.zeros(2, 784)).shape == (2, 10)


def test_feature_selector_reorders_inputs_that_were_only_permuted():
    """Keeping every input in another order is not the identity (a bug once returned x)."""
    model = random_mlp([6, 4, 3], seed=1)
    x = torch.rand(5, 6, dtype=torch.float64)
    before = model(x)
    keep_neurons(model, "input", torch.tensor([5, 4, 3, 2, 1, 0]))
    assert not model.selector.is_identity
    assert model.selector.kept.tolist() == [5, 4, 3, 2, 1, 0]
    torch.testing.assert_close(model(x), before, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(x), _manual_forward(model, x)[-1], rtol=1e-12, atol=1e-12)


def test_feature_selector_identity_follows_in_place_edits():
    selector = FeatureSelector(4)
    assert selector.is_identity
    x = torch.arange(8.0).reshape(2, 4)
    with torch.no_grad():
        selector.kept[0], selector.kept[1] = 1, 0
    assert not selector.is_identity
    assert selector(x)[:, 0].tolist() == [1.0, 5.0]


# ---------------------------------------------------------------------------------------------
# save / load


def _assert_same_model(a: MLP, b: MLP, x: torch.Tensor) -> None:
    assert a.widths == b.widths
    assert a.activation_name == b.activation_name
    assert a.n_inputs == b.n_inputs == b.selector.n_features
    assert torch.equal(a.selector.kept, b.selector.kept)
    assert b.selector.kept.dtype == torch.long
    assert a.state_dict().keys() == b.state_dict().keys()
    for key, value in a.state_dict().items():
        assert value.dtype == b.state_dict()[key].dtype
        assert torch.equal(value, b.state_dict()[key]), key
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def _inputs(n_features: int, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(7, n_features, generator=torch.Generator().manual_seed(5), dtype=dtype)


def test_round_trip_of_a_plain_model_with_metadata(tmp_path):
    model = initialize(build_mlp("N4"), seed=1)
    metadata = {"seed": 1, "protocol": "fast", "history": {"epochs": [{"epoch": 1, "loss": 0.5}]},
                "accuracy": 0.97, "note": None, "flags": [True, False], "tensor": torch.ones(2)}
    path = save_model(model, tmp_path / "m.pt", metadata=metadata)
    assert path == tmp_path / "m.pt"
    loaded, meta = load_model(path)
    _assert_same_model(model, loaded, _inputs(784))
    assert meta.keys() == metadata.keys()
    assert meta["history"] == metadata["history"] and meta["flags"] == [True, False]
    assert meta["seed"] == 1 and meta["accuracy"] == 0.97 and meta["note"] is None
    assert torch.equal(meta["tensor"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_round_trip_keeps_float64(tmp_path):
    model = random_mlp([8, 5, 3], "gelu", seed=3)
    loaded, meta = load_model(save_model(model, tmp_path / "m.pt"))
    assert meta == {}
    assert loaded.layers[0].weight.dtype == torch.float64
    _assert_same_model(model, loaded, _inputs(8, torch.float64))


def test_round_trip_after_hidden_neurons_were_removed_and_added(tmp_path):
    model = random_mlp([10, 8, 6, 4], "tanh", seed=4)
    remove_neurons(model, "hidden1", torch.tensor([1, 4, 6]))
    g = torch.Generator().manual_seed(9)
    add_neurons(model, "hidden2", torch.randn(2, 5, generator=g, dtype=torch.float64),
                torch.randn(2, generator=g, dtype=torch.float64),
                torch.randn(4, 2, generator=g, dtype=torch.float64))
    assert model.widths == [10, 5, 8, 4]
    loaded, _ = load_model(save_model(model, tmp_path / "m.pt"))
    _assert_same_model(model, loaded, _inputs(10, torch.float64))
    assert [layer.in_features for layer in loaded.layers] == [10, 5, 8]


def test_round_trip_after_input_features_were_selected(tmp_path):
    model = initialize(build_mlp("N4"), seed=2)
    removed = torch.arange(0, 784, 3)
    remove_neurons(model, "input", removed)
    remove_neurons(model, "hidden1", torch.tensor([0, 99]))
    expected_kept = [i for i in range(784) if i % 3 != 0]
    assert model.selector.kept.tolist() == expected_kept
    loaded, meta = load_model(save_model(model, tmp_path / "m.pt", metadata={"pruned": "input"}))
    assert meta == {"pruned": "input"}
    assert loaded.selector.n_features == 784
    assert loaded.selector.kept.tolist() == expected_kept
    assert loaded.selector.kept.numel() == loaded.widths[0] == 522
    assert loaded.widths == [522, 98, 5, 10]
    _assert_same_model(model, loaded, _inputs(784))  # same outputs on full-size inputs

    # the loaded model can be pruned further and round-trips again
    remove_neurons(loaded, "input", torch.tensor([0, 1]))
    again, _ = load_model(save_model(loaded, tmp_path / "m2.pt"))
    assert again.selector.kept.tolist() == expected_kept[2:]
    _assert_same_model(loaded, again, _inputs(784))


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    first = initialize(build_mlp("N1"), seed=0)
    second = initialize(build_mlp("N2"), seed=0)
    path = save_model(first, tmp_path / "m.pt")
    content = path.read_bytes()
    with pytest.raises(NeuroplastError, match="already exists.*--force"):
        save_model(second, path)
    assert path.read_bytes() == content
    save_model(second, path, overwrite=True)
    assert load_model(path)[0].widths == [784, 10, 10, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_save_creates_missing_folders(tmp_path):
    path = save_model(build_mlp("N1"), tmp_path / "a" / "b" / "m.pt")
    assert load_model(path)[0].widths == [784, 5, 20, 10]


def test_save_refuses_metadata_that_could_not_be_read_back(tmp_path):
    with pytest.raises(NeuroplastError, match=r"metadata\['acc'\] is a float64.*float\(\)"):
        save_model(build_mlp("N1"), tmp_path / "m.pt", metadata={"acc": np.float64(0.9)})
    assert not (tmp_path / "m.pt").exists()


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load_model(tmp_path / "absent.pt")


@pytest.mark.parametrize("payload", [{"weights": torch.ones(3)}, torch.ones(3), [1, 2]])
def test_load_refuses_a_torch_file_of_another_kind(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(NeuroplastError, match="not a neuroplast model file.*neuroplast train"):
        load_model(path)


def test_load_refuses_another_format_version(tmp_path):
    path = save_model(build_mlp("N1"), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    with pytest.raises(NeuroplastError, match="format version 99.*reads version 1"):
        load_model(path)


@pytest.mark.parametrize("content", [b"widths: 784,100,5,10\n", b"", b"\x00\x01garbage"])
def test_load_refuses_a_file_that_is_not_a_torch_file(tmp_path, content):
    path = tmp_path / "model.txt"
    path.write_bytes(content)
    with pytest.raises(NeuroplastError, match="not a neuroplast model file"):
        load_model(path)


@pytest.mark.parametrize("damage", ["kept", "widths", "missing"])
def test_load_refuses_a_damaged_file(tmp_path, damage):
    model = build_mlp("N1")
    path = save_model(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    if damage == "kept":
        payload["kept_inputs"] = torch.arange(10)
    elif damage == "widths":
        payload["widths"] = [784, 6, 20, 10]
    else:
        del payload["state_dict"]
    torch.save(payload, path)
    with pytest.raises(NeuroplastError, match="damaged neuroplast model file"):
        load_model(path)


# ---------------------------------------------------------------------------------------------
# size


def test_count_parameters_and_macs_by_hand():
    n4 = build_mlp("N4")
    assert count_parameters(n4) == 784 * 100 + 100 + 100 * 5 + 5 + 5 * 10 + 10 == 79_065
    assert count_macs(n4) == 784 * 100 + 100 * 5 + 5 * 10 == 78_950
    lenet = build_mlp("lenet-300-100")
    assert count_parameters(lenet) == 266_610
    assert count_macs(lenet) == 266_200


def test_counts_follow_surgery():
    model = build_mlp("N4")
    remove_neurons(model, "input", torch.arange(84))
    remove_neurons(model, "hidden1", torch.arange(40))
    assert count_parameters(model) == 700 * 60 + 60 + 60 * 5 + 5 + 5 * 10 + 10
    assert count_macs(model) == 700 * 60 + 60 * 5 + 5 * 10
