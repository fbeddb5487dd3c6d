"""The benchmark suite's arithmetic and plumbing (the timings themselves are never asserted).

FLOP counts against a count written out by hand, growth exponents against synthetic power
laws, goal verdicts, the fused-vs-sequential comparison's equivalence check on real data, and
one quick module through the runner into JSON and Markdown.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the root
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_training, elementwise_floor, runner  # noqa: E402
from neuroplast.models import build_mlp, initialize  # noqa: E402


def test_training_flops_of_n4_counted_by_hand():
    macs = 784 * 100 + 100 * 5 + 5 * 10  # 78,950 multiply-adds per example
    forward = 2 * macs
    weight_grads = 2 * macs
    input_grads = 2 * (100 * 5 + 5 * 10)  # the first layer's input (the data) needs none
    assert bench_training.training_flops_per_example([784, 100, 5, 10]) == (
        forward + weight_grads + input_grads, 3 * forward)
    assert bench_training.training_flops_per_example([784, 100, 5, 10]) == (316_900, 473_700)


@pytest.mark.parametrize("exponent", [1.0, 2.0, 4.0])
def test_growth_exponent_recovers_a_power_law(exponent):
    records = [{"n": n, "t": 3e-6 * n**exponent} for n in (100, 256, 512, 1024, 2048, 4096)]
    assert bench_training.growth_exponent(records, "t") == pytest.approx(exponent, abs=1e-9)
    # only n >= 512 counts: a different law below it does not change the fit
    records[0]["t"] = records[1]["t"] = 1.0
    assert bench_training.growth_exponent(records, "t") == pytest.approx(exponent, abs=1e-9)


@pytest.mark.parametrize(("row", "expected"), [
    ({"value": 6.7, "reference": 1.0, "goal": ">= 10"}, "FAIL"),
    ({"value": 10.0, "reference": 1.0, "goal": ">= 10"}, "pass"),
    ({"value": 0.1674, "reference": 0.159, "goal": "<= 1.5"}, "pass"),
    ({"value": 1.0, "reference": 2.0, "ratio": 4.0, "goal": "> 3x"}, "pass"),
    ({"value": 1.0, "reference": 0.0, "goal": "<= 1"}, "n/a"),
    ({"value": 1.0, "reference": 1.0, "goal": "about 1"}, "bad goal"),
    ({"value": 1.0, "reference": 1.0}, "-"),
])
def test_verdicts(row, expected):
    assert runner.verdict(row) == expected


def test_fused_benchmark_trains_the_same_nets_as_sequential_training(monkeypatch, mnist_small):
    monkeypatch.setattr(bench_training, "N_MEMBERS", 3)
    result = bench_training.fused_vs_sequential(mnist_small.train, steps=4)
    assert result["members"] == 3 and result["steps"] == 4
    # float32 rounding at most (none here since train() steps plain SGD as the fused step does)
    assert 0 <= result["max_abs_param_diff_fused_vs_train"] < 1e-5
    assert result["first_layer_gemms_s_per_step"] > 0
    # every product of the step costs more than the first layer's alone
    assert result["all_gemms_s_per_step"] > result["first_layer_gemms_s_per_step"]
    for key in ("fused_member_steps_per_s", "sequential_train_member_steps_per_s",
                "sequential_lean_member_steps_per_s", "gemm_bound_member_steps_per_s",
                "all_gemms_bound_member_steps_per_s", "gathered_products_member_steps_per_s",
                "floor_member_steps_per_s"):
        assert math.isfinite(result[key]) and result[key] > 0


def test_the_element_wise_floor_computes_each_activation_and_its_derivative():
    """The floor's passes are the real work, up to the affine maps the neighbouring products
    absorb: tanh(z) = 2σ(2z) − 1 from the 2z FusedMLP's product hands over, and
    g·tanh'(z) = 4·σ's backward; against autograd in float64."""
    z = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 9, dtype=torch.float64)
    h, out = torch.empty_like(g), torch.empty_like(g)
    for name, function, scale in (("tanh", torch.tanh, 2.0), ("sigmoid", torch.sigmoid, 1.0)):
        forward, backward = elementwise_floor.ACTIVATION_PASSES[name]
        forward(scale * z.detach(), out=h)
        value = 2 * h - 1 if name == "tanh" else h
        torch.testing.assert_close(value, function(z).detach(), rtol=1e-12, atol=1e-12)
        backward(g, h, grad_input=out)
        (expected,) = torch.autograd.grad(function(z), z, g)
        torch.testing.assert_close(scale ** 2 * out, expected, rtol=1e-12, atol=1e-12)


def test_the_element_wise_floor_has_the_fused_step_s_shapes():
    """Its tensors are the fused step's: the first layer's pre-activations for every member's
    rows, later layers per member, the logits (S, C, batch) of FusedMLP.logits_by_class."""
    from neuroplast.train.fused import fuse

    nets = [initialize(build_mlp("N1"), seed) for seed in range(3)]
    fused = fuse(nets)
    x = torch.rand(7, 784)
    hidden, logits = elementwise_floor.floor_shapes(sum(fused.first_widths), fused.widths, 7, 3)
    assert hidden == [(15, 7), (3, 20, 7)]  # N1: 784 → 5 → 20 → 10, three members
    assert logits == tuple(fused.logits_by_class(x).shape) == (3, 10, 7)
    assert hidden[0] == tuple(fused.first(x).t().shape)
    elementwise_floor.least_elementwise_work(15, fused.widths, 7, 3, "tanh")()  # runs
    with pytest.raises(ValueError, match="no element-wise floor for 'relu'; one of tanh, "):
        elementwise_floor.least_elementwise_work(15, fused.widths, 7, 3, "relu")


def test_the_gathered_batch_ceiling_reads_a_new_batch_every_step():
    """Each call gathers the next batch of one shuffled order: one pass covers every whole
    batch's rows once, then the order starts over."""
    rows = torch.arange(14.0).unsqueeze(1)  # 14 rows: 3 whole batches of 4, 2 left over
    next_batch = bench_training.shuffled_batches(rows, 4)
    first_pass = [next_batch().flatten().tolist() for _ in range(3)]
    seen = [value for batch in first_pass for value in batch]
    assert len(seen) == len(set(seen)) == 12 and set(seen) <= set(range(14))
    assert next_batch().flatten().tolist() == first_pass[0]


