"""Forms of the L2 term (neuroplast.train.l2): what each does to an SGD step, checked against
the step written out by hand, and how the run option reaches an experiment's training."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from neuroplast.errors import NeuroplastError
from neuroplast.experiments import EXPERIMENTS
from neuroplast.experiments.options import run_protocol, with_options
from neuroplast.experiments.runner import plan
from neuroplast.experiments.trained_cache import training_key
from neuroplast.models import build_mlp, initialize
from neuroplast.train import get_protocol, make_optimizer
from neuroplast.train.fused import fuse
from neuroplast.train.l2 import L2_FORMS, with_l2_form

LAMBDA = 0.001


def _one_step(form: str, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters after one SGD step whose data gradient is zero: only the L2 term acts."""
    protocol = with_l2_form(get_protocol("fast"), form)
    optimizer = make_optimizer(model, protocol)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize(("form", "gradient_scale", "biases"), [
    ("half-all", 1.0, True), ("full-all", 2.0, True),
    ("half-weights", 1.0, False), ("full-weights", 2.0, False), ("quarter-weights", 0.5, False)])
def test_each_form_shrinks_what_its_penalty_says(form, gradient_scale, biases):
    """θ ← θ − lr·(d/dθ penalty): (λ/2)Σθ² gives λθ, λΣθ² gives 2λθ, (λ/4)Σw² gives λθ/2;
    biases only if covered."""
    model = initialize(build_mlp("N2"), 0, "xavier-normal")
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.fill_(0.5)  # non-zero, so a bias decay would show
    before = {name: p.detach().clone().double() for name, p in model.named_parameters()}
    after = _one_step(form, model)
    lr = get_protocol("fast").learning_rate
    for name, value in before.items():
        is_bias = name.endswith("bias")
        factor = 1.0 - lr * gradient_scale * LAMBDA if (biases or not is_bias) else 1.0
        torch.testing.assert_close(after[name].double(), value * factor, rtol=1e-6, atol=0)


def test_the_fused_model_decays_its_biases_the_same_way():
    members = [initialize(build_mlp("N2"), s, "xavier-normal") for s in range(3)]
    fused = fuse(members)
    with torch.no_grad():
        fused.first.bias.fill_(0.5)
        for bias in fused.biases:
            bias.fill_(0.5)
    weight = fused.first.weight.detach().clone()
    after = _one_step("half-weights", fused)
    assert torch.all(after["first.bias"] == 0.5)
    assert all(torch.all(after[f"biases.{k}"] == 0.5) for k in range(len(fused.biases)))
    lr = get_protocol("fast").learning_rate
    torch.testing.assert_close(after["first.weight"], weight * (1 - lr * LAMBDA))


def test_the_default_form_is_the_protocol_itself_and_keeps_cache_keys():
    fast = get_protocol("fast")
    assert with_l2_form(fast, "half-all") is fast
    key = training_key("N4", 5000, 0, "xavier-normal", fast, "data")
    assert "decay_biases" not in key["protocol"]  # keys of nets stored before the field
    other = training_key("N4", 5000, 0, "xavier-normal", with_l2_form(fast, "half-weights"),
                         "data")
    assert other["protocol"]["decay_biases"] is False and other != key
    doubled = with_l2_form(fast, "full-all")
    assert doubled.weight_decay == pytest.approx(2 * fast.weight_decay) and doubled.decay_biases
    with pytest.raises(NeuroplastError, match="unknown L2 form 'l1'; choose one of: half-all"):
        with_l2_form(fast, "l1")
    assert set(L2_FORMS) == {"half-all", "full-all", "half-weights", "full-weights",
                            "quarter-weights"}


def test_the_run_option_reaches_the_protocol_and_the_run_id():
    default = plan(EXPERIMENTS["cutoff-pruning"], protocol="fast", seeds=1)[0]
    varied = plan(with_options(EXPERIMENTS["cutoff-pruning"], l2="full-weights"),
                  protocol="fast", seeds=1)[0]
    assert varied.config == default.config | {"l2": "full-weights"}
    assert varied.run_id != default.run_id
    protocol = run_protocol("fast", varied.config)
    assert protocol.weight_decay == pytest.approx(2 * LAMBDA) and not protocol.decay_biases
    assert run_protocol("fast", default.config) is get_protocol("fast")
    with pytest.raises(NeuroplastError, match="does not support the run option 'l2'"):
        with_options(dataclasses.replace(EXPERIMENTS["replication"], options=("init",)),
                     l2="full-all")
