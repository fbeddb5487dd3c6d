"""Checkpoints of a run's long trainings (neuroplast.experiments.stage_checkpoints): a sweep
killed in the middle of a run's training and started again continues that training from its
checkpoint and stores the record an uninterrupted sweep stores (times aside); the run's
checkpoint folder is gone once the record is stored; outside a sweep there are none."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from neuroplast.errors import NeuroplastError
from neuroplast.experiments import stage_checkpoints
from neuroplast.experiments.runner import plan, run_sweep
from neuroplast.experiments.stage_checkpoints import (
    PARTIAL_FOLDER,
    checkpoints_in,
    stage_checkpoint,
)
from neuroplast.train import checkpoint as checkpoint_module
from neuroplast.train.protocols import PROTOCOLS

EXPERIMENT = "replication-shift"  # N1 pre-trained 20 epochs under quick, then 5 branches


def _without_times(value: Any) -> Any:
    """``value`` with every timing entry (``*_s``, ``*time*``) left out, recursively."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if not (k.endswith("_s") or "time" in k)}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_stage_checkpoints_exist_only_inside_a_run(tmp_path):
    assert stage_checkpoint("pretrain") is None
    with checkpoints_in(tmp_path / "run-1"):
        checkpoint = stage_checkpoint("inputs+hidden-0.1")
        assert checkpoint is not None
        assert checkpoint.path == tmp_path / "run-1" / "inputs+hidden-0.1.safetensors"
        assert checkpoint.key["run"] == "run-1"
        assert checkpoint.key["stage"] == "inputs+hidden-0.1"
        assert checkpoint.key["torch"] == torch.__version__  # another torch: not resumed
        assert checkpoint.remove_at_end is False  # the sweep removes the folder
        assert checkpoint.replace_foreign is True  # a leftover of other code is replaced
    assert stage_checkpoint("pretrain") is None
    with pytest.raises(NeuroplastError, match="letters, digits"):
        stage_checkpoint("../escape")
    with checkpoints_in(tmp_path / "run-2"), pytest.raises(NeuroplastError, match="used twice"):
        stage_checkpoint("pretrain")
        stage_checkpoint("pretrain")


def test_a_sweep_killed_mid_training_resumes_to_the_same_record(tmp_path, data_dir,
                                                                monkeypatch):
    (spec,) = plan(EXPERIMENT, protocol="quick", seeds=1)
    (expected,) = run_sweep(EXPERIMENT, protocol="quick", seeds=1, out_dir=tmp_path / "whole",
                            progress=False, data_dir=data_dir)

    out = tmp_path / "killed"
    monkeypatch.setattr(stage_checkpoints, "STAGE_EVERY_S", 0.0)
    saves = [0]
    real_save = checkpoint_module.save_checkpoint

    def save_then_die(*args, **kwargs):
        real_save(*args, **kwargs)
        saves[0] += 1
        if saves[0] == 3:  # three epochs into the pre-training
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "save_checkpoint", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(EXPERIMENT, protocol="quick", seeds=1, out_dir=out, progress=False,
                      data_dir=data_dir)
    partial: Path = out / EXPERIMENT / PARTIAL_FOLDER / spec.run_id
    assert [p.name for p in partial.iterdir()] == ["pretrain.safetensors"]
    assert not list((out / EXPERIMENT / "runs").glob("*.json"))  # nothing stored yet

    real_load, loaded = checkpoint_module.load_checkpoint, []

    def load_and_note(*args, **kwargs):
        resumed = real_load(*args, **kwargs)
        loaded.append(None if resumed is None else resumed.epochs_done)
        return resumed

    monkeypatch.setattr(checkpoint_module, "load_checkpoint", load_and_note)
    (resumed,) = run_sweep(EXPERIMENT, protocol="quick", seeds=1, out_dir=out, progress=False,
                           data_dir=data_dir)
    assert loaded[0] == 3  # the pre-training went on from its third epoch
    assert resumed["provenance"]["resumed_stages"] == ["pretrain"]
    assert "resumed_stages" not in expected["provenance"]
    assert _without_times(resumed["result"]) == _without_times(expected["result"])
    assert not partial.parent.exists()  # every run stored: no folder left behind


def test_leftovers_in_partial_are_replaced_or_removed(tmp_path, data_dir):
    """A file of other code at a stage's path is replaced (the run completes), and the
    checkpoints of a run that is already stored are removed when the sweep starts."""
    (spec,) = plan(EXPERIMENT, protocol="quick", seeds=1)
    partial = tmp_path / EXPERIMENT / PARTIAL_FOLDER
    (partial / spec.run_id).mkdir(parents=True)
    (partial / spec.run_id / "pretrain.safetensors").write_bytes(b"left by other code")
    (record,) = run_sweep(EXPERIMENT, protocol="quick", seeds=1, out_dir=tmp_path,
                          progress=False, data_dir=data_dir)
    assert record["result"] and not partial.exists()

    (partial / spec.run_id).mkdir(parents=True)  # as if killed between storing and cleaning
    (partial / spec.run_id / "pretrain.safetensors").write_bytes(b"stale")
    run_sweep(EXPERIMENT, protocol="quick", seeds=1, out_dir=tmp_path, progress=False,
              data_dir=data_dir)
    assert not partial.exists()


@pytest.mark.parametrize(("experiment", "prefix"), [
    ("goal-pruning", "goal-"),  # a goal chain's retraining, one net
    ("input-pruning", "input-chains-"),  # the input chains' fused retraining
])
def test_a_pruning_sweep_killed_mid_retraining_resumes_to_the_same_record(
        experiment, prefix, tmp_path, data_dir, monkeypatch):
    # retrainings of 3 epochs instead of 1 under quick, so that they save checkpoints
    monkeypatch.setitem(PROTOCOLS, "quick", replace(PROTOCOLS["quick"], epoch_scale=0.006))
    expected = run_sweep(experiment, protocol="quick", seeds=1, out_dir=tmp_path / "whole",
                         progress=False, data_dir=data_dir)
    monkeypatch.setattr(stage_checkpoints, "STAGE_EVERY_S", 0.0)
    real_save, killed_in = checkpoint_module.save_checkpoint, []

    def save_then_die(checkpoint, *args, **kwargs):
        real_save(checkpoint, *args, **kwargs)
        if checkpoint.path.name.startswith(prefix):
            killed_in.append(checkpoint.path.stem)
            raise KeyboardInterrupt

    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "save_checkpoint", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_sweep(experiment, protocol="quick", seeds=1, out_dir=out, progress=False,
                      data_dir=data_dir)
    resumed = run_sweep(experiment, protocol="quick", seeds=1, out_dir=out, progress=False,
                        data_dir=data_dir)
    assert any(killed_in[0] in r["provenance"].get("resumed_stages", []) for r in resumed)
    assert [_without_times(r["result"]) for r in resumed] == [
        _without_times(r["result"]) for r in expected]
    assert not (out / experiment / PARTIAL_FOLDER).exists()


def test_a_stage_whose_models_trained_one_by_one_counts_as_resumed(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "input-chains-retrain-1.member0.safetensors").write_bytes(b"")
    with checkpoints_in(tmp_path / "run") as run:
        stage_checkpoint("input-chains-retrain-1")
        stage_checkpoint("input-chains-retrain-2")
    assert run.resumed == ["input-chains-retrain-1"]
