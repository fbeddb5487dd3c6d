"""A prune that fails leaves the model, the optimizer and the surgery record as they were —
including the zero bias a rule that moves the bias gives a bias-free consumer first — and a
bias added to a frozen consumer stays frozen."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.errors import NeuroplastError
from neuroplast.sites import linear_site
from neuroplast.sites.record import entries


def ffn(seed: int = 0) -> tuple[nn.Sequential, neuroplast.Site]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3, bias=False)).double()
    return model, linear_site("ffn", producer=model[0], consumer=model[2], activation="tanh")


def inputs(n: int = 200) -> torch.Tensor:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def raising_evaluate(model: nn.Module) -> tuple[float, float]:
    raise RuntimeError("the user's evaluation failed")


def nan_inputs() -> torch.Tensor:
    x = inputs()
    x[3, 2] = float("nan")
    return x


FAILURES = {
    "NaN data": (nan_inputs, {"amount": 2}, NeuroplastError),
    "a cutoff that empties the site": (inputs, {"cutoff": 1e12}, NeuroplastError),
    "a goal without labels": (inputs, {"goal_accuracy": 0.5}, NeuroplastError),
    "an evaluate that raises": (inputs, {"goal_accuracy": 0.5, "evaluate": raising_evaluate},
                                RuntimeError),
    "recompute, an evaluate that raises": (
        inputs, {"goal_accuracy": 0.5, "recompute": True, "evaluate": raising_evaluate},
        RuntimeError),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
@pytest.mark.parametrize("rule", ["A1", "lstsq"])
def test_a_failed_prune_changes_nothing(case, rule):
    data, kwargs, error = FAILURES[case]
    model, site = ffn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(inputs()).sum().backward()
    optimizer.step()  # momentum buffers exist before the call
    before = copy.deepcopy(model.state_dict())
    groups = [list(g["params"]) for g in optimizer.param_groups]
    state = {id(p): {k: v.clone() for k, v in s.items()} for p, s in optimizer.state.items()}
    with pytest.raises(error):
        neuroplast.prune(model, site, data(), rule=rule, optimizer=optimizer, **kwargs)
    assert model[2].bias is None and "bias" not in dict(model[2].named_parameters())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [list(g["params"]) for g in optimizer.param_groups] == groups
    assert {id(p) for p in optimizer.state} == set(state)
    for p, s in optimizer.state.items():
        assert all(torch.equal(v, state[id(p)][k]) for k, v in s.items())
    assert entries(model[2]) == []
    assert site.width == 12


def test_a_failed_prune_after_an_earlier_bias_keeps_the_earlier_record():
    """The bias added by an earlier, successful prune is not taken back by a later failure."""
    model, site = ffn()
    result = neuroplast.prune(model, site, inputs(), rule="A1", amount=2)
    assert result.bias_added
    record = [list(e.events) for e in entries(model[2])]
    bias = model[2].bias.detach().clone()
    with pytest.raises(NeuroplastError):
        neuroplast.prune(model, site, nan_inputs(), rule="A1", amount=2)
    assert torch.equal(model[2].bias.detach(), bias)
    assert [list(e.events) for e in entries(model[2])] == record


def test_after_a_failed_prune_the_same_prune_succeeds_as_on_a_fresh_model():
    model, site = ffn()
    with pytest.raises(NeuroplastError):
        neuroplast.prune(model, site, inputs(), rule="A1", cutoff=1e12)
    fresh, fresh_site = ffn()
    got = neuroplast.prune(model, site, inputs(), rule="A1", amount=3)
    want = neuroplast.prune(fresh, fresh_site, inputs(), rule="A1", amount=3)
    assert got.removed == want.removed and got.bias_added and want.bias_added
    assert len(entries(model[2])) == len(entries(fresh[2])) == 1
    assert entries(model[2])[0].events == entries(fresh[2])[0].events
    assert torch.equal(model(inputs()), fresh(inputs()))


@pytest.mark.parametrize("frozen", [True, False])
def test_a_bias_added_to_a_consumer_trains_as_its_weight_does(frozen):
    model, site = ffn()
    model[2].weight.requires_grad_(not frozen)
    neuroplast.prune(model, site, inputs(), rule="A1", amount=2)
    assert model[2].bias.requires_grad is (not frozen)


def test_a_failure_after_physical_removals_keeps_them_with_their_bias_and_raises_its_own_error():
    """recompute on a site without a cached downstream removes each neuron physically; a
    failure after one keeps it, the bias that came with it and a record that says both —
    even when the removed neuron was dead (its removal moved the bias by exactly 0)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3, bias=False)).double()
    with torch.no_grad():
        model[0].weight[0].zero_()
        model[0].bias[0] = -1.0  # neuron 0 never fires: E = 0, removed first
    site = linear_site("relu", producer=model[0], consumer=model[2], activation="relu")
    x = torch.randn(80, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    calls = []

    def evaluate(m: nn.Module) -> tuple[float, float]:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the user's evaluation failed")
        return 1.0, 0.0

    with pytest.raises(RuntimeError, match="the user's evaluation failed"):
        neuroplast.prune(model, site, x, rule="A1", goal_accuracy=0.5, recompute=True,
                         evaluate=evaluate)
    assert site.width == 5 and model[2].bias is not None
    events = [type(e).__name__ for entry in entries(model[2]) for e in entry.events]
    assert events == ["AddBias", "Keep"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_goal_that_fails_after_accepting_removals_changes_nothing(error):
    model, site = ffn()
    model[2].bias = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    before = copy.deepcopy(model.state_dict())
    calls = []

    def evaluate(m: nn.Module) -> tuple[float, float]:
        calls.append(1)
        if len(calls) == 4:  # the initial evaluation, two accepted candidates, then this
            raise error("stop")
        return 1.0, 0.0

    with pytest.raises(error):
        neuroplast.prune(model, site, inputs(), rule="A1", goal_accuracy=0.5,
                         evaluate=evaluate)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert site.width == 12 and entries(model[2]) == []
