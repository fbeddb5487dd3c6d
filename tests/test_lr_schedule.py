"""Learning-rate schedules (neuroplast.train.lr_schedule): ``polynomial`` is Mathematica's SGD
default, √(1 − t/(T + 1)) at update t of a call's T; ``train`` and ``train_fused`` under it
equal an SGD loop written here with the rate set by hand before every update; ``constant``
changes nothing; a checkpoint resumes only a training under the same schedule; an unknown
schedule is refused."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import autograd_optimizer, random_mlp
from level_probe_checks import assert_levels_trained_by_hand
from test_train_checkpoint import _interrupt_after, _split

from benchmarks.lr_schedule import main, markdown
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.train import Checkpoint, CheckpointMismatch, get_protocol, make_optimizer, train
from neuroplast.train.fused import train_fused
from neuroplast.train.lr_schedule import LR_SCHEDULES, ScheduledRates

BATCH = 50


def _protocol(schedule: str, **changes):
    return dataclasses.replace(get_protocol("fast"), batch_size=BATCH, lr_schedule=schedule,
                               **changes)


def _by_hand(model, split: Split, protocol, *, epochs: int, seed: int, factor) -> None:
    """Plain SGD over the same batches ``train`` draws (one ``randperm`` per epoch from a
    generator seeded with ``seed``), the rate set to base × ``factor(t, T)`` before update t;
    float64, as ``random_mlp``'s models."""
    optimizer = make_optimizer(model, protocol)
    base = protocol.learning_rate
    generator = torch.Generator().manual_seed(seed)
    total = epochs * math.ceil(split.n / BATCH)
    step = 0
    for _ in range(epochs):
        order = torch.randperm(split.n, generator=generator)
        for start in range(0, split.n, BATCH):
            index = order[start : start + BATCH]
            loss = F.cross_entropy(model(split.x[index].double()), split.y[index])
            optimizer.zero_grad()
            loss.backward()
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = base * factor(step, total)
            optimizer.step()


def _gap(a, b) -> float:
    return max((p - q).abs().max().item()
               for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_polynomial_is_mathematica_s_formula():
    """Written out for T = 3: √(3/4), √(2/4), √(1/4); t beyond T stays at the last value."""
    factor = LR_SCHEDULES["polynomial"].factor
    assert [factor(t, 3) for t in (1, 2, 3, 4)] == pytest.approx(
        [math.sqrt(0.75), math.sqrt(0.5), math.sqrt(0.25), math.sqrt(0.25)])
    assert LR_SCHEDULES["constant"].factor(7, 9) == 1.0


@pytest.mark.parametrize("decay_biases", [True, False])
def test_train_under_polynomial_is_sgd_with_the_rate_set_by_hand(decay_biases):
    split = _split()
    protocol = _protocol("polynomial", decay_biases=decay_biases)
    model, alone, constant = (random_mlp([20, 8, 4], seed=3) for _ in range(3))
    train(model, split, protocol, epochs=4, seed=7, progress=False)
    _by_hand(alone, split, protocol, epochs=4, seed=7,
             factor=lambda t, total: math.sqrt(1 - t / (total + 1)))
    _by_hand(constant, split, protocol, epochs=4, seed=7, factor=lambda t, total: 1.0)
    assert _gap(model, alone) < 1e-12
    assert _gap(model, constant) > 1e-3  # the schedule changes the training


def test_constant_is_the_training_without_a_schedule():
    """Bit for bit where train() steps by autograd as the loop here does (an optimizer with a
    step hook); its plain-SGD step (neuroplast.train.plain_step) is within float64 rounding."""
    split = _split()
    protocol = _protocol("constant")
    scheduled, stepped, plain = (random_mlp([20, 8, 4], seed=3) for _ in range(3))
    train(scheduled, split, protocol, epochs=3, seed=7, progress=False,
          optimizer=autograd_optimizer(scheduled, protocol))
    train(stepped, split, protocol, epochs=3, seed=7, progress=False)
    _by_hand(plain, split, protocol, epochs=3, seed=7, factor=lambda t, T: 1.0)
    assert _gap(scheduled, plain) == 0.0  # bit for bit: the schedule does nothing
    assert _gap(stepped, plain) < 1e-12


def test_fused_members_under_polynomial_equal_each_trained_alone():
    split = _split()
    protocol = _protocol("polynomial")
    members = [random_mlp([20, 8, 4], seed=s) for s in range(3)]
    alone = [random_mlp([20, 8, 4], seed=s) for s in range(3)]
    train_fused(members, split, protocol, epochs=4, data_seed=5, progress=False)
    for model in alone:
        train(model, split, protocol, epochs=4, seed=5, progress=False)
    assert max(_gap(a, b) for a, b in zip(members, alone, strict=True)) < 1e-9


def test_an_optimizer_handed_in_leaves_with_its_own_rates():
    model = random_mlp([20, 8, 4], seed=3)
    protocol = _protocol("polynomial", decay_biases=False)
    optimizer = make_optimizer(model, protocol, learning_rate=0.05)
    train(model, _split(), protocol, epochs=2, seed=1, optimizer=optimizer, progress=False)
    assert [g["lr"] for g in optimizer.param_groups] == [0.05, 0.05]

    def fail(state):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):  # also when the training is cut short
        train(model, _split(), protocol, epochs=2, seed=1, optimizer=optimizer,
              callbacks=[fail], progress=False)
    assert [g["lr"] for g in optimizer.param_groups] == [0.05, 0.05]


