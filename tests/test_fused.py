"""Fused-seed training: S members trained as one model equal S separate trainings."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, initialize
from neuroplast.surgery import keep_neurons
from neuroplast.train import Protocol, get_protocol, make_optimizer, train
from neuroplast.train.fused import (
    FusedMLP,
    PlainSGD,
    can_fuse,
    evaluate_fused,
    fuse,
    train_fused,
)

SMALL = (12, 5, 7, 3)


def _members(widths=SMALL, n: int = 3, activation: str = "tanh") -> list[MLP]:
    return [random_mlp(widths, activation, seed=10 * s) for s in range(n)]


def _random_split(n: int, d: int, classes: int, seed: int) -> Split:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=generator)
    return Split(x, y)


def _max_difference(a: MLP, b: MLP) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max((p - q).abs().max().item() for p, q in pairs)


def _reference_logits(model: MLP, x: torch.Tensor) -> torch.Tensor:
    """An independent forward pass written out layer by layer."""
    h = x
    for layer in model.layers[:-1]:
        h = torch.tanh(h @ layer.weight.T + layer.bias)
    return h @ model.layers[-1].weight.T + model.layers[-1].bias


def test_forward_equals_each_member():
    members = _members()
    fused = fuse(members)
    x = torch.randn(40, SMALL[0], dtype=torch.float64)
    logits = fused(x)  # (S, batch, C)
    assert logits.shape == (3, 40, SMALL[-1])
    for s, member in enumerate(members):
        torch.testing.assert_close(logits[s], _reference_logits(member, x), rtol=1e-12,
                                   atol=1e-12)
    torch.testing.assert_close(fused.logits_by_class(x), logits.transpose(1, 2))


def test_forward_without_hidden_layer():
    members = [random_mlp((6, 4), seed=s) for s in range(2)]
    x = torch.randn(9, 6, dtype=torch.float64)
    logits = fuse(members)(x)
    for s, member in enumerate(members):
        torch.testing.assert_close(logits[s], x @ member.layers[0].weight.T
                                   + member.layers[0].bias)


def test_unfuse_round_trip_and_copy_into():
    members = _members()
    fused = fuse(members)
    copies = fused.unfuse()
    for member, copy_ in zip(members, copies, strict=True):
        assert copy_.widths == member.widths and copy_.activation_name == "tanh"
        assert all(p.dtype == torch.float64 for p in copy_.parameters())
        assert _max_difference(member, copy_) == 0.0
        assert all(p is not q for p, q in zip(member.parameters(), copy_.parameters(), strict=True))
    with torch.no_grad():
        fused.weights[0][1].add_(1.0)
    targets = _members()
    originals = [list(t.parameters()) for t in targets]
    fused.copy_into(targets)
    assert [list(t.parameters()) for t in targets] == originals  # same Parameter objects
    torch.testing.assert_close(targets[1].layers[1].weight, members[1].layers[1].weight + 1.0)
    assert _max_difference(targets[0], members[0]) == 0.0


def _tight_protocol(momentum: float) -> Protocol:
    return Protocol("test", learning_rate=0.05, epoch_scale=1.0, batch_size=50,
                    momentum=momentum, weight_decay=0.01)


@pytest.mark.parametrize(("optimizer", "momentum"), [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0)])
def test_fused_training_equals_separate_training_float64(optimizer, momentum):
    split = _random_split(230, SMALL[0], SMALL[-1], seed=1)  # last batch is partial
    test = _random_split(70, SMALL[0], SMALL[-1], seed=2)
    protocol = _tight_protocol(momentum)
    members = _members(n=4)
    alone = copy.deepcopy(members)
    histories = train_fused(members, split, protocol, epochs=6, data_seed=5, test_split=test,
                            optimizer=optimizer, progress=False)
    for member, solo, history in zip(members, alone, histories, strict=True):
        solo_optimizer = None
        if optimizer == "adam":
            solo_optimizer = torch.optim.Adam(solo.parameters(), lr=protocol.learning_rate,
                                              weight_decay=protocol.weight_decay)
        solo_history = train(solo, split, protocol, epochs=6, seed=5, test_split=test,
                             optimizer=solo_optimizer, progress=False)
        assert _max_difference(member, solo) < 1e-11
        assert history.final["steps"] == solo_history.final["steps"] == 30
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert history.final[key] == pytest.approx(solo_history.final[key], rel=1e-10)
        assert [e["mean_batch_loss"] for e in history.epochs] == pytest.approx(
            [e["mean_batch_loss"] for e in solo_history.epochs], rel=1e-10)
        assert history.final["fused_members"] == 4 and history.final["data_seed"] == 5


def test_fused_training_equals_separate_training_on_mnist(mnist_small):
    """N1-shaped float32 nets, 200 SGD steps of the quick protocol on real MNIST."""
    protocol = get_protocol("quick")  # 6,000 images, batch 600: 10 steps per epoch
    members = [initialize(MLP((784, 5, 20, 10)), seed) for seed in range(2)]
    alone = copy.deepcopy(members)
    histories = train_fused(members, mnist_small.train, protocol, epochs=20, data_seed=3,
                            test_split=mnist_small.test, progress=False)
    for member, solo, history in zip(members, alone, histories, strict=True):
        solo_history = train(solo, mnist_small.train, protocol, epochs=20, seed=3,
                             test_split=mnist_small.test, progress=False)
        assert history.final["steps"] == 200
        for p, q in zip(member.parameters(), solo.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        assert history.final["train_accuracy"] == pytest.approx(
            solo_history.final["train_accuracy"], abs=2e-3)
        assert history.final["test_loss"] == pytest.approx(solo_history.final["test_loss"],
                                                           rel=1e-4)
    # training did something, and the members stayed different nets
    assert histories[0].final["train_accuracy"] > 0.5
    assert _max_difference(members[0], members[1]) > 0.01


def test_member_gradient_equals_solo_gradient():
    """The summed loss gives each member exactly its own mean cross-entropy gradient."""
    members = _members(n=2)
    fused = fuse(members)
    split = _random_split(32, SMALL[0], SMALL[-1], seed=3)
    logits = fused.logits_by_class(split.x)  # (S, C, batch)
    F.cross_entropy(logits, split.y.expand(2, -1), reduction="none").mean(dim=1).sum().backward()
    for s, member in enumerate(members):
        F.cross_entropy(member(split.x), split.y).backward()
        grads = [(w.grad, b.grad) for w, b in ((m.weight, m.bias) for m in member.layers)]
        h1 = SMALL[1]
        torch.testing.assert_close(fused.first.weight.grad[s * h1 : (s + 1) * h1], grads[0][0])
        torch.testing.assert_close(fused.first.bias.grad[s * h1 : (s + 1) * h1], grads[0][1])
        for k in range(len(fused.weights)):
            torch.testing.assert_close(fused.weights[k].grad[s], grads[k + 1][0])
            torch.testing.assert_close(fused.biases[k].grad[s], grads[k + 1][1])


def test_evaluate_fused_matches_direct_computation():
    members = _members(n=2)
    split = _random_split(90, SMALL[0], SMALL[-1], seed=4)
    evaluations = evaluate_fused(fuse(members), split, batch_size=25)
    for member, evaluation in zip(members, evaluations, strict=True):
        with torch.no_grad():
            logits = _reference_logits(member, split.x)
        assert evaluation.loss == pytest.approx(F.cross_entropy(logits, split.y).item(),
                                                rel=1e-12)
        assert evaluation.accuracy == (logits.argmax(1) == split.y).double().mean().item()


def test_mismatched_later_widths_are_refused():
    with pytest.raises(NeuroplastError, match="separately"):
        fuse([random_mlp(SMALL), random_mlp((12, 5, 6, 3))])
    with pytest.raises(NeuroplastError, match="separately"):
        fuse([random_mlp(SMALL), random_mlp((11, 5, 7, 3))])  # another input count
    assert not can_fuse([random_mlp(SMALL), random_mlp((12, 5, 3))])
    assert can_fuse([random_mlp(SMALL), random_mlp((12, 2, 7, 3))])


def test_mismatched_activation_is_refused():
    with pytest.raises(NeuroplastError, match="differ only in their first hidden width"):
        fuse([random_mlp(SMALL, "tanh"), random_mlp(SMALL, "relu")])


def _pruned_members(activation: str = "tanh") -> list[MLP]:
    """Four members of one family: full, hidden1 pruned to 2, inputs pruned to 7 of 12, both."""
    members = _members(n=4, activation=activation)
    keep_neurons(members[1], "hidden1", torch.tensor([0, 3]))
    keep_neurons(members[2], "input", torch.tensor([0, 2, 3, 5, 8, 9, 11]))
    keep_neurons(members[3], "input", torch.tensor([1, 4, 6, 7, 10]))
    keep_neurons(members[3], "hidden1", torch.tensor([1, 2, 4]))
    return members


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_members_with_pruned_sites_compute_what_they_compute_alone(activation):
    members = _pruned_members(activation)
    fused = fuse(members)
    assert fused.first_widths == [5, 2, 5, 3] and fused.first.weight.shape == (15, 12)
    x = torch.randn(30, SMALL[0], dtype=torch.float64)
    logits = fused(x)
    for s, member in enumerate(members):
        torch.testing.assert_close(logits[s], member(x), rtol=1e-12, atol=1e-12)
    # autograd of the fused forward gives each member exactly its own gradient
    y = torch.randint(0, SMALL[-1], (30,))
    F.cross_entropy(fused.logits_by_class(x), y.expand(4, -1), reduction="none").mean(
        dim=1).sum().backward()
    auto = [p.grad.clone() for p in fused.parameters()]
    for p in fused.parameters():
        p.grad = None
    fused.loss_and_gradients(x, y)
    hand = [p.grad for p in fused.parameters()]
    for a, h in zip(auto[2:], hand[2:], strict=True):  # later layers: padding included
        torch.testing.assert_close(h, a, rtol=1e-10, atol=1e-12)
    for s, member in enumerate(members):
        F.cross_entropy(member(x), y).backward()
        rows = slice(sum(fused.first_widths[:s]), sum(fused.first_widths[: s + 1]))
        kept = member.selector.kept
        torch.testing.assert_close(hand[0][rows][:, kept], member.layers[0].weight.grad)
        dropped = torch.ones(12, dtype=torch.bool)
        dropped[kept] = False
        assert not hand[0][rows][:, dropped].any()  # unread inputs get no gradient
        torch.testing.assert_close(hand[1][rows], member.layers[0].bias.grad)
        width = fused.first_widths[s]
        torch.testing.assert_close(hand[2][s][:, :width], member.layers[1].weight.grad)
        assert not hand[2][s][:, width:].any()  # the padding gets no gradient


def test_pruned_members_train_as_they_would_alone_and_unfuse():
    split = _random_split(230, SMALL[0], SMALL[-1], seed=1)
    protocol = _tight_protocol(0.0)
    members = _pruned_members()
    alone = copy.deepcopy(members)
    histories = train_fused(members, split, protocol, epochs=6, data_seed=5, progress=False)
    for member, solo, history in zip(members, alone, histories, strict=True):
        solo_history = train(solo, split, protocol, epochs=6, seed=5, progress=False)
        assert member.widths == solo.widths
        assert torch.equal(member.selector.kept, solo.selector.kept)
        assert _max_difference(member, solo) < 1e-11
        assert history.final["train_loss"] == pytest.approx(solo_history.final["train_loss"],
                                                             rel=1e-10)
    fused = fuse(members)
    others = copy.deepcopy(members)
    others[2].selector.kept = torch.tensor([1, 2, 3, 5, 8, 9, 11])  # as many inputs, not the same
    with pytest.raises(NeuroplastError, match="keeps other inputs"):
        fused.copy_into(others)
    copies = fused.unfuse()
    for member, copy_ in zip(members, copies, strict=True):
        assert copy_.widths == member.widths
        assert torch.equal(copy_.selector.kept, member.selector.kept)
        assert _max_difference(member, copy_) == 0.0


def test_mixed_dtypes_and_empty_lists_are_refused():
    with pytest.raises(NeuroplastError, match="dtype"):
        fuse([random_mlp(SMALL), random_mlp(SMALL).float()])
    with pytest.raises(NeuroplastError, match="at least one"):
        fuse([])
    with pytest.raises(NeuroplastError, match="at least one member"):
        FusedMLP(0, SMALL)


def test_copy_into_refuses_wrong_models():
    fused = fuse(_members(n=2))
    with pytest.raises(NeuroplastError, match="2 fused members"):
        fused.copy_into(_members(n=3))
    with pytest.raises(NeuroplastError, match="widths"):
        fused.copy_into([random_mlp((12, 6, 7, 3)), random_mlp((12, 6, 7, 3))])


def test_divergence_names_the_member():
    split = _random_split(100, SMALL[0], SMALL[-1], seed=5)
    members = _members(n=3)
    with torch.no_grad():
        members[1].layers[-1].bias.fill_(float("nan"))  # member 1's loss is NaN from step 1
    with pytest.raises(NeuroplastError, match=r"diverged for fused members \[1\]"):
        train_fused(members, split, _tight_protocol(0.0), epochs=1, data_seed=0, progress=False)
    with pytest.raises(NeuroplastError, match=r"fused members \[1\] produced NaN"):
        evaluate_fused(fuse(members), split)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "gelu", "identity"])
@pytest.mark.parametrize("widths", [SMALL, (12, 5, 3), (6, 4)])
def test_hand_written_gradients_equal_autograd(activation, widths):
    """loss_and_gradients (no autograd, fast tanh) = autograd of each member's own loss."""
    members = _members(widths, n=3, activation=activation)
    split = _random_split(45, widths[0], widths[-1], seed=6)
    fused = fuse(members)
    losses = fused.loss_and_gradients(split.x, split.y)
    assert not losses.requires_grad
    for s, member in enumerate(members):
        loss = F.cross_entropy(member(split.x), split.y)
        loss.backward()
        assert losses[s].item() == pytest.approx(loss.item(), rel=1e-13)
        first = slice(s * widths[1], (s + 1) * widths[1])  # member s's first-layer rows
        torch.testing.assert_close(fused.first.weight.grad[first], member.layers[0].weight.grad,
                                   rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(fused.first.bias.grad[first], member.layers[0].bias.grad,
                                   rtol=1e-12, atol=1e-14)
        for k in range(len(fused.weights)):
            layer = member.layers[k + 1]
            torch.testing.assert_close(fused.weights[k].grad[s], layer.weight.grad,
                                       rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(fused.biases[k].grad[s], layer.bias.grad,
                                       rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("decay_biases", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.03])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "gelu", "identity"])
