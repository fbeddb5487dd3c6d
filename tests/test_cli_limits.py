"""Sizes no run could finish are refused before any work; what a command's table leaves
unsaid (a cap that bound, nothing saved, how many images a metric is over) is said.

A hostile user's pass (2026-12-07) found ``train --epochs 1e30``, ``train --fused-seeds
100000000`` and ``reproduce --workers 100000`` accepted, and ``prune --max-fraction``, ``prune``
or ``train`` without ``--out`` silent about what they did not do.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import assert_one_line_error, run_cli

from neuroplast.cli import common
from neuroplast.cli import train as train_command
from neuroplast.models import PRESETS, build_mlp, count_parameters, save_model
from neuroplast.train.memory import parameter_count, training_memory_estimate

QUICK = ["--protocol", "quick", "--no-progress"]


@pytest.mark.parametrize("args", [["train", "--epochs", "1e30"],
                                  ["train", "--epochs", "1000001"],
                                  ["prune", "m.pt", "--amount", "1", "--retrain-epochs", "2e6"]])
def test_a_training_that_would_not_finish_is_refused(args, capsys, tmp_path):
    code, _, err = run_cli([*args, "--out", tmp_path / "x.pt"], capsys)
    assert code == 2 and "give at most 1,000,000 (40 times the paper's longest" in err


def test_the_longest_allowed_training_is_accepted_by_the_argument():
    assert common.paper_epoch_count("1000000") == 1_000_000.0
    assert common.paper_epoch_count("0") == 0.0


@pytest.mark.parametrize("address", [[], ["--executor", "ray", "--address", ""]])
def test_more_local_workers_than_cores_are_refused_before_any_run(address, monkeypatch,
                                                                   tmp_path, capsys):
    """An empty --address starts a local Ray instance too, on this machine's cores."""
    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    out = tmp_path / "sweep"
    code, _, err = run_cli(["reproduce", "all", "--workers", "3", "--out", out, *address],
                           capsys)
    assert_one_line_error(code, err, r"--workers 3 starts more processes than this machine's 2 "
                                     r"usable cores; give at most 2")
    assert not out.exists()


def test_the_memory_estimate_counts_every_parameter_of_every_net_and_the_optimizers_state():
    """Its parameter part agrees with the built model's own count, for each preset; Adam's two
    moment estimates add two float32 copies of the parameters."""
    for name, (widths, _) in PRESETS.items():
        parameters = count_parameters(build_mlp(name))
        assert parameter_count(widths) == parameters
        sgd = training_memory_estimate(widths, 1, "sgd")
        assert training_memory_estimate(widths, 1, "adam") - sgd == 2 * 4 * parameters
        assert training_memory_estimate(widths, 7, "sgd") == 7 * sgd


@pytest.mark.parametrize("arch", ["N4", "n4"])
def test_more_fused_nets_than_memory_holds_are_refused_before_any_is_built(arch, monkeypatch,
                                                                           tmp_path, capsys):
    """Whatever the preset's case (build_mlp takes n4 for N4)."""
    one_net = training_memory_estimate(PRESETS["N4"][0])
    monkeypatch.setattr(common, "physical_memory", lambda: 10 * one_net)
    built = []
    monkeypatch.setattr(train_command, "build_mlp", lambda *a, **k: built.append(a))
    code, _, err = run_cli(["train", "--arch", arch, "--fused-seeds", "11", "--out",
                            tmp_path / "n-{seed}.pt"], capsys)
    assert_one_line_error(code, err, r"--fused-seeds 11 nets of widths \[784, 100, 5, 10\] "
                                     r"need about .* GiB; .*fuse at most 10 at a time")
    assert built == []


def test_a_net_too_large_alone_is_refused_trained_fused_or_not(monkeypatch, capsys):
    monkeypatch.setattr(common, "physical_memory", lambda: 2**30)
    for fused in ([], ["--fused-seeds", "2"]):
        code, _, err = run_cli(["train", "--widths", "784,10000000,10", *fused], capsys)
        assert_one_line_error(code, err, r"one net of widths \[784, 10000000, 10\] alone needs "
                                         r"about .* GiB; .*give narrower --widths")


