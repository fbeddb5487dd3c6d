"""benchmarks.peaked_sets: replication-shift with independent peaked sets, beside the stored
shared-sets runs."""

from __future__ import annotations

from pathlib import Path

from benchmarks.peaked_sets import (
    independent_sets_experiment,
    nearer_counts,
    shared_sets_records,
)
from benchmarks.report_cells import Cell
from neuroplast.experiments import EXPERIMENTS
from neuroplast.experiments.options import with_options
from neuroplast.experiments.runner import plan

REPRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
OPTIONS = {"invert": False, "init": "kaiming-normal", "l2": "half-weights"}


def test_independent_runs_are_their_own_and_the_shared_ones_are_found():
    independent = plan(independent_sets_experiment(OPTIONS), protocol="fast", seeds=3)
    shared = plan(with_options(EXPERIMENTS["replication-shift"], **OPTIONS), protocol="fast",
                  seeds=3)
    assert all(s.config["peaked_sets"] == "independent" for s in independent)
    assert [s.config | {"peaked_sets": "independent"} for s in shared] == [
        s.config for s in independent]
    assert not {s.run_id for s in independent} & {s.run_id for s in shared}
    records = shared_sets_records(REPRODUCTION, OPTIONS, "fast", 10)  # the reproduction's
    assert [r["spec"]["seed"] for r in records] == list(range(10))
    assert shared_sets_records(REPRODUCTION, OPTIONS | {"init": "lecun-normal"}, "fast",
                               10) == []


def test_nearer_counts_compare_values_over_shared_cells():
    first = [Cell("e", "a", 0.1, 1.0), Cell("e", "b", -0.5, 0.1), Cell("e", "c", 1.0, 1.0)]
    second = [Cell("e", "a", -0.3, 0.01), Cell("e", "b", 0.2, 5.0)]  # no "c"
    assert nearer_counts(first, second)[:2] == (1, 1)
