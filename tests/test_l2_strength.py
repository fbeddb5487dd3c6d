"""benchmarks.l2_strength: each level is the members trained alone with the decay scaled, on
one shared data order; bad arguments are refused before any training."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch

from benchmarks.l2_strength import main, markdown
from benchmarks.level_probe import train_level, train_members
from neuroplast.data import Split
from neuroplast.models import build_mlp, initialize
from neuroplast.train import evaluate, get_protocol, train
from neuroplast.train.l2 import with_l2_form


def _split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    y = (x @ torch.randn(784, 10, generator=g)).argmax(dim=1)
    return Split(x, y)


@pytest.mark.parametrize("factor", [1.0, 0.5, 0.0])
def test_a_level_is_each_member_trained_alone_with_the_scaled_decay(factor):
    """Independent reference: ``train()`` of each member alone, its weight decay set by hand
    to factor × the form's, with the shared data seed; the fused members match it to float
    rounding, and the same training with another decay does not."""
    protocol = with_l2_form(get_protocol("fast"), "half-weights")
    split = _split(1200, 0)
    members, cpu_s = train_members("N1", factor, protocol, split, init="kaiming-normal",
                                   seeds=3, paper_epochs=500, data_seed=5)
    assert cpu_s > 0
    for seed, member in enumerate(members):
        right, wrong = 0.001 * factor, 0.001 * (1.0 - factor) + 0.0003
        for decay in (right, wrong):
            by_hand = dataclasses.replace(protocol, weight_decay=decay)
            alone = initialize(build_mlp("N1"), seed, "kaiming-normal")
            train(alone, split, by_hand, epochs=by_hand.epochs(500), seed=5, progress=False)
            gap = max((a - b).abs().max().item()
                      for a, b in zip(member.parameters(), alone.parameters(), strict=True))
            assert (gap < 1e-5) == (decay == right), (decay, gap)


def test_a_level_reports_each_member_s_accuracies():
    protocol = with_l2_form(get_protocol("fast"), "half-weights")
    train_split, test_split = _split(1200, 0), _split(300, 1)
    level = train_level("N1", 0.5, protocol, train_split, test_split, init="kaiming-normal",
                        seeds=2, paper_epochs=300, data_seed=5)
    members, _ = train_members("N1", 0.5, protocol, train_split, init="kaiming-normal",
                               seeds=2, paper_epochs=300, data_seed=5)
    assert level["weight_decay"] == pytest.approx(0.0005) and level["factor"] == 0.5
    assert level["train_accuracy"] == [evaluate(m, train_split).accuracy for m in members]
    assert level["test_accuracy"] == [evaluate(m, test_split).accuracy for m in members]


def test_the_table_pairs_each_level_with_the_first_by_seed():
    levels = [{"factor": 1.0, "weight_decay": 0.001, "cpu_s": 1.0,
               "train_accuracy": [0.90, 0.92], "test_accuracy": [0.80, 0.82]},
              {"factor": 0.5, "weight_decay": 0.0005, "cpu_s": 1.0,
               "train_accuracy": [0.91, 0.95], "test_accuracy": [0.80, 0.82]}]
    paper = "Paper (Fig. 22, N1 after 10000 epochs): 0.91751 ± 0.00034."
    text = markdown(levels, "# t", ["", paper])
    # paired differences 0.01 and 0.03: mean 0.02, s.e. 0.01
    assert "| 0.5 | 0.0005 | 0.93000 ± 0.02000 | +0.02000 ± 0.01000 |" in text
    assert "| 1 | 0.001 | 0.91000 ± 0.01000 | — |" in text
    assert text.rstrip().endswith("Paper (Fig. 22, N1 after 10000 epochs): 0.91751 ± 0.00034.")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--seeds", "1"], "--seeds must be at least 2"),
    (["--factors", "1", "-0.5"], "--factors must be non-negative"),
    (["--workers", "0"], "expected a positive integer, got 0"),
    (["--factors", "1", "0.5", "1"], "--factors lists a factor twice"),
    (["--factors", "1", "nan"], "--factors must be non-negative numbers"),
    (["--paper-epochs", "0"], "--paper-epochs must be a positive number, got 0.0"),
    (["--paper-epochs", "inf"], "--paper-epochs must be a positive number, got inf"),
    (["--data-seed", "-1"], "--data-seed must be non-negative, got -1"),
    (["--arch", "N9"], "--arch: unknown preset 'N9'; choose one of N1, N2"),
    (["--seeds", "0"], "expected a positive integer, got 0"),
])
def test_bad_arguments_are_refused_before_training(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), *arguments])
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_report_header_names_the_command_as_typed_and_its_seconds():
    import time

    from benchmarks.run_arguments import made_by

    text = made_by("benchmarks.l2_strength", ["--seeds", "3"], time.perf_counter() - 3.2)
    assert text == "Made by `python -m benchmarks.l2_strength --seeds 3` (3 s)."


@pytest.mark.parametrize("workers", ["1", "2"])
def test_main_trains_each_level_on_the_data_seed_and_the_splits_it_names(workers, tmp_path,
                                                                        data_dir):
    """The command end to end (quick protocol, 2 members, 1 epoch): every level's accuracies
    are those of :func:`train_level` called in this process with the restricted training
    split, the test split and the given data seed, whether the levels trained here or in two
    spawned workers, in the order given; the report names the command and, for N1 at 10000
    epochs only, the paper's accuracy."""
    import json

    from neuroplast.data import load_mnist
    from neuroplast.train import restrict

    main(["--protocol", "quick", "--seeds", "2", "--factors", "1", "0.5", "--paper-epochs",
          "500", "--data-seed", "3", "--out", str(tmp_path), "--data", data_dir,
          "--workers", workers])
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    record = json.loads((folder / "l2-strength.json").read_text())
    assert record["data_seed"] == 3 and [lv["factor"] for lv in record["levels"]] == [1.0, 0.5]
    data = load_mnist(data_dir, download=False)
    protocol = with_l2_form(get_protocol("quick"), "half-weights")
    for stored in record["levels"]:
        expected = train_level("N1", stored["factor"], protocol, restrict(data.train, protocol),
                               data.test, init="kaiming-normal", seeds=2, paper_epochs=500,
                               data_seed=3)
        assert stored["train_accuracy"] == expected["train_accuracy"]
        assert stored["test_accuracy"] == expected["test_accuracy"]
    text = (folder / "l2-strength.md").read_text()
    assert "Made by `python -m benchmarks.l2_strength --protocol quick --seeds 2" in text
    assert "Paper (Fig. 22" not in text  # 500 epochs: not Fig. 22's training


