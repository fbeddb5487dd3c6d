"""benchmarks.a2_rank: every A2 removal removes one direction of the consumer's
pre-activations, whatever the net (REFERENCE §1.8), so an m-wide consumer is constant after m."""

from __future__ import annotations

import torch

from benchmarks.a2_rank import markdown, measure
from neuroplast.data import Split
from neuroplast.models import initialize
from neuroplast.models.mlp import MLP


def test_each_a2_removal_loses_one_consumer_direction():
    torch.manual_seed(0)
    model = initialize(MLP([12, 8, 3, 4]), 1)  # hidden1 = 8 neurons, a 3-wide consumer
    x = torch.rand(500, 12)
    split = Split(x, model(x).argmax(dim=1))
    rows = measure(model, split, max_removed=4)
    assert [r["lost_directions"] for r in rows] == [0, 1, 2, 3, 3]
    assert [r["width"] for r in rows] == [8, 7, 6, 5, 4]
    assert rows[0]["train_accuracy"] == 1.0  # labels are the net's own predictions
    assert len({round(a, 12) for a in (rows[3]["train_accuracy"], rows[4]["train_accuracy"])}) \
        == 1  # a constant consumer: the same prediction for every input
    table = markdown(rows, seed=1)
    assert "| 3 | 5 |" in table and "σ3" in table
