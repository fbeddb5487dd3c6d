"""benchmarks.b4_std: replication and replication-shift with B4 at another spread."""

from __future__ import annotations

import pytest

from benchmarks.b4_std import b4_rows, main, spread_experiment
from benchmarks.report_cells import Cell
from neuroplast.train import get_protocol

OPTIONS = {"invert": False, "init": "kaiming-normal", "l2": "half-weights"}


def test_the_probe_plans_fig22_alone_and_carries_the_spread():
    protocol = get_protocol("fast")
    replication = spread_experiment("replication", OPTIONS | {"b4_std": "trained"})
    configs = replication.configs(protocol)
    assert [c["figure"] for c in configs] == ["fig22"]
    assert configs[0]["b4_std"] == "trained" and configs[0]["init"] == "kaiming-normal"
    shift = spread_experiment("replication-shift", OPTIONS | {"b4_std": "initialiser"})
    assert [c["b4_std"] for c in shift.configs(protocol)] == ["initialiser"]
    # the library's B4 is the option's default: left out of the configuration, as stored
    assert "b4_std" not in spread_experiment("replication-shift", OPTIONS).configs(protocol)[0]


def test_b4_cells_are_found_in_both_reports_layouts():
    cells = [Cell("replication", f"Fig. 22: training accuracy: After 10 epochs retraining, {m}",
                  0.0, 1.0) for m in ("B1", "B4", "B5")]
    cells += [Cell("replication-shift", f"Fig. 23: accuracies: {m} / After 10 epochs retraining "
                   "(validation)", 0.0, 1.0) for m in ("B1", "B4", "B5")]
    cells += [Cell("replication", "the B40 and XB4 cells", 0.0, 1.0)]
    found = b4_rows(cells)
    assert sorted(found) == [
        "Fig. 22: training accuracy: After 10 epochs retraining, B4",
        "Fig. 23: accuracies: B4 / After 10 epochs retraining (validation)"]


def test_a_comparison_folder_without_the_runs_is_refused_before_any_run(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--b4-std", "trained", "--protocol", "fast", "--seeds", "2", "--out",
              str(tmp_path / "out"), "--compare", str(tmp_path / "empty"),
              "--experiments", "replication-shift"])
    assert "no stored replication-shift runs under" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_library_spread_is_not_a_probe(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--b4-std", "xavier-normal", "--out", str(tmp_path)])
    assert "invalid choice: 'xavier-normal'" in capsys.readouterr().err
