"""Issue 15, the faults of ``neuroplast reproduce --out DIR`` (numbered as in the issue).

1. files neuroplast did not write are never overwritten; 2. stored records that parse but hold
a bad result are set aside and redone; 3. a folder records the fingerprint of its data and
refuses other data; 6. one sweep per folder (a lock naming the holder's PID); 7. a read-only
results folder is refused before any run; 13. the index counts what the summaries report, and
a resumed sweep reports exactly as a fresh one. Every test failed before its fix.

The experiments are the cheap test doubles of ``sweep_fixtures.py``; ``toy-data`` reads small
fake MNIST files written here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sweep_fixtures import EXTRAS_ENTRY as EXTRAS
from sweep_fixtures import executions

from neuroplast.cli.main import main
from neuroplast.data import IDX_FILE_NAMES, data_fingerprint, load_mnist, write_idx
from neuroplast.errors import NeuroplastError
from neuroplast.experiments import ResultStore, RunSpec
from neuroplast.experiments.folder import FOLDER_RECORD_NAME, FolderLock, ResultsFolder
from neuroplast.experiments.registry import EXTRA_ENV_VAR
from neuroplast.experiments.report import new_figure, save_figure
from neuroplast.experiments.schema import NUMBER, RECORD, SchemaError, validate
from neuroplast.experiments.store import CorruptRecordWarning

TESTS_DIR = Path(__file__).resolve().parent




def reproduce(capsys, out: Path, *extra: str, name: str = "toy-sweep",
              seeds: int = 2) -> tuple[int, str, str]:
    """``neuroplast reproduce NAME --protocol quick --seeds SEEDS --out OUT *extra``."""
    try:
        code = main(["reproduce", name, "--protocol", "quick", "--seeds", str(seeds), "--out",
                     str(out), "--no-progress", *extra])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(code: int, err: str, *patterns: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for pattern in patterns:
        assert re.search(pattern, lines[0]), (pattern, lines[0])
    return lines[0]


def fake_mnist(directory: Path, seed: int, gz: bool = True) -> Path:
    """Four small MNIST-format files (60 training, 20 test images) drawn with ``seed``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = (rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
              (np.arange(60) % 10).astype(np.uint8),
              rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 20, dtype=np.uint8))
    for name, array in zip(IDX_FILE_NAMES, arrays, strict=True):
        write_idx(directory / (name if gz else name.removesuffix(".gz")), array)
    return directory


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != ".neuroplast.lock"}


# ---------------------------------------------------------------------------------------------
# 1. No data loss: files neuroplast did not write are never overwritten


def test_an_index_the_user_wrote_is_never_replaced(extras, tmp_path, capsys):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "index.md").write_text("notes\n")
    code, _, err = reproduce(capsys, out)
    one_line(code, err, r"docs/index\.md exists and was not written by neuroplast",
             "move it out of the way, or choose another --out")
    assert (out / "index.md").read_text() == "notes\n"
    assert executions(extras) == Counter()  # refused before any run
    assert sorted(p.name for p in out.iterdir()) == ["index.md"]


def test_a_summary_the_user_wrote_is_never_replaced(extras, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "toy-sweep").mkdir(parents=True)
    (out / "toy-sweep" / "summary.md").write_text("# my notes\n")
    code, _, err = reproduce(capsys, out)
    one_line(code, err, r"toy-sweep/summary\.md exists and was not written by neuroplast")
    assert (out / "toy-sweep" / "summary.md").read_text() == "# my notes\n"
    assert executions(extras) == Counter()


def test_neuroplast_rewrites_its_own_index_and_those_of_earlier_versions(extras, tmp_path,
                                                                          capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.md").write_text("# neuroplast: reproduction of Grabovsky & Vanchurin (2023)\n"
                                  "\n_No reports yet._\n")  # as an earlier version wrote it
    assert reproduce(capsys, out)[0] == 0
    assert "[toy-sweep](toy-sweep/summary.md)" in (out / "index.md").read_text()
    assert reproduce(capsys, out)[0] == 0  # and again, now with neuroplast's mark


def test_a_figure_neuroplast_did_not_draw_is_never_replaced(tmp_path):
    pytest.importorskip("matplotlib")
    directory = tmp_path / "toy-sweep"
    directory.mkdir()
    (directory / "mine.png").write_bytes(b"\x89PNG\r\n\x1a\nmy own figure")
    with pytest.raises(NeuroplastError, match="mine.png exists and was not written by neuroplast"):
        save_figure(new_figure(), directory, "mine.png")
    assert (directory / "mine.png").read_bytes() == b"\x89PNG\r\n\x1a\nmy own figure"
    save_figure(new_figure(), directory, "ours.png")
    first = (directory / "ours.png").read_bytes()
    assert first.startswith(b"\x89PNG") and b"neuroplast" in first
    save_figure(new_figure(), directory, "ours.png")  # its own figure: replaced


