"""The Python API refuses arguments it cannot use with a message that says what to give,
before any work, instead of a raw error from deep inside (a hostile user's list, 2026-12-07)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import neuroplast
from neuroplast.cli.prune_model import jsonable
from neuroplast.errors import NeuroplastError
from neuroplast.sites import linear_site
from neuroplast.stats import collect_site_statistics


def ffn() -> tuple[nn.Sequential, neuroplast.Site]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3))
    return model, linear_site("ffn", producer=model[0], consumer=model[2], activation="tanh")


def inputs() -> torch.Tensor:
    return torch.randn(60, 6, generator=torch.Generator().manual_seed(1))


ONE_PASS = {
    "a generator": lambda x: (batch for batch in [x[:30], x[30:]]),
    "an iterator": lambda x: iter([x[:30], x[30:]]),
    "a map": lambda x: map(lambda b: b, [x[:30], x[30:]]),
}


@pytest.mark.parametrize("kind", sorted(ONE_PASS))
@pytest.mark.parametrize("call", ["prune", "replicate"])
def test_one_pass_data_is_refused_before_it_is_used_up(kind, call):
    model, site = ffn()
    before = copy.deepcopy(model.state_dict())
    data = ONE_PASS[kind](inputs())
    kwargs = {"amount": 2} if call == "prune" else {"n": 1}
    with pytest.raises(TypeError, match=r"one-pass iterator \(\w+\), but it is read more than "
                                        r"once.*a list of batches, a tensor"):
        getattr(neuroplast, call)(model, site, data, **kwargs)
    assert next(data) is not None  # nothing was read from it
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_list_of_the_same_batches_works():
    model, site = ffn()
    x = inputs()
    assert neuroplast.prune(model, site, [x[:30], x[30:]], amount=2).width_after == 10


@pytest.mark.parametrize("call", ["prune", "replicate"])
def test_a_numpy_array_is_refused_with_what_to_pass(call):
    model, site = ffn()
    kwargs = {"amount": 2} if call == "prune" else {"n": 1}
    with pytest.raises(TypeError, match=r"is a NumPy ndarray; pass torch tensors: "
                                        r"torch.from_numpy\(array\)"):
        getattr(neuroplast, call)(model, site, inputs().numpy(), **kwargs)


def test_find_sites_on_a_numpy_example_says_it_holds_no_tensor():
    model, _ = ffn()
    with pytest.raises(NeuroplastError, match=r"holds no torch tensor \(got ndarray\); pass a "
                                              r"tensor \(torch.from_numpy"):
        neuroplast.find_sites(model, inputs().numpy())


def test_load_with_a_module_instead_of_a_factory_says_to_pass_the_class(tmp_path):
    model, _ = ffn()
    neuroplast.save(model, tmp_path / "saved")
    with pytest.raises(TypeError, match=r"got a Sequential instance \(a module is callable, "
                                        r"but calling it runs its forward\)"):
        neuroplast.load(tmp_path / "saved", nn.Sequential(nn.Linear(6, 12)))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_metadata_with_a_non_finite_number_is_refused_and_nothing_is_written(value, tmp_path):
    model, _ = ffn()
    with pytest.raises(NeuroplastError, match="NaN and infinities are not JSON"):
        neuroplast.save(model, tmp_path / "saved", metadata={"loss": [1.0, value]})
    assert not (tmp_path / "saved").exists()


def test_the_commands_metadata_stores_non_finite_numbers_as_null():
    assert jsonable({"loss": [math.nan, 0.5], "x": {"y": math.inf}, "ok": 1.5}) == \
        {"loss": [None, 0.5], "x": {"y": None}, "ok": 1.5}


def test_stats_of_the_wrong_type_are_refused():
    model, site = ffn()
    with pytest.raises(TypeError, match=r"stats must be SiteStatistics \(collect_site_statistics"
                                        r".*got str"):
        neuroplast.prune(model, site, inputs(), amount=2, stats="x")


@pytest.mark.parametrize("batch_size", ["a", 2.5, True, 0])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(batch_size):
    model, site = ffn()
    with pytest.raises(NeuroplastError, match=rf"batch_size must be a positive integer, got "
                                              rf"{batch_size!r}"):
        collect_site_statistics(model, site, inputs(), batch_size=batch_size)


@pytest.mark.parametrize(("method", "alpha"), [("beta", "1"), ("B2", "1"), ("beta", True)])
def test_an_alpha_that_is_not_a_number_is_refused_not_converted(method, alpha):
    model, site = ffn()
    with pytest.raises(NeuroplastError, match=rf"alpha must be a number, got {alpha!r}"):
        neuroplast.replicate(model, site, inputs(), n=1, method=method, alpha=alpha)


def test_statistics_of_a_named_site_refuse_a_generator_that_would_lose_its_first_batch():
    model, site = ffn()
    x = inputs()
    with pytest.raises(TypeError, match=r"one-pass iterator \(generator\) and site '0' is a "
                                        r"name: finding the site reads the first batch"):
        collect_site_statistics(model, "0", (b for b in [x[:30], x[30:]]))
    streamed = collect_site_statistics(model, site, (b for b in [x[:30], x[30:]]))
    assert streamed.count == 60  # with the Site object a single pass is enough
