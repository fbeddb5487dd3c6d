"""benchmarks.peaked_length: its table (changes paired by seed, z against the paper's), the
check against stored runs, and what it refuses."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import peaked_length


def _seeds() -> dict[int, list[dict[str, float]]]:
    return {0: [{"paper_epochs": 10000, "peaked_at_3": 0.93, "validation": 0.85},
                {"paper_epochs": 20000, "peaked_at_3": 0.94, "validation": 0.86}],
            1: [{"paper_epochs": 10000, "peaked_at_3": 0.91, "validation": 0.87},
                {"paper_epochs": 20000, "peaked_at_3": 0.94, "validation": 0.86}]}


def test_table_gives_paired_changes_and_the_distance_from_the_paper():
    rows = peaked_length.markdown(_seeds(), "# t").splitlines()[4:6]
    first, second = (row.split(" | ") for row in rows)
    assert first[1] == "0.9200 ± 0.0100" and first[2] == "—"
    # '3'-peaked: changes +0.01 and +0.03 → +0.02 ± 0.01; validation +0.01 and −0.01 → 0 ± 0.01
    assert second[1] == "0.9400 ± 0.0000" and second[2] == "+0.0200 ± 0.0100"
    assert second[5] == "+0.0000 ± 0.0100"
    z = (0.94 - 0.9404) / math.hypot(0.0, 0.0013)
    assert second[3] == f"{z:+.1f}"


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


@pytest.mark.parametrize("argv", [["--seeds", "1"], ["--lengths", "15000"]])
def test_bad_arguments_are_refused_before_any_training(argv, tmp_path):
    with pytest.raises(SystemExit):
        peaked_length.main(["--out", str(tmp_path), *argv])
