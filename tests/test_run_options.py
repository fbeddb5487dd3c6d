"""Run options (encoding, initialisation) of the fidelity study: recorded, validated, and
without effect on the identity of runs made with the defaults."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import one_thread

from neuroplast.data import load_mnist
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import EXPERIMENTS
from neuroplast.experiments.options import (
    OPTIONS,
    effective_options,
    option,
    reproduction_options,
    with_options,
)
from neuroplast.experiments.runner import plan, run_sweep
from neuroplast.models import INITIALIZATIONS, build_mlp, initialize, xavier_std
from neuroplast.models.init import kaiming_std
from neuroplast.train import evaluate, get_protocol, restrict, train

REPRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
N4_EXPERIMENTS = ("baseline-training", "cutoff-pruning", "goal-pruning", "untrained-pruning",
                  "input-pruning")


@pytest.mark.parametrize("name", N4_EXPERIMENTS)
def test_the_five_n4_experiments_take_the_study_s_options(name):
    assert set(EXPERIMENTS[name].options) == {"invert", "init", "l2", "lr_schedule"}


EARLIER = REPRODUCTION / "xavier-normal"
"""The reproduction under the first default (Xavier-normal, L2 ``half-all``: the options'
identity defaults), kept for comparison."""
KAIMING_HALF_ALL = REPRODUCTION / "kaiming-normal"
"""The reproduction under the second default (Kaiming-normal, L2 ``half-all``), kept for
comparison."""
REPRODUCED = sorted(p.name for p in EARLIER.iterdir() if (p / "runs").is_dir())


def test_every_reproduced_experiment_that_initialises_a_net_takes_init_and_l2():
    assert len(REPRODUCED) == 11
    for name in REPRODUCED:
        assert {"init", "l2"} <= set(EXPERIMENTS[name].options), name


def test_only_experiments_that_train_in_separate_calls_take_the_lr_schedule():
    """Death-and-replication and efficiency-vs-loss train in one call with events between
    epochs, where Mathematica would restart its schedule at each event: they refuse it."""
    one_call = {"death-and-replication", "efficiency-vs-loss"}
    for name in REPRODUCED:
        assert ("lr_schedule" in EXPERIMENTS[name].options) == (name not in one_call), name
    with pytest.raises(NeuroplastError, match="does not support the run option 'lr_schedule'"):
        with_options(EXPERIMENTS["death-and-replication"], lr_schedule="polynomial")


def _stored(folder: Path) -> tuple[set[str], int]:
    paths = list((folder / "runs").glob("*.json"))
    return {p.stem for p in paths}, len({json.loads(p.read_text())["spec"]["seed"] for p in paths})


def _planned(experiment, seeds: int, protocol: str = "fast") -> set[str]:
    return {spec.run_id for spec in plan(experiment, protocol=protocol, seeds=seeds)}


@pytest.mark.parametrize("name", REPRODUCED)
def test_default_options_keep_the_committed_runs_identity(name):
    """The first default's runs are exactly what the options' identity defaults plan."""
    stored, seeds = _stored(EARLIER / name)
    assert stored, f"no committed runs for {name}"
    defaults = {key: OPTIONS[key].default for key in EXPERIMENTS[name].options}
    experiment = with_options(EXPERIMENTS[name], **defaults)
    assert experiment is EXPERIMENTS[name]
    assert _planned(experiment, seeds) == stored


@pytest.mark.parametrize("name", REPRODUCED)
def test_the_fast_reproduction_is_what_reproduce_setting_fast_plans(name):
    """``neuroplast reproduce NAME --setting fast`` plans exactly the runs of docs/reproduction
    (their ids unchanged by the switch to per-experiment settings)."""
    stored, seeds = _stored(REPRODUCTION / name)
    assert stored, f"no committed runs for {name} under the fast setting"
    (experiment,) = _experiments([name], name, "--setting", "fast")
    assert _planned(experiment, seeds) == stored
    for path in (REPRODUCTION / name / "runs").glob("*.json"):
        record = json.loads(path.read_text())
        assert record["result"]["run_options"] | {"invert": None} == {
            "init": "kaiming-normal", "l2": "half-weights", "invert": None}
        assert record["provenance"]["protocol"]["decay_biases"] is False


OTHER_SETTINGS = {"paper-probable": REPRODUCTION / "paper-probable",
                  "fast-independent-sets": REPRODUCTION / "fast-independent-sets"}
"""The published settings besides ``fast``, and their folders."""


@pytest.mark.parametrize(("setting_name", "name"), [
    (setting_name, p.name) for setting_name, folder in OTHER_SETTINGS.items()
    for p in sorted(folder.iterdir()) if (p / "runs").is_dir()])
def test_the_other_settings_reproductions_hold_only_what_their_setting_plans(setting_name,
                                                                             name):
    from neuroplast.experiments.settings import SETTINGS

    setting = SETTINGS[setting_name]
    assert REPRODUCTION / setting.folder == OTHER_SETTINGS[setting_name]
    stored, seeds = _stored(OTHER_SETTINGS[setting_name] / name)
    experiment = reproduction_options(EXPERIMENTS[name], None, setting.options)
    assert stored and stored <= _planned(experiment, seeds, setting.protocol)


def test_fast_independent_sets_is_fast_with_replication_shifts_sets_drawn_apart():
    """The third setting changes replication-shift only: for every other experiment it plans
    the ``fast`` runs; for replication-shift the runs of the fidelity study's independent-sets
    arm (docs/reproduction/fidelity/peaked-sets/), and ``--setting fast --peaked-sets
    independent`` plans the same, labelled as a changed ``fast``."""
    from neuroplast.cli.reproduce import planned_sweeps

    fast = _experiments(EXPERIMENTS, "all", "--setting", "fast")
    apart = _experiments(EXPERIMENTS, "all", "--setting", "fast-independent-sets")
    for a, b in zip(fast, apart, strict=True):
        same = _planned(a, 2) == _planned(b, 2)
        assert same == (a.name != "replication-shift"), a.name
    arm = (REPRODUCTION / "fidelity" / "peaked-sets" / "fast-init-kaiming-normal-l2-half-weights"
           / "replication-shift")
    stored, seeds = _stored(arm)
    assert seeds == 30
    (shift,) = [e for e in apart if e.name == "replication-shift"]
    assert _planned(shift, 30) == stored
    (flagged,) = planned_sweeps([EXPERIMENTS["replication-shift"]],
                                _cli_args("replication-shift", "--setting", "fast",
                                          "--peaked-sets", "independent"))
    assert _planned(flagged.experiment, 30) == stored
    assert flagged.label == ("setting fast changed by --peaked-sets independent, "
                             "protocol fast")
    (shared,) = planned_sweeps([EXPERIMENTS["replication-shift"]],
                               _cli_args("replication-shift", "--peaked-sets", "shared"))
    assert shared.label == ("setting fast-independent-sets changed by --peaked-sets shared, "
                            "protocol fast")
    assert _planned(shared.experiment, 10) == _stored(REPRODUCTION / "replication-shift")[0]
    with pytest.raises(NeuroplastError, match="'replication' does not support the run option "
                                              "'peaked_sets'"):
        _experiments(["replication"], "replication", "--peaked-sets", "independent")


def test_an_experiment_defaults_to_another_setting_only_with_ten_seeds_of_it_published():
    """docs/decisions.md row 54: an experiment leaves ``fast`` only for a setting whose
    published runs of it cover at least 10 seeds — every configuration of the paper's encoding
    where the experiment runs both (vs-nnsp)."""
    from neuroplast.experiments.settings import BEST_MATCHING, setting_for

    for name in BEST_MATCHING:
        setting = setting_for(name)
        stored, _ = _stored(REPRODUCTION / setting.folder / name)
        experiment = reproduction_options(EXPERIMENTS[name], None, setting.options)
        planned = {s.run_id for s in plan(experiment, protocol=setting.protocol, seeds=10)
                   if s.config.get("invert", True)}
        assert planned <= stored, name


def test_each_default_setting_matches_the_paper_at_least_as_well_as_the_others_published():
    """docs/decisions.md row 54, checked on the published reports: every experiment of
    BEST_MATCHING has more paper cells within 2 s.e. under its setting than under ``fast`` (a
    tie keeps ``fast``; the one exception is baseline-training, whose nets are the base nets
    of cutoff-, goal- and input-pruning and so share their setting) and at least as many as
    under any other setting with 10 seeds of it; none left at ``fast`` has more under one."""
    from benchmarks.cell_counts import comparable_cells
    from benchmarks.report_cells import agreement
    from neuroplast.experiments.settings import FAST, SETTINGS, setting_for

    def agreeing(setting, name: str) -> int | None:
        """Cells within 2 s.e. in the setting's published report of ``name``; None without
        10 seeds or without cells (efficiency-vs-loss prints none)."""
        folder = REPRODUCTION / setting.folder
        _, seeds = _stored(folder / name)
        cells = comparable_cells(folder, [name]).get(name)
        return agreement(cells)[0] if cells and seeds >= 10 else None

    checked = 0
    for name in EXPERIMENTS:
        own = agreeing(setting_for(name), name)
        if own is None:
            assert setting_for(name) is FAST, name  # a moved experiment has its 10 seeds
            continue
        for other in SETTINGS.values():
            theirs = agreeing(other, name)
            assert theirs is None or theirs <= own, (name, other.name, own, theirs)
        if setting_for(name) is not FAST and name != "baseline-training":
            assert own > agreeing(FAST, name), (name, "ties keep fast")
        checked += 1
    # baseline-training (1/1 under both) moves with the experiments that prune its nets
    for fed in ("cutoff-pruning", "goal-pruning", "input-pruning"):
        assert setting_for(fed) is setting_for("baseline-training"), fed
    assert checked == 10  # every experiment with paper cells


@pytest.mark.parametrize("name", REPRODUCED)
def test_the_second_defaults_runs_stay_published_under_their_options(name):
    """Kaiming-normal with L2 ``half-all`` (the default from the initialisation switch to the
    L2 switch): ``--init kaiming-normal --l2 half-all`` plans exactly the runs kept."""
    stored, seeds = _stored(KAIMING_HALF_ALL / name)
    assert stored, f"no committed runs for {name} in {KAIMING_HALF_ALL}"
    (chosen,) = _experiments([name], name, "--setting", "fast", "--l2", "half-all")
    assert _planned(chosen, seeds) == stored
    for path in (KAIMING_HALF_ALL / name / "runs").glob("*.json"):
        record = json.loads(path.read_text())  # runs made before L2 was an option record
        assert option(record["result"]["run_options"], "l2") == "half-all"  # neither field
        assert record["provenance"]["protocol"].get("decay_biases", True) is True


def test_a_non_default_option_is_in_the_configuration_and_the_run_id():
    base = plan(EXPERIMENTS["cutoff-pruning"], protocol="fast", seeds=2)
    varied = plan(with_options(EXPERIMENTS["cutoff-pruning"], invert=True, init="kaiming-normal"),
                  protocol="fast", seeds=2)
    assert [s.config | {"invert": True, "init": "kaiming-normal"} for s in base] == [
        s.config for s in varied]
    assert not {s.run_id for s in base} & {s.run_id for s in varied}
    only_init = plan(with_options(EXPERIMENTS["cutoff-pruning"], init="kaiming-normal"),
                     protocol="fast", seeds=1)
    assert "invert" not in only_init[0].config  # a default stays out of the configuration


def test_options_are_validated_with_a_message_that_says_what_to_do():
    without = dataclasses.replace(EXPERIMENTS["vs-nnsp"], options=())
    with pytest.raises(NeuroplastError, match="does not support the run option 'init'"):
        with_options(without, init="kaiming-normal")
    with pytest.raises(NeuroplastError, match="does not support the run option 'invert'"):
        with_options(EXPERIMENTS["vs-nnsp"], invert=True)
    with pytest.raises(NeuroplastError, match="choose one of 'xavier-normal', 'kaiming-normal'"):
        with_options(EXPERIMENTS["cutoff-pruning"], init="he")
    with pytest.raises(NeuroplastError, match="choose one of False, True"):
        with_options(EXPERIMENTS["cutoff-pruning"], invert=1)
    with pytest.raises(NeuroplastError, match="unknown run option 'colour'"):
        with_options(EXPERIMENTS["cutoff-pruning"], colour="red")


def test_option_defaults_and_effective_options():
    assert option({}, "invert") is False and option({}, "init") == "xavier-normal"
    assert effective_options({"invert": True}) == {"invert": True, "init": "xavier-normal",
                                                   "l2": "half-all",
                                                   "lr_schedule": "constant",
                                                   "nnsp_outputs": "per-output",
                                                   "b4_std": "xavier-normal",
                                                   "peaked_sets": "shared"}
    assert set(OPTIONS) == {"invert", "init", "l2", "lr_schedule", "nnsp_outputs", "b4_std",
                            "peaked_sets"}
    assert effective_options({"b4_std": "trained", "l2": "full-all"}, ("l2", "init")) == {
        "l2": "full-all", "init": "xavier-normal"}


@pytest.mark.parametrize("name", sorted(n for n, e in EXPERIMENTS.items() if e.options))
def test_each_experiment_records_the_options_it_supports(name):
    """Every definition stores ``effective_options`` over its *own* experiment's options (the
    quick run below checks one end to end; a definition passing another experiment's, or no
    set, would record the wrong options)."""
    import importlib
    import inspect
    import re

    experiment = EXPERIMENTS[name]
    module = importlib.import_module(experiment.run.__module__)
    (constant,) = [attr for attr, value in vars(module).items() if value is experiment]
    calls = re.findall(r"effective_options\(\s*[\w.]+\s*,\s*(\w+)\.options\s*\)",
                       inspect.getsource(module))
    assert calls == [constant], (name, calls)
    assert inspect.getsource(module).count("effective_options(") == 1


def test_xavier_default_draws_what_it_always_drew():
    model = initialize(build_mlp("N4"), 3)
    generator = torch.Generator().manual_seed(3)
    for layer in model.layers:
        expected = torch.randn(layer.weight.shape, generator=generator) * xavier_std(
            layer.in_features, layer.out_features)
        assert torch.equal(layer.weight.data, expected)
        assert not layer.bias.any()


def test_kaiming_is_the_same_stream_scaled_to_sqrt_two_over_fan_in():
    xavier = initialize(build_mlp("N4"), 5)
    kaiming = initialize(build_mlp("N4"), 5, "kaiming-normal")
    for a, b in zip(xavier.layers, kaiming.layers, strict=True):
        scale = math.sqrt(2 / a.in_features) / xavier_std(a.in_features, a.out_features)
        torch.testing.assert_close(b.weight.data, a.weight.data * scale, rtol=1e-6, atol=0)
        assert not b.bias.any()
    # the empirical std of the 784 → 100 layer is √(2/784) to within sampling error
    assert kaiming.layers[0].weight.std().item() == pytest.approx(math.sqrt(2 / 784), rel=0.01)
    assert kaiming_std(100, 5, "relu") == pytest.approx(math.sqrt(4 / 100))  # Ramp: factor 2
    assert set(INITIALIZATIONS) == {"xavier-normal", "kaiming-normal", "lecun-normal"}
    lecun = initialize(build_mlp("N4"), 5, "lecun-normal")
    for a, b in zip(xavier.layers, lecun.layers, strict=True):
        scale = math.sqrt(1 / a.in_features) / xavier_std(a.in_features, a.out_features)
        torch.testing.assert_close(b.weight.data, a.weight.data * scale, rtol=1e-6, atol=0)
    assert lecun.layers[0].weight.std().item() == pytest.approx(math.sqrt(1 / 784), rel=0.01)
    with pytest.raises(NeuroplastError, match="unknown initialisation 'orthogonal'"):
        initialize(build_mlp("N4"), 0, "orthogonal")


def test_a_quick_run_with_options_trains_that_net_and_records_them(tmp_path, data_dir):
    experiment = with_options(EXPERIMENTS["baseline-training"], invert=True,
                              init="kaiming-normal")
    (record,) = run_sweep(experiment, protocol="quick", seeds=1, out_dir=tmp_path,
                          progress=False, data_dir=data_dir)
    assert record["spec"]["config"] == {"arch": "N4", "paper_epochs": 5000, "invert": True,
                                        "init": "kaiming-normal"}
    # the options baseline-training supports, defaults included; not replication's b4_std etc.
    assert record["result"]["run_options"] == {"invert": True, "init": "kaiming-normal",
                                               "l2": "half-all", "lr_schedule": "constant"}
    stored = json.loads((tmp_path / "baseline-training" / "runs"
                         / f"{record['run_id']}.json").read_text())
    assert stored["spec"] == record["spec"]

    protocol = get_protocol("quick")
    inverted = load_mnist(data_dir, download=False, invert=True).train
    model = initialize(build_mlp("N4"), 0, "kaiming-normal")
    with one_thread():
        train(model, inverted, protocol, epochs=protocol.epochs(5000), seed=0, progress=False)
        ours = evaluate(model, restrict(inverted, protocol))
    assert record["result"]["train_accuracy"] == ours.accuracy

    (tmp_path / "report").mkdir()
    summary = EXPERIMENTS["baseline-training"].report([record], tmp_path / "report")
    assert "* run options (docs/reproduction/fidelity.md): invert True, init kaiming-normal" in (
        summary.read_text())


def _cli_args(*argv: str):
    from neuroplast.cli.main import build_parser

    return build_parser().parse_args(["reproduce", *argv])


def test_every_run_option_s_flag_in_messages_is_a_reproduce_flag():
    """Refusals name a run option by its flag (``b4_std`` → ``--b4-std``); each flag so made
    is one `neuroplast reproduce` takes."""
    from neuroplast.experiments.options import OPTIONS, option_flag

    for key in OPTIONS:
        flag = option_flag(key)
        level = OPTIONS[key].levels[-1]
        assert _cli_args(flag) if isinstance(level, bool) else _cli_args(flag, str(level))


def _experiments(names, *argv: str):
    """The experiments ``neuroplast reproduce ARGV`` runs, with their run options."""
    from neuroplast.cli.reproduce import planned_sweeps

    return [s.experiment for s in planned_sweeps([EXPERIMENTS[n] for n in names],
                                                 _cli_args(*argv))]


def test_cli_flags_become_run_options_and_refuse_an_experiment_without_them():
    (experiment,) = _experiments(["cutoff-pruning"], "cutoff-pruning", "--invert", "--init",
                                 "kaiming-normal", "--out", "x")
    configs = experiment.configs(get_protocol("quick"))
    assert all(c["invert"] is True and c["init"] == "kaiming-normal" for c in configs)
    default_ids = {r.run_id for r in plan(EXPERIMENTS["cutoff-pruning"], protocol="quick",
                                           seeds=1)}
    assert not default_ids & {r.run_id for r in plan(experiment, protocol="quick", seeds=1)}
    (halved,) = _experiments(["replication"], "replication", "--l2", "quarter-weights")
    assert all(c["l2"] == "quarter-weights" and c["init"] == "kaiming-normal"
               for c in halved.configs(get_protocol("quick")))
    (scheduled,) = _experiments(["replication"], "replication", "--lr-schedule", "polynomial")
    assert all(c["lr_schedule"] == "polynomial"
               for c in scheduled.configs(get_protocol("quick")))
    with pytest.raises(NeuroplastError, match="does not support the run option 'invert'"):
        _experiments(["death-and-replication"], "death-and-replication", "--invert")
    every = _experiments(EXPERIMENTS, "all", "--invert")
    inverted = {e.name for e in every
                if all(c.get("invert") is True for c in e.configs(get_protocol("quick")))}
    assert inverted == {name for name, e in EXPERIMENTS.items() if "invert" in e.options}
    # --no-invert undoes the setting's inverted MNIST, and only that
    (standard,) = _experiments(["goal-pruning"], "goal-pruning", "--no-invert")
    assert all("invert" not in c and c["init"] == "lecun-normal"
               for c in standard.configs(get_protocol("quick")))


def test_each_experiment_runs_under_its_best_matching_setting_unless_told_otherwise():
    """Without flags: the experiments of BEST_MATCHING under the paper's protocol on inverted
    MNIST with variance-1/fan_in weights, every other under ``fast`` (Kaiming-normal, biases
    not penalised); ``--setting fast`` gives every experiment the fast reproduction's options,
    ``--protocol`` replaces only the protocol; ``--setting fast --init xavier-normal --l2
    half-all`` plans exactly the first default's runs (no option keys, the same ids as before
    any switch)."""
    from neuroplast.cli.reproduce import planned_sweeps
    from neuroplast.experiments.options import REPRODUCTION_DEFAULTS
    from neuroplast.experiments.settings import BEST_MATCHING

    assert REPRODUCTION_DEFAULTS == {"init": "kaiming-normal", "l2": "half-weights"}
    assert set(BEST_MATCHING) == {"baseline-training", "cutoff-pruning", "goal-pruning",
                                  "input-pruning", "vs-nnsp", "replication-shift"}
    every = planned_sweeps(list(EXPERIMENTS.values()), _cli_args("all"))
    for experiment, protocol, setting, changes in every:
        assert changes == (), experiment.name
        configs = experiment.configs(get_protocol("quick"))
        if experiment.name == "replication-shift":
            assert (protocol, setting.name) == ("fast", "fast-independent-sets")
            assert all((c["init"], c["l2"], c["peaked_sets"]) == (
                "kaiming-normal", "half-weights", "independent") and "invert" not in c
                for c in configs)
        elif experiment.name in BEST_MATCHING:
            assert (protocol, setting.name) == ("paper", "paper-probable"), experiment.name
            assert all(c["init"] == "lecun-normal" and c["l2"] == "half-weights"
                       for c in configs), experiment.name
            assert "invert" not in experiment.options or all(c["invert"] is True
                                                             for c in configs)
        else:
            assert (protocol, setting.name) == ("fast", "fast"), experiment.name
            assert all(c["init"] == "kaiming-normal" and c["l2"] == "half-weights"
                       for c in configs), experiment.name
            assert "invert" not in experiment.options or not any("invert" in c
                                                                 for c in configs)
    fast = planned_sweeps(list(EXPERIMENTS.values()), _cli_args("all", "--setting", "fast"))
    assert {(s.protocol, s.setting.name) for s in fast} == {("fast", "fast")}
    assert all(all(c["init"] == "kaiming-normal" and c["l2"] == "half-weights"
                   for c in s.experiment.configs(get_protocol("quick"))) for s in fast)
    (medium,) = planned_sweeps([EXPERIMENTS["cutoff-pruning"]],
                               _cli_args("cutoff-pruning", "--protocol", "medium"))
    assert (medium.protocol, medium.setting.name) == ("medium", "paper-probable")
    assert medium.label == "setting paper-probable changed by --protocol medium, protocol medium"
    (shifted,) = planned_sweeps([EXPERIMENTS["replication"]],
                                _cli_args("replication", "--setting", "paper-probable"))
    assert (shifted.protocol, shifted.changes) == ("paper", ())
    assert all((c["invert"], c["init"], c["l2"]) == (True, "lecun-normal", "half-weights")
               for c in shifted.experiment.configs(get_protocol("quick")))
    (standard,) = planned_sweeps([EXPERIMENTS["cutoff-pruning"]],
                                 _cli_args("cutoff-pruning", "--no-invert", "--init",
                                           "lecun-normal", "--l2", "quarter-weights"))
    assert standard.changes == ("--no-invert", "--l2 quarter-weights")  # lecun-normal is its own
    earlier = _experiments(["cutoff-pruning"], "cutoff-pruning", "--setting", "fast",
                           "--init", "xavier-normal", "--l2", "half-all")
    assert earlier == [EXPERIMENTS["cutoff-pruning"]]


def test_no_invert_is_refused_where_the_encoding_is_no_option_and_skipped_with_all():
    """vs-nnsp runs both encodings itself: --no-invert for it alone is refused; with ``all``
    it changes only the experiments that take the option."""
    with pytest.raises(NeuroplastError, match="'vs-nnsp' does not support the run option "
                                              "'invert'"):
        _experiments(["vs-nnsp"], "vs-nnsp", "--no-invert")
    every = _experiments(EXPERIMENTS, "all", "--no-invert")
    defaults = _experiments(EXPERIMENTS, "all")
    for experiment, default in zip(every, defaults, strict=True):
        configs = experiment.configs(get_protocol("quick"))
        if "invert" in experiment.options:
            assert not any(c.get("invert") for c in configs), experiment.name
        else:
            assert configs == default.configs(get_protocol("quick")), experiment.name


def test_report_only_names_the_setting_and_notes_runs_of_another(tmp_path, capsys, extras):
    """A folder holding one setting's runs: a report of another finds none and says what to
    give, with a note on the runs it leaves out."""
    from neuroplast.cli.main import main

    assert main(["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", "2", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["reproduce", "toy-sweep", "--protocol", "fast", "--seeds", "2", "--out",
                 str(tmp_path), "--report-only"]) != 0
    err = capsys.readouterr().err
    assert "holds 4 runs of another protocol or other run options" in err  # 2 configs × 2
    assert "give the --setting, --protocol, --seeds and run options the runs had" in err
    assert main(["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", "1", "--out",
                 str(tmp_path), "--report-only"]) == 0
    assert "note:" not in capsys.readouterr().err  # seed 1 is not another setting's run


def test_a_sweep_is_refused_where_its_report_would_replace_another_setting_s(tmp_path, capsys,
                                                                            extras):
    """A hostile user's pass: a one-seed check under another protocol replaced a finished
    report in the same --out. Refused before any run; the same setting may extend its own,
    and --report-only of stored runs is asked for by name."""
    from sweep_fixtures import executions

    from neuroplast.cli.main import main

    assert main(["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", "2", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    summary = (tmp_path / "toy-sweep" / "summary.md").read_text()
    done = sum(executions(extras).values())
    capsys.readouterr()
    assert main(["reproduce", "toy-sweep", "--protocol", "fast", "--seeds", "1", "--out",
                 str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds reports of runs of another protocol" in err and "give another --out" in err
    assert "toy-sweep (4 stored runs, none of this" in err
    assert sum(executions(extras).values()) == done
    assert (tmp_path / "toy-sweep" / "summary.md").read_text() == summary
    assert main(["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", "3", "--out",
                 str(tmp_path), "--no-progress"]) == 0  # its own setting: extended


def test_a_sweep_longer_than_fast_says_what_it_costs_before_it_starts(tmp_path, capsys,
                                                                       extras):
    """The paper's protocol is 100× fast's steps (5000 paper epochs against 50 of ours for
    N4), medium's 10×; the note names the quick setting and is printed when such a sweep
    runs (toy-sweep is instant under any protocol); fast and quick say nothing."""
    from neuroplast.cli.main import main
    from neuroplast.cli.reproduce import cost_note

    assert cost_note("fast") is None and cost_note("quick") is None
    assert cost_note("paper").startswith("protocol paper trains 100× the steps of fast")
    assert "--setting fast is the quick reproduction" in cost_note("paper")
    assert main(["reproduce", "toy-sweep", "--protocol", "medium", "--seeds", "1", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    assert "note: protocol medium trains 10× the steps of fast" in capsys.readouterr().err
    assert main(["reproduce", "toy-sweep", "--protocol", "fast", "--seeds", "1", "--out",
                 str(tmp_path / "fast"), "--no-progress"]) == 0
    assert "trains" not in capsys.readouterr().err


def test_an_unknown_setting_is_refused_with_the_choices():
    from neuroplast.experiments.settings import setting_for

    with pytest.raises(NeuroplastError, match="unknown setting 'slow'; choose best-match or one "
                                              "of: fast, paper-probable"):
        setting_for("cutoff-pruning", "slow")
    with pytest.raises(SystemExit):
        _cli_args("cutoff-pruning", "--setting", "slow")


def test_the_readme_names_each_experiments_default_setting():
    """The README's experiment table says which setting each experiment runs under by default,
    as ``neuroplast reproduce`` does."""
    import re

    from neuroplast.experiments.settings import setting_for

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    named = dict(re.findall(r"^\| `([a-z0-9-]+)` \| §[^\n]*\| `([a-z-]+)` \|$", readme, re.M))
    assert named == {name: setting_for(name).name for name in EXPERIMENTS}


@pytest.mark.parametrize("setting_name", ["fast", *OTHER_SETTINGS])
def test_the_published_folders_hold_no_run_of_another_setting(setting_name):
    """``neuroplast reproduce all --setting S --report-only`` on each published folder reports
    every run stored there: none is noted as another setting's."""
    from neuroplast.cli.reproduce import planned_sweeps, runs_of_other_settings
    from neuroplast.experiments.settings import SETTINGS

    folder = REPRODUCTION / SETTINGS[setting_name].folder
    sweeps = planned_sweeps(list(EXPERIMENTS.values()), _cli_args("all", "--setting",
                                                                  setting_name))
    assert [runs_of_other_settings(sweep, folder) for sweep in sweeps] == [0] * len(sweeps)
    # and the check can fail: the fast folder's runs are another setting's for paper-probable
    if setting_name == "fast":
        (cutoff,) = planned_sweeps([EXPERIMENTS["cutoff-pruning"]],
                                   _cli_args("cutoff-pruning"))
        assert runs_of_other_settings(cutoff, folder) == 10


