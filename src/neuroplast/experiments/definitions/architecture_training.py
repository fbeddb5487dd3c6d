"""architecture-training: death and replication during training (§5.8) beyond the paper's MLP.

Does the paper's combined A1–B1 schedule help a CNN or a transformer as it helps N4? One run
is one (model family, training seed) and trains the family's model from scratch twice with the
family's own recipe (:attr:`~neuroplast.experiments.architectures.ArchitectureSpec.train`),
for the same number of optimiser steps, from the same initialisation and the same data order
(``torch.manual_seed(seed)`` before each arm; the families draw their batches from generators
seeded by ``seed``):

* ``plain``: the recipe as it is;
* ``death-replication``: every ⌊steps / 10⌋ steps (nine events, the last at least that many
  steps before the end, as the paper's 500 of 5000 epochs), on **every** site
  :func:`neuroplast.find_sites` offers (input features excluded), one
  :class:`~neuroplast.replication.schedule.DeathReplication` event: A1 removes the neurons
  whose efficiency E_k (eq. 28) is below ρ times the site's largest (at most half of the
  site), then B1 replicates as many of the most efficient survivors, so
  every site ends each event at its width. Statistics come from the family's calibration
  batches (training data); the optimiser's state follows the surgery.

Why a relative cutoff ρ rather than the paper's ε = 0.01: efficiencies carry the scale of the
consumer's weights and output variances, which differ between an MNIST MLP, a CNN's channels
and a transformer's FFN, so no single ε means "nearly useless" everywhere; ρ = 0.01 removes
what is below 1 % of the site's best neuron (decision 51 in docs/decisions.md).

Recorded per arm: the validation metric (the family's ``evaluate``), the training loss after
training (mean cross-entropy over the calibration batches, eval mode), the training-loss
curve, the events (per site: removed = replicated count) and the wall time. The report
(:mod:`~neuroplast.experiments.definitions.architecture_training_report`) gives the paired
differences death-replication − plain with their standard errors over seeds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.architectures import all_architectures, get_architecture
from neuroplast.experiments.experiment import Experiment
from neuroplast.experiments.schema import BOOLEAN, INTEGER, NUMBER, TEXT, map_of
from neuroplast.experiments.sweep import RunSpec
from neuroplast.replication.schedule import DeathReplication, DeathReplicationSchedule
from neuroplast.sites.discover import find_sites
from neuroplast.sites.resolve import first_batch
from neuroplast.stats.site import default_forward, model_device_dtype, to_model
from neuroplast.train import Protocol

ARMS = ("plain", "death-replication")
EVENTS = 9
"""Events per run: after every tenth of the steps, none at the end."""
RELATIVE_CUTOFF = 0.01
MAX_FRACTION = 0.5
QUICK_STEPS = 20


@dataclass(frozen=True)
class TrainingConfigs:
    """``configs(protocol)``: one configuration per family (picklable).

    Attributes:
        architectures: family names (None: every registered family that can train).
        steps: training steps (None: each family's ``training_steps``; at most
            :data:`QUICK_STEPS` under ``quick``).
        relative_cutoff: ρ of the death step.
        max_fraction: at most this share of a site dies per event.
    """

    architectures: tuple[str, ...] | None = None
    steps: int | None = None
    relative_cutoff: float = RELATIVE_CUTOFF
    max_fraction: float = MAX_FRACTION

    def __call__(self, protocol: Protocol) -> list[dict[str, Any]]:
        names = list(self.architectures) if self.architectures is not None else [
            name for name, spec in all_architectures().items() if spec.train is not None]
        if not names:
            raise NeuroplastError(
                "no registered architecture can be trained from scratch; name modules of "
                "ArchitectureSpecs with data and train in $NEUROPLAST_EXTRA_ARCHITECTURES")
        configs = []
        for name in names:
            spec = get_architecture(name)
            if spec.train is None:
                raise NeuroplastError(f"architecture {name!r} has no train function; "
                                      "architecture-training needs one")
            steps = spec.training_steps if self.steps is None else self.steps
            if protocol.name == "quick":
                steps = min(steps, QUICK_STEPS)
            if steps < EVENTS + 1:
                raise NeuroplastError(f"architecture {name!r}: {steps} training steps leave no "
                                      f"room for {EVENTS} events; give at least {EVENTS + 1}")
            # validate the schedule's settings before any training starts
            DeathReplicationSchedule(relative_cutoff=self.relative_cutoff,
                                     max_fraction=self.max_fraction)
            configs.append({"architecture": name, "steps": steps,
                            "every": steps // (EVENTS + 1), "events": EVENTS,
                            "relative_cutoff": self.relative_cutoff,
                            "max_fraction": self.max_fraction,
                            "rule": "A1", "measure": "connection", "method": "B1"})
        return configs


@torch.no_grad()
def calibration_loss(model: nn.Module, batches: Sequence[Any], forward: Any = None) -> float:
    """Mean cross-entropy of ``model`` (eval mode) over labelled ``(input, target)`` batches;
    logits (..., classes) against targets (...), every position counted once."""
    forward = forward or default_forward
    device, dtype = model_device_dtype(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for batch in batches:
            if not (isinstance(batch, tuple | list) and len(batch) == 2):
                raise NeuroplastError("architecture-training needs labelled (input, target) "
                                      "calibration batches for its training loss")
            x, y = batch
            logits = forward(model, to_model(x, device, dtype))
            total += float(F.cross_entropy(logits.flatten(0, -2).double(),
                                           y.to(device).flatten(), reduction="sum"))
            count += y.numel()
    finally:
        model.train(was_training)
    return total / count


class _Schedules:
    """The on_step callback of the death-and-replication arm: one schedule per site, found on
    the first call (on the model the family built), each firing every ``every`` steps."""

    def __init__(self, config: dict[str, Any], seed: int, calibration: list[Any],
                 forward: Any) -> None:
        self.config, self.seed, self.calibration, self.forward = config, seed, calibration, \
            forward
        self.schedules: list[DeathReplication] | None = None
        self.events: list[dict[str, Any]] = []

    def _build(self, model: nn.Module) -> list[DeathReplication]:
        was_training = model.training
        model.eval()  # discovery runs the model: no BatchNorm statistics may move
        try:
            sites = [s for s in find_sites(model, first_batch(self.calibration),
                                           forward=self.forward) if s.kind != "input"]
        finally:
            model.train(was_training)
        cfg = self.config
        return [DeathReplication(DeathReplicationSchedule(
            site=site, relative_cutoff=cfg["relative_cutoff"], max_fraction=cfg["max_fraction"],
            rule=cfg["rule"], measure=cfg["measure"], method=cfg["method"], seed=self.seed),
            # events at every, 2·every, …, EVENTS·every: exactly EVENTS of them, the last at
            # least ``every`` steps before the end whatever the remainder of steps / 10
            every=cfg["every"], total_epochs=cfg["every"] * (cfg["events"] + 1))
            for site in sites]

    def __call__(self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
        if self.schedules is None:
            self.schedules = self._build(model)
        for schedule in self.schedules:
            event = schedule.step(model, optimizer, self.calibration)
            if event is not None:
                self.events.append({"step": step, "site": event["site"],
                                    "removed": event["n_removed"], "width": event["width"],
                                    "threshold": event["cutoff"]})


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    """One (family, seed): the plain and the death-and-replication arm, same start."""
    config = spec.config
    arch = get_architecture(config["architecture"])
    train_data, val_data = arch.data()
    calibration = list(arch.calibration(train_data))
    arms: dict[str, Any] = {}
    for arm in ARMS:
        callback = _Schedules(config, spec.seed, calibration, arch.forward) \
            if arm == "death-replication" else None
        torch.manual_seed(spec.seed)
        started = time.perf_counter()
        model, curve = arch.train(spec.seed, train_data, config["steps"], callback)
        seconds = time.perf_counter() - started
        model.eval()
        arms[arm] = {
            "value": float(arch.evaluate(model, val_data)),
            "train_loss": calibration_loss(model, calibration, arch.forward),
            "curve": [{"step": int(p["step"]), "train_loss": float(p["train_loss"])}
                      for p in curve],
            "events": [] if callback is None else callback.events,
            "seconds": seconds,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    return {"architecture": arch.name, "metric": arch.metric,
            "higher_is_better": arch.higher_is_better, "steps": config["steps"],
            "arms": arms}


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    """``summary.md`` + figure from the stored runs."""
    from neuroplast.experiments.definitions.architecture_training_report import write_report

    return write_report(records, out_dir)


EVENT_SCHEMA = {"step": INTEGER, "site": TEXT, "removed": INTEGER, "width": INTEGER,
                "threshold": NUMBER}
ARM_SCHEMA = {"value": NUMBER, "train_loss": NUMBER,
              "curve": [{"step": INTEGER, "train_loss": NUMBER}], "events": [EVENT_SCHEMA],
              "seconds": NUMBER, "parameters": INTEGER}
RESULT_SCHEMA = {"architecture": TEXT, "metric": TEXT, "higher_is_better": BOOLEAN,
                 "steps": INTEGER, "arms": map_of(ARM_SCHEMA)}
"""What :func:`run` returns (checked when a stored run is read back)."""

ARCHITECTURE_TRAINING = Experiment(
    name="architecture-training",
    section="beyond the paper (5.8 on other architectures)",
    figures=("docs/benchmarks/architecture-training.md",),
    description="death and replication during training of a CNN and a LLaMA-style "
                "transformer vs plain training at equal steps (paired by seed)",
    configs=TrainingConfigs(),
    run=run,
    report=report,
    default_seeds=5,
    needs_data=False,
    result_schema=RESULT_SCHEMA,
)


def architecture_training(architectures: Sequence[str] | None = None, *,
                          steps: int | None = None,
                          relative_cutoff: float = RELATIVE_CUTOFF,
                          max_fraction: float = MAX_FRACTION) -> Experiment:
    """The experiment for chosen families and settings (defaults of
    :class:`TrainingConfigs`); runs are stored under the experiment's name and read their
    settings from their configuration."""
    return replace(ARCHITECTURE_TRAINING, configs=TrainingConfigs(
        None if architectures is None else tuple(architectures), steps, relative_cutoff,
        max_fraction))
