"""The command line for the user's own model: ``sites``, ``prune-model``, ``grow-model``,
``inspect-model`` (issue 12 item 9), and the calibration-data readers they use.

A factory module is written to a temporary folder and imported from there; weights are
safetensors (or a ``torch.save``-d state dict); calibration data is ``.npz``. Every bad input
ends with exit status 2 and one line on stderr, before any long work.
"""

from __future__ import annotations

import importlib
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from test_cli_prune import assert_one_line_error, run_cli, table_row

import neuroplast
from neuroplast.data.calibration import read_calibration
from neuroplast.errors import NeuroplastError
from neuroplast.saving import PLAN_FILE, WEIGHTS_FILE, read_plan

MODULE = "neuroplast_test_user_nets"
"""A name no other test imports, so the module cached in sys.modules is this file's."""

FACTORY_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(5 * 4 * 4, 3))

    def forward(self, x):
        return self.head(self.features(x))


def build():
    torch.manual_seed(0)
    return Net()


def mlp():
    return nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 6), nn.Tanh(),
                         nn.Linear(6, 3))


def per_token():
    return nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3))  # (N, T, 8) → (N, T, 3)


NOT_CALLABLE = 3


def broken():
    raise RuntimeError("the constructor failed")


def not_a_module():
    return 42
