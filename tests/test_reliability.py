"""Issue 15: the faults found when neuroplast was tried as a hostile user would.

One section per fault of the issue, numbered as there (the reproduce faults 1, 2, 3, 6 and 13
are in ``test_results_folder.py``). Every test here failed before its fix. Bad input must give
one line with what to do (exit status 2 on the command line) before any long work, and never
lose or silently change what a user saved.
"""

from __future__ import annotations

import builtins
import gzip
import io
import math
import os
import pickle
import re
import tracemalloc
import warnings
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, mnist_dir, run_cli

from neuroplast.data import IdxFormatError, Split, read_idx
from neuroplast.death import prune
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import ResultStore, RunSpec
from neuroplast.models import build_mlp, initialize, load_model, save_model
from neuroplast.replication import replicate
from neuroplast.train import evaluate, get_protocol, train

QUICK = ["--protocol", "quick", "--epochs", "1", "--no-progress"]
"""Arguments that keep an accidental training run to one step."""




@pytest.fixture
def data_dir() -> Path:
    directory = mnist_dir()
    if directory is None:
        pytest.skip("MNIST files not found at ../shared/data/mnist or $NEUROPLAST_TEST_MNIST")
    return directory


def _split(n: int = 30, features: int = 784, classes: int = 10) -> Split:
    generator = torch.Generator().manual_seed(0)
    return Split(torch.rand(n, features, generator=generator),
                 torch.randint(0, classes, (n,), generator=generator))


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


# ---------------------------------------------------------------------------------------------
# 4. Model files are checked whole: every buffer that describes structure


@pytest.fixture
def n1_file(tmp_path) -> Path:
    return save_model(initialize(build_mlp("N1"), 0), tmp_path / "n1.pt")


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda kept: kept.clone().index_fill_(0, torch.tensor([1]), 0), "repeat"),
    (lambda kept: kept.clone().index_fill_(0, torch.tensor([5]), 900), "do not fit"),
    (lambda kept: kept.clone().index_fill_(0, torch.tensor([5]), -3), "do not fit"),
])
def test_a_state_dict_whose_kept_inputs_repeat_or_leave_the_range_is_damaged(
        n1_file, damage, reason, capsys):
    payload = _payload(n1_file)
    kept = damage(payload["state_dict"]["selector.kept"])
    payload["state_dict"]["selector.kept"] = kept
    payload["kept_inputs"] = kept.clone()
    torch.save(payload, n1_file)
    with pytest.raises(NeuroplastError, match=f"damaged neuroplast model file.*{reason}"):
        load_model(n1_file)
    code, _, err = run_cli(["evaluate", n1_file, "--data", "/nonexistent"], capsys)
    assert_one_line_error(code, err, "damaged neuroplast model file", "neuroplast train --out")


def test_the_state_dicts_kept_inputs_must_agree_with_the_architectures(n1_file):
    payload = _payload(n1_file)
    payload["state_dict"]["selector.kept"] = torch.arange(784).flip(0)  # distinct, in range
    torch.save(payload, n1_file)
    with pytest.raises(NeuroplastError, match="kept_inputs and the state dict's selector.kept"):
        load_model(n1_file)


# ---------------------------------------------------------------------------------------------
# 5. Hostile sizes are refused before allocation


