"""A goal strategy on a model without a cached downstream refuses targets and evaluations it
cannot use, with a message saying what to give, before torch fails on them (and leaves the
model as it was); a one-element tensor from evaluate is taken as its number."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.errors import NeuroplastError
from neuroplast.sites import linear_site


def ffn() -> tuple[nn.Sequential, neuroplast.Site]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    return model, linear_site("ffn", producer=model[0], consumer=model[2], activation="tanh")


def x_and_classes(n: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()


def targets(kind: str) -> torch.Tensor:
    _, y = x_and_classes()
    return {"float": y.double(), "one-hot": nn.functional.one_hot(y, 3),
            "out of range": y + 2, "negative": y - 1, "bool": y > 0}[kind]


@pytest.mark.parametrize(("kind", "message"), [
    ("float", r"needs integer class indices as targets, got torch.float64 targets"),
    ("bool", r"needs integer class indices as targets, got torch.bool"),
    ("one-hot", r"one class index per row of the model's logits: 120 rows of 3 classes, but "
                r"360 targets \(shape \(120, 3\)\)"),
    ("out of range", r"outside the model's 3 classes \(targets from 2 to 4\)"),
    ("negative", r"outside the model's 3 classes \(targets from -1 to 1\)"),
])
def test_targets_the_default_evaluation_cannot_use_are_refused(kind, message):
    model, site = ffn()
    x, _ = x_and_classes()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match=message):
        neuroplast.prune(model, site, [(x, targets(kind))], goal_accuracy=0.3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("returned", "message"), [
    (0.9, r"must return a pair \(accuracy, loss\).*it returned 0.9"),
    ((0.9,), r"must return a pair \(accuracy, loss\).*it returned \(0.9,\)"),
    (("high", 0.1), r"returned 'high' as the accuracy: give a number"),
    ((0.9, True), r"returned True as the loss: give a number"),
    ((torch.ones(2), 0.1), r"as the accuracy: give a number"),
])
def test_an_evaluate_that_returns_no_pair_of_numbers_is_refused(returned, message):
    model, site = ffn()
    x, _ = x_and_classes()
    with pytest.raises(NeuroplastError, match=message):
        neuroplast.prune(model, site, x, goal_accuracy=0.5, evaluate=lambda m: returned)


def test_an_evaluate_returning_one_element_tensors_is_the_same_as_floats():
    x, y = x_and_classes()

    def accuracy(model: nn.Module) -> torch.Tensor:
        with torch.no_grad():
            return (model(x).argmax(1) == y).double().mean()

    as_tensors, site_t = ffn()
    as_floats, site_f = ffn()
    got = neuroplast.prune(as_tensors, site_t, x, goal_accuracy=0.6,
                           evaluate=lambda m: (accuracy(m), None))
    want = neuroplast.prune(as_floats, site_f, x, goal_accuracy=0.6,
                            evaluate=lambda m: (float(accuracy(m)), None))
    assert got.removed == want.removed and got.accuracy == want.accuracy


def test_numpy_numbers_from_evaluate_are_numbers():
    import numpy as np

    model, site = ffn()
    x, _ = x_and_classes()
    result = neuroplast.prune(model, site, x, goal_accuracy=0.5,
                              evaluate=lambda m: (np.float32(0.9), np.int64(0)))
    assert result.accuracy == pytest.approx(0.9)


def test_int32_targets_and_ignored_rows_are_taken_as_cross_entropy_takes_them():
    """int32 class indices (torch.from_numpy) work; rows labelled -100 are left out of both
    the accuracy and the loss, as F.cross_entropy's ignore_index leaves them out."""
    from neuroplast.death.evaluation import classification_evaluator

    model, _ = ffn()
    x, y = x_and_classes()
    ignored = y.clone()
    ignored[::3] = -100
    keep = ignored != -100
    accuracy, loss = classification_evaluator([(x, ignored.int())])(model)
    with torch.no_grad():
        logits = model(x)[keep]
    assert accuracy == pytest.approx(float((logits.argmax(1) == y[keep]).double().mean()))
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits.float(), y[keep])),
                                 rel=1e-6)
    with pytest.raises(NeuroplastError, match="every target is -100"):
        classification_evaluator([(x, torch.full_like(y, -100))])(model)
