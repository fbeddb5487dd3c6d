"""Structured-pruning baselines on general sites, each against an independent float64
reimplementation of its paper (issue 13 item 2): FLAP (An et al. 2024), Wanda-sp (FLAP's
structured Wanda), structured OBS (ZipLM, Kurtic et al. 2023; SlimGPT), Torch-Pruning's group
importances and network slimming's BN scale — and where a baseline is one of our rules:

* FLAP's fluctuation score is eq. 28's E_k with the consumer gain set to 1, and its bias
  compensation is rule A1 (``test_flap_score_is_e_k_with_unit_gain``,
  ``test_flap_procedure_equals_prune_a1_flap``);
* structured OBS is lstsq + conditional:greedy without intercept and gain; with zero site
  means and unit gain they coincide (``test_obs_equals_lstsq_greedy_on_zero_means_unit_gain``).

Three sites: Linear → tanh → Linear (nn.Sequential), Conv2d → BN → ReLU → Conv2d (zero
padding) and a gated FFN down(silu(gate(x)) · up(x)).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuroplast
from neuroplast.efficiency import efficiency
from neuroplast.sites import conv_site, gated_site, linear_site
from neuroplast.stats import collect_site_statistics

DT = torch.float64


# -- three small models, one site each -----------------------------------------------------


def linear_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4)).to(DT)
    site = linear_site("ffn", producer=model[0], consumer=model[2], activation="tanh")
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(240, 6, generator=g, dtype=DT)
    x[:, 5] = 0.5 * x[:, 0] - 0.3 * x[:, 1]  # correlated inputs: structured OBS has work to do
    y = torch.randint(0, 4, (240,), generator=g)
    return model, site, x, y


def conv_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    conv1, bn, conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Conv2d(6, 5, 3,
                                                                                 padding=1)
    model = nn.Sequential(conv1, bn, nn.ReLU(), conv2, nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(5, 3)).to(DT)
    with torch.no_grad():  # a BatchNorm that is not the identity
        bn.weight.uniform_(0.2, 2.0)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
    site = conv_site("block", producer=conv1, consumer=conv2, between=(bn,), activation="relu")
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(12, 3, 6, 6, generator=g, dtype=DT)
    y = torch.randint(0, 3, (12,), generator=g)
    return model, site, x, y


class GatedFFN(nn.Module):
    """down(silu(gate(x)) · up(x)), a LLaMA MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(5, 8), nn.Linear(5, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


def gated_model(seed: int = 0) -> tuple[nn.Module, neuroplast.Site, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = GatedFFN().to(DT)
    site = gated_site("mlp", gate=model.gate, up=model.up, consumer=model.down)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(200, 5, generator=g, dtype=DT)
    y = torch.randint(0, 3, (200,), generator=g)
    return model, site, x, y


MODELS = {"linear": linear_model, "conv": conv_model, "gated": gated_model}


def site_rows(model: nn.Module, site: neuroplast.Site, x: torch.Tensor) -> np.ndarray:
    """The site's values as the consumer reads them, (rows, n), from a hook (no statistics)."""
    seen = []
    handle = site.consumer.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        handle.remove()
    values = seen[0].detach()
    if values.ndim == 4:  # (B, n, H, W) → (B·H·W, n)
        values = values.permute(0, 2, 3, 1).reshape(-1, values.shape[1])
    return values.reshape(-1, values.shape[-1]).numpy().astype(np.float64)


def consumer_weight(site: neuroplast.Site) -> np.ndarray:
    """W (m, n, K) as numpy float64."""
    weight = site.consumer.weight.detach().numpy().astype(np.float64)
    return weight.reshape(weight.shape[0], weight.shape[1], -1)


# -- rule none is plain slicing on every site kind -----------------------------------------


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_rule_none_leaves_the_consumer_bias_alone(kind):
    """Wanda-sp and the Torch-Pruning scores prune without compensation: the kept columns and
    the bias are the original ones (on a conv site too, where A1's per-offset means differ)."""
    model, site, x, _ = MODELS[kind]()
    weight, bias = consumer_weight(site), site.consumer.bias.detach().clone()
    result = neuroplast.prune(model, site, x, rule="none", measure="magnitude-l2", amount=3)
    kept = list(result.kept)
    np.testing.assert_array_equal(consumer_weight(site), weight[:, kept])
    assert torch.equal(site.consumer.bias.detach(), bias)
