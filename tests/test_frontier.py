"""The compression frontier: ``prune_to_widths`` and the experiment ``compression-frontier``.

The frontier scores each ranking once and continues one rule's removals from one kept width
to the next (:func:`neuroplast.death.frontier.prune_to_widths`); these tests check that this
gives exactly what ``prune(..., amount=n − K)`` gives, on the paper's MLP and on a discovered
conv model; that the table has every method at every requested width; the summaries (paired
margins, winners) against a direct computation; and that the experiment runs on the engine,
stores one run per seed and resumes without computing a stored seed again.
"""

from __future__ import annotations

import copy
import json
import statistics

import pytest
import torch
from conftest import random_mlp, reproduce_quick
from torch import nn

import neuroplast
from neuroplast.data import Split
from neuroplast.death import prune
from neuroplast.death.frontier import check_widths, prune_to_widths
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions import compression_frontier as cf
from neuroplast.experiments.definitions import frontier_methods as fm
from neuroplast.experiments.definitions import frontier_report as fr
from neuroplast.experiments.definitions import frontier_tables as ft
from neuroplast.train import evaluate, get_protocol, train

WIDTHS = (9, 5, 2)
MEASURES = ("magnitude-l2", "taylor", "random:0", "obs", "obs:greedy", "nnsp:3")
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
    result = cf.frontier_of(model, train_split, test_split, WIDTHS, MEASURES)
    return model, train_split, test_split, result


def test_every_method_is_reported_at_every_requested_width(tiny):
    model, _, _, result = tiny
    expected = [m.key for m in fm.methods_for(MEASURES) if m.measure != "nnsp:3"]
    assert list(result["results"]) == expected
    assert len(expected) == len(fm.OUR_METHODS) + 4 * len(fm.BASELINE_RULES) + 1
    assert "obs/obs:greedy" in expected and "lstsq/obs:greedy" not in expected
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


def small_cnn() -> nn.Module:
    """Two discovered sites: a conv site whose consumer has no bias, and a flatten site."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 5)).double().eval()


@pytest.mark.parametrize(("rule", "measure"), [
    ("A1", "connection"), ("lstsq", "conditional:greedy"), ("obs", "obs:greedy"),
    ("A3", "covariance"), ("none", "wanda-sp")])
def test_prune_to_widths_equals_prune_on_discovered_sites(rule, measure):
    model = small_cnn()
    x = torch.randn(40, 3, 8, 8, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    before = copy.deepcopy(model.state_dict())
    for site in neuroplast.find_sites(model, x[:2]):
        points = list(prune_to_widths(model, site, x, rule=rule, measure=measure,
                                      widths=[2, 5, 3]))
        assert [p.width for p in points] == [5, 3, 2]
        for point in points:
            reference = copy.deepcopy(model)
            (same,) = [s for s in neuroplast.find_sites(reference, x[:2]) if s.name == site.name]
            result = prune(reference, same, x, rule=rule, measure=measure,
                           amount=site.width - point.width)
            assert point.removed == result.removed
            assert torch.equal(point.model(x), reference(x)), (site.name, point.width)
    after = model.state_dict()  # the caller's model is untouched (no bias added either)
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_paper_widths_give_amounts_100_minus_k():
    assert cf.WIDTHS == (80, 60, 40, 20)
    assert check_widths([20, 80, 40, 60], 100) == (80, 60, 40, 20)


@pytest.mark.parametrize("widths", [[], [0], [12], [5, 5], [True], [4.0]])
def test_bad_widths_are_refused(tiny, widths):
    model, train_split, test_split, _ = tiny
    with pytest.raises(NeuroplastError):
        cf.frontier_of(model, train_split, test_split, widths, ())


def test_baseline_measures_cover_the_registry_on_n4():
    from neuroplast.efficiency import MEASURES as REGISTRY
    from neuroplast.models import build_mlp

    names = fm.baseline_measures(build_mlp("N4"))
    assert [n for n in names if n.startswith("nnsp")] == ["nnsp:4", "nnsp:5", "nnsp:6"]
    assert "random:0" in names and "obs:greedy" in names and "flap" in names
    bases = {n.partition(":")[0] for n in names}
    assert bases == {m.name for m in REGISTRY} - set(fm.PAPER_MEASURES) - set(fm.EXCLUDED)
    (config,) = cf.configs(get_protocol("fast"))
    assert config["measures"] == names and config["widths"] == [80, 60, 40, 20]


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
    methods = [ft.Method("A1", "connection", True), ft.Method("lstsq", "covariance", True),
               ft.Method("none", "taylor", False), ft.Method("A1", "taylor", False),
               ft.Method("lstsq", "taylor", False)]
    (row,) = ft.winners(_records(table), methods, [40], "train_accuracy")

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
    (verdict,) = ft.goal_verdicts([row], "train_accuracy")
    assert "FAILS" in verdict


def test_identical_rankings_are_grouped():
    records = [{"orders": {"a": [1, 2], "b": [1, 2], "c": [2, 1], "d": [1, 2]}},
               {"orders": {"a": [3, 0], "b": [3, 0], "c": [3, 0], "d": [0, 3]}}]
    assert ft.identical_rankings(records) == [["a", "b"]]


def test_goal_against_sliced_baselines_reads_the_none_column():
    table = {"lstsq/connection": [0.90, 0.91, 0.92], "none/taylor": [0.60, 0.70, 0.65],
             "lstsq/taylor": [0.93, 0.92, 0.94]}
    methods = [ft.Method("lstsq", "connection", True), ft.Method("none", "taylor", False),
               ft.Method("lstsq", "taylor", False)]
    rows = ft.winners(_records(table), methods, [40], "train_accuracy")
    (strict,) = ft.goal_verdicts(rows, "train_accuracy")
    (plain,) = ft.goal_verdicts(rows, "train_accuracy", "baseline_none")
    assert "FAILS" in strict and "lstsq/taylor" in strict
    assert "**met**" in plain and "none/taylor" in plain and "+0.2600" in plain


def test_experiment_runs_on_the_engine_resumes_and_reports(tmp_path, data_dir):
    """One quick seed through ``neuroplast reproduce``: one stored run with every method at
    every width; the same command again computes nothing; the report names every method."""
    (record,) = reproduce_quick("compression-frontier", tmp_path, data_dir)
    result, config = record["result"], record["spec"]["config"]
    assert config["widths"] == list(cf.QUICK_WIDTHS)
    assert sorted(result["results"]) == sorted(m.key for m in fm.methods_for(config["measures"]))
    (path,) = (tmp_path / "compression-frontier" / "runs").glob("*.json")
    stamp = path.stat().st_mtime_ns
    assert reproduce_quick("compression-frontier", tmp_path, data_dir) == [record]
    assert path.stat().st_mtime_ns == stamp  # resumed: not computed (or written) again
    folder = tmp_path / "compression-frontier"
    text = (folder / "summary.md").read_text()
    for method in fm.methods_for(config["measures"]):
        assert f"| {'ours' if method.ours else 'baseline'} | {method.ranking} | {method.rule} |" \
            in text
    assert (folder / "frontier.png").stat().st_size > 0
    stored = json.loads((folder / "frontier.json").read_text())
    assert len(stored["rows"]) == 2 * len(cf.QUICK_WIDTHS)
    assert [r["seed"] for r in stored["records"]] == [0]


def test_report_refuses_a_json_file_it_did_not_write(tmp_path):
    (tmp_path / "frontier.json").write_text("{}")
    with pytest.raises(NeuroplastError, match="not written by neuroplast"):
        fr.write_report([{"config": {}, "protocol": "quick"}], tmp_path, command="x",
                        summary=True)