def test_sgd_step_equals_each_member_stepped_alone(decay_biases, weight_decay, activation):
    """FusedMLP.sgd_step (the step inside the gradient products) = autograd + torch's SGD on
    each member alone, pruned sites and masked inputs included; unread inputs stay zero."""
    protocol = Protocol("test", learning_rate=0.3, epoch_scale=1.0, batch_size=30,
                        momentum=0.0, weight_decay=weight_decay, decay_biases=decay_biases)
    members = _pruned_members(activation)
    fused = fuse(members)
    sgd = PlainSGD.from_optimizer(make_optimizer(fused, protocol), fused)
    assert sgd is not None
    split = _random_split(30, SMALL[0], SMALL[-1], seed=8)
    for step in range(3):
        losses = fused.sgd_step(split.x, split.y, sgd)
        for s, member in enumerate(members):
            loss = F.cross_entropy(member(split.x), split.y)
            assert losses[s].item() == pytest.approx(loss.item(), rel=1e-12), step
            optimizer = make_optimizer(member, protocol)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert all(p.grad is None for p in fused.parameters())  # nothing stored
    stepped = fused.unfuse()
    for member, alone in zip(stepped, members, strict=True):
        assert _max_difference(member, alone) < 1e-13
    mask = fused.input_mask
    assert mask is not None and not fused.first.weight[mask == 0].any()


