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


class _Smoothed(nn.Module):
    """A layer whose forward updates buffers in any mode: a moving average of its input's
    mean, a call counter, and a cache it replaces with a tensor of another shape."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.register_buffer("average", torch.zeros(width))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("cache", torch.zeros(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.average.mul_(0.9).add_(x.mean(dim=0), alpha=0.1)
        self.calls += 1
        self.cache = x[:1].clone()
        return x


def test_measurements_give_back_the_buffers_a_forward_updates():
    torch.manual_seed(0)
    model = nn.Sequential(_Smoothed(4), nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    model(x)
    smoothed = model[0]  # in front of the site's producer
    average, calls, cache = smoothed.average, smoothed.calls, smoothed.cache
    saved = (average.clone(), calls.clone(), cache.clone())
    site = neuroplast.find_sites(model, x[:2])[0]
    collect_site_statistics(model, site, x)
    neuroplast.prune(model, site, [(x, y)], goal_accuracy=0.01, max_fraction=0.5)  # evaluates
    for tensor, value in zip((smoothed.average, smoothed.calls, smoothed.cache), saved,
                             strict=True):
        assert torch.equal(tensor, value)
    assert smoothed.average is average and smoothed.calls is calls  # the user's tensors
    assert smoothed.cache is cache
    model(x)  # the model itself still updates them
    assert int(smoothed.calls) == int(saved[1]) + 1


def test_a_buffer_resized_in_place_gets_its_shape_back():
    model = nn.Linear(3, 2)
    model.register_buffer("history", torch.arange(4.0))
    history = model.history
    modes = enter_evaluation(model)
    history.resize_(2).fill_(7.0)
    restore_modes(modes)
    assert model.history is history and torch.equal(history, torch.arange(4.0))


def test_a_lazy_module_not_yet_materialised_is_measured():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.LazyBatchNorm1d(), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(32, 4)
    sites = neuroplast.find_sites(model, x[:2])  # the forward materialises the BatchNorm
    assert [site.name for site in sites] == ["0"]
    assert model[1].running_mean.shape == (8,)


def test_untouched_buffers_are_not_written():
    """A graph still alive from the user's forward, and a buffer made under inference mode,
    would both refuse a write into a buffer the measurement never changed."""

    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4, 8)
            self.out = nn.Linear(8, 3)
            self.register_buffer("mask", torch.ones(8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.tanh(self.linear(x)) * self.mask)

    torch.manual_seed(0)
    model, x = Masked(), torch.randn(16, 4)
    loss = model(x).sum()
    neuroplast.find_sites(model, x[:2])
    loss.backward()  # the saved mask was not touched
    with torch.inference_mode():
        model.mask = torch.ones(8)  # an inference tensor
    neuroplast.find_sites(model, x[:2])
    assert model.mask.is_inference()
