"""A hostile user's pass on replicate, the death-replication schedule and prune_retrain_cycles
(2026-12-07): nothing is left half-done by an argument that could have been refused first,
layers whose tensors are not their own are refused, arguments a method would ignore are
refused, and a model with several inputs can grow through ``forward``."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.utils.parametrizations as parametrizations
import torch.nn.utils.prune as torch_prune
from torch import nn

import neuroplast
from neuroplast import DeathReplication, DeathReplicationSchedule
from neuroplast.death.strategies import prune_retrain_cycles
from neuroplast.errors import NeuroplastError
from neuroplast.sites import linear_site
from neuroplast.sites.record import entries


def ffn(bias: bool = True) -> tuple[nn.Sequential, neuroplast.Site]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 3, bias=bias)).double()
    return model, linear_site("ffn", producer=model[0], consumer=model[2], activation="gelu")


def inputs(n: int = 40) -> torch.Tensor:
    return torch.randn(n, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def unchanged(model: nn.Module, before: dict) -> bool:
    state = model.state_dict()
    return state.keys() == before.keys() and all(torch.equal(before[k], v)
                                                   for k, v in state.items())


@pytest.mark.parametrize("call", ["prune", "replicate"])
def test_an_optimizer_that_is_not_one_is_refused_before_any_surgery(call):
    model, site = ffn(bias=False)
    before = copy.deepcopy(model.state_dict())
    kwargs = {"amount": 2} if call == "prune" else {"n": 1}
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer over the "
                                        "model's parameters, or None; got str"):
        getattr(neuroplast, call)(model, site, inputs(), optimizer="adam", **kwargs)
    assert unchanged(model, before) and model[2].bias is None and entries(model[2]) == []


WRAPPERS = {
    "weight_norm on the consumer": (lambda m: parametrizations.weight_norm(m[2]),
                                    "parametrized"),
    "spectral_norm on the producer": (lambda m: parametrizations.spectral_norm(m[0]),
                                      "parametrized"),
    "a torch.nn.utils.prune mask": (lambda m: torch_prune.l1_unstructured(m[2], "weight", 0.3),
                                    "torch.nn.utils.prune mask"),
    "the older weight_norm on the consumer": (lambda m: nn.utils.weight_norm(m[2]),
                                              "torch.nn.utils.weight_norm or spectral_norm"),
    "the older spectral_norm on the producer": (lambda m: nn.utils.spectral_norm(m[0]),
                                                "torch.nn.utils.weight_norm or spectral_norm"),
}


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_layers_whose_tensors_are_not_their_own_are_refused(wrapper):
    wrap, words = WRAPPERS[wrapper]
    model, site = ffn()
    wrap(model)
    model.eval()  # spectral_norm's power iteration updates its buffers in training mode
    found = neuroplast.explain_sites(model, inputs())
    assert found.sites == []
    assert any(words in skipped.reason for skipped in found.skipped)
    before = copy.deepcopy(model.state_dict())
    x = inputs()
    output = model(x)
    for call, kwargs in (("replicate", {"n": 1, "method": "B3"}), ("prune", {"amount": 2})):
        with pytest.raises(NeuroplastError, match=f"cannot be resized: its .*{words}"):
            getattr(neuroplast, call)(model, site, x, **kwargs)
    assert unchanged(model, before) and torch.equal(model(x), output)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "B4", "parents": [0, 1]}, "method B4 picks no parents, so parents would be "
                                          "ignored"),
    ({"method": "B5", "n": 3}, "method B5 adds no neuron, so n would be ignored"),
    ({"method": "B4", "measure": "covariance"}, "method B4 picks no parents, so no measure"),
    ({"parents": [1], "measure": "covariance"}, "the parents are given, so no measure ranks "
                                                "them"),
    ({"method": None}, "method must be a name such as 'B1'"),
    ({"parents": {1, 2}}, "parents must be a list .* got set"),
])
def test_replicate_refuses_what_the_method_would_ignore_or_cannot_read(kwargs, message):
    model, site = ffn()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises((NeuroplastError, TypeError), match=message):
        neuroplast.replicate(model, site, inputs(), **kwargs)
    assert unchanged(model, before)


def test_a_model_with_two_inputs_grows_through_forward_and_keeps_its_function():
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up, self.down = nn.Linear(6, 12), nn.Linear(12, 3)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return self.down(torch.tanh(self.up(a + 2 * b)))

    torch.manual_seed(0)
    model = TwoInputs().double()
    a, b = inputs(), inputs().flip(0)
    run = lambda m, batch: m(*batch)  # noqa: E731
    (site,) = neuroplast.find_sites(model, (a, b), forward=run)
    before = model(a, b)
    result = neuroplast.replicate(model, site, [((a, b), None)], n=2, method="B1",
                                  forward=run)
    assert result.width_after == 14 and result.measure == "connection"
    assert torch.allclose(model(a, b), before, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"seed": -1}, NeuroplastError, "seed must be an integer from 0"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"seed": 10**13}, NeuroplastError, "seed must be at most 9,223,343,366,824"),
    ({"cutoff": "0.01"}, NeuroplastError, "cutoff must be a number, got '0.01'"),
    ({"cutoff": True}, NeuroplastError, "cutoff must be a number, got True"),
    ({"site": 0}, TypeError, "site must be a neuroplast Site or a site name"),
    ({"method": None}, TypeError, "method must be a name such as 'B1'"),
])
def test_a_schedule_refuses_bad_settings_when_made_not_at_its_first_event(kwargs, error,
                                                                           message):
    with pytest.raises(error, match=message):
        DeathReplicationSchedule(**kwargs)


def test_a_schedule_refuses_a_training_length_that_is_not_a_number():
    with pytest.raises(NeuroplastError, match="total_epochs must be a number"):
        DeathReplication(DeathReplicationSchedule(), every=1, total_epochs="x")


def test_retrain_may_return_a_number_and_other_returns_are_refused_with_the_results_so_far():
    model, site = ffn()
    x = inputs()
    results = prune_retrain_cycles(model, site, x, cycles=2, amount=2,
                                   retrain=lambda m, cycle: 0.25 * cycle)
    assert [r.retrain for r in results] == [{"value": 0.25}, None]
    model, site = ffn()
    with pytest.raises(TypeError, match="retrain returned a str; return a dict") as raised:
        prune_retrain_cycles(model, site, x, cycles=3, amount=2,
                             retrain=lambda m, cycle: "done")
    assert [r.width_after for r in raised.value.results] == [10]
    with pytest.raises(TypeError, match="retrain_last must be True or False, got 'no'"):
        prune_retrain_cycles(model, site, x, cycles=2, amount=1, retrain_last="no",
                             retrain=lambda m, cycle: None)


@pytest.mark.parametrize(("model", "error", "message"), [
    ("a string", TypeError, "model must be a torch.nn.Module, got str"),
    (nn.Linear(6, 3, device="meta"), NeuroplastError, "on the meta device"),
])
def test_discovery_refuses_what_is_not_a_model_with_values(model, error, message):
    with pytest.raises(error, match=message):
        neuroplast.find_sites(model, inputs().float())


def test_a_fraction_capped_by_max_fraction_is_not_refused_as_emptying_the_site():
    """amount 0.96 of 12 rounds to all 12, but max_fraction 0.5 caps it at 6: allowed."""
    model, site = ffn()
    result = neuroplast.prune(model, site, inputs(), amount=0.96, max_fraction=0.5)
    assert result.width_after == 6
    model, site = ffn()
    with pytest.raises(NeuroplastError, match="amount 0.96 would remove every neuron of site "
                                              "'ffn'"):
        neuroplast.prune(model, site, inputs(), amount=0.96)
