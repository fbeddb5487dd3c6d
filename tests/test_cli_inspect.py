"""``neuroplast inspect`` end to end on a small model trained on random MNIST-shaped IDX files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroplast.cli.main import main
from neuroplast.data import IDX_FILE_NAMES, load_mnist, write_idx
from neuroplast.models import build_mlp, initialize, save_model
from neuroplast.oracle import loss_change_oracle
from neuroplast.train import get_protocol, train

FIELDS = {"index", "mean", "variance", "E_k", "E_prime_k", "delta_loss", "delta_accuracy"}
HIDDEN = 7


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, Path]:
    """A data folder with random 28×28 images (labels tied to the image) and a trained model."""
    root = tmp_path_factory.mktemp("inspect")
    rng = np.random.default_rng(0)
    arrays = []
    for n in (600, 100):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, :3, :] = 0  # constant border rows, as in MNIST
        labels = (images[:, 10:18, 10:18].mean(axis=(1, 2)) // 12.8 % 10).astype(np.uint8)
        arrays += [images, labels]
    for name, array in zip(IDX_FILE_NAMES, arrays, strict=True):
        write_idx(root / name, array)
    dataset = load_mnist(root, download=False)
    model = initialize(build_mlp(widths=(784, HIDDEN, 4, 10)), seed=0)
    protocol = get_protocol("quick")
    train(model, dataset.train, protocol, epochs=2, seed=0, progress=False)
    path = root / "model.pt"
    save_model(model, path)
    return root, path


def inspect_json(capsys, workspace, *extra: str) -> dict:
    data, model = workspace
    code = main(["inspect", str(model), "--data", str(data), "--json", *extra])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def average_ranks(values: list[float]) -> np.ndarray:
    """Ranks 1..n with ties averaged, by sorting and scanning (independent of the library)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = np.zeros(len(values))
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def test_json_report_has_exactly_the_fields_sorted_by_efficiency(capsys, workspace):
    report = inspect_json(capsys, workspace, "--site", "hidden1")
    assert set(report) == {"site", "rule", "neurons", "rank_correlation"}
    assert report["site"] == "hidden1" and report["rule"] == "A1"
    rows = report["neurons"]
    assert all(set(row) == FIELDS for row in rows)
    assert sorted(row["index"] for row in rows) == list(range(HIDDEN))
    e_k = [row["E_k"] for row in rows]
    assert e_k == sorted(e_k)
    assert set(report["rank_correlation"]) == {"E_k", "E_prime_k"}

    # the numbers: statistics by hand, the oracle through the library, Spearman independently
    data, path = workspace
    from neuroplast.models import load_model

    model, _ = load_model(path)
    train_x = load_mnist(data, download=False).train.x
    with torch.no_grad():
        hidden = torch.tanh(model.layers[0](train_x)).double()
    by_index = {row["index"]: row for row in rows}
    for k in range(HIDDEN):
        assert by_index[k]["mean"] == pytest.approx(float(hidden[:, k].mean()), rel=1e-6)
        assert by_index[k]["variance"] == pytest.approx(
            float(hidden[:, k].var(correction=0)), rel=1e-5)
    oracle = loss_change_oracle(model, "hidden1", load_mnist(data, download=False).train, "A1")
    for k in range(HIDDEN):
        assert by_index[k]["delta_loss"] == pytest.approx(float(oracle.delta_loss[k]), rel=1e-9)
    ordered = [by_index[k] for k in range(HIDDEN)]
    for name in ("E_k", "E_prime_k"):
        a = average_ranks([row[name] for row in ordered])
        b = average_ranks([row["delta_loss"] for row in ordered])
        expected = float(np.corrcoef(a, b)[0, 1])
        assert report["rank_correlation"][name] == pytest.approx(expected, abs=1e-12)


def test_other_rule_and_input_site_text_output(capsys, workspace):
    data, model = workspace
    assert main(["inspect", str(model), "--data", str(data), "--site", "input",
                 "--rule", "a3"]) == 0
    out = capsys.readouterr().out
    assert "rule A3" in out and "784 neurons" in out
    assert "Spearman rank correlation" in out
    lines = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 784
    # constant border pixels have E_k = 0 and come first
    assert float(lines[0].split()[3]) == 0.0


def test_plot_is_written_and_not_overwritten(capsys, workspace, tmp_path):
    pytest.importorskip("matplotlib")
    data, model = workspace
    plot = tmp_path / "scatter.png"
    report = inspect_json(capsys, workspace, "--plot", str(plot))
    assert report["site"] == "hidden1"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = plot.stat().st_mtime_ns
    code = main(["inspect", str(model), "--data", str(data), "--plot", str(plot)])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert plot.stat().st_mtime_ns == before
    assert main(["inspect", str(model), "--data", str(data), "--plot", str(plot), "--force",
                 "--json"]) == 0
    json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("args", "message"), [
    (["--site", "hidden9"], "unknown site 'hidden9'"),
    (["--rule", "A7"], "unknown re-wiring rule 'A7'"),
])
def test_bad_arguments_exit_with_one_line_errors(capsys, workspace, args, message):
    data, model = workspace
    assert main(["inspect", str(model), "--data", str(data), *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_missing_model_file_exits_2(capsys, workspace, tmp_path):
    data, _ = workspace
    assert main(["inspect", str(tmp_path / "nope.pt"), "--data", str(data)]) == 2
    assert "error" in capsys.readouterr().err
