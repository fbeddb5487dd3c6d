"""Saved models: plan + safetensors, rebuilt through the user's constructor (issue 12 item 6).

For an ``nn.Sequential`` MLP, a CNN with BatchNorm (conv → conv and conv → flatten → linear
sites), a gated FFN without biases (pruning adds one) and the paper's MLP with its input site,
each after a mix of pruning (``Rewirer.commit``, ``Site.keep``) and replication (B1): save →
load with the factory gives the same outputs (float64, exactly) and the same state dict. A
pickle where the weights should be is refused without being unpickled; nothing is overwritten
without ``force``; a plan that does not fit the factory's model fails in one line.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import neuroplast
from neuroplast.death.rules import Rewirer
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, load_model, save_model
from neuroplast.replication.split import replicate
from neuroplast.saving import PLAN_FILE, WEIGHTS_FILE
from neuroplast.sites import conv_site, gated_site, input_site, linear_site
from neuroplast.sites.plan import plan_of
from neuroplast.sites.record import AddBias, Append, Keep, entries
from neuroplast.stats import collect_site_statistics

DT = torch.float64


def prune(model: nn.Module, site, x: torch.Tensor, remove: list[int], rule: str = "A1") -> None:
    """Remove ``remove`` from ``site`` with ``rule``'s re-wiring, then delete them."""
    stats = collect_site_statistics(model, site, x, covariance=rule in ("A3", "lstsq"))
    rewirer = Rewirer(model, site, stats, rule)
    rewirer.remove_many(remove)
    rewirer.commit()


# -- models ---------------------------------------------------------------------------------------


def sequential_factory() -> nn.Sequential:
    torch.manual_seed(11)  # the factory's own initial weights differ from the saved ones anyway
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 7), nn.Tanh(),
                         nn.Linear(7, 3)).to(DT)


def sequential_sites(m: nn.Sequential) -> dict:
    return {"h1": linear_site("h1", producer=m[0], consumer=m[2], activation="tanh"),
            "h2": linear_site("h2", producer=m[2], consumer=m[4], activation="tanh")}