def test_fused_members_with_momentum_under_polynomial_equal_each_trained_alone():
    """Momentum takes the fused loop's other path (``optimizer.step``)."""
    split = _split()
    protocol = _protocol("polynomial", momentum=0.9)
    members = [random_mlp([20, 8, 4], seed=s) for s in range(2)]
    alone = [random_mlp([20, 8, 4], seed=s) for s in range(2)]
    constant = [random_mlp([20, 8, 4], seed=s) for s in range(2)]
    train_fused(members, split, protocol, epochs=3, data_seed=5, progress=False)
    train_fused(constant, split, dataclasses.replace(protocol, lr_schedule="constant"),
                epochs=3, data_seed=5, progress=False)
    for model in alone:
        train(model, split, protocol, epochs=3, seed=5, progress=False)
    assert max(_gap(a, b) for a, b in zip(members, alone, strict=True)) < 1e-9
    assert min(_gap(a, b) for a, b in zip(members, constant, strict=True)) > 1e-3


def test_scheduled_rates_at_constant_never_touch_the_optimizer():
    model = random_mlp([20, 8, 4], seed=3)
    optimizer = make_optimizer(model, _protocol("constant"))
    rates = ScheduledRates(optimizer, "constant", 10)
    optimizer.param_groups[0]["lr"] = 0.123  # a caller's own change survives
    rates.before_step(5)
    rates.restore()
    assert optimizer.param_groups[0]["lr"] == 0.123


def test_an_interrupted_polynomial_training_resumes_to_the_uninterrupted_result(
        tmp_path, monkeypatch):
    split, protocol = _split(), _protocol("polynomial")
    whole = random_mlp([20, 8, 4], seed=3)
    train(whole, split, protocol, epochs=6, seed=7, progress=False)
    resumed = random_mlp([20, 8, 4], seed=3)
    checkpoint = Checkpoint(tmp_path / "c", every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, saves=3)
        with pytest.raises(KeyboardInterrupt):
            train(random_mlp([20, 8, 4], seed=3), split, protocol, epochs=6, seed=7,
                  progress=False, checkpoint=checkpoint)
    train(resumed, split, protocol, epochs=6, seed=7, progress=False, checkpoint=checkpoint)
    assert _gap(whole, resumed) == 0.0


def test_a_checkpoint_under_another_schedule_is_refused(tmp_path, monkeypatch):
    split = _split()
    checkpoint = Checkpoint(tmp_path / "c", every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, saves=2)
        with pytest.raises(KeyboardInterrupt):
            train(random_mlp([20, 8, 4], seed=3), split, _protocol("constant"), epochs=6,
                  seed=7, progress=False, checkpoint=checkpoint)
    with pytest.raises(CheckpointMismatch, match="lr_schedule"):
        train(random_mlp([20, 8, 4], seed=3), split, _protocol("polynomial"), epochs=6,
              seed=7, progress=False, checkpoint=checkpoint)
    assert checkpoint.path.exists()


def test_an_unknown_schedule_is_refused_with_the_known_ones():
    with pytest.raises(NeuroplastError, match="unknown learning-rate schedule 'cosine'; "
                                              "choose one of: constant, polynomial"):
        _protocol("cosine")


def test_the_record_names_the_schedule_only_when_it_is_not_constant():
    assert "lr_schedule" not in get_protocol("paper").as_dict()
    assert _protocol("polynomial").as_dict()["lr_schedule"] == "polynomial"


def test_the_probe_table_pairs_each_schedule_with_the_first_by_seed():
    levels = [{"schedule": "constant", "cpu_s": 2.0,
               "train_accuracy": [0.90, 0.92], "test_accuracy": [0.80, 0.82]},
              {"schedule": "polynomial", "cpu_s": 2.0,
               "train_accuracy": [0.91, 0.95], "test_accuracy": [0.80, 0.82]}]
    text = markdown(levels, "# t", [])
    # paired differences 0.01 and 0.03: mean 0.02, s.e. 0.01
    assert "| `polynomial` | 0.93000 ± 0.02000 | +0.02000 ± 0.01000 |" in text
    assert "| learning-rate schedule | training accuracy | − constant, paired |" in text


