"""Training: protocols, the seeded loop, callbacks, fractional epochs, evaluation, L2 form.

Most tests train on small random data (a few hundred examples, steps of 600 or fewer) so the
file stays fast; reproducibility is also checked on real MNIST with the quick protocol.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from conftest import autograd_optimizer, random_mlp

from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models import FeatureSelector, build_mlp, initialize
from neuroplast.surgery import keep_neurons, remove_neurons
from neuroplast.train import (
    PROTOCOLS,
    History,
    evaluate,
    get_protocol,
    make_optimizer,
    restrict,
    train,
)
from neuroplast.train import loop as loop_module


def _random_split(n: int, n_features: int = 20, n_classes: int = 4, seed: int = 0) -> Split:
    """Separable-ish random data: labels from a random linear map, so training makes progress."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, n_features, generator=g)
    y = (x @ torch.randn(n_features, n_classes, generator=g)).argmax(dim=1)
    return Split(x, y)


def _protocol(batch_size: int = 50, **changes) -> object:
    """The fast protocol with a small batch, for small random data."""
    return dataclasses.replace(get_protocol("fast"), batch_size=batch_size, **changes)


def _step_counter(optimizer: torch.optim.Optimizer) -> list[int]:
    counter = [0]

    def hook(*_):
        counter[0] += 1

    optimizer.register_step_post_hook(hook)
    return counter


# ---------------------------------------------------------------------------------------------
# protocols


def test_protocols_rescale_paper_epochs():
    assert get_protocol("paper").epochs(5000) == 5000
    assert get_protocol("fast").epochs(5000) == pytest.approx(50)
    assert get_protocol("quick").epochs(5000) == pytest.approx(10)
    assert get_protocol("fast").epochs(50) == pytest.approx(0.5)  # fractions are allowed
    assert get_protocol("paper").epochs(0) == 0


def test_protocols_keep_learning_rate_times_steps():
    """DESIGN §3: fast multiplies the learning rate by the factor it divides the epochs by."""
    paper = get_protocol("paper")
    for name in ("fast", "quick"):
        p = get_protocol(name)
        assert p.learning_rate / paper.learning_rate == pytest.approx(100)
        assert (p.batch_size, p.momentum, p.weight_decay) == (600, 0.0, 0.001)
    fast = get_protocol("fast")
    assert fast.learning_rate * fast.epoch_scale == pytest.approx(
        paper.learning_rate * paper.epoch_scale
    )
    assert (paper.learning_rate, paper.batch_size, paper.momentum, paper.weight_decay) == (
        0.001, 600, 0.0, 0.001
    )


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf])
def test_protocol_refuses_bad_epoch_counts(bad):
    with pytest.raises(NeuroplastError, match="finite and non-negative"):
        get_protocol("fast").epochs(bad)


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(NeuroplastError,
                       match="unknown protocol 'slow'.*paper, medium, fast, quick"):
        get_protocol("slow")


