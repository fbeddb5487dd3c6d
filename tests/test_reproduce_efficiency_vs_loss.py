"""``neuroplast reproduce efficiency-vs-loss`` (§5.1, Figs 1–3) with the quick protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPRODUCTION_INIT, one_thread, reproduce_quick, reproduction_protocol

from neuroplast.analysis import linear_fit
from neuroplast.experiments.definitions.efficiency_vs_loss import checkpoint_epochs
from neuroplast.models import build_mlp, initialize
from neuroplast.stats import spearman
from neuroplast.train import evaluate, get_protocol, restrict, train

NAME = "efficiency-vs-loss"


def test_checkpoints_fall_on_whole_epochs():
    assert checkpoint_epochs(get_protocol("fast"), [0, 100, 500, 50000]) == {
        0: 0.0, 1: 100.0, 5: 500.0, 500: 50000.0}
    # quick: 100 paper epochs are 0.2 of an epoch -> epoch 1, which 500 (= 1 epoch) then shares
    assert checkpoint_epochs(get_protocol("quick"), [0, 100, 500, 50000]) == {
        0: 0.0, 1: 100.0, 100: 50000.0}


# -- the whole experiment ------------------------------------------------------------------


def _a1_delta_loss_float64(model, split) -> np.ndarray:
    """Δ mean cross-entropy when hidden1 neuron l is replaced by its mean, for each l."""
    layers = [(layer.weight.detach().double(), layer.bias.detach().double())
              for layer in model.layers]
    x = split.x.double()
    h = torch.tanh(x @ layers[0][0].T + layers[0][1])  # (N, n)

    def loss(hidden: torch.Tensor) -> float:
        z = torch.tanh(hidden @ layers[1][0].T + layers[1][1])
        logits = z @ layers[2][0].T + layers[2][1]
        return float(F.cross_entropy(logits, split.y))

    base = loss(h)
    deltas = []
    for l in range(h.shape[1]):
        replaced = h.clone()
        replaced[:, l] = h[:, l].mean()
        deltas.append(loss(replaced) - base)
    return np.asarray(deltas)


def test_quick_run_reports_claims_figures_and_exact_delta_loss(tmp_path, data_dir, mnist):
    out = tmp_path / "out"
    records = reproduce_quick(NAME, out, data_dir, seeds=2)
    assert [r["spec"]["seed"] for r in records] == [0, 1]
    protocol = reproduction_protocol("quick")
    split = restrict(mnist.train, protocol)

    for record in records:
        result = record["result"]
        assert result["arch"] == "N1" and result["width"] == 5
        checkpoints = result["checkpoints"]
        assert [c["paper_epoch"] for c in checkpoints] == [0, 500, 50000]
        assert [c["epoch"] for c in checkpoints] == [0, 1, 100]
        for checkpoint in checkpoints:
            assert set(checkpoint["rules"]) == {"A1", "A2", "A3", "lstsq"}
            for rule, entry in checkpoint["rules"].items():
                delta = np.asarray(entry["delta_loss"])
                score = np.asarray(checkpoint["efficiency"][entry["measure"]])
                assert entry["measure"] == ("covariance" if rule in ("A3", "lstsq")
                                            else "connection")
                assert delta.shape == (5,) and np.isfinite(delta).all()
                assert entry["mean_delta_loss"] == pytest.approx(delta.mean())
                assert entry["least_efficient_delta_loss"] == delta[np.argmin(score)]
                if entry["slope"] is not None:
                    assert entry["slope"] == pytest.approx(np.polyfit(delta, score, 1)[0])
            counts = checkpoint["low_efficiency_count"]
            for measure, values in checkpoint["efficiency"].items():
                assert counts[measure] == sum(v <= 1e-3 for v in values)
        # training lowers the loss from checkpoint to checkpoint
        losses = [c["train_loss"] for c in checkpoints]
        assert losses[0] > losses[1] > losses[2]

    # Epoch 0 is the initialised net: Δ⟨H⟩ of A1 against a float64 re-implementation.
    seed0 = records[0]["result"]["checkpoints"]
    model = initialize(build_mlp("N1"), 0, REPRODUCTION_INIT)
    expected = _a1_delta_loss_float64(model, split)
    np.testing.assert_allclose(seed0[0]["rules"]["A1"]["delta_loss"], expected, atol=2e-5)

    # The last checkpoint is the net an uninterrupted training of 50000 paper epochs gives.
    with one_thread():
        train(model, split, protocol, epochs=protocol.epochs(50000), seed=0, progress=False)
    final = evaluate(model, split)
    assert seed0[-1]["train_loss"] == pytest.approx(final.loss, rel=1e-5)
    assert seed0[-1]["train_accuracy"] == pytest.approx(final.accuracy, abs=1e-9)

    summary = (out / NAME / "summary.md").read_text()
    assert "### N1 (2 runs; paper: 50; 5 neurons in hidden1)" in summary
    for claim in ("| 1 |", "| 2 |", "| 3 |", "| 3b |", "| 4 |"):
        assert claim in summary
    assert "**confirmed**" not in summary  # quick: a smoke test is always inconclusive
    assert "no runs for N3" in summary
    for name in ("fig1_efficiency_vs_delta_loss.png", "fig2_delta_loss_over_training.png",
                 "fig3_slopes_over_training.png"):
        assert (out / NAME / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in summary
    slope_row = next(line for line in summary.splitlines() if line.startswith("| 50000 |")
                     and "ρ" in line)
    pooled = linear_fit(
        np.concatenate([r["result"]["checkpoints"][-1]["rules"]["A1"]["delta_loss"]
                        for r in records]),
        np.concatenate([r["result"]["checkpoints"][-1]["efficiency"]["connection"]
                        for r in records]))[0]
    assert f"[{pooled:.3g}]" in slope_row
    assert not math.isnan(pooled)


# -- the claims, on synthetic runs whose answers are known ---------------------------------


def _synthetic_record(net: str, seed: int, a2_fails: bool = True,
                      low_at_500: bool = True) -> dict:
    """A fast-protocol record where E = 2 Δ⟨H⟩ + small noise, except A2 on N3 (E = −Δ⟨H⟩;
    with ``a2_fails=False`` as A1), the least efficient neuron costs least, and N3 has
    low-efficiency neurons at 500 only (none with ``low_at_500=False``)."""
    rng = np.random.default_rng(seed)
    width = {"N1": 5, "N2": 10, "N3": 20}[net]
    checkpoints = []
    for epoch in (0, 500, 50000):
        delta = np.sort(rng.uniform(0.01, 1.0, size=width))
        efficiency = 2.0 * delta + 0.01 * rng.normal(size=width)
        if net == "N3" and epoch == 500 and low_at_500:
            efficiency[:3] = 1e-4  # three low-efficiency neurons, the three cheapest ones
        rules = {}
        for rule in ("A1", "A2", "A3", "lstsq"):
            measure = "covariance" if rule in ("A3", "lstsq") else "connection"
            deltas = delta[::-1].copy() if (net, rule) == ("N3", "A2") and a2_fails else delta
            score = efficiency
            slope, intercept = linear_fit(deltas, score)
            rules[rule] = {"measure": measure, "delta_loss": deltas.tolist(),
                           "mean_delta_loss": float(deltas.mean()),
                           "least_efficient_delta_loss": float(deltas[np.argmin(score)]),
                           "slope": slope, "intercept": intercept,
                           "spearman": spearman(torch.from_numpy(score),
                                                torch.from_numpy(deltas))}
        checkpoints.append({
            "epoch": epoch // 100, "paper_epoch": float(epoch), "train_loss": 1.0 / (1 + epoch),
            "train_accuracy": 0.9, "rules": rules,
            "efficiency": {"connection": efficiency.tolist(), "covariance": efficiency.tolist()},
            "low_efficiency_count": {m: int((efficiency <= 1e-3).sum())
                                     for m in ("connection", "covariance")}})
    provenance = {"protocol": get_protocol("fast").as_dict(), "wall_s": 1.0, "neuroplast": "t",
                  "torch": "t", "python": "t", "platform": "t"}
    return {"spec": {"config": {"arch": net}, "seed": seed, "protocol": "fast"},
            "provenance": provenance,
            "result": {"arch": net, "site": "hidden1", "width": width, "examples": 60000,
                       "train_wall_time_s": 1.0, "checkpoints": checkpoints}}


def test_claim_verdicts_follow_the_statistics(tmp_path):
    from neuroplast.experiments.definitions.efficiency_vs_loss import report

    records = [_synthetic_record(net, seed) for net in ("N1", "N2", "N3") for seed in range(4)]
    summary = report(records, tmp_path).read_text()
    verdicts = {line.split("|")[1].strip(): line.split("|")[3].strip()
                for line in summary.splitlines() if line.startswith("| ") and "**" in line}
    assert verdicts["1"] == "**confirmed**"  # every A1/A3 slope ≈ 2 > 0
    assert verdicts["2"] == "**confirmed**"  # A2 on N3: slope < 0 everywhere
    assert verdicts["3"] == "**confirmed**"  # the least efficient neuron is the cheapest
    assert verdicts["3b"] == "**inconclusive**"  # N2's A2 is useful, N3's is not
    assert verdicts["4"] == "**confirmed**"  # 3 per run at 500, none at 50000
    assert "12 at 500 → 0 at 50000 over 4 runs" in summary


def _verdicts(records: list[dict], tmp_path) -> dict[str, str]:
    from neuroplast.experiments.definitions.efficiency_vs_loss import report

    summary = report(records, tmp_path).read_text()
    return {line.split("|")[1].strip(): line.split("|")[3].strip()
            for line in summary.splitlines() if line.startswith("| ") and "**" in line}


def test_claim_2_fails_when_a2_ranks_as_well_as_a1(tmp_path):
    """A2's slope on N3 as large as A1's is not "≈0": claim 2 flips to not confirmed."""
    records = [_synthetic_record(net, seed, a2_fails=False)
               for net in ("N1", "N2", "N3") for seed in range(4)]
    assert _verdicts(records, tmp_path)["2"] == "**not confirmed**"


def test_claim_4_is_inconclusive_without_its_premise(tmp_path):
    """No low-efficiency neuron at epoch 500: nothing can vanish, so no verdict either way."""
    records = [_synthetic_record(net, seed, low_at_500=False)
               for net in ("N1", "N2", "N3") for seed in range(4)]
    verdicts = _verdicts(records, tmp_path)
    assert verdicts["4"] == "**inconclusive**"
    assert verdicts["2"] == "**confirmed**"
