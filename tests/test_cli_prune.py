"""``neuroplast prune`` end to end on a briefly trained N4, and its error exits.

Every user error exits with status 2 and one line on stderr; an existing ``--out`` is refused
before any work (here: before the data directory is even looked at).
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import assert_one_line_error, mnist_dir, run_cli

from neuroplast.efficiency import efficiency
from neuroplast.models import load_model, save_model
from neuroplast.stats import collect_site_statistics
from neuroplast.train import evaluate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"



@pytest.fixture(scope="module")
def data_dir():
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    return directory


@pytest.fixture(scope="module")
def model_file(trained_n4, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "n4.pt"
    save_model(trained_n4, path, metadata={"arch": "N4", "seed": 0})
    return path




def table_row(out: str, label: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [label])


def test_cutoff_prunes_prints_before_after_and_saves(model_file, data_dir, tmp_path, capsys,
                                                      mnist, trained_n4):
    stats = collect_site_statistics(trained_n4, "hidden1", mnist.train.x)
    ranked = efficiency("connection", trained_n4, "hidden1", stats).sort().values
    cutoff = float(ranked[49] + ranked[50]) / 2  # 50 neurons lie below it
    out_file = tmp_path / "pruned.pt"
    code, out, err = run_cli(["prune", model_file, "--site", "hidden1", "--rule", "A1",
                              "--cutoff", cutoff, "--out", out_file, "--data", data_dir], capsys)
    assert code == 0, err
    pruned, metadata = load_model(out_file)
    width = pruned.widths[1]
    assert width == 50
    before, after = table_row(out, "before"), table_row(out, "after")
    assert before[1] == "100" and after[1] == str(width)
    assert int(after[2].replace(",", "")) == sum(p.numel() for p in pruned.parameters())
    assert int(after[3].replace(",", "")) == 784 * width + width * 5 + 5 * 10
    assert float(after[4]) == pytest.approx(evaluate(pruned, mnist.train).accuracy, abs=1e-4)
    assert float(after[5]) == pytest.approx(evaluate(pruned, mnist.test).accuracy, abs=1e-4)
    assert after[-1] == "s" and float(after[-2]) > 0
    record = metadata["pruning"]
    assert record["rule"] == "A1" and record["strategy"] == "cutoff" and record["value"] == cutoff
    assert record["results"][0]["width_after"] == width
    assert metadata["parent"]["metadata"]["arch"] == "N4"


@pytest.mark.parametrize("amount", ["40", "0.4"])
def test_amount_count_and_fraction(model_file, data_dir, tmp_path, capsys, amount):
    out_file = tmp_path / "pruned.pt"
    code, out, err = run_cli(["prune", model_file, "--amount", amount, "--rule", "lstsq",
                              "--out", out_file, "--data", data_dir], capsys)
    assert code == 0, err
    assert load_model(out_file)[0].widths == [784, 60, 5, 10]


def test_accuracy_goal_holds_on_the_saved_model(model_file, data_dir, tmp_path, capsys, mnist,
                                                trained_n4):
    goal = round(evaluate(trained_n4, mnist.train).accuracy - 0.01, 4)
    out_file = tmp_path / "pruned.pt"
    code, out, err = run_cli(["prune", model_file, "--goal-accuracy", goal, "--out", out_file,
                              "--data", data_dir], capsys)
    assert code == 0, err
    pruned, metadata = load_model(out_file)
    assert pruned.widths[1] < 100
    assert evaluate(pruned, mnist.train).accuracy >= goal - 2e-4
    assert metadata["pruning"]["results"][0]["accuracy"] >= goal


def test_input_site_with_pixel_map(model_file, data_dir, tmp_path, capsys):
    png, out_file = tmp_path / "map.png", tmp_path / "pruned.pt"
    code, out, err = run_cli(["prune", model_file, "--site", "input", "--relative-cutoff",
                              "0.05", "--pixel-map", png, "--out", out_file, "--data", data_dir],
                             capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    pruned, _ = load_model(out_file)
    assert pruned.n_inputs == 784 and pruned.widths[0] < 784
    assert {0, 27, 756, 783}.isdisjoint(pruned.selector.kept.tolist())  # the corners go


def test_cycles_print_one_row_per_cycle(model_file, data_dir, tmp_path, capsys):
    out_file = tmp_path / "pruned.pt"
    code, out, err = run_cli(["prune", model_file, "--relative-cutoff", "0.05", "--cycles", "2",
                              "--retrain-epochs", "50", "--protocol", "quick", "--no-progress",
                              "--out", out_file, "--data", data_dir], capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if re.match(r"\s*[12]\s+\d+\s+[\d,]+", line)]
    assert len(rows) == 2
    results = load_model(out_file)[1]["pruning"]["results"]
    assert len(results) == 2 and all(r["retrain"] is not None for r in results)


@pytest.mark.parametrize("args, pattern", [
    (["--rule", "A4", "--cutoff", "0.1"], "unknown re-wiring rule 'A4'"),
    (["--cutoff", "0.1", "--amount", "3"], "not allowed with argument"),
    ([], "one of the arguments .* is required"),
    (["--cutoff", "-0.5"], "cutoff must be >= 0"),
    (["--amount", "100"], "would remove every neuron"),
    (["--amount", "lots"], "expected a count .* or a fraction"),
    (["--measure", "nope", "--cutoff", "0.1"], "unknown efficiency measure 'nope'"),
    (["--goal-accuracy", "97"], r"goal_accuracy must be in \(0, 1\]"),
    (["--cutoff", "0.1", "--pixel-map", "x.png"], "needs --site input"),
    (["--cutoff", "0.1", "--site", "hidden9"], "unknown site 'hidden9'"),
])
def test_bad_arguments_exit_with_one_line(model_file, tmp_path, capsys, args, pattern):
    code, _, err = run_cli(["prune", model_file, "--data", tmp_path / "no-data", *args], capsys)
    assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "x.png").exists()


def test_removing_everything_is_refused(model_file, data_dir, tmp_path, capsys):
    out_file = tmp_path / "pruned.pt"
    code, _, err = run_cli(["prune", model_file, "--cutoff", "1e9", "--out", out_file,
                            "--data", data_dir], capsys)
    assert_one_line_error(code, err, "would remove every neuron of site 'hidden1'")
    assert not out_file.exists()


def test_existing_out_is_refused_before_any_work(model_file, tmp_path, capsys):
    out_file = tmp_path / "pruned.pt"
    out_file.write_bytes(b"keep me")
    code, _, err = run_cli(["prune", tmp_path / "missing-model.pt", "--cutoff", "0.1",
                            "--out", out_file, "--data", tmp_path / "no-data"], capsys)
    assert_one_line_error(code, err, "already exists; choose another --out or pass --force")
    assert out_file.read_bytes() == b"keep me"
    png = tmp_path / "map.png"
    png.write_bytes(b"old")
    code, _, err = run_cli(["prune", model_file, "--site", "input", "--cutoff", "0.1",
                            "--pixel-map", png, "--data", tmp_path / "no-data"], capsys)
    assert_one_line_error(code, err, "already exists; choose another --pixel-map")


def test_pixel_map_masks_and_frequencies(tmp_path):
    from neuroplast.errors import NeuroplastError
    from neuroplast.plots.pixel_map import (
        draw_removal_frequency,
        kept_mask,
        removal_frequency,
    )

    mask = kept_mask(torch.tensor([0, 29, 783]))
    assert mask.shape == (28, 28) and int(mask.sum()) == 3
    assert mask[0, 0] and mask[1, 1] and mask[27, 27] and not mask[0, 1]
    frequency = removal_frequency([torch.arange(784), torch.arange(392), torch.tensor([5])])
    assert frequency[0, 5] == 0.0  # kept in every run
    assert frequency[0, 6] == pytest.approx(1 / 3)  # removed only in the last run
    assert frequency[27, 27] == pytest.approx(2 / 3)
    png = draw_removal_frequency([torch.arange(392), torch.arange(100)], tmp_path / "f.png")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(NeuroplastError, match="needs 28×28 = 784 input features"):
        kept_mask(torch.tensor([0]), n_features=100)
