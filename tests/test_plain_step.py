"""train()'s plain-SGD step without autograd (neuroplast.train.plain_step): the same training as
autograd and ``optimizer.step()`` to float rounding, taken only where it computes that."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from conftest import autograd_optimizer
from torch import nn

from neuroplast.data import Split
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.surgery import keep_neurons
from neuroplast.train import get_protocol, make_optimizer, train
from neuroplast.train.plain_step import plain_sgd_step


def _split(n: int = 300, features: int = 20, classes: int = 4, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, features, generator=g)
    return Split(x, (x @ torch.randn(features, classes, generator=g)).argmax(dim=1))


def _protocol(**changes):
    return dataclasses.replace(get_protocol("fast"), batch_size=50, **changes)


def _both(model, protocol, epochs, callbacks=(), data=None):
    """The model trained by the plain step and, from the same start, by autograd."""
    data = _split() if data is None else data
    plain, reference = copy.deepcopy(model), copy.deepcopy(model)
    ours = train(plain, data, protocol, epochs=epochs, seed=3, progress=False,
                 callbacks=callbacks)
    theirs = train(reference, data, protocol, epochs=epochs, seed=3, progress=False,
                   callbacks=callbacks, optimizer=autograd_optimizer(reference, protocol))
    return plain, reference, ours, theirs


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "gelu", "identity"])
@pytest.mark.parametrize(("decay_biases", "schedule"), [(True, "constant"),
                                                        (False, "polynomial")])
def test_the_plain_step_trains_as_autograd_does(activation, decay_biases, schedule):
    """Every parameter within float rounding of autograd's after 2.5 epochs (15 steps: a
    step missed or repeated would move it by ~lr × gradient, far more), the same step counts
    and losses, with and without the biases decayed and under the polynomial schedule; the
    plain step leaves ``.grad`` alone."""
    model = initialize(build_mlp(widths=[20, 12, 6, 4], activation=activation), 0)
    protocol = _protocol(decay_biases=decay_biases, lr_schedule=schedule)
    plain, reference, ours, theirs = _both(model, protocol, 2.5)
    moved = max((a - b).abs().max().item() for a, b in zip(plain.parameters(),
                                                             model.parameters(), strict=True))
    assert moved > 1e-2
    for a, b in zip(plain.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert ours.final["steps"] == theirs.final["steps"] == 15
    assert [e["steps"] for e in ours.epochs] == [e["steps"] for e in theirs.epochs]
    for a, b in zip(ours.epochs, theirs.epochs, strict=True):
        assert a["mean_batch_loss"] == pytest.approx(b["mean_batch_loss"], rel=1e-5)
    assert all(p.grad is None for p in plain.parameters())
    assert all(p.grad is not None for p in reference.parameters())


def test_in_float64_the_two_steps_agree_to_float64_rounding():
    model = initialize(build_mlp(widths=[20, 12, 6, 4]), 1).double()
    data = _split()
    data = Split(data.x.double(), data.y)
    plain, reference, _, _ = _both(model, _protocol(), 3, data=data)
    for a, b in zip(plain.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_surgery_between_epochs_is_followed():
    """A callback that removes hidden neurons and inputs (keep_neurons, with the optimizer)
    changes the model the next epoch steps: the plain step is built again and stays within
    float rounding of autograd."""
    def prune(state):
        if state.epoch == 1:
            keep_neurons(state.model, "hidden1", torch.arange(9), state.optimizer)
        if state.epoch == 2:
            keep_neurons(state.model, "input", torch.arange(3, 20), state.optimizer)

    model = initialize(build_mlp(widths=[20, 12, 6, 4]), 2)
    plain, reference, _, _ = _both(model, _protocol(), 4, callbacks=[prune])
    assert plain.widths == reference.widths == [17, 9, 6, 4]
    for a, b in zip(plain.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


class _Doubled(MLP):
    def forward_kept(self, x_kept: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward_kept(x_kept)


def _cases():
    """(what, model, optimizer) where the plain step would not compute what autograd does."""
    def model():
        return initialize(build_mlp(widths=[20, 6, 4]), 0)

    protocol = _protocol()
    momentum = model()
    hooked = model()
    hooked.layers[0].register_forward_hook(lambda *_: None)
    parametrized = model()
    nn.utils.parametrize.register_parametrization(parametrized.layers[1], "weight",
                                                  nn.Identity())
    frozen = model()
    frozen.layers[0].bias.requires_grad_(False)
    partial = model()
    step_hooked = model()
    optimizer = make_optimizer(step_hooked, protocol)
    optimizer.register_step_pre_hook(lambda *_: None)
    subclass = _Doubled([20, 6, 4])
    adam = model()
    square = initialize(build_mlp(widths=[20, 6, 6, 6, 4]), 0)
    square.layers[2].weight = square.layers[1].weight  # tied: one tensor in two layers
    shared = initialize(build_mlp(widths=[20, 6, 6, 6, 4]), 0)
    shared.layers[2].weight = nn.Parameter(shared.layers[1].weight.detach())  # one storage
    grad_hooked = model()
    grad_hooked.layers[0].weight.register_hook(lambda g: g.clamp(-1, 1))
    accumulate_hooked = model()
    accumulate_hooked.layers[1].bias.register_post_accumulate_grad_hook(lambda p: None)
    backward_hooked = model()
    backward_hooked.layers[1].register_full_backward_hook(lambda *_: None)
    no_bias = model()
    no_bias.layers[1] = nn.Linear(6, 4, bias=False)
    return [
        ("momentum", momentum, torch.optim.SGD(momentum.parameters(), lr=0.1, momentum=0.9)),
        ("maximize", momentum, torch.optim.SGD(momentum.parameters(), lr=0.1, maximize=True)),
        ("adam", adam, torch.optim.Adam(adam.parameters())),
        ("a layer's forward hook", hooked, make_optimizer(hooked, protocol)),
        ("a parametrized weight", parametrized, make_optimizer(parametrized, protocol)),
        ("a frozen parameter", frozen, torch.optim.SGD(frozen.parameters(), lr=0.1)),
        ("a parameter the optimizer lacks", partial,
         torch.optim.SGD(list(partial.parameters())[1:], lr=0.1)),
        ("a step hook", step_hooked, optimizer),
        ("a subclass", subclass, make_optimizer(subclass, protocol)),
        ("tied weights", square, torch.optim.SGD(square.parameters(), lr=0.1)),
        ("parameters sharing storage", shared, torch.optim.SGD(shared.parameters(), lr=0.1)),
        ("a gradient hook", grad_hooked, make_optimizer(grad_hooked, protocol)),
        ("a post-accumulate hook", accumulate_hooked,
         make_optimizer(accumulate_hooked, protocol)),
        ("a module backward hook", backward_hooked, make_optimizer(backward_hooked, protocol)),
        ("a layer without bias", no_bias, torch.optim.SGD(no_bias.parameters(), lr=0.1)),
    ]


@pytest.mark.parametrize(("what", "model", "optimizer"), _cases(),
                         ids=[case[0] for case in _cases()])
def test_the_plain_step_is_not_taken_where_it_would_differ(what, model, optimizer):
    assert plain_sgd_step(model, optimizer) is None, what


def test_models_the_plain_step_refuses_still_train_by_autograd():
    """Tied weights and a layer without bias train as before (autograd writes ``.grad``)."""
    square = initialize(build_mlp(widths=[20, 6, 6, 6, 4]), 0)
    square.layers[2].weight = square.layers[1].weight
    no_bias = initialize(build_mlp(widths=[20, 6, 4]), 0)
    no_bias.layers[1] = nn.Linear(6, 4, bias=False)
    for model in (square, no_bias):
        train(model, _split(), _protocol(), epochs=1, seed=0, progress=False)
        assert all(p.grad is not None for p in model.parameters())


def test_the_plain_step_moves_the_parameters_version_counters_as_autograd_does():
    """In-place updates through the view count on the model's own parameters, so a graph
    recorded before training refuses to back-propagate through the changed weights."""
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    data = _split()
    stale = torch.nn.functional.cross_entropy(model(data.x), data.y)
    before = [p._version for p in model.parameters()]
    train(model, data, _protocol(), epochs=1, seed=0, progress=False)
    assert all(p.grad is None for p in model.parameters())  # the plain step was taken
    assert all(p._version > v for p, v in zip(model.parameters(), before, strict=True))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


def test_the_plain_step_is_taken_for_the_protocols_sgd_and_steps_the_models_own_storage():
    """It returns the batch's loss before the step and moves the model's own parameters."""
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    before = copy.deepcopy(model)
    step = plain_sgd_step(model, make_optimizer(model, _protocol()))
    assert step is not None
    data = _split(50)
    loss = step(data.x, data.y)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(before(data.x), data.y)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(not torch.equal(a, b) for a, b in zip(before.parameters(), model.parameters(),
                                                     strict=True))
