"""benchmarks.cutoff_readings: Fig. 5's first prune under each reading of eq. 28."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import random_mlp

from benchmarks.cutoff_readings import (
    CUTOFFS,
    INPUT_NETS_CUTOFF,
    SEQUENTIAL,
    TEST_SET,
    compare,
    input_top_efficiencies,
    main,
    one_shot,
    prune_seed,
)
from neuroplast.data import Split
from neuroplast.efficiency import connection_cut_efficiency
from neuroplast.efficiency.readings import READINGS
from neuroplast.experiments.definitions.pruning_common import paper_cell
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.stats import collect_site_statistics

WIDTHS = (8, 30, 4, 3)


def split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, WIDTHS[0], generator=g), torch.randint(0, 3, (n,), generator=g))


def hand_a1_accuracy(model, data: Split, keep: np.ndarray) -> float:
    """Training accuracy after deleting hidden1's neurons outside ``keep`` and folding their
    means into the consumer's biases (A1, eq. 74), written with numpy."""
    x = data.x.double().numpy()
    w = [layer.weight.detach().double().numpy() for layer in model.layers]
    b = [layer.bias.detach().double().numpy() for layer in model.layers]
    h1 = np.tanh(x @ w[0].T + b[0])
    dead = np.setdiff1d(np.arange(h1.shape[1]), keep)
    bias = b[1] + w[1][:, dead] @ h1[:, dead].mean(axis=0)
    h2 = np.tanh(h1[:, keep] @ w[1][:, keep].T + bias)
    logits = h2 @ w[2].T + b[2]
    return float((logits.argmax(axis=1) == data.y.numpy()).mean())


def test_one_shot_rows_keep_what_the_efficiencies_say():
    model = random_mlp(WIDTHS, "tanh", seed=6).float()
    train, test = split(500, 1), split(300, 2)
    result = prune_seed(model, train, test)
    assert set(result) == set(READINGS) | {TEST_SET, SEQUENTIAL}
    for name, data in (("appendix", train), (TEST_SET, test)):
        stats = collect_site_statistics(model, "hidden1", data.x)
        efficiencies = connection_cut_efficiency(model, "hidden1", stats).numpy()
        assert np.isclose(result[name]["max_efficiency"], efficiencies.max(), rtol=1e-5)
        for row in result[name]["cutoffs"]:
            keep = np.flatnonzero(efficiencies >= row["cutoff"])
            if keep.size == 0:  # every neuron below: the most efficient one stays
                keep = np.array([efficiencies.argmax()])
            assert row["remaining_neurons"] == keep.size
            if name == "appendix":
                assert row["accuracy_after_pruning"] == hand_a1_accuracy(model, train, keep)
    assert result["appendix"]["differs_from_prune"] == []


def test_a_cutoff_above_every_efficiency_keeps_the_most_efficient_neuron():
    model = random_mlp(WIDTHS, "tanh", seed=8).float()
    train = split(300, 4)
    stats = collect_site_statistics(model, "hidden1", train.x)
    efficiencies = connection_cut_efficiency(model, "hidden1", stats)
    pruned, kept = one_shot(model, stats, efficiencies, cutoff=1e9)
    assert pruned.site("hidden1").width == 1
    assert kept == [int(efficiencies.argmax())]
    assert hand_a1_accuracy(model, train, np.array(kept)) == pytest.approx(
        float((pruned(train.x).argmax(dim=1) == train.y).double().mean()), abs=1e-12)


def test_input_efficiencies_are_taken_on_the_pruned_net():
    model = random_mlp(WIDTHS, "tanh", seed=7).float()
    train = split(400, 3)
    stats = collect_site_statistics(model, "hidden1", train.x)
    pruned, _ = one_shot(model, stats, connection_cut_efficiency(model, "hidden1", stats),
                         INPUT_NETS_CUTOFF)
    assert pruned.site("hidden1").width < WIDTHS[1]  # the check below is on a changed net
    top = input_top_efficiencies(model, train)
    assert set(top) == set(READINGS)
    input_stats = collect_site_statistics(pruned, "input", train.x)
    expected = float(connection_cut_efficiency(pruned, "input", input_stats).max())
    assert np.isclose(top["appendix"], expected, rtol=1e-5)
    assert np.isclose(top["site-pre-variance"], top["appendix"], rtol=1e-12)  # pre = post
    assert top["slope-not-squared"] >= top["appendix"]  # f' ≤ 1 for tanh


