"""benchmarks.peaked_length: its table (changes paired by seed, z against the paper's), the
check against stored runs, and what it refuses."""

from __future__ import annotations

import json

import pytest

from benchmarks import peaked_length


def _seeds() -> dict[int, list[dict[str, float]]]:
    return {0: [{"paper_epochs": 10000, "peaked_at_3": 0.93, "validation": 0.85,
                 "validation_balanced": 0.84},
                {"paper_epochs": 20000, "peaked_at_3": 0.94, "validation": 0.86,
                 "validation_balanced": 0.85}],
            1: [{"paper_epochs": 10000, "peaked_at_3": 0.91, "validation": 0.87,
                 "validation_balanced": 0.86},
                {"paper_epochs": 20000, "peaked_at_3": 0.94, "validation": 0.86,
                 "validation_balanced": 0.85}]}


def test_table_gives_paired_changes_and_the_distance_from_the_paper():
    rows = peaked_length.markdown(_seeds(), "# t").splitlines()[4:6]
    first, second = (row.split(" | ") for row in rows)
    assert first[1] == "0.9200 ± 0.0100" and first[2] == "—"
    # '3'-peaked: changes +0.01 and +0.03 → +0.02 ± 0.01; validation +0.01 and −0.01 → 0 ± 0.01
    assert second[1] == "0.9400 ± 0.0000" and second[2] == "+0.0200 ± 0.0100"
    assert second[5] == "+0.0000 ± 0.0100"
    assert second[7] == "0.8500 ± 0.0000" and second[8] == "+0.0000 ± 0.0100"
    assert second[9] == "+3.4 |"  # (0.85 − 0.8405) / 0.0028, against the paper's validation
    assert second[3] == "-0.3"  # (0.94 − 0.9404) / 0.0013


def test_first_readings_are_checked_against_stored_runs(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, (on_set, on_validation) in {0: (0.93, 0.85), 1: (0.9, 0.87)}.items():
        (runs / f"run-{seed}.json").write_text(json.dumps({
            "spec": {"protocol": "medium", "seed": seed,
                     "config": {"init": "kaiming-normal", "l2": "half-weights"}},
            "result": {"pretrain": {"peaked_at_3": {"accuracy": on_set},
                                    "validation": {"accuracy": on_validation}}}}))
    options = {"invert": False, "init": "kaiming-normal", "l2": "half-weights"}
    line = peaked_length.stored_agreement(tmp_path, "medium", options, _seeds())
    assert "in 1 of the 2 seeds" in line  # seed 1's '3'-peaked accuracy differs
    other = peaked_length.stored_agreement(tmp_path, "paper", options, _seeds())
    assert "in 0 of the 0 seeds" in other  # another protocol's runs are not compared


def test_balanced_accuracy_weights_every_class_equally():
    import torch
    from torch import nn

    from neuroplast.data import Split

    class Fixed(nn.Module):  # predicts class 0 for every example
        def forward(self, x):
            return torch.zeros(x.shape[0], 2).index_fill_(1, torch.tensor([0]), 1.0)

    y = torch.tensor([0, 0, 0, 1])  # plain accuracy 0.75; class 0: 1, class 1: 0
    split = Split(torch.zeros(4, 3), y)
    assert peaked_length.balanced_accuracy(Fixed(), split) == 0.5


@pytest.mark.parametrize("argv", [["--seeds", "1"], ["--lengths", "15000"]])
def test_bad_arguments_are_refused_before_any_training(argv, tmp_path):
    with pytest.raises(SystemExit):
        peaked_length.main(["--out", str(tmp_path), *argv])
