"""benchmarks.fidelity: reading paper cells and verdicts from reports, counting per level."""

from __future__ import annotations

from pathlib import Path

from benchmarks.fidelity import Arm, Cell, by_level, claim_verdicts, main, paper_cells

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
        ("Accuracy after pruning: 0.01", -0.0024, 0.0004),
        ("Accuracy after pruning: 0.03", -0.0010, 0.0014)]
    assert [c.agrees for c in cells] == [False, True]  # 6 s.e. off; within 1 s.e.


def test_claim_verdicts_come_from_the_claims_table_only():
    assert claim_verdicts(SUMMARY) == {"6": "confirmed", "7 (≈0.97)": "not confirmed"}


def test_agreement_is_pooled_per_factor_level():
    good, bad = Cell("e", "q", 0.0, 1.0), Cell("e", "q", 5.0, 1.0)
    results = {Arm("fast", "standard", "xavier-normal"): [good, bad],
               Arm("fast", "inverted", "xavier-normal"): [good, good],
               Arm("fast", "inverted", "kaiming-normal"): [bad]}
    levels = by_level(results)
    assert levels["encoding"] == {"standard": (1, 2), "inverted": (2, 3)}
    assert levels["init"] == {"xavier-normal": (3, 4), "kaiming-normal": (0, 1)}
    assert levels["protocol"] == {"fast": (3, 5)}


def test_report_only_reuses_the_committed_default_arm(tmp_path):
    """The default fast arm is the committed reproduction: its runs are found under the same
    ids, and the report reads its paper cells without computing anything."""
    reproduction = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    assert main(["--encodings", "standard", "--inits", "xavier-normal", "--experiments",
                 "baseline-training", "cutoff-pruning", "--out", str(tmp_path), "--reuse",
                 str(reproduction), "--report-only"]) == 0
    text = (tmp_path / "fidelity.md").read_text()
    assert "| fast | standard | xavier-normal | 0/1 (0%) | 8/47 (17%) |" in text
    assert "| cutoff-pruning | 6 | confirmed |" in text
