"""``neuroplast reproduce replication-shift`` (paper §5.7, Fig. 23) with the quick protocol."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPRODUCTION_INIT, mnist_dir, reproduction_protocol

from neuroplast.cli.main import main
from neuroplast.data import peaked_split
from neuroplast.experiments.definitions.replication import stage_seed
from neuroplast.models import build_mlp, initialize
from neuroplast.train import evaluate, restrict, train


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple:
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    out = tmp_path_factory.mktemp("shift")
    assert main(["reproduce", "replication-shift", "--protocol", "quick", "--seeds", "2",
                 "--out", str(out), "--data", str(directory), "--no-progress"]) == 0
    records = [json.loads(p.read_text())
               for p in (out / "replication-shift" / "runs").glob("*.json")]
    return out / "replication-shift", sorted(records, key=lambda r: r["spec"]["seed"])


def _efficiency_float64(model, x):
    """E_k of hidden1 (eq. 28) in float64: C_kk Σ_i w_ik² f'(ȳ_i)² / C_ii."""
    w1, b1 = model.layers[0].weight.double(), model.layers[0].bias.double()
    w2, b2 = model.layers[1].weight.double(), model.layers[1].bias.double()
    h = torch.tanh(x.double() @ w1.T + b1)  # (n, 5)
    consumer = torch.tanh(h @ w2.T + b2)  # (n, 20)
    slope = 1 - torch.tanh(h.mean(0) @ w2.T + b2) ** 2  # (20,)
    return h.var(0, unbiased=False) * ((slope**2 / consumer.var(0, unbiased=False)) @ w2**2)


def test_results_are_sane(sweep):
    _, records = sweep
    assert len(records) == 2
    for record in records:
        result = record["result"]
        assert result["set_sizes"] == {"peaked_at_3": 11400, "peaked_at_1": 11400,
                                       "validation": 10000}
        assert set(result["methods"]) == {"B1", "B4", "B5"}
        widths = {m: b["width"] for m, b in result["methods"].items()}
        assert widths == {"B1": 6, "B4": 6, "B5": 5}
        assert result["methods"]["B1"]["parents"] == [result["parent"]]
        # B1 and B5 compute the same function at the replication point; B4 does not
        b1, b5 = (result["methods"][m]["after_replication"] for m in ("B1", "B5"))
        for name in b1:
            assert b1[name]["accuracy"] == pytest.approx(b5[name]["accuracy"], abs=2e-4)
            assert b5[name] == result["pretrain"][name]
        for branch in result["methods"].values():
            for s in branch["stages"]:
                assert all(0 <= s[n]["accuracy"] <= 1 for n in ("peaked_at_3", "peaked_at_1",
                                                                 "validation"))


def test_parent_is_chosen_on_the_new_data_and_training_matches(sweep, mnist):
    """Seed 0 redone here: '3'-peaked pretraining, E_k on the '1'-peaked data, B5's stages.
    The command's default setting for this experiment, ``fast-independent-sets``, draws the
    '1'-peaked set with its own seed (the run's + 7919)."""
    _, records = sweep
    assert records[0]["spec"]["config"]["peaked_sets"] == "independent"
    result = records[0]["result"]
    protocol = reproduction_protocol("quick")
    old = peaked_split(mnist.train, 3, seed=0)
    new = peaked_split(mnist.train, 1, seed=7919)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = initialize(build_mlp("N1"), 0, REPRODUCTION_INIT)
        train(model, old, protocol, epochs=protocol.epochs(10000), seed=0, progress=False)
        assert evaluate(model, old).accuracy == result["pretrain"]["peaked_at_3"]["accuracy"]
        expected = _efficiency_float64(model, restrict(new, protocol).x)
        assert torch.allclose(torch.tensor(result["efficiency"], dtype=torch.float64), expected,
                              rtol=1e-6, atol=1e-9)
        assert result["parent"] == int(torch.argmax(expected))
        done = 0
        for horizon, checkpoint in zip((10, 100, 1000), result["methods"]["B5"]["stages"],
                                       strict=True):
            train(model, new, protocol, epochs=protocol.epochs(horizon - done),
                  seed=stage_seed(0, horizon), progress=False)
            done = horizon
            assert evaluate(model, new).accuracy == checkpoint["peaked_at_1"]["accuracy"]
            assert evaluate(model, mnist.test).loss == checkpoint["validation"]["loss"]
    finally:
        torch.set_num_threads(threads)


def test_summary_has_the_paper_table_figure_and_claims(sweep):
    directory, records = sweep
    summary = (directory / "summary.md").read_text()
    # Fig. 23, e.g. B4 after 1000 epochs: 0.8740 ± 0.0019 | 0.9344 ± 0.0010 | 0.8613 ± 0.0023
    row = next(line for line in summary.splitlines()
               if line.startswith("| B4 | After 1000 epochs retraining |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert [cells[3], cells[6], cells[9]] == ["0.8740 ± 0.0019", "0.9344 ± 0.0010",
                                             "0.8613 ± 0.0023"]
    ours = [r["result"]["methods"]["B4"]["stages"][2]["peaked_at_1"]["accuracy"] for r in records]
    shown = cells[5].split()[0]
    assert abs(float(shown) - sum(ours) / 2) <= 0.5 * 10 ** -len(shown.split(".")[1]) + 1e-12
    assert "0.9404 ± 0.0013" in summary  # after the 10000 epochs of pretraining
    for claim in ("| 20a |", "| 20b |", "| 20c |"):
        assert claim in summary
    assert "**confirmed**" not in summary
    assert (directory / "fig23_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_independent_peaked_sets_draw_other_examples_of_the_other_digits():
    """``peaked_sets: independent`` (REFERENCE §1.15 item 21): the new set's examples of the
    eight digits that peak in neither set are mostly not the old set's; shared sets (the
    default, and a run stored before the key existed) share them all."""
    from neuroplast.data.subsets import peaked_indices
    from neuroplast.errors import NeuroplastError
    from neuroplast.experiments.definitions.replication_shift import new_set_seed

    labels = torch.arange(10).repeat_interleave(700)  # 700 examples of each digit
    old = peaked_indices(labels, 3, major=650, minor=60, seed=4)

    def others(idx: torch.Tensor) -> set[int]:  # the examples of the eight other digits
        return {int(i) for i in idx if int(labels[i]) not in (1, 3)}

    for config, least, most in (({}, 480, 480), ({"peaked_sets": "shared"}, 480, 480),
                                ({"peaked_sets": "independent"}, 0, 120)):
        new = peaked_indices(labels, 1, major=650, minor=60, seed=new_set_seed(4, config))
        assert least <= len(others(old) & others(new)) <= most  # 8 digits × 60 = 480
    with pytest.raises(NeuroplastError, match="peaked_sets must be one of"):
        new_set_seed(4, {"peaked_sets": "disjoint"})
