"""benchmarks/report_cells.py: the paper cells and claim verdicts read from a summary."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report_cells import claim_verdicts, paper_cells

SUMMARY = """# x: y

## Fig. 5

### Accuracy after pruning

| ε | ours (mean ± s.e.) | paper | ours − paper |
|---|---|---|---|
| 0.01 | 0.9760 ± 0.0004 | 0.9784 ± 0.0002 | -0.0024 ± 0.0004 |
| 0.03 | 0.9650 ± 0.0010 | 0.9660 ± 0.0010 | -0.0010 ± 0.0014 |
| 0.05 | 0.9 (n=1) | 0.96 | -0.06 (n=1) |
| 0.1 | 0.9 ± 0.1 | — | — |

| quantity | ours (s) | paper (s) | note |
|---|---|---|---|
| pruning | 1.0 ± 0.1 | 1.74 ± 0.11 | not comparable (hardware) |

## Claims

| claim | statement | verdict | statistic |
|---|---|---|---|
| 6 | Cutoff pruning is stable | **confirmed** | ... |
| 7 (≈0.97) | Cutoff beats accuracy goal | **not confirmed** | ... |
"""


def test_paper_cells_read_the_difference_and_its_combined_se():
    cells = paper_cells(SUMMARY, "cutoff-pruning")
    assert [(c.quantity, c.difference, c.se) for c in cells] == [
        ("Fig. 5 / Accuracy after pruning: 0.01", -0.0024, 0.0004),
        ("Fig. 5 / Accuracy after pruning: 0.03", -0.0010, 0.0014)]
    assert [c.agrees for c in cells] == [False, True]  # 6 s.e. off; within 1 s.e.


def test_claim_verdicts_come_from_the_claims_table_only():
    assert claim_verdicts(SUMMARY) == {"6": "confirmed", "7 (≈0.97)": "not confirmed"}


def test_a_claim_tested_per_network_keeps_every_row():
    """replication reports claim 18a once per network (N1, N2, N3) under one id."""
    rows = "".join(f"| 18a | on {net} | **{v}** | … |\n" for net, v in
                   (("N1", "confirmed"), ("N2", "inconclusive"), ("N3", "not confirmed")))
    text = f"# r\n## Claims\n| claim | statement | verdict | statistic |\n|---|---|---|---|\n{rows}"
    assert claim_verdicts(text) == {"18a": "confirmed", "18a #2": "inconclusive",
                                    "18a #3": "not confirmed"}


def test_every_difference_column_of_a_table_is_a_cell():
    """replication-shift compares three sets in one table, vs-nnsp two accuracies."""
    text = ("# r\n## Fig. 23\n| algorithm | peaked_at_3: ours | paper | ours − paper | "
            "peaked_at_1: ours | paper | ours − paper |\n|---|---|---|---|---|---|---|\n"
            "| B1 | 0.9 ± 0.1 | 0.8 | +0.1 ± 0.1 | 0.7 ± 0.1 | 0.2 | +0.5 ± 0.1 |\n")
    cells = paper_cells(text, "replication-shift")
    assert [(c.quantity, c.difference, c.agrees) for c in cells] == [
        ("Fig. 23: B1 (peaked_at_3)", 0.1, True), ("Fig. 23: B1 (peaked_at_1)", 0.5, False)]


def test_cells_of_tables_with_the_same_subtitle_under_different_figures_stay_apart():
    """untrained-pruning has "Accuracy after 5000 paper epochs" under Fig. 12 and Fig. 14."""
    reproduction = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    for summary in reproduction.glob("*/summary.md"):
        cells = paper_cells(summary.read_text(), summary.parent.name)
        names = [c.quantity for c in cells]
        assert len(names) == len(set(names)), summary
    table = "| q | ours | paper | ours − paper |\n|---|---|---|---|\n| 1 | 1 | 1 | +0 ± 1 |\n"
    text = f"# t\n## Fig. 12\n### A\n{table}\n## Fig. 14\n### A\n{table}\n### A\n{table}"
    assert [c.quantity for c in paper_cells(text, "e")] == [
        "Fig. 12 / A: 1", "Fig. 14 / A: 1", "Fig. 14 / A: 1 #2"]


def test_a_row_is_named_by_every_label_column_before_its_values():
    """replication-shift labels a row by method and stage; its first stage repeats per method,
    as in the paper's table, and is kept once per printing."""
    header = ("| algorithm | stage | a: ours | paper | ours − paper | b: ours | paper | "
              "ours − paper |\n|---|---|---|---|---|---|---|---|\n")
    rows = "".join(f"| {m} | {stage} | 1 ± 0 | 1 | +0 ± 1 | 1 ± 0 | 1 | +0 ± 1 |\n"
                   for m in ("B5", "B1") for stage in ("trained", "retrained"))
    names = [c.quantity for c in paper_cells(f"# r\n## Fig. 23\n{header}{rows}", "r")]
    assert names[:4] == ["Fig. 23: B5 / trained (a)", "Fig. 23: B5 / trained (b)",
                         "Fig. 23: B5 / retrained (a)", "Fig. 23: B5 / retrained (b)"]
    assert len(names) == len(set(names)) == 8


def test_difference_columns_without_a_quantity_to_their_left_are_named_by_position():
    header = "| ours − paper | ours − paper |\n|---|---|\n| +1 ± 1 | +5 ± 1 |\n"
    assert [c.quantity for c in paper_cells(f"# t\n## T\n{header}", "t")] == [
        "T: +1 ± 1 (column 1)", "T: +1 ± 1 (column 2)"]
