"""The public API on models that are not neuroplast's MLP: declared sites, any batches, the
user's optimizer and loop (issue 12 items 1, 3, 5, 10)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neuroplast
from neuroplast.cli.methods import catalogue
from neuroplast.efficiency import efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.replication.schedule import DeathReplication, DeathReplicationSchedule
from neuroplast.sites import linear_site
from neuroplast.stats import collect_site_statistics


def ffn(seed: int = 0, bias: bool = False) -> tuple[nn.Sequential, neuroplast.Site]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 3, bias=bias)).double()
    return model, linear_site("ffn", producer=model[0], consumer=model[2], activation="gelu")


def labelled(n: int = 300, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()


def test_prune_takes_a_dataloader_adds_a_bias_and_the_optimizer_still_steps():
    model, site = ffn()
    x, y = labelled()
    loader = DataLoader(TensorDataset(x, y), batch_size=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(x).sum().backward()
    optimizer.step()  # Adam state exists for every parameter before the surgery
    result = neuroplast.prune(model, site, loader, rule="lstsq", amount=0.25,
                              optimizer=optimizer)
    assert (result.width_before, result.width_after) == (12, 9)
    assert result.bias_added and model[2].bias is not None
    assert model[0].out_features == 9 and model[2].in_features == 9
    assert result.macs_before == 6 * 12 + 12 * 3 and result.macs_after == 6 * 9 + 9 * 3
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()  # state was resized: no shape error
    assert optimizer.state[model[0].weight]["exp_avg"].shape == (9, 6)
    assert any(p is model[2].bias for g in optimizer.param_groups for p in g["params"])


def test_a_surgery_made_bias_trains_with_the_users_biases():
    """With a no-decay group for 0-/1-D parameters (the usual setup), the consumer's new bias
    joins it; with one group, the weight's."""
    x, _ = labelled()
    model, site = ffn()
    weights = [p for p in model.parameters() if p.dim() > 1]
    biases = [p for p in model.parameters() if p.dim() <= 1]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 1e-3},
                                 {"params": biases, "weight_decay": 0.0}], lr=0.1)
    neuroplast.prune(model, site, x, rule="A1", amount=2, optimizer=optimizer)
    assert any(p is model[2].bias for p in optimizer.param_groups[1]["params"])
    assert not any(p is model[2].bias for p in optimizer.param_groups[0]["params"])
    model, site = ffn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-3)
    neuroplast.prune(model, site, x, rule="A1", amount=2, optimizer=optimizer)
    assert any(p is model[2].bias for p in optimizer.param_groups[0]["params"])


def test_add_bias_false_refuses_before_changing_anything():
    model, site = ffn()
    x, _ = labelled()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match="add_bias=False"):
        neuroplast.prune(model, site, x, rule="A1", amount=2, add_bias=False)
    assert model[2].bias is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_rule_none_needs_no_bias():
    model, site = ffn()
    x, _ = labelled()
    result = neuroplast.prune(model, site, x, rule="none", amount=3)
    assert not result.bias_added and model[2].bias is None and site.width == 9


def brute_force_goal(model: nn.Module, site, x, y, goal: float) -> list[int]:
    """Remove in the order of E_k one neuron at a time with A1 on deep copies, evaluating the
    whole model, while the accuracy stays >= goal (an independent reimplementation)."""
    stats = collect_site_statistics(model, site, x)
    order = torch.argsort(efficiency("connection", model, site, stats), stable=True).tolist()
    from neuroplast.death.rules import Rewirer

    rewirer = Rewirer(model, site, stats, "A1")
    removed = []
    for l in order[:-1]:
        trial, trial_rewirer = copy.deepcopy((model, rewirer))  # one memo: same modules
        trial_rewirer.remove(l)
        trial_rewirer.commit()  # physical removal in the copy
        assert trial[2].in_features == site.width - len(removed) - 1
        accuracy = (trial(x).argmax(1) == y).double().mean().item()
        if accuracy < goal:
            break
        rewirer.remove(l)
        removed.append(l)
    return removed


def test_goal_on_a_general_site_matches_a_brute_force_search():
    model, site = ffn(bias=True)
    x, y = labelled()
    with torch.no_grad():
        model[2].weight.mul_(3.0)  # a model that is better than chance
    base = (model(x).argmax(1) == y).double().mean().item()
    goal = base - 0.05
    reference, ref_site = copy.deepcopy((model, site))
    expected = brute_force_goal(reference, ref_site, x, y, goal)
    assert 0 < len(expected) < 11
    result = neuroplast.prune(model, site, [(x, y)], rule="A1", goal_accuracy=goal)
    assert list(result.removed) == expected
    assert result.accuracy_before == pytest.approx(base)
    assert result.accuracy >= goal
    assert (model(x).argmax(1) == y).double().mean().item() == pytest.approx(result.accuracy)


