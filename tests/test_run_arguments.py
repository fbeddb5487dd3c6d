"""benchmarks.run_arguments: the probes' shared options refuse what they cannot honour, before
any data are read."""

from __future__ import annotations

import argparse
import importlib

import pytest

from benchmarks.run_arguments import add_run_arguments


def test_the_probe_that_trains_nothing_refuses_workers_and_momentum(tmp_path, capsys,
                                                                     monkeypatch):
    """init_input_counts draws untrained nets one seed after another: ``--workers`` and
    ``--momentum`` are not its to accept."""
    from neuroplast.experiments import experiment

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")

    monkeypatch.setattr(experiment, "mnist", no_data)
    for extra in (["--workers", "2"], ["--momentum", "0.9"]):
        with pytest.raises(SystemExit):
            importlib.import_module("benchmarks.init_input_counts").main(
                [*extra, "--out", str(tmp_path)])
        assert f"unrecognized arguments: {' '.join(extra)}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_base_net_probe_trains_under_the_momentum_given_and_names_its_folder(tmp_path,
                                                                               monkeypatch):
    from benchmarks.run_arguments import arm_probe
    from neuroplast.experiments import experiment

    monkeypatch.setattr(experiment, "mnist", lambda *args, **kwargs: "data")
    plain = arm_probe("p", "d", ["--out", str(tmp_path), "--protocol", "paper"])
    moved = arm_probe("p", "d", ["--out", str(tmp_path), "--protocol", "paper",
                                 "--momentum", "0.93", "--workers", "2"])
    assert plain.protocol.momentum == 0.0 and plain.momentum_note == ""
    assert moved.protocol.momentum == 0.93 and moved.momentum_note == ", SGD momentum 0.93"
    assert moved.folder.name == plain.folder.name + "-momentum-0.93"
    assert moved.options == plain.options | {"momentum": 0.93}
    assert moved.args.workers == 2
    assert {k: v for k, v in vars(moved.protocol).items() if k != "momentum"} == \
        {k: v for k, v in vars(plain.protocol).items() if k != "momentum"}


@pytest.mark.parametrize("value", ["1", "-0.5", "fast", "inf"])
def test_a_momentum_outside_zero_to_one_is_refused_before_any_data(value, tmp_path, capsys,
                                                                  monkeypatch):
    from benchmarks.run_arguments import arm_probe
    from neuroplast.experiments import experiment

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")

    monkeypatch.setattr(experiment, "mnist", no_data)
    with pytest.raises(SystemExit):
        arm_probe("p", "d", ["--out", str(tmp_path), "--momentum", value])
    assert f"{value!r} is not a momentum: give a number in [0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize(("arguments", "message"), [
    (["--seeds", "0"], "--seeds: expected a positive integer, got 0"),
    (["--workers", "-1"], "--workers: expected a positive integer, got -1"),
])
def test_counts_below_one_are_refused(arguments, message, capsys):
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "x", *arguments])
    assert message in capsys.readouterr().err


def test_a_probe_without_workers_has_no_such_option():
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, workers=False)
    assert "workers" not in vars(parser.parse_args(["--out", "x"]))


@pytest.mark.parametrize("module", ["benchmarks.fidelity", "benchmarks.momentum",
                                    "benchmarks.cutoff_readings", "benchmarks.frontier",
                                    "benchmarks.architecture_frontier"])
def test_benchmarks_refuse_more_local_workers_than_cores(module, tmp_path, capsys,
                                                         monkeypatch):
    import neuroplast.cli.common as common

    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    with pytest.raises(SystemExit):
        out = "--out-dir" if "frontier" in module else "--out"
        importlib.import_module(module).main(["--workers", "3", out, str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "more than this machine's 2 usable cores; give at most 2" in err or \
        "--workers 3 starts more processes than this machine's 2 usable cores" in err, err
    assert not any(tmp_path.iterdir())


def test_a_sweep_on_a_cluster_or_reporting_only_is_not_capped(monkeypatch):
    import neuroplast.cli.common as common
    from benchmarks.sweep_cli import check_workers

    monkeypatch.setattr(common, "usable_cores", lambda: 2)
    parser = argparse.ArgumentParser()
    check_workers(parser, argparse.Namespace(workers=64, address="ray://head:10001",
                                             report_only=False))
    check_workers(parser, argparse.Namespace(workers=64, address=None, report_only=True))
    with pytest.raises(SystemExit):
        check_workers(parser, argparse.Namespace(workers=3, address=None, report_only=False))
