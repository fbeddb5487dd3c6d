"""Streaming statistics: moments against torch.var / torch.cov on the whole data in float64,
merging, order independence, site statistics against a hand-written forward pass, hooks, and
a two-process gloo all-reduce against one process."""

from __future__ import annotations

import os
import socket
import tempfile

import pytest
import torch
import torch.multiprocessing as mp
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.stats import RunningMoments, collect_site_statistics
from neuroplast.stats import moments as M
from neuroplast.surgery import keep_neurons

N, WIDTH = 257, 6


@pytest.fixture(scope="module")
def data() -> torch.Tensor:
    """(N, WIDTH) float64 columns of different scales and far-from-zero means, one constant."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, WIDTH, generator=g, dtype=torch.float64)
    x = x @ torch.randn(WIDTH, WIDTH, generator=g, dtype=torch.float64)  # correlated columns
    x = x * torch.tensor([1.0, 1e-3, 1e3, 5.0, 0.2, 1.0], dtype=torch.float64)
    x = x + torch.tensor([1e4, -3.0, 0.5, 1e6, 0.0, 0.0], dtype=torch.float64)
    x[:, 5] = 0.3  # a constant variable
    return x


def reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, population variance and covariance of the whole data, straight from torch."""
    x = x.to(torch.float64)
    return x.mean(0), torch.var(x, dim=0, correction=0), torch.cov(x.T, correction=0)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-11) -> None:
    scale = expected.abs().max().clamp_min(1e-300)
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * float(scale))


def stream(x: torch.Tensor, batch_size: int, covariance: bool = True) -> M.Moments:
    state = M.init(x.shape[1], covariance=covariance)
    for batch in x.split(batch_size):
        state = M.update(state, batch)
    return M.compute(state)


@pytest.mark.parametrize("batch_size", [1, 7, 64, N])
def test_moments_match_torch_on_the_whole_data(data, batch_size):
    mean, var, cov = reference(data)
    result = stream(data, batch_size)
    assert result.count == N
    assert_close(result.mean, mean)
    # per column: the scales differ by 1e12, each variance is checked against its own size
    torch.testing.assert_close(result.var, var, rtol=1e-10, atol=0.0)
    assert_close(result.cov, cov)
    assert torch.equal(result.cov, result.cov.T)
    assert torch.equal(result.cov.diagonal(), result.var)


@pytest.mark.parametrize("batch_size", [1, 7, 64, N])
def test_constant_variable_has_exactly_zero_variance(data, batch_size):
    result = stream(data, batch_size)
    assert result.var[5] == 0.0
    assert result.mean[5] == torch.tensor(0.3, dtype=torch.float64)
    assert torch.all(result.cov[5] == 0.0)


def test_float32_batches_are_accumulated_in_float64(data):
    x32 = data[:, [1, 4]].to(torch.float32)
    mean, var, _ = reference(x32)  # the float32 values, exactly, in float64
    result = stream(x32, 13, covariance=False)
    assert result.mean.dtype == torch.float64 and result.cov is None
    assert_close(result.mean, mean, rtol=1e-12)
    torch.testing.assert_close(result.var, var, rtol=1e-10, atol=0.0)


def test_merged_states_equal_one_pass_over_the_concatenation(data):
    parts = [data[:100], data[100:100], data[100:101], data[101:]]  # includes an empty part
    states = [M.from_batch(part, covariance=True) for part in parts]
    merged = M.init(WIDTH, covariance=True)
    for state in states:
        merged = M.merge(merged, state)
    # merged in a different grouping: (a + b) + (c + d) against a + (b + (c + d))
    grouped = M.merge(M.merge(states[0], states[1]), M.merge(states[2], states[3]))
    whole = M.compute(M.from_batch(data, covariance=True))
    for result in (M.compute(merged), M.compute(grouped)):
        assert result.count == whole.count == N
        assert_close(result.mean, whole.mean)
        torch.testing.assert_close(result.var, whole.var, rtol=1e-10, atol=0.0)
        assert_close(result.cov, whole.cov)


