"""The combined death-and-replication schedule (sect. 5.8) as a training callback."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from conftest import mnist_dir, random_mlp

from neuroplast.cli.main import main
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, initialize
from neuroplast.replication import (
    DeathReplication,
    DeathReplicationSchedule,
    parse_spec,
    schedule_from_spec,
)
from neuroplast.train import TrainState, get_protocol, make_optimizer, train

EVENT_FIELDS = {"epoch", "paper_epoch", "removed", "parents", "children", "n_removed", "width",
                "fraction_removed", "fraction_affected", "n_below_cutoff", "site", "cutoff"}


def _random_split(n: int = 1200, features: int = 20, classes: int = 3, seed: int = 0,
                  dtype=torch.float32) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, features, generator=g, dtype=dtype),
                 torch.randint(0, classes, (n,), generator=g))


def _small_model(seed: int = 0) -> MLP:
    return initialize(MLP([20, 16, 6, 3], "tanh"), seed)


# -- when events fire -------------------------------------------------------------------------
@pytest.mark.parametrize(("protocol_name", "expected"),
                         [("quick", list(range(1, 10))), ("fast", list(range(5, 50, 5)))])
def test_events_fire_every_delta_t_but_not_at_the_end(protocol_name, expected):
    protocol = get_protocol(protocol_name)
    model = _small_model()
    schedule = schedule_from_spec("cutoff=1e9,every=500", protocol, seed=0,
                                  total_epochs=protocol.epochs(5000))
    history = train(model, _random_split(), protocol, epochs=protocol.epochs(5000), seed=0,
                    callbacks=[schedule], progress=False)
    assert [e["epoch"] for e in history.events] == expected
    assert [e["paper_epoch"] for e in history.events] == pytest.approx(
        [500 * k for k in range(1, 10)])
    for event in history.events:  # a huge cutoff: the cap (half the site) dies every time
        assert EVENT_FIELDS <= set(event)
        assert event["n_removed"] == 8 and event["width"] == 16
        assert event["fraction_removed"] == 0.5 and event["fraction_affected"] == 1.0
        assert sorted(event["removed"] + event["parents"]) == list(range(16))
        assert event["children"] == list(range(8, 16))
        json.dumps(event)
    assert model.widths == [20, 16, 6, 3]


def test_without_total_epochs_the_last_epoch_fires_too():
    protocol = get_protocol("quick")
    schedule = DeathReplication(DeathReplicationSchedule(cutoff=0.0), protocol)
    history = train(_small_model(), _random_split(), protocol, epochs=3, seed=0,
                    callbacks=[schedule], progress=False)
    assert [e["epoch"] for e in history.events] == [1, 2, 3]
    assert all(e["n_removed"] == 0 and e["fraction_affected"] == 0 for e in history.events)


@pytest.mark.parametrize(("protocol_name", "every", "epochs"),
                         [("fast", 500, 5), ("quick", 500, 1), ("paper", 500, 500),
                          ("fast", 10, 1), ("fast", 250, 3), ("fast", 240, 2)])
def test_delta_t_is_rescaled_and_rounded(protocol_name, every, epochs):
    config = DeathReplicationSchedule(every_paper_epochs=every)
    assert config.epochs_between_events(get_protocol(protocol_name)) == epochs


# -- what one event does ----------------------------------------------------------------------
def _site_and_consumer(model: MLP, x: torch.Tensor, means: torch.Tensor | None = None,
                       removed: list[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """hidden1 values (removed neurons frozen at ``means``) and the tanh consumer's outputs."""
    h = torch.tanh(x @ model.layers[0].weight.T + model.layers[0].bias)  # (N, n)
    if removed:
        h = h.clone()
        h[:, removed] = means[removed]
    return h, torch.tanh(h @ model.layers[1].weight.T + model.layers[1].bias)