def test_copies_benchmark_has_the_fused_models_ceilings(monkeypatch, mnist_small):
    """Pruned N4 copies retrained together: the same nets as one after another, and GEMM
    ceilings for a first layer of Σ h rows (the fused model's) that no step can beat."""
    result = bench_training.copies_together(mnist_small.train, 3, [(20, 784), (7, 500)])
    assert result["copies"] == 2 and 0 < result["max_abs_param_diff"] < 1e-5
    assert 0 < result["first_layer_gemms_s_per_step"] < result["all_gemms_s_per_step"]
    assert math.isfinite(result["all_gemms_bound_member_steps_per_s"])
    monkeypatch.setattr(bench_training, "N_MEMBERS", 3)
    other = bench_training.fused_vs_sequential(mnist_small.train, steps=2, architecture="N3",
                                               lean=False)
    assert other["widths"] == [784, 20, 5, 10] and math.isnan(other["sequential_lean_s"])


def test_runner_writes_json_and_markdown_with_the_machine(tmp_path):
    threads = torch.get_num_threads()
    try:
        code = runner.main(["--quick", "--only", "statistics", "--threads", "1",
                            "--out-dir", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    report = json.loads((tmp_path / "results-quick.json").read_text())
    assert report["quick"] is True
    assert {"cpu", "logical_cores", "torch", "torch_threads"} <= set(report["machine"])
    capability = torch.backends.cpu.get_cpu_capability()  # the SIMD level names the machine too
    assert report["machine"]["cpu_capability"] == capability
    rows = report["benchmarks"]["statistics"]["result"]["rows"]
    assert rows and all(row["reference"] > 0 for row in rows)
    markdown = (tmp_path / "results-quick.md").read_text()
    assert "## Machine" in markdown and rows[0]["name"] in markdown
    assert f"({capability}) with 1 torch thread(s)" in markdown  # each module says where it ran
    assert not (tmp_path / "results.json").exists()  # a quick run never replaces full results


def test_sites_benchmark_quick_rows_and_growth_exponent_arithmetic():
    from benchmarks import bench_sites

    result = bench_sites.run(quick=True)
    names = [row["name"] for row in result["rows"]]
    assert names[0].startswith("FFN site") and names[1].startswith("conv site")
    assert [row["goal"] for row in result["rows"]] == ["<= 1.5", "<= 1.5", "<= 3"]
    seconds = result["greedy_seconds"]
    expected = math.log(seconds[256] / seconds[128]) / math.log(2)
    assert result["rows"][2]["ratio"] == pytest.approx(expected)


def test_a_cached_n4_is_reused_only_for_the_data_it_was_trained_on(tmp_path):
    """The benchmarks' trained-N4 cache: the same call reads the saved net back (no training);
    the same seed and protocol on other training data is refused, not reused."""
    from neuroplast.data import Split
    from neuroplast.errors import NeuroplastError

    g = torch.Generator().manual_seed(0)
    split = Split(torch.rand(600, 784, generator=g), torch.randint(0, 10, (600,), generator=g))
    other = Split(split.x.flip(0), split.y.flip(0))
    cache = tmp_path / "n4.safetensors"
    model, seconds = runner.trained_n4(split, protocol="quick", paper_epochs=500, cache=cache)
    again, reread = runner.trained_n4(split, protocol="quick", paper_epochs=500, cache=cache)
    assert seconds > 0 and reread == 0.0
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(),
                                                 strict=True))
    with pytest.raises(NeuroplastError, match="train_data"):
        runner.trained_n4(other, protocol="quick", paper_epochs=500, cache=cache)
    from neuroplast.models import save_model

    old = tmp_path / "old.safetensors"  # cached before the data were recorded
    save_model(model, old, metadata={"arch": "N4", "seed": 0, "protocol": "quick",
                                     "paper_epochs": 500})
    with pytest.raises(NeuroplastError, match="cached before the benchmarks recorded"):
        runner.trained_n4(split, protocol="quick", paper_epochs=500, cache=old)