def test_a_file_of_another_kind_under_a_linked_figure_s_name_is_the_user_s(tmp_path):
    """The rule for figures drawn before the Software tag (a PNG our summary links to) took a
    user's text file put under the linked name too (a hostile user's pass)."""
    from neuroplast.experiments.folder import MARK, check_figure_owned

    directory = tmp_path / "toy-sweep"
    directory.mkdir()
    (directory / "summary.md").write_text(f"{MARK}\n# toy-sweep: x\n![a](accuracy.png)\n")
    (directory / "accuracy.png").write_text("my notes, not a figure")
    with pytest.raises(NeuroplastError, match="accuracy.png exists and was not written"):
        check_figure_owned(directory / "accuracy.png")
    (directory / "accuracy.png").write_bytes(b"\x89PNG\r\n\x1a\nan old figure of ours")
    check_figure_owned(directory / "accuracy.png")  # a PNG it links to: its own, drawn earlier


# ---------------------------------------------------------------------------------------------
# 2. A stored record that parses but holds a bad result is set aside, named, and redone


@pytest.mark.parametrize("damage", [
    lambda r: r | {"result": {}},
    lambda r: r | {"result": r["result"] | {"value": "abc"}},
    lambda r: r | {"provenance": {"wall_s": 1.0}},
    lambda r: r | {"spec": r["spec"] | {"seed": "zero"}},
])
def test_a_record_with_a_bad_result_is_set_aside_named_and_redone(extras, tmp_path, capsys,
                                                                   damage):
    out = tmp_path / "out"
    assert reproduce(capsys, out)[0] == 0
    runs = out / "toy-sweep" / "runs"
    victim = sorted(runs.glob("*.json"))[1]
    victim.write_text(json.dumps(damage(json.loads(victim.read_text()))))
    damaged = victim.read_bytes()

    code, out_text, err = reproduce(capsys, out)
    assert code == 0, err
    assert "Traceback" not in err
    notes = [line for line in err.splitlines() if line]
    assert len(notes) == 1 and notes[0].startswith("neuroplast reproduce: note: "), err
    assert victim.name in notes[0] and "could not be read back" in notes[0]
    assert "the run will be redone" in notes[0]
    assert (runs / "corrupt" / victim.name).read_bytes() == damaged  # set aside, not lost
    assert json.loads(victim.read_text())["result"]["value"] != "abc"  # redone
    counts = executions(extras)
    assert counts[victim.stem] == 2 and sum(counts.values()) == 5
    assert "4 runs, 2 seeds" in (out / "toy-sweep" / "summary.md").read_text()


def test_the_schema_names_the_field_that_is_wrong():
    with pytest.raises(SchemaError, match=r"result\['rows'\]\[1\]\['cutoff'\] is 'abc', not a "
                                          r"number"):
        validate({"rows": [{"cutoff": 1}, {"cutoff": "abc"}]}, {"rows": [{"cutoff": NUMBER}]})
    with pytest.raises(SchemaError, match=r"result lacks 'rows'"):
        validate({}, {"rows": [{"cutoff": NUMBER}]})


def test_every_published_record_fits_its_experiments_schema():
    from neuroplast.experiments import EXPERIMENTS

    root = TESTS_DIR.parent / "docs" / "reproduction"
    checked = 0
    for name, experiment in EXPERIMENTS.items():
        paths = [path for folder in (root, root / "xavier-normal", root / "kaiming-normal")
                 for path in (folder / name / "runs").glob("*.json")]
        for path in sorted(paths):
            record = json.loads(path.read_text())
            validate(record, RECORD, path.name)
            validate(record["result"], experiment.result_schema, f"{path.name} result")
            checked += 1
    if checked == 0:
        pytest.skip("no published records in docs/reproduction")


def test_the_store_sets_aside_a_result_that_does_not_fit_its_schema(tmp_path):
    store = ResultStore(tmp_path / "toy", result_schema={"value": NUMBER})
    spec = RunSpec("toy-sweep", {}, 0, "quick")
    record = {"run_id": spec.run_id, "spec": spec.to_dict(), "result": {"value": 1.0},
              "provenance": {"protocol": {"protocol": "quick"}, "wall_s": 0.0, "neuroplast": "0",
                             "torch": "0", "python": "3", "platform": "t"}}
    store.write(record)
    with pytest.raises(SchemaError, match="not a number"):
        store.write(record | {"result": {"value": "abc"}})  # nothing stored that won't read back
    store.path(spec.run_id).write_text(json.dumps(record | {"result": {"value": None}}))
    with pytest.warns(CorruptRecordWarning, match=r"result\['value'\] is None, not a number"):
        assert store.done_ids() == set()


