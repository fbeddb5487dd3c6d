"""benchmarks.validation_selection: the net NetTrain would return given a validation set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import random_mlp

from benchmarks.validation_selection import (
    ValidationSelection,
    finished_seeds,
    first_prune,
    improves,
    stored_runs,
    write_seed,
)
from neuroplast.data import Split
from neuroplast.train import evaluate, get_protocol, train

WIDTHS = (8, 30, 4, 3)


def split(n: int, seed: int) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, WIDTHS[0], generator=g), torch.randint(0, 3, (n,), generator=g))


@pytest.mark.parametrize(("rule", "check", "expected"), [
    ("error-rate", (0.10, 0.50), True),   # a lower error rate wins whatever its loss
    ("error-rate", (0.20, 0.30), True),   # the same rate: the lower loss wins
    ("error-rate", (0.20, 0.40), False),  # equal on both: the earlier check stays
    ("error-rate", (0.30, 0.10), False),  # a higher rate loses whatever its loss
    ("loss", (0.30, 0.39), True),         # 11.x: the loss alone
    ("loss", (0.10, 0.40), False),
])
def test_rules_compare_a_check_with_the_best(rule, check, expected):
    assert improves(rule, *check, best_error=0.20, best_loss=0.40) is expected


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="error-rate, loss"):
        improves("accuracy", 0.1, 0.1, 0.2, 0.2)


def test_kept_nets_are_the_best_checks_and_training_is_unchanged():
    protocol = get_protocol("fast")
    data, validation = split(600, 1), split(400, 2)
    watched, plain = random_mlp(WIDTHS, seed=3).float(), random_mlp(WIDTHS, seed=3).float()
    selection = ValidationSelection(validation)
    train(watched, data, protocol, epochs=12, seed=5, callbacks=[selection], progress=False)
    train(plain, data, protocol, epochs=12, seed=5, progress=False)
    for a, b in zip(watched.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)  # checking the validation set does not touch training
    errors, losses = np.array(selection.errors), np.array(selection.losses)
    assert len(errors) == 12
    # independently: the earliest epoch of the lowest error, ties by loss; of the lowest loss
    by_error = int(np.lexsort((np.arange(12), losses, errors))[0]) + 1
    by_loss = int(np.lexsort((np.arange(12), losses))[0]) + 1
    for rule, epoch in (("error-rate", by_error), ("loss", by_loss)):
        kept = selection.best[rule]
        assert kept["epoch"] == epoch
        net = random_mlp(WIDTHS, seed=0).float()
        net.load_state_dict(kept["state"])
        result = evaluate(net, validation)
        assert 1.0 - result.accuracy == errors[epoch - 1]
        assert result.loss == losses[epoch - 1]


def test_first_prune_keeps_fewer_neurons_at_larger_cutoffs():
    model = random_mlp(WIDTHS, seed=6).float()
    record = first_prune(model, split(500, 1))
    widths = [row["remaining_neurons"] for row in record["cutoffs"]]
    assert widths == sorted(widths, reverse=True) and 1 <= widths[-1] and widths[0] <= 30
    assert record["max_efficiency"] > 0


def test_stored_runs_read_only_the_arms_baseline_runs(tmp_path):
    options = {"invert": True, "init": "lecun-normal", "l2": "half-weights"}

    def run(name, experiment, protocol, seed, run_options, loss):
        (tmp_path / f"{name}.json").write_text(json.dumps({
            "spec": {"experiment": experiment, "protocol": protocol, "seed": seed},
            "result": {"run_options": run_options, "test_loss": loss}}))

    run("a", "baseline-training", "paper", 0, options, 0.98)
    run("b", "baseline-training", "paper", 1, options | {"init": "kaiming-normal"}, 0.97)
    run("c", "baseline-training", "fast", 2, options, 0.96)
    run("d", "cutoff-pruning", "paper", 3, options, 0.95)
    assert stored_runs(tmp_path, "paper", options) == {0: {"test_loss": 0.98, "platform": None}}
    assert stored_runs(None, "paper", options) == {}


def test_finished_seeds_are_kept_per_arm(tmp_path):
    options = {"invert": True, "init": "lecun-normal", "l2": "half-weights"}
    write_seed(tmp_path, "paper", options, {"seed": 0, "value": 1})
    write_seed(tmp_path, "paper", options | {"init": "kaiming-normal"}, {"seed": 1, "value": 2})
    assert finished_seeds(tmp_path, "paper", options) == {0: {"seed": 0, "value": 1}}
    assert finished_seeds(tmp_path, "medium", options) == {}
