"""The paper's tables as package data, mean ± s.e. summaries, and the claims table.

The transcription test re-reads every table of REFERENCE.md §3.1 with its own small Markdown
parser and compares every printed cell with the JSON files, so a slip is caught; a few cells
are also checked against numbers typed here from the paper, which runs without REFERENCE.md.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import pytest

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.claims import (
    Claim,
    Verdict,
    claims_table,
    equivalence_verdict,
    for_protocol,
    reference_claim_text,
)
from neuroplast.experiments.paper_tables import (
    PaperValue,
    paper_table,
    reference_claims,
    table_names,
)
from neuroplast.experiments.stats_summary import (
    Summary,
    format_mean_se,
    markdown_table,
    paper_vs_ours_row,
    summarize,
    versus_paper,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "paper" / "REFERENCE.md"
FIGURES = [5, 6, 7, 9, 10, 12, 14, 15, 18, 22, 23]


def reference_text() -> str:
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} not found (the paper notes live beside the repository)")
    return REFERENCE.read_text(encoding="utf-8")


def reference_tables() -> dict[int, tuple[str, list[str], list[list[str]]]]:
    """Fig. number -> (text before the table, header cells, rows of cells), from §3.1."""
    text = reference_text()
    section = text[text.index("### 3.1"):text.index("### 3.2")]
    blocks: dict[int, tuple[list[str], list[str]]] = {}
    current = None
    for line in section.splitlines():
        start = re.match(r"\*\*Fig\. (\d+)\.\*\*", line)
        if start:
            current = int(start.group(1))
            blocks[current] = ([line], [])
        elif current is not None:
            caption, table = blocks[current]
            if line.startswith("|"):
                table.append(line)
            elif table:
                current = None  # the table ended
            else:
                caption.append(line)
    tables = {}
    for figure, (caption, table) in blocks.items():
        cells = [[c.strip() for c in line.strip()[1:-1].split("|")] for line in table]
        assert set("".join(cells[1])) <= set("-: "), "second line must be the separator"
        tables[figure] = ("\n".join(caption), cells[0], cells[2:])
    return tables


# --------------------------------------------------------------------------------------------
# Transcription
# --------------------------------------------------------------------------------------------


def test_every_figure_with_a_table_is_stored():
    assert table_names() == [f"fig{n}" for n in FIGURES]
    assert sorted(reference_tables()) == FIGURES


@pytest.mark.parametrize("figure", FIGURES)
def test_every_cell_matches_reference_md(figure):
    caption, headers, rows = reference_tables()[figure]
    table = paper_table(figure)
    assert table.figure == f"Fig. {figure}"
    assert [title for _, title in table.columns] == headers
    assert len(table.rows) == len(rows)
    for stored, printed in zip(table.rows, rows, strict=True):
        assert [stored[key].text for key, _ in table.columns] == printed
    for value in table.context.values():
        assert value.text in caption


@pytest.mark.parametrize("figure", FIGURES)
def test_parsed_means_and_errors_agree_with_the_printed_text(figure):
    for row in paper_table(figure).rows:
        for value in row.values():
            numbers = re.findall(r"[-+]?\d+\.?\d*", value.text)
            if value.mean is None:
                assert value.error is None
                continue
            assert value.mean == float(numbers[0])
            if "±" in value.text:
                assert len(numbers) == 2 and value.error == float(numbers[1])
            else:
                assert value.error is None and len(numbers) == 1


@pytest.mark.parametrize("figure, column, match, mean, error, text", [
    (5, "accuracy_after_pruning", {"cutoff": "0.01"}, 0.9784, 0.0002, "0.97840 ± 0.0002"),
    (5, "remaining_neurons_after_second_pruning", {"cutoff": "0.3"}, 11.00, 0.28,
     "11.00 ± 0.28"),
    (6, "iteration_time_s", {"accuracy_goal": "0.95", "row": "6"}, 65.7, 0.6, "65.7 ± 0.6"),
    (7, "remaining_inputs", {"input_cutoff": "0.01"}, 193.0, 4.0, "193. ± 4."),
    (7, "cutoff_over_max_efficiency", {"input_cutoff": "0.0001"}, 0.00231, 0.0,
     "0.00231 ± 0.0000"),
    (9, "accuracy_after_pruning", {"input_cutoff": "0.02"}, 0.1008, 0.0012, "0.1008 ± 0.0012"),
    (10, "accuracy_after_pruning", {"accuracy_goal": "0.95"}, 0.950102, 0.0001,
     "0.950102 ± 0.0001"),
    (12, "input_neurons", {"cut_percent": "0"}, 784.0, None, "784"),
    (14, "hidden_neurons", {"cut_percent": "5.0"}, 74.8, 1.1, "74.8 ± 1.1"),
    (15, "accuracy", {"method": "A1 1% cutoff"}, 0.756, 0.008, "0.756 ± 0.008"),
    (18, "pruning_time_s", {"algorithm": "NNSP(5)"}, 59.17, 0.08, "59.17 ± 0.08"),
    (22, "b1", {"stage": "After 1000 epochs retraining"}, 0.92313, 0.00026,
     "0.92313 ± 0.00026"),
    (23, "peaked_at_1", {"algorithm": "Random B4", "stage": "After 1000 epochs retraining"},
     0.9344, 0.0010, "0.9344 ± 0.0010"),
])
def test_cells_typed_from_the_paper(figure, column, match, mean, error, text):
    assert paper_table(figure).cell(column, **match) == PaperValue(mean, error, text)


def test_context_holds_the_caption_numbers():
    assert paper_table("Fig. 5").context["initial_accuracy"] == PaperValue(
        0.97981, 0.00023, "0.97981 ± 0.00023")
    assert paper_table("fig07").context["max_input_efficiency"].mean == 0.0432
    assert paper_table(22).context["initial_accuracy"].text == "0.91751 ± 0.00034"


def test_table_lookups_fail_with_a_message():
    with pytest.raises(NeuroplastError, match="no stored table 'fig8'"):
        paper_table(8)
    with pytest.raises(NeuroplastError, match="has no column 'accuracy'"):
        paper_table(5).column("accuracy")
    with pytest.raises(NeuroplastError, match="2 rows match"):
        paper_table(6).row(row="1")
    with pytest.raises(NeuroplastError, match="0 rows match"):
        paper_table(5).row(cutoff="0.5")


def test_claims_are_the_22_of_reference_section_4():
    claims = reference_claims()
    assert sorted(claims) == list(range(1, 23))
    text = reference_text()
    section = text[text.index("## 4. Claims"):text.index("## 5.")]
    titles = dict(re.findall(r"^(\d+)\. \*\*(.+?)\*\*", section, re.M))
    for number, claim in claims.items():
        assert titles[str(number)].rstrip(".,:") == claim.title
    assert reference_claim_text(6) == "Cutoff pruning is stable"


# --------------------------------------------------------------------------------------------
# Mean ± standard error
# --------------------------------------------------------------------------------------------


def test_summarize_is_the_mean_and_standard_error_of_the_mean():
    values = [0.9781, 0.9795, 0.9802, 0.9779, 0.9810]
    summary = summarize(values)
    assert summary.n == 5
    assert summary.mean == pytest.approx(statistics.fmean(values), abs=1e-15)
    assert summary.se == pytest.approx(statistics.stdev(values) / math.sqrt(5), rel=1e-12)
    assert summarize([0.5]) == Summary(0.5, None, 1)
    with pytest.raises(ValueError, match="empty"):
        summarize([])


@pytest.mark.parametrize("mean, se, digits, expected", [
    (0.97843, 0.00021, 4, "0.9784 ± 0.0002"),
    (0.97981, 0.00023, None, "0.97981 ± 0.00023"),
    (82.84, 0.71, None, "82.84 ± 0.71"),
    (193.2, 4.3, None, "193.2 ± 4.3"),
    (0.6715, None, None, "0.6715"),
    (0.5, 0.0, None, "0.5000 ± 0.0000"),
])
def test_format_mean_se(mean, se, digits, expected):
    assert format_mean_se(mean, se, digits) == expected


def test_one_seed_says_so():
    assert Summary(0.6715, None, 1).format() == "0.6715 (n=1)"


def test_paper_vs_ours_row_combines_the_errors_in_quadrature():
    paper = PaperValue(0.97981, 0.00023, "0.97981 ± 0.00023")
    ours = Summary(0.97900, 0.00030, 28)
    difference = versus_paper(ours, paper)
    assert difference.mean == pytest.approx(-0.00081)
    assert difference.se == pytest.approx(math.sqrt(0.0003**2 + 0.00023**2))
    assert paper_vs_ours_row("accuracy", ours, paper) == [
        "accuracy", "0.97900 ± 0.00030", "0.97981 ± 0.00023", "-0.00081 ± 0.00038"]
    assert paper_vs_ours_row("loss", ours, None)[2:] == ["—", "—"]
    assert paper_vs_ours_row("x", Summary(0.9, 0.01, 3), PaperValue(0.8, None, "0.8"))[3] == (
        "+0.100 ± 0.010")


def test_markdown_table_escapes_pipes():
    assert markdown_table(("a", "b"), [["x|y", 1]]) == "| a | b |\n|---|---|\n| x\\|y | 1 |"


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("difference, se, verdict", [
    (0.001, 0.001, Verdict.CONFIRMED),  # interval [-0.00096, 0.00296] inside ±0.005
    (-0.004, 0.001, Verdict.INCONCLUSIVE),  # interval reaches -0.00596
    (0.02, 0.001, Verdict.NOT_CONFIRMED),  # interval entirely above 0.005
    (-0.02, 0.001, Verdict.NOT_CONFIRMED),
    (0.0, None, Verdict.INCONCLUSIVE),  # one seed
    (0.0, math.nan, Verdict.INCONCLUSIVE),
])
def test_equivalence_verdict(difference, se, verdict):
    assert equivalence_verdict(difference, se, tolerance=0.005) is verdict


def test_smoke_test_protocols_make_verdicts_inconclusive_and_keep_the_statistic():
    claims = [Claim("6", "Cutoff pruning is stable", Verdict.CONFIRMED, "Δn = 0.1 ± 0.1")]
    assert for_protocol(claims, "fast") == claims
    (quick,) = for_protocol(claims, "quick")
    assert quick.verdict is Verdict.INCONCLUSIVE and quick.statistic.startswith("Δn = 0.1 ± 0.1")


def test_claims_table_renders_verdicts():
    table = claims_table([Claim("8", "Accuracy falls", Verdict.NOT_CONFIRMED, "ρ = 0.2")])
    assert table.splitlines()[2] == "| 8 | Accuracy falls | **not confirmed** | ρ = 0.2 |"
    assert "No claims" in claims_table([])
