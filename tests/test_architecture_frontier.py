"""The architecture frontier end to end on a tiny registered CNN (``architecture_fixtures``).

Two seeds, two ratios, four methods (ours E_k + A1; FLAP with its global allocation; random;
and E_k with unit consumer gain + A1 under the same allocation, labelled ours — numerically
FLAP) plus one method the model refuses (tp-bn-scale: no BatchNorm). The tests read the
stored runs and ``architectures.json``: its exact schema, the families, that the FLAP rows
equal the unit-gain rows and the library's ``flap_prune``, that a rerun computes nothing
stored and a new seed only itself, and the Markdown.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from conftest import register_tiny_cnn

import neuroplast
from neuroplast.efficiency.baselines.flap import flap_prune
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import run_sweep
from neuroplast.experiments.architectures import (
    ARCHITECTURES_ENV_VAR,
    ArchitectureSpec,
    get_architecture,
)
from neuroplast.experiments.definitions.architecture_frontier import (
    FrontierConfigs,
    architecture_frontier,
)
from neuroplast.experiments.definitions.architecture_methods import DEFAULT_METHODS, ArchMethod
from neuroplast.experiments.definitions.architecture_report import (
    MODEL_KEYS,
    ROW_KEYS,
    write_report,
)
from neuroplast.train import get_protocol

RATIOS = (0.3, 0.5)
FLAP = ArchMethod("flap (global)", "baseline", "A1", "flap", "global")
UNIT_GAIN = ArchMethod("E_k with unit gain + A1 (global)", "ours", "A1", "flap", "global")
METHODS = (ArchMethod("E_k + A1", "ours", "A1", "connection"), FLAP,
           ArchMethod("random", "baseline", "none", "random:0"), UNIT_GAIN,
           ArchMethod("tp-bn-scale", "baseline", "none", "tp-bn-scale"))


def _environment(patch: pytest.MonkeyPatch, log: Path) -> None:
    register_tiny_cnn(patch, log)


def _sweep(out: Path, seeds: int) -> list[dict]:
    experiment = architecture_frontier(["tiny-cnn"], ratios=RATIOS, methods=METHODS,
                                       finetune_steps=3)
    return run_sweep(experiment, protocol="fast", seeds=seeds, out_dir=out, progress=False)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The sweep (2 seeds), its report, and the executions log."""
    root = tmp_path_factory.mktemp("architectures")
    with pytest.MonkeyPatch.context() as patch:
        _environment(patch, root / "executions.log")
        records = _sweep(root / "runs", 2)
        write_report(records, root / "docs", summary=False, command="test")
    return root, records


def test_architectures_json_has_exactly_the_schema(swept):
    root, records = swept
    data = json.loads((root / "docs" / "architectures.json").read_text())
    assert list(data) == ["models"] and list(data["models"]) == ["tiny-cnn"]
    model = data["models"]["tiny-cnn"]
    assert tuple(model) == MODEL_KEYS
    assert model["metric"] == "accuracy" and model["higher_is_better"] is True
    assert model["dense"] == pytest.approx(sum(r["result"]["dense"] for r in records) / 2)
    rows = model["rows"]
    assert len(rows) == 2 * 4 * len(RATIOS) * 2  # seeds × methods that ran × ratios × fine-tune
    for row in rows:
        assert tuple(row) == ROW_KEYS
        assert isinstance(row["method"], str) and row["family"] in ("ours", "baseline")
        assert isinstance(row["ratio"], float) and isinstance(row["finetune"], bool)
        assert isinstance(row["seed"], int) and isinstance(row["value"], float)
        assert 0.0 <= row["value"] <= 1.0 and row["seconds"] > 0
    families = {(row["method"], row["family"]) for row in rows}
    assert families == {("E_k + A1", "ours"), ("flap (global)", "baseline"),
                        ("random", "baseline"), ("E_k with unit gain + A1 (global)", "ours")}
    assert {(r["seed"], r["ratio"], r["finetune"]) for r in rows} == {
        (s, r, f) for s in (0, 1) for r in RATIOS for f in (False, True)}