def test_compare_counts_cells_that_equal_the_paper_as_agreeing():
    table = paper_table("fig5")
    top = table.context["max_hidden_efficiency"].mean
    seed = {"max_efficiency": top,
            "cutoffs": [{"cutoff": c,
                         "remaining_neurons": paper_cell(table, "remaining_neurons",
                                                         cutoff=c).mean,
                         "accuracy_after_pruning": paper_cell(table, "accuracy_after_pruning",
                                                              cutoff=c).mean}
                        for c in CUTOFFS]}
    far = {"max_efficiency": 10 * top,
           "cutoffs": [dict(row, remaining_neurons=row["remaining_neurons"] + 20)
                       for row in seed["cutoffs"]]}
    names = list(READINGS) + [TEST_SET, SEQUENTIAL]
    per_seed = [{name: (far if name == "no-slope" else seed) for name in names}] * 3
    summary = {row["row"]: row for row in compare(per_seed)}
    assert summary["appendix"]["within_2se"] == summary["appendix"]["cells"] == 19
    assert np.isclose(summary["appendix"]["width_gap_sum"], 0.0, atol=1e-9)
    assert summary["no-slope"]["within_2se"] == 9  # only the accuracies agree
    assert np.isclose(summary["no-slope"]["width_gap_sum"], 20 * len(CUTOFFS))


def test_quick_run_writes_both_files(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("NEUROPLAST_TRAINED_CACHE", str(tmp_path / "elsewhere"))
    assert main(["--protocol", "quick", "--seeds", "2", "--out", str(tmp_path / "out"),
                 "--data", data_dir, "--trained-cache", str(tmp_path / "cache")]) == 0
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2  # the option wins
    assert not (tmp_path / "elsewhere").exists()
    (folder,) = (tmp_path / "out").iterdir()
    stored = json.loads((folder / "cutoff-readings.json").read_text())
    assert [b["seed"] for b in stored["base_nets"]] == [0, 1]
    assert len(stored["per_seed"]) == 2 and len(stored["summary"]) == len(READINGS) + 2
    text = (folder / "cutoff-readings.md").read_text()
    assert "| appendix, sequential removal |" in text and "| paper |" in text
    assert "top input efficiency" in text and len(stored["input_top_efficiency"]["per_seed"]) == 2


def test_workers_train_the_same_base_nets_and_momentum_other_ones(tmp_path, data_dir):
    """``--workers 2`` fills the cache side by side with the nets the seed loop would train
    (the reports' numbers are equal); ``--momentum`` trains other nets, into another folder."""
    def run(out: str, *extra: str) -> dict:
        assert main(["--protocol", "quick", "--seeds", "2", "--out", str(tmp_path / out),
                     "--data", data_dir, "--trained-cache", str(tmp_path / out / "cache"),
                     *extra]) == 0
        (folder,) = [f for f in (tmp_path / out).iterdir() if f.name != "cache"]
        return {"folder": folder.name,
                **json.loads((folder / "cutoff-readings.json").read_text())}

    alone, together = run("alone"), run("together", "--workers", "2")
    moved = run("moved", "--momentum", "0.9", "--workers", "2")
    assert together["per_seed"] == alone["per_seed"]
    assert [b["train_accuracy"] for b in together["base_nets"]] == \
        [b["train_accuracy"] for b in alone["base_nets"]]
    assert not any(b["from_cache"] for b in together["base_nets"])  # this run trained them
    again = run("together", "--workers", "2")
    assert all(b["from_cache"] for b in again["base_nets"])  # now found stored
    assert again["per_seed"] == alone["per_seed"]
    assert moved["folder"] == alone["folder"] + "-momentum-0.9"
    assert moved["options"]["momentum"] == 0.9
    assert [b["train_accuracy"] for b in moved["base_nets"]] != \
        [b["train_accuracy"] for b in alone["base_nets"]]


def test_trained_cache_option_overrides_the_variable_and_defaults_to_the_user_cache(
        tmp_path, monkeypatch):
    from benchmarks.run_arguments import use_trained_cache

    monkeypatch.setenv("NEUROPLAST_TRAINED_CACHE", str(tmp_path / "set"))
    assert use_trained_cache(None) == tmp_path / "set"  # the variable kept
    assert use_trained_cache(tmp_path / "given") == tmp_path / "given"  # the option wins
    monkeypatch.delenv("NEUROPLAST_TRAINED_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert use_trained_cache(None) == tmp_path / "home" / ".cache" / "neuroplast" / "trained"
