"""``neuroplast reproduce --report-only``: the reports of a sweep stopped early, computing nothing.

The experiment is ``toy-sweep`` of ``sweep_fixtures.py``, which logs every execution.
"""

from __future__ import annotations

import re
from pathlib import Path

from sweep_fixtures import executions

from neuroplast.cli.main import main


def reproduce(capsys, out: Path, *extra: str, seeds: int = 2) -> tuple[int, str, str]:
    """``neuroplast reproduce toy-sweep --protocol quick --seeds SEEDS --out OUT *extra``."""
    try:
        code = main(["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", str(seeds),
                     "--out", str(out), "--no-progress", *extra])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_only_writes_the_summary_of_the_stored_runs_and_computes_nothing(
        extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out)[0] == 0
    fresh = (out / "toy-sweep" / "summary.md").read_text()
    (out / "toy-sweep" / "summary.md").unlink()
    computed = sum(executions(extras).values())
    code, stdout, _ = reproduce(capsys, out, "--report-only", seeds=5)
    assert code == 0
    assert sum(executions(extras).values()) == computed  # nothing was run
    assert re.search(r"toy-sweep: 4 of 10 runs \(5 seeds\) stored", stdout), stdout
    assert (out / "toy-sweep" / "summary.md").read_text() == fresh


def test_report_only_covers_what_a_stopped_sweep_left(extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out, seeds=1)[0] == 0
    one_seed = (out / "toy-sweep" / "summary.md").read_text()
    assert reproduce(capsys, out, seeds=2)[0] == 0
    assert (out / "toy-sweep" / "summary.md").read_text() != one_seed
    for record in (out / "toy-sweep" / "runs").glob("*.json"):  # "stop" before seed 1
        if '"seed": 1' in record.read_text():
            record.unlink()
    assert reproduce(capsys, out, "--report-only")[0] == 0
    assert (out / "toy-sweep" / "summary.md").read_text() == one_seed


def test_report_only_refuses_a_folder_without_runs(extras, tmp_path, capsys):
    code, _, err = reproduce(capsys, tmp_path / "absent", "--report-only")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no results folder" in err and "without --report-only" in err
    assert not (tmp_path / "absent").exists()  # nothing created
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = reproduce(capsys, empty, "--report-only")
    assert code == 2 and "no stored runs of toy-sweep" in err, err
    assert "run without --report-only" in err
    assert not (empty / "toy-sweep" / "summary.md").exists()


def test_report_only_with_other_run_options_finds_nothing(extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out)[0] == 0
    code, _, err = reproduce(capsys, out, "--report-only", "--protocol", "fast")
    assert code == 2 and "no stored runs of toy-sweep for protocol fast" in err, err


def test_report_only_moves_nothing_it_cannot_read(extras, tmp_path, capsys):
    """A file in runs/ that is no run record (a user's notes) is skipped with a note and left
    where it is: a report computes and moves nothing (it went to runs/corrupt/, "the run will
    be redone"). A sweep that computes still sets it aside."""
    out = tmp_path / "out"
    assert reproduce(capsys, out)[0] == 0
    notes = out / "toy-sweep" / "runs" / "my-notes.json"
    notes.write_text('{"mine": true}')
    code, _, err = reproduce(capsys, out, "--report-only")
    assert code == 0, err
    assert "my-notes.json could not be read back" in err and "left it in place" in err
    assert notes.read_text() == '{"mine": true}'
    assert not (out / "toy-sweep" / "runs" / "corrupt").exists()
    assert reproduce(capsys, out)[0] == 0
    assert (out / "toy-sweep" / "runs" / "corrupt" / "my-notes.json").is_file()


def test_a_runs_folder_that_is_a_file_is_refused_in_one_line(extras, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "toy-sweep").mkdir(parents=True)
    (out / "toy-sweep" / "runs").write_text("x")
    code, _, err = reproduce(capsys, out)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "runs is a file, not the folder of toy-sweep's runs" in err
    assert sum(executions(extras).values()) == 0
