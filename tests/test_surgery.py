"""Tests for neuroplast.surgery: physical deletion and addition of neurons, optimizer state.

The reference for "training continues correctly after surgery" is a smaller (or larger) model
built from scratch with the sliced parameters and an optimizer whose state is set, here in the
test, to the sliced state: one step on both must give identical parameters.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import random_mlp

from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, count_macs, count_parameters, load_model, save_model
from neuroplast.surgery import add_neurons, keep_neurons, remove_neurons

DT = torch.float64


WIDTHS = [7, 6, 5, 3]


def batch(seed: int, n: int = 32, features: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, dtype=DT, generator=g), torch.randint(0, 3, (n,), generator=g)


def make_optimizer(kind: str, model: MLP) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    return torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=0.01)


def step(model: MLP, optimizer: torch.optim.Optimizer, seed: int) -> None:
    x, y = batch(seed, features=model.n_inputs)
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def trained(kind: str) -> tuple[MLP, torch.optim.Optimizer]:
    model = random_mlp(WIDTHS, seed=0)
    optimizer = make_optimizer(kind, model)
    for s in range(3):  # populate momentum / Adam moments
        step(model, optimizer, s)
    return model, optimizer


def fresh_copy(widths: list[int], params: list[torch.Tensor], states: list[dict], kind: str,
               ) -> tuple[MLP, torch.optim.Optimizer]:
    """A model built from scratch with these parameters and optimizer state."""
    model = MLP(widths).double()
    with torch.no_grad():
        for p, value in zip(model.parameters(), params, strict=True):
            p.copy_(value)
    optimizer = make_optimizer(kind, model)
    for p, state in zip(model.parameters(), states, strict=True):
        optimizer.state[p] = {k: v.clone() for k, v in state.items()}
    return model, optimizer


def snapshot(model: MLP, optimizer: torch.optim.Optimizer) -> tuple[list, list[dict]]:
    params = [p.detach().clone() for p in model.parameters()]
    states = [{k: v.clone() for k, v in optimizer.state[p].items()} for p in model.parameters()]
    return params, states


def assert_same_after_one_step(model, optimizer, reference, reference_optimizer):
    step(model, optimizer, 99)
    step(reference, reference_optimizer, 99)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert p.shape == q.shape
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        for key, value in reference_optimizer.state[q].items():
            torch.testing.assert_close(optimizer.state[p][key], value, rtol=0, atol=0)


def slice_hidden1(tensors: list, keep: torch.Tensor) -> list:
    """Parameters or states of WIDTHS ordered w0, b0, w1, b1, w2, b2; keep rows of layer 0."""
    w0, b0, w1, b1, w2, b2 = tensors
    return [w0[keep], b0[keep], w1[:, keep], b1, w2, b2]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_keeps_stepping_after_keep_neurons(kind):
    model, optimizer = trained(kind)
    ids = [id(p) for p in model.parameters()]
    params, states = snapshot(model, optimizer)
    keep = torch.tensor([5, 0, 3])
    keep_neurons(model, "hidden1", keep, optimizer)
    assert [id(p) for p in model.parameters()] == ids
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == ids
    assert model.widths == [7, 3, 5, 3]

    def sliced_state(key):
        return slice_hidden1([s[key] for s in states], keep)

    keys = [k for k in states[0] if states[0][k].shape == params[0].shape]
    assert keys  # momentum_buffer, or exp_avg and exp_avg_sq
    new_states = [dict(s) for s in states]
    for key in keys:
        for i, value in enumerate(sliced_state(key)):
            new_states[i][key] = value
    reference, reference_optimizer = fresh_copy([7, 3, 5, 3], slice_hidden1(params, keep),
                                                new_states, kind)
    assert_same_after_one_step(model, optimizer, reference, reference_optimizer)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_keeps_stepping_after_add_neurons(kind):
    model, optimizer = trained(kind)
    params, states = snapshot(model, optimizer)
    g = torch.Generator().manual_seed(5)
    incoming = torch.randn(2, 7, dtype=DT, generator=g)
    bias = torch.randn(2, dtype=DT, generator=g)
    outgoing = torch.randn(5, 2, dtype=DT, generator=g)
    add_neurons(model, "hidden1", incoming, bias, outgoing, optimizer)
    assert model.widths == [7, 8, 5, 3]

    def grow(tensors, zero):
        w0, b0, w1, b1, w2, b2 = tensors
        pad = (lambda t: torch.zeros_like(t)) if zero else (lambda t: t)
        return [torch.cat([w0, pad(incoming)]), torch.cat([b0, pad(bias)]),
                torch.cat([w1, pad(outgoing)], dim=1), b1, w2, b2]

    new_states = [dict(s) for s in states]
    for key in [k for k in states[0] if states[0][k].shape == params[0].shape]:
        for i, value in enumerate(grow([s[key] for s in states], zero=True)):
            new_states[i][key] = value
    reference, reference_optimizer = fresh_copy([7, 8, 5, 3], grow(params, zero=False),
                                                new_states, kind)
    assert_same_after_one_step(model, optimizer, reference, reference_optimizer)


def test_parameters_and_macs_drop_by_the_deleted_rows_and_columns():
    model = random_mlp(WIDTHS, seed=1)
    before_params, before_macs = count_parameters(model), count_macs(model)
    kept = remove_neurons(model, "hidden1", torch.tensor([1, 4]))
    assert kept.tolist() == [0, 2, 3, 5]
    # each hidden1 neuron: 7 incoming weights + 1 bias + 5 outgoing weights
    assert count_parameters(model) == before_params - 2 * (7 + 1 + 5)
    assert count_macs(model) == before_macs - 2 * (7 + 5)
    assert model.layers[0].out_features == 4 and model.layers[1].in_features == 4


def test_hidden_surgery_preserves_the_function_of_the_survivors():
    model = random_mlp(WIDTHS, seed=2)
    x, _ = batch(3)
    with torch.no_grad():
        model.layers[1].weight[:, [1, 4]] = 0.0  # neurons 1 and 4 no longer reach anything
    expected = model(x).detach()
    keep_neurons(model, "hidden1", torch.tensor([0, 2, 3, 5]))
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-14)


def test_input_selector_keeps_accepting_full_size_inputs():
    model = random_mlp([12, 6, 4, 3], seed=3)
    reference = copy.deepcopy(model)
    x, _ = batch(4, features=12)
    keep_neurons(model, "input", torch.tensor([0, 2, 3, 7, 8, 11]))
    keep_neurons(model, "input", torch.tensor([5, 0, 2]))  # positions among the kept features
    assert model.selector.kept.tolist() == [11, 0, 3]
    assert model.n_inputs == 12 and model.widths[0] == 3
    manual = MLP([3, 6, 4, 3]).double()
    with torch.no_grad():
        manual.layers[0].weight.copy_(reference.layers[0].weight[:, [11, 0, 3]])
        manual.layers[0].bias.copy_(reference.layers[0].bias)
        for a, b in zip(manual.layers[1:], reference.layers[1:], strict=True):
            a.load_state_dict(b.state_dict())
    torch.testing.assert_close(model(x), manual(x[:, [11, 0, 3]]), rtol=0, atol=0)
    with pytest.raises(NeuroplastError, match="expects 12 input features, got 3"):
        model(x[:, :3])


def test_a_permutation_of_all_inputs_is_not_mistaken_for_the_identity():
    model = random_mlp([5, 4, 3, 2], seed=4)
    x, _ = batch(5, features=5)
    permutation = torch.tensor([4, 3, 2, 1, 0])
    expected = model(x).detach()  # permuting features and columns together changes nothing
    keep_neurons(model, "input", permutation)
    assert model.selector.kept.tolist() == [4, 3, 2, 1, 0]
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-14)


def test_input_pruned_model_round_trips_through_save_and_load(tmp_path):
    model = random_mlp([10, 5, 4, 3], seed=5)
    keep_neurons(model, "input", torch.tensor([1, 4, 9]))
    path = save_model(model, tmp_path / "m.pt")
    loaded, _ = load_model(path)
    x, _ = batch(6, features=10)
    assert loaded.selector.kept.tolist() == [1, 4, 9]
    torch.testing.assert_close(loaded.double()(x), model(x), rtol=0, atol=0)


def test_surgery_refuses_to_empty_a_site_and_bad_indices():
    model = random_mlp(WIDTHS, seed=6)
    with pytest.raises(NeuroplastError, match="refusing to remove every neuron of site 'hidden1'"):
        keep_neurons(model, "hidden1", torch.tensor([], dtype=torch.long))
    with pytest.raises(NeuroplastError, match="refusing to remove every neuron of site 'input'"):
        remove_neurons(model, "input", torch.arange(7))
    with pytest.raises(NeuroplastError, match=r"distinct and in \[0, 6\)"):
        keep_neurons(model, "hidden1", torch.tensor([0, 0]))
    with pytest.raises(NeuroplastError, match=r"distinct and in \[0, 6\)"):
        keep_neurons(model, "hidden1", torch.tensor([6]))
    with pytest.raises(NeuroplastError, match="hidden sites only"):
        add_neurons(model, "input", torch.zeros(1, 7), torch.zeros(1), torch.zeros(6, 1))
    with pytest.raises(NeuroplastError, match=r"incoming weights must be \(1, 7\)"):
        add_neurons(model, "hidden1", torch.zeros(1, 6), torch.zeros(1), torch.zeros(5, 1))
    with pytest.raises(NeuroplastError, match=r"outgoing weights must be \(5, 1\)"):
        add_neurons(model, "hidden1", torch.zeros(1, 7), torch.zeros(1), torch.zeros(4, 1))
    assert model.widths == WIDTHS  # nothing changed by the refused requests