def test_protocols_are_frozen_and_recorded():
    p = get_protocol("quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.learning_rate = 1.0
    assert p.as_dict() == {"protocol": "quick", "learning_rate": 0.1, "epoch_scale": 0.002,
                           "batch_size": 600, "momentum": 0.0, "weight_decay": 0.001,
                           "decay_biases": True, "max_train_examples": 6000}
    assert set(PROTOCOLS) == {"paper", "medium", "fast", "quick"}


@pytest.mark.parametrize("name", ["medium", "fast"])
def test_rescaled_protocols_keep_learning_rate_times_steps(name):
    """Every time-rescaled protocol trains lr × steps equal to the paper's (DESIGN.md §3)."""
    paper, rescaled = get_protocol("paper"), get_protocol(name)
    assert rescaled.learning_rate * rescaled.epochs(5000) == pytest.approx(
        paper.learning_rate * paper.epochs(5000))
    assert get_protocol("medium").epochs(5000) == pytest.approx(500)


def test_quick_protocol_trains_on_the_first_6000_examples():
    split = _random_split(7000)
    part = restrict(split, get_protocol("quick"))
    assert part.n == 6000 and torch.equal(part.x, split.x[:6000])
    assert restrict(split, get_protocol("fast")) is split


# ---------------------------------------------------------------------------------------------
# reproducibility


def _run(seed: int, data: Split, protocol, epochs: float, widths=(20, 8, 6, 4)):
    model = initialize(build_mlp(widths=list(widths)), seed)
    history = train(model, data, protocol, epochs=epochs, seed=seed, progress=False)
    return model, history


def _same_numbers(h1: History, h2: History) -> bool:
    strip = [k for k in h1.final if k not in ("wall_time_s", "cpu_time_s")]
    return h1.epochs == h2.epochs and all(h1.final[k] == h2.final[k] for k in strip)


def test_same_seed_gives_identical_weights_and_metrics():
    data, protocol = _random_split(400), _protocol()
    m1, h1 = _run(7, data, protocol, epochs=3)
    m2, h2 = _run(7, data, protocol, epochs=3)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert _same_numbers(h1, h2)
    m3, h3 = _run(8, data, protocol, epochs=3)
    assert not torch.equal(m1.layers[0].weight, m3.layers[0].weight)
    assert h1.final["train_loss"] != h3.final["train_loss"]


def test_shuffling_depends_on_the_training_seed_alone():
    data, protocol = _random_split(400), _protocol()
    start = initialize(build_mlp(widths=[20, 8, 4]), 0)
    runs = []
    for seed in (1, 1, 2):
        model = copy.deepcopy(start)
        train(model, data, protocol, epochs=2, seed=seed, progress=False)
        runs.append(model.layers[0].weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_quick_protocol_on_mnist_is_reproducible(mnist_small):
    protocol = get_protocol("quick")
    epochs = protocol.epochs(1000)  # 2 epochs of 10 steps on 6,000 images
    m1, h1 = _run(3, mnist_small.train, protocol, epochs, widths=(784, 20, 5, 10))
    m2, h2 = _run(3, mnist_small.train, protocol, epochs, widths=(784, 20, 5, 10))
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))
    assert _same_numbers(h1, h2)
    assert h1.final["steps"] == 20 and h1.final["train_accuracy"] > 0.5  # learned something


# ---------------------------------------------------------------------------------------------
# steps, epochs and callbacks


@pytest.mark.parametrize(
    ("n", "batch", "epochs", "steps", "per_epoch"),
    [
        (400, 50, 2, 16, [8, 8]),
        (400, 50, 2.5, 20, [8, 8, 4]),
        (400, 50, 0.25, 2, [2]),
        (400, 50, 0.01, 1, [1]),  # any positive length trains at least one step
        (425, 50, 1, 9, [9]),  # a short last batch still counts as a step
        (400, 50, 0, 0, []),
    ],
)
def test_fractional_epochs_train_the_right_number_of_steps(n, batch, epochs, steps, per_epoch):
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    before = copy.deepcopy(model.state_dict())
    optimizer = make_optimizer(model, _protocol(batch))
    counter = _step_counter(optimizer)
    history = train(model, _random_split(n), _protocol(batch), epochs=epochs, seed=0,
                    optimizer=optimizer, progress=False)
    assert counter[0] == steps == history.final["steps"]
    assert [e["steps"] for e in history.epochs] == per_epoch
    assert [e["epoch"] for e in history.epochs] == list(range(1, len(per_epoch) + 1))
    changed = any(not torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert changed == (steps > 0)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_train_refuses_bad_lengths(bad):
    with pytest.raises(NeuroplastError, match="epochs must be a non-negative number"):
        train(build_mlp(widths=[20, 4]), _random_split(50), _protocol(), epochs=bad, seed=0)


def test_callbacks_run_once_per_full_epoch_in_order():
    calls = []

    def first(state):
        calls.append(("first", state.epoch, len(state.history.epochs)))

    def second(state):
        calls.append(("second", state.epoch, len(state.history.epochs)))

    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    data = _random_split(400)
    history = train(model, data, _protocol(), epochs=3.5, seed=0, callbacks=[first, second],
                    progress=False)
    # no callback after the partial 4th epoch
    assert calls == [(name, e, e) for e in (1, 2, 3) for name in ("first", "second")]
    assert len(history.epochs) == 4

    # continuing a history continues the epoch numbers
    seen = []
    train(model, data, _protocol(), epochs=2, seed=1, history=history, progress=False,
          callbacks=[lambda state: seen.append(state.epoch)])
    assert seen == [5, 6]
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3, 4, 5, 6]


