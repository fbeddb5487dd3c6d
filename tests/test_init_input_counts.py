"""benchmarks.init_input_counts: untrained-pruning's input counts over many seeds."""

from __future__ import annotations

import json
import statistics

import pytest
from conftest import mnist_dir

from benchmarks.init_input_counts import PERCENTS, inputs_kept, report, stored_counts
from neuroplast.errors import NeuroplastError
from neuroplast.train import get_protocol

PAPER_FIG12 = {0.1: (594.4, 0.5), 1.0: (502.0, 0.6), 5.0: (419.5, 0.8)}
"""The paper's Fig. 12 input counts (mean, s.e.), read off the paper's table by hand."""


def _stored(folder, counts_by_seed, init="kaiming-normal", protocol="fast"):
    (folder / "runs").mkdir(parents=True)
    for seed, counts in counts_by_seed.items():
        rows = [{"mode": "unpruned", "cut_percent": 0.0, "remaining_inputs": 784}]
        rows += [{"mode": "inputs", "cut_percent": p, "remaining_inputs": c}
                 for p, c in zip(PERCENTS, counts, strict=True)]
        rows += [{"mode": "inputs+hidden", "cut_percent": 5.0, "remaining_inputs": 1}]
        record = {"spec": {"seed": seed, "protocol": protocol}, "result": {
            "rows": rows, "run_options": {"invert": False, "init": init}}}
        (folder / "runs" / f"r{seed}.json").write_text(json.dumps(record))


def test_stored_counts_are_read_per_seed_and_cut(tmp_path):
    _stored(tmp_path, {0: (598, 506, 427), 1: (594, 500, 418)})
    counts = stored_counts(tmp_path, {"invert": False, "init": "kaiming-normal"})
    assert counts == {0: {0.1: 598, 1.0: 506, 5.0: 427}, 1: {0.1: 594, 1.0: 500, 5.0: 418}}


def test_runs_of_another_setting_or_none_are_refused(tmp_path):
    _stored(tmp_path / "lecun", {0: (598, 506, 427)}, init="lecun-normal")
    with pytest.raises(NeuroplastError, match="give the untrained-pruning folder of this"):
        stored_counts(tmp_path / "lecun", {"invert": False, "init": "kaiming-normal"})
    _stored(tmp_path / "quick", {0: (598, 506, 427)}, protocol="quick")
    with pytest.raises(NeuroplastError, match="protocol quick, which prunes on other training"):
        stored_counts(tmp_path / "quick", {"invert": False, "init": "kaiming-normal"},
                      get_protocol("fast"))
    assert stored_counts(tmp_path / "quick", {"invert": False, "init": "kaiming-normal"},
                         get_protocol("quick")) == {0: {0.1: 598, 1.0: 506, 5.0: 427}}
    (tmp_path / "empty" / "runs").mkdir(parents=True)
    with pytest.raises(NeuroplastError, match="no stored runs"):
        stored_counts(tmp_path / "empty", {"invert": False, "init": "kaiming-normal"})


def test_the_report_compares_every_seed_and_the_first_ten_with_the_paper():
    per_seed = [{"seed": s, "inputs": {str(p): 420 + (s % 3) + (s >= 10) * 5 for p in PERCENTS}}
                for s in range(14)]
    _, summary = report(per_seed, "standard × kaiming-normal", (3, 3))
    for percent, (paper, paper_se) in PAPER_FIG12.items():
        cell = summary[f"{percent:g}"]
        for key, seeds in (("all_seeds", per_seed), ("reproduction_seeds", per_seed[:10])):
            values = [s["inputs"][str(percent)] for s in seeds]
            mean, se = statistics.fmean(values), statistics.stdev(values) / len(values) ** 0.5
            assert cell[key]["mean"] == pytest.approx(mean)
            assert cell[key]["minus_paper"] == pytest.approx(mean - paper)
            assert cell[key]["se_combined"] == pytest.approx((se**2 + paper_se**2) ** 0.5)
            assert cell[key]["within"] == (abs(mean - paper) <= 2 * (se**2 + paper_se**2) ** 0.5)


def test_a_seed_keeps_what_the_experiment_kept():
    """Seed 0 of the reproduction (standard MNIST, Kaiming-normal): the counts its stored
    untrained-pruning run recorded (docs/reproduction/untrained-pruning/runs)."""
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    from neuroplast.experiments.experiment import mnist

    split = mnist(str(directory)).train
    assert [inputs_kept(0, split, "kaiming-normal", p) for p in PERCENTS] == [598, 506, 427]


def test_one_seed_or_another_setting_is_refused_before_any_data_is_read(tmp_path, capsys,
                                                                       monkeypatch):
    import neuroplast.experiments.experiment as experiment
    from benchmarks.init_input_counts import main

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")

    monkeypatch.setattr(experiment, "mnist", no_data)
    with pytest.raises(SystemExit):
        main(["--seeds", "1", "--out", str(tmp_path / "out")])
    assert "give --seeds 2 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--seeds", "3", "--l2", "half-all", "--out", str(tmp_path / "out")])
    assert "--l2: nothing is trained here" in capsys.readouterr().err
    _stored(tmp_path / "lecun", {0: (598, 506, 427)}, init="lecun-normal")
    with pytest.raises(SystemExit):
        main(["--seeds", "3", "--out", str(tmp_path / "out"), "--check-against",
              str(tmp_path / "lecun")])
    assert "give the untrained-pruning folder of this setting" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