def test_grow_refuses_more_new_neurons_than_memory_holds_before_reading_data(monkeypatch,
                                                                             tmp_path, capsys):
    model = save_model(build_mlp("N1"), tmp_path / "n1.pt")
    monkeypatch.setattr(common, "physical_memory", lambda: 2**30)
    code, _, err = run_cli(["grow", model, "--site", "hidden1", "--method", "B4", "--n",
                            "10000000", "--data", tmp_path / "no-data"], capsys)
    assert_one_line_error(code, err, r"the grown net, widths \[784, 10000005, 20, 10\], needs "
                                     r"about .* GiB; .*give a smaller --n")


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--out="], "--out is empty; give a file name"),
    (["train", "--fused-seeds", "2", "--out="], "--out is empty; give a file name"),
    (["prune-model", "--factory", "m:f", "--site", "s", "--data", "d.pt", "--amount", "1",
      "--out="], "--out is empty; give a folder name such as pruned"),
    (["grow-model", "--factory", "m:f", "--site", "s", "--data", "d.pt", "--out="],
     "--out is empty; give a folder name such as grown"),
    (["reproduce", "all", "--out="], "give --out DIR"),
])
def test_an_empty_out_is_refused_not_read_as_the_current_folder(args, message, capsys):
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, re.escape(message))


def test_prune_says_when_max_fraction_bound_and_that_nothing_was_saved(data_dir, tmp_path,
                                                                      capsys):
    model = save_model(build_mlp("N1"), tmp_path / "n1.pt")  # hidden2 has 20 neurons
    code, out, err = run_cli(["prune", model, "--site", "hidden2", "--amount", "15",
                              "--max-fraction", "0.2", "--data", data_dir], capsys)
    assert code == 0, err
    assert "--max-fraction 0.2 allows at most 4 of 20 neurons per prune; the amount asked for " \
           "15" in err
    assert "not saved: give --out FILE" in out
    code, out, err = run_cli(["prune", model, "--site", "hidden2", "--amount", "4",
                              "--max-fraction", "0.2", "--data", data_dir], capsys)
    assert code == 0, err
    assert "max-fraction" not in err  # it asked for 4: the cap did not bind


def test_train_without_out_says_the_net_is_not_kept(data_dir, tmp_path, capsys):
    code, out, err = run_cli(["train", "--arch", "N1", *QUICK, "--epochs", "1", "--data",
                              data_dir], capsys)
    assert code == 0, err
    assert "not saved: give --out FILE to keep the trained net" in out
    code, out, err = run_cli(["train", "--arch", "N1", *QUICK, "--epochs", "1",
                              "--fused-seeds", "2", "--data", data_dir], capsys)
    assert code == 0, err
    assert "not saved: give --out with {seed}" in out


def test_evaluate_says_how_many_images_each_metric_is_over(data_dir, tmp_path, capsys):
    model = save_model(build_mlp("N1"), tmp_path / "n1.pt")
    code, out, err = run_cli(["evaluate", model, "--data", data_dir], capsys)
    assert code == 0, err
    assert re.search(r"^train acc .*\(on 60,000 images\)$", out, re.MULTILINE), out
    assert re.search(r"^test  acc .*\(on 10,000 images\)$", out, re.MULTILINE), out
    code, out, err = run_cli(["evaluate", model, "--json", "--data", data_dir], capsys)
    record = json.loads(out)
    assert (record["train_images"], record["test_images"]) == (60_000, 10_000)


def test_methods_says_which_measures_need_a_batchnorm(capsys):
    code, out, _ = run_cli(["methods", "--json"], capsys)
    assert code == 0
    needs = {m["name"]: m["requires"] for m in json.loads(out)["measures"]}
    assert needs["bn-scale"] == "a BatchNorm after the producer"
    assert needs["connection"] is None
    code, out, _ = run_cli(["methods"], capsys)
    entry = out[out.index("  bn-scale "):].splitlines()[1]
    assert "needs a BatchNorm after the producer" in entry


def test_a_ray_address_nothing_answers_at_is_refused_in_seconds(tmp_path, capsys):
    """Ray retried an unreachable --address for minutes, printing its log, deaf to SIGTERM."""
    import socket

    with socket.socket() as bound:  # a port that is taken but listens to nobody
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        out = tmp_path / "sweep"
        code, _, err = run_cli(["reproduce", "baseline-training", "--executor", "ray",
                                "--address", f"127.0.0.1:{port}", "--out", out], capsys)
    assert_one_line_error(code, err, rf"--address 127\.0\.0\.1:{port}: no Ray cluster answers "
                                     r"there .*leave --address out")
    assert not out.exists()


def test_an_interrupted_sweep_says_how_to_continue(monkeypatch, data_dir, tmp_path, capsys):
    from neuroplast.cli import reproduce as reproduce_command

    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce_command, "_reproduce_all", interrupted)
    code, _, err = run_cli(["reproduce", "baseline-training", "--protocol", "quick", "--seeds",
                            "1", "--out", tmp_path / "sweep", "--data", data_dir], capsys)
    assert code == 130
    assert "interrupted; the finished runs are stored in" in err
    assert "the same command continues the rest" in err
