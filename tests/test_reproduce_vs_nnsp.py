"""``neuroplast reproduce vs-nnsp`` (§5.5, Figs 18–20) with the quick protocol."""

from __future__ import annotations

import numpy as np
import torch
from conftest import REPRODUCTION_INIT, one_thread, reproduce_quick, reproduction_protocol

from neuroplast.experiments.definitions.vs_nnsp import configs, methods_of
from neuroplast.models import build_mlp, initialize
from neuroplast.train import get_protocol, restrict, train

NAME = "vs-nnsp"


def test_configs_follow_the_paper_and_shrink_for_quick():
    full, standard = configs(get_protocol("fast"))
    assert (full["invert"], standard["invert"]) == (True, False)  # the paper's encoding first
    rows = {m["paper_row"]: m for m in full["trained"] if m["paper_row"]}
    assert set(rows) == {"A1", "NNSP(2)", "NNSP(3)", "NNSP(4)", "NNSP(5)"}
    assert rows["A1"]["relative_cutoff"] == 0.05 and rows["A1"]["rule"] == "A1"
    assert all(rows[f"NNSP({lv})"]["relative_cutoff"] == 0.1 and
               rows[f"NNSP({lv})"]["rule"] == "none" for lv in (2, 3, 4, 5))
    assert "nnsp-6" in {m["id"] for m in full["trained"]}
    assert full["retrain_paper_epochs"] == 500 and full["paper_epochs"] == 5000
    quick = configs(get_protocol("quick"))[0]
    levels = {m["measure"] for m in quick["trained"] if m["measure"].startswith("nnsp")}
    assert levels == {"nnsp:2", "nnsp:5"}


def _a1_input_efficiency(model, x: torch.Tensor) -> torch.Tensor:
    """E_k of eq. 28 for the inputs, float64: C_kk Σ_i w_ik² tanh'(ȳ_i)² / C_ii."""
    w, b = model.layers[0].weight.detach().double(), model.layers[0].bias.detach().double()
    h = torch.tanh(x @ w.T + b)  # (N, 100)
    slope = 1 - torch.tanh(x.mean(dim=0) @ w.T + b) ** 2  # (100,) at the mean input
    gain = (w ** 2 * (slope ** 2 / h.var(dim=0, unbiased=False)).unsqueeze(1)).sum(dim=0)
    return x.var(dim=0, unbiased=False) * gain  # (784,)


def _nnsp_level_2(model, x: torch.Tensor) -> torch.Tensor:
    """Eq. 59: σ̂²_k = Σ_i Var(1 − (x²_i)²) (w¹_ik)², float64."""
    w, b = model.layers[0].weight.detach().double(), model.layers[0].bias.detach().double()
    slope = 1 - torch.tanh(x @ w.T + b) ** 2  # (N, 100)
    return (slope.var(dim=0, unbiased=False).unsqueeze(1) * w ** 2).sum(dim=0)