def change_sequential(m: nn.Sequential, x: torch.Tensor) -> None:
    prune(m, sequential_sites(m)["h1"], x, [1, 4])
    replicate(m, sequential_sites(m)["h2"], n=2, method="B1", data=x)
    replicate(m, sequential_sites(m)["h1"], n=2, method="B1", data=x)
    sequential_sites(m)["h2"].keep([8, 0, 2, 3, 4, 5])
    prune(m, sequential_sites(m)["h1"], x, [0], rule="lstsq")


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Conv2d(6, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(5 * 4 * 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cnn_factory() -> SmallCNN:
    torch.manual_seed(12)
    return SmallCNN().to(DT).eval()


def cnn_sites(m: SmallCNN) -> dict:
    f = m.features
    return {"c1": conv_site("c1", producer=f[0], between=(f[1],), consumer=f[3],
                            activation="relu"),
            "c2": conv_site("c2", producer=f[3], between=(f[4],), consumer=m.head[1],
                            activation="relu", flatten_block=16)}


def randomize_batchnorm(m: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=g, dtype=DT) * 0.1)
            bn.running_var.copy_(torch.rand(n, generator=g, dtype=DT) + 0.5)
            with torch.no_grad():
                bn.weight.copy_(torch.rand(n, generator=g, dtype=DT) + 0.5)
                bn.bias.copy_(torch.randn(n, generator=g, dtype=DT) * 0.1)


def change_cnn(m: SmallCNN, x: torch.Tensor) -> None:
    randomize_batchnorm(m)
    prune(m, cnn_sites(m)["c1"], x, [2, 5])
    replicate(m, cnn_sites(m)["c2"], n=2, method="B1", data=x)
    replicate(m, cnn_sites(m)["c1"], n=2, method="B1", data=x)
    prune(m, cnn_sites(m)["c2"], x, [1])


class GatedFFN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(5, 9, bias=False)
        self.up_proj = nn.Linear(5, 9, bias=False)
        self.down_proj = nn.Linear(9, 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


def gated_factory() -> GatedFFN:
    torch.manual_seed(13)
    return GatedFFN().to(DT)


def gated_sites(m: GatedFFN) -> dict:
    return {"mlp": gated_site("mlp", gate=m.gate_proj, up=m.up_proj, consumer=m.down_proj,
                              activation="silu")}


def change_gated(m: GatedFFN, x: torch.Tensor) -> None:
    site = gated_sites(m)["mlp"]
    assert site.add_consumer_bias()  # A1 moves the consumer's bias: the plan must say so
    prune(m, site, x, [0, 7])
    replicate(m, gated_sites(m)["mlp"], n=2, method="B1", data=x)
    prune(m, gated_sites(m)["mlp"], x, [3])


def mlp_factory() -> MLP:
    torch.manual_seed(14)
    return MLP([6, 5, 4, 3], "tanh")  # float32: the saved float64 dtypes come back on load


def mlp_sites(m: MLP) -> dict:
    return m.neuroplast_sites()


def change_mlp(m: MLP, x: torch.Tensor) -> None:
    prune(m, m.site("input"), x, [1, 3])
    replicate(m, m.site("hidden1"), n=2, method="B1", data=x)
    prune(m, m.site("hidden2"), x, [2])
    m.site("input").keep([3, 0, 1])  # a permutation as well as a removal


CASES: dict[str, tuple[Callable[[], nn.Module], Callable, tuple[int, ...]]] = {
    "sequential": (sequential_factory, change_sequential, (40, 6)),
    "cnn": (cnn_factory, change_cnn, (12, 2, 8, 8)),
    "gated": (gated_factory, change_gated, (40, 5)),
    "mlp": (mlp_factory, change_mlp, (40, 6)),
}


def changed(name: str) -> tuple[nn.Module, torch.Tensor]:
    factory, change, shape = CASES[name]
    model = factory().to(DT)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(5), dtype=DT)
    change(model, x)
    return model, x


# -- round trip -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_save_load_gives_the_same_model(name, tmp_path):
    model, x = changed(name)
    factory = CASES[name][0]
    assert any(entries(m) for m in model.modules()), "the changes were recorded"
    fresh = factory().state_dict()
    assert any(k not in fresh or fresh[k].shape != v.shape
               for k, v in model.state_dict().items()), "the plan has work to do"

    neuroplast.save(model, tmp_path / "saved")
    loaded = neuroplast.load(tmp_path / "saved", factory)

    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(theirs) == list(ours)
    for key, value in ours.items():
        assert theirs[key].dtype == value.dtype and torch.equal(theirs[key], value), key
    assert plan_of(loaded) == plan_of(model)  # the loaded model's record is the saved plan


def test_plan_records_kept_indices_appends_and_the_added_bias(tmp_path):
    model, _ = changed("gated")
    neuroplast.save(model, tmp_path / "saved")
    plan = json.loads((tmp_path / "saved" / PLAN_FILE).read_text())
    assert plan["format"] == "neuroplast-plan" and plan["version"] == 1
    (site,) = plan["sites"]
    assert site["kind"] == "gated" and site["producers"] == ["gate_proj", "up_proj"]
    assert site["consumer"] == "down_proj" and site["between"] == []
    events = site["events"]
    assert events[0] == {"add_bias": True}
    assert events[1] == {"keep": [1, 2, 3, 4, 5, 6, 8]}
    assert events[2] == {"append": 2}
    assert events[3] == {"keep": [0, 1, 2, 4, 5, 6, 7, 8]}
    assert "down_proj.bias" in load_file(str(tmp_path / "saved" / WEIGHTS_FILE))


def test_cnn_plan_names_batchnorm_and_flatten_block():
    model, _ = changed("cnn")
    sites = {s["consumer"]: s for s in plan_of(model)["sites"]}
    assert sites["features.3"]["kind"] == "conv"
    assert sites["features.3"]["producers"] == ["features.0"]
    assert sites["features.3"]["between"] == ["features.1"]
    assert sites["head.1"]["kind"] == "flatten" and sites["head.1"]["flatten_block"] == 16
    assert sites["head.1"]["between"] == ["features.4"]


def test_resaving_a_loaded_model_writes_the_same_files(tmp_path):
    model, _ = changed("sequential")
    neuroplast.save(model, tmp_path / "a")
    neuroplast.save(neuroplast.load(tmp_path / "a", sequential_factory), tmp_path / "b")
    for name in (PLAN_FILE, WEIGHTS_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_metadata_round_trips_and_must_be_json(tmp_path):
    model, _ = changed("sequential")
    neuroplast.save(model, tmp_path / "saved", metadata={"rule": "A1", "loss": 0.25})
    assert neuroplast.saving.read_plan(tmp_path / "saved")["metadata"] == {"rule": "A1",
                                                                           "loss": 0.25}
    with pytest.raises(NeuroplastError, match="metadata must be JSON"):
        neuroplast.save(model, tmp_path / "other", metadata={"x": object()})
    assert not (tmp_path / "other").exists()


def test_unchanged_model_saves_an_empty_plan(tmp_path):
    model = sequential_factory()
    neuroplast.save(model, tmp_path / "saved")
    assert neuroplast.saving.read_plan(tmp_path / "saved")["sites"] == []
    loaded = neuroplast.load(tmp_path / "saved", sequential_factory)
    x = torch.randn(3, 6, dtype=DT)
    assert torch.equal(loaded(x), model(x))


# -- the record -----------------------------------------------------------------------------------


def test_consecutive_keeps_and_appends_fold():
    assert Keep((0, 2, 3)).after(Keep((4, 1, 2, 3))) == Keep((4, 2, 3))
    assert Append(2).after(Append(3)) == Append(5)
    assert Append(1).after(Keep((0,))) is None and Keep((0,)).after(Append(1)) is None
    assert AddBias().after(AddBias()) is None

    model = sequential_factory()
    site = sequential_sites(model)["h1"]
    site.keep([7, 1, 2, 3, 4, 5])
    sequential_sites(model)["h1"].keep([0, 2, 3])  # a new Site object for the same site
    (entry,) = entries(model[2])
    assert entry.events == [Keep((7, 2, 3))]


def test_deepcopy_carries_the_record_to_the_copy_modules(tmp_path):
    model, x = changed("sequential")
    clone = copy.deepcopy(model)
    (entry,) = [e for e in entries(clone[2])]
    assert entry.site.consumer is clone[2] and entry.site.producers[0] is clone[0]
    sequential_sites(clone)["h1"].keep([0, 1])  # changes the copy's record only
    assert plan_of(clone) != plan_of(model)
    neuroplast.save(clone, tmp_path / "clone")
    loaded = neuroplast.load(tmp_path / "clone", sequential_factory)
    assert torch.equal(loaded(x), clone(x))


def test_tied_weights_are_stored_once_and_stay_tied(tmp_path):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(4, 4)
            self.hidden = nn.Linear(4, 6)
            self.out = nn.Linear(6, 4)
            self.last = nn.Linear(4, 4)
            self.last.weight = self.first.weight  # tied

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.tanh(self.hidden(torch.tanh(self.first(x))))
            return self.last(self.out(h))

    def factory() -> Tied:
        return Tied().to(DT)

    model = factory()
    linear_site("h", producer=model.hidden, consumer=model.out).keep([0, 2, 3, 4, 5])
    neuroplast.save(model, tmp_path / "saved")
    stored = load_file(str(tmp_path / "saved" / WEIGHTS_FILE))
    assert "first.weight" in stored and "last.weight" not in stored
    loaded = neuroplast.load(tmp_path / "saved", factory)
    assert loaded.last.weight is loaded.first.weight
    x = torch.randn(3, 4, dtype=DT)
    assert torch.equal(loaded(x), model(x))


# -- refusals -------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_in_place_of_the_weights_is_refused_not_loaded(tmp_path, writer):
    model, _ = changed("sequential")
    neuroplast.save(model, tmp_path / "saved")
    marker = tmp_path / "unpickled"
    weights = tmp_path / "saved" / WEIGHTS_FILE
    payload = {"0.weight": _Payload(marker)}
    if writer == "pickle":
        weights.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, weights)
    with pytest.raises(NeuroplastError, match="not a safetensors file") as exc:
        neuroplast.load(tmp_path / "saved", sequential_factory)
    assert "never pickle" in one_line(exc)
    assert not marker.exists()
    with pytest.raises(NeuroplastError, match="not a safetensors file"):
        neuroplast.saving.load_weights(sequential_factory(), weights)
    assert not marker.exists()


def test_existing_destination_is_not_overwritten_without_force(tmp_path):
    model, x = changed("sequential")
    neuroplast.save(model, tmp_path / "saved")
    before = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    other = sequential_factory()
    with pytest.raises(NeuroplastError, match="already exists") as exc:
        neuroplast.save(other, tmp_path / "saved")
    one_line(exc)
    assert {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()} == before

    neuroplast.save(other, tmp_path / "saved", force=True)  # a saved model may be replaced
    loaded = neuroplast.load(tmp_path / "saved", sequential_factory)
    assert torch.equal(loaded(x), other(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]  # no temporary left

    (tmp_path / "file.txt").write_text("mine")
    with pytest.raises(NeuroplastError, match="already exists"):
        neuroplast.save(model, tmp_path / "file.txt")
    assert (tmp_path / "file.txt").read_text() == "mine"


def test_a_folder_of_other_files_is_never_replaced_even_with_force(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "notes.md").write_text("keep me")
    with pytest.raises(NeuroplastError, match="replaces only a folder it saved"):
        neuroplast.save(sequential_factory(), tmp_path / "results", force=True)
    assert (tmp_path / "results" / "notes.md").read_text() == "keep me"
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["notes.md"]


def test_a_file_or_a_link_is_never_turned_into_a_folder_even_with_force(tmp_path):
    """A plain file at the destination is the user's (their weights, say): replacing it by a
    saved folder would lose it; a symbolic link likewise."""
    model = sequential_factory()
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"the user's only copy")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for path, kind in ((weights, "a file"), (link, "a symbolic link")):
        with pytest.raises(NeuroplastError, match=f"is {kind}; neuroplast replaces only a "
                                                  "folder it saved") as exc:
            neuroplast.save(model, path, force=True)
        one_line(exc)
    assert weights.read_bytes() == b"the user's only copy" and link.is_symlink()


def test_a_destination_that_cannot_be_written_is_refused_before_the_work(tmp_path):
    """Checked by check_destination, which the CLI calls before it builds anything."""
    (tmp_path / "data.npz").write_bytes(b"not a folder")
    with pytest.raises(NeuroplastError, match=r"data\.npz is not a directory; choose another"):
        neuroplast.saving.check_destination(tmp_path / "data.npz" / "sub" / "out", False)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root may write anywhere: nothing to refuse
            pytest.skip("this user can write into a read-only folder (root)")
        with pytest.raises(NeuroplastError, match="is not writable"):
            neuroplast.saving.check_destination(locked / "out", False)
    finally:
        locked.chmod(0o700)
    neuroplast.saving.check_destination(tmp_path / "new" / "deeper" / "out", False)  # fine


def edit_plan(folder: Path, edit: Callable[[dict], None]) -> None:
    plan = json.loads((folder / PLAN_FILE).read_text())
    edit(plan)
    (folder / PLAN_FILE).write_text(json.dumps(plan))


@pytest.fixture
def saved(tmp_path) -> Path:
    model, _ = changed("cnn")
    return neuroplast.save(model, tmp_path / "saved")


@pytest.mark.parametrize(("edit", "pattern"), [
    (lambda p: p["sites"][0].update(consumer="features.9"),
     r"site 0 .*names consumer 'features.9', which the model built by the factory does not"),
    (lambda p: p["sites"][1].update(producers=["nope.conv"]),
     r"names producer 'nope.conv'"),
    (lambda p: p.update(version=2), r"plan version 2; this neuroplast reads version 1"),
    (lambda p: p.update(format="other"), r"is not a neuroplast plan"),
    (lambda p: p["sites"][0].update(kind="attention"), r"unknown site kind 'attention'"),
    (lambda p: p["sites"][0]["events"].append({"keep": [0, 99]}),
     r"indices to keep must be distinct and in \[0, .*; a plan replays on the unpruned "
     r"architecture it was saved from: check that the factory"),
    (lambda p: p["sites"][0]["events"].append({"grow": 2}), r"each event must be one of"),
    (lambda p: p["sites"][0].update(consumer="features.2"),
     r"ReLU cannot be a consumer"),
])
def test_a_plan_that_does_not_fit_the_factory_fails_in_one_line(saved, edit, pattern):
    edit_plan(saved, edit)
    with pytest.raises(NeuroplastError, match=pattern) as exc:
        neuroplast.load(saved, cnn_factory)
    one_line(exc)


def test_weights_of_other_shapes_fail_in_one_line(saved, tmp_path):
    edit_plan(saved, lambda p: p["sites"][0]["events"].pop())  # the plan loses an event
    with pytest.raises(NeuroplastError, match=r"model.safetensors does not fit the model.*"
                       r"'features.0.weight' is \(6, 2, 3, 3\) in the file but") as exc:
        neuroplast.load(saved, cnn_factory)
    one_line(exc)


def test_another_factory_fails_in_one_line(saved):
    with pytest.raises(NeuroplastError, match="does not have") as exc:
        neuroplast.load(saved, sequential_factory)
    one_line(exc)
    with pytest.raises(NeuroplastError, match="returned a dict, not a torch.nn.Module"):
        neuroplast.load(saved, dict)


def test_not_a_saved_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        neuroplast.load(tmp_path / "missing", sequential_factory)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NeuroplastError, match="has no plan.json"):
        neuroplast.load(tmp_path / "empty", sequential_factory)
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / PLAN_FILE).write_text("{")
    (tmp_path / "notjson" / WEIGHTS_FILE).write_text("")
    with pytest.raises(NeuroplastError, match="is not JSON"):
        neuroplast.load(tmp_path / "notjson", sequential_factory)