def test_a_method_the_model_refuses_is_skipped_with_its_reason(swept):
    _, records = swept
    for record in records:
        assert "BatchNorm" in record["result"]["skipped"]["tp-bn-scale"] or \
            "no importance" in record["result"]["skipped"]["tp-bn-scale"]
        assert list(record["result"]["sites"].values()) == [6, 8]


def _values(records: list[dict], method: str) -> dict[tuple, float]:
    return {(r["spec"]["seed"], row["ratio"], row["finetune"]): row["value"]
            for r in records for row in r["result"]["rows"] if row["method"] == method}


def test_flap_equals_e_k_with_unit_gain_and_the_library_procedure(swept, tmp_path):
    _, records = swept
    flap = _values(records, FLAP.name)
    assert flap == _values(records, UNIT_GAIN.name) and len(flap) == 8
    for record in records:  # the pruned widths are FLAP's allocation, not uniform ones
        (row,) = [r for r in record["result"]["rows"]
                  if r["method"] == FLAP.name and r["ratio"] == 0.5 and not r["finetune"]]
        with pytest.MonkeyPatch.context() as patch:
            _environment(patch, tmp_path / "unused.log")
            spec = get_architecture("tiny-cnn")
            model, train, val = spec.train_or_load(record["spec"]["seed"], None)
        batches = list(spec.calibration(train))
        reference = copy.deepcopy(model)
        results = flap_prune(reference, neuroplast.find_sites(reference, batches[0][0][:2]),
                             batches, ratio=0.5)
        assert row["kept"] == {r.site: r.width_after for r in results}
        assert row["value"] == spec.evaluate(reference, val)
        assert row["parameters"] == results[-1].parameters_after < record["result"]["parameters"]


def test_the_uniform_allocation_removes_the_ratio_of_every_site(swept):
    _, records = swept
    for record in records:
        for row in record["result"]["rows"]:
            if row["method"] == "E_k + A1":
                assert row["kept"] == {"0": 6 - round(6 * row["ratio"]),
                                       "3": 8 - round(8 * row["ratio"])}


def test_a_rerun_computes_nothing_stored_and_a_new_seed_only_itself(swept, monkeypatch):
    root, records = swept
    log = root / "executions.log"
    assert sorted(log.read_text().split()) == ["0", "1"]
    _environment(monkeypatch, log)
    assert _sweep(root / "runs", 2) == records
    assert sorted(log.read_text().split()) == ["0", "1"]  # nothing recomputed
    again = _sweep(root / "runs", 3)
    assert sorted(log.read_text().split()) == ["0", "1", "2"]
    assert again[:2] == records and again[2]["spec"]["seed"] == 2


def test_stored_records_report_what_is_there_and_compute_nothing(swept, monkeypatch):
    """``--report-only``: the stored runs of the requested seeds, in run order; a seed never
    run is simply absent (nothing is trained for it)."""
    from neuroplast.experiments.runner import stored_records

    root, records = swept
    log = root / "executions.log"
    before = log.read_text()
    _environment(monkeypatch, log)
    experiment = architecture_frontier(["tiny-cnn"], ratios=RATIOS, methods=METHODS,
                                       finetune_steps=3)
    found = stored_records(experiment, protocol="fast", seeds=[1, 0, 7], out_dir=root / "runs")
    assert [r["spec"]["seed"] for r in found] == [1, 0]
    assert found == [records[1], records[0]]
    assert log.read_text() == before


def test_markdown_has_both_tables_the_cost_and_the_figure(swept):
    root, _ = swept
    text = (root / "docs" / "architectures.md").read_text()
    assert "## tiny-cnn" in text and "### Without fine-tuning" in text
    assert "### After fine-tuning (3 steps)" in text and "### Cost" in text
    assert "### Parameters left" in text
    for method in ("E_k + A1", "flap (global)", "random"):
        assert f"| {method} |" in text
    assert "| family | method | ratio 0.3 | ratio 0.5 |" in text
    assert "Skipped `tp-bn-scale`" in text
    assert (root / "docs" / "architectures.png").stat().st_size > 0


