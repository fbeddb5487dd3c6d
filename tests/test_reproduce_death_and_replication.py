"""``neuroplast reproduce death-and-replication`` (paper §5.8, Figs 24–26), quick protocol."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPRODUCTION_INIT, mnist_dir, reproduction_protocol

from neuroplast.cli.main import main
from neuroplast.models import build_mlp, initialize
from neuroplast.train import train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple:
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    out = tmp_path_factory.mktemp("death-replication")
    assert main(["reproduce", "death-and-replication", "--protocol", "quick", "--seeds", "2",
                 "--out", str(out), "--data", str(directory), "--no-progress"]) == 0
    records = [json.loads(p.read_text())
               for p in (out / "death-and-replication" / "runs").glob("*.json")]
    by_key = {(r["spec"]["config"]["cutoff"], r["spec"]["seed"]): r["result"] for r in records}
    return out / "death-and-replication", by_key


def test_quick_runs_epsilon_zero_and_the_papers(sweep):
    _, results = sweep
    assert set(results) == {(0.0, 0), (0.0, 1), (0.01, 0), (0.01, 1)}


def test_events_follow_the_schedule(sweep):
    _, results = sweep
    for (cutoff, _), result in results.items():
        events = result["events"]
        # quick: 5000 paper epochs = 10 epochs, Δt = 500 paper epochs = 1 epoch, none at the end
        assert [e["paper_epoch"] for e in events] == pytest.approx([500.0 * k
                                                                   for k in range(1, 10)])
        assert result["curve"]["paper_epoch"] == pytest.approx([500.0 * k for k in range(1, 11)])
        for event in events:
            assert event["width_before"] == event["width"] == 100
            assert 0 <= event["n_removed"] <= 50
            assert event["n_removed"] == min(event["n_below_cutoff"], 50)
            assert event["fraction_removed"] == event["n_removed"] / 100
            assert event["fraction_affected"] == pytest.approx(2 * event["fraction_removed"])
            if cutoff == 0:
                assert event["n_removed"] == 0
                assert event["loss_after"] == event["loss_before"]
    assert sum(e["n_removed"] for e in results[(0.01, 0)]["events"]) > 0


def test_epsilon_zero_is_plain_training(sweep, mnist):
    """ε = 0 removes nothing, so the run equals N4 trained without any callback."""
    _, results = sweep
    protocol = reproduction_protocol("quick")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = initialize(build_mlp("N4"), 1, REPRODUCTION_INIT)
        history = train(model, mnist.train, protocol, epochs=protocol.epochs(5000), seed=1,
                        test_split=mnist.test, progress=False)
    finally:
        torch.set_num_threads(threads)
    final = results[(0.0, 1)]["final"]
    for key in ("train_loss", "train_accuracy", "test_accuracy", "steps"):
        assert final[key] == history.final[key]
    assert results[(0.0, 1)]["curve"]["mean_batch_loss"] == [
        e["mean_batch_loss"] for e in history.epochs]


def test_summary_has_the_paper_numbers_figures_and_claims(sweep):
    directory, results = sweep
    summary = (directory / "summary.md").read_text()
    row = next(line for line in summary.splitlines()
               if line.startswith("| training accuracy, ε = 0 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "0.97981 ± 0.00023"
    ours = [results[(0.0, s)]["final"]["train_accuracy"] for s in (0, 1)]
    shown = cells[1].split()[0]
    assert abs(float(shown) - sum(ours) / 2) <= 0.5 * 10 ** -len(shown.split(".")[1]) + 1e-12
    assert "about 0.40" in summary and "about 0.20" in summary
    assert "71.80 ± 0.20" in summary  # the paper's N4 training time (Fig. 12)
    for claim in ("| 21a |", "| 21b |", "| 21c |", "| 21d |"):
        assert claim in summary
    assert "**confirmed**" not in summary
    for png in ("fig24_loss_curve.png", "fig25_final_vs_cutoff.png",
                "fig26_fraction_affected.png"):
        assert (directory / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
