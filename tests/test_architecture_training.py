"""architecture-training end to end on the tiny registered CNN (``architecture_fixtures``):
plain training vs death and replication during training, paired by seed.

What could fail: the arms must start from the same initialisation and data order (with ρ = 0
nothing dies, and the two arms must then agree exactly); events must keep every site at its
width and remove neurons when ρ says so; the optimiser must keep stepping after surgery; the
report's paired differences must equal the differences of its own rows; bad settings are
refused before any training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import register_tiny_cnn

from neuroplast.errors import NeuroplastError
from neuroplast.experiments import run_sweep
from neuroplast.experiments.architectures import ArchitectureSpec
from neuroplast.experiments.definitions.architecture_training import (
    EVENTS,
    architecture_training,
    calibration_loss,
)
from neuroplast.experiments.definitions.architecture_training_report import (
    export,
    verdict,
    write_report,
)
from neuroplast.experiments.stats_summary import Summary
from neuroplast.replication.schedule import DeathReplicationSchedule, parse_spec
from neuroplast.train import get_protocol


@pytest.fixture
def registered(monkeypatch):
    register_tiny_cnn(monkeypatch)


def _sweep(out: Path, seeds: int, relative_cutoff: float) -> list[dict]:
    experiment = architecture_training(["tiny-cnn"], steps=30, relative_cutoff=relative_cutoff,
                                       max_fraction=0.5)
    return run_sweep(experiment, protocol="fast", seeds=seeds, out_dir=out, progress=False)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    with pytest.MonkeyPatch.context() as patch:
        register_tiny_cnn(patch)
        records = _sweep(root / "runs", 2, relative_cutoff=0.9)
        write_report(records, root / "docs", summary=False, command="test")
    return root, records


def test_with_nothing_below_the_cutoff_both_arms_are_identical(registered, tmp_path):
    """ρ = 0: no neuron is below 0 · max, every event removes nothing, so the arms must agree
    exactly — same initialisation, same data, same optimiser steps."""
    (record,) = _sweep(tmp_path, 1, relative_cutoff=0.0)
    plain, dr = record["result"]["arms"]["plain"], record["result"]["arms"]["death-replication"]
    assert dr["events"] and all(e["removed"] == 0 for e in dr["events"])
    assert plain["value"] == dr["value"] and plain["train_loss"] == dr["train_loss"]
    assert plain["curve"] == dr["curve"]


def test_events_remove_and_replicate_keeping_every_width(swept):
    _, records = swept
    for record in records:
        result = record["result"]
        events = result["arms"]["death-replication"]["events"]
        steps = sorted({e["step"] for e in events})
        assert steps == [3 * k for k in range(1, EVENTS + 1)]  # 30 steps: every 3, none at 30
        assert {e["site"] for e in events} == {"0", "3"}  # both conv sites of the tiny CNN
        widths = {"0": 6, "3": 8}
        assert all(e["width"] == widths[e["site"]] for e in events)
        assert sum(e["removed"] for e in events) > 0
        assert all(e["removed"] <= widths[e["site"]] // 2 for e in events)
        # equal size at the end: replication restores every removed neuron
        assert result["arms"]["plain"]["parameters"] == \
            result["arms"]["death-replication"]["parameters"]
        # training went on after surgery: the curve keeps moving after the last event
        curve = result["arms"]["death-replication"]["curve"]
        assert len(curve) == 30 and curve[-1]["train_loss"] != curve[-2]["train_loss"]


def test_nine_events_whatever_the_remainder_of_steps(registered, tmp_path):
    """25 steps: every 2 steps, events at 2, 4, …, 18 — nine, the last 7 steps before the end
    (firing at every multiple below 25 would give twelve, the last one step before the end)."""
    experiment = architecture_training(["tiny-cnn"], steps=25, relative_cutoff=0.9)
    (record,) = run_sweep(experiment, protocol="fast", seeds=1, out_dir=tmp_path,
                          progress=False)
    events = record["result"]["arms"]["death-replication"]["events"]
    assert sorted({e["step"] for e in events}) == [2 * k for k in range(1, EVENTS + 1)]


def test_paired_differences_are_those_of_the_rows(swept):
    root, records = swept
    data = json.loads((root / "docs" / "architecture-training.json").read_text())
    model = data["models"]["tiny-cnn"]
    assert set(model) == {"metric", "higher_is_better", "steps", "rows", "paired"}
    by = {(r["seed"], r["arm"]): r for r in model["rows"]}
    for field in ("value", "train_loss"):
        diffs = [by[(s, "death-replication")][field] - by[(s, "plain")][field] for s in (0, 1)]
        mean = sum(diffs) / 2
        se = abs(diffs[0] - diffs[1]) / 2  # sd / sqrt(2) with n = 2
        assert model["paired"][field]["mean"] == pytest.approx(mean, abs=1e-12)
        assert model["paired"][field]["se"] == pytest.approx(se, abs=1e-12)
    assert model == export(records)["models"]["tiny-cnn"]
    text = (root / "docs" / "architecture-training.md").read_text()
    assert "## tiny-cnn" in text and "**difference**" in text and "removed / width" in text
    assert (root / "docs" / "architecture-training.png").stat().st_size > 0


def test_training_loss_is_the_cross_entropy_of_the_calibration_batches():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4).double()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(0, 4, (10,))
    expected = torch.nn.functional.cross_entropy(model(x), y).item()
    assert calibration_loss(model, [(x[:4], y[:4]), (x[4:], y[4:])]) == \
        pytest.approx(expected, rel=1e-12)
    with pytest.raises(NeuroplastError, match="labelled"):
        calibration_loss(model, [x])


@pytest.mark.parametrize(("mean", "se", "higher", "expected"), [
    (0.01, 0.004, True, "better"), (0.01, 0.004, False, "worse"),
    (-0.01, 0.004, True, "worse"), (0.01, 0.006, True, "no detectable"),
])
def test_verdict_needs_two_standard_errors(mean, se, higher, expected):
    assert verdict(Summary(mean, se, 5), higher).startswith(expected)


def test_bad_settings_are_refused_before_training(registered):
    quick = get_protocol("fast")
    with pytest.raises(NeuroplastError, match="at least 10"):
        architecture_training(["tiny-cnn"], steps=5).configs(quick)
    with pytest.raises(NeuroplastError, match="relative_cutoff"):
        architecture_training(["tiny-cnn"], relative_cutoff=1.5).configs(quick)
    with pytest.raises(NeuroplastError, match="max_fraction"):
        architecture_training(["tiny-cnn"], max_fraction=0.7).configs(quick)


def test_a_family_without_train_is_refused():
    with pytest.raises(NeuroplastError, match="both data and train"):
        ArchitectureSpec("x-cnn", lambda: None, lambda s, c: None, "accuracy", True,
                         lambda d: d, lambda m, d: 0.0, lambda m, d, s: None,
                         data=lambda: (None, None))


def test_schedule_relative_cutoff_is_parsed_and_checked():
    assert parse_spec("relative_cutoff=0.05,every=100").relative_cutoff == 0.05
    with pytest.raises(NeuroplastError, match="relative_cutoff"):
        DeathReplicationSchedule(relative_cutoff=-0.1)