def test_default_methods_are_labelled_and_named_by_family():
    ours = [m for m in DEFAULT_METHODS if m.family == "ours"]
    baselines = [m for m in DEFAULT_METHODS if m.family == "baseline"]
    assert [(m.rule, m.measure) for m in ours] == [
        ("A1", "connection"), ("lstsq", "connection"), ("lstsq", "conditional:greedy"),
        ("A3", "covariance")]
    markers = ("flap", "wanda", "obs", "tp-")
    for method in ours:
        assert not any(marker in method.name for marker in markers)
    named = {marker: [m.name for m in baselines if marker in m.name] for marker in markers}
    assert all(named.values()), named
    (flap,) = [m for m in baselines if "flap" in m.name]
    assert (flap.rule, flap.measure, flap.allocation) == ("A1", "flap", "global")
    assert len({m.name for m in DEFAULT_METHODS}) == len(DEFAULT_METHODS)


@pytest.mark.parametrize("arguments", [
    dict(family="theirs"), dict(allocation="layerwise"),
    dict(rule="A1", measure="conditional:greedy"),
    dict(rule="lstsq", measure="conditional:greedy", allocation="global")])
def test_bad_methods_are_refused(arguments):
    with pytest.raises(NeuroplastError):
        ArchMethod(**({"name": "m", "family": "ours", "rule": "A1", "measure": "connection"}
                      | arguments))


def test_specs_check_their_metric():
    from architecture_fixtures import TINY

    with pytest.raises(NeuroplastError, match="metric"):
        ArchitectureSpec(**(vars(TINY) | {"metric": "loss"}))
    with pytest.raises(NeuroplastError, match="lower-is-better"):
        ArchitectureSpec(**(vars(TINY) | {"metric": "perplexity"}))


def test_without_registered_architectures_the_sweep_says_how_to_register(monkeypatch):
    monkeypatch.delenv(ARCHITECTURES_ENV_VAR, raising=False)
    with pytest.raises(NeuroplastError, match=ARCHITECTURES_ENV_VAR):
        FrontierConfigs()(get_protocol("fast"))
    monkeypatch.setenv(ARCHITECTURES_ENV_VAR, "architecture_fixtures")
    with pytest.raises(NeuroplastError, match="module:attribute"):
        get_architecture("tiny-cnn")


def test_quick_protocol_shrinks_ratios_and_budget(monkeypatch):
    monkeypatch.setenv(ARCHITECTURES_ENV_VAR, "architecture_fixtures:TINY")
    (quick,) = FrontierConfigs(finetune_steps=100)(get_protocol("quick"))
    (full,) = FrontierConfigs()(get_protocol("fast"))
    assert quick["ratios"] == [0.3, 0.7] and quick["finetune_steps"] == 5
    assert full["ratios"] == [0.1, 0.3, 0.5, 0.7] and full["finetune_steps"] == 3
    assert [ArchMethod.from_config(m) for m in full["methods"]] == list(DEFAULT_METHODS)