def test_quick_run_matches_independent_scores_and_reports_the_paper(tmp_path, data_dir, mnist):
    out = tmp_path / "out"
    records = {(r["spec"]["config"]["invert"], r["spec"]["seed"]): r
               for r in reproduce_quick(NAME, out, data_dir, seeds=2)}
    assert set(records) == {(True, 0), (True, 1), (False, 0), (False, 1)}
    for record in records.values():
        result = record["result"]
        for group in ("trained", "untrained"):
            for numbers in result[group].values():
                assert 0 < numbers["remaining_inputs"] == len(numbers["kept_inputs"]) <= 784
                assert 0.0 <= numbers["train_accuracy"] <= 1.0
                assert numbers["pruning_time_s"] > 0
        trained = result["trained"]
        for level in (2, 5):  # compensation changes the weights, not which inputs go
            assert trained[f"nnsp-{level}+A1"]["kept_inputs"] == \
                trained[f"nnsp-{level}"]["kept_inputs"]
        assert all(0.0 <= n["retrained_train_accuracy"] <= 1.0 and n["retraining_time_s"] > 0
                   for n in trained.values())

    # Independent float64 scores for seed 0, standard encoding: A1 before training, NNSP
    # level 2 after.
    protocol = reproduction_protocol("quick")
    split = restrict(mnist.train, protocol)
    x = split.x.double()
    model = initialize(build_mlp("N4"), 0, REPRODUCTION_INIT)
    result = records[False, 0]["result"]
    a1 = _a1_input_efficiency(model, x)
    assert result["untrained"]["a1"]["kept_inputs"] == \
        (a1 >= 0.05 * a1.max()).nonzero().flatten().tolist()
    with one_thread():
        train(model, split, protocol, epochs=protocol.epochs(5000), seed=0, progress=False)
    variance = _nnsp_level_2(model, x)
    assert result["trained"]["nnsp-2"]["kept_inputs"] == \
        (variance >= 0.1 * variance.max()).nonzero().flatten().tolist()
    a1 = _a1_input_efficiency(model, x)
    assert result["trained"]["a1"]["kept_inputs"] == \
        (a1 >= 0.05 * a1.max()).nonzero().flatten().tolist()

    summary = (out / NAME / "summary.md").read_text()
    for printed in ("0.97981 ± 0.00023", "0.97568 ± 0.00030", "379.5 ± 1.4", "3.7485 ± 0.0030",
                    "0.59 ± 0.04", "643. ± 11.", "59.17 ± 0.08", "0.9636 ± 0.0018", "191. ± 7."):
        assert printed in summary
    for claim in ("16a", "16b", "16c", "16d", "17a", "17b", "17c"):
        assert f"| {claim} |" in summary
    assert "**confirmed**" not in summary and "**inconclusive**" in summary
    assert "Judged on the inverted (background 1, the paper's) encoding." in summary
    for figure in ("fig18_pruning_time", "fig19_pixel_maps", "fig20_pixel_maps"):
        for encoding in ("inverted", "standard"):
            name = f"{figure}_{encoding}.png"
            assert (out / NAME / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({name})" in summary


def test_claim_verdicts_follow_the_statistics():
    from neuroplast.experiments.definitions.vs_nnsp import _claims

    (config, _) = configs(get_protocol("fast"))
    records = []
    for seed in range(6):
        jitter = 0.01 * seed
        trained = {m["id"]: {"border_preference": 0.6 + jitter,
                             "retrained_train_accuracy": 0.979 - jitter / 10,
                             "pruning_time_s": 1.0 + jitter,
                             "remaining_inputs": 380 + seed} for m in config["trained"]}
        for level in (2, 3, 4, 5, 6):  # NNSP: slower with the level, its count spreads more
            trained[f"nnsp-{level}"].update(pruning_time_s=level + jitter,
                                            remaining_inputs=500 + 10 * level * seed)
        trained["weight-norm"]["border_preference"] = -0.2 - jitter  # removes the centre
        untrained = {"a1": {"border_preference": 0.85 + jitter, "remaining_inputs": 420 + seed},
                     "nnsp-3": {"border_preference": 0.0 + jitter, "remaining_inputs": 500}}
        records.append({"spec": {"config": config, "seed": seed},
                        "result": {"trained": trained, "untrained": untrained}})
    verdicts = {c.id: c.verdict.value for c in _claims(records)}
    assert verdicts == {"16a": "confirmed", "16b": "confirmed", "16c": "confirmed",
                        "16d": "confirmed", "17a": "confirmed", "17b": "confirmed",
                        "17c": "not confirmed"}
    records[0]["result"]["trained"]["nnsp-5"]["retrained_train_accuracy"] = 0.5
    assert {c.id: c.verdict.value for c in _claims(records)}["16b"] == "inconclusive"


def _spread_records(nnsp_scale: float, fall_at_4: float = 0.0) -> list[dict]:
    """10 seeds; A1's count and NNSP's vary independently, NNSP's ``nnsp_scale`` times as much;
    NNSP's pruning time is ``level`` s, level 4 ``fall_at_4`` s less."""
    (config, _) = configs(get_protocol("fast"))
    rng = np.random.default_rng(3)
    records = []
    for seed in range(10):
        trained = {m["id"]: {"border_preference": 0.6, "retrained_train_accuracy": 0.979,
                             "pruning_time_s": 1.0 + 0.01 * seed,
                             "remaining_inputs": 380 + 5 * rng.normal()}
                   for m in config["trained"]}
        for level in (2, 3, 4, 5, 6):
            seconds = (level - fall_at_4 if level == 4 else level) + 0.01 * rng.normal()
            trained[f"nnsp-{level}"].update(
                pruning_time_s=seconds, remaining_inputs=500 + 5 * nnsp_scale * rng.normal())
        untrained = {"a1": {"border_preference": 0.85, "remaining_inputs": 420},
                     "nnsp-3": {"border_preference": 0.0, "remaining_inputs": 500}}
        records.append({"spec": {"config": config, "seed": seed},
                        "result": {"trained": trained, "untrained": untrained}})
    return records


def test_spread_and_time_claims_are_significance_tests():
    """16d: a ratio of standard deviations above 1 by chance is not "varies more"; 16c: one
    level that is significantly faster than the one below breaks "rises with the level"."""
    from neuroplast.experiments.definitions.vs_nnsp import _claims

    verdicts = {c.id: c.verdict.value for c in _claims(_spread_records(10.0))}
    assert verdicts["16d"] == "confirmed" and verdicts["16c"] == "confirmed"
    verdicts = {c.id: c.verdict.value for c in _claims(_spread_records(1.0, fall_at_4=1.5))}
    assert verdicts["16d"] == "inconclusive"  # equal spreads: ratios near 1 are chance
    assert verdicts["16c"] == "not confirmed"  # level 4 is 0.5 s faster than level 3
    verdicts = {c.id: c.verdict.value for c in _claims(_spread_records(0.1))}
    assert verdicts["16d"] == "not confirmed"  # NNSP varies ten times less


def test_methods_of_reads_nnsp_as_summed_outputs_only_under_the_option():
    config = configs(get_protocol("fast"))[0]
    assert methods_of(config, "trained") == config["trained"]  # the default: as configured
    summed = methods_of(config | {"nnsp_outputs": "summed"}, "trained")
    measures = {m["id"]: m["measure"] for m in summed}
    assert "nnsp-6" not in measures and "nnsp-6+A1" not in measures  # the softmax sums to 1
    assert measures["nnsp-5"] == measures["nnsp-5+A1"] == "nnsp-summed:5"
    assert measures["a1"] == "connection" and measures["weight-norm"] == "weight-norm"
    assert [m["label"] for m in summed] == [m["label"] for m in config["trained"]
                                            if not m["id"].startswith("nnsp-6")]
    untrained = methods_of(config | {"nnsp_outputs": "summed"}, "untrained")
    assert [m["measure"] for m in untrained] == ["nnsp-summed:3", "connection"]


def _summed_logit_sensitivity_variance(model, x: torch.Tensor) -> torch.Tensor:
    """Var_n(∂(Σ_o logit_o)/∂x_k), float64, by the chain rule written out for N4."""
    (w1, b1), (w3, b3), (w5, _) = ((layer.weight.detach().double(), layer.bias.detach().double())
                                   for layer in model.layers)
    x2 = torch.tanh(x @ w1.T + b1)
    x4 = torch.tanh(x2 @ w3.T + b3)
    upstream = w5.sum(dim=0) * (1 - x4 ** 2)  # (N, 5): ∂Σ logits / ∂(layer-3 pre-activation)
    gradient = ((upstream @ w3) * (1 - x2 ** 2)) @ w1  # (N, 784)
    return gradient.var(dim=0, unbiased=False)


def test_quick_run_with_summed_outputs_prunes_by_the_summed_sensitivity(tmp_path, data_dir,
                                                                        mnist):
    out = tmp_path / "out"
    records = {r["spec"]["config"]["invert"]: r for r in
               reproduce_quick(NAME, out, data_dir, options=("--nnsp-outputs", "summed"))}
    assert set(records) == {True, False}
    standard = records[False]
    assert standard["spec"]["config"]["nnsp_outputs"] == "summed"
    assert standard["result"]["run_options"]["nnsp_outputs"] == "summed"
    protocol = reproduction_protocol("quick")
    split = restrict(mnist.train, protocol)
    model = initialize(build_mlp("N4"), 0, REPRODUCTION_INIT)
    x = split.x.double()
    w1, b1 = model.layers[0].weight.detach().double(), model.layers[0].bias.detach().double()
    w3 = model.layers[1].weight.detach().double()
    slope = 1 - torch.tanh(x @ w1.T + b1) ** 2  # (N, 100)
    level_3 = ((slope * w3.sum(dim=0)) @ w1).var(dim=0, unbiased=False)  # Var(Σ_o S_ok)
    untrained = standard["result"]["untrained"]["nnsp-3"]["kept_inputs"]
    assert untrained == (level_3 >= 0.5 * level_3.max()).nonzero().flatten().tolist()
    assert 0 < len(untrained) < 784
    with one_thread():
        train(model, split, protocol, epochs=protocol.epochs(5000), seed=0, progress=False)
    variance = _summed_logit_sensitivity_variance(model, x)
    kept = standard["result"]["trained"]["nnsp-5"]["kept_inputs"]
    assert kept == (variance >= 0.1 * variance.max()).nonzero().flatten().tolist()
    assert 0 < len(kept) < 784
    summary = (out / NAME / "summary.md").read_text()
    assert "nnsp_outputs summed" in summary and "Var(Σ_o S_ok)" in summary
    assert "| NNSP(5) (none) |" in summary and "0.9636 ± 0.0018" in summary