def test_a_small_gzip_idx_file_that_inflates_hugely_is_refused_without_inflating_it(tmp_path):
    header = bytes((0, 0, 0x08, 3)) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") \
        + (4).to_bytes(4, "big")
    path = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(path, "wb") as handle:  # 24 data bytes, then 64 MiB that should not be
        handle.write(header + bytes(24))
        chunk = bytes(1 << 20)
        for _ in range(64):
            handle.write(chunk)
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(IdxFormatError, match="trailing bytes"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated to refuse the file"


def test_a_gzip_idx_header_declaring_more_than_the_file_can_hold_is_refused(tmp_path):
    header = bytes((0, 0, 0x08, 3)) + (10**6).to_bytes(4, "big") + (28).to_bytes(4, "big") \
        + (28).to_bytes(4, "big")
    path = tmp_path / "liar-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(IdxFormatError, match="more than a gzip file of .* bytes can hold"):
        read_idx(path)


def test_a_model_file_declaring_a_huge_width_is_refused_before_building_it(n1_file):
    payload = _payload(n1_file)
    payload["widths"] = [784, 10**8, 20, 10]  # 313 GB of weights if it were built
    torch.save(payload, n1_file)
    assert n1_file.stat().st_size < 400_000
    with pytest.raises(NeuroplastError, match=r"layers\.0\.weight has shape \(5, 784\) but the "
                                              r"widths .* declare \(100000000, 784\)"):
        load_model(n1_file)


# ---------------------------------------------------------------------------------------------
# 7. Checks before work: every argument, the whole cycle plan and the output location


def test_demo_refuses_a_negative_cutoff_before_training(capsys):
    code, out, err = run_cli(["demo", "--cutoff", "-1", "--epochs", "1", "--no-progress"],
                             capsys)
    assert_one_line_error(code, err, "--cutoff", "finite number >= 0")
    assert out == ""  # nothing was trained


def test_prune_refuses_cycles_that_would_empty_the_site_before_loading_data(
        tmp_path, data_dir, capsys):
    model = save_model(initialize(build_mlp("N4"), 0), tmp_path / "n4.pt")
    out_file = tmp_path / "small.pt"
    code, out, err = run_cli(["prune", model, "--amount", "40", "--cycles", "3",
                              "--retrain-epochs", "1", "--protocol", "quick", "--data", data_dir,
                              "--out", out_file, "--no-progress"], capsys)
    assert_one_line_error(code, err, "--amount 40 with --cycles 3 would remove every neuron of "
                                     "hidden1 in cycle 3", "lower --amount or --cycles")
    assert out == "" and not out_file.exists()


@pytest.mark.parametrize("command", ["train", "prune"])
def test_an_unwritable_out_is_refused_before_any_work(command, tmp_path, data_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    model = save_model(initialize(build_mlp("N4"), 0), tmp_path / "n4.pt")
    args = {"train": ["train", *QUICK],
            "prune": ["prune", model, "--amount", "10", "--no-progress"]}[command]
    code, out, err = run_cli([*args, "--data", data_dir, "--out", blocker / "model.pt"], capsys)
    assert_one_line_error(code, err, f"cannot write --out .*{blocker.name}.*not a directory")
    assert out == ""  # refused before training or pruning


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_an_out_in_a_read_only_directory_is_refused_before_training(tmp_path, data_dir, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, out, err = run_cli(["train", *QUICK, "--data", data_dir, "--out", locked / "m.pt"],
                             capsys)
    assert_one_line_error(code, err, "cannot write --out", "not writable")
    assert out == ""


# ---------------------------------------------------------------------------------------------
# 8. Library calls with wrong types get clear errors


def test_a_meta_device_model_is_refused_with_what_to_do():
    with torch.device("meta"):
        model = build_mlp("N1")
    for call in (lambda: evaluate(model, _split()),
                 lambda: train(model, _split(), get_protocol("quick"), epochs=1, seed=0),
                 lambda: prune(model, "hidden1", _split(), amount=1)):
        with pytest.raises(NeuroplastError, match="meta device.*to_empty"):
            call()


def test_an_x_y_tuple_where_a_split_is_expected_says_to_wrap_it():
    model, split = initialize(build_mlp("N1"), 0), _split()
    for call in (lambda: evaluate(model, (split.x, split.y)),
                 lambda: train(model, (split.x, split.y), get_protocol("quick"), epochs=1,
                               seed=0),
                 lambda: prune(model, "hidden1", (split.x, split.y), amount=1),
                 lambda: replicate(model, "hidden1", data=(split.x, split.y), n=1)):
        with pytest.raises(TypeError, match=r"must be a neuroplast.data.Split.*got .*tuple.*; "
                                            r"wrap the tensors as Split\(x, y\)"):
            call()
    assert model.widths == [784, 5, 20, 10]


def test_a_protocol_name_instead_of_a_protocol_says_to_look_it_up():
    with pytest.raises(TypeError, match=r"protocol must be a Protocol.*get_protocol\('quick'\)"):
        train(initialize(build_mlp("N1"), 0), _split(), "quick", epochs=1, seed=0)


def test_prune_with_rule_none_names_the_argument():
    with pytest.raises(TypeError, match="rule must be a name such as 'A1'"):
        prune(initialize(build_mlp("N1"), 0), "hidden1", _split(), rule=None, amount=1)


def test_labels_out_of_range_are_refused_before_training():
    split = _split()
    split.y[4] = 12
    model = initialize(build_mlp("N1"), 0)
    before = [p.detach().clone() for p in model.parameters()]
    for call in (lambda: evaluate(model, split),
                 lambda: train(model, split, get_protocol("quick"), epochs=1, seed=0)):
        with pytest.raises(NeuroplastError, match=r"labels must be class indices 0 … 9 .* "
                                                  r"got values from \d+ to 12"):
            call()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_float_labels_and_uint8_pixels_are_refused_by_split():
    with pytest.raises(TypeError, match=r"integer class labels.*y\.long\(\)"):
        Split(torch.rand(4, 784), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    pixels = torch.randint(0, 256, (4, 784), dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"floating-point features.*x\.float\(\) / 255"):
        Split(pixels, torch.tensor([0, 1, 2, 3]))


def test_replicate_refuses_a_fractional_count():
    model = initialize(build_mlp("N1"), 0)
    with pytest.raises(TypeError, match="n must be an integer, got 2.9"):
        replicate(model, "hidden1", n=2.9, method="B1", data=_split())
    assert model.widths == [784, 5, 20, 10]


# ---------------------------------------------------------------------------------------------
# 9. Messages that do not mislead


def test_an_unreadable_model_file_is_called_unreadable(n1_file, monkeypatch):
    real_open = builtins.open

    def refuse(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and Path(file) == n1_file:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    with pytest.raises(NeuroplastError) as info:
        load_model(n1_file)
    message = str(info.value)
    assert "cannot read" in message and "Permission denied" in message
    assert "not a neuroplast model file" not in message


def test_metadata_that_is_not_a_dict_is_a_damaged_file(n1_file):
    payload = _payload(n1_file)
    payload["metadata"] = ["a", "list"]
    torch.save(payload, n1_file)
    with pytest.raises(NeuroplastError, match="damaged .*metadata is a list, not a dict"):
        load_model(n1_file)


@pytest.mark.parametrize("command", ["train", "demo"])
def test_a_seed_beyond_64_bits_is_a_usage_error(command, capsys):
    code, out, err = run_cli([command, "--seed", "99999999999999999999", "--no-progress"],
                             capsys)
    assert_one_line_error(code, err, "--seed: expected a seed, an integer from 0 to 2")
    assert "Overflow" not in err and out == ""


def _nan_model_file(tmp_path: Path) -> Path:
    model = initialize(build_mlp("N4"), 0)
    with torch.no_grad():
        model.layers[0].weight[3, 5] = math.nan
    return save_model(model, tmp_path / "nan.pt")


@pytest.mark.parametrize("command", ["evaluate", "grow", "prune", "inspect"])
def test_a_nan_weight_file_is_named_as_such_before_the_data_is_read(
        command, tmp_path, data_dir, capsys):
    path = _nan_model_file(tmp_path)
    extra = {"evaluate": [], "grow": [], "inspect": [], "prune": ["--amount", "5"]}[command]
    code, _, err = run_cli([command, path, *extra, "--data", data_dir], capsys)
    line = assert_one_line_error(code, err, f"{path.name}: the model's weights contain NaN",
                                 "train a new model")
    assert "learning rate" not in line and "cannot be pruned" not in line


def test_an_old_pickle_protocol_file_gives_one_line_and_no_torch_warning(tmp_path, capsys):
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"format": "something else"}, protocol=4))
    with warnings.catch_warnings(record=True) as caught:  # what a terminal would show
        warnings.simplefilter("always")
        code, _, err = run_cli(["evaluate", path], capsys)
    assert_one_line_error(code, err, "not a neuroplast model file")
    assert [str(w.message) for w in caught] == []


# ---------------------------------------------------------------------------------------------
# 10. The quick protocol's training accuracy says it is measured on the subset trained on


def test_train_quick_says_its_training_accuracy_is_on_the_subset(data_dir, capsys):
    code, out, err = run_cli(["train", "--arch", "N1", *QUICK, "--data", data_dir], capsys)
    assert code == 0, err
    assert "data: 60,000 training and 10,000 test images" in out
    assert "the quick protocol trains on the first 6,000 training images" in out
    assert re.search(r"^train acc .*\(on the 6,000 training images trained on\)$", out,
                     re.MULTILINE), out


# ---------------------------------------------------------------------------------------------
# 11. A goal already missed before pruning is said


def test_prune_says_when_the_model_is_already_below_the_goal(n1_file, data_dir, capsys):
    code, out, err = run_cli(["prune", n1_file, "--goal-accuracy", "1.0", "--data", data_dir,
                              "--no-progress"], capsys)
    assert code == 0, err
    assert re.search(r"NOTE: the model already missed the goal before pruning \(its training "
                     r"accuracy 0\.\d{4} is below the goal 1\); nothing was removed", err), err


# ---------------------------------------------------------------------------------------------
# 12. Files follow the umask


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_model_files_and_run_records_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        model = save_model(build_mlp("N1"), tmp_path / "n1.pt")
        spec = RunSpec("toy-sweep", {}, 0, "quick")
        record = ResultStore(tmp_path / "toy-sweep").write({
            "run_id": spec.run_id, "spec": spec.to_dict(), "result": {"value": 1.0},
            "provenance": {"protocol": get_protocol("quick").as_dict(), "wall_s": 0.0,
                           "neuroplast": "t", "torch": "t", "python": "t", "platform": "t"}})
    finally:
        os.umask(previous)
    assert model.stat().st_mode & 0o777 == mode
    assert record.stat().st_mode & 0o777 == mode


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`neuroplast methods | head -1`: the pipe closes before the output is written; the
    command must stop without an error message, with a shell's SIGPIPE status."""
    import subprocess
    import sys

    code = "import sys; from neuroplast.cli.main import main; sys.exit(main(['methods']))"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # before the child has started: its first write finds no reader
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == b""
