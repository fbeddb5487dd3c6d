"""The compression-frontier benchmark (benchmarks/frontier.py) on a tiny trained net.

The frontier scores each ranking once and continues one rule's removals from one kept width
to the next; these tests check that this gives exactly what ``prune(..., amount=n − K)``
gives, that the table has every method at every requested width, and the summaries (paired
margins, winners) against a direct computation.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch
from conftest import random_mlp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the root
    sys.path.insert(0, str(ROOT))

from benchmarks import frontier as fr  # noqa: E402
from neuroplast.data import Dataset, Split  # noqa: E402
from neuroplast.death import prune  # noqa: E402
from neuroplast.errors import NeuroplastError  # noqa: E402
from neuroplast.train import evaluate, get_protocol, train  # noqa: E402

WIDTHS = (9, 5, 2)
MEASURES = ("magnitude-l2", "taylor", "random:0", "nnsp:3")
"""nnsp:3 is refused on hidden1 (level right above the site): it must be skipped."""


@pytest.fixture(scope="module")
def tiny() -> tuple:
    """A 30-12-5-4 tanh net trained briefly on a random teacher's labels, and its data."""
    teacher = random_mlp((30, 16, 4), seed=7)
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(700, 30, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        y = teacher(x).argmax(dim=1)
    train_split, test_split = Split(x[:500], y[:500]), Split(x[500:], y[500:])
    model = random_mlp((30, 12, 5, 4), seed=1)
    protocol = get_protocol("fast")
    train(model, train_split, protocol, epochs=protocol.epochs(3000), seed=0, progress=False)
    result = fr.frontier(model, train_split, test_split, WIDTHS, MEASURES)
    return model, train_split, test_split, result


def test_every_method_is_reported_at_every_requested_width(tiny):
    model, _, _, result = tiny
    expected = [m.key for m in fr.methods_for(MEASURES) if m.measure != "nnsp:3"]
    assert list(result["results"]) == expected
    assert len(expected) == len(fr.OUR_METHODS) + 3 * len(fr.BASELINE_RULES)
    for per_width in result["results"].values():
        assert sorted(per_width, key=int) == sorted(str(w) for w in WIDTHS)
        for kept, metrics in per_width.items():
            assert metrics["width"] == int(kept)
            assert 0.0 <= metrics["train_accuracy"] <= 1.0
            assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert list(result["skipped"]) == ["nnsp:3"]
    assert "nnsp" in result["skipped"]["nnsp:3"]
    assert result["width"] == 12 == model.site("hidden1").width  # the model is not modified
    for order in result["orders"].values():
        assert len(order) == 12 - min(WIDTHS) and len(set(order)) == len(order)


def test_frontier_equals_prune_with_amount(tiny):
    """Every (rule, measure) at every width: the same metrics as prune() on a fresh copy."""
    model, train_split, test_split, result = tiny
    for key, per_width in result["results"].items():
        rule, measure = key.split("/", 1)
        for kept, metrics in per_width.items():
            pruned = copy.deepcopy(model)
            prune(pruned, "hidden1", train_split, rule=rule, measure=measure,
                  amount=12 - int(kept))
            on_train, on_test = evaluate(pruned, train_split), evaluate(pruned, test_split)
            assert metrics["train_accuracy"] == on_train.accuracy, (key, kept)
            assert metrics["test_accuracy"] == on_test.accuracy, (key, kept)
            assert metrics["train_loss"] == pytest.approx(on_train.loss, rel=1e-9, abs=1e-12)
            assert metrics["test_loss"] == pytest.approx(on_test.loss, rel=1e-9, abs=1e-12)


def test_paper_widths_give_amounts_100_minus_k():
    assert fr.WIDTHS == (80, 60, 40, 20)
    assert fr.check_widths([20, 80, 40, 60], 100) == (80, 60, 40, 20)


@pytest.mark.parametrize("widths", [[], [0], [12], [5, 5], [True], [4.0]])
def test_bad_widths_are_refused(tiny, widths):
    model, train_split, test_split, _ = tiny
    with pytest.raises(NeuroplastError):
        fr.frontier(model, train_split, test_split, widths, ())


def test_baseline_measures_cover_the_registry_on_n4():
    from neuroplast.efficiency import MEASURES as REGISTRY
    from neuroplast.models import build_mlp

    names = fr.baseline_measures(build_mlp("N4"))
    assert [n for n in names if n.startswith("nnsp")] == ["nnsp:4", "nnsp:5", "nnsp:6"]
    assert "random:0" in names
    bases = {n.partition(":")[0] for n in names}
    assert bases == {m.name for m in REGISTRY} - set(fr.PAPER_MEASURES) - set(fr.EXCLUDED)


def _records(table: dict[str, list[float]], width: int = 40) -> list[dict]:
    """Fake per-seed records: method key → one train accuracy per seed."""
    seeds = len(next(iter(table.values())))
    return [{"seed": s, "trained": {"train_accuracy": 0.9, "test_accuracy": 0.9},
             "results": {key: {str(width): {"train_accuracy": acc[s], "test_accuracy": acc[s]}}
                         for key, acc in table.items()}} for s in range(seeds)]


def test_winners_and_paired_margins_against_a_direct_computation():
    table = {"A1/connection": [0.80, 0.84, 0.83], "lstsq/covariance": [0.86, 0.85, 0.88],
             "none/taylor": [0.70, 0.79, 0.75], "A1/taylor": [0.87, 0.84, 0.90],
             "lstsq/taylor": [0.85, 0.86, 0.84]}
    methods = [fr.Method("A1", "connection", True), fr.Method("lstsq", "covariance", True),
               fr.Method("none", "taylor", False), fr.Method("A1", "taylor", False),
               fr.Method("lstsq", "taylor", False)]
    (row,) = fr.winners(_records(table), methods, [40], "train_accuracy")

    def margin(a, b):
        d = [x - y for x, y in zip(table[a], table[b], strict=True)]
        return statistics.mean(d), statistics.stdev(d) / len(d) ** 0.5

    assert row["winner"] == "A1/taylor" and row["runner_up"] == "lstsq/covariance"
    assert row["ours"] == "lstsq/covariance"
    assert row["baseline_none"] == "none/taylor"
    assert row["baseline_compensated"] == "A1/taylor" == row["baseline_any"]
    assert row["winner_margin"] == pytest.approx(margin("A1/taylor", "lstsq/covariance"))
    assert row["ours_minus_baseline_none"] == pytest.approx(
        margin("lstsq/covariance", "none/taylor"))
    assert row["ours_minus_baseline_any"] == pytest.approx(
        margin("lstsq/covariance", "A1/taylor"))
    (verdict,) = fr.goal_verdicts([row], "train_accuracy")
    assert "FAILS" in verdict


def test_stored_seeds_resume_only_for_the_same_configuration(tmp_path):
    journal = tmp_path / "frontier.jsonl"
    same, other = fr.config_key(fr.QUICK), fr.config_key(fr.FrontierConfig())
    journal.write_text("\n".join([
        json.dumps({"seed": 0, "config": same, "value": 1}),
        json.dumps({"seed": 1, "config": other, "value": 2}),
        json.dumps({"seed": 0, "config": same, "value": 3}),
        '{"seed": 2, "config": ',  # cut short by an interrupted write
    ]) + "\n")
    records = fr.read_records(journal, fr.QUICK)
    assert list(records) == [0] and records[0]["value"] == 3


def test_report_files_name_every_method_and_width(tiny, tmp_path):
    model, train_split, test_split, result = tiny
    records = []
    for seed in (0, 1):
        record = fr.frontier(model, train_split, test_split, WIDTHS, MEASURES[:2])
        records.append({"seed": seed, "seconds": 1.0, "train_seconds": 0.0,
                        "train_examples": train_split.n, "measures": list(MEASURES[:2])}
                       | record)
    config = fr.FrontierConfig(protocol="fast", widths=WIDTHS, measures=MEASURES[:2])
    dataset = Dataset("tiny", train_split, test_split, "synthetic")
    report = fr.summarise(records, config, dataset, "test")
    fr.write(report, records, tmp_path, "frontier")
    text = (tmp_path / "frontier.md").read_text()
    for method in fr.methods_for(MEASURES[:2]):
        assert f"| {'ours' if method.ours else 'baseline'} | {method.ranking} | {method.rule} |" \
            in text
    for width in WIDTHS:
        assert f"K = {width}" in text
    assert (tmp_path / "frontier.png").stat().st_size > 0
    stored = json.loads((tmp_path / "frontier.json").read_text())
    assert len(stored["rows"]) == 2 * len(WIDTHS)
    assert all(row["goal"] == "> 1" for row in stored["rows"])


def test_identical_rankings_are_grouped():
    records = [{"orders": {"a": [1, 2], "b": [1, 2], "c": [2, 1], "d": [1, 2]}},
               {"orders": {"a": [3, 0], "b": [3, 0], "c": [3, 0], "d": [0, 3]}}]
    assert fr.identical_rankings(records) == [["a", "b"]]


def test_goal_against_sliced_baselines_reads_the_none_column():
    table = {"lstsq/connection": [0.90, 0.91, 0.92], "none/taylor": [0.60, 0.70, 0.65],
             "lstsq/taylor": [0.93, 0.92, 0.94]}
    methods = [fr.Method("lstsq", "connection", True), fr.Method("none", "taylor", False),
               fr.Method("lstsq", "taylor", False)]
    rows = fr.winners(_records(table), methods, [40], "train_accuracy")
    (strict,) = fr.goal_verdicts(rows, "train_accuracy")
    (plain,) = fr.goal_verdicts(rows, "train_accuracy", "baseline_none")
    assert "FAILS" in strict and "lstsq/taylor" in strict
    assert "**met**" in plain and "none/taylor" in plain and "+0.2600" in plain