def test_running_moments_class_merges_like_the_functions(data):
    left, right = RunningMoments(WIDTH, covariance=True), RunningMoments(WIDTH, covariance=True)
    for batch in data[:120].split(9):
        left.update(batch)
    for batch in data[120:].split(31):
        right.update(batch)
    left.merge(right)
    mean, var, cov = reference(data)
    result = left.compute()
    assert_close(result.mean, mean)
    torch.testing.assert_close(result.var, var, rtol=1e-10, atol=0.0)
    assert_close(result.cov, cov)


def test_order_of_examples_and_batches_does_not_matter(data):
    g = torch.Generator().manual_seed(1)
    shuffled = data[torch.randperm(N, generator=g)]
    a, b = stream(data, 10), stream(shuffled, 23)
    batches = list(data.split(17))
    reversed_state = M.init(WIDTH, covariance=True)
    for batch in reversed(batches):
        reversed_state = M.update(reversed_state, batch)
    c = M.compute(reversed_state)
    for other in (b, c):
        assert_close(other.mean, a.mean)
        torch.testing.assert_close(other.var, a.var, rtol=1e-10, atol=0.0)
        assert_close(other.cov, a.cov)


def test_batches_are_not_modified(data):
    batch = data[:10].clone()
    M.update(M.from_batch(data[10:20], covariance=True), batch)
    M.from_batch(batch)
    assert torch.equal(batch, data[:10])