def test_paper_mlp_files_keep_loading_through_load_model(tmp_path):
    model, x = changed("mlp")
    save_model(model, tmp_path / "n.pt")
    with pytest.raises(NeuroplastError, match="neuroplast.models.load_model"):
        neuroplast.load(tmp_path / "n.pt", mlp_factory)
    again, _ = load_model(tmp_path / "n.pt")
    assert torch.equal(again(x), model(x))


def test_a_module_replaced_after_surgery_cannot_be_named(tmp_path):
    model, _ = changed("sequential")
    model[0] = nn.Linear(6, model[0].out_features).to(DT)  # the recorded producer is gone
    with pytest.raises(NeuroplastError, match="no longer part of the model") as exc:
        neuroplast.save(model, tmp_path / "saved")
    one_line(exc)
    assert not (tmp_path / "saved").exists()


def test_input_site_is_rebuilt_with_its_selector(tmp_path):
    model, x = changed("mlp")
    (site,) = [s for s in plan_of(model)["sites"] if s["kind"] == "input"]
    assert site == {"kind": "input", "producers": [], "between": ["selector"],
                    "consumer": "layers.0", "flatten_block": None,
                    "events": [{"keep": [5, 0, 2]}]}  # keep [0, 2, 4, 5] then [3, 0, 1]
    neuroplast.save(model, tmp_path / "saved")
    loaded = neuroplast.load(tmp_path / "saved", mlp_factory)
    assert loaded.selector.kept.tolist() == model.selector.kept.tolist() == [5, 0, 2]
    assert loaded.widths == model.widths
    assert input_site("input", selector=loaded.selector, consumer=loaded.layers[0]).width == 3