'''


class _Payload:
    """Unpickling this creates the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The factory module (importable as MODULE), trained-looking weights, labelled data."""
    root = tmp_path_factory.mktemp("user")
    (root / f"{MODULE}.py").write_text(FACTORY_SOURCE)
    sys.path.insert(0, str(root))
    nets = importlib.import_module(MODULE)
    torch.manual_seed(7)  # weights other than the factory's own
    model = nets.Net()
    with torch.no_grad():
        bn = model.features[1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
    save_file(model.state_dict(), str(root / "weights.safetensors"))
    torch.save(model.state_dict(), root / "weights.pt")
    g = torch.Generator().manual_seed(1)
    x = torch.rand(48, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (48,), generator=g)
    np.savez(root / "calib.npz", x=x.numpy(), y=y.numpy())
    np.savez(root / "unlabelled.npz", x=x.numpy())
    np.savez(root / "wrong_shape.npz", x=np.zeros((4, 3, 8, 8), dtype=np.float32))
    np.savez(root / "labels_too_big.npz", x=x.numpy(), labels=(y + 5).numpy())
    np.savez(root / "two_arrays.npz", a=x.numpy(), b=x.numpy())
    np.savez(root / "uint8_images.npz", x=(x * 255).to(torch.uint8).numpy(), y=y.numpy())
    np.savez(root / "identical.npz", x=x[:1].expand(5, -1, -1, -1).numpy())
    np.savez(root / "first_two_equal.npz", x=torch.cat([x[:1], x[:1], x[1:4]]).numpy())
    np.savez(root / "sequences.npz", x=torch.rand(48, 5, 8, generator=g).numpy(), y=y.numpy())
    yield {"root": root, "safetensors": root / "weights.safetensors", "pt": root / "weights.pt",
           "data": root / "calib.npz", "x": x, "y": y}
    sys.path.remove(str(root))
    sys.modules.pop(MODULE, None)


def factory():
    return sys.modules[MODULE].build()


def trained(files) -> torch.nn.Module:
    model = factory()
    model.load_state_dict(torch.load(files["pt"], weights_only=True))
    return model.eval()


def base_args(files, command: str, *extra) -> list[str]:
    return [command, "--factory", f"{MODULE}:build", "--weights", str(files["safetensors"]),
            "--data", str(files["data"]), *map(str, extra)]


def site_names(files) -> dict[str, str]:
    """kind → name of the discovered sites of the trained model."""
    model = trained(files)
    return {s.kind: s.name for s in neuroplast.find_sites(model, files["x"][:2])}


# -- sites ----------------------------------------------------------------------------------------


def test_sites_lists_every_discovered_site(files, capsys):
    code, out, err = run_cli(base_args(files, "sites"), capsys)
    assert code == 0, err
    model = trained(files)
    names = {id(m): n for n, m in model.named_modules()}
    for site in neuroplast.find_sites(model, files["x"][:2]):
        row = next(line.split() for line in out.splitlines() if line.split()[:1] == [site.name])
        assert row[1:4] == [site.kind, str(site.width), names[id(site.consumer)]]

    code, out, err = run_cli(base_args(files, "sites", "--json"), capsys)
    report = json.loads(out)
    kinds = {s["kind"]: s for s in report["sites"]}
    assert kinds["conv"]["width"] == 6 and kinds["conv"]["consumer"] == "features.3"
    assert kinds["flatten"]["width"] == 5 and kinds["flatten"]["consumer"] == "head.1"
    assert report["examples"] == 48 and report["input_shape"] == [1, 8, 8]


def test_sites_from_a_subprocess_imports_the_factory_from_the_current_folder(files):
    env = {"PYTHONPATH": str(Path(neuroplast.__file__).parents[1]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "neuroplast.cli.main", "sites", "--factory", f"{MODULE}:build",
         "--data", "calib.npz"], cwd=files["root"], env=env, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    assert "features.3 (Conv2d)" in done.stdout and "head.1 (Linear)" in done.stdout


def test_factory_as_a_file_path(files, capsys):
    args = base_args(files, "sites")
    args[2] = f"{files['root'] / (MODULE + '.py')}:build"
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "features.3 (Conv2d)" in out


# -- prune, grow, inspect -------------------------------------------------------------------------


def test_prune_saves_plan_and_weights_that_load_through_the_factory(files, tmp_path, capsys):
    conv = site_names(files)["conv"]
    out_dir = tmp_path / "pruned"
    code, out, err = run_cli(base_args(files, "prune-model", "--site", conv, "--amount", 2,
                                       "--out", out_dir), capsys)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([PLAN_FILE, WEIGHTS_FILE])
    after = table_row(out, "after")
    assert after[1] == "4"

    # the same request through the library gives the same model
    expected = trained(files)
    site = next(s for s in neuroplast.find_sites(expected, files["x"][:2]) if s.name == conv)
    x, y = files["x"], files["y"]
    neuroplast.prune(expected, site, [(x[i:i + 256], y[i:i + 256]) for i in range(0, 48, 256)],
                     rule="A1", amount=2)
    loaded = neuroplast.load(out_dir, factory).eval()
    assert loaded.features[0].out_channels == 4 and loaded.features[3].in_channels == 4
    with torch.no_grad():
        assert torch.equal(loaded(x), expected(x))
    plan = read_plan(out_dir)
    assert plan["metadata"]["command"] == "prune-model"
    assert plan["metadata"]["width_before"] == 6 and plan["metadata"]["width_after"] == 4
    (entry,) = plan["sites"]
    assert entry["consumer"] == "features.3" and entry["between"] == ["features.1"]
    assert len(entry["events"][0]["keep"]) == 4


def test_prune_then_grow_then_inspect_chain_through_saved_folders(files, tmp_path, capsys):
    flatten = site_names(files)["flatten"]
    pruned, grown = tmp_path / "pruned", tmp_path / "grown"
    assert run_cli(base_args(files, "prune-model", "--site", flatten, "--amount", 0.4,
                             "--rule", "A1", "--out", pruned), capsys)[0] == 0
    args = base_args(files, "grow-model", "--site", flatten, "--n", 2, "--out", grown)
    args[4] = str(pruned)  # --weights: the saved folder
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "width 3 -> 5" in out
    change = float(out.split("max |change of outputs| over 48 examples: ")[1].split()[0])
    assert change < 1e-5  # B1 preserves the function (float32 rounding)
    plan = read_plan(grown)
    (entry,) = plan["sites"]
    assert [next(iter(e)) for e in entry["events"]] == ["keep", "append"]
    assert entry["events"][1] == {"append": 2}
    assert plan["metadata"]["parent"]["command"] == "prune-model"
    assert plan["metadata"]["seed"] == 0  # the default, recorded so the draw can be repeated

    args = base_args(files, "inspect-model", "--site", flatten, "--json")
    args[4] = str(grown)
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["width"] == 5 and [n["index"] for n in report["neurons"]] != []
    e_k = [n["E_k"] for n in report["neurons"]]
    assert sorted(e_k) == e_k and sorted(n["index"] for n in report["neurons"]) == list(range(5))
    assert report["rows"] == 48 * 16  # every position of the flattened 4x4 channel


def test_inspect_table(files, capsys):
    conv = site_names(files)["conv"]
    code, out, err = run_cli(base_args(files, "inspect-model", "--site", conv), capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"site {conv} (conv, consumer features.3), 6 neurons")
    assert "index: the neuron's position in the model as loaded" in out.splitlines()[0]
    rows = [line.split() for line in out.splitlines()[3:] if line.strip()]
    assert sorted(int(r[0]) for r in rows) == list(range(6))


def test_weights_as_a_torch_state_dict(files, capsys):
    args = base_args(files, "sites", "--json")
    args[4] = str(files["pt"])
    code, out, err = run_cli(args, capsys)
    assert code == 0, err


def test_goal_accuracy_uses_the_labels_of_the_data(files, tmp_path, capsys):
    conv = site_names(files)["conv"]
    model = trained(files)
    with torch.no_grad():
        accuracy = float((model(files["x"]).argmax(1) == files["y"]).float().mean())
    code, out, err = run_cli(base_args(files, "prune-model", "--site", conv,
                                       "--goal-accuracy", accuracy - 0.2), capsys)
    assert code == 0, err
    after = table_row(out, "after")
    assert int(after[1]) < 6 and float(after[3]) >= accuracy - 0.2 - 1e-9


def test_prune_notes_what_its_numbers_do_not_say(files, capsys):
    """A goal the model misses before any removal, a --max-fraction cap that was reached,
    nothing saved without --out: each said in a note (a hostile user saw 'removed 0 of 16'
    and a silently capped removal with no word why)."""
    conv = site_names(files)["conv"]
    model = trained(files)
    with torch.no_grad():
        accuracy = float((model(files["x"]).argmax(1) == files["y"]).float().mean())
    code, out, err = run_cli(base_args(files, "prune-model", "--site", conv,
                                       "--goal-accuracy", min(accuracy + 0.1, 1.0)), capsys)
    assert code == 0, err
    assert f"note: the accuracy before pruning, {accuracy:.4f}, is already below" in out
    assert "not saved: give --out FOLDER" in out and int(table_row(out, "after")[1]) == 6
    code, out, err = run_cli(base_args(files, "prune-model", "--site", conv, "--amount", 5,
                                       "--max-fraction", 0.5), capsys)
    assert code == 0, err
    assert int(table_row(out, "after")[1]) == 3  # floor(0.5 · 6) of the 5 asked
    assert "note: --max-fraction 0.5 allows at most 3 of 6 neurons per call" in out
    assert "examples for a site" not in out  # 48 examples, 6 neurons


def test_sites_are_found_when_the_first_two_examples_are_equal(files, capsys):
    """Discovery takes two *different* examples, not simply the first two."""
    args = base_args(files, "sites")
    args[args.index("--data") + 1] = str(files["root"] / "first_two_equal.npz")
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    for name in site_names(files).values():
        assert name in out


# -- refusals -------------------------------------------------------------------------------------


def test_a_pickle_as_weights_is_refused_unread(files, tmp_path, capsys):
    marker = tmp_path / "unpickled"
    bad = tmp_path / "bad.pt"
    torch.save({"features.0.weight": _Payload(marker)}, bad)
    args = base_args(files, "sites")
    args[4] = str(bad)
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"weights_only=True.*never unpickles code")
    assert not marker.exists()
    fake = tmp_path / "bad.safetensors"
    fake.write_bytes(pickle.dumps(_Payload(marker)))
    args[4] = str(fake)
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"not a safetensors file")
    assert not marker.exists()


@pytest.mark.parametrize(("change", "pattern"), [
    ({"--factory": "nocolon"}, r"--factory nocolon: expected MODULE:FUNCTION"),
    ({"--factory": "no_such_module_xyz:build"}, r"cannot import no_such_module_xyz"),
    ({"--factory": f"{MODULE}:missing"}, rf"{MODULE} has no attribute 'missing'"),
    ({"--factory": f"{MODULE}:NOT_CALLABLE"}, r"is a int, not callable"),
    ({"--factory": f"{MODULE}:broken"}, r"calling it failed: RuntimeError: the constructor"),
    ({"--factory": f"{MODULE}:not_a_module"}, r"returned a int, not a torch.nn.Module"),
    ({"--factory": f"{MODULE}:mlp"},
     r"weights.safetensors does not fit the model the factory built: the model has '0.weight'"),
    ({"--weights": "missing.safetensors"}, r"--weights missing.safetensors: no such file"),
    ({"--weights": "w.onnx"}, r"unknown format .onnx"),
    ({"--weights": "."}, r"--weights \. is a folder without plan.json"),
    ({"--data": "missing.npz"}, r"no calibration data at missing.npz"),
    ({"--data": "calib.csv"}, r"unknown data format .csv"),
    ({"--data": "two_arrays.npz"}, r"holds 'a', 'b'; name the inputs 'x'"),
    ({"--data": "wrong_shape.npz"}, r"the model cannot run on --data .*\(4, 3, 8, 8\)"),
    ({"--data": "identical.npz"}, r"--data identical\.npz holds 5 identical examples; finding "
                                  r"the model's sites compares it on two different inputs"),
    ({"--data": "uint8_images.npz"}, r"the inputs are integers \(torch\.int64\): store images "
                                     r"and features as floats"),
])
def test_bad_inputs_fail_in_one_line(files, capsys, monkeypatch, change, pattern):
    monkeypatch.chdir(files["root"])
    for name in ("w.onnx", "calib.csv"):
        (files["root"] / name).write_text("")
    args = base_args(files, "sites")
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, pattern)


def test_too_few_examples_after_limit_are_said_to_be_the_limit_s(files, capsys, monkeypatch):
    """--limit 1 on a file of many examples: the message named the file as holding one."""
    monkeypatch.chdir(files["root"])
    code, _, err = run_cli([*base_args(files, "sites"), "--limit", "1"], capsys)
    assert_one_line_error(code, err, r"--data .* \(its first 1, --limit\) holds one example")


def test_unknown_site_names_the_known_ones(files, capsys):
    code, _, err = run_cli(base_args(files, "prune-model", "--site", "nope", "--amount", 1),
                           capsys)
    assert_one_line_error(code, err, r"unknown site 'nope'; the sites of this model are: ")
    for name in site_names(files).values():
        assert name in err


def test_goal_without_labels(files, capsys):
    args = base_args(files, "prune-model", "--site", "x", "--goal-accuracy", 0.5)
    args[args.index("--data") + 1] = str(files["root"] / "unlabelled.npz")
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"--goal-accuracy/--goal-loss need labels")


def test_a_goal_on_per_token_outputs_is_refused_in_one_line(files, capsys):
    """Labels are one class index per example; a goal cannot score (N, T, C) outputs
    against them (a hostile user's per-token model crashed inside the goal's evaluation)."""
    args = ["prune-model", "--factory", f"{MODULE}:per_token", "--data",
            str(files["root"] / "sequences.npz"), "--site", "0", "--goal-accuracy", 0.5]
    code, _, err = run_cli(list(map(str, args)), capsys)
    assert_one_line_error(code, err, r"the model returns outputs of shape \(N, 5, 3\); prune "
                                     r"by --amount or --cutoff instead")


def test_existing_out_is_refused_before_anything_is_imported(files, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    for command, extra in (("prune-model", ["--amount", 1]), ("grow-model", [])):
        args = [command, "--factory", "no_such_module_xyz:build", "--data", "missing.npz",
                "--site", "s", *extra, "--out", str(tmp_path / "taken")]
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, r"already exists; choose another --out or pass --force")
        code, _, err = run_cli([*args, "--force"], capsys)
        assert_one_line_error(code, err, r"neuroplast replaces only a folder it saved")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_force_never_turns_the_users_weights_file_into_a_folder(files, tmp_path, capsys):
    """--out naming the --weights file (or any plain file) is refused even with --force,
    before any work: the user's only copy of their weights must survive."""
    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"the user's weights")
    for command, extra in (("prune-model", ["--amount", 1]), ("grow-model", [])):
        args = [command, "--factory", "no_such_module_xyz:build", "--weights", str(weights),
                "--data", "missing.npz", "--site", "s", *extra, "--out", str(weights),
                "--force"]
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, r"is a file; neuroplast replaces only a folder it "
                                         r"saved")
    assert weights.read_bytes() == b"the user's weights"


@pytest.mark.parametrize(("args", "pattern"), [
    (["prune-model", "--site", "s", "--amount", 1, "--rule", "A9"], r"unknown .*rule 'A9'|A9"),
    (["prune-model", "--site", "s", "--amount", 1, "--measure", "nope"], r"nope"),
    (["grow-model", "--site", "s", "--method", "B9"], r"B9"),
    (["grow-model", "--site", "s", "--method", "B1", "--random-std", "0.1", "0.1"],
     r"method B1 draws none"),
    (["grow-model", "--site", "s", "--method", "random", "--random-std", "0", "0.1"],
     r"two positive finite numbers"),
    (["grow-model", "--site", "s", "--method", "B4", "--measure", "covariance"],
     r"--measure 'covariance' ranks parents, but --method B4 picks none; leave --measure out"),
    (["grow-model", "--site", "s", "--method", "B5", "--seed", 3],
     r"--seed: --method B5 adds no neuron; leave --seed out"),
])
def test_bad_method_names_fail_before_the_model_is_built(args, pattern, capsys):
    code, _, err = run_cli([*args, "--factory", "no_such_module_xyz:build", "--data", "x.npz"],
                           capsys)
    assert_one_line_error(code, err, pattern)
    assert "no_such_module_xyz" not in err


def test_grow_refuses_too_many_parents(files, capsys):
    conv = site_names(files)["conv"]
    code, _, err = run_cli(base_args(files, "grow-model", "--site", conv, "--n", 7), capsys)
    assert_one_line_error(code, err, r"--n 7 parents, but site .* has 6 neurons")


def test_grow_without_parents_may_add_more_neurons_than_the_site_has(files, capsys):
    """B4 draws its neurons at random: --n is a count of new neurons, not of parents."""
    conv = site_names(files)["conv"]
    code, out, err = run_cli(base_args(files, "grow-model", "--site", conv, "--n", 7,
                                       "--method", "B4"), capsys)
    assert code == 0, err
    assert "width 6 -> 13" in out


def test_grow_reads_the_data_in_batches_of_batch_size(files, capsys, monkeypatch):
    """The statistics pass goes over --batch-size examples at a time (it took the whole
    tensor before 2026-12-07), and the parents it picks are those of the default batches."""
    import neuroplast.cli.grow_model as grow_model

    seen = []
    real = grow_model.replicate

    def recording(model, site, data, **kwargs):
        seen.append([len(batch[0] if isinstance(batch, tuple) else batch) for batch in data])
        return real(model, site, data, **kwargs)

    monkeypatch.setattr(grow_model, "replicate", recording)
    flatten = site_names(files)["flatten"]
    outs = [run_cli(base_args(files, "grow-model", "--site", flatten, "--n", 2, *extra),
                    capsys) for extra in ([], ["--batch-size", "10"])]
    assert seen[0] == [48] and seen[1] == [10, 10, 10, 10, 8]
    assert [code for code, _, _ in outs] == [0, 0]
    parents = [re.findall(r"(\d+) \(E=", out) for _, out, _ in outs]
    assert len(parents[0]) == 2 and parents[0] == parents[1]


def test_sites_takes_no_batch_size(files, capsys):
    """``sites`` runs two examples: a --batch-size would do nothing, so it is refused."""
    code, _, err = run_cli(base_args(files, "sites", "--batch-size", 8), capsys)
    assert code == 2 and "unrecognized arguments: --batch-size 8" in err


# -- calibration readers --------------------------------------------------------------------------


def test_calibration_readers(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    y = np.array([0, 1, 2, 1])
    np.savez(tmp_path / "a.npz", inputs=x, labels=y)
    np.save(tmp_path / "b.npy", x)
    torch.save((torch.from_numpy(x), torch.from_numpy(y)), tmp_path / "c.pt")
    save_file({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, str(tmp_path / "d.safetensors"))
    for name, labelled in (("a.npz", True), ("b.npy", False), ("c.pt", True),
                           ("d.safetensors", True)):
        data = read_calibration(tmp_path / name)
        assert torch.equal(data.x, torch.from_numpy(x)), name
        assert (data.y is not None) == labelled, name
        assert not labelled or data.y.tolist() == [0, 1, 2, 1]
    np.savez(tmp_path / "ids.npz", x=np.array([[1, 2], [3, 4]], dtype=np.int32))
    assert read_calibration(tmp_path / "ids.npz").x.dtype == torch.int64  # token ids
    np.savez(tmp_path / "bad_y.npz", x=x, y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(NeuroplastError, match="must be 4 integer class indices"):
        read_calibration(tmp_path / "bad_y.npz")
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 3)))
    with pytest.raises(NeuroplastError, match="hold no examples"):
        read_calibration(tmp_path / "empty.npz")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(NeuroplastError, match="cannot be read"):
        read_calibration(tmp_path / "objects.npy")  # allow_pickle=False refuses


def test_image_folder_with_class_subfolders(tmp_path):
    from PIL import Image

    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(2):
            pixels = np.full((5, 4), 50 * (label + i), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / "images" / name / f"{i}.png")
    data = read_calibration(tmp_path / "images")
    assert data.x.shape == (4, 1, 5, 4) and data.x.dtype == torch.float32
    assert data.y.tolist() == [0, 0, 1, 1]
    assert torch.allclose(data.x[:, 0, 0, 0], torch.tensor([0, 50, 50, 100]) / 255.0)

    Image.fromarray(np.zeros((5, 4, 3), dtype=np.uint8)).save(tmp_path / "images" / "dog" / "c.png")
    data = read_calibration(tmp_path / "images")
    assert data.x.shape == (5, 3, 5, 4)  # one colour image: all read as RGB
    Image.fromarray(np.zeros((6, 4), dtype=np.uint8)).save(tmp_path / "images" / "cat" / "big.png")
    with pytest.raises(NeuroplastError, match="differ in size"):
        read_calibration(tmp_path / "images")
    (tmp_path / "none").mkdir()
    with pytest.raises(NeuroplastError, match="holds no images"):
        read_calibration(tmp_path / "none")


# -- a hostile user's pass (2026-12-07) ---------------------------------------------------------


def test_labels_beyond_the_outputs_matter_only_to_commands_that_score_them(files, capsys,
                                                                           monkeypatch):
    monkeypatch.chdir(files["root"])
    conv = site_names(files)["conv"]
    for command in ("sites", "inspect-model"):
        args = base_args(files, command, *(["--site", conv] if command == "inspect-model"
                                            else []))
        args[args.index("--data") + 1] = "labels_too_big.npz"
        code, _, err = run_cli(args, capsys)
        assert code == 0, err
    args = base_args(files, "prune-model", "--site", conv, "--amount", 1)
    args[args.index("--data") + 1] = "labels_too_big.npz"
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"labels go up to 7 but the model has 3 outputs")


def test_a_grown_model_with_overflowed_weights_is_not_saved(files, capsys, tmp_path):
    conv = site_names(files)["conv"]
    code, _, err = run_cli(base_args(files, "grow-model", "--site", conv, "--method", "B4",
                                     "--random-std", "1e300", "1e300", "--out",
                                     tmp_path / "grown"), capsys)
    assert code == 2 and "NaN or infinite weights" in err and "nothing saved" in err
    assert not (tmp_path / "grown").exists()


def test_more_new_neurons_than_memory_holds_are_refused_before_any_pass(files, capsys,
                                                                         monkeypatch):
    import neuroplast.cli.grow_model as grow_model

    monkeypatch.setattr(grow_model, "outputs", lambda *a, **k: pytest.fail("a pass ran"))
    conv = site_names(files)["conv"]
    code, _, err = run_cli(base_args(files, "grow-model", "--site", conv, "--method", "B4",
                                     "--n", 10**13), capsys)
    assert_one_line_error(code, err, r"10,000,000,000,000 new neurons on site .* need about "
                                     r"[\d,.]+ GiB; this machine has")


def test_data_the_model_fails_on_after_its_first_examples_is_named_in_one_line(files, capsys,
                                                                             tmp_path):
    (tmp_path / "emb.py").write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 12), nn.ReLU(),"
        " nn.Linear(12, 3))\n")
    tokens = torch.randint(0, 50, (20, 5), generator=torch.Generator().manual_seed(3))
    tokens[15, 2] = 500
    np.savez(tmp_path / "tokens.npz", x=tokens.numpy())
    code, _, err = run_cli(["prune-model", "--factory", f"{tmp_path / 'emb.py'}:build",
                            "--data", str(tmp_path / "tokens.npz"), "--site", "1",
                            "--amount", "3"], capsys)
    assert_one_line_error(code, err, r"the model fails on --data .*tokens\.npz, examples "
                                     r"0–19: IndexError")


def test_integer_weights_are_refused_in_one_line(files, capsys, tmp_path):
    state = {k: (v.to(torch.int32) if k.endswith("0.weight") else v)
             for k, v in trained(files).state_dict().items()}
    save_file(state, str(tmp_path / "int.safetensors"))
    args = base_args(files, "sites")
    args[args.index("--weights") + 1] = str(tmp_path / "int.safetensors")
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"holds features\.0\.weight as torch\.int32.*weights "
                                     r"must be floating point")


@pytest.mark.parametrize("value", ["-5", "nan", "0.99"])
def test_a_bad_amount_is_refused_before_the_passes_over_the_data(value, files, capsys,
                                                                 monkeypatch):
    import neuroplast.cli.prune_model as prune_model

    monkeypatch.setattr(prune_model, "metrics", lambda *a, **k: pytest.fail("a pass ran"))
    conv = site_names(files)["conv"]
    code, _, err = run_cli(base_args(files, "prune-model", "--site", conv, "--amount", value),
                           capsys)
    assert code == 2 and "amount" in err, err


def test_a_bad_amount_is_refused_before_the_data_is_read(files, capsys):
    args = base_args(files, "prune-model", "--site", "x", "--amount", "-5")
    args[args.index("--data") + 1] = "nope.npz"
    code, _, err = run_cli(args, capsys)
    assert_one_line_error(code, err, r"amount must be >= 0")


def test_a_factory_file_imports_its_neighbours_from_another_folder(tmp_path, capsys,
                                                                    monkeypatch, files):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "layers_of_the_net.py").write_text(
        "from torch import nn\ndef block():\n    return nn.Sequential(nn.Flatten(), "
        "nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 3))\n")
    (package / "mynet.py").write_text(
        "import torch\nfrom layers_of_the_net import block\n"
        "def build():\n    torch.manual_seed(0)\n    return block()\n")
    (package / "lazy.py").write_text(
        "import torch\ndef build():\n    from layers_of_the_net import block\n"
        "    torch.manual_seed(0)\n    return block()\n")
    (tmp_path / "layers_of_the_net.py").write_text("raise ImportError('the wrong neighbour')\n")
    monkeypatch.chdir(tmp_path)
    for factory in ("pkg/mynet.py:build", "pkg/lazy.py:build"):  # imported at once, or late
        sys.modules.pop("layers_of_the_net", None)
        code, out, err = run_cli(["sites", "--factory", factory, "--data",
                                  str(files["data"])], capsys)
        assert code == 0, err  # the file's own neighbour, not the current folder's
        assert str(package.resolve()) not in sys.path  # added while the factory runs only
    sys.modules.pop("layers_of_the_net", None)


@pytest.mark.parametrize("command", ["prune-model", "grow-model"])
def test_force_without_out_is_refused(command, files, capsys):
    conv = site_names(files)["conv"]
    extra = ["--amount", 1] if command == "prune-model" else []
    code, _, err = run_cli(base_args(files, command, "--site", conv, *extra, "--force"),
                           capsys)
    assert_one_line_error(code, err, r"--force lets --out replace an existing file, but no "
                                     r"--out is given")