# ---------------------------------------------------------------------------------------------
# 3. A results folder records the fingerprint of its data and refuses other data


def test_data_fingerprint_follows_contents_not_paths(tmp_path):
    a = load_mnist(fake_mnist(tmp_path / "a", seed=0), download=False)
    a_raw = load_mnist(fake_mnist(tmp_path / "a-uncompressed", seed=0, gz=False), download=False)
    b = load_mnist(fake_mnist(tmp_path / "b", seed=1), download=False)
    assert data_fingerprint(a) == data_fingerprint(a_raw) != data_fingerprint(b)
    a.train.x[0, 0] += 1 / 255
    assert data_fingerprint(a) != data_fingerprint(a_raw)


def test_resuming_a_folder_with_other_data_is_refused(extras, tmp_path, capsys):
    out = tmp_path / "out"
    data_a, data_b = fake_mnist(tmp_path / "a", seed=0), fake_mnist(tmp_path / "b", seed=1)
    assert reproduce(capsys, out, "--data", str(data_a), name="toy-data")[0] == 0
    before = snapshot(out)
    code, _, err = reproduce(capsys, out, "--data", str(data_b), name="toy-data", seeds=3)
    one_line(code, err, "out holds runs computed from other data", str(data_a), str(data_b),
             "give the --data they came from, or choose another --out")
    assert snapshot(out) == before  # nothing computed, nothing written
    assert sum(executions(extras).values()) == 2

    moved = tmp_path / "elsewhere" / "same-data"  # the same data at another path: accepted
    shutil.copytree(data_a, moved)
    code, _, err = reproduce(capsys, out, "--data", str(moved), name="toy-data", seeds=3)
    assert code == 0, err
    assert sum(executions(extras).values()) == 3  # only seed 2 was new
    record = ResultsFolder(out).read()["data"]
    assert record["fingerprint"] == data_fingerprint(load_mnist(data_a, download=False))


def test_without_a_folder_record_the_runs_own_data_are_checked(extras, tmp_path, capsys):
    """A folder whose record is gone (an experiment folder copied alone): a sweep on other
    data is refused before anything is moved, as the runs name their data (a hostile user's
    pass: every stored run went to runs/corrupt/ and the folder took the other data)."""
    out = tmp_path / "out"
    data_a, data_b = fake_mnist(tmp_path / "a", seed=0), fake_mnist(tmp_path / "b", seed=1)
    assert reproduce(capsys, out, "--data", str(data_a), name="toy-data")[0] == 0
    (out / FOLDER_RECORD_NAME).unlink()
    before = snapshot(out)
    code, _, err = reproduce(capsys, out, "--data", str(data_b), name="toy-data", seeds=3)
    one_line(code, err, "out holds runs computed from other data", str(data_b),
             "give the --data they came from, or choose another --out")
    assert snapshot(out) == before
    assert not (out / "toy-data" / "runs" / "corrupt").exists()
    code, _, err = reproduce(capsys, out, "--data", str(data_a), name="toy-data", seeds=3)
    assert code == 0, err  # their own data: accepted, the record written again, said so
    assert "had no record of its data; its runs record these data" in err
    assert "an earlier neuroplast" not in err
    assert ResultsFolder(out).data_fingerprint == \
        data_fingerprint(load_mnist(data_a, download=False))


def test_a_record_of_other_data_copied_into_the_folder_is_set_aside(extras, tmp_path, capsys):
    out_a, out_b = tmp_path / "out-a", tmp_path / "out-b"
    data_a, data_b = fake_mnist(tmp_path / "a", seed=0), fake_mnist(tmp_path / "b", seed=1)
    assert reproduce(capsys, out_a, "--data", str(data_a), name="toy-data", seeds=1)[0] == 0
    assert reproduce(capsys, out_b, "--data", str(data_b), name="toy-data", seeds=2)[0] == 0
    stray = sorted((out_b / "toy-data" / "runs").glob("*.json"))[1]  # seed 1, data b
    shutil.copy(stray, out_a / "toy-data" / "runs" / stray.name)
    code, _, err = reproduce(capsys, out_a, "--data", str(data_a), name="toy-data", seeds=2)
    assert code == 0, err
    assert "computed from other data" in err and stray.name in err
    assert (out_a / "toy-data" / "runs" / "corrupt" / stray.name).is_file()