def test_the_probe_refuses_a_schedule_listed_twice_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--schedules", "polynomial", "polynomial"])
    assert "lists a schedule twice" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_trained_cache_key_names_the_schedule_only_when_it_is_not_constant():
    """So base nets cached before schedules existed are still found."""
    from neuroplast.experiments.trained_cache import training_key

    fast = get_protocol("fast")
    constant = training_key("N4", 50, 0, "kaiming-normal", fast, "data")
    polynomial = training_key("N4", 50, 0, "kaiming-normal",
                              dataclasses.replace(fast, lr_schedule="polynomial"), "data")
    assert "lr_schedule" not in constant["protocol"]
    assert polynomial["protocol"].pop("lr_schedule") == "polynomial"
    assert polynomial == constant


def test_the_run_option_reaches_the_protocol_and_the_run_id():
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import run_protocol, with_options
    from neuroplast.experiments.runner import plan

    default = plan(EXPERIMENTS["replication"], protocol="fast", seeds=1)[0]
    varied = plan(with_options(EXPERIMENTS["replication"], lr_schedule="polynomial",
                               l2="half-weights"), protocol="fast", seeds=1)[0]
    assert varied.config == default.config | {"lr_schedule": "polynomial", "l2": "half-weights"}
    assert varied.run_id != default.run_id
    protocol = run_protocol("fast", varied.config)
    assert protocol.lr_schedule == "polynomial" and not protocol.decay_biases
    assert run_protocol("fast", default.config) is get_protocol("fast")
    with pytest.raises(NeuroplastError, match="run option lr_schedule='cosine': choose one of"):
        with_options(EXPERIMENTS["replication"], lr_schedule="cosine")


def test_a_quick_run_under_polynomial_trains_that_net_and_says_so(tmp_path, data_dir):
    """Independent reference: ``train()`` of the same net with the schedule set on the
    protocol by hand; the report's header names the option."""
    from conftest import one_thread

    from neuroplast.data import load_mnist
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options
    from neuroplast.experiments.runner import run_sweep
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import evaluate, restrict

    experiment = with_options(EXPERIMENTS["baseline-training"], lr_schedule="polynomial")
    (record,) = run_sweep(experiment, protocol="quick", seeds=1, out_dir=tmp_path,
                          progress=False, data_dir=data_dir)
    assert record["result"]["run_options"]["lr_schedule"] == "polynomial"
    protocol = dataclasses.replace(get_protocol("quick"), lr_schedule="polynomial")
    data = load_mnist(data_dir, download=False).train
    scheduled, constant = (initialize(build_mlp("N4"), 0) for _ in range(2))
    with one_thread():
        train(scheduled, data, protocol, epochs=protocol.epochs(5000), seed=0, progress=False)
        train(constant, data, get_protocol("quick"), epochs=protocol.epochs(5000), seed=0,
              progress=False)
    assert record["result"]["train_accuracy"] == evaluate(
        scheduled, restrict(data, protocol)).accuracy
    assert record["result"]["train_accuracy"] != evaluate(
        constant, restrict(data, protocol)).accuracy
    (tmp_path / "report").mkdir()
    summary = EXPERIMENTS["baseline-training"].report([record], tmp_path / "report")
    assert "lr_schedule polynomial" in summary.read_text()


def test_the_probe_trains_each_schedule_on_the_data_seed_and_the_splits_it_names(tmp_path,
                                                                                  data_dir):
    """The command end to end (quick protocol, 2 members): each schedule's accuracies are those
    of the members trained fused under it, by hand, on the restricted split with the given data
    seed; the two schedules differ."""
    import json

    from neuroplast.train.l2 import with_l2_form

    main(["--protocol", "quick", "--seeds", "2", "--paper-epochs", "500", "--data-seed", "3",
          "--out", str(tmp_path), "--data", data_dir])
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    record = json.loads((folder / "lr-schedule.json").read_text())
    assert [lv["schedule"] for lv in record["levels"]] == ["constant", "polynomial"]
    assert_levels_trained_by_hand(record["levels"], data_dir, lambda level: dataclasses.replace(
        with_l2_form(get_protocol("quick"), "half-weights"), lr_schedule=level["schedule"]))
    assert "Made by `python -m benchmarks.lr_schedule --protocol quick" in (
        folder / "lr-schedule.md").read_text()