def test_goal_with_a_user_evaluate_function_and_unlabelled_data():
    model, site = ffn(bias=True)
    x, y = labelled()
    calls = []

    def evaluate(m: nn.Module) -> tuple[float, float]:
        calls.append(1)
        with torch.no_grad():
            return None, F.cross_entropy(m(x), y).item()

    base = evaluate(model)[1]
    result = neuroplast.prune(model, site, x, rule="A1", goal_loss=base + 0.02,
                              evaluate=evaluate)
    assert result.loss <= base + 0.02 and len(calls) >= result.n_removed + 2
    with pytest.raises(NeuroplastError, match="labelled data"):
        neuroplast.prune(model, site, x, rule="A1", goal_accuracy=0.5)


def test_paper_only_measures_refuse_other_models_with_a_list_of_usable_ones():
    model, site = ffn(bias=True)
    x, _ = labelled()
    stats = collect_site_statistics(model, site, x)
    with pytest.raises(NeuroplastError, match="the paper's MLP|mlp sites only.*connection"):
        efficiency("nnsp", model, site, stats, x)
    kinds = {m["name"]: m["site_kinds"] for m in catalogue()["measures"]}
    assert kinds["nnsp"] == ["mlp"] and "conv" in kinds["connection"]
    assert "gated" in kinds["magnitude-l2"]


def test_a_site_of_another_model_is_refused():
    model, site = ffn()
    other, _ = ffn(seed=1)
    with pytest.raises(NeuroplastError, match="does not belong to this model"):
        neuroplast.prune(other, site, labelled()[0], rule="none", amount=1)


def test_schedule_runs_from_the_users_own_loop():
    model, site = ffn(bias=True)
    x, y = labelled()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = DeathReplication(
        DeathReplicationSchedule(site=site, cutoff=1e9, max_fraction=0.25), every=3,
        total_epochs=10)
    events = []
    for _ in range(10):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        event = schedule.step(model, optimizer, x)
        if event is not None:
            events.append(event)
    assert [e["epoch"] for e in events] == [3, 6, 9]
    assert all(e["n_removed"] == 3 and e["width"] == 12 for e in events)  # 3 die, 3 born
    assert site.width == 12
    with pytest.raises(NeuroplastError, match="every=<positive int>"):
        DeathReplication(DeathReplicationSchedule(site=site), every=0)