# ---------------------------------------------------------------------------------------------
# 6. One sweep per results folder


def subprocess_env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    return os.environ | {"PYTHONPATH": path, EXTRA_ENV_VAR: EXTRAS} | extra


def test_a_second_sweep_on_the_same_folder_is_refused_with_the_first_ones_pid(
        extras, tmp_path, capsys):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "neuroplast.cli.main", "reproduce", "toy-sweep",
               "--protocol", "quick", "--seeds", "4", "--out", str(out), "--no-progress"]
    first = subprocess.Popen(command, env=subprocess_env(NEUROPLAST_TOY_LOG=str(extras),
                                                         NEUROPLAST_TOY_SLEEP="0.4"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not executions(extras):  # the first sweep holds the lock once it runs
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline, "the first sweep did not start"
            time.sleep(0.02)
        code, _, err = reproduce(capsys, out, seeds=4)
        one_line(code, err, f"out is locked by another neuroplast process \\(PID {first.pid}\\)",
                 "wait for it to finish, or choose another --out")
    finally:
        _, first_err = first.communicate(timeout=180)
    assert first.returncode == 0, first_err
    counts = executions(extras)
    assert len(counts) == 8 and set(counts.values()) == {1}  # every run computed once
    assert reproduce(capsys, out, seeds=4)[0] == 0  # the lock ended with its process


def test_the_library_sweep_takes_the_lock_too(extras, tmp_path):
    from neuroplast.experiments import run_sweep
    from neuroplast.experiments.folder import FolderLockedError

    with FolderLock(tmp_path / "toy-sweep"):
        with pytest.raises(FolderLockedError, match=f"PID {os.getpid()}"):
            run_sweep("toy-sweep", protocol="quick", seeds=1, out_dir=tmp_path, progress=False)
    assert executions(extras) == Counter()


# ---------------------------------------------------------------------------------------------
# 7. A results folder that cannot store runs is refused before any run


def test_a_read_only_runs_folder_is_refused_before_computing(extras, tmp_path, capsys,
                                                              monkeypatch):
    out = tmp_path / "out"
    assert reproduce(capsys, out, seeds=1)[0] == 0
    runs = out / "toy-sweep" / "runs"
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):  # what a read-only runs/ gives, even to root
        if Path(os.fsdecode(path)).parent == runs and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    code, _, err = reproduce(capsys, out, seeds=2)
    one_line(code, err, f"cannot write run records into {runs}", "not writable")
    assert sum(executions(extras).values()) == 2  # the two runs of seed 0, none more


def test_an_absurd_seed_count_is_a_usage_error(extras, tmp_path, capsys):
    code, _, err = reproduce(capsys, tmp_path / "out", seeds=10**20)
    one_line(code, err, "--seeds: expected at most 10,000 seeds")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_chmod_read_only_runs_folder_is_refused_before_computing(extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out, seeds=1)[0] == 0
    runs = out / "toy-sweep" / "runs"
    runs.chmod(0o555)
    try:
        code, _, err = reproduce(capsys, out, seeds=2)
    finally:
        runs.chmod(0o755)
    one_line(code, err, "cannot write run records", "not writable")
    assert sum(executions(extras).values()) == 2


# ---------------------------------------------------------------------------------------------
# 13. The index counts what the summaries report; a resumed sweep reports as a fresh one


def test_the_index_counts_the_runs_its_summary_reports(extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out, seeds=3)[0] == 0
    assert reproduce(capsys, out, seeds=1)[0] == 0  # 6 runs stored, 2 reported
    assert "* 2 runs, 1 seeds (0)" in (out / "toy-sweep" / "summary.md").read_text()
    row = next(line for line in (out / "index.md").read_text().splitlines()
               if line.startswith("| [toy-sweep]"))
    assert row.split("|")[4].strip() == "2"
    assert "runs in summary" in (out / "index.md").read_text()


def test_a_resumed_sweep_writes_the_same_summary_as_a_fresh_one(extras, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce(capsys, out)[0] == 0
    fresh = (out / "toy-sweep" / "summary.md").read_text()
    assert reproduce(capsys, out)[0] == 0
    assert sum(executions(extras).values()) == 4  # the second sweep computed nothing
    assert (out / "toy-sweep" / "summary.md").read_text() == fresh
    assert re.search(r"protocol \*\*quick\*\*: learning_rate 0.1, epoch_scale 0.002, "
                     r"batch_size 600", fresh), fresh
