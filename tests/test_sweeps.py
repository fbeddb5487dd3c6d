"""Tests for the sweep engine: run ids, the atomic results store, executors, resume after kill -9.

The experiments used here are the cheap test doubles of ``sweep_fixtures.py``, registered
through ``$NEUROPLAST_EXTRA_EXPERIMENTS``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sweep_fixtures
from sweep_fixtures import EXTRAS_ENTRY as EXTRAS
from sweep_fixtures import executions

from neuroplast.cli.main import main
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import (
    EXPERIMENTS,
    ResultStore,
    RunFailedError,
    RunSpec,
    expand,
    get_experiment,
    plan,
    run_sweep,
)
from neuroplast.experiments import store as store_module
from neuroplast.experiments.executors import open_executor
from neuroplast.experiments.registry import EXTRA_ENV_VAR, all_experiments
from neuroplast.experiments.store import CorruptRecordWarning
from neuroplast.experiments.worker import run_one
from neuroplast.train import PROTOCOLS

TESTS_DIR = Path(__file__).resolve().parent




def subprocess_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    return os.environ | {"PYTHONPATH": path, EXTRA_ENV_VAR: EXTRAS} | extra


PROVENANCE = {"protocol": PROTOCOLS["quick"].as_dict(), "wall_s": 0.0, "neuroplast": "0",
              "torch": "0", "python": "3", "platform": "test"}
"""The provenance every stored record holds (what report headers read)."""


def record(spec: RunSpec, result: dict) -> dict:
    return {"run_id": spec.run_id, "spec": spec.to_dict(), "result": result,
            "provenance": PROVENANCE}


# --------------------------------------------------------------------------------------------
# Run ids
# --------------------------------------------------------------------------------------------


def test_run_id_is_sha256_of_the_documented_canonical_json():
    spec = RunSpec("toy-sweep", {"b": (1, 2), "a": 0.1, "c": {"y": None, "x": True}}, 3, "quick")
    canonical = ('{"config":{"a":0.1,"b":[1,2],"c":{"x":true,"y":null}},'
                 '"experiment":"toy-sweep","protocol":"quick","seed":3}')
    assert spec.run_id == "toy-sweep-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert list(spec.config) == ["a", "b", "c"] and spec.config["b"] == [1, 2]


def test_run_id_ignores_key_order_and_changes_with_every_field():
    base = RunSpec("toy-sweep", {"a": 1, "b": 2.5}, 0, "fast")
    assert RunSpec("toy-sweep", {"b": 2.5, "a": 1}, 0, "fast").run_id == base.run_id
    assert RunSpec("toy-sweep", {"b": 2.5, "a": 1}, 0, "fast") == base
    variants = [RunSpec("toy-other", {"a": 1, "b": 2.5}, 0, "fast"),
                RunSpec("toy-sweep", {"a": 1, "b": 2.6}, 0, "fast"),
                RunSpec("toy-sweep", {"a": 1, "b": 2.5}, 1, "fast"),
                RunSpec("toy-sweep", {"a": 1, "b": 2.5}, 0, "quick")]
    ids = {v.run_id for v in variants} | {base.run_id}
    assert len(ids) == 5


def test_run_id_is_the_same_in_another_process_with_another_hash_seed():
    spec = RunSpec("toy-sweep", {"z": [3, 1], "a": "x", "m": 0.30000000000000004}, 7, "paper")
    code = ("from neuroplast.experiments import RunSpec; print(RunSpec('toy-sweep', "
            "{'m': 0.30000000000000004, 'a': 'x', 'z': [3, 1]}, 7, 'paper').run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=os.environ | {"PYTHONHASHSEED": "12345"}, check=True)
    assert out.stdout.strip() == spec.run_id


def test_runspec_round_trips_and_pickles():
    spec = RunSpec("toy-sweep", {"k": [1, {"u": 2}]}, 5, "quick")
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert pickle.loads(pickle.dumps(spec)).run_id == spec.run_id
    assert len({spec, RunSpec("toy-sweep", {"k": [1, {"u": 2}]}, 5, "quick")}) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"x": {1, 2}}}, "plain JSON"),
    ({"config": {"x": float("nan")}}, "plain JSON"),
    ({"config": {1: "a"}}, "keys must be strings"),
    ({"config": [1]}, "must be a dict"),
    ({"seed": -1}, "non-negative integer"),
    ({"seed": True}, "non-negative integer"),
    ({"seed": 1.0}, "non-negative integer"),
    ({"experiment": "Bad Name"}, "experiment name"),
    ({"experiment": "../x"}, "experiment name"),
])
def test_runspec_rejects_bad_values_with_a_message(kwargs, message):
    args = {"experiment": "toy-sweep", "config": {}, "seed": 0, "protocol": "quick"} | kwargs
    with pytest.raises(NeuroplastError, match=message):
        RunSpec(**args)


def test_expand_is_configs_times_seeds_in_order():
    specs = expand("toy-sweep", [{"a": 1}, {"a": 2}], 3, "quick")
    assert [(s.config["a"], s.seed) for s in specs] == [(1, 0), (1, 1), (1, 2),
                                                        (2, 0), (2, 1), (2, 2)]
    assert [s.seed for s in expand("toy-sweep", [{}], [4, 9], "quick")] == [4, 9]
    assert len({s.run_id for s in specs}) == 6


@pytest.mark.parametrize("configs, seeds, message", [
    ([{"a": 1}, {"a": 1}], 2, "duplicate run"),
    ([{}], [3, 3], "duplicate run"),
    ([], 2, "no configurations"),
    ([{}], 0, "at least 1"),
])
def test_expand_rejects_empty_and_duplicate_sweeps(configs, seeds, message):
    with pytest.raises(NeuroplastError, match=message):
        expand("toy-sweep", configs, seeds, "quick")


# --------------------------------------------------------------------------------------------
# The store: atomic writes, temporary and corrupt files
# --------------------------------------------------------------------------------------------


def test_store_round_trips_a_record(tmp_path):
    store = ResultStore(tmp_path / "toy-sweep")
    spec = RunSpec("toy-sweep", {"scale": 1.0}, 0, "quick")
    path = store.write(record(spec, {"value": 0.125, "list": [1, 2]}))
    assert path == tmp_path / "toy-sweep" / "runs" / f"{spec.run_id}.json"
    loaded = store.load(spec.run_id)
    assert loaded["result"] == {"value": 0.125, "list": [1, 2]}
    assert loaded["spec"] == spec.to_dict()
    assert store.done_ids() == {spec.run_id}
    assert [r["run_id"] for r in store.load_all("toy-sweep")] == [spec.run_id]
    assert store.load_all("other") == []
    with pytest.raises(KeyError):
        store.load("toy-sweep-0000000000000000")


def test_store_refuses_a_record_whose_id_does_not_match_its_spec(tmp_path):
    store = ResultStore(tmp_path)
    spec = RunSpec("toy-sweep", {}, 0, "quick")
    bad = record(spec, {}) | {"run_id": "toy-sweep-0123456789abcdef"}
    with pytest.raises(ValueError, match="run id mismatch"):
        store.write(bad)
    assert list(store.runs_dir.iterdir()) == []


def test_a_write_that_dies_before_the_rename_leaves_no_result_and_keeps_the_old_one(
        tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    spec = RunSpec("toy-sweep", {}, 0, "quick")
    store.write(record(spec, {"value": 1.0}))
    before = store.path(spec.run_id).read_bytes()
    other = RunSpec("toy-sweep", {}, 1, "quick")

    def crash(src, dst):
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(store_module.os, "replace", crash)
    for target in (spec, other):
        with pytest.raises(OSError, match="simulated crash"):
            store.write(record(target, {"value": 2.0}))
    monkeypatch.undo()
    assert store.path(spec.run_id).read_bytes() == before  # old record intact
    assert not store.path(other.run_id).exists()
    assert [p.name for p in store.runs_dir.iterdir()] == [f"{spec.run_id}.json"]  # no temp left
    assert store.done_ids() == {spec.run_id}


def test_stray_temporary_files_are_never_read_back(tmp_path):
    store = ResultStore(tmp_path)
    spec = RunSpec("toy-sweep", {}, 0, "quick")
    # What a `kill -9` between write and rename leaves behind: a complete-looking temp file.
    text = json.dumps(record(spec, {"value": 1.0}))
    (store.runs_dir / f".{spec.run_id}.json.k2j3h4.tmp").write_text(text)
    (store.runs_dir / f".{spec.run_id}.json.aaaaaa.tmp").write_text(text[:20])
    assert store.done_ids() == set()
    with pytest.raises(KeyError):
        store.load(spec.run_id)
    assert not store.corrupt_dir.exists()


@pytest.mark.parametrize("content", [
    '{"run_id": "x", "spec": {',  # truncated
    "",  # empty
    "[1, 2]",  # not an object
    '{"run_id": "RUN", "spec": SPEC}',  # no result or provenance
    "\udcff",  # not UTF-8 (written as surrogateescape bytes)
])
def test_corrupt_records_are_moved_aside_with_a_warning(tmp_path, content):
    store = ResultStore(tmp_path)
    good, bad = RunSpec("toy-sweep", {}, 0, "quick"), RunSpec("toy-sweep", {}, 1, "quick")
    store.write(record(good, {"value": 1.0}))
    content = content.replace("RUN", bad.run_id).replace("SPEC", json.dumps(bad.to_dict()))
    store.path(bad.run_id).write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.warns(CorruptRecordWarning, match="will be redone"):
        assert store.done_ids() == {good.run_id}
    assert not store.path(bad.run_id).exists()
    assert (store.corrupt_dir / f"{bad.run_id}.json").read_bytes() == content.encode(
        "utf-8", "surrogateescape")
    assert store.done_ids() == {good.run_id}  # no second warning: the file is gone


def test_a_record_under_the_wrong_file_name_is_corrupt(tmp_path):
    store = ResultStore(tmp_path)
    a, b = RunSpec("toy-sweep", {}, 0, "quick"), RunSpec("toy-sweep", {}, 1, "quick")
    store.path(b.run_id).write_text(json.dumps(record(a, {"value": 1.0})))
    with pytest.warns(CorruptRecordWarning):
        with pytest.raises(KeyError):
            store.load(b.run_id)


# --------------------------------------------------------------------------------------------
# run_sweep in one process
# --------------------------------------------------------------------------------------------


def test_run_sweep_runs_everything_once_and_resumes_without_recomputing(extras, tmp_path):
    out = tmp_path / "out"
    records = run_sweep("toy-sweep", protocol="quick", seeds=3, out_dir=out, progress=False)
    specs = plan("toy-sweep", protocol="quick", seeds=3)
    assert [r["run_id"] for r in records] == [s.run_id for s in specs]
    for r, s in zip(records, specs, strict=True):
        assert r["result"]["value"] == sweep_fixtures.toy_value(s.seed, s.config["scale"])
        prov = r["provenance"]
        assert prov["protocol"] == PROTOCOLS["quick"].as_dict()
        assert prov["torch_threads"] == 1
        assert {"neuroplast", "torch", "python", "platform", "started", "finished",
                "wall_s", "cpu_s"} <= set(prov)
        assert isinstance(prov["cpu_s"], float) and prov["cpu_s"] >= 0.0
    assert executions(extras) == Counter({s.run_id: 1 for s in specs})
    files = {p: p.read_bytes() for p in (out / "toy-sweep" / "runs").glob("*.json")}
    assert len(files) == 6

    again = run_sweep("toy-sweep", protocol="quick", seeds=3, out_dir=out, progress=False)
    assert again == records
    assert executions(extras) == Counter({s.run_id: 1 for s in specs})  # nothing recomputed
    assert {p: p.read_bytes() for p in files} == files

    more = run_sweep("toy-sweep", protocol="quick", seeds=4, out_dir=out, progress=False)
    assert more[:3] == records[:3] and more[4:7] == records[3:]
    assert sum(executions(extras).values()) == 8  # only the two runs of seed 3 were added


def test_the_report_header_sums_cpu_time_only_when_every_run_records_it(extras):
    """Runs made since 2026-12-06 record their CPU time beside their wall time; the header
    adds the CPU sum only when no run lacks it (a partial sum would understate the work)."""
    from neuroplast.experiments.report import header

    specs = plan("toy-sweep", protocol="quick", seeds=2)
    runs = [record(spec, {"value": 0.0}) for spec in specs]
    for run, (wall, cpu) in zip(runs, [(4.0, 1.25), (6.0, 2.5), (1.0, 0.5), (2.0, 0.75)],
                                strict=True):
        run["provenance"] = PROVENANCE | {"wall_s": wall, "cpu_s": cpu}
    toy = get_experiment("toy-sweep")
    assert "* compute: 13.0 s in all runs together (5.0 s of CPU)" in header(toy, runs)
    runs[2]["provenance"] = PROVENANCE | {"wall_s": 1.0}  # stored before cpu_s existed
    text = header(toy, runs)
    assert "* compute: 13.0 s in all runs together\n" in text + "\n" and "of CPU" not in text


def test_a_corrupt_record_is_redone_and_the_others_are_not(extras, tmp_path):
    out = tmp_path / "out"
    records = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=out, progress=False)
    victim = records[1]["run_id"]
    path = out / "toy-sweep" / "runs" / f"{victim}.json"
    path.write_text(path.read_text()[: len(path.read_text()) // 2])  # truncated
    with pytest.warns(CorruptRecordWarning):
        again = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=out, progress=False)
    assert [r["result"]["value"] for r in again] == [r["result"]["value"] for r in records]
    counts = executions(extras)
    assert counts[victim] == 2
    assert all(n == 1 for run_id, n in counts.items() if run_id != victim)


def test_a_failing_run_does_not_lose_the_others(extras, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RunFailedError, match="2 of 4 runs failed.*run the same command again"):
        run_sweep("toy-failing", protocol="quick", seeds=4, out_dir=out, progress=False)
    store = ResultStore(out / "toy-failing")
    assert sorted(r["result"]["value"] for r in store.load_all()) == [0.0, 2.0]
    logs = sorted((out / "toy-failing" / "failed").glob("*.txt"))
    assert len(logs) == 2
    assert "RuntimeError: toy failure for seed" in logs[0].read_text()


def test_progress_without_tqdm_prints_runs_done_and_time_left(extras, tmp_path, capsys,
                                                              monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):  # the fallback when tqdm is not installed
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    run_sweep("toy-sweep", protocol="quick", seeds=1, out_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "toy-sweep: 0/2 runs done" in err
    assert "toy-sweep: 2/2 runs done, about 0 s left" in err


def test_progress_bar_counts_stored_runs_as_done(extras, tmp_path, capsys):
    pytest.importorskip("tqdm")
    run_sweep("toy-sweep", protocol="quick", seeds=1, out_dir=tmp_path, progress=True)
    capsys.readouterr()
    run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "toy-sweep:  50%" in err and "2/4" in err and "4/4" in err
    run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_worker_refuses_results_that_are_not_plain_json(monkeypatch):
    spec = RunSpec("toy-sweep", {"scale": 1.0}, 0, "quick")
    bad = dataclasses.replace(sweep_fixtures.TOY, run=_returns_a_tensor)
    monkeypatch.setattr("neuroplast.experiments.worker.get_experiment", lambda name: bad)
    with pytest.raises(TypeError, match="not plain JSON"):
        run_one(spec)


def _returns_a_tensor(spec, data_dir):
    import torch

    return {"value": torch.tensor(1.0)}


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


def test_process_pool_gives_the_same_numbers_as_in_process(extras, tmp_path):
    serial = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path / "a",
                       progress=False)
    pooled = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path / "b",
                       workers=2, progress=False)
    assert [r["result"]["value"] for r in pooled] == [r["result"]["value"] for r in serial]
    assert {r["result"]["pid"] for r in serial} == {os.getpid()}
    assert os.getpid() not in {r["result"]["pid"] for r in pooled}


def test_ray_without_ray_installed_fails_with_a_clear_message(monkeypatch, capsys, extras,
                                                             tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(NeuroplastError, match=r"install it with pip install 'neuroplast\[ray\]'"):
        with open_executor("ray", 2):
            pass
    code = main(["reproduce", "toy-sweep", "--executor", "ray", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "neuroplast[ray]" in err and len(err.strip().splitlines()) == 1
    assert sum(executions(extras).values()) == 0


@pytest.mark.parametrize("name, workers, address, message", [
    ("dask", 1, None, "unknown executor 'dask'"),
    ("local", 0, None, "--workers must be a positive integer"),
    ("local", 1, "ray://host:10001", "--address is for --executor ray"),
])
def test_open_executor_rejects_bad_arguments(name, workers, address, message):
    with pytest.raises(NeuroplastError, match=message):
        open_executor(name, workers, address)


# --------------------------------------------------------------------------------------------
# kill -9 in the middle of a sweep, then resume (the command line, in a subprocess)
# --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_kill_minus_nine_then_rerun_finishes_only_what_is_missing(tmp_path, workers):
    out, log = tmp_path / "out", tmp_path / "executions.log"
    runs = out / "toy-sweep" / "runs"
    command = [sys.executable, "-m", "neuroplast.cli.main", "reproduce", "toy-sweep",
               "--protocol", "quick", "--seeds", "6", "--out", str(out), "--no-progress",
               "--workers", str(workers)]
    env = subprocess_env(NEUROPLAST_TOY_LOG=str(log), NEUROPLAST_TOY_SLEEP="0.3")
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(runs.glob("*.json"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the sweep did not start"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in runs.glob("*.json")}
    assert 3 <= len(before) < 12, "the kill must land mid-sweep"
    for _, content in before.values():
        json.loads(content)  # every file present at the kill is complete
    workers_pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    workers_pids.discard(process.pid)
    assert len(workers_pids) <= (0 if workers == 1 else workers)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers_pids):  # pool workers exit with the driver
        assert time.monotonic() < deadline, "pool workers outlived the killed driver"
        time.sleep(0.05)

    done = subprocess.run(command, env=env | {"NEUROPLAST_TOY_SLEEP": "0"}, timeout=180,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in runs.glob("*.json")}
    assert len(after) == 12
    assert {name: after[name] for name in before} == before  # untouched: not rewritten
    counts = executions(log)
    assert set(counts) == {name.removesuffix(".json") for name in after}
    assert all(counts[name.removesuffix(".json")] == 1 for name in before)  # not recomputed
    # Lost at the kill: runs started but not yet stored. The driver stores what workers return,
    # so besides the run each worker computes, a finished result may be waiting for the
    # driver (its worker already on the next run): at most 2 per worker, each redone once.
    in_flight = [run_id for run_id, n in counts.items() if n > 1]
    assert len(in_flight) <= (1 if workers == 1 else 2 * workers)
    assert all(counts[r] == 2 for r in in_flight)
    assert (out / "toy-sweep" / "summary.md").is_file() and (out / "index.md").is_file()


# --------------------------------------------------------------------------------------------
# Registry and command line
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPERIMENTS))
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_every_registered_experiment_is_well_formed(name, protocol):
    experiment = EXPERIMENTS[name]
    assert experiment.name == name and experiment.default_seeds >= 1
    assert experiment.section and experiment.figures and experiment.description
    # Functions must be importable top-level functions, so definitions pickle for workers.
    assert pickle.loads(pickle.dumps(experiment)) == experiment
    specs = plan(name, protocol=protocol, seeds=2)
    assert len(specs) == 2 * len(experiment.configs(PROTOCOLS[protocol]))
    assert all(s.experiment == name for s in specs)


def test_extra_experiments_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(EXTRA_ENV_VAR, EXTRAS)
    assert get_experiment("toy-sweep") is sweep_fixtures.TOY
    assert list(all_experiments())[: len(EXPERIMENTS)] == list(EXPERIMENTS)


@pytest.mark.parametrize("value, message", [
    ("sweep_fixtures", "module:attribute"),
    ("no_such_module_xyz:EXTRAS", "cannot import"),
    ("sweep_fixtures:toy_value", "must be an Experiment"),
])
def test_bad_extra_experiment_entries_say_what_to_do(monkeypatch, value, message):
    monkeypatch.setenv(EXTRA_ENV_VAR, value)
    with pytest.raises(NeuroplastError, match=message):
        get_experiment("toy-sweep")


def test_an_extra_experiment_may_not_shadow_a_built_in(monkeypatch):
    clash = dataclasses.replace(sweep_fixtures.TOY, name="baseline-training")
    monkeypatch.setattr(sweep_fixtures, "CLASH", clash, raising=False)
    monkeypatch.setenv(EXTRA_ENV_VAR, "sweep_fixtures:CLASH")
    with pytest.raises(NeuroplastError, match="redefines built-in"):
        all_experiments()


def test_cli_list_names_every_experiment_with_section_and_figures(capsys, extras):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for experiment in EXPERIMENTS.values():
        assert experiment.name in out and experiment.section in out
        assert experiment.figures[0] in out
    assert "toy-sweep (extra)" in out


@pytest.mark.parametrize(("extra", "named"), [
    (["cutoff-pruning"], "an experiment name"), (["--out", "x"], "--out"),
    (["all", "--out", "x"], "an experiment name and --out"),
    (["--seeds", "3", "--report-only"], "--seeds and --report-only")])
def test_cli_list_with_what_it_ignores_is_refused(extra, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--list", *extra]) != 0
    err = capsys.readouterr().err
    assert f"--list lists every experiment and runs nothing; drop {named}," in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, message", [
    (["reproduce"], "name an experiment or `all`"),
    (["reproduce", "toy-sweep"], "give --out DIR"),
    (["reproduce", "no-such-experiment", "--out", "x"], "unknown experiment 'no-such-experiment'"),
    (["reproduce", "toy-sweep", "--out", "x", "--address", "a:1"], "--address is for"),
])
def test_cli_user_errors_are_one_line_with_exit_code_2(capsys, extras, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_runs_a_sweep_writes_reports_and_the_index(capsys, extras, tmp_path):
    out = tmp_path / "out"
    argv = ["reproduce", "toy-sweep", "--protocol", "quick", "--seeds", "2", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    summary = (out / "toy-sweep" / "summary.md").read_text()
    assert "protocol **quick**" in summary and "4 runs, 2 seeds (0–1)" in summary
    index = (out / "index.md").read_text()
    assert "[toy-sweep](toy-sweep/summary.md)" in index
    assert main(argv) == 0
    assert sum(executions(extras).values()) == 4  # the second command recomputed nothing


def test_cli_reports_failed_runs_and_exits_1(capsys, extras, tmp_path):
    argv = ["reproduce", "toy-failing", "--protocol", "quick", "--seeds", "2", "--out",
            str(tmp_path), "--no-progress"]
    assert main(argv) == 1
    assert "1 of 2 runs failed" in capsys.readouterr().err
    assert not (tmp_path / "toy-failing" / "summary.md").exists()