class HoldsCompiledBlock(nn.Module):
    """head(relu(block(x))) with ``block`` a ``torch.compile``d Sequential when asked."""

    def __init__(self, compiled: bool) -> None:
        super().__init__()
        torch.manual_seed(12)
        block = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 6)).to(DT)
        self.block = torch.compile(block, backend="eager") if compiled else block
        self.head = nn.Linear(6, 3).to(DT)

    def forward(self, x):
        return self.head(torch.relu(self.block(x)))


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # torch's import
def test_a_model_holding_a_compiled_block_is_pruned_saved_and_loaded_by_its_plain_names(
        tmp_path):
    model = HoldsCompiledBlock(compiled=True)
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(6), dtype=DT)
    # discovery and statistics run the block's own module: hooks inside a compiled region
    # failed ("already tracked for mutation"), and names held "._orig_mod"
    assert [site.name for site in neuroplast.find_sites(model, x)] == ["block.0", "block.2"]
    neuroplast.prune(model, "block.0", [x], amount=4)
    neuroplast.replicate(model, "block.0", [x], n=1)
    assert type(model.block).__name__ == "OptimizedModule"  # the wrapper is put back
    expected = model(x)  # the compiled block runs the reshaped module
    neuroplast.save(model, tmp_path / "saved")
    stored = load_file(str(tmp_path / "saved" / WEIGHTS_FILE))
    assert "block.0.weight" in stored and stored["block.0.weight"].shape == (9, 6)
    assert not any("_orig_mod" in name for name in stored)
    for compiled in (False, True):
        loaded = neuroplast.load(tmp_path / "saved", lambda c=compiled: HoldsCompiledBlock(c))
        torch.testing.assert_close(loaded(x), expected)
        assert (type(loaded.block).__name__ == "OptimizedModule") is compiled


