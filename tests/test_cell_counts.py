"""benchmarks/cell_counts.py: paper cells counted per experiment over results folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.cell_counts import comparable_cells, count_table, main
from neuroplast.experiments.definitions.pixel_regions import ENCODINGS

TABLE = "| q | ours | paper | ours − paper |\n|---|---|---|---|\n"


def _write(folder, name: str, text: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "summary.md").write_text(text)


def test_counts_per_experiment_leave_out_the_other_encodings_cells(tmp_path):
    _write(tmp_path, "cutoff-pruning",
           f"# c\n## Fig. 5\n{TABLE}| 0.1 | x | y | +1 ± 1 |\n| 0.2 | x | y | +3 ± 1 |\n")
    _write(tmp_path, "vs-nnsp",
           f"# v\n## inverted (background 1, the paper's) MNIST\n### Fig. 18\n{TABLE}"
           "| A1 | x | y | +0.1 ± 1 |\n"
           f"## {ENCODINGS[False]} MNIST\n### Fig. 18\n{TABLE}| A1 | x | y | +9 ± 1 |\n")
    table = count_table([tmp_path])
    assert "| cutoff-pruning | 1/2 |" in table  # 1 s.e. in, 3 s.e. out
    assert "| vs-nnsp | 1/1 |" in table  # the standard-encoding cell is not counted
    assert "| all | 2/3 |" in table


def test_by_default_takes_each_experiment_from_its_default_settings_folder(tmp_path, capsys):
    """cutoff-pruning's default is paper-probable (its cells from there), replication's fast
    (the root's); an experiment whose default setting has no report is refused by name, and
    counted once it has one."""
    for folder, cutoff in ((tmp_path, "+3 ± 1"), (tmp_path / "paper-probable", "+1 ± 1")):
        _write(folder, "cutoff-pruning", f"# c\n## Fig. 5\n{TABLE}| 0.1 | x | y | {cutoff} |\n")
    _write(tmp_path, "goal-pruning", f"# g\n## Fig. 6\n{TABLE}| 1 | x | y | +9 ± 1 |\n")
    with pytest.raises(SystemExit):  # goal-pruning's default, paper-probable, has no report
        main([str(tmp_path), "--by-default"])
    assert "paper-probable/goal-pruning/summary.md" in capsys.readouterr().err
    _write(tmp_path / "paper-probable", "goal-pruning", "# g\n")  # a report without cells
    _write(tmp_path, "replication", f"# r\n## Fig. 22\n{TABLE}| B1 | x | y | +3 ± 1 |\n")
    _write(tmp_path / "paper-probable", "replication",
           f"# r\n## Fig. 22\n{TABLE}| B1 | x | y | +0.5 ± 1 |\n")
    _write(tmp_path / "paper-probable", "efficiency-vs-loss",
           f"# e\n## Fig. 1\n{TABLE}| A1 | x | y | +0 ± 1 |\n")
    with pytest.raises(SystemExit):  # its default, fast, has no summary of it
        main([str(tmp_path), "--by-default"])
    assert "efficiency-vs-loss/summary.md" in capsys.readouterr().err
    assert main([str(tmp_path), "--by-default", "--experiments", "cutoff-pruning",
                 "replication"]) == 0
    out = capsys.readouterr().out
    assert "| cutoff-pruning | 0/1 | 1/1 |" in out
    assert "| replication | 0/1 | 0/1 |" in out  # fast's, not paper-probable's 1/1
    assert "| all | 0/2 | 1/2 |" in out
    (tmp_path / "paper-probable" / "efficiency-vs-loss" / "summary.md").unlink()
    # the default cells' misses: replication's alone (cutoff's default agrees), reached and
    # halved by the other folder
    assert main([str(tmp_path), "--by-default", "--misses-against",
                 str(tmp_path / "paper-probable")]) == 0
    out = capsys.readouterr().out
    assert "| replication | 1 (" in out and "| all | 1 (" in out and "cutoff-pruning" not in out
    assert main([str(tmp_path), "--by-default", "--experiments", "cutoff-pruning"]) == 0
    out = capsys.readouterr().out
    assert "| cutoff-pruning | 0/1 | 1/1 |" in out and "replication" not in out


def test_a_folder_without_reports_is_refused_with_what_to_give(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path)])
    assert "no <experiment>/summary.md" in capsys.readouterr().err


def test_the_published_reproductions_counts_leave_out_exactly_the_standard_encoding_tables():
    """vs-n2ps and vs-nnsp print their standard-encoding tables beside the inverted ones: the
    count keeps the inverted half (the paper's data) and no other experiment loses a cell."""
    from benchmarks.report_cells import paper_cells

    root = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    kept = comparable_cells(root)
    for name, cells in kept.items():
        every = paper_cells((root / name / "summary.md").read_text(), name)
        if name in ("vs-n2ps", "vs-nnsp"):
            assert 0 < len(cells) < len(every), name
            assert all(ENCODINGS[True] in c.quantity for c in cells), name
        else:
            assert cells == every, name


def test_misses_are_classed_by_the_best_another_folder_does(tmp_path, capsys):
    heading = "# v\n## inverted MNIST ({nets} nets; paper: 28, inverted)\n"
    rows = {"reference": "| b | x | y | +4 ± 1 |\n| c | x | y | +4 ± 1 |\n"
                         "| d | x | y | -6 ± 1 |\n| a | x | y | +1 ± 1 |\n"
                         "| e | x | y | +4 ± 1 |\n| f | x | y | +2.2 ± 1 |\n",
            # b: reached in both, halved only in "wide"; c: halved, never reached; d: only
            # "narrow" has it, farther; e: reached by a wider s.e. alone; f: nowhere else
            "narrow": "| b | x | y | +2.5 ± 1 |\n| c | x | y | +1.9 ± 0.5 |\n"
                      "| d | x | y | -7 ± 1 |\n",
            "wide": "| b | x | y | +1.5 ± 3 |\n| c | x | y | +3 ± 1 |\n| e | x | y | +3 ± 2 |\n"}
    for folder, text in rows.items():
        _write(tmp_path / folder, "vs-nnsp",
               heading.format(nets=10 if folder == "reference" else 3) + TABLE + text)
    assert main([str(tmp_path / "reference"), "--misses-against", str(tmp_path / "narrow"),
                 str(tmp_path / "wide"), "--dof", "2"]) == 0
    out = capsys.readouterr().out
    # a agrees: not a miss. Holm over the 6 cells with normal tails: d (p ≈ 2e-9), then b, c,
    # e (p ≈ 6.3e-5 each, below 0.05/5, 0.05/4, 0.05/3) are real; f's p = 0.0278 > 0.05/2 is
    # not. With t tails on 2 dof none is: d's p = 1 − 6/√38 = 0.027 > 0.05/6
    assert ("| vs-nnsp | 1 (0–1 real) | 1 (0–1 real) | 1 (0–1 real) | 2 (0–1 real) "
            "| 5 (0–4 real) |") in out
    lines = {line.split(" | ")[1].split(": ")[-1]: line for line in out.splitlines()
             if line.startswith("| vs-nnsp | inverted")}
    assert "reached, gap halved" in lines["b"] and str(tmp_path / "wide") in lines["b"]
    assert "gap halved, not reached" in lines["c"] and str(tmp_path / "narrow") in lines["c"]
    assert "| neither |" in lines["d"]
    assert "reached, gap not halved" in lines["e"]
    assert "/ 0.028 | no / no | neither |" in lines["f"] and "| no / yes |" in lines["d"]
    with pytest.raises(SystemExit):
        main([str(tmp_path / "reference"), "--misses-against", str(tmp_path / "wide"),
              "--dof", "0"])
    assert "--dof must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "reference"), str(tmp_path / "wide"), "--misses-against",
              str(tmp_path / "narrow")])
    assert "one reference folder" in capsys.readouterr().err