def _efficiency(h: torch.Tensor, consumer_out: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor) -> torch.Tensor:
    """Eq. 28 from scratch: C_kk Σ_i w_ik² (1 − tanh² ȳ_i)² / C_ii."""
    y_bar = h.mean(0) @ weight.T + bias
    gain = (1 - torch.tanh(y_bar) ** 2) ** 2 / consumer_out.var(0, unbiased=False)
    return h.var(0, unbiased=False) * (gain @ weight**2)


def _logits_with_frozen(model: MLP, x: torch.Tensor, means: torch.Tensor,
                        removed: list[int]) -> torch.Tensor:
    _, out = _site_and_consumer(model, x, means, removed)
    return model.layers[2](out)


@torch.no_grad()
def test_one_event_is_a1_removal_then_b1_replication_of_the_best_survivors():
    model = random_mlp([10, 12, 5, 3], "tanh", 4)
    data = _random_split(400, 10, seed=4, dtype=torch.float64)
    h, out = _site_and_consumer(model, data.x)
    scores = _efficiency(h, out, model.layers[1].weight, model.layers[1].bias)
    ranked = scores.argsort().tolist()
    cutoff = float(scores[ranked[3]] + scores[ranked[4]]) / 2  # exactly 4 below
    means = h.mean(0)
    expected_logits = _logits_with_frozen(model, data.x, means, ranked[:4])

    # the survivors' efficiencies on the pruned, re-wired model (A1: x_l -> <x_l>)
    kept = [k for k in range(12) if k not in ranked[:4]]
    w = model.layers[1].weight
    pruned_bias = model.layers[1].bias + w[:, ranked[:4]] @ means[ranked[:4]]
    pruned_out = torch.tanh(h[:, kept] @ w[:, kept].T + pruned_bias)
    survivor_scores = _efficiency(h[:, kept], pruned_out, w[:, kept], pruned_bias)
    expected_parents = [kept[i] for i in survivor_scores.argsort(descending=True)[:4].tolist()]
    ranked_before = [kept[i] for i in scores[kept].argsort(descending=True)[:4].tolist()]
    assert set(ranked_before) != set(expected_parents)  # this case tells the two choices apart

    callback = DeathReplication(DeathReplicationSchedule(cutoff=cutoff), get_protocol("fast"))
    event = callback.apply(model, data, None, epoch=5)

    assert event["removed"] == ranked[:4] and event["n_below_cutoff"] == 4
    assert event["parents"] == expected_parents
    assert event["width"] == 12 and event["children"] == [8, 9, 10, 11]
    assert event["fraction_removed"] == 4 / 12 and event["fraction_affected"] == 8 / 12
    assert event["paper_epoch"] == 500
    torch.testing.assert_close(model(data.x), expected_logits, rtol=0, atol=1e-12)


@torch.no_grad()
def test_at_most_max_fraction_dies_least_efficient_first():
    model = random_mlp([10, 12, 5, 3], "tanh", 6)
    data = _random_split(300, 10, seed=6, dtype=torch.float64)
    h, out = _site_and_consumer(model, data.x)
    ranked = _efficiency(h, out, model.layers[1].weight, model.layers[1].bias).argsort()
    callback = DeathReplication(DeathReplicationSchedule(cutoff=1e9, max_fraction=0.25),
                                get_protocol("fast"))
    event = callback.apply(model, data, None, epoch=5)
    assert event["n_below_cutoff"] == 12 and event["n_removed"] == 3
    assert event["removed"] == ranked[:3].tolist()


