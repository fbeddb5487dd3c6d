"""``neuroplast bench``: every argument after ``bench`` reaches the benchmark suite's runner,
options first included (argparse's REMAINDER refused them before 2026-12-07); ``bench --help``
alone is the subcommand's own help (tests/test_cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from neuroplast.cli.main import main


@pytest.mark.parametrize("arguments", [["--quick", "--only", "training"],
                                       ["--", "--quick"], ["--", "--help"], ["--quick", "-h"],
                                       []])
def test_every_argument_after_bench_is_the_suite_s(arguments, monkeypatch):
    import benchmarks.runner as runner

    received = []
    monkeypatch.setattr(runner, "main", lambda argv: received.append(argv) or 0)
    monkeypatch.chdir(Path(__file__).parents[1])  # the checkout's root
    monkeypatch.setattr(sys, "path", list(sys.path))  # run() puts the checkout on it
    assert main(["bench", *arguments]) == 0
    assert received == [[a for a in arguments if a != "--"]]


def test_outside_a_checkout_bench_says_where_to_run_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["bench", "--quick"]) == 2
    assert "run `neuroplast bench` (or `python -m benchmarks`) from the repository root" in (
        capsys.readouterr().err)


def test_the_runner_refuses_a_results_folder_that_is_a_file_or_unreadable_results(tmp_path,
                                                                                  capsys):
    """Before any module runs: an --out-dir that is a file ended in a bare errno; with --only,
    an unreadable results.json was replaced, the other modules' entries lost."""
    import benchmarks.runner as runner

    (tmp_path / "afile").write_text("x")
    assert runner.main(["--out-dir", str(tmp_path / "afile"), "--only", "training"]) == 2
    assert "--out-dir" in capsys.readouterr().err and (tmp_path / "afile").read_text() == "x"
    folder = tmp_path / "results"
    folder.mkdir()
    for text in ("not json", "[]", '{"benchmarks": []}'):
        (folder / "results.json").write_text(text)
        for only in (["--only", "training"], []):  # refused before any module runs
            assert runner.main(["--out-dir", str(folder), *only]) == 2
            assert "is not a results file this runner wrote" in capsys.readouterr().err
            assert (folder / "results.json").read_text() == text
    (folder / "results.json").unlink()
    (folder / "results.md").write_text("# my own notes\n")
    assert runner.main(["--out-dir", str(folder), "--only", "training"]) == 2
    assert "results.md was not written by this runner" in capsys.readouterr().err
    assert (folder / "results.md").read_text() == "# my own notes\n"
