"""The trained-base cache ($NEUROPLAST_TRAINED_CACHE): experiments that start from the same
trained N4 train it once. A hit must give exactly the tensors and metrics of the training
that stored them; any change of key (seed, initialisation, data, protocol) must train anew; a
damaged entry must be replaced, not trusted; without the variable nothing is written."""

from __future__ import annotations

import json

import torch

from neuroplast.data import Dataset
from neuroplast.experiments.definitions.pruning_common import train_base
from neuroplast.experiments.trained_cache import CACHE_ENV_VAR
from neuroplast.train import get_protocol

QUICK = get_protocol("quick")


def _small(mnist_small: Dataset, invert: bool = False) -> Dataset:
    train = mnist_small.train
    x = 1.0 - train.x if invert else train.x
    return Dataset(mnist_small.name, type(train)(x[:600], train.y[:600]),
                   type(train)(mnist_small.test.x[:200], mnist_small.test.y[:200]), "test")


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))


def test_a_hit_gives_the_stored_training_exactly(mnist_small, tmp_path, monkeypatch):
    data = _small(mnist_small)
    fresh, fresh_final = train_base("N4", 100, 3, QUICK, data)  # no variable: no cache
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    first, first_final = train_base("N4", 100, 3, QUICK, data)
    assert "from_cache" not in first_final and len(list(tmp_path.glob("*.safetensors"))) == 1
    second, second_final = train_base("N4", 100, 3, QUICK, data)
    assert second_final.pop("from_cache") is True
    assert _same(fresh, first) and _same(first, second)
    assert second_final == first_final
    assert first_final["train_accuracy"] == fresh_final["train_accuracy"]


def test_any_change_of_key_trains_anew(mnist_small, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    data = _small(mnist_small)
    train_base("N4", 100, 3, QUICK, data)
    for _, final in (train_base("N4", 100, 4, QUICK, data),  # seed
                         train_base("N4", 100, 3, QUICK, data, "kaiming-normal"),  # init
                         train_base("N4", 100, 3, QUICK, _small(mnist_small, invert=True)),
                         train_base("N4", 100, 3, get_protocol("fast"), data),  # protocol
                         train_base("N4", 1000, 3, QUICK, data)):  # length
        assert "from_cache" not in final
    assert len(list(tmp_path.glob("*.json"))) == 6


def test_a_damaged_entry_is_replaced(mnist_small, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    data = _small(mnist_small)
    first, _ = train_base("N4", 100, 3, QUICK, data)
    (meta,) = tmp_path.glob("*.json")
    stored = json.loads(meta.read_text())
    stored["key"]["seed"] = 99  # another key under this name: not trusted
    meta.write_text(json.dumps(stored))
    again, final = train_base("N4", 100, 3, QUICK, data)
    assert "from_cache" not in final and _same(first, again)
    (weights,) = tmp_path.glob("*.safetensors")
    weights.write_bytes(b"not safetensors")
    again, final = train_base("N4", 100, 3, QUICK, data)
    assert "from_cache" not in final and _same(first, again)
    assert train_base("N4", 100, 3, QUICK, data)[1]["from_cache"] is True


def test_vs_nnsp_starts_from_the_cached_base_net(mnist_small, tmp_path, monkeypatch):
    """vs-nnsp's trained net is train_base's: a net stored by another experiment is loaded
    (its training time is the stored one), and the run's results equal an uncached run's."""
    from neuroplast.experiments.definitions import vs_nnsp
    from neuroplast.experiments.sweep import RunSpec

    data = _small(mnist_small, invert=True)
    monkeypatch.setattr(vs_nnsp, "mnist", lambda data_dir, invert: data)
    config = vs_nnsp.configs(QUICK)[0]
    config = config | {"trained": [m for m in config["trained"] if m["id"] == "nnsp-5"],
                       "untrained": []}
    spec = RunSpec(experiment="vs-nnsp", protocol="quick", config=config, seed=2)
    uncached = vs_nnsp.run(spec, None)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    _, stored = train_base("N4", config["paper_epochs"], 2, QUICK, data, "xavier-normal")
    cached = vs_nnsp.run(spec, None)
    assert cached["initial"]["training_time_s"] == stored["wall_time_s"]
    assert cached["initial"]["train_accuracy"] == uncached["initial"]["train_accuracy"]
    kept = [result["trained"]["nnsp-5"]["kept_inputs"] for result in (cached, uncached)]
    assert kept[0] == kept[1]