@torch.no_grad()
def test_zero_cutoff_changes_nothing():
    model = random_mlp([10, 12, 5, 3], "tanh", 7)
    before = copy.deepcopy(model)
    data = _random_split(100, 10, seed=7, dtype=torch.float64)
    callback = DeathReplication(DeathReplicationSchedule(cutoff=0.0), get_protocol("fast"))
    event = callback.apply(model, data, None, epoch=5)
    assert event["n_removed"] == 0 and event["parents"] == [] and event["width"] == 12
    for (name, a), (_, b) in zip(model.state_dict().items(), before.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


# -- optimizers -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sgd-momentum", "adam"])
def test_schedule_resizes_optimizer_state(kind):
    protocol = get_protocol("quick")
    model = _small_model(1)
    if kind == "adam":
        optimizer = make_optimizer(model, protocol, "adam", learning_rate=0.01)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = schedule_from_spec("cutoff=1e9,every=500,max_fraction=0.25", protocol, seed=1,
                                  total_epochs=protocol.epochs(2500))
    checks: list[int] = []

    def check(state: TrainState) -> None:
        if not state.history.events or state.history.events[-1]["epoch"] != state.epoch:
            return
        children = state.history.events[-1]["children"]
        producer, consumer = state.model.layers[0], state.model.layers[1]
        for p in state.model.parameters():
            for value in state.optimizer.state[p].values():
                assert value.dim() == 0 or value.shape == p.shape
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            if key in state.optimizer.state[producer.weight]:
                assert not state.optimizer.state[producer.weight][key][children].any()
                assert not state.optimizer.state[consumer.weight][key][:, children].any()
                assert state.optimizer.state[consumer.weight][key].abs().sum() > 0
        checks.append(state.epoch)

    history = train(model, _random_split(), protocol, epochs=protocol.epochs(2500), seed=0,
                    optimizer=optimizer, callbacks=[schedule, check], progress=False)
    assert checks == [1, 2, 3, 4]
    assert all(e["n_removed"] == 4 for e in history.events)
    assert model.widths == [20, 16, 6, 3]
    assert math.isfinite(history.final["train_loss"])


# -- spec parsing -----------------------------------------------------------------------------
def test_spec_parsing_fills_every_field():
    config = parse_spec("cutoff=0.02, every=250,site=hidden2,rule=A2,measure=connection,"
                        "method=beta,alpha=1,max_fraction=0.3", seed=4)
    assert config == DeathReplicationSchedule(
        site="hidden2", cutoff=0.02, every_paper_epochs=250, rule="A2", measure="connection",
        method="beta", alpha=1.0, max_fraction=0.3, seed=4)
    assert parse_spec("cutoff=0.01,every=500") == DeathReplicationSchedule()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cutof=0.01", "unknown death-replication key 'cutof'; valid keys: cutoff, every"),
        ("cutoff", "key=value"),
        ("cutoff=", "key=value"),
        ("cutoff=abc", "cutoff must be a number"),
        ("cutoff=-1", "cutoff must be a number >= 0"),
        ("every=0", "every must be a positive number"),
        ("max_fraction=0.8", r"max_fraction must be in \(0, 0.5\]"),
        ("cutoff=0.1,cutoff=0.2", "given twice"),
        ("method=B1,alpha=1", "fixes alpha"),
        ("method=B7", "unknown replication method"),
        ("rule=A9", "unknown re-wiring rule"),
        ("measure=bogus", "unknown efficiency measure"),
        ("site=input", "hidden site"),
    ],
)
def test_spec_errors_say_what_to_do(spec, message):
    with pytest.raises(NeuroplastError, match=message):
        schedule_from_spec(spec, get_protocol("fast"))


# -- CLI ------------------------------------------------------------------------------------
def test_cli_train_with_death_replication_prints_events(capsys):
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found")
    code = main(["train", "--arch", "N4", "--protocol", "quick", "--epochs", "1500",
                 "--death-replication", "cutoff=0.01,every=500", "--data", str(directory),
                 "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    events = [line for line in text.splitlines() if line.startswith("event:")]
    assert len(events) == 2
    assert "epoch=1," in events[0] and "paper_epoch=500," in events[0]
    assert "epoch=2," in events[1] and "paper_epoch=1000," in events[1]
    assert all("fraction_affected=" in e and "width=100" in e for e in events)


def test_cli_train_rejects_bad_spec(capsys):
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found")
    code = main(["train", "--protocol", "quick", "--epochs", "500", "--death-replication",
                 "cutoff=0.01,bogus=1", "--data", str(directory), "--no-progress"])
    assert code == 2
    assert "unknown death-replication key 'bogus'" in capsys.readouterr().err
