"""``neuroplast reproduce baseline-training`` with the quick protocol, and ``reproduce all``."""

from __future__ import annotations

import json

import pytest
from conftest import REPRODUCTION_INIT, REPRODUCTION_L2, one_thread, reproduction_protocol

from neuroplast.cli.main import main
from neuroplast.experiments import EXPERIMENTS
from neuroplast.models import build_mlp, initialize
from neuroplast.train import evaluate, restrict, train


def test_baseline_training_quick_reports_ours_beside_the_paper(tmp_path, data_dir, mnist,
                                                              capsys):
    out = tmp_path / "out"
    argv = ["reproduce", "baseline-training", "--setting", "fast", "--protocol", "quick",
            "--seeds", "1",
            "--out", str(out), "--data", data_dir, "--no-progress"]
    assert main(argv) == 0
    (run_file,) = (out / "baseline-training" / "runs").glob("*.json")
    record = json.loads(run_file.read_text())
    assert record["spec"] == {"experiment": "baseline-training", "protocol": "quick", "seed": 0,
                              "config": {"arch": "N4", "paper_epochs": 5000,
                                         "init": REPRODUCTION_INIT, "l2": REPRODUCTION_L2}}
    assert record["provenance"]["protocol"] == reproduction_protocol("quick").as_dict()

    # The same training done here: N4, seed 0, 5000 paper epochs, one torch thread.
    protocol = reproduction_protocol("quick")
    model = initialize(build_mlp("N4"), 0, REPRODUCTION_INIT)
    with one_thread():
        train(model, mnist.train, protocol, epochs=protocol.epochs(5000), seed=0, progress=False)
        ours_train = evaluate(model, restrict(mnist.train, protocol))
        ours_test = evaluate(model, mnist.test)
    result = record["result"]
    assert result["steps"] == 100  # 5000 paper epochs × 0.002 = 10 epochs of 6000/600 steps
    assert (result["train_accuracy"], result["train_loss"]) == (ours_train.accuracy,
                                                                ours_train.loss)
    assert (result["test_accuracy"], result["test_loss"]) == (ours_test.accuracy, ours_test.loss)

    summary = (out / "baseline-training" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| training accuracy"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].startswith(f"{result['train_accuracy']:.4f}") and "(n=1)" in cells[1]
    assert cells[2] == "0.97981 ± 0.00023"  # the paper's value, Fig. 5 caption
    assert cells[3].startswith(f"{result['train_accuracy'] - 0.97981:+.4f}")
    assert "| E2 setup |" in summary and "**inconclusive**" in summary
    assert "protocol **quick**" in summary
    png = out / "baseline-training" / "accuracy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](baseline-training/summary.md)" in (out / "index.md").read_text()

    before = run_file.read_bytes()
    assert main(argv) == 0  # a rerun only rewrites the report
    assert run_file.read_bytes() == before
    assert "1 runs (1 seeds)" in capsys.readouterr().out


@pytest.mark.slow
def test_reproduce_all_quick_two_seeds_reports_every_experiment(tmp_path, data_dir):
    """Every experiment under its default setting (the best-matching one: inverted MNIST with
    variance-1/fan_in weights for baseline-, cutoff-, goal- and input-pruning and vs-nnsp,
    Kaiming-normal weights with independent peaked sets for replication-shift), at the quick
    protocol: each writes its report and the index links it."""
    from neuroplast.experiments.settings import setting_for

    assert main(["reproduce", "all", "--protocol", "quick", "--seeds", "2", "--out",
                 str(tmp_path), "--data", data_dir, "--no-progress"]) == 0
    index = (tmp_path / "index.md").read_text()
    for name in EXPERIMENTS:
        assert (tmp_path / name / "summary.md").is_file()
        assert f"]({name}/summary.md)" in index
        configs = [json.loads(p.read_text())["spec"]["config"]
                   for p in (tmp_path / name / "runs").glob("*.json")]
        paper_probable = setting_for(name).name == "paper-probable"
        assert {c["init"] for c in configs} == {
            "lecun-normal" if paper_probable else "kaiming-normal"}, name
        assert {c.get("peaked_sets") for c in configs} == {
            "independent" if name == "replication-shift" else None}, name
