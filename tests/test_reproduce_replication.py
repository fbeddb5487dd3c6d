"""``neuroplast reproduce replication`` (paper §5.6, Figs 21–22) with the quick protocol."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import REPRODUCTION_INIT, mnist_dir, reproduction_protocol

from neuroplast.cli.main import main
from neuroplast.experiments.claims import Verdict, all_of, direction_verdict
from neuroplast.experiments.definitions.replication import stage_seed
from neuroplast.models import build_mlp, initialize
from neuroplast.train import evaluate, restrict, train

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple:
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    out = tmp_path_factory.mktemp("replication")
    assert main(["reproduce", "replication", "--protocol", "quick", "--seeds", "2", "--out",
                 str(out), "--data", str(directory), "--no-progress"]) == 0
    records = [json.loads(p.read_text()) for p in (out / "replication" / "runs").glob("*.json")]
    return out / "replication", records


def _one(records, figure, seed=0):
    (record,) = [r for r in records if r["spec"]["config"]["figure"] == figure
                 and r["spec"]["seed"] == seed]
    return record["result"]


def _efficiency_float64(model, x):
    """E_k of hidden1 (eq. 28) written out in float64: C_kk Σ_i w_ik² f'(ȳ_i)² / C_ii."""
    w1, b1 = model.layers[0].weight.double(), model.layers[0].bias.double()
    w2, b2 = model.layers[1].weight.double(), model.layers[1].bias.double()
    h = torch.tanh(x.double() @ w1.T + b1)  # (n, 5) site outputs
    consumer = torch.tanh(h @ w2.T + b2)  # (n, 20) consumer outputs
    y_bar = h.mean(0) @ w2.T + b2  # (20,) pre-activation at the mean input
    slope = 1 - torch.tanh(y_bar) ** 2
    return h.var(0, unbiased=False) * ((slope**2 / consumer.var(0, unbiased=False)) @ w2**2)


def test_runs_cover_the_paper_configurations(sweep):
    _, records = sweep
    configs = {(r["spec"]["config"]["figure"], r["spec"]["config"]["arch"]) for r in records}
    assert configs == {("fig21", "N1"), ("fig22", "N1")}  # quick: N1 only
    assert len(records) == 4
    assert {r["spec"]["config"]["pretrain_paper_epochs"] for r in records} == {25000, 10000}


def test_widths_parents_and_function_preservation(sweep):
    _, records = sweep
    result = _one(records, "fig21")
    assert set(result["methods"]) == {"B1", "B2", "B3", "B4", "B5"}
    scores = result["efficiency"]
    assert result["parent"] == max(range(5), key=lambda k: (scores[k], -k))
    for method, branch in result["methods"].items():
        assert branch["width"] == (5 if method == "B5" else 6)
        assert branch["parents"] == ([result["parent"]] if method in ("B1", "B2", "B3") else [])
        assert [s["paper_epochs"] for s in branch["stages"]] == [10, 100, 1000]
        for s in branch["stages"]:
            assert math.isclose(s["delta_loss"],
                                s["train"]["loss"] - result["pretrain"]["train"]["loss"])
    # B1–B3 leave the function unchanged, B5 does nothing, B4 changes the output.
    for method in ("B1", "B2", "B3"):
        assert abs(result["methods"][method]["delta_loss_at_replication"]) < 1e-5
    assert result["methods"]["B5"]["delta_loss_at_replication"] == 0.0
    assert abs(result["methods"]["B4"]["delta_loss_at_replication"]) > 1e-5
    # quick: stages of 10, 90, 900 paper epochs = 0.2, 1.8, 18 steps -> 1, 2, 18 steps
    assert [s["steps"] for s in result["methods"]["B1"]["stages"]] == [1, 2, 18]
    assert result["pretrain"]["steps"] == 500


def test_same_training_done_here_gives_the_same_numbers(sweep, mnist):
    """Seed 0, N1, 25000 paper epochs, then B5's three stages with the stage seeds; E_k too."""
    _, records = sweep
    result = _one(records, "fig21")
    protocol = reproduction_protocol("quick")
    data = restrict(mnist.train, protocol)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = initialize(build_mlp("N1"), 0, REPRODUCTION_INIT)
        train(model, data, protocol, epochs=protocol.epochs(25000), seed=0, progress=False)
        assert evaluate(model, data).loss == result["pretrain"]["train"]["loss"]
        expected = _efficiency_float64(model, data.x)
        assert torch.allclose(torch.tensor(result["efficiency"], dtype=torch.float64), expected,
                              rtol=1e-6, atol=1e-9)
        done = 0
        for horizon, checkpoint in zip((10, 100, 1000), result["methods"]["B5"]["stages"],
                                       strict=True):
            train(model, data, protocol, epochs=protocol.epochs(horizon - done),
                  seed=stage_seed(0, horizon), progress=False)
            done = horizon
            assert evaluate(model, data).loss == checkpoint["train"]["loss"]
            assert evaluate(model, mnist.test).accuracy == checkpoint["test"]["accuracy"]
    finally:
        torch.set_num_threads(threads)


def test_summary_has_the_paper_numbers_figures_and_claims(sweep):
    directory, records = sweep
    summary = (directory / "summary.md").read_text()
    assert "0.91751 ± 0.00034" in summary  # Fig. 22 caption: N1 after 10000 epochs
    for printed in ("0.91776 ± 0.00033", "0.9099 ± 0.0006", "0.92313 ± 0.00026"):
        assert printed in summary
    row = next(line for line in summary.splitlines()
               if line.startswith("| After 1000 epochs retraining, B1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    ours = [_one(records, "fig22", s)["methods"]["B1"]["stages"][2]["train"]["accuracy"]
            for s in (0, 1)]
    shown = cells[1].split()[0]  # the mean as printed, e.g. "0.7918"
    decimals = len(shown.split(".")[1])
    assert abs(float(shown) - sum(ours) / 2) <= 0.5 * 10**-decimals + 1e-12
    assert cells[2] == "0.92313 ± 0.00026"
    for claim in ("| 18a |", "| 18b |", "| 18c |", "| 18d |", "| 19a |", "| 19b |", "| 19c |"):
        assert claim in summary
    assert "**confirmed**" not in summary  # quick: every verdict is inconclusive
    for png in ("fig21_delta_loss_pdf.png", "fig22_accuracy.png"):
        assert (directory / png).read_bytes()[:8] == PNG


@pytest.mark.parametrize("difference, se, verdict", [
    (0.010, 0.004, Verdict.CONFIRMED),  # 0.010 − 1.96·0.004 = 0.00216 > 0
    (0.010, 0.006, Verdict.INCONCLUSIVE),  # interval (−0.0018, 0.0218) contains 0
    (-0.010, 0.004, Verdict.NOT_CONFIRMED),
    (0.010, None, Verdict.INCONCLUSIVE),  # one seed
    (0.0, 0.0, Verdict.INCONCLUSIVE),
    (float("nan"), 0.1, Verdict.INCONCLUSIVE),
])
def test_direction_verdict(difference, se, verdict):
    """The one-sided claims of these reports ("B1 beats B3", "ε = 0.01 lowers the loss")."""
    assert direction_verdict(difference, se) is verdict


def test_all_of_needs_every_part():
    c, n, i = Verdict.CONFIRMED, Verdict.NOT_CONFIRMED, Verdict.INCONCLUSIVE
    assert all_of([c, c]) is c
    assert all_of([c, i]) is i
    assert all_of([c, i, n]) is n
    assert all_of([]) is i