def test_callback_state_holds_the_live_objects():
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    optimizer = make_optimizer(model, _protocol())
    data = _random_split(100)
    states = []
    history = train(model, data, _protocol(), epochs=1, seed=0, optimizer=optimizer,
                    callbacks=[states.append], progress=False)
    (state,) = states
    assert state.model is model and state.optimizer is optimizer and state.history is history
    assert torch.equal(state.train.x, data.x)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_a_callback_can_remove_neurons_and_training_continues(kind):
    model = initialize(build_mlp(widths=[20, 10, 6, 4]), 0)
    protocol = _protocol(momentum=0.9) if kind == "sgd" else _protocol(learning_rate=0.01)
    optimizer = make_optimizer(model, protocol, kind)
    counter = _step_counter(optimizer)
    snapshots = {}

    def prune_one(state):
        if state.epoch in (1, 3):
            remove_neurons(state.model, "hidden1", torch.tensor([0]), state.optimizer)
            snapshots[state.epoch] = state.model.layers[1].weight.detach().clone()

    data = _random_split(400)
    history = train(model, data, protocol, epochs=4, seed=0, optimizer=optimizer,
                    callbacks=[prune_one], progress=False)
    assert model.widths == [20, 8, 6, 4]
    assert counter[0] == 32  # the same optimizer kept stepping after the surgery
    assert snapshots[1].shape == (6, 9) and snapshots[3].shape == (6, 8)
    assert not torch.equal(model.layers[1].weight, snapshots[3])  # epoch 4 changed it
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert params == {id(p) for p in model.parameters()}
    for p in model.parameters():
        for value in optimizer.state[p].values():
            if torch.is_tensor(value) and value.dim() > 0:
                assert value.shape == p.shape
    assert math.isfinite(history.final["train_loss"])


