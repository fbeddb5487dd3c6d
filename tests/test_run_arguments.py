"""benchmarks.run_arguments: the probes' shared options refuse what they cannot honour, before
any data are read."""

from __future__ import annotations

import argparse
import importlib

import pytest

from benchmarks.run_arguments import add_run_arguments


@pytest.mark.parametrize("module", ["benchmarks.border_weights", "benchmarks.cutoff_readings",
                                    "benchmarks.init_input_counts"])
def test_the_probes_that_run_seed_after_seed_refuse_workers(module, tmp_path, capsys,
                                                            monkeypatch):
    """These probes train (or draw) one seed after another in one process: ``--workers`` is
    not theirs to accept (they took it and ignored it before 2026-12-07)."""
    from neuroplast.experiments import experiment

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")

    monkeypatch.setattr(experiment, "mnist", no_data)
    with pytest.raises(SystemExit):
        importlib.import_module(module).main(["--workers", "2", "--out", str(tmp_path)])
    assert "unrecognized arguments: --workers 2" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


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