class RefusesEvaluationMode(nn.Module):
    """A module whose ``eval()`` fails (a user's ``train`` override that raises)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = torch.compile(nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 2)),
                                   backend="eager")

    def forward(self, x):
        return self.block(x)

    def train(self, mode: bool = True):
        if not mode:
            raise RuntimeError("this model has no evaluation mode")
        return super().train(mode)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # torch's import
def test_compiled_blocks_are_put_back_when_entering_evaluation_fails():
    model = RefusesEvaluationMode()
    wrapper = model.block
    with pytest.raises(RuntimeError, match="no evaluation mode"):
        neuroplast.find_sites(model, torch.randn(2, 6))
    assert model.block is wrapper  # the compiled wrapper stands in its place again


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # torch's import
def test_nested_and_in_place_compiled_parts_are_measured_uncompiled_and_put_back():
    compilations = []

    def counting(graph, example_inputs):  # a Dynamo backend that runs the graph as traced
        compilations.append(graph)
        return graph.forward

    inner = HoldsCompiledBlock(compiled=False)
    inner.block = torch.compile(inner.block, backend=counting)  # a compiled block inside …
    inner.head.compile(backend=counting)  # … a head compiled in place …
    model = torch.compile(nn.Sequential(inner, nn.Tanh(), nn.Linear(3, 2).to(DT)),
                          backend=counting)  # … inside a compiled model
    x = torch.randn(30, 6, generator=torch.Generator().manual_seed(7), dtype=DT)
    block, head_call = inner.block, inner.head._compiled_call_impl
    assert [s.name for s in neuroplast.find_sites(model, x)] == ["0.block.0", "0.block.2",
                                                                "0.head"]
    neuroplast.prune(model, "0.head", [x], amount=1)
    assert compilations == []  # discovery and statistics ran every part uncompiled
    assert inner.block is block and inner.head._compiled_call_impl is head_call
    assert inner.head.out_features == 2
    torch.testing.assert_close(model(x), model._orig_mod(x))  # compiled and eager agree
    assert compilations  # the model itself still runs compiled


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated")  # torch's import
def test_a_compiled_model_saves_and_loads_under_its_uncompiled_names(tmp_path):
    model, x = changed("sequential")
    neuroplast.save(torch.compile(model), tmp_path / "saved")  # no forward: nothing compiles
    stored = load_file(str(tmp_path / "saved" / WEIGHTS_FILE))
    assert sorted(stored) == sorted(model.state_dict())  # no "_orig_mod." prefix
    for factory in (sequential_factory, lambda: torch.compile(sequential_factory())):
        loaded = neuroplast.load(tmp_path / "saved", factory)
        inner = getattr(loaded, "_orig_mod", loaded)
        for key, value in model.state_dict().items():
            assert torch.equal(inner.state_dict()[key].to(DT), value), key
    assert type(loaded).__name__ == "OptimizedModule"  # what the factory returned