@pytest.mark.parametrize("widths", [(12, 5, 3), (6, 4), (12, 6, 5, 4, 3)])
def test_sgd_step_with_fewer_or_more_hidden_layers(widths):
    members = _members(widths, n=2)
    fused = fuse(members)
    protocol = _tight_protocol(0.0)
    sgd = PlainSGD.from_optimizer(make_optimizer(fused, protocol), fused)
    split = _random_split(20, widths[0], widths[-1], seed=3)
    fused.sgd_step(split.x, split.y, sgd)
    for member, stepped in zip(members, fused.unfuse(), strict=True):
        optimizer = make_optimizer(member, protocol)
        F.cross_entropy(member(split.x), split.y).backward()
        optimizer.step()
        assert _max_difference(member, stepped) < 1e-13


@pytest.mark.parametrize(("kind", "momentum", "maximize"),
                         [("sgd", 0.9, False), ("adam", 0.0, False), ("sgd", 0.0, True)])
def test_plain_sgd_refuses_optimizers_with_state_or_another_rule(kind, momentum, maximize):
    fused = fuse(_members(n=2))
    optimizer = make_optimizer(fused, _tight_protocol(momentum), kind)
    for group in optimizer.param_groups:
        group["maximize"] = maximize
    assert PlainSGD.from_optimizer(optimizer, fused) is None


def test_plain_sgd_reads_the_learning_rate_at_each_step_and_needs_every_parameter():
    members = _members(n=2)
    fused = fuse(members)
    optimizer = make_optimizer(fused, _tight_protocol(0.0))
    sgd = PlainSGD.from_optimizer(optimizer, fused)
    for group in optimizer.param_groups:
        group["lr"] = 0.0  # as a scheduler would: no step now
    before = [p.clone() for p in fused.parameters()]
    split = _random_split(20, SMALL[0], SMALL[-1], seed=4)
    fused.sgd_step(split.x, split.y, sgd)
    assert all(torch.equal(a, b) for a, b in zip(before, fused.parameters(), strict=True))
    frozen = torch.optim.SGD(list(fused.parameters())[1:], lr=0.1)  # the first weight left out
    assert PlainSGD.from_optimizer(frozen, fused) is None
