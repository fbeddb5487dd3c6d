"""benchmarks.momentum: each momentum's accuracies are the members trained fused under that
momentum on one shared data order; a momentum listed twice or outside [0, 1) is refused before
any training; the report ends with the paper's accuracy for the nets it prints one for."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
from level_probe_checks import assert_levels_trained_by_hand

from benchmarks.level_probe import paper_line
from benchmarks.momentum import main, markdown


def test_the_table_pairs_each_momentum_with_the_first_by_seed():
    levels = [{"momentum": 0.0, "factor": 1.0, "weight_decay": 0.001, "cpu_s": 2.0,
               "train_accuracy": [0.90, 0.92], "test_accuracy": [0.80, 0.82]},
              {"momentum": 0.93, "factor": 1.0, "weight_decay": 0.001, "cpu_s": 2.0,
               "train_accuracy": [0.93, 0.93], "test_accuracy": [0.81, 0.85]}]
    text = markdown(levels, "# t", [])
    # paired training differences 0.03 and 0.01: mean 0.02, s.e. 0.01
    assert "| 0.93 | 0.93000 ± 0.00000 | +0.02000 ± 0.01000 |" in text
    assert "| momentum | training accuracy | − momentum 0, paired |" in text


@pytest.mark.parametrize(("arch", "epochs", "expected"), [
    ("N1", 10000.0, "Paper (Fig. 22, N1 after 10000 epochs): 0.91751 ± 0.00034."),
    ("n4", 5000, "Paper (Fig. 5's caption, N4's training accuracy after 5000 epochs): "
                 "0.97981 ± 0.00023."),
])
def test_the_paper_line_names_the_printed_accuracy_of_the_net_trained(arch, epochs, expected):
    assert paper_line(argparse.Namespace(arch=arch, paper_epochs=epochs)) == ["", expected]


@pytest.mark.parametrize(("arch", "epochs"), [("N1", 5000.0), ("N4", 10000.0), ("N2", 10000.0)])
def test_no_paper_line_where_the_paper_prints_no_accuracy(arch, epochs):
    assert paper_line(argparse.Namespace(arch=arch, paper_epochs=epochs)) == []


@pytest.mark.parametrize(("momenta", "message"), [
    (["0", "0"], "--momenta lists a momentum twice"),
    (["0", "1"], "'1' is not a momentum: give a number in [0, 1)"),
    (["0", "-0.1"], "'-0.1' is not a momentum"),
    (["0", "x"], "'x' is not a momentum"),
    (["nan"], "'nan' is not a momentum"),
])
def test_bad_momenta_are_refused_before_training(momenta, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--momenta", *momenta])
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_each_momentum_is_the_members_trained_under_it_on_the_data_seed(tmp_path, data_dir):
    """The command end to end (quick protocol, 2 members): each momentum's training accuracies
    are those of the members trained fused by hand under that momentum, on the restricted split
    with the given data seed; the two momenta differ."""
    from neuroplast.train import get_protocol
    from neuroplast.train.l2 import with_l2_form

    main(["--protocol", "quick", "--seeds", "2", "--paper-epochs", "500", "--data-seed", "3",
          "--out", str(tmp_path), "--data", data_dir])
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    record = json.loads((folder / "momentum.json").read_text())
    assert [lv["momentum"] for lv in record["levels"]] == [0.0, 0.93]
    assert_levels_trained_by_hand(record["levels"], data_dir, lambda level: dataclasses.replace(
        with_l2_form(get_protocol("quick"), "half-weights"), momentum=level["momentum"]))
    assert "Made by `python -m benchmarks.momentum --protocol quick" in (
        folder / "momentum.md").read_text()