def _quick_run(tmp_path, data_dir, *extra):
    main(["--protocol", "quick", "--seeds", "2", "--factors", "1", "0.5", "--paper-epochs",
          "300", "--out", str(tmp_path), "--data", data_dir, *extra])
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    return folder, json.loads((folder / "l2-strength.json").read_text())["levels"]


def _without_cpu(levels):
    return [{k: v for k, v in level.items() if k != "cpu_s"} for level in levels]


def test_an_interrupted_probe_run_again_continues_to_the_uninterrupted_records(
        tmp_path, data_dir, monkeypatch):
    """Killed while training its second level, the probe keeps the first level's finished
    record under partial/l2-strength/; run again with the same arguments it trains only the
    second level, and its records equal (but for CPU times) those of a run never interrupted;
    partial/ is gone once the report is written."""
    import benchmarks.level_probe as probe

    clean_folder, clean = _quick_run(tmp_path / "clean", data_dir)
    assert not (clean_folder / "partial").exists()

    real_train_level = probe.train_level
    factors: list[float] = []

    def dies_on_the_second_level(*args, **kwargs):
        factors.append(args[1])
        if len(factors) == 2:
            raise KeyboardInterrupt
        return real_train_level(*args, **kwargs)

    monkeypatch.setattr(probe, "train_level", dies_on_the_second_level)
    with pytest.raises(KeyboardInterrupt):
        _quick_run(tmp_path / "again", data_dir)
    folder = tmp_path / "again" / "quick-init-kaiming-normal-l2-half-weights"
    (store,) = (folder / "partial").iterdir()
    assert store.name.startswith("l2-strength-")
    stored = list(store.iterdir())
    assert [p.suffix for p in stored] == [".json"]
    assert not (folder / "l2-strength.json").exists()

    factors.clear()
    _, resumed = _quick_run(tmp_path / "again", data_dir)
    assert factors == [0.5]  # the first level came from its stored record
    assert _without_cpu(resumed) == _without_cpu(clean)
    assert not (folder / "partial").exists()


def _other_protocol(job):
    return dataclasses.replace(job.protocol, learning_rate=job.protocol.learning_rate * 2)


@pytest.mark.parametrize("changed", [
    {"data_seed": 4}, {"seeds": 3}, {"factor": 0.25}, {"init": "xavier-normal"},
    {"data_fingerprint": "sha256:other"}, {"paper_epochs": 400.0}, {"arch": "N2"},
    {"invert": True}, "protocol", "run_protocol"], ids=str)