def test_the_reproduction_readme_bolds_each_experiments_default_setting():
    """docs/reproduction/README.md's status table has a pair of columns (seeds and report,
    cells) for every published setting, and marks bold exactly the default setting's pair
    (its cells wherever it has a count)."""
    import re

    from neuroplast.experiments.settings import SETTINGS, setting_for

    lines = (REPRODUCTION / "README.md").read_text().splitlines()
    (header,) = [line for line in lines if line.startswith("| experiment | paper |")]
    columns = header.split("|")[3:-1]
    names = [re.fullmatch(r" `([a-z-]+)`: seeds, report ", c) for c in columns[::2]]
    assert all(names) and [f" `{n[1]}` cells " for n in names] == columns[1::2], header
    assert [n[1] for n in names] == list(SETTINGS)
    rows = {cells[1].strip(): cells[3:-1] for line in lines
            if line.startswith("| ") and len(cells := line.split("|")) == len(columns) + 4
            and cells[1].strip() in EXPERIMENTS}
    assert set(rows) == set(EXPERIMENTS)
    for name, cells in rows.items():
        default = setting_for(name).name
        for k, setting in enumerate(SETTINGS):
            runs, count = cells[2 * k], cells[2 * k + 1]
            assert ("**" in runs) == (setting == default), (name, setting)
            assert ("**" in count) == (setting == default and "/" in count), (name, setting)
