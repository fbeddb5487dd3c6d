"""The Ray executor on a local Ray instance gives the same numbers as the local executor.

Skipped when Ray is not installed (``pip install 'neuroplast[ray]'``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuroplast.experiments import run_sweep
from neuroplast.experiments.registry import EXTRA_ENV_VAR

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'neuroplast[ray]')")

TESTS_DIR = Path(__file__).resolve().parent


def test_ray_sweep_matches_the_local_executor(tmp_path, monkeypatch):
    # Ray workers are separate processes: they find the test experiment through the
    # environment, which the local Ray instance started below inherits.
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv(EXTRA_ENV_VAR, "sweep_fixtures:EXTRAS")
    monkeypatch.setenv("NEUROPLAST_TOY_LOG", str(tmp_path / "executions.log"))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")

    local = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path / "local",
                      progress=False)
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep("toy-sweep", protocol="quick", seeds=2, out_dir=tmp_path / "ray",
                           executor="ray", workers=2, progress=False)
    finally:
        ray.shutdown()

    assert [r["run_id"] for r in remote] == [r["run_id"] for r in local]
    assert [r["result"]["value"] for r in remote] == [r["result"]["value"] for r in local]
    assert {r["result"]["pid"] for r in remote}.isdisjoint({os.getpid()})  # ran in workers
    stored = sorted(p.name for p in (tmp_path / "ray" / "toy-sweep" / "runs").glob("*.json"))
    assert stored == sorted(f"{r['run_id']}.json" for r in local)


def test_ray_executor_starts_and_stops_its_own_local_instance(tmp_path, monkeypatch):
    path = os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv(EXTRA_ENV_VAR, "sweep_fixtures:EXTRAS")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    records = run_sweep("toy-sweep", protocol="quick", seeds=1, out_dir=tmp_path,
                        executor="ray", workers=2, progress=False)
    assert len(records) == 2
    assert not ray.is_initialized()  # shut down by the executor that started it
