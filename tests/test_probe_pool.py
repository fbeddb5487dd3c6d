"""benchmarks.probe_pool: a probe's jobs, in this process or in spawned workers, come back in
the jobs' order; bad arguments and failing jobs raise."""

from __future__ import annotations

import math

import pytest

from benchmarks.probe_pool import run_jobs


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_results_come_back_in_the_jobs_order(workers, capsys):
    jobs = [12, 0, 5, 3]
    assert run_jobs(math.factorial, jobs, workers=workers, names=["a", "b", "c", "d"],
                    tag="t") == [479001600, 1, 120, 6]
    announced = capsys.readouterr().err.splitlines()
    assert sorted(announced) == ["[t] a done", "[t] b done", "[t] c done", "[t] d done"]


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

    before = torch.get_num_threads()
    seen = run_jobs(lambda _: torch.get_num_threads(), [0], workers=1, names=["x"], tag="t")
    assert seen == [1] and torch.get_num_threads() == before


def test_spawned_workers_train_on_one_torch_thread():
    from neuroplast.train.threads import torch_threads

    with torch_threads(2):
        seen = run_jobs(_thread_count, [0, 1], workers=2, names=["x", "y"], tag="t")
    assert seen == [1, 1]


def _thread_count(_: int) -> int:
    import torch

    return torch.get_num_threads()
