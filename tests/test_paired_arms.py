"""benchmarks.paired_arms: two arms' runs paired by seed and cell, every recorded number
differenced."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.paired_arms import main, numbers, pair, read_runs, report

CUTOFFS = [0.1, 0.3]


def _record(seed: int, l2: str, widths: list[int], top: float, *, data: str | None = "sha256:d",
            experiment: str = "cutoff-pruning", arch: str = "N4", protocol: str = "paper",
            extra: dict | None = None) -> dict:
    rows = [{"cutoff": c, "remaining_neurons": w, "emptied": False, "kept": [3, 1, 4]}
            for c, w in zip(CUTOFFS, widths, strict=True)]
    provenance = {} if data is None else {"data_fingerprint": data}
    return {"format": 1, "run_id": f"{experiment}-{l2}-{arch}-{seed}",
            "spec": {"experiment": experiment, "protocol": protocol, "seed": seed,
                     "config": {"arch": arch, "cutoffs": CUTOFFS, "l2": l2}},
            "result": {"max_hidden_efficiency": top, "rows": rows,
                       "run_options": {"l2": l2}, **(extra or {})},
            "provenance": provenance}


def _folder(root, name: str, records: list[dict]):
    runs = root / name / "runs"
    runs.mkdir(parents=True)
    for record in records:
        (runs / f"{record['run_id']}.json").write_text(json.dumps(record))
    return root / name


@pytest.fixture
def arms(tmp_path):
    first = _folder(tmp_path, "half", [_record(0, "half-weights", [40, 8], 0.50),
                                       _record(1, "half-weights", [42, 6], 0.55),
                                       _record(2, "half-weights", [41, 9], 0.52),
                                       _record(5, "half-weights", [10, 1], 0.10)])
    second = _folder(tmp_path, "quarter", [_record(0, "quarter-weights", [44, 11], 0.60),
                                           _record(1, "quarter-weights", [45, 7], 0.54),
                                           _record(2, "quarter-weights", [41, 12], 0.61),
                                           _record(7, "quarter-weights", [1, 1], 0.9)])
    return first, second


def test_rows_are_keyed_by_the_configuration_axis_and_index_lists_left_out():
    record = _record(0, "half-weights", [40, 8], 0.5)
    named = dict(numbers(record["result"], record["spec"]["config"]))
    assert named == {"max_hidden_efficiency": 0.5, "rows[cutoff=0.1].remaining_neurons": 40.0,
                     "rows[cutoff=0.3].remaining_neurons": 8.0}


def test_rows_without_an_axis_are_keyed_by_a_field_that_tells_them_apart():
    """replication-shift's stages: the configuration lists horizons, the rows paper_epochs."""
    named = dict(numbers({"stages": [{"paper_epochs": 10, "acc": 0.5},
                                     {"paper_epochs": 100, "acc": 0.6}]}, {"horizons": [1]}))
    assert named == {"stages[paper_epochs=10].acc": 0.5, "stages[paper_epochs=100].acc": 0.6}


def test_rows_nothing_tells_apart_are_keyed_by_position():
    named = dict(numbers({"rows": [{"k": 3, "v": 1}, {"k": 3, "v": 1.0}]}, {"ks": [4, 3]}))
    assert named == {"rows[0].k": 3.0, "rows[0].v": 1.0, "rows[1].k": 3.0, "rows[1].v": 1.0}


def test_two_numbers_under_one_name_are_refused():
    with pytest.raises(ValueError, match="both named 'rows\\[k=1\\].v'"):
        dict(numbers({"rows": [{"k": 1, "v": 2}, {"k": 1, "v": 3}]}, {"ks": [1, 1]}))


def test_an_option_at_its_default_pairs_with_the_same_option_written_out(tmp_path):
    """Options at their defaults are left out of a configuration: invert absent = False."""
    explicit = _record(1, "half-weights", [5, 1], 0.1)
    explicit["spec"]["config"]["invert"] = False
    first = _folder(tmp_path, "a", [_record(0, "half-weights", [5, 1], 0.1), explicit])
    second = _folder(tmp_path, "b", [_record(0, "quarter-weights", [6, 1], 0.1),
                                     _record(1, "quarter-weights", [7, 1], 0.1)])
    pairing = pair(read_runs(first), read_runs(second))
    assert pairing.seeds == [0, 1] and pairing.unpaired_runs == 0 and pairing.cells == {}


def test_only_common_seeds_are_paired_and_differences_are_per_seed(arms):
    first, second = arms
    pairing = pair(read_runs(first), read_runs(second))
    assert pairing.seeds == [0, 1, 2] and pairing.unpaired_runs == 2  # seeds 5 and 7
    by_name = {q.name: q for q in pairing.quantities}
    width = by_name["rows[cutoff=0.3].remaining_neurons"]
    assert width.differences == (3.0, 1.0, 3.0)
    mean = 7 / 3
    se = math.sqrt(((3 - mean) ** 2 * 2 + (1 - mean) ** 2) / 2 / 3)
    assert width.mean == pytest.approx(mean)
    assert width.standard_error == pytest.approx(se)
    top = by_name["max_hidden_efficiency"]
    assert (top.higher, top.lower) == (2, 1)
    assert by_name["rows[cutoff=0.1].remaining_neurons"].differences == (4.0, 3.0, 0.0)


