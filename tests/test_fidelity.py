"""benchmarks.fidelity: reading paper cells and verdicts from reports, counting per level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.fidelity import (
    Arm,
    Cell,
    by_level,
    claim_verdicts,
    main,
    median_z,
    paired_closeness,
    paper_cells,
    unreached,
)

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


def test_agreement_is_pooled_per_factor_level():
    good, bad = Cell("e", "q", 0.0, 1.0), Cell("e", "q", 5.0, 1.0)
    results = {Arm("fast", "standard", "xavier-normal"): [good, bad],
               Arm("fast", "inverted", "xavier-normal"): [good, good],
               Arm("fast", "inverted", "kaiming-normal"): [bad]}
    levels = by_level(results)
    assert levels["encoding"] == {"standard": (1, 2), "inverted": (2, 3)}
    assert levels["init"] == {"xavier-normal": (3, 4), "kaiming-normal": (0, 1)}
    assert levels["protocol"] == {"fast": (3, 5)}
    assert levels["l2"] == {"half-all": (3, 5)}


def test_an_l2_arm_has_its_own_folder_and_the_old_arms_keep_theirs():
    from benchmarks.fidelity import DEFAULT_L2_FORM as MIRRORED
    from neuroplast.train.l2 import DEFAULT_L2_FORM

    assert MIRRORED == DEFAULT_L2_FORM
    assert Arm("medium", "inverted", "kaiming-normal").folder == "medium/inverted-kaiming-normal"
    arm = Arm("fast", "standard", "xavier-normal", "full-weights")
    assert arm.folder == "fast/standard-xavier-normal-l2-full-weights"
    assert not arm.is_default and not Arm("fast", "standard", "kaiming-normal").is_default
    assert Arm("fast", "standard", "kaiming-normal", "half-weights").is_default


def test_report_only_reuses_the_committed_reproductions(tmp_path):
    """The committed reproductions are arms: their runs are found under the same ids, and the
    report reads their paper cells without computing anything."""
    from benchmarks.fidelity import REPRODUCTION_ARM
    from neuroplast.experiments.options import REPRODUCTION_DEFAULTS

    assert REPRODUCTION_ARM[2:] == (REPRODUCTION_DEFAULTS["init"], REPRODUCTION_DEFAULTS["l2"])
    reproduction = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    assert main(["--encodings", "standard", "--experiments", "baseline-training",
                 "goal-pruning", "--l2-forms", "half-all", "half-weights", "--out",
                 str(tmp_path), "--reuse", str(reproduction), str(reproduction / "xavier-normal"),
                 str(reproduction / "kaiming-normal"), "--report-only"]) == 0
    text = (tmp_path / "fidelity.md").read_text()
    rows = {"xavier-normal | half-all | 0/1 (0%) | — | 20/37 (54%)",
            "kaiming-normal | half-all | 1/1 (100%) | — | 22/37 (59%)",
            "kaiming-normal | half-weights | 1/1 (100%) | — | 25/37 (68%)"}
    assert all(f"| fast | standard | {row} |" in text for row in rows)
    assert "xavier-normal-l2-half-weights" not in text  # nothing stored: left out
    # the reproduction's arm first, then in the order the levels were given
    assert "| goal-pruning | 7 (≈0.95) | inconclusive | inconclusive | confirmed |" in text
    for folder in ("standard-kaiming-normal", "standard-kaiming-normal-l2-half-weights"):
        assert len(list((tmp_path / "fast" / folder / "goal-pruning" / "runs")
                        .glob("*.json"))) == 10
    # the compute table sums the stored runs' own wall times
    walls = {name: sum(json.loads(p.read_text())["provenance"]["wall_s"]
                       for p in (reproduction / name / "runs").glob("*.json"))
             for name in ("baseline-training", "goal-pruning")}
    row = next(line for line in text.split("## Compute per arm")[1].splitlines()
               if line.startswith("| fast/standard-kaiming-normal-l2-half-weights |"))
    assert row == (f"| fast/standard-kaiming-normal-l2-half-weights | "
                   f"{walls['baseline-training']:,.0f} s (10) | — | {walls['goal-pruning']:,.0f} "
                   f"s (10) | — | — | {sum(walls.values()):,.0f} s (20) |")


def test_the_direction_of_misses_and_the_cells_no_arm_reaches():
    a, b = Arm("fast", "standard", "xavier-normal"), Arm("medium", "standard", "xavier-normal")
    results = {a: [Cell("e", "x", -6.0, 1.0), Cell("e", "y", 1.0, 1.0), Cell("f", "z", 0.0, 0.0)],
               b: [Cell("e", "x", -3.0, 1.0), Cell("e", "y", 9.0, 1.0)]}
    assert median_z(results) == {a: {"e": -2.5, "f": 0.0}, b: {"e": 3.0}}
    ((cell, arm),) = unreached(results)  # y is reached by a, z agrees exactly (0 ± 0)
    assert (cell.quantity, cell.difference, arm) == ("x", -3.0, b)
    assert Cell("e", "w", 1.0, 0.0).z == float("inf") and not Cell("e", "w", 1.0, 0.0).agrees


def test_arms_that_differ_in_one_factor_are_compared_cell_by_cell():
    x, k = Arm("fast", "standard", "xavier-normal"), Arm("fast", "standard", "kaiming-normal")
    inverted_k = Arm("fast", "inverted", "kaiming-normal")
    cells = [Cell("e", str(i), 0.0, 1.0) for i in range(10)]
    results = {x: [Cell("e", str(i), 3.0, 1.0) for i in range(10)],  # 3 s.e. off everywhere
               k: cells[:8] + [Cell("e", "8", 5.0, 1.0), Cell("e", "9", 3.0, 1.0)],
               inverted_k: cells[:3]}
    pairings = {(p.first, p.second): p for p in paired_closeness(results)}
    assert (x, inverted_k) not in pairings  # two factors differ
    first = pairings[(x, k)]
    assert (first.factor, first.cells, first.first_closer, first.second_closer) == (
        "init", 10, 1, 8)  # cell 9 ties
    assert first.p_value == pytest.approx(2 * (9 + 1) / 2**9)  # P[X ≥ 8], X ~ Bin(9, ½), × 2
    assert pairings[(k, inverted_k)].factor == "encoding"
    assert pairings[(k, inverted_k)].cells == 3


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
