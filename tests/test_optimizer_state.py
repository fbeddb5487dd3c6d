"""An optimizer's state through surgery: new neurons start from what a fresh optimizer gives
a new parameter (Rprop's step size is the learning rate, Adagrad's sum its initial value),
Adafactor's factored variances follow the site's dimension, and LBFGS, whose flattened history
cannot be resized, is refused before any surgery (neuroplast.sites.optimizer_state)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuroplast
from neuroplast.errors import NeuroplastError


def setup(kind: type[torch.optim.Optimizer], **options):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    optimizer = kind(model.parameters(), **options)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(step)
    return model, optimizer, step, (x, y), neuroplast.find_sites(model, x[:2])[0]


@pytest.mark.parametrize(("kind", "options", "key", "fresh"), [
    (torch.optim.Rprop, {"lr": 0.01}, "step_size", 0.01),
    (torch.optim.Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.25}, "sum", 0.25),
    (torch.optim.Adam, {"lr": 0.01}, "exp_avg_sq", 0.0),
])
@pytest.mark.parametrize("method", ["B3", "B4"])  # children of parents, and random neurons
def test_new_neurons_state_starts_where_a_fresh_optimizer_starts(kind, options, key, fresh,
                                                                 method):
    model, optimizer, step, data, site = setup(kind, **options)
    before = {name: optimizer.state[p][key].clone()
              for name, p in (("producer", model[0].weight), ("consumer", model[2].weight))}
    neuroplast.replicate(model, site, [data], n=2, method=method, optimizer=optimizer)
    producer, consumer = (optimizer.state[model[0].weight][key],
                          optimizer.state[model[2].weight][key])
    assert producer.shape == (10, 4) and consumer.shape == (3, 10)
    assert torch.equal(producer[:8], before["producer"])  # the old neurons keep theirs
    assert torch.equal(consumer[:, :8], before["consumer"])
    assert torch.all(producer[8:] == torch.tensor(fresh, dtype=producer.dtype))
    assert torch.all(consumer[:, 8:] == torch.tensor(fresh, dtype=consumer.dtype))
    rows = model[0].weight.detach()[8:].clone()
    for _ in range(3):
        optimizer.step(step)
    assert (model[0].weight.detach()[8:] - rows).abs().max() > 1e-3  # the new neurons train


def test_rprop_new_neurons_move_like_the_old_ones_after_replication():
    model, optimizer, step, data, site = setup(torch.optim.Rprop, lr=0.01)
    neuroplast.replicate(model, site, [data], n=2, method="B4", optimizer=optimizer)
    before = model[0].weight.detach().clone()
    optimizer.step(step)
    moved = (model[0].weight.detach() - before).abs()
    # Rprop's first step on an entry is ±its step size: the learning rate for a fresh entry
    torch.testing.assert_close(moved[8:], torch.full_like(moved[8:], 0.01))


def test_adafactor_factored_variances_follow_removals_and_additions():
    model, optimizer, step, data, site = setup(torch.optim.Adafactor, lr=0.01)
    rows = optimizer.state[model[0].weight]["row_var"].clone()  # (8, 1)
    columns = optimizer.state[model[2].weight]["col_var"].clone()  # (1, 8)
    result = neuroplast.prune(model, site, [data], amount=3, optimizer=optimizer)
    kept = torch.as_tensor(result.kept)
    assert torch.equal(optimizer.state[model[0].weight]["row_var"], rows[kept])
    assert torch.equal(optimizer.state[model[2].weight]["col_var"], columns[:, kept])
    assert optimizer.state[model[0].weight]["col_var"].shape == (1, 4)  # along inputs: kept
    neuroplast.replicate(model, site, [data], n=2, method="B3", optimizer=optimizer)
    assert optimizer.state[model[0].weight]["row_var"].shape == (7, 1)
    assert optimizer.state[model[2].weight]["col_var"].shape == (1, 7)
    assert optimizer.state[model[0].bias]["variance"].shape == (7,)
    optimizer.step(step)  # the step runs on the resized state
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_lbfgs_is_refused_before_any_surgery():
    model, optimizer, _, data, site = setup(torch.optim.LBFGS, lr=0.1)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    for call in (lambda: neuroplast.prune(model, site, [data], amount=2, optimizer=optimizer),
                 lambda: neuroplast.replicate(model, site, [data], n=2, optimizer=optimizer)):
        with pytest.raises(NeuroplastError, match="LBFGS .* optimizer=None"):
            call()
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_adafactor_state_follows_a_site_of_one_neuron():
    """At width 1 a column variance (1, in) has the weight's own shape; it must still stay a
    mean over the rows when a row is added."""
    model, optimizer, step, data, site = setup(torch.optim.Adafactor, lr=0.01)
    neuroplast.prune(model, site, [data], amount=7, optimizer=optimizer)
    assert model[0].weight.shape == (1, 4)
    neuroplast.replicate(model, site, [data], n=1, method="B3", optimizer=optimizer)
    assert optimizer.state[model[0].weight]["row_var"].shape == (2, 1)
    assert optimizer.state[model[0].weight]["col_var"].shape == (1, 4)
    assert optimizer.state[model[2].weight]["row_var"].shape == (3, 1)
    assert optimizer.state[model[2].weight]["col_var"].shape == (1, 2)
    optimizer.step(step)


def test_state_of_a_parameter_no_group_holds_starts_from_the_defaults():
    model, optimizer, step, data, site = setup(torch.optim.Rprop, lr=0.01)
    optimizer.param_groups[0]["params"] = [p for p in optimizer.param_groups[0]["params"]
                                           if p is not model[0].weight]  # its state stays
    neuroplast.replicate(model, site, [data], n=2, method="B3", optimizer=optimizer)
    state = optimizer.state[model[0].weight]["step_size"]
    assert state.shape == (10, 4) and torch.all(state[8:] == 0.01)
    assert model[0].bias.shape == (10,) and model[2].weight.shape == (3, 10)


def test_lbfgs_is_refused_by_the_surgery_functions_too():
    from neuroplast.surgery import keep_neurons

    model, optimizer, _, _, site = setup(torch.optim.LBFGS, lr=0.1)
    with pytest.raises(NeuroplastError, match="LBFGS"):
        keep_neurons(model, site, torch.arange(6), optimizer)
    assert model[0].weight.shape == (8, 4)


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.SGD])
def test_surgery_under_inference_mode_leaves_tensors_training_can_use(kind):
    """Tensors made under torch.inference_mode() are inference tensors; parameters, optimizer
    state or buffers made of them failed the next training step ("Inference tensors cannot be
    saved for backward")."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3), nn.BatchNorm2d(6), nn.Tanh(),
                          nn.Conv2d(6, 4, 3, bias=False), nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.randn(16, 2, 6, 6), torch.randint(0, 3, (16,))
    optimizer = kind(model.parameters(), lr=0.01, **({"momentum": 0.9} if kind is
                                                    torch.optim.SGD else {}))

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()
    model.train()
    with torch.inference_mode():
        site = neuroplast.find_sites(model, x[:2])[0]  # the BatchNorm'd conv channels
        neuroplast.prune(model, site, [x], amount=2, rule="A1", optimizer=optimizer)
        neuroplast.replicate(model, site, [x], n=1, optimizer=optimizer)
    assert model[0].out_channels == model[1].num_features == 5
    assert model[3].bias is not None  # A1's compensation gave the bias-free consumer one
    tensors = [*model.parameters(), *model.buffers(),
               *(v for state in optimizer.state.values() for v in state.values()
                 if torch.is_tensor(v))]
    assert not any(t.is_inference() for t in tensors)
    step()  # trains on: the parameters, buffers and optimizer state are normal tensors