def test_prune_retrain_cycles_calls_the_users_training_and_checks_the_plan_first():
    from neuroplast.death import prune_retrain_cycles

    model, site = ffn(bias=True)
    x, y = labelled()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    seen = []

    def retrain(m: nn.Module, cycle: int) -> dict[str, float]:
        for _ in range(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            optimizer.step()
        seen.append((cycle, site.width))
        return {"loss": loss.item()}

    results = prune_retrain_cycles(model, site, x, cycles=3, retrain=retrain, rule="A1",
                                   amount=2, optimizer=optimizer)
    assert [r.width_after for r in results] == [10, 8, 6]
    assert seen == [(1, 10), (2, 8)]  # no retraining after the last prune
    assert results[0].retrain is not None and results[-1].retrain is None
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NeuroplastError, match="would remove 6 of the 6"):
        prune_retrain_cycles(model, site, x, cycles=3, retrain=retrain, rule="A1", amount=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_bias_added_to_a_producer_is_resized_by_a_site_found_before_it():
    """conv2 is site A's consumer and site B's producer; A1 on A gives conv2 a bias, and B
    (found earlier) must then slice it with conv2's output channels."""
    from neuroplast.sites import conv_site

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Conv2d(6, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.Conv2d(5, 3, 3, padding=1)).double().eval()
    site_a = conv_site("a", producer=model[0], consumer=model[3], between=(model[1],))
    site_b = conv_site("b", producer=model[3], consumer=model[6], between=(model[4],))
    x = torch.randn(16, 2, 6, 6, dtype=torch.float64)
    assert neuroplast.prune(model, site_a, x, rule="A1", amount=2).bias_added
    neuroplast.prune(model, site_b, x, rule="A1", amount=2)
    assert model[3].bias.shape == (3,) and model[3].weight.shape[0] == 3
    assert model(x).shape == (16, 3, 6, 6)  # the model still runs


def test_a_distributed_data_parallel_model_is_refused_with_what_to_pass(tmp_path):
    """Surgery through a DistributedDataParallel wrapper left its gradient reduction set up for
    the old shapes (with two ranks the next backward failed, "Expected to have finished
    reduction"), and each rank would measure its own data."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3))
        wrapped = nn.parallel.DistributedDataParallel(model)
        x = torch.randn(16, 6)
        for call in (lambda: neuroplast.find_sites(wrapped, x),
                     lambda: neuroplast.prune(wrapped, "module.0", [x], amount=3),
                     lambda: neuroplast.replicate(wrapped, "module.0", [x], n=1)):
            with pytest.raises(NeuroplastError, match=r"pass model\.module with the same data"):
                call()
        assert model[0].weight.shape == (12, 6)  # refused before any change
        neuroplast.prune(wrapped.module, "0", [x], amount=3)  # what the message says works
        assert model[0].weight.shape == (9, 6)
    finally:
        dist.destroy_process_group()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated upstream
def test_torchscript_is_refused_with_what_to_pass():
    """A scripted model failed discovery with advice about the example batch, and a traced one
    was said to have no site."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3))
    x = torch.randn(16, 6)
    holder = nn.Sequential(torch.jit.script(nn.Sequential(nn.Linear(6, 5), nn.Tanh())),
                           nn.Linear(5, 2))
    cases = [(torch.jit.script(model), "model is TorchScript"),
             (torch.jit.trace(model, x), "model is TorchScript"),
             (holder, "model's submodule '0' is TorchScript")]
    for scripted, message in cases:
        with pytest.raises(NeuroplastError, match=message):
            neuroplast.find_sites(scripted, x)
        with pytest.raises(NeuroplastError, match="give it the module before scripting"):
            neuroplast.prune(scripted, "0", [x], amount=3)
    assert [s.name for s in neuroplast.find_sites(model, x)] == ["0"]  # the module itself
    # a scripted module the surgery never touches does not matter to a hand-declared site
    with_post = nn.Sequential(model, nn.Softmax(dim=1))
    with_post.post = torch.jit.script(nn.Softmax(dim=1))  # held, never called
    site = linear_site("hidden", producer=model[0], consumer=model[2],
                       activation="tanh")
    neuroplast.prune(with_post, site, [x], amount=3)
    assert model[0].weight.shape == (9, 6)


def test_sites_are_found_and_pruned_inside_an_autocast_region():
    """Inside ``torch.autocast`` (an evaluation loop in bfloat16) discovery's comparisons failed
    at the lower precision and the model was said to have no site."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 5), nn.Tanh(),
                          nn.Linear(5, 3))
    x = torch.randn(64, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert [s.name for s in neuroplast.find_sites(model, x)] == ["0", "2"]
        neuroplast.prune(model, "0", [x], amount=4)
        assert torch.is_autocast_enabled("cpu")  # the caller's region is left as it was
    assert model[0].weight.shape == (8, 6) and model[0].weight.dtype == torch.float32


class _DictOutput(nn.Module):
    """An MLP whose forward returns ``{"logits": ...}`` (or the tensor itself)."""

    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b, self.as_dict = nn.Linear(6, 12), nn.Linear(12, 3), as_dict

    def forward(self, x):
        logits = self.b(torch.tanh(self.a(x)))
        return {"logits": logits} if self.as_dict else logits


def test_a_goal_reads_the_logits_of_a_dict_output():
    """A forward returning {"logits": …} was refused ("holds no logits tensor") although an
    output with a .logits attribute was read."""
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(200, 6, generator=g), torch.randint(0, 3, (200,), generator=g)
    removed = []
    for as_dict in (False, True):
        model = _DictOutput(as_dict)
        result = neuroplast.prune(model, "a", [(x, y)], goal_accuracy=0.3)
        removed.append(result.removed)
    assert removed[0] == removed[1] and 0 < len(removed[0]) < 12


def test_instance_norm_sites_take_torch_pruning_measures_but_not_network_slimming():
    """An affine InstanceNorm is resized with its site; Torch-Pruning's group then holds it
    (it was refused: "couples the channels with modules ['0', '3']"), while network slimming's
    |γ| stays a BatchNorm's."""
    pytest.importorskip("torch_pruning")
    torch.manual_seed(0)

    def factory() -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.InstanceNorm2d(6, affine=True),
                             nn.ReLU(), nn.Conv2d(6, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 3))

    x = torch.randn(8, 2, 8, 8)
    model = factory()
    result = neuroplast.prune(model, "0", [x], amount=2, measure="tp-group-l2", rule="none")
    assert len(result.removed) == 2 and model[1].num_features == 4
    for measure in ("bn-scale", "tp-bn-scale"):
        with pytest.raises(NeuroplastError, match="a BatchNorm after the producer"):
            neuroplast.prune(factory(), "0", [x], amount=2, measure=measure, rule="none")


def test_macs_count_a_transposed_convolution():
    """A decoder's ConvTranspose2d was not counted (its MACs were 0)."""
    from neuroplast.cost import count_macs_per_example

    model = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.ConvTranspose2d(6, 4, 3, stride=2))
    x = torch.randn(5, 2, 8, 8)
    # Conv2d: 6·6·6 outputs × (2 · 3 · 3); ConvTranspose2d: each of its 6·6·6 inputs is
    # multiplied into 4 output channels × 3 · 3 kernel positions
    assert count_macs_per_example(model, x, lambda m, b: m(b)) == 216 * 18 + 216 * 36