def _reference_training(model, data, protocol, epochs, seed, callbacks=(), optimizer=None):
    """train()'s schedule written out with the selector gathering the kept features from
    every batch of whole input rows: the reference for the kept-columns path. It steps as
    train() does: by autograd (``optimizer`` with a step hook, as conftest's ``autograd_optimizer``
    gives), or by the plain-SGD step (:mod:`neuroplast.train.plain_step`) on the selected
    columns."""
    from neuroplast.train.plain_step import plain_sgd_step

    optimizer = make_optimizer(model, protocol) if optimizer is None else optimizer
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(data.n, generator=generator)
        plain = plain_sgd_step(model, optimizer)
        for start in range(0, data.n, protocol.batch_size):
            index = order[start : start + protocol.batch_size]
            if plain is not None:
                plain(model.selector(data.x[index]), data.y[index])
                continue
            loss = torch.nn.functional.cross_entropy(model(data.x[index]), data.y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        for callback in callbacks:
            callback(loop_module.TrainState(model, optimizer, epoch, data, History()))


STEP_KINDS = ["plain", "autograd"]
"""How train() steps: the plain-SGD step without autograd (the default for the protocol's
SGD) or autograd (forced by a step hook)."""


def _optimizer_for(kind: str, model, protocol):
    return autograd_optimizer(model, protocol) if kind == "autograd" else None


def _count_selector_calls(monkeypatch) -> list[int]:
    """Counts calls of the input selector: every per-batch gather, and evaluation's."""
    calls = [0]
    original = FeatureSelector.forward

    def counted(self, x):
        calls[0] += 1
        return original(self, x)

    monkeypatch.setattr(FeatureSelector, "forward", counted)
    return calls


def _input_pruned_model(seed: int = 0):
    model = initialize(build_mlp(widths=[20, 10, 6, 4]), seed)
    keep_neurons(model, "input", torch.tensor([17, 0, 3, 4, 9, 11, 12, 19]))  # unsorted too
    return model


STEPS_PER_EPOCH = 6
"""300 random examples in batches of 50 (``_protocol()``)."""


@pytest.mark.parametrize("kind", STEP_KINDS)
@pytest.mark.parametrize(("min_epochs", "epochs", "per_batch"),
                         [(1, 3, False), (3, 4, False), (100, 3, True)])
def test_an_input_pruned_model_trains_bit_identically_on_its_kept_columns(
        monkeypatch, min_epochs, epochs, per_batch, kind):
    """train() gathers a long training's kept columns once (the selector then runs only in the
    final evaluation) and a short one's from every batch; either way the weights are
    bit-identical to calling the model on whole rows every step, and to an unpruned model
    holding the same layers trained on the kept columns alone."""
    monkeypatch.setattr(loop_module, "KEPT_COLUMNS_MIN_EPOCHS", min_epochs)
    data = _random_split(300)
    model = _input_pruned_model()
    reference = copy.deepcopy(model)
    plain = build_mlp(widths=[8, 10, 6, 4])
    with torch.no_grad():
        for mine, theirs in zip(plain.layers, model.layers, strict=True):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    calls = _count_selector_calls(monkeypatch)
    train(model, data, _protocol(), epochs=epochs, seed=5, progress=False,
          optimizer=_optimizer_for(kind, model, _protocol()))
    assert calls[0] == 1 + (epochs * STEPS_PER_EPOCH if per_batch else 0)  # 1: evaluation
    _reference_training(reference, data, _protocol(), epochs, 5,
                        optimizer=_optimizer_for(kind, reference, _protocol()))
    kept = Split(data.x[:, model.selector.kept], data.y)
    train(plain, kept, _protocol(), epochs=epochs, seed=5, progress=False,
          optimizer=_optimizer_for(kind, plain, _protocol()))
    for ours, theirs, alone in zip(model.parameters(), reference.parameters(),
                                   plain.parameters(), strict=True):
        assert torch.equal(ours, theirs) and torch.equal(ours, alone)


@pytest.mark.parametrize("kind", STEP_KINDS)
@pytest.mark.parametrize("min_epochs", [1, 3])
def test_inputs_pruned_by_a_callback_are_gathered_again(monkeypatch, min_epochs, kind):
    """A callback that prunes inputs, or permutes the kept ones in place, changes the columns
    train() steps on: the result is bit-identical to the model called on whole rows with the
    same callback."""
    def change_inputs(state):
        if state.epoch == 1:
            keep_neurons(state.model, "input", torch.arange(state.model.widths[0] - 3),
                         state.optimizer)
        if state.epoch == 3:  # same width, other columns: only the tensor's version changes
            state.model.selector.kept.copy_(state.model.selector.kept.flip(0))

    monkeypatch.setattr(loop_module, "KEPT_COLUMNS_MIN_EPOCHS", min_epochs)
    data = _random_split(300)
    model = initialize(build_mlp(widths=[20, 10, 6, 4]), 1)
    reference = copy.deepcopy(model)
    train(model, data, _protocol(), epochs=6, seed=2, callbacks=[change_inputs],
          progress=False, optimizer=_optimizer_for(kind, model, _protocol()))
    _reference_training(reference, data, _protocol(), 6, 2, [change_inputs],
                        optimizer=_optimizer_for(kind, reference, _protocol()))
    assert model.widths[0] == 17
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters(),
                                                 strict=True))


def test_a_selector_changed_every_epoch_is_never_gathered_whole(monkeypatch):
    """Gathering the kept columns pays only if they stay: after a change one epoch gathers per
    batch, so a callback that prunes an input every epoch leaves every epoch per batch."""
    def prune_one(state):
        keep_neurons(state.model, "input", torch.arange(state.model.widths[0] - 1),
                     state.optimizer)

    monkeypatch.setattr(loop_module, "KEPT_COLUMNS_MIN_EPOCHS", 1)
    model = _input_pruned_model()
    calls = _count_selector_calls(monkeypatch)
    train(model, _random_split(300), _protocol(), epochs=5, seed=0, callbacks=[prune_one],
          progress=False)
    # the first epoch's selection is gathered whole; every later epoch follows a change
    assert calls[0] == 1 + 4 * STEPS_PER_EPOCH and model.widths[0] == 3


def test_hooks_and_overrides_still_run_every_step_for_an_input_pruned_model(monkeypatch):
    """Stepping past the model's __call__ would silence a forward hook or an overridden
    forward, so neither model gets the kept-columns path."""
    monkeypatch.setattr(loop_module, "KEPT_COLUMNS_MIN_EPOCHS", 1)
    hooked = _input_pruned_model()
    seen = []
    hooked.register_forward_hook(lambda module, args, out: seen.append(args[0].shape[1]))
    train(hooked, _random_split(300), _protocol(), epochs=2, seed=0, progress=False)
    assert seen.count(20) == 2 * STEPS_PER_EPOCH + 1  # whole rows every step, then evaluation

    class Noisy(type(hooked)):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    calls: list[int] = []
    noisy = _input_pruned_model()
    noisy.__class__ = Noisy
    train(noisy, _random_split(300), _protocol(), epochs=2, seed=0, progress=False)
    assert len(calls) == 2 * STEPS_PER_EPOCH + 1

    everywhere: list[int] = []  # a global hook sees every module's call, the MLP's included
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, args, out: everywhere.append(1) if module is globally else None)
    try:
        globally = _input_pruned_model()
        train(globally, _random_split(300), _protocol(), epochs=2, seed=0, progress=False)
    finally:
        handle.remove()
    assert len(everywhere) == 2 * STEPS_PER_EPOCH + 1


