"""Test-only experiments for the sweep machinery, registered through
``NEUROPLAST_EXTRA_EXPERIMENTS=sweep_fixtures:EXTRAS`` (with this directory on PYTHONPATH).

``toy-sweep`` is cheap and deterministic. Each execution appends its run id to the file named
by ``$NEUROPLAST_TOY_LOG`` *before* computing (so a run killed in flight is logged too) and
sleeps ``$NEUROPLAST_TOY_SLEEP`` seconds, which lets a test kill a sweep mid-way.
``toy-failing`` raises for odd seeds. ``toy-data`` reads MNIST from its ``data_dir`` (tests
give it small fake IDX files) and logs like ``toy-sweep``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.registry import EXTRA_ENV_VAR
from neuroplast.experiments.report import header, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER
from neuroplast.experiments.stats_summary import summarize_field
from neuroplast.experiments.sweep import RunSpec
from neuroplast.train import Protocol


def toy_configs(protocol: Protocol) -> list[dict[str, Any]]:
    return [{"scale": 1.0}, {"scale": 2.5}]


def toy_value(seed: int, scale: float) -> float:
    """The toy's number: a seeded random matrix product through tanh, summed."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 32, generator=generator)  # (batch, in)
    w = torch.randn(32, 8, generator=generator)  # (in, out)
    return float((torch.tanh(x @ w) * scale).sum())


def _log_execution(spec: RunSpec) -> None:
    log = os.environ.get("NEUROPLAST_TOY_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{spec.run_id} {os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())
    time.sleep(float(os.environ.get("NEUROPLAST_TOY_SLEEP", "0")))


def toy_run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    _log_execution(spec)
    return {"value": toy_value(spec.seed, spec.config["scale"]), "pid": os.getpid()}


def data_configs(protocol: Protocol) -> list[dict[str, Any]]:
    return [{}]


def data_run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    _log_execution(spec)
    dataset = mnist(data_dir)
    return {"value": float(dataset.train.x.mean()) + spec.seed, "n_train": dataset.train.n}


def toy_report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    return write_summary(out_dir, [header(TOY, records),
                                   f"value: {summarize_field(records, 'value').format()}"])


def failing_configs(protocol: Protocol) -> list[dict[str, Any]]:
    return [{}]


def failing_run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    if spec.seed % 2:
        raise RuntimeError(f"toy failure for seed {spec.seed}")
    return {"value": float(spec.seed)}


TOY = Experiment(name="toy-sweep", section="test", figures=("none",),
                 description="cheap deterministic test experiment", configs=toy_configs,
                 run=toy_run, report=toy_report, default_seeds=3, needs_data=False,
                 result_schema={"value": NUMBER, "pid": INTEGER})
TOY_FAILING = Experiment(name="toy-failing", section="test", figures=("none",),
                         description="fails for odd seeds", configs=failing_configs,
                         run=failing_run, report=toy_report, default_seeds=4, needs_data=False)
TOY_DATA = Experiment(name="toy-data", section="test", figures=("none",),
                      description="reads MNIST from --data", configs=data_configs, run=data_run,
                      report=toy_report, default_seeds=2,
                      result_schema={"value": NUMBER, "n_train": INTEGER})
EXTRAS = (TOY, TOY_FAILING, TOY_DATA)


EXTRAS_ENTRY = "sweep_fixtures:EXTRAS"
"""How $NEUROPLAST_EXTRA_EXPERIMENTS names the toy experiments of this module."""


@pytest.fixture
def extras(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register the toy experiments; return the path of the execution log."""
    log = tmp_path / "executions.log"
    monkeypatch.setenv(EXTRA_ENV_VAR, EXTRAS_ENTRY)
    monkeypatch.setenv("NEUROPLAST_TOY_LOG", str(log))
    monkeypatch.setenv("NEUROPLAST_TOY_SLEEP", "0")
    return log


def executions(log: Path) -> Counter:
    """How many times each run id started executing."""
    if not log.exists():
        return Counter()
    return Counter(line.split()[0] for line in log.read_text().splitlines())
