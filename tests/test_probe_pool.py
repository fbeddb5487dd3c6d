"""benchmarks.probe_pool: a probe's jobs, in this process or in spawned workers, come back in
the jobs' order; with a store, finished results are kept and not recomputed; bad arguments
and failing jobs raise."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.probe_pool import discard_store, job_file, run_jobs, stored_result


def _wait_for(path: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def _marked(job: tuple[int, str | None, str | None]) -> int:
    """Job ``(number, wait_for, then_create)``: waits for one file (then 1 s more, so the job
    that created it is surely reported finished first, not in the same ``wait``), creates
    another, returns its number."""
    number, wait_for, then_create = job
    if wait_for is not None:
        _wait_for(Path(wait_for))
        time.sleep(1.0)
    if then_create is not None:
        Path(then_create).touch()
    return number


def test_results_come_back_in_the_jobs_order_in_this_process(capsys):
    jobs = [(2, None, None), (0, None, None), (1, None, None)]
    assert run_jobs(_marked, jobs, workers=1, names=["a", "b", "c"], tag="t") == [2, 0, 1]
    assert capsys.readouterr().err.splitlines() == ["[t] a done", "[t] b done", "[t] c done"]


@pytest.mark.parametrize("workers", [2, 5])
def test_results_come_back_in_the_jobs_order_not_the_finishing_order(workers, tmp_path,
                                                                     capsys):
    """Job a finishes only after job b has: the results are still in the jobs' order."""
    b_done = str(tmp_path / "b-done")
    jobs = [(0, b_done, None), (1, None, b_done), (2, None, None)]
    assert run_jobs(_marked, jobs, workers=workers, names=["a", "b", "c"], tag="t") == [0, 1, 2]
    announced = capsys.readouterr().err.splitlines()
    assert sorted(announced) == ["[t] a done", "[t] b done", "[t] c done"]
    assert announced.index("[t] b done") < announced.index("[t] a done")


def _timed(job: tuple[int, str]) -> int:
    """Writes its start and end times to ``<folder>/<number>``, 0.5 s apart."""
    number, folder = job
    start = time.time()
    time.sleep(0.5)
    (Path(folder) / str(number)).write_text(json.dumps([start, time.time()]))
    return number


def test_no_more_jobs_start_than_there_are_workers(tmp_path):
    """Three jobs on two workers: the third starts only after one of the first two ended."""
    run_jobs(_timed, [(n, str(tmp_path)) for n in range(3)], workers=2, names=["0", "1", "2"],
             tag="t")
    spans = sorted(json.loads((tmp_path / str(n)).read_text()) for n in range(3))
    assert spans[2][0] >= min(spans[0][1], spans[1][1])


def _fails_or_waits(job: tuple[str, str]) -> str:
    """``("fail", folder)`` marks ``failed`` and raises; ``("wait", folder)`` waits for that
    mark, then 1 s more; ``("third", folder)`` marks ``third``."""
    kind, folder = job
    if kind == "fail":
        (Path(folder) / "failed").touch()
        raise RuntimeError("failed on purpose")
    if kind == "wait":
        _wait_for(Path(folder) / "failed")
        time.sleep(1.0)
    else:
        (Path(folder) / "third").touch()
    return kind


def test_after_a_failure_running_jobs_finish_and_no_other_starts(tmp_path):
    store = tmp_path / "store"
    jobs = [_Keyed(("wait", str(tmp_path))), _Keyed(("fail", str(tmp_path))),
            _Keyed(("third", str(tmp_path)))]
    with pytest.raises(RuntimeError, match="failed on purpose"):
        run_jobs(_run_keyed_fails_or_waits, jobs, workers=2, names=["w", "f", "t"], tag="t",
                 store=store)
    assert stored_result(store, jobs[0]) == "wait"  # running: finished and stored
    assert not (tmp_path / "third").exists()  # queued: never started


@dataclass(frozen=True)
class _Keyed:
    payload: tuple[str, str]

    def key(self) -> dict[str, Any]:
        return {"payload": list(self.payload)}


def _run_keyed_fails_or_waits(job: _Keyed) -> str:
    return _fails_or_waits(job.payload)


@pytest.mark.parametrize(("workers", "names", "message"), [
    (0, ["a"], "workers must be at least 1, got 0"),
    (1, ["a", "b"], "2 names for 1 jobs"),
])
def test_bad_arguments_are_refused_before_any_job(workers, names, message, capsys):
    with pytest.raises(ValueError, match=message):
        run_jobs(math.factorial, [3], workers=workers, names=names, tag="t")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_its_own_error(workers):
    with pytest.raises(ValueError, match="factorial"):
        run_jobs(math.factorial, [3, -1], workers=workers, names=["ok", "bad"], tag="t")


