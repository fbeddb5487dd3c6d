"""A site moved to another model with the same module names (``sites.site.rebind``): the
re-wirer commits into a deep copy even for a hand-declared site, exactly as into its own
model; a model without the site's modules is refused by name."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from neuroplast.death.rules import Rewirer
from neuroplast.errors import NeuroplastError
from neuroplast.sites import conv_site
from neuroplast.sites.site import rebind
from neuroplast.stats import collect_site_statistics

DT = torch.float64


def _model() -> tuple[nn.Module, object, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Tanh(),
                          nn.Conv2d(6, 4, 3, padding=1)).to(DT).eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.3, 0.3)
    site = conv_site("hand", producer=model[0], consumer=model[3], between=(model[1],),
                     activation="tanh")  # declared by hand: no name discovery could find
    return model, site, torch.randn(16, 2, 5, 5, dtype=DT)


def test_commit_into_a_copy_equals_commit_into_the_model():
    model, site, x = _model()
    stats = collect_site_statistics(model, site, x, covariance=True)
    copied = copy.deepcopy(model)
    rewirer = Rewirer(model, site, stats, "lstsq")
    rewirer.remove(2)
    rewirer.remove(4)
    rewirer.commit(copied)  # the copy first: the re-wirer's own model is still whole
    assert copied[0].out_channels == 4 and model[0].out_channels == 6
    rewirer.commit(model)
    for a, b in zip(model.state_dict().values(), copied.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        torch.testing.assert_close(copied(x), model(x), rtol=0, atol=0)


def test_rebind_refers_to_the_other_models_tensors_and_refuses_strangers():
    model, site, _ = _model()
    copied = copy.deepcopy(model)
    moved = rebind(site, model, copied)
    assert moved.consumer is copied[3] and moved.producer is copied[0]
    assert all(axis.module in list(copied.modules()) for axis in moved.upstream)
    with pytest.raises(NeuroplastError, match="same module names"):
        rebind(site, model, nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(NeuroplastError, match="does not belong"):
        rebind(site, nn.Sequential(nn.Linear(2, 2)), copied)
