"""A measurement puts the user's model in evaluation mode and gives every module its own
train/eval flag back: ``model.train(was_training)`` set each submodule to the root's flag, so
a BatchNorm or Dropout the user froze with ``.eval()`` inside a training model came back in
training mode (a hostile user's pass, 2026-12-07)."""

from __future__ import annotations

import torch
from torch import nn

import neuroplast
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.stats import collect_site_statistics


def _mixed_model() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(8, 3)).train()
    model[1].eval()  # a frozen BatchNorm
    model[3].eval()  # dropout off
    return model


def _flags(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


def test_enter_and_restore_give_each_module_its_own_flag():
    model = _mixed_model()
    before = _flags(model)
    modes = enter_evaluation(model)
    assert not any(_flags(model))
    restore_modes(modes)
    assert _flags(model) == before == [True, True, False, True, False, True]


def test_discovery_statistics_and_pruning_leave_every_module_s_mode_as_it_was():
    model = _mixed_model()
    before = _flags(model)
    x = torch.randn(64, 4)
    site = neuroplast.find_sites(model, x[:2])[0]
    assert _flags(model) == before
    collect_site_statistics(model, site, x)
    assert _flags(model) == before
    neuroplast.prune(model, site, [x], amount=1)
    assert _flags(model) == before
    running_mean = model[1].running_mean.clone()
    model(torch.randn(16, 4))  # the frozen BatchNorm stays frozen
    torch.testing.assert_close(model[1].running_mean, running_mean)
