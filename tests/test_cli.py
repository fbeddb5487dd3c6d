"""The command line: help, train → evaluate on real MNIST, the demo offline, error exits.

Every user error must exit with status 2 and exactly one line on stderr, never a traceback.
Commands run in-process through ``neuroplast.cli.main.main``; two run as real subprocesses to
be sure nothing but that line reaches a terminal.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from conftest import assert_one_line_error, mnist_dir, run_cli

from neuroplast import __version__
from neuroplast.cli.main import COMMANDS
from neuroplast.data import datasets
from neuroplast.errors import NeuroplastError
from neuroplast.models import build_mlp, load_model, save_model

QUICK = ["--protocol", "quick", "--epochs", "1", "--no-progress"]
"""Arguments that keep an accidental training run to one step."""




@pytest.fixture
def data_dir():
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    return directory


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No MNIST anywhere ($NEUROPLAST_DATA and the user cache empty) and no network."""
    (tmp_path / "empty-data").mkdir()
    (tmp_path / "empty-cache").mkdir()
    monkeypatch.setenv("NEUROPLAST_DATA", str(tmp_path / "empty-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))

    def no_network(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(datasets, "_fetch", no_network)


@pytest.fixture
def small_model(tmp_path):
    return save_model(build_mlp("N1"), tmp_path / "n1.pt")


# ---------------------------------------------------------------------------------------------
# help


def test_main_help_lists_every_command(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    code, out, err = run_cli([command, "--help"], capsys)
    assert code == 0, err
    assert out.startswith(f"usage: neuroplast {command}")


def test_version(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"neuroplast {__version__}"


def test_no_command_prints_help_and_fails(capsys):
    code, out, _ = run_cli([], capsys)
    assert code == 2 and "usage: neuroplast" in out


def test_train_help_documents_the_main_options(capsys):
    _, out, _ = run_cli(["train", "--help"], capsys)
    for option in ("--arch", "--widths", "--activation", "--protocol", "--seed", "--out",
                   "--force", "--data", "--no-progress", "--epochs"):
        assert option in out


@pytest.mark.parametrize("command", ["prune", "prune-model"])
def test_prune_help_names_every_rewiring_rule(command, capsys):
    """The --rule help is made from the registry: a rule registered later (obs was missing)
    is named without editing the help."""
    from neuroplast.death.rules import RULES

    _, out, _ = run_cli([command, "--help"], capsys)
    assert "obs" in RULES
    for rule in RULES:
        assert re.search(rf"(?<![\w-]){re.escape(rule)}(?![\w-])", " ".join(out.split())), rule


def test_force_replaces_only_a_regular_file(tmp_path):
    """--force may overwrite a file the user named, never a device, a pipe or a link (a
    hostile user's `train --out /dev/null --force` turned the device into a file)."""
    import os

    from neuroplast.cli.common import check_output

    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    link = tmp_path / "dangling.pt"
    link.symlink_to(tmp_path / "nowhere.pt")
    for path, kind in ((fifo, "not a regular file"), (link, "a symbolic link")):
        with pytest.raises(NeuroplastError, match=f"is {kind}"):
            check_output(str(path), True)
    with pytest.raises(NeuroplastError, match="already exists"):
        check_output(str(link), False)  # a dangling link exists as far as the user can tell
    (tmp_path / "mine.pt").write_text("x")
    check_output(str(tmp_path / "mine.pt"), True)  # a regular file: --force may replace it
    assert fifo.exists() and link.is_symlink()


def test_train_refuses_a_checkpoint_it_could_not_write_and_absurd_thread_counts(tmp_path,
                                                                                capsys):
    """Both before any work: the checkpoint's folder was checked only after the training,
    100,000 threads crashed torch's thread pool with a segmentation fault."""
    (tmp_path / "afile").write_text("")
    code, _, err = run_cli(["train", "--protocol", "quick", "--out", str(tmp_path / "m.pt"),
                            "--checkpoint", str(tmp_path / "afile" / "c.pt")], capsys)
    assert_one_line_error(code, err, r"cannot write --checkpoint .*afile is not a directory")
    code, _, err = run_cli(["train", "--threads", "100000"], capsys)
    assert code == 2 and "give at most 1024" in err
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("option", ["--plot", "--pixel-map"])
def test_a_figure_type_matplotlib_cannot_write_is_refused_before_the_work(option, tmp_path):
    from neuroplast.cli.common import FIGURE_TYPES, check_output

    with pytest.raises(NeuroplastError, match=rf"{option} .*p\.txt: a figure is written as one "
                                              r"of .*\.png"):
        check_output(str(tmp_path / "p.txt"), False, option, "fig.png", FIGURE_TYPES)
    check_output(str(tmp_path / "p.PNG"), False, option, "fig.png", FIGURE_TYPES)


# ---------------------------------------------------------------------------------------------
# train → evaluate on the real data


def _metric(text: str, split: str) -> float:
    match = re.search(rf"^{split}\s+acc\s+([0-9.]+)\s+loss\s+([0-9.]+)", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def test_train_writes_a_model_that_evaluate_reads(tmp_path, data_dir, capsys):
    out_file = tmp_path / "n4.pt"
    code, out, err = run_cli(["train", "--arch", "N4", "--protocol", "quick", "--epochs", "500",
                              "--seed", "0", "--data", data_dir, "--out", out_file,
                              "--no-progress"], capsys)
    assert code == 0, err
    assert out_file.is_file() and f"saved {out_file}" in out
    assert re.search(r"^wall time\s+[0-9.]+ s$", out, re.MULTILINE)
    train_accuracy, test_accuracy = _metric(out, "train"), _metric(out, "test")
    assert 0.2 < train_accuracy <= 1 and 0.2 < test_accuracy <= 1  # 10 steps: far above chance

    model, metadata = load_model(out_file)
    assert model.widths == [784, 100, 5, 10] and model.activation_name == "tanh"
    assert metadata["protocol"] == "quick" and metadata["seed"] == 0
    assert metadata["arch"] == "N4" and metadata["paper_epochs"] == 500
    assert metadata["history"]["final"]["steps"] == 10

    code, out, err = run_cli(["evaluate", out_file, "--data", data_dir], capsys)
    assert code == 0, err
    assert _metric(out, "test") == test_accuracy  # same model, same 10,000 test images
    assert "79,065" in out  # parameters of N4

    code, out, err = run_cli(["evaluate", out_file, "--data", data_dir, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["widths"] == [784, 100, 5, 10]
    assert report["parameters"] == 79_065 and report["macs"] == 78_950
    assert round(report["test_accuracy"], 4) == test_accuracy
    assert set(report) >= {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}


def test_a_net_trained_on_inverted_mnist_is_not_read_with_standard_images(tmp_path, data_dir,
                                                                           capsys):
    """The file records the encoding; evaluate, inspect, prune and grow refuse the other one
    before loading the data (a hostile user's --invert net scored 0.006 and was pruned on
    standard images without a word)."""
    out_file = tmp_path / "inv.pt"
    code, _, err = run_cli(["train", "--protocol", "quick", "--epochs", "50", "--invert",
                            "--data", data_dir, "--out", out_file, "--no-progress"], capsys)
    assert code == 0, err
    assert load_model(out_file)[1]["invert"] is True
    for command in (["evaluate", out_file], ["inspect", out_file],
                    ["prune", out_file, "--amount", "1"], ["grow", out_file]):
        code, _, err = run_cli([*command, "--data", data_dir], capsys)
        assert_one_line_error(code, err, r"inv\.pt was trained on inverted \(background 1\) "
                                         r"MNIST; pass --invert")
    code, _, err = run_cli(["evaluate", out_file, "--data", data_dir, "--invert"], capsys)
    assert code == 0, err
    pruned = tmp_path / "pruned.pt"
    code, _, err = run_cli(["prune", out_file, "--amount", "1", "--data", data_dir, "--invert",
                            "--out", pruned], capsys)
    assert code == 0, err
    code, _, err = run_cli(["evaluate", pruned, "--data", data_dir], capsys)
    assert_one_line_error(code, err, r"pruned\.pt was trained on inverted")  # kept downstream


def test_reproduce_reads_only_the_data_folder_it_is_given(tmp_path, data_dir, monkeypatch,
                                                          capsys):
    """--data DIR is DIR only, as for every other command: with MNIST in $NEUROPLAST_DATA an
    empty DIR was a silent switch to that data (a hostile user's run started training)."""
    monkeypatch.setenv("NEUROPLAST_DATA", str(data_dir))
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("")
    for data, pattern in (("empty", r"--data .*empty lacks train-images"),
                          ("afile", r"--data .*afile: is a file, not a directory")):
        code, _, err = run_cli(["reproduce", "baseline-training", "--setting", "fast", "--seeds",
                                "1", "--out", str(tmp_path / "out"), "--data",
                                str(tmp_path / data)], capsys)
        assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "out").exists()


def test_train_with_custom_widths_and_activation(tmp_path, data_dir, capsys):
    out_file = tmp_path / "relu.pt"
    code, out, err = run_cli(["train", "--widths", "784,30,20,10", "--activation", "relu",
                              "--data", data_dir, "--out", out_file, *QUICK], capsys)
    assert code == 0, err
    model, _ = load_model(out_file)
    assert model.widths == [784, 30, 20, 10] and model.activation_name == "relu"

    # --force replaces the file
    code, _, err = run_cli(["train", "--arch", "N1", "--data", data_dir, "--out", out_file,
                            "--force", *QUICK], capsys)
    assert code == 0, err
    assert load_model(out_file)[0].widths == [784, 5, 20, 10]


# ---------------------------------------------------------------------------------------------
# error exits: status 2, one line, no traceback


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["train", "--bogus"], "^neuroplast train: error: unrecognized arguments: --bogus$"),
        (["methods", "extra"], "^neuroplast methods: error: unrecognized arguments: extra$"),
        (["--bogus"], "^neuroplast: error: unrecognized arguments: --bogus$"),
        (["--bogus", "methods"], "^neuroplast: error: unrecognized arguments: --bogus$"),
        (["train", "--widths", "784,a,10"], "comma-separated integers"),
        (["train", "--widths", "784"], "at least two positive widths"),
        (["train", "--widths", "784,0,10"], "at least two positive widths"),
        (["train", "--protocol", "slow"], "invalid choice: 'slow'"),
        (["train", "--activation", "swish"], "invalid choice: 'swish'"),
        (["train", "--epochs", "-1"], "finite number >= 0"),
        (["train", "--epochs", "nan"], "finite number >= 0"),
        (["train", "--seed", "x"], "--seed: expected a seed, an integer from 0 to 2"),
        (["grow", "absent.pt", "--method", "B5", "--measure", "covariance"],
         "--measure 'covariance' ranks parents, but --method B5 picks none"),
        (["grow", "absent.pt", "--method", "B4", "--measure", "connection"],
         "--measure 'connection' ranks parents, but --method B4 picks none"),
        (["prune", "absent.pt", "--amount", "3", "--seed", "3"],
         "--seed: options of the retraining, but this prune retrains nothing; add "
         "--retrain-epochs N"),
        (["prune", "absent.pt", "--amount", "3", "--cycles", "2", "--retrain-epochs", "0",
          "--protocol", "paper", "--seed", "1"],
         "--protocol and --seed: options of the retraining, but this prune retrains nothing; "
         "give --retrain-epochs above 0 or leave --protocol and --seed out"),
        (["grow", "absent.pt", "--method", "none", "--n", "2", "--measure", "covariance"],
         "--measure 'covariance' ranks parents, but --method none picks none; leave --measure "
         "out; --n: --method none adds no neuron; leave --n out"),
        (["grow", "absent.pt", "--measure", ""], "unknown efficiency measure ''"),
        (["grow", "absent.pt", "--method", "B5", "--n", "3"],
         "--n: --method B5 adds no neuron; leave --n out"),
        (["grow", "absent.pt", "--method", "none", "--n", "2", "--seed", "4"],
         "--n and --seed: --method none adds no neuron; leave --n and --seed out"),
        (["train", "--arch", "N1", "--widths", "784,30,10"],
         "give either --arch \\(a preset\\) or --widths, not both"),
        (["evaluate"], "required: model"),
    ],
)
def test_usage_errors_are_one_line(args, pattern, capsys):
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"^neuroplast.*: error: ", pattern)


def test_missing_model_file(tmp_path, capsys):
    code, _, err = run_cli(["evaluate", tmp_path / "absent.pt"], capsys)
    assert_one_line_error(code, err, "^neuroplast evaluate: error: no model file at .*absent.pt")


@pytest.mark.parametrize("content", [b"not a model\nsecond line\n", b"", b"PK\x03\x04junk"])
def test_corrupt_model_file(tmp_path, content, capsys):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(content)
    code, _, err = run_cli(["evaluate", path], capsys)
    assert_one_line_error(code, err, "not a neuroplast model file", "neuroplast train --out")


def test_torch_file_of_another_kind(tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save({"layers.0.weight": torch.ones(2, 2)}, path)
    code, _, err = run_cli(["evaluate", path], capsys)
    assert_one_line_error(code, err, "not a neuroplast model file")


def test_model_file_of_another_version(tmp_path, small_model, capsys):
    payload = torch.load(small_model, weights_only=True)
    payload["version"] = 2
    torch.save(payload, small_model)
    code, _, err = run_cli(["evaluate", small_model], capsys)
    assert_one_line_error(code, err, "format version 2")


def test_model_that_does_not_fit_mnist(tmp_path, capsys):
    path = save_model(build_mlp(widths=[20, 5, 3]), tmp_path / "tiny.pt")
    code, _, err = run_cli(["evaluate", path], capsys)
    assert_one_line_error(code, err, "20 inputs and 3 outputs; MNIST needs 784 inputs and 10")


@pytest.mark.parametrize("command", ["train", "evaluate", "demo"])
def test_data_dir_that_does_not_exist(command, tmp_path, small_model, capsys):
    args = {"train": ["train", *QUICK], "evaluate": ["evaluate", small_model],
            "demo": ["demo", "--epochs", "1", "--no-progress"]}[command]
    code, _, err = run_cli([*args, "--data", tmp_path / "nowhere"], capsys)
    assert_one_line_error(code, err, f"^neuroplast {command}: error: --data .*nowhere: "
                                     "no such directory", "leave --data out")


def test_data_dir_without_the_files(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    code, _, err = run_cli(["train", *QUICK, "--data", tmp_path / "half"], capsys)
    assert_one_line_error(code, err, "lacks train-labels-idx1-ubyte.gz, t10k-images")
    assert "lacks train-images" not in err


def test_no_data_anywhere_and_offline(offline, capsys):
    code, _, err = run_cli(["train", *QUICK], capsys)
    assert_one_line_error(code, err, "MNIST not found", "pass --data DIR")


def test_unknown_architecture(capsys):
    code, _, err = run_cli(["train", "--arch", "N9", *QUICK], capsys)
    assert_one_line_error(code, err, "unknown architecture 'N9'; choose one of: N1, N2")


@pytest.mark.parametrize(("widths", "pattern"), [("100,20,10", "100 inputs and 10 outputs"),
                                                 ("784,20,5", "784 inputs and 5 outputs")])
def test_widths_that_do_not_fit_mnist(widths, pattern, capsys):
    code, _, err = run_cli(["train", "--widths", widths, *QUICK], capsys)
    assert_one_line_error(code, err, pattern, "MNIST needs 784 inputs and 10 outputs")


def test_existing_out_without_force(tmp_path, small_model, capsys):
    before = small_model.read_bytes()
    code, _, err = run_cli(["train", *QUICK, "--out", small_model], capsys)
    assert_one_line_error(code, err, "already exists; choose another --out or pass --force")
    assert small_model.read_bytes() == before


def test_out_that_is_a_directory(tmp_path, capsys):
    code, _, err = run_cli(["train", *QUICK, "--out", tmp_path, "--force"], capsys)
    assert_one_line_error(code, err, "is a directory")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["evaluate", "/nonexistent/dir/model.pt"], "^neuroplast evaluate: error: no model file"),
        (["train", "--widths", "784,x,10"], "^neuroplast train: error: argument --widths"),
    ],
)
def test_no_traceback_reaches_the_terminal(args, pattern):
    result = subprocess.run([sys.executable, "-m", "neuroplast.cli.main", *args],
                            capture_output=True, text=True, timeout=120)
    assert_one_line_error(result.returncode, result.stderr, pattern)
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------
# demo


def test_demo_runs_offline_on_the_embedded_copy(offline, capsys):
    code, out, err = run_cli(["demo", "--epochs", "300", "--no-progress"], capsys)
    assert code == 0, err
    assert err.strip().splitlines() == [err.strip()]  # one NOTE line, no warning dump
    assert "NOTE: MNIST not found; using the embedded copy" in err
    assert "on 8,000 images" in out
    assert re.search(r"^trained\s+100\s+79,065", out, re.MULTILINE)  # names left-aligned
    assert re.search(r"^A1 cutoff 0.05\s+\d+", out, re.MULTILINE)


def test_train_fused_seeds_saves_each_net_equal_to_a_solo_run(tmp_path, data_dir, capsys):
    pattern = str(tmp_path / "n1-{seed}.pt")
    code, out, err = run_cli(["train", "--arch", "N1", "--protocol", "quick", "--epochs", "500",
                              "--seed", "3", "--fused-seeds", "3", "--data", data_dir,
                              "--out", pattern, "--no-progress"], capsys)
    assert code == 0, err
    assert re.search(r"^train accuracy: [0-9.]+ ± [0-9.]+ \(mean ± s\.e\. over 3 nets\)$", out,
                     re.MULTILINE)
    files = [tmp_path / f"n1-{seed}.pt" for seed in (3, 4, 5)]
    assert all(f.is_file() and f"saved {f}" in out for f in files)
    fused, metadata = load_model(files[1])
    assert metadata["seed"] == 4 and metadata["data_seed"] == 3
    assert metadata["fused_members"] == 3 and metadata["history"]["final"]["steps"] == 10
    # the same net trained alone: initialisation seed 4, shuffling seed 3
    solo_file = tmp_path / "solo.pt"
    code, _, err = run_cli(["train", "--arch", "N1", "--protocol", "quick", "--epochs", "500",
                            "--seed", "3", "--data", data_dir, "--out", solo_file,
                            "--no-progress"], capsys)
    assert code == 0, err
    solo, _ = load_model(solo_file)  # seed 3 initialises it: compare with member seed 3
    member, _ = load_model(files[0])
    for p, q in zip(member.parameters(), solo.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    assert any((p - q).abs().max() > 1e-3
               for p, q in zip(fused.parameters(), solo.parameters(), strict=True))


@pytest.mark.parametrize(("extra", "message"), [
    (["--out", "n1.pt"], "must contain {seed}"),
    (["--death-replication", "cutoff=0.01,every=500"], "cannot do"),
    (["--fused-seeds", "0"], "at least 1"),
])
def test_train_fused_seeds_refuses_bad_requests(tmp_path, data_dir, capsys, extra, message):
    args = ["train", "--arch", "N1", "--protocol", "quick", "--fused-seeds", "2",
            "--data", data_dir, "--no-progress", *extra]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and message in err


def test_train_fused_seeds_never_overwrites(tmp_path, data_dir, capsys):
    (tmp_path / "n1-1.pt").write_bytes(b"precious")
    code, _, err = run_cli(["train", "--arch", "N1", "--protocol", "quick", "--fused-seeds",
                            "2", "--data", data_dir, "--out", str(tmp_path / "n1-{seed}.pt"),
                            "--no-progress"], capsys)
    assert code == 2 and "already exists" in err
    assert (tmp_path / "n1-1.pt").read_bytes() == b"precious"
    assert not (tmp_path / "n1-0.pt").exists()  # refused before any work


# ---------------------------------------------------------------------------------------------
# train --checkpoint


def test_train_checkpoint_continues_an_interrupted_run_to_the_same_net(tmp_path, data_dir,
                                                                       capsys, monkeypatch):
    from functools import partial

    from neuroplast.cli import train as train_command
    from neuroplast.train import Checkpoint
    from neuroplast.train import checkpoint as checkpoint_module

    args = ["train", "--arch", "N1", "--protocol", "quick", "--epochs", "1500", "--seed", "2",
            "--data", data_dir, "--no-progress"]
    code, _, err = run_cli([*args, "--out", tmp_path / "whole.pt"], capsys)
    assert code == 0, err

    checkpoint = tmp_path / "n1.ckpt"
    monkeypatch.setattr(train_command, "Checkpoint", partial(Checkpoint, every_s=0))
    real_save = checkpoint_module.save_checkpoint

    def save_then_stop(*a, **k):
        real_save(*a, **k)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "save_checkpoint", save_then_stop)
        code, _, err = run_cli([*args, "--checkpoint", checkpoint, "--out",
                                tmp_path / "resumed.pt"], capsys)
    assert code == 130 and "run the same command again to continue" in err
    assert checkpoint.is_file() and not (tmp_path / "resumed.pt").exists()

    code, out, err = run_cli([*args, "--checkpoint", checkpoint, "--out",
                              tmp_path / "resumed.pt"], capsys)
    assert code == 0, err
    assert "continuing from it" in out and "resumed at epoch 1 of 3" in out
    assert not checkpoint.exists()
    whole, _ = load_model(tmp_path / "whole.pt")
    resumed, _ = load_model(tmp_path / "resumed.pt")
    for p, q in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(("extra", "message"), [
    (["--death-replication", "cutoff=0.01,every=500"], "cannot resume a --death-replication"),
    (["--fused-seeds", "2"], "does not checkpoint --fused-seeds runs"),
    (["--out", "{ckpt}"], "name the same file"),
    ([], "--checkpoint without --out: the checkpoint is removed once the net is saved"),
])
def test_train_checkpoint_refuses_bad_requests(tmp_path, data_dir, capsys, extra, message):
    ckpt = tmp_path / "c.ckpt"
    extra = [str(ckpt) if a == "{ckpt}" else a for a in extra]
    code, _, err = run_cli(["train", "--arch", "N1", *QUICK, "--data", data_dir,
                            "--checkpoint", ckpt, *extra], capsys)
    assert_one_line_error(code, err, message)
    assert not ckpt.exists()


def test_train_checkpoint_never_overwrites_a_file_that_is_not_one(tmp_path, data_dir, capsys):
    precious = tmp_path / "notes.txt"
    precious.write_bytes(b"precious")
    code, _, err = run_cli(["train", "--arch", "N1", *QUICK, "--data", data_dir,
                            "--checkpoint", precious, "--out", tmp_path / "n1.pt"], capsys)
    assert_one_line_error(code, err, "is not a neuroplast training checkpoint")
    assert precious.read_bytes() == b"precious"
    assert not (tmp_path / "n1.pt").exists()


def test_threads_apply_while_the_command_runs_and_are_restored(monkeypatch, capsys):
    import neuroplast.cli.demo as demo
    import neuroplast.cli.train as train_command

    seen = []
    monkeypatch.setattr(demo, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    monkeypatch.setattr(train_command, "run", lambda args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    assert run_cli(["demo"], capsys)[0] == 0  # the demo's default: one thread
    assert run_cli(["demo", "--threads", "3"], capsys)[0] == 0
    assert run_cli(["train", "--threads", "2"], capsys)[0] == 0
    assert run_cli(["train"], capsys)[0] == 0  # train leaves torch's own choice
    assert seen == [1, 3, 2, before] and torch.get_num_threads() == before
    code, _, err = run_cli(["demo", "--threads", "0"], capsys)
    assert_one_line_error(code, err, "argument --threads")


def test_more_threads_than_cores_run_with_a_note(monkeypatch, capsys):
    import neuroplast.cli.demo as demo
    import neuroplast.cli.main as cli_main

    seen = []
    monkeypatch.setattr(demo, "run", lambda args: seen.append(torch.get_num_threads()) or 0)
    monkeypatch.setattr(cli_main, "usable_cores", lambda: 2)
    code, _, err = run_cli(["demo", "--threads", "3"], capsys)
    assert code == 0 and seen == [3]
    assert "note: --threads 3 is more than this machine's 2 usable cores" in err
    code, _, err = run_cli(["demo", "--threads", "2"], capsys)
    assert code == 0 and "usable cores" not in err


def test_torch_threads_are_restored_when_the_block_raises():
    from neuroplast.train.threads import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("stop")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_train_lr_schedule_trains_under_it_and_records_it(tmp_path, data_dir, capsys):
    """Independent reference: ``train()`` of the same net with the schedule set on the protocol
    by hand."""
    import dataclasses

    from neuroplast.data import load_mnist
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import get_protocol, train

    out_file = tmp_path / "n1.pt"
    code, out, err = run_cli(["train", "--arch", "N1", "--protocol", "quick", "--epochs", "2500",
                              "--lr-schedule", "polynomial", "--data", data_dir, "--out",
                              out_file, "--no-progress"], capsys)
    assert code == 0, err
    saved, metadata = load_model(out_file)
    assert metadata["lr_schedule"] == "polynomial"
    protocol = dataclasses.replace(get_protocol("quick"), lr_schedule="polynomial")
    alone = initialize(build_mlp("N1"), 0)
    train(alone, load_mnist(data_dir, download=False).train, protocol,
          epochs=protocol.epochs(2500), seed=0, progress=False)
    for a, b in zip(saved.parameters(), alone.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    code, _, err = run_cli(["train", "--lr-schedule", "cosine", "--out", tmp_path / "x.pt"],
                           capsys)
    assert code != 0 and "invalid choice: 'cosine'" in err
