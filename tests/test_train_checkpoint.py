"""Resumable training (neuroplast.train.checkpoint): a training interrupted after a checkpoint
and called again must end exactly where the uninterrupted training ends — same weights, same
history, same step count — for SGD with momentum and for Adam; a file that belongs to another
training, or is no checkpoint at all, is refused and left as it was; the file is gone once the
training has finished; the trained cache resumes its base nets the same way."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from conftest import random_mlp

from neuroplast.data import Dataset, Split
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import trained_cache
from neuroplast.experiments.definitions.pruning_common import train_base
from neuroplast.experiments.stage_checkpoints import checkpoints_in
from neuroplast.train import (
    Checkpoint,
    CheckpointMismatch,
    History,
    get_protocol,
    make_optimizer,
    train,
)
from neuroplast.train import checkpoint as checkpoint_module
from neuroplast.train.fused import can_fuse, train_fused, train_together

EPOCHS = 6


def _split(n: int = 300, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 20, generator=g)
    y = (x @ torch.randn(20, 4, generator=g)).argmax(dim=1)
    return Split(x, y)


def _protocol():
    """Momentum and undecayed biases, so the optimizer has state and two parameter groups."""
    return dataclasses.replace(get_protocol("fast"), batch_size=50, momentum=0.9,
                               decay_biases=False)


def _interrupt_after(monkeypatch, saves: int) -> None:
    """Make the training loop (``train``'s, or the fused one) stop, as a kill would, right
    after its ``saves``-th save."""
    real = checkpoint_module.save_checkpoint
    count = [0]

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        count[0] += 1
        if count[0] == saves:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_stop)


def _interrupted(path, monkeypatch, saves: int) -> Checkpoint:
    """A checkpoint left by training a [20, 8, 4] net (seed 3, shuffling seed 7) that was
    stopped right after its ``saves``-th save."""
    checkpoint = Checkpoint(path, every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, saves)
        with pytest.raises(KeyboardInterrupt):
            _run(random_mlp([20, 8, 4], seed=3), _split(), checkpoint, seed=7)
    return checkpoint


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def _run(model, split, checkpoint=None, optimizer: str = "sgd", seed: int = 7):
    protocol = _protocol()
    return train(model, split, protocol, epochs=EPOCHS, seed=seed, progress=False,
                 optimizer=make_optimizer(model, protocol, optimizer), checkpoint=checkpoint)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_interrupted_training_resumes_to_the_uninterrupted_result(optimizer, tmp_path,
                                                                     monkeypatch):
    split = _split()
    whole = random_mlp([20, 8, 6, 4], seed=3)
    expected = _run(whole, split, optimizer=optimizer)

    checkpoint = Checkpoint(tmp_path / "run.ckpt", every_s=0)
    model = random_mlp([20, 8, 6, 4], seed=3)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            _run(model, split, checkpoint, optimizer=optimizer)
    assert checkpoint.path.is_file()
    assert not _same_weights(model, whole)  # stopped half-way

    restarted = random_mlp([20, 8, 6, 4], seed=3)  # a new process starts from scratch
    history = _run(restarted, split, checkpoint, optimizer=optimizer)
    assert _same_weights(restarted, whole)
    assert history.epochs == expected.epochs
    assert history.final["steps"] == expected.final["steps"]
    assert history.final["resumed_at_epoch"] == 3
    assert history.final["train_accuracy"] == expected.final["train_accuracy"]
    assert "resumed_at_epoch" not in expected.final
    assert not checkpoint.path.exists()  # finished: removed


def test_a_finished_training_leaves_no_checkpoint(tmp_path):
    checkpoint = Checkpoint(tmp_path / "sub" / "run.ckpt", every_s=0)
    history = _run(random_mlp([20, 8, 4]), _split(), checkpoint)
    assert "resumed_at_epoch" not in history.final
    assert not checkpoint.path.exists()


def test_the_checkpoint_of_another_training_is_refused_and_kept(tmp_path, monkeypatch):
    split = _split()
    checkpoint = _interrupted(tmp_path / "run.ckpt", monkeypatch, 2)
    saved = checkpoint.path.read_bytes()

    cases = [  # (model, split, seed, checkpoint, what the message names)
        (random_mlp([20, 8, 4], seed=3), split, 8, checkpoint, "seed"),
        (random_mlp([20, 8, 4], seed=4), split, 7, checkpoint, "start"),  # other weights
        (random_mlp([20, 8, 4], seed=3), _split(seed=1), 7, checkpoint, "data"),
        (random_mlp([20, 8, 4], seed=3), split, 7,
         dataclasses.replace(checkpoint, key={"arch": "other"}), "key"),
    ]
    for model, data, seed, ckpt, named in cases:
        before = copy.deepcopy(model)
        with pytest.raises(CheckpointMismatch, match=rf"another training \(.*{named}"):
            _run(model, data, ckpt, seed=seed)
        assert _same_weights(model, before)  # untouched
        assert checkpoint.path.read_bytes() == saved  # kept as it was


@pytest.mark.parametrize("content", [b"my notes", None])
def test_a_file_that_is_no_checkpoint_is_refused_and_kept(content, tmp_path):
    path = tmp_path / "model.safetensors"
    if content is None:  # a safetensors file, but not a checkpoint
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(2)}, str(path))
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(NeuroplastError, match="is not a neuroplast training checkpoint"):
        _run(random_mlp([20, 8, 4]), _split(), Checkpoint(path, every_s=0))
    assert path.read_bytes() == before


def test_checkpoint_arguments_are_checked(tmp_path):
    model = random_mlp([20, 8, 4])
    before = copy.deepcopy(model)
    with pytest.raises(NeuroplastError, match="cannot be combined with callbacks"):
        train(model, _split(), _protocol(), epochs=2, seed=0, progress=False,
              callbacks=[lambda state: None], checkpoint=Checkpoint(tmp_path / "c"))
    with pytest.raises(TypeError, match="pass Checkpoint"):
        train(model, _split(), _protocol(), epochs=2, seed=0, progress=False,
              checkpoint=str(tmp_path / "c"))
    assert _same_weights(model, before) and not (tmp_path / "c").exists()
    with pytest.raises(NeuroplastError, match="non-negative number of seconds"):
        Checkpoint(tmp_path / "c", every_s=-1)
    with pytest.raises(NeuroplastError, match="JSON data"):
        Checkpoint(tmp_path / "c", key={"f": object()})


def test_the_trained_cache_resumes_an_interrupted_base_net(mnist_small, tmp_path, monkeypatch):
    train_split = Split(mnist_small.train.x[:600], mnist_small.train.y[:600])
    data = Dataset(mnist_small.name, train_split,
                   Split(mnist_small.test.x[:200], mnist_small.test.y[:200]), "test")
    quick = get_protocol("quick")
    fresh, fresh_final = train_base("N4", 1500, 3, quick, data)  # no cache: the reference

    monkeypatch.setenv(trained_cache.CACHE_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(trained_cache, "CHECKPOINT_EVERY_S", 0.0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            train_base("N4", 1500, 3, quick, data)
    assert len(list(tmp_path.glob("*.partial.safetensors"))) == 1
    assert not list(tmp_path.glob("*.json"))  # nothing stored as trained

    with checkpoints_in(tmp_path / "run") as run:  # as a sweep runs it
        resumed, final = train_base("N4", 1500, 3, quick, data)
    assert _same_weights(resumed, fresh)
    assert final["resumed_at_epoch"] == 1
    assert final["train_accuracy"] == fresh_final["train_accuracy"]
    assert not list(tmp_path.glob("*.partial.safetensors"))
    # the run's provenance will say its wall time is the last attempt's only
    assert [name.split("-")[:2] for name in run.resumed] == [["trained", "cache"]]
    with checkpoints_in(tmp_path / "run") as run:
        assert train_base("N4", 1500, 3, quick, data)[1]["from_cache"] is True
    assert run.resumed == []


def test_continuing_with_a_used_optimizer_and_history_resumes_exactly(tmp_path, monkeypatch):
    """Adam that has already stepped (0-dim step counts), an earlier history and a fractional
    length: the continued training, interrupted and resumed, equals the uninterrupted one."""
    split, protocol = _split(), _protocol()

    def warmed_up():
        model = random_mlp([20, 8, 6, 4], seed=5)
        optimizer = make_optimizer(model, protocol, "adam")
        history = train(model, split, protocol, epochs=2, seed=1, optimizer=optimizer,
                        progress=False)
        return model, optimizer, history

    def go_on(model, optimizer, history, checkpoint=None):
        return train(model, split, protocol, epochs=4.5, seed=2, optimizer=optimizer,
                     history=history, progress=False, checkpoint=checkpoint)

    whole, optimizer, history = warmed_up()
    expected = go_on(whole, optimizer, history)

    checkpoint = Checkpoint(tmp_path / "c", every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            go_on(*warmed_up(), checkpoint)
    model, optimizer, history = warmed_up()
    resumed = go_on(model, optimizer, history, checkpoint)
    assert _same_weights(model, whole)
    assert resumed.epochs == expected.epochs and len(resumed.epochs) == 2 + 5
    assert resumed.final["resumed_at_epoch"] == 2 + 2


def test_a_checkpoint_is_refused_for_another_activation_or_earlier_history(tmp_path,
                                                                          monkeypatch):
    split, protocol = _split(), _protocol()
    checkpoint = _interrupted(tmp_path / "c", monkeypatch, 1)
    with pytest.raises(CheckpointMismatch, match="activation"):
        _run(random_mlp([20, 8, 4], activation="sigmoid", seed=3), split, checkpoint)
    other = random_mlp([20, 8, 4], seed=3)
    with pytest.raises(CheckpointMismatch, match="earlier_history"):
        train(other, split, protocol, epochs=EPOCHS, seed=7, progress=False,
              history=History(epochs=[{"epoch": 1}]), checkpoint=checkpoint)


def test_a_damaged_checkpoint_is_refused_and_changes_nothing(tmp_path, monkeypatch):
    from safetensors import safe_open
    from safetensors.torch import save_file

    split = _split()
    checkpoint = _interrupted(tmp_path / "c", monkeypatch, 1)
    with safe_open(str(checkpoint.path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {n: handle.get_tensor(n) for n in handle.keys()}  # noqa: SIM118
    del tensors["generator"]  # header intact, a piece missing
    save_file(tensors, str(checkpoint.path), metadata=metadata)
    model = random_mlp([20, 8, 4], seed=3)
    before = copy.deepcopy(model)
    with pytest.raises(CheckpointMismatch, match="damaged checkpoint"):
        _run(model, split, checkpoint)
    assert _same_weights(model, before)


def test_remove_at_end_false_leaves_the_file_for_the_caller(tmp_path):
    checkpoint = Checkpoint(tmp_path / "c", every_s=0, remove_at_end=False)
    _run(random_mlp([20, 8, 4]), _split(), checkpoint)
    assert checkpoint.path.is_file()
    hash(checkpoint)  # usable as a dict key


def test_replace_foreign_trains_afresh_over_a_file_of_other_code(tmp_path, monkeypatch):
    """For folders neuroplast owns: another training's file, or no checkpoint at all, is
    replaced and the training runs from the beginning to the uninterrupted result."""
    split = _split()
    expected = random_mlp([20, 8, 4], seed=4)
    _run(expected, split, seed=7)
    for foreign in (_interrupted(tmp_path / "a", monkeypatch, 1).path, tmp_path / "b"):
        if not foreign.exists():
            foreign.write_bytes(b"not a checkpoint")
        checkpoint = Checkpoint(foreign, every_s=0, replace_foreign=True)
        model = random_mlp([20, 8, 4], seed=4)  # seed 4: the file in "a" is seed 3's
        history = _run(model, split, checkpoint, seed=7)
        assert _same_weights(model, expected) and "resumed_at_epoch" not in history.final
        assert not foreign.exists()


def _members():
    """Three nets a fused training takes (one with a narrower first hidden layer)."""
    return [random_mlp(widths, seed=seed)
            for seed, widths in enumerate(([20, 8, 4], [20, 6, 4], [20, 8, 4]))]


@pytest.mark.parametrize(("optimizer", "momentum"), [("sgd", 0.9), ("adam", 0.9), ("sgd", 0.0)])
def test_an_interrupted_fused_training_resumes_to_the_uninterrupted_result(optimizer, momentum,
                                                                          tmp_path, monkeypatch):
    """Momentum 0 takes the plain-SGD step inside the gradient products (PlainSGD)."""
    protocol = dataclasses.replace(_protocol(), momentum=momentum)

    def fused_run(models, checkpoint=None):
        return train_fused(models, _split(), protocol, epochs=EPOCHS, data_seed=7,
                           optimizer=optimizer, progress=False, checkpoint=checkpoint)

    whole = _members()
    expected = fused_run(whole)
    checkpoint = Checkpoint(tmp_path / "fused", every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            fused_run(_members(), checkpoint)
    with pytest.raises(CheckpointMismatch, match="another training"):
        fused_run(_members()[::-1], checkpoint)  # other members: refused, file kept
    resumed_members = _members()
    histories = fused_run(resumed_members, checkpoint)
    assert all(_same_weights(a, b) for a, b in zip(whole, resumed_members, strict=True))
    assert [h.epochs for h in histories] == [h.epochs for h in expected]
    assert histories[0].final["resumed_at_epoch"] == 2
    assert histories[0].final["train_accuracy"] == expected[0].final["train_accuracy"]
    assert not checkpoint.path.exists()


def test_models_trained_together_but_not_fusable_get_a_checkpoint_each(tmp_path, monkeypatch):
    models = [random_mlp([20, 8, 4], seed=0), random_mlp([20, 8, 6, 4], seed=1)]
    assert not can_fuse(models)
    paths = []
    real = checkpoint_module.load_checkpoint

    def note(checkpoint, *args, **kwargs):
        paths.append(checkpoint.path.name)
        return real(checkpoint, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "load_checkpoint", note)
    train_together(models, _split(), _protocol(), epochs=1, seed=7,
                   checkpoint=Checkpoint(tmp_path / "retrain.safetensors", every_s=0))
    assert paths == ["retrain.member0.safetensors", "retrain.member1.safetensors"]


def test_a_prune_retrain_chain_killed_in_its_second_retraining_continues_it(tmp_path,
                                                                           monkeypatch):
    """prune_cycles with a checkpoint per cycle: killed in the second retraining, the same call
    recomputes the prunes, re-reads the first retraining and continues the second, to the
    uninterrupted chain's results."""
    from neuroplast.death import prune_cycles

    protocol = _protocol()

    def chain(checkpoints=None):
        model = random_mlp([20, 12, 4], seed=5)
        results = prune_cycles(model, "hidden1", _split(), protocol, cycles=3,
                               retrain_paper_epochs=EPOCHS / protocol.epoch_scale, seed=2,
                               checkpoints=checkpoints, rule="A1", amount=2)
        return model, results

    expected_model, expected = chain()

    def checkpoints(cycle):
        return Checkpoint(tmp_path / f"retrain-{cycle}", every_s=0, remove_at_end=False)

    real, saves = checkpoint_module.save_checkpoint, []

    def save_then_stop(checkpoint, *args, **kwargs):
        real(checkpoint, *args, **kwargs)
        saves.append(checkpoint.path.name)
        if checkpoint.path.name == "retrain-2" and saves.count("retrain-2") == 2:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "save_checkpoint", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            chain(checkpoints)
    model, results = chain(checkpoints)
    assert _same_weights(model, expected_model)
    assert results[0].retrain["resumed_at_epoch"] == EPOCHS - 1  # the last save of cycle 1
    assert results[1].retrain["resumed_at_epoch"] == 2  # where the kill left cycle 2
    assert results[2].retrain is None  # no retraining after the last prune
    assert [r.width_after for r in results] == [r.width_after for r in expected]
    assert [r.retrain and r.retrain["train_accuracy"] for r in results] == [
        r.retrain and r.retrain["train_accuracy"] for r in expected]


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_a_fused_training_of_input_pruned_copies_resumes_exactly(momentum, tmp_path,
                                                                 monkeypatch):
    """Members reading different inputs (the fused first layer's gradient mask) resume too."""
    from neuroplast.death import prune

    protocol = dataclasses.replace(_protocol(), momentum=momentum)

    def copies():
        base = random_mlp([20, 8, 6, 4], seed=1)
        members = [copy.deepcopy(base) for _ in range(3)]
        for member, cutoff in zip(members, (0.05, 0.2, 0.4), strict=True):
            prune(member, "input", _split(), rule="A1", cutoff=cutoff)
        assert len({m.selector.kept.numel() for m in members}) == 3
        return members

    whole = copies()
    expected = train_fused(whole, _split(), protocol, epochs=EPOCHS, data_seed=7,
                           progress=False)
    checkpoint = Checkpoint(tmp_path / "fused", every_s=0)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            train_fused(copies(), _split(), protocol, epochs=EPOCHS, data_seed=7,
                        progress=False, checkpoint=checkpoint)
    resumed = copies()
    histories = train_fused(resumed, _split(), protocol, epochs=EPOCHS, data_seed=7,
                            progress=False, checkpoint=checkpoint)
    assert all(_same_weights(a, b) for a, b in zip(whole, resumed, strict=True))
    assert [h.epochs for h in histories] == [h.epochs for h in expected]
    assert histories[0].final["resumed_at_epoch"] == 3
