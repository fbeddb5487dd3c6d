"""benchmarks.paired_readings: two cutoff-readings reports paired by seed."""

from __future__ import annotations

import json

import pytest

from benchmarks.paired_readings import main


def report(seeds, accuracy, widths, l2="half-weights"):
    """A cutoff-readings report of ``seeds`` with base accuracies and, per seed, the widths
    kept at two cutoffs."""
    return {
        "protocol": "paper", "options": {"invert": True, "l2": l2}, "cutoffs": [0.1, 0.2],
        "base_nets": [{"seed": s, "train_accuracy": a, "from_cache": True}
                      for s, a in zip(seeds, accuracy, strict=True)],
        "per_seed": [{"appendix": {"max_efficiency": 0.5, "cutoffs": [
            {"cutoff": 0.1, "remaining_neurons": w[0], "accuracy_after_pruning": 0.9},
            {"cutoff": 0.2, "remaining_neurons": w[1], "accuracy_after_pruning": 0.8}]}}
            for w in widths],
        "input_top_efficiency": {"per_seed": [{"appendix": 0.05} for _ in seeds]},
    }


def write(tmp_path, name, content):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(content))
    return str(path)


def test_differences_are_paired_by_seed_over_the_seeds_in_both(tmp_path, capsys):
    first = write(tmp_path, "a", report([0, 1, 2], [0.90, 0.91, 0.92],
                                        [[40, 20], [42, 21], [44, 22]]))
    # seed 3 has no partner; seed order differs from the first report's
    second = write(tmp_path, "b", report([2, 0, 1, 3], [0.95, 0.92, 0.93, 0.99],
                                         [[47, 22], [41, 20], [45, 23], [99, 99]],
                                         l2="half-all"))
    assert main([first, second]) == 0
    out = capsys.readouterr().out
    assert "seeds 0, 1, 2 in both" in out and "l2 half-all" in out
    # accuracy differences +0.02, +0.02, +0.03: mean 0.02333, s.e. 0.00333
    assert "| base nets' training accuracy | 0.91000 ± 0.00577 | 0.93333 ± 0.00882 | " \
           "+0.02333 ± 0.00333 | 3 / 0 |" in out
    # widths at 0.1: +1, +3, +3 → +2.33 ± 0.67; at 0.2: 0, +2, 0 → +0.67 ± 0.67
    assert "| neurons kept at ε = 0.1 | 42.00 ± 1.15 | 44.33 ± 1.76 | +2.33 ± 0.67 | 3 / 0 |" \
        in out
    assert "| neurons kept at ε = 0.2 | 21.00 ± 0.58 | 21.67 ± 0.88 | +0.67 ± 0.67 | 1 / 0 |" \
        in out


@pytest.mark.parametrize(("arguments", "message"), [
    (["--reading", "no-slope"], "reading 'no-slope' is not in the report"),
])
def test_a_reading_the_report_lacks_is_refused(arguments, message, tmp_path, capsys):
    path = write(tmp_path, "a", report([0, 1], [0.9, 0.9], [[1, 1], [1, 1]]))
    with pytest.raises(SystemExit, match=message):
        main([path, path, *arguments])


def test_reports_sharing_fewer_than_two_seeds_are_refused(tmp_path, capsys):
    first = write(tmp_path, "a", report([0, 1], [0.9, 0.9], [[1, 1], [1, 1]]))
    second = write(tmp_path, "b", report([1, 2], [0.9, 0.9], [[1, 1], [1, 1]]))
    with pytest.raises(SystemExit):
        main([first, second])
    assert "share 1 seed(s); pairing needs at least two" in capsys.readouterr().err