def test_runs_of_several_cells_pair_within_their_cell(tmp_path):
    """replication stores one run per (arch, seed): a folder of one arm, paired cell by cell."""
    first = _folder(tmp_path, "a", [_record(0, "half-weights", [5, 1], 0.1, arch="N1"),
                                    _record(0, "half-weights", [9, 2], 0.2, arch="N2"),
                                    _record(1, "half-weights", [7, 1], 0.3, arch="N1")])
    second = _folder(tmp_path, "b", [_record(0, "quarter-weights", [6, 1], 0.1, arch="N1"),
                                     _record(0, "quarter-weights", [12, 2], 0.2, arch="N2"),
                                     _record(1, "quarter-weights", [10, 1], 0.3, arch="N1")])
    pairing = pair(read_runs(first), read_runs(second))
    by_name = {q.name: q.differences for q in pairing.quantities}
    assert pairing.cells == {"c1": 'arch="N1"', "c2": 'arch="N2"'}
    assert by_name["[c1] rows[cutoff=0.1].remaining_neurons"] == (1.0, 3.0)
    assert by_name["[c2] rows[cutoff=0.1].remaining_neurons"] == (3.0,)
    assert pairing.arm_fields == {"config.l2": ('"half-weights"', '"quarter-weights"')}
    assert '**c1** arch="N1"; **c2** arch="N2"' in report(first, second)


def test_numbers_missing_from_some_pairs_are_counted_not_silently_dropped(tmp_path):
    first = _folder(tmp_path, "a", [_record(0, "half-weights", [5, 1], 0.1, extra={"x": 1}),
                                    _record(1, "half-weights", [5, 1], 0.1)])
    second = _folder(tmp_path, "b", [_record(0, "quarter-weights", [5, 1], 0.1, extra={"x": 2}),
                                     _record(1, "quarter-weights", [5, 1], 0.1)])
    pairing = pair(read_runs(first), read_runs(second))
    assert pairing.left_out == 1
    assert "x" not in {q.name for q in pairing.quantities}
    assert "1 recorded numbers are left out" in report(first, second)


def test_report_names_the_changed_setting_and_the_left_out_runs(arms):
    first, second = arms
    text = report(first, second, match="remaining")
    assert "Seeds paired: 0, 1, 2; 2 runs without a partner of the same seed and cell" in text
    assert '`config.l2` "half-weights" → "quarter-weights"' in text
    assert "| rows[cutoff=0.3].remaining_neurons | 3 | +2.333 ± 0.6667 | 3 / 0 | 0.25 |" in text
    assert "max_hidden_efficiency" not in text  # filtered out by --match
    assert "Not like with like" not in text


def test_report_warns_when_a_seed_does_not_repeat_its_draws(tmp_path):
    a = _folder(tmp_path, "a", [_record(0, "half-weights", [1, 1], 0.1)])
    b = _folder(tmp_path, "b", [_record(0, "half-weights", [2, 1], 0.1, protocol="fast")])
    text = report(a, b)
    assert "`protocol` \"paper\" → \"fast\"" in text
    assert "**Not like with like**: another protocol trains other batches" in text


def test_runs_without_a_fingerprint_are_said_and_not_taken_for_other_data(tmp_path):
    a = _folder(tmp_path, "a", [_record(0, "half-weights", [1, 1], 0.1)])
    b = _folder(tmp_path, "b", [_record(0, "quarter-weights", [2, 1], 0.1, data=None)])
    text = report(a, b)
    assert "1 runs do not record their data's fingerprint" in text


def test_refuses_other_experiments_other_data_and_no_common_seed(tmp_path):
    a = _folder(tmp_path, "a", [_record(0, "half-weights", [1, 1], 0.1)])
    b = _folder(tmp_path, "b", [_record(0, "half-weights", [1, 1], 0.1,
                                        experiment="goal-pruning")])
    c = _folder(tmp_path, "c", [_record(0, "half-weights", [1, 1], 0.1, data="sha256:e")])
    d = _folder(tmp_path, "d", [_record(3, "half-weights", [1, 1], 0.1)])
    with pytest.raises(SystemExit, match="different experiments"):
        report(a, b)
    with pytest.raises(SystemExit, match="different data"):
        report(a, c)
    with pytest.raises(SystemExit, match="no seed and cell stored in both folders"):
        report(a, d)
    with pytest.raises(SystemExit, match="no stored runs"):
        report(a, tmp_path / "absent")


def test_a_folder_with_two_runs_of_one_seed_and_cell_is_refused(tmp_path):
    mixed = _folder(tmp_path, "mixed", [_record(0, "half-weights", [1, 1], 0.1),
                                        _record(0, "half-weights", [2, 2], 0.1) | {
                                            "run_id": "copy"}])
    other = _folder(tmp_path, "other", [_record(0, "quarter-weights", [1, 1], 0.1)])
    with pytest.raises(SystemExit, match="two stored runs of seed 0"):
        pair(read_runs(mixed), read_runs(other))


def test_command_line_refuses_an_existing_out_and_a_bad_pattern(arms, tmp_path, capsys):
    first, second = arms
    taken = tmp_path / "taken.md"
    taken.write_text("mine")
    with pytest.raises(SystemExit):
        main([str(first), str(second), "--out", str(taken)])
    assert "exists" in capsys.readouterr().err
    assert taken.read_text() == "mine"
    with pytest.raises(SystemExit):
        main([str(first), str(second), "--match", "("])
    assert "not a regular expression" in capsys.readouterr().err
    out = tmp_path / "new" / "paired.md"
    assert main([str(first), str(second), "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out