def test_a_stored_level_of_another_training_is_trained_over(changed, tmp_path, data_dir):
    """A finished record under partial/ whose key differs from the level's in one field (the
    protocol: its learning rate) is not taken for this level's: the level trains, to the
    accuracies of a clean run."""
    from benchmarks.level_probe import LevelJob, level_store, probe_setting
    from benchmarks.probe_pool import job_file
    from neuroplast.experiments.experiment import mnist_fingerprint

    _, clean = _quick_run(tmp_path / "clean", data_dir)
    parser = argparse.ArgumentParser()
    args = argparse.Namespace(out=tmp_path, protocol="quick", invert=False,
                              init="kaiming-normal", l2="half-weights", data=data_dir, seeds=2,
                              factors=[1.0, 0.5], arch="N1", paper_epochs=300.0, data_seed=0,
                              workers=1)
    setting = probe_setting(parser, args)
    store = level_store(setting, "l2-strength")
    store.mkdir(parents=True)
    for factor, level in zip((1.0, 0.5), clean, strict=True):
        job = LevelJob("N1", factor, setting.protocol, setting.protocol, data_dir, False,
                       "kaiming-normal", 2, 300.0, 0, mnist_fingerprint(data_dir), store)
        fields = changed if isinstance(changed, dict) else {changed: _other_protocol(job)}
        wrong = dataclasses.replace(job, **fields)
        assert job_file(store, wrong, "json") != job_file(store, job, "json")
        fake = {**level, "train_accuracy": [0.0, 0.0]}
        job_file(store, job, "json").write_text(json.dumps({"key": wrong.key(),
                                                            "result": fake}))
    _, levels = _quick_run(tmp_path, data_dir)
    assert [lv["train_accuracy"] for lv in levels] == [lv["train_accuracy"] for lv in clean]


def test_a_stored_level_is_taken_when_its_key_matches(tmp_path, data_dir):
    """The same setup with the level's own key: its stored record is the level's (the test
    above could not fail if the store were never read)."""
    from benchmarks.level_probe import LevelJob, level_store, probe_setting
    from benchmarks.probe_pool import job_file
    from neuroplast.experiments.experiment import mnist_fingerprint

    args = argparse.Namespace(out=tmp_path, protocol="quick", invert=False,
                              init="kaiming-normal", l2="half-weights", data=data_dir, seeds=2,
                              factors=[1.0, 0.5], arch="N1", paper_epochs=300.0, data_seed=0,
                              workers=1)
    setting = probe_setting(argparse.ArgumentParser(), args)
    store = level_store(setting, "l2-strength")
    store.mkdir(parents=True)
    for factor in (1.0, 0.5):
        job = LevelJob("N1", factor, setting.protocol, setting.protocol, data_dir, False,
                       "kaiming-normal", 2, 300.0, 0, mnist_fingerprint(data_dir), store)
        fake = {"factor": factor, "weight_decay": 0.0, "cpu_s": 0.0,
                "train_accuracy": [0.25, factor], "test_accuracy": [0.5, 0.5]}
        job_file(store, job, "json").write_text(json.dumps({"key": job.key(), "result": fake}))
    _, levels = _quick_run(tmp_path, data_dir)
    assert [lv["train_accuracy"] for lv in levels] == [[0.25, 1.0], [0.25, 0.5]]


def test_runs_of_other_arguments_keep_their_own_progress(tmp_path, data_dir):
    """Another run's store in the same report folder (other arguments) survives this run's
    report."""
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    other = folder / "partial" / "l2-strength-0123456789ab"
    other.mkdir(parents=True)
    (other / "feedfacefeedface.json").write_text("{}")
    _quick_run(tmp_path, data_dir)
    assert (other / "feedfacefeedface.json").exists()
    assert [p.name for p in (folder / "partial").iterdir()] == [other.name]


def test_a_level_stopped_after_a_checkpoint_continues_from_it(tmp_path, data_dir, monkeypatch):
    """A level killed right after its training saved a checkpoint (3 epochs, a save after
    every epoch) leaves the checkpoint in its store; run again, it continues from that epoch
    (not from the start) to the record of a level never stopped, and the store then holds
    only the record."""
    import neuroplast.train.checkpoint as checkpoints
    from benchmarks.level_probe import LevelJob, run_level_job
    from benchmarks.probe_pool import run_jobs
    from neuroplast.experiments.experiment import mnist_fingerprint

    protocol = with_l2_form(get_protocol("quick"), "half-weights")
    job = LevelJob("N1", 1.0, protocol, protocol, data_dir, False, "kaiming-normal", 2, 1500.0,
                   0, mnist_fingerprint(data_dir), tmp_path / "store", checkpoint_every_s=0.0)
    clean = run_level_job(dataclasses.replace(job, store=tmp_path / "clean"))

    real_save = checkpoints.save_checkpoint
    saved_at: list[int] = []

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        saved_at.append(kwargs["epochs_done"])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_jobs(run_level_job, [job], workers=1, names=["x"], tag="t", store=job.store)
    assert saved_at == [1]
    assert [p.suffix for p in job.store.iterdir()] == [".safetensors"]

    monkeypatch.setattr(checkpoints, "save_checkpoint", real_save)
    resumed_from: list[int] = []
    real_load = checkpoints.load_checkpoint

    def load_and_note(*args, **kwargs):
        resumed = real_load(*args, **kwargs)
        resumed_from.append(None if resumed is None else resumed.epochs_done)
        return resumed

    monkeypatch.setattr(checkpoints, "load_checkpoint", load_and_note)
    (record,) = run_jobs(run_level_job, [job], workers=1, names=["x"], tag="t",
                         store=job.store)
    assert resumed_from == [1]
    assert _without_cpu([record]) == _without_cpu([clean])
    assert [p.suffix for p in job.store.iterdir()] == [".json"]
