"""benchmarks.b4_width: the three readings of B4's distribution, and the rescaled neuron."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from benchmarks.b4_width import reading_stds, widen_new_neuron
from neuroplast.errors import NeuroplastError
from neuroplast.models import build_mlp, initialize
from neuroplast.replication import replicate


def _n1(init: str = "kaiming-normal"):
    return initialize(build_mlp("N1"), 3, init)


@pytest.mark.parametrize("init", ["kaiming-normal", "lecun-normal", "xavier-normal"])
def test_the_rows_are_xavier_normal_and_the_run_option_s_readings(init):
    """The wider rows are the run option ``b4_std``'s readings (tested in
    test_random_neuron_spread.py); the xavier-normal row names the library's own stds."""
    from neuroplast.experiments.definitions.random_neuron_spread import b4_random_std

    model = _n1(init)
    # Xavier-normal for N1's 784 → 5 and 5 → 20 layers, whatever the net's initialisation
    assert reading_stds(model, "xavier-normal", init) == pytest.approx(
        (math.sqrt(2 / 789), math.sqrt(2 / 25)))
    for reading in ("initialiser", "trained"):
        assert reading_stds(model, reading, init) == b4_random_std(model, reading, init)
    with pytest.raises(ValueError, match="unknown B4 reading 'empirical'"):
        reading_stds(model, "empirical", init)


def test_the_widened_neuron_is_b4s_own_draw_rescaled_and_nothing_else_moves():
    model = _n1()
    b4 = copy.deepcopy(model)
    replicate(b4, "hidden1", n=1, method="B4", seed=7)
    widened = copy.deepcopy(b4)
    widen_new_neuron(widened, (0.5, 0.25), (1.0, 1.0))  # ×2 incoming, ×4 outgoing
    first, second = widened.layers[0].weight, widened.layers[1].weight
    assert torch.equal(first[-1], 2 * b4.layers[0].weight[-1])
    assert torch.equal(second[:, -1], 4 * b4.layers[1].weight[:, -1])
    assert torch.equal(first[:-1], b4.layers[0].weight[:-1])
    assert torch.equal(second[:, :-1], b4.layers[1].weight[:, :-1])
    assert torch.equal(widened.layers[0].bias, b4.layers[0].bias)
    assert widened.layers[0].bias[-1] == 0 and first.shape[0] == model.layers[0].weight.shape[0] + 1


def _stored_runs(folder, b4_by_seed, *, protocol="medium", init="kaiming-normal"):
    """Fake Fig. 22 replication runs (and one Fig. 21 run, never compared) in ``folder``."""
    def stages(values):
        return {"stages": [{"train": {"accuracy": v}} for v in values]}

    (folder / "runs").mkdir()
    options = {"invert": False, "init": init, "l2": "half-weights"}
    for seed, b4 in b4_by_seed.items():
        record = {"spec": {"seed": seed, "protocol": protocol,
                           "config": {"figure": "fig22", "horizons": [10, 100, 1000]}},
                  "result": {"run_options": options, "pretrain": {"train": {"accuracy": 0.4}},
                             "methods": {"B5": stages([0.41, 0.42, 0.43]), "B4": stages(b4)}}}
        (folder / "runs" / f"r{seed}.json").write_text(json.dumps(record))
    fig21 = {"spec": {"seed": 0, "protocol": protocol, "config": {"figure": "fig21"}},
             "result": {}}
    (folder / "runs" / "fig21.json").write_text(json.dumps(fig21))


SETTING = {"protocol": "medium", "options": {"invert": False, "init": "kaiming-normal",
                                             "l2": "half-weights"}, "horizons": (10, 100, 1000)}


def test_the_check_counts_the_cells_equal_to_the_stored_replication_runs(tmp_path):
    from benchmarks.b4_width import stored_agreement

    _stored_runs(tmp_path, {0: [0.5, 0.6, 0.7], 1: [0.5, 0.6, 0.9]})
    ours = [{"seed": seed, "pretrained": 0.4,
             "accuracy": {"B5": [0.41, 0.42, 0.43], "xavier-normal": [0.5, 0.6, 0.7]}}
            for seed in (0, 1, 2)]  # seed 1's last B4 differs; seed 2 is not stored
    assert stored_agreement(ours, tmp_path, **SETTING) == (13, 14)