@pytest.mark.parametrize("covariance", [False, True])
def test_reused_scratch_buffer_and_strided_batches(data, covariance):
    """Through one reused float64 buffer (growing, shrinking, growing again): contiguous
    batches give bitwise the numbers of the plain path; strided (channels-first seen
    channels-last) batches give the torch float64 reference; consuming a float64 copy in place
    gives bitwise what the buffer gives."""
    scratch = M.Scratch()
    g = torch.Generator().manual_seed(1)
    for rows in (40, 7, 90, 3):  # the buffer is reused, never stale
        channels_first = torch.randn(rows, WIDTH, 4, generator=g) * 3 + 1  # (b, n, K)
        strided = channels_first.transpose(1, 2)  # (b, K, n), a non-contiguous view
        flat = strided.reshape(-1, WIDTH)  # (b·K, n) contiguous copy
        plain = M.from_batch(flat, covariance=covariance)
        reused = M.from_batch(flat, covariance=covariance, scratch=scratch)
        assert torch.equal(reused.mean, plain.mean) and torch.equal(reused.m2, plain.m2)
        if covariance:
            assert torch.equal(reused.comoment, plain.comoment)
        via_buffer = M.from_batch(strided, covariance=covariance, scratch=scratch)
        mean, var, cov = reference(flat)
        assert via_buffer.count == rows * 4
        torch.testing.assert_close(via_buffer.mean, mean, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(via_buffer.m2 / (rows * 4), var, rtol=1e-12, atol=1e-13)
        if covariance:
            torch.testing.assert_close(via_buffer.comoment / (rows * 4), cov, rtol=1e-12,
                                       atol=1e-13)
        copy = strided.to(torch.float64)
        consumed = M.from_batch(copy, covariance=covariance, consume=True)
        assert torch.equal(consumed.mean, via_buffer.mean)
        assert torch.equal(consumed.m2, via_buffer.m2)
    with pytest.raises(ValueError, match="float64"):
        M.from_batch(data.float(), consume=True)


def test_compute_without_observations_raises():
    with pytest.raises(ValueError, match="at least one"):
        M.compute(M.init(3))
    empty = M.from_batch(torch.zeros(0, 3))
    assert empty.count == 0


# -- site statistics ---------------------------------------------------------------------------

WIDTHS = (12, 7, 5, 3)


@pytest.fixture(scope="module")
def model():
    return random_mlp(WIDTHS, "tanh", seed=4)


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return torch.rand(300, WIDTHS[0], generator=g, dtype=torch.float64)


@torch.no_grad()
def by_hand(model, x: torch.Tensor, site: str):
    """Site values and consumer outputs of a tanh MLP, computed from the weights directly."""
    values = [x]
    for layer in model.layers[:-1]:
        values.append(torch.tanh(x @ layer.weight.T + layer.bias))
        x = values[-1]
    index = 0 if site == "input" else int(site.removeprefix("hidden"))
    consumer = model.layers[index]
    pre = values[index] @ consumer.weight.T + consumer.bias
    is_output = index == len(model.layers) - 1
    out = pre if is_output else torch.tanh(pre)
    return values[index], out, consumer, is_output


@pytest.mark.parametrize("site", ["input", "hidden1", "hidden2"])
@pytest.mark.parametrize("form", ["tensor", "split", "tuples"])
def test_site_statistics_match_direct_computation(model, inputs, site, form):
    labels = torch.zeros(inputs.shape[0], dtype=torch.long)
    data = {
        "tensor": inputs,
        "split": Split(inputs, labels),
        "tuples": [(xb, yb) for xb, yb in zip(inputs.split(32), labels.split(32), strict=True)],
    }[form]
    stats = collect_site_statistics(model, site, data, covariance=True, batch_size=7)
    values, out, consumer, is_output = by_hand(model, inputs, site)
    mean, var, cov = reference(values)
    assert stats.site == site and stats.count == inputs.shape[0]
    assert stats.width == values.shape[1]
    assert_close(stats.mean, mean)
    assert_close(stats.var, var)
    assert_close(stats.cov, cov)
    out_mean, out_var, _ = reference(out)
    assert_close(stats.consumer_mean, out_mean)
    assert_close(stats.consumer_var, out_var)
    y_bar = consumer.weight.detach() @ mean + consumer.bias.detach()
    assert_close(stats.consumer_preactivation_at_mean, y_bar)
    assert stats.consumer_is_output == is_output == (site == "hidden2")


def test_site_statistics_do_not_depend_on_batch_size(model, inputs):
    results = [collect_site_statistics(model, "hidden1", inputs, covariance=True, batch_size=b)
               for b in (1, 7, 64, inputs.shape[0])]
    for other in results[1:]:
        assert_close(other.mean, results[0].mean)
        assert_close(other.var, results[0].var, rtol=1e-10)
        assert_close(other.cov, results[0].cov, rtol=1e-10)
        assert_close(other.consumer_var, results[0].consumer_var, rtol=1e-10)


def test_covariance_is_optional(model, inputs):
    stats = collect_site_statistics(model, "hidden1", inputs)
    assert stats.cov is None
    assert stats.mean.dtype == stats.var.dtype == torch.float64


def test_float32_data_with_a_float64_model(model, inputs):
    stats = collect_site_statistics(model, "hidden1", inputs.float())
    values, _, _, _ = by_hand(model, inputs.float().double(), "hidden1")
    assert_close(stats.mean, values.mean(0))


def test_input_site_of_a_feature_pruned_model(inputs):
    pruned = random_mlp(WIDTHS, "tanh", seed=5)
    keep = torch.tensor([0, 3, 4, 8, 11])
    keep_neurons(pruned, "input", keep)
    stats = collect_site_statistics(pruned, "input", inputs, covariance=True)
    mean, var, cov = reference(inputs[:, keep])
    assert_close(stats.mean, mean)
    assert_close(stats.var, var)
    assert_close(stats.cov, cov)


def test_model_mode_is_restored_and_not_modified(model, inputs):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    collect_site_statistics(model, "hidden1", inputs)
    assert model.training
    model.eval()
    collect_site_statistics(model, "hidden1", inputs)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_hook_is_removed_when_a_batch_has_nan(model, inputs):
    bad = inputs[:10].clone()
    bad[3, 2] = float("nan")
    consumer = model.site("hidden1").consumer
    with pytest.raises(NeuroplastError, match="NaN or infinite"):
        collect_site_statistics(model, "hidden1", [inputs[:10], bad, inputs[10:20]])
    assert len(consumer._forward_hooks) == 0


def test_hook_is_removed_when_a_batch_has_infinity(model, inputs):
    bad = inputs[:10].clone()
    bad[0, 0] = float("inf")
    with pytest.raises(NeuroplastError, match="NaN or infinite"):
        collect_site_statistics(model, "input", [bad])
    assert len(model.site("input").consumer._forward_hooks) == 0


def test_hook_is_removed_when_the_data_iterator_raises(model, inputs):
    def batches():
        yield inputs[:10]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        collect_site_statistics(model, "hidden2", batches())
    assert all(len(layer._forward_hooks) == 0 for layer in model.layers)


def test_empty_data_and_bad_arguments_raise(model, inputs):
    with pytest.raises(NeuroplastError, match="empty"):
        collect_site_statistics(model, "hidden1", inputs[:0])
    with pytest.raises(NeuroplastError, match="unknown site"):
        collect_site_statistics(model, "hidden7", inputs)
    with pytest.raises(NeuroplastError, match="batch_size"):
        collect_site_statistics(model, "hidden1", inputs, batch_size=0)


# -- two processes -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, model, halves, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        stats = collect_site_statistics(model, "hidden1", halves[rank], covariance=True,
                                        batch_size=16)
        torch.save(stats.__dict__, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_all_reduce_equals_one_process(model, inputs):
    # unequal halves, so a wrong weighting of the ranks' states would show
    halves = [inputs[:130], inputs[130:]]
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_rank_main, args=(2, _free_port(), model, halves, out_dir), nprocs=2,
                 join=True)
        ranks = [torch.load(os.path.join(out_dir, f"rank{r}.pt"), weights_only=False)
                 for r in range(2)]
    single = collect_site_statistics(model, "hidden1", inputs, covariance=True, batch_size=16)
    for key in ("mean", "var", "cov", "consumer_mean", "consumer_var",
                "consumer_preactivation_at_mean"):
        assert torch.equal(ranks[0][key], ranks[1][key]), key  # every rank, the same numbers
        assert_close(ranks[0][key], getattr(single, key), rtol=1e-10)
    assert ranks[0]["count"] == ranks[1]["count"] == inputs.shape[0]