def test_a_bias_added_to_a_later_sites_producer_is_sliced_with_it(monkeypatch):
    """VGG's pattern: bias-free convs followed by BatchNorm. Rule A1 gives the first site's
    consumer a zero bias; that conv produces the second site, which must slice the new bias
    (its site object, found before the bias existed, is found again), or every bias is added
    up front (``with_consumer_biases``, as the experiment does once per model). Same result
    as pruning site by site with sites found afresh each time."""
    from torch import nn

    from neuroplast.death import prune
    from neuroplast.experiments.definitions import architecture_methods as am
    from neuroplast.experiments.definitions.architecture_methods import (
        apply_method,
        with_consumer_biases,
    )

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6),
                          nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1, bias=False),
                          nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 5)).double().eval()
    x = torch.randn(30, 3, 4, 4, dtype=torch.float64)
    method = ArchMethod("m", "ours", "A1", "connection")
    reference = copy.deepcopy(model)
    sites = neuroplast.find_sites(model, x[:2])
    biased, biased_sites = with_consumer_biases(model, sites, [x])
    assert model[3].bias is None and biased[3].bias is not None  # a copy
    assert torch.equal(biased(x), model(x))
    pruned = apply_method(model, sites, [x], method, 0.5)  # finds site "3" again mid-way
    assert [s.width for s in pruned] == [3, 4] and model[3].bias.shape == (4,)
    for name in ("0", "3"):
        (site,) = [s for s in neuroplast.find_sites(reference, x[:2]) if s.name == name]
        prune(reference, site, [x], rule="A1", measure="connection", amount=site.width // 2)
    assert torch.equal(model(x), reference(x))
    with monkeypatch.context() as patch:  # prepared once: nothing to find again
        patch.setattr(am, "find_sites", None)
        apply_method(biased, biased_sites, [x], method, 0.5)
    assert torch.equal(biased(x), reference(x))


def test_a_method_that_crashes_is_recorded_as_failed_and_the_others_run(tmp_path, monkeypatch):
    from neuroplast.experiments.definitions import architecture_frontier as af

    original = af.apply_method

    def crash_random(model, sites, data, method, ratio, forward=None):
        if method.name == "random":
            raise TypeError("inside a third-party library")
        return original(model, sites, data, method, ratio, forward)

    monkeypatch.setattr(af, "apply_method", crash_random)
    _environment(monkeypatch, tmp_path / "log")
    (record,) = run_sweep(architecture_frontier(["tiny-cnn"], ratios=(0.5,), methods=METHODS[:3],
                                                finetune_steps=1),
                          protocol="fast", seeds=1, out_dir=tmp_path / "runs", progress=False)
    assert record["result"]["failed"] == {"random": "TypeError: inside a third-party library"}
    assert {row["method"] for row in record["result"]["rows"]} == {"E_k + A1", "flap (global)"}
    write_report([record], tmp_path / "docs", summary=False)
    assert "**Failed** `random`: TypeError" in (tmp_path / "docs" / "architectures.md").read_text()


def test_headline_pairs_the_best_of_each_family_seed_by_seed():
    """Best = best mean within a family; the difference is paired over seeds, signed so that
    positive is better (perplexity: lower), with a verdict only beyond 2 s.e."""
    from neuroplast.experiments.definitions.architecture_report import headline_rows

    def rows(method, family, values, ratio=0.5):
        return [{"method": method, "family": family, "ratio": ratio, "finetune": False,
                 "seed": seed, "value": value, "seconds": 1.0}
                for seed, value in enumerate(values)]

    exported = {"models": {
        "a-cnn": {"metric": "accuracy", "higher_is_better": True, "dense": 0.99,
                  "rows": rows("ours-1", "ours", [0.90, 0.92, 0.91])
                  + rows("ours-2", "ours", [0.95, 0.97, 0.96])
                  + rows("base-1", "baseline", [0.80, 0.81, 0.82])
                  + rows("base-2", "baseline", [0.94, 0.96, 0.98])},
        "b-llama": {"metric": "perplexity", "higher_is_better": False, "dense": 3.0,
                    "rows": rows("ours-1", "ours", [4.0, 4.2, 4.4])
                    + rows("base-1", "baseline", [5.0, 5.3, 5.5])}}}
    (cnn, llama) = headline_rows(exported)
    assert cnn[3].startswith("ours-2: 0.9600") and cnn[4].startswith("base-2: 0.9600")
    # paired differences 0.01, 0.01, -0.02: mean 0, within 2 s.e.
    assert cnn[5].startswith("0.0000") and cnn[6] == "level"
    diffs = [1.0, 1.1, 1.1]  # baseline − ours for perplexity: positive = ours better
    mean = sum(diffs) / 3
    assert llama[5].startswith(f"{mean:.3f}") and llama[6] == "ours ahead"