def test_experiments_option_restricts_the_count_and_the_family(tmp_path, capsys):
    """--experiments leaves the other experiments out of the counts and of Holm's family: a
    gap at p = 0.0093 (normal; 0.029 with t on 9 dof) is real among 2 cells with normal tails
    (≤ 0.05/2), not among 10 (> 0.05/10), nor with t tails."""
    _write(tmp_path / "ref", "cutoff-pruning",
           f"# c\n## Fig. 5\n{TABLE}| 0.1 | x | y | +2.6 ± 1 |\n| 0.2 | x | y | +0 ± 1 |\n")
    _write(tmp_path / "ref", "goal-pruning",
           f"# g\n## Fig. 6\n{TABLE}" + "".join(f"| {k} | x | y | +0 ± 1 |\n" for k in range(8)))
    _write(tmp_path / "other", "cutoff-pruning",
           f"# c\n## Fig. 5\n{TABLE}| 0.1 | x | y | +0 ± 1 |\n")
    args = [str(tmp_path / "ref"), "--misses-against", str(tmp_path / "other")]
    assert main(args) == 0
    assert "| all | 1 (0–0 real) |" in capsys.readouterr().out  # 10 cells in the family
    assert main([*args, "--experiments", "cutoff-pruning"]) == 0
    out = capsys.readouterr().out
    assert "| all | 1 (0–1 real) |" in out and "goal-pruning" not in out  # 2 cells
    assert main([str(tmp_path / "ref"), "--experiments", "goal-pruning"]) == 0
    assert "| all | 8/8 |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--experiments", "vs-nnsp"])
    assert "no summary of vs-nnsp" in capsys.readouterr().err