# -- rank correlation --------------------------------------------------------------------------

def test_rankdata_averages_ties():
    from neuroplast.stats import rankdata

    ranks = rankdata(torch.tensor([3.0, 1.0, 3.0, 2.0, 3.0, -5.0]))
    assert ranks.tolist() == [5.0, 2.0, 5.0, 3.0, 5.0, 1.0]


def test_spearman_against_pearson_of_hand_ranks():
    from neuroplast.stats import spearman

    g = torch.Generator().manual_seed(3)
    a = torch.randint(0, 6, (40,), generator=g).double()  # many ties
    b = a + torch.randn(40, generator=g, dtype=torch.float64)

    def ranks(v):
        return torch.tensor([float((v < x).sum()) + (float((v == x).sum()) + 1) / 2 for x in v],
                            dtype=torch.float64)

    ra, rb = ranks(a), ranks(b)
    expected = float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])
    assert spearman(a, b) == pytest.approx(expected, abs=1e-12)
    assert spearman(b, b.exp()) == pytest.approx(1.0)
    assert spearman(b, -b) == pytest.approx(-1.0)
    assert spearman(torch.ones(5), b[:5]) is None
    assert spearman(b[:1], b[:1]) is None
    with pytest.raises(ValueError, match="equally long"):
        spearman(a, b[:3])