def test_in_process_jobs_run_on_one_torch_thread_and_restore_the_count():
    import torch

    from neuroplast.train.threads import torch_threads

    with torch_threads(2):
        seen = run_jobs(lambda _: torch.get_num_threads(), [0], workers=1, names=["x"],
                        tag="t")
        assert torch.get_num_threads() == 2
    assert seen == [1]


def test_spawned_workers_train_on_one_torch_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a spawned worker's torch would start at 2
    assert run_jobs(_thread_count, [0, 1], workers=2, names=["x", "y"], tag="t") == [1, 1]


def _thread_count(_: int) -> int:
    import torch

    return torch.get_num_threads()


@dataclass(frozen=True)
class _Square:
    """A keyed job: its key names the number (and a tag, to tell otherwise equal keys)."""

    number: int
    tag: str = "a"

    def key(self) -> dict[str, Any]:
        return {"number": self.number, "tag": self.tag}


def _square(job: _Square) -> int:
    return job.number ** 2


def _square_if_not_two(job: _Square) -> int:
    if job.number == 2:
        raise RuntimeError("stopped at 2")
    return job.number ** 2


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stopped_run_keeps_its_finished_results_and_reruns_only_the_rest(workers, tmp_path,
                                                                           capsys):
    """The first attempt fails on job 2: job 1 (finished) is stored, 2 is not, and in this
    process 3 never starts; the second attempt announces 1 as stored and computes 2 (and 3
    unless a worker had finished it before the failure stopped the pool)."""
    jobs = [_Square(1), _Square(2), _Square(3)]
    with pytest.raises(RuntimeError, match="stopped at 2"):
        run_jobs(_square_if_not_two, jobs, workers=workers, names=["1", "2", "3"], tag="t",
                 store=tmp_path)
    assert stored_result(tmp_path, jobs[0]) == 1 and stored_result(tmp_path, jobs[1]) is None
    capsys.readouterr()
    results = run_jobs(_square, jobs, workers=workers, names=["1", "2", "3"], tag="t",
                       store=tmp_path)
    assert results == [1, 4, 9]
    announced = capsys.readouterr().err.splitlines()
    if workers == 1:
        assert announced == ["[t] 1 stored", "[t] 2 done", "[t] 3 done"]
    assert "[t] 1 stored" in announced and "[t] 2 done" in announced


def test_a_stored_result_counts_only_under_the_same_key(tmp_path):
    job = _Square(4)
    run_jobs(_square, [job], workers=1, names=["4"], tag="t", store=tmp_path)
    assert stored_result(tmp_path, job) == 16
    assert stored_result(tmp_path, _Square(4, tag="b")) is None
    path = job_file(tmp_path, job, "json")
    path.write_text(json.dumps({"key": {"number": 5, "tag": "a"}, "result": 16}))
    assert stored_result(tmp_path, job) is None  # the file names another job
    path.write_text("{not json")
    assert stored_result(tmp_path, job) is None  # unreadable: computed again
    assert run_jobs(_square, [job], workers=1, names=["4"], tag="t", store=tmp_path) == [16]
    assert json.loads(path.read_text()) == {"key": {"number": 4, "tag": "a"}, "result": 16}


def test_a_job_s_working_files_go_once_its_result_is_stored(tmp_path):
    job, other = _Square(6), _Square(7)
    working = job_file(tmp_path, job, "safetensors")
    kept = job_file(tmp_path, other, "safetensors")
    tmp_path.mkdir(exist_ok=True)
    working.write_text("state")
    kept.write_text("state")
    run_jobs(_square, [job], workers=1, names=["6"], tag="t", store=tmp_path)
    assert not working.exists() and kept.exists()


def test_discarding_a_store_keeps_the_other_stores_beside_it(tmp_path):
    mine, theirs = tmp_path / "partial" / "mine", tmp_path / "partial" / "theirs"
    for store in (mine, theirs):
        run_jobs(_square, [_Square(2)], workers=1, names=["2"], tag="t", store=store)
    discard_store(mine)
    assert not mine.exists() and stored_result(theirs, _Square(2)) == 4
    discard_store(theirs)
    assert not (tmp_path / "partial").exists()