# ---------------------------------------------------------------------------------------------
# evaluation


def test_evaluate_matches_a_manual_float64_computation():
    model = random_mlp([20, 9, 4], "tanh", seed=5)
    data = _random_split(37)
    w0, b0 = model.layers[0].weight.double(), model.layers[0].bias.double()
    w1, b1 = model.layers[1].weight.double(), model.layers[1].bias.double()
    logits = torch.tanh(data.x.double() @ w0.T + b0) @ w1.T + b1  # (37, 4)
    log_z = logits.exp().sum(dim=1).log()  # (37,)
    loss = (log_z - logits[torch.arange(37), data.y]).mean().item()
    accuracy = (logits.argmax(dim=1) == data.y).double().mean().item()
    for batch_size in (37, 10, 1):
        result = evaluate(model, data, batch_size=batch_size)
        assert result.loss == pytest.approx(loss, rel=1e-10)
        assert result.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert result.as_dict("test") == {"test_loss": result.loss, "test_accuracy": result.accuracy}


def test_evaluate_leaves_the_training_mode_alone():
    model = build_mlp(widths=[20, 4])
    model.train()
    evaluate(model, _random_split(10))
    assert model.training
    model.eval()
    evaluate(model, _random_split(10))
    assert not model.training


def test_evaluate_refuses_nan_weights_and_says_they_are_the_cause():
    model = build_mlp(widths=[20, 6, 4])
    with torch.no_grad():
        model.layers[0].weight[0, 0] = math.nan
    with pytest.raises(NeuroplastError, match="weights contain NaN or infinity") as info:
        evaluate(model, _random_split(10))
    assert "learning rate" not in str(info.value)  # issue 15 (9): nothing was trained here


def test_evaluate_refuses_nan_outputs_from_nan_inputs():
    split = _random_split(10)
    split.x[3, 2] = math.nan
    with pytest.raises(NeuroplastError, match="NaN or infinite outputs from finite weights"):
        evaluate(build_mlp(widths=[20, 6, 4]), split)


def test_evaluate_refuses_an_empty_split():
    empty = Split(torch.zeros(0, 20), torch.zeros(0, dtype=torch.long))
    with pytest.raises(NeuroplastError, match="empty split"):
        evaluate(build_mlp(widths=[20, 4]), empty)


def test_training_refuses_to_go_on_after_the_loss_diverged():
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    with pytest.raises(NeuroplastError, match="training diverged.*epoch 2.*learning rate"):
        train(model, _random_split(100), _protocol(learning_rate=1e30), epochs=3, seed=0,
              progress=False)


def test_training_a_model_with_infinite_weights_is_refused_before_any_step():
    model = initialize(build_mlp(widths=[20, 6, 4]), 0)
    with torch.no_grad():
        model.layers[1].bias[0] = math.inf
    optimizer = make_optimizer(model, _protocol())
    steps = _step_counter(optimizer)
    with pytest.raises(NeuroplastError, match="weights contain NaN or infinity.*train a new"):
        train(model, _random_split(100), _protocol(), epochs=3, seed=0, optimizer=optimizer,
              progress=False)
    assert steps[0] == 0


def test_training_reports_final_metrics_on_train_and_test():
    train_split, test_split = _random_split(400), _random_split(100, seed=1)
    model = initialize(build_mlp(widths=[20, 16, 4]), 0)
    history = train(model, train_split, _protocol(), epochs=5, seed=0, test_split=test_split,
                    progress=False)
    final = history.final
    assert final["train_loss"] == pytest.approx(evaluate(model, train_split).loss)
    assert final["test_accuracy"] == pytest.approx(evaluate(model, test_split).accuracy)
    assert final["epochs"] == 5 and final["wall_time_s"] >= 0
    assert final["train_accuracy"] > 0.5  # the random linear labels are learnable
    losses = [e["mean_batch_loss"] for e in history.epochs]
    assert losses[-1] < losses[0]