def test_channels_last_weights_and_their_state_stay_channels_last():
    """A conv model converted with ``.to(memory_format=torch.channels_last)`` came back from
    surgery with contiguous (NCHW) weights and momentum: correct, but the layout the user chose
    for speed was silently gone."""
    torch.manual_seed(0)
    channels_last = torch.channels_last
    model = nn.Sequential(nn.Conv2d(2, 6, 3), nn.Tanh(), nn.Conv2d(6, 4, 3), nn.Flatten(),
                          nn.Linear(16, 3)).to(memory_format=channels_last)
    x = torch.randn(16, 2, 6, 6).to(memory_format=channels_last)
    y = torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    site = neuroplast.find_sites(model, x[:2])[0]
    neuroplast.prune(model, site, [x], amount=2, optimizer=optimizer)
    before = model(x)
    neuroplast.replicate(model, site, [x], n=1, optimizer=optimizer)
    torch.testing.assert_close(model(x), before)  # B1 keeps the function
    for conv in (model[0], model[2]):
        assert conv.weight.is_contiguous(memory_format=channels_last)
        assert not conv.weight.is_contiguous()
        assert optimizer.state[conv.weight]["momentum_buffer"].is_contiguous(
            memory_format=channels_last)
    assert model[0].weight.shape == (5, 2, 3, 3) and model[2].weight.shape == (4, 5, 3, 3)


def test_a_gradient_accumulating_over_micro_batches_follows_the_surgery():
    """Surgery between two micro-batches' backward passes dropped the gradient gathered so far
    (``param.grad = None``): the step then saw the last micro-batch only."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    F.cross_entropy(model(x[:16]), y[:16]).backward()  # the first micro-batch
    rows, columns = model[0].weight.grad.clone(), model[2].weight.grad.clone()
    site = neuroplast.find_sites(model, x[:2])[0]
    kept = torch.as_tensor(neuroplast.prune(model, site, [(x, y)], amount=3).kept)
    assert torch.equal(model[0].weight.grad, rows[kept])
    assert torch.equal(model[2].weight.grad, columns[:, kept])
    neuroplast.replicate(model, site, [(x, y)], n=2)
    assert torch.equal(model[0].weight.grad[:5], rows[kept])
    assert not model[0].weight.grad[5:].any() and not model[2].weight.grad[:, 5:].any()
    F.cross_entropy(model(x[16:]), y[16:]).backward()  # the second accumulates onto it
    assert model[0].weight.grad.shape == (7, 4)