def test_runs_of_another_setting_are_refused(tmp_path):
    from benchmarks.b4_width import stored_agreement

    _stored_runs(tmp_path, {0: [0.5, 0.6, 0.7]}, init="lecun-normal")
    with pytest.raises(NeuroplastError, match="was run under protocol medium, options"):
        stored_agreement([], tmp_path, **SETTING)


@pytest.mark.parametrize("stored", [False, True])
def test_a_bad_check_folder_is_refused_before_any_data_is_read(tmp_path, capsys, monkeypatch,
                                                               stored):
    import neuroplast.experiments.experiment as experiment
    from benchmarks.b4_width import main

    def no_data(*args, **kwargs):
        raise AssertionError("data read before the arguments were checked")

    monkeypatch.setattr(experiment, "mnist", no_data)
    if stored:
        _stored_runs(tmp_path, {0: [0.5, 0.6, 0.7]}, protocol="fast")  # not medium
    with pytest.raises(SystemExit):
        main(["--protocol", "medium", "--out", str(tmp_path / "out"), "--seeds", "1",
              "--check-against", str(tmp_path)])
    err = capsys.readouterr().err
    assert ("was run under protocol fast" if stored else "holds no runs/ folder") in err


def test_b4_draws_at_the_xavier_reading_s_stds():
    """What the rescaling assumes of the library's B4: incoming and outgoing weights at the
    Xavier-normal stds of the layers' shapes before the neurons are added (200 neurons, so the
    sample stds are within a few per cent)."""
    model = _n1()
    incoming, outgoing = reading_stds(model, "xavier-normal", "kaiming-normal")
    grown = copy.deepcopy(model)
    replicate(grown, "hidden1", n=200, method="B4", seed=0)
    assert float(grown.layers[0].weight[5:].detach().std()) == pytest.approx(incoming, rel=0.03)
    assert float(grown.layers[1].weight[:, 5:].detach().std()) == pytest.approx(outgoing, rel=0.04)
    assert torch.equal(grown.layers[0].bias[5:], torch.zeros(200))


def _fake_seed(seed, protocol, data, init, horizons):
    """Stands in for run_seed's hour of training: a record of run_seed's shape, from the seed."""
    from benchmarks.b4_width import READINGS, ROWS

    return {"seed": seed, "pretrained": 0.9 + seed / 100,
            "stds": {row: [0.05 + seed / 1000, 0.3] for row in READINGS},
            "accuracy": {row: [0.9 + seed / 100 - k / 1000 - i / 10000
                               for i, _ in enumerate(horizons)]
                         for k, row in enumerate(ROWS)}}


def test_a_stopped_run_keeps_its_finished_seeds_and_trains_only_the_rest(tmp_path, data_dir,
                                                                        monkeypatch):
    """Stopped while training seed 1, the benchmark has stored seed 0 under partial/; run
    again it trains seed 1 only, and its report equals (but for its seconds) that of a run
    never stopped; partial/ goes once the report is written."""
    import benchmarks.b4_width as bench

    trained: list[int] = []
    stop_at: list[int] = []

    def fake(seed, *args):
        trained.append(seed)
        if seed in stop_at:
            raise KeyboardInterrupt
        return _fake_seed(seed, *args)

    monkeypatch.setattr(bench, "run_seed", fake)
    arguments = ["--protocol", "quick", "--seeds", "3", "--data", data_dir]
    bench.main([*arguments, "--out", str(tmp_path / "clean")])
    assert trained == [0, 1, 2]
    trained.clear()
    stop_at.append(1)
    with pytest.raises(KeyboardInterrupt):
        bench.main([*arguments, "--out", str(tmp_path / "again")])
    stop_at.clear()
    folder = tmp_path / "again" / "quick-init-kaiming-normal-l2-half-weights"
    (store,) = (folder / "partial").iterdir()
    assert store.name.startswith("b4-width-")
    assert [p.suffix for p in store.iterdir()] == [".json"]
    trained.clear()
    bench.main([*arguments, "--out", str(tmp_path / "again")])
    assert trained == [1, 2]
    clean = json.loads((tmp_path / "clean" / folder.name / "b4-width.json").read_text())
    again = json.loads((folder / "b4-width.json").read_text())
    for record in (clean, again):
        del record["seconds"]
    assert again == clean
    assert not (folder / "partial").exists()