def test_float64_models_train_on_float32_data():
    model = random_mlp([20, 6, 4], seed=0)
    history = train(model, _random_split(100), _protocol(), epochs=1, seed=0, progress=False)
    assert model.layers[0].weight.dtype == torch.float64
    assert math.isfinite(history.final["train_loss"])


# ---------------------------------------------------------------------------------------------
# optimizer and the L2 form (REFERENCE §1.15 item 2)


def test_sgd_weight_decay_is_the_gradient_of_half_lambda_theta_squared():
    """One step of train() == θ − lr·∇[mean CE + (λ/2)·Σθ²] over all weights *and* biases."""
    protocol = get_protocol("paper")
    lam, lr = protocol.weight_decay, protocol.learning_rate
    model = random_mlp([20, 7, 4], seed=2)
    reference = copy.deepcopy(model)
    data = _random_split(300)  # one batch of 600 holds all of it: one step, order irrelevant

    params = list(reference.parameters())
    logits = reference(data.x.double())
    penalty = sum((p**2).sum() for p in params)
    objective = torch.nn.functional.cross_entropy(logits, data.y) + lam / 2 * penalty
    grads = torch.autograd.grad(objective, params)
    expected = [p.detach() - lr * g for p, g in zip(params, grads, strict=True)]

    history = train(model, data, protocol, epochs=1, seed=0, progress=False)
    assert history.final["steps"] == 1
    for p, e in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-15)
    # and the biases really are decayed: a penalty on weights only would differ here
    bias_decay = lr * lam * params[1].detach()
    assert bias_decay.abs().max() > 1e-8


def test_make_optimizer_follows_the_protocol():
    model = build_mlp(widths=[20, 4])
    sgd = make_optimizer(model, get_protocol("fast"))
    assert isinstance(sgd, torch.optim.SGD)
    group = sgd.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.0, 0.001)
    adam = make_optimizer(model, get_protocol("paper"), "adam", learning_rate=0.01)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 0.01
    with pytest.raises(NeuroplastError, match="unknown optimizer 'rmsprop'"):
        make_optimizer(model, get_protocol("fast"), "rmsprop")


# ---------------------------------------------------------------------------------------------
# progress bar


def test_progress_bar_can_be_turned_off(capsys, monkeypatch):
    monkeypatch.setattr(loop_module, "PROGRESS_DELAY_S", 0.0)
    model = initialize(build_mlp(widths=[20, 4]), 0)
    train(model, _random_split(100), _protocol(), epochs=2, seed=0, progress=False)
    assert capsys.readouterr().err == ""
    pytest.importorskip("tqdm")
    train(model, _random_split(100), _protocol(), epochs=2, seed=0, progress=True)
    assert "epoch" in capsys.readouterr().err


def test_no_progress_bar_by_default_off_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(loop_module, "PROGRESS_DELAY_S", 0.0)
    model = initialize(build_mlp(widths=[20, 4]), 0)
    train(model, _random_split(100), _protocol(), epochs=2, seed=0)  # stderr is not a tty
    assert capsys.readouterr().err == ""


def test_format_table_right_aligns_numbers_and_left_aligns_text():
    from neuroplast.train.report import format_table

    table = format_table(["name", "count", "share"], [["a", 1234, 0.5], ["longer", 7, 0.25]])
    assert table.splitlines() == ["name    count  share",
                                  "------  -----  ------",
                                  "a       1,234  0.5000",
                                  "longer      7  0.2500"]
    # numbers a caller formatted itself (inspect's "%.6g" columns) stay right-aligned
    assert format_table(["i", "E_k"], [[0, "0.5"], [1, "1.25e-05"]]).splitlines()[2:] == [
        "0       0.5", "1  1.25e-05"]
    # a column is aligned as a whole: text in it left-aligns its numbers too; dashes are no
    # value; bools print as words
    assert format_table(["section", "n", "ok"], [["5.1", 3, True], ["2.2, 5.2", "—", False]]
                        ).splitlines()[2:] == ["5.1       3  True", "2.2, 5.2  —  False"]
