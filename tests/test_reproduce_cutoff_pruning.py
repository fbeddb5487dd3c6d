"""``neuroplast reproduce cutoff-pruning`` (§5.2, Figs 4–5): quick run and the report's claims."""

from __future__ import annotations

import pytest
import torch
from conftest import quick_trained_n4, reproduce_quick, reproduction_protocol

from neuroplast.experiments.definitions.cutoff_pruning import PAPER_CUTOFFS, configs, report
from neuroplast.train import get_protocol, restrict

NAME = "cutoff-pruning"


def test_configs_are_the_papers_and_shrink_for_quick():
    (full,) = configs(get_protocol("fast"))
    assert full["cutoffs"] == [0.01, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3]
    assert (full["arch"], full["site"], full["rule"]) == ("N4", "hidden1", "A1")
    assert (full["paper_epochs"], full["retrain_paper_epochs"]) == (5000, 500)
    (quick,) = configs(get_protocol("quick"))
    assert 1 < len(quick["cutoffs"]) < len(full["cutoffs"])


def _a1_hidden(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent float64 hidden1 E_k (eq. 28) = C_kk Σ_i w_ik² f'(ȳ_i)² / C_ii, and the values."""
    w0, b0 = model.layers[0].weight.detach().double(), model.layers[0].bias.detach().double()
    w1, b1 = model.layers[1].weight.detach().double(), model.layers[1].bias.detach().double()
    h = torch.tanh(x.double() @ w0.T + b0)  # (N, 100)
    out = torch.tanh(h @ w1.T + b1)  # (N, 5)
    slope = 1 - torch.tanh(h.mean(dim=0) @ w1.T + b1) ** 2  # (5,)
    gain = (w1 ** 2 * (slope ** 2 / out.var(dim=0, unbiased=False)).unsqueeze(1)).sum(dim=0)
    return h.var(dim=0, unbiased=False) * gain, h  # (100,), (N, 100)


def _accuracy_with_means(model, h: torch.Tensor, dead: torch.Tensor, y: torch.Tensor) -> float:
    """A1 by hand: dead neurons replaced by their mean, the rest of the net unchanged."""
    h = h.clone()
    h[:, dead] = h[:, dead].mean(dim=0)
    z = h
    for layer in model.layers[1:-1]:
        z = torch.tanh(z @ layer.weight.detach().double().T + layer.bias.detach().double())
    last = model.layers[-1]
    logits = z @ last.weight.detach().double().T + last.bias.detach().double()
    return float((logits.argmax(dim=1) == y).double().mean())


def test_quick_run_prunes_what_eq_28_says_and_reports_the_paper(tmp_path, data_dir, mnist):
    out = tmp_path / "out"
    records = reproduce_quick(NAME, out, data_dir, seeds=2)
    assert [r["spec"]["seed"] for r in records] == [0, 1]
    for record in records:
        rows = record["result"]["rows"]
        assert [row["cutoff"] for row in rows] == record["spec"]["config"]["cutoffs"]
        widths = [row["remaining_neurons"] for row in rows]
        assert widths == sorted(widths, reverse=True) and 1 <= widths[-1] <= widths[0] <= 100
        for row in rows:
            assert row["remaining_neurons_after_second_pruning"] == \
                row["remaining_neurons"] - row["removed_by_second_pruning"]
            assert all(0.0 <= row[k] <= 1.0 for k in row if "accuracy" in k)
            assert row["pruning_time_s"] > 0 and row["retraining_time_s"] > 0

    # Seed 0 again, by hand: which neurons fall below each ε, and the accuracy after A1.
    protocol = reproduction_protocol("quick")
    split = restrict(mnist.train, protocol)
    model = quick_trained_n4(mnist.train)
    efficiency, h = _a1_hidden(model, split.x)
    result = records[0]["result"]
    assert result["max_hidden_efficiency"] == pytest.approx(float(efficiency.max()), rel=1e-4)
    for row in result["rows"]:
        dead = torch.nonzero(efficiency < row["cutoff"]).flatten()
        assert row["remaining_neurons"] == 100 - dead.numel()
        expected = _accuracy_with_means(model, h, dead, split.y)
        assert abs(row["accuracy_after_pruning"] - expected) <= 2 / split.n

    summary = (out / NAME / "summary.md").read_text()
    assert "0.97981 ± 0.00023" in summary and "0.631 ± 0.026" in summary  # Fig. 5 caption
    assert "| 0.01 | " in summary and "0.97840 ± 0.0002" in summary  # Fig. 5, ε = 0.01
    for claim in ("| 6 |", "| 8 |", "| 7 (cutoff half) |"):
        assert claim in summary
    assert "**confirmed**" not in summary  # quick runs are smoke tests
    assert (out / NAME / "fig4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _record(seed: int, rows: list[dict]) -> dict:
    return {"spec": {"experiment": NAME, "protocol": "fast", "seed": seed,
                     "config": configs(get_protocol("fast"))[0]},
            "result": {"train_accuracy": 0.978, "train_loss": 0.1, "test_accuracy": 0.965,
                       "training_time_s": 11.0, "max_hidden_efficiency": 0.4, "rows": rows},
            "provenance": {"protocol": get_protocol("fast").as_dict(), "wall_s": 30.0,
                           "neuroplast": "0", "torch": "0", "python": "3", "platform": "test"}}


def _row(cutoff: float, index: int, seed: int, *, second_removes: int = 0,
         rise_at: float | None = None) -> dict:
    """A plausible row: accuracy and width fall with the cutoff, seeds differ slightly."""
    accuracy = 0.98 - 0.05 * index - 0.001 * seed + (0.2 if cutoff == rise_at else 0.0)
    width = 90 - 9 * index - seed
    return {"cutoff": cutoff, "max_efficiency": 0.4, "accuracy_after_pruning": accuracy - 0.01,
            "test_accuracy_after_pruning": accuracy - 0.02, "remaining_neurons": width,
            "pruning_time_s": 0.5, "emptied": False, "accuracy_after_learning": accuracy,
            "test_accuracy_after_learning": accuracy - 0.01, "retraining_time_s": 1.0,
            "learning_and_second_pruning_time_s": 1.5,
            "accuracy_after_second_pruning": accuracy - 0.002 * second_removes,
            "test_accuracy_after_second_pruning": accuracy - 0.01,
            "remaining_neurons_after_second_pruning": width - second_removes,
            "removed_by_second_pruning": second_removes, "second_pruning_time_s": 0.5}


def _claims(summary: str) -> dict[str, str]:
    rows = [line.split("|") for line in summary.splitlines() if line.startswith("| ")]
    return {cells[1].strip(): cells[3].strip() for cells in rows if len(cells) == 6}


def test_report_verdicts_follow_the_rows(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    stable = [_record(s, [_row(c, i, s) for i, c in enumerate(PAPER_CUTOFFS)]) for s in range(4)]
    claims = _claims(report(stable, tmp_path / "a").read_text())
    assert claims["6"] == "**confirmed**" and claims["8"] == "**confirmed**"
    assert claims["7 (cutoff half)"] == "**inconclusive**"

    unstable = [_record(s, [_row(c, i, s, second_removes=3 + s % 2, rise_at=0.2)
                            for i, c in enumerate(PAPER_CUTOFFS)]) for s in range(4)]
    summary = report(unstable, tmp_path / "b").read_text()
    claims = _claims(summary)
    assert claims["6"] == "**not confirmed**" and claims["8"] == "**not confirmed**"
    assert "| 0.3 | 11.0 ± 0.0 | 11.04 ± 0.27 | -0.0 ± 0.3 |" not in summary
    assert "11.04 ± 0.27" in summary and "1.474 ± 0.006" in summary  # paper cells, ε = 0.3