def test_compare_rules_at_width_refuses_a_width_n4_cannot_keep(monkeypatch, capsys):
    from benchmarks import compare_rules_at_width

    monkeypatch.setattr(compare_rules_at_width, "run_seed", _no_work)
    monkeypatch.setattr(sys, "argv", ["compare_rules_at_width", "--keep", "100"])
    with pytest.raises(SystemExit):
        compare_rules_at_width.main()
    assert "--keep 100: N4's hidden1 has 100 neurons; keep 1 to 99" in capsys.readouterr().err


def test_compare_rules_at_width_leaves_another_run_s_results_alone(tmp_path, monkeypatch,
                                                                  capsys):
    """An --out file of another setting is refused (it was overwritten before 2026-12-07)."""
    from benchmarks import compare_rules_at_width

    monkeypatch.setattr(compare_rules_at_width, "run_seed", _no_work)
    out = tmp_path / "results.json"
    text = json.dumps({"keep": 60, "paper_epochs": 5000.0, "data": "x", "seeds": {"0": {}}})
    out.write_text(text)
    monkeypatch.setattr(sys, "argv", ["compare_rules_at_width", "--out", str(out)])
    with pytest.raises(SystemExit):
        compare_rules_at_width.main()
    assert "holds results of {'keep': 60" in capsys.readouterr().err
    assert out.read_text() == text


@pytest.mark.parametrize(("module", "arguments", "message"), [
    ("architecture_frontier", ["--ratios", "0.3", "1.5"],
     "--ratios must lie strictly between 0 and 1, got [0.3, 1.5]"),
    ("architecture_frontier", ["--finetune-steps", "-1"],
     "--finetune-steps must be 0 or more, got -1"),
    ("a2_rank", ["--max-removed", "100"], "--max-removed 100: N4's hidden1 has 100 neurons"),
    ("compare_death_replication", ["--seeds", "0"], "expected a positive integer, got 0"),
    ("compile_probe", ["--architecture", "lenet-300-100"], "invalid choice: 'lenet-300-100'"),
    ("compile_probe", ["--repeats", "0"], "expected a positive integer, got 0"),
])
def test_benchmark_arguments_out_of_range_are_refused_before_any_work(module, arguments,
                                                                     message, tmp_path,
                                                                     monkeypatch, capsys):
    import importlib

    monkeypatch.chdir(tmp_path)
    benchmark = importlib.import_module(f"benchmarks.{module}")
    # what each would start with
    for work in ("trained_n4", "register_specs", "run_one", "timed_steps"):
        if hasattr(benchmark, work):
            monkeypatch.setattr(benchmark, work, _no_work)
    with pytest.raises(SystemExit):
        benchmark.main(arguments)
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _no_work(*args, **kwargs):
    raise AssertionError("work started before the arguments were checked")
