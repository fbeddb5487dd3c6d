"""architecture-frontier: every method × ratio on trained models of other families.

One run is one (model family, training seed). The family is an
:class:`~neuroplast.experiments.architectures.ArchitectureSpec` registered through
``$NEUROPLAST_EXTRA_ARCHITECTURES`` (the model zoo's CNNs, ResNets and LLaMA-style
transformers; a test's tiny CNN). The run

1. trains the model for the seed or loads it from the cache (``train_or_load``);
2. finds its sites with :func:`neuroplast.find_sites` on the first calibration batch (input
   features are never pruned here);
3. times one forward pass of the whole model over the calibration batches (the reference of
   every cost, DESIGN.md §5: these machines are noisy, so costs are ratios);
4. for every method (:mod:`~neuroplast.experiments.definitions.architecture_methods`: ours and
   the baselines, each with its allocation of the ratio over the sites) and every ratio
   (0.1, 0.3, 0.5, 0.7), prunes a copy of the trained model, scores it on the validation data
   without fine-tuning, then after the family's fixed fine-tuning budget (``finetune`` after
   ``torch.manual_seed(seed)``, so every method gets the same budget and randomness), and
   records the pruning's wall time divided by the forward-pass reference (the zero biases a
   rule such as A1 gives bias-free consumers are added once per model before, see
   :func:`~neuroplast.experiments.definitions.architecture_methods.with_consumer_biases`,
   so re-finding the sites is not charged to every method), the kept widths
   and the parameters left (FLAP's allocation counts parameters, the uniform one neurons, so
   equal ratios are not exactly equal sizes).

A method that refuses the model (a measure needing a BatchNorm on a transformer, Torch-
Pruning not installed) is recorded as skipped with its
message; one that crashes (any other exception, e.g. inside Torch-Pruning's graph tracing) as
failed with the exception, so the other methods' results are kept and the report names it.

The configuration holds the family, ratios, methods (as plain data) and the fine-tuning
budget, so changing any of them makes new runs; :func:`architecture_frontier` builds the
experiment for chosen families, ratios and methods. The report is
:mod:`~neuroplast.experiments.definitions.architecture_report`;
``python -m benchmarks.architecture_frontier`` writes it into ``docs/benchmarks``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.cost import count_parameters
from neuroplast.death.rules import get_rule
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.architectures import (
    ArchitectureSpec,
    all_architectures,
    cache_dir,
    get_architecture,
)
from neuroplast.experiments.definitions.architecture_methods import (
    DEFAULT_METHODS,
    ArchMethod,
    apply_method,
    with_consumer_biases,
)
from neuroplast.experiments.definitions.architecture_report import write_report
from neuroplast.experiments.experiment import Experiment
from neuroplast.experiments.schema import BOOLEAN, INTEGER, NUMBER, TEXT, map_of
from neuroplast.experiments.sweep import RunSpec
from neuroplast.sites.discover import find_sites
from neuroplast.sites.resolve import first_batch
from neuroplast.stats.site import (
    Forward,
    default_forward,
    iterate_batches,
    model_device_dtype,
    to_model,
)
from neuroplast.train import Protocol

RATIOS = (0.1, 0.3, 0.5, 0.7)
QUICK_RATIOS = (0.3, 0.7)
QUICK_FINETUNE_STEPS = 5
FORWARD_REPEATS = 3
"""The forward-pass reference is the fastest of this many passes."""


@dataclass(frozen=True)
class FrontierConfigs:
    """``configs(protocol)`` of the experiment: one configuration per family (picklable).

    Attributes:
        architectures: family names (None: every registered family).
        ratios: pruning ratios (None: :data:`RATIOS`; :data:`QUICK_RATIOS` under ``quick``).
        methods: the methods (None: :data:`~neuroplast.experiments.definitions.
            architecture_methods.DEFAULT_METHODS`).
        finetune_steps: the fine-tuning budget (None: the family's; at most
            :data:`QUICK_FINETUNE_STEPS` under ``quick``).
    """

    architectures: tuple[str, ...] | None = None
    ratios: tuple[float, ...] | None = None
    methods: tuple[ArchMethod, ...] | None = None
    finetune_steps: int | None = None

    def __call__(self, protocol: Protocol) -> list[dict[str, Any]]:
        quick = protocol.name == "quick"
        names = list(self.architectures) if self.architectures is not None \
            else list(all_architectures())
        if not names:
            raise NeuroplastError(
                "no architecture is registered for the architecture frontier; name modules of "
                "ArchitectureSpecs in $NEUROPLAST_EXTRA_ARCHITECTURES=module:attribute (e.g. "
                "the model zoo's)")
        ratios = self.ratios if self.ratios is not None else QUICK_RATIOS if quick else RATIOS
        methods = self.methods if self.methods is not None else DEFAULT_METHODS
        if len({m.name for m in methods}) != len(methods):
            raise NeuroplastError("the methods' names repeat; give each method its own name")
        configs = []
        for name in names:
            spec = get_architecture(name)
            steps = spec.finetune_steps if self.finetune_steps is None else self.finetune_steps
            configs.append({"architecture": name, "ratios": [float(r) for r in ratios],
                            "methods": [m.as_config() for m in methods],
                            "finetune_steps": min(steps, QUICK_FINETUNE_STEPS) if quick
                            else steps})
        return configs


def forward_seconds(model: nn.Module, batches: Any, forward: Forward | None,
                    repeats: int = FORWARD_REPEATS) -> float:
    """Seconds of one forward pass of ``model`` over every calibration batch (no gradients,
    eval mode), the fastest of ``repeats`` passes."""
    forward = forward or default_forward
    device, dtype = model_device_dtype(model)
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            for batch in iterate_batches(batches, 10_000):
                forward(model, to_model(batch, device, dtype))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - started)
    return best


def _sites(model: nn.Module, spec: ArchitectureSpec, calibration: Any) -> list[Any]:
    sites = [site for site in find_sites(model, first_batch(calibration), forward=spec.forward)
             if site.kind != "input"]
    if not sites:
        raise NeuroplastError(f"architecture {spec.name!r}: find_sites offers no site to prune "
                              "(neuroplast.explain_sites says why)")
    return sites


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    """One (family, seed): every method at every ratio, without and with fine-tuning."""
    config = spec.config
    arch = get_architecture(config["architecture"])
    methods = [ArchMethod.from_config(m) for m in config["methods"]]
    model, train_data, val_data = arch.train_or_load(spec.seed, cache_dir())
    model.eval()
    calibration = arch.calibration(train_data)
    if iter(calibration) is calibration:  # a generator is read once; pruning reads it often
        calibration = list(calibration)
    sites = _sites(model, arch, calibration)
    reference = forward_seconds(model, calibration, arch.forward)
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    with_biases: tuple[nn.Module, list[Any]] | None = None
    for method in methods:
        base = (model, sites)
        if get_rule(method.rule).moves_bias:  # the zero biases the rule adds, added once
            with_biases = with_biases or with_consumer_biases(model, sites, calibration,
                                                              arch.forward)
            base = with_biases
        for ratio in config["ratios"]:
            work, work_sites = copy.deepcopy(base)  # sites follow the copy
            started = time.perf_counter()
            try:
                work_sites = apply_method(work, work_sites, calibration, method, ratio,
                                          arch.forward)
            except NeuroplastError as error:  # a documented refusal
                skipped[method.name] = str(error)
                break
            except Exception as error:  # a crash (e.g. inside a third-party library): the
                failed[method.name] = f"{type(error).__name__}: {error}"  # others still run
                break
            seconds = time.perf_counter() - started
            work.eval()
            row = {"method": method.name, "family": method.family, "ratio": float(ratio),
                   "seconds": seconds / reference, "prune_seconds": seconds,
                   "kept": {site.name: site.width for site in work_sites},
                   "parameters": count_parameters(work)}
            rows.append(row | {"finetune": False, "value": float(arch.evaluate(work, val_data))})
            torch.manual_seed(spec.seed)
            arch.finetune(work, train_data, config["finetune_steps"])
            work.eval()
            rows.append(row | {"finetune": True, "value": float(arch.evaluate(work, val_data))})
    return {"architecture": arch.name, "metric": arch.metric,
            "higher_is_better": arch.higher_is_better,
            "dense": float(arch.evaluate(model, val_data)), "forward_seconds": reference,
            "parameters": count_parameters(model),
            "sites": {site.name: site.width for site in sites}, "rows": rows,
            "skipped": skipped, "failed": failed}


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    """``summary.md``, ``architectures.json`` and ``architectures.png`` from the stored runs."""
    return write_report(records, out_dir, summary=True)


ROW_SCHEMA = {"method": TEXT, "family": TEXT, "ratio": NUMBER, "finetune": BOOLEAN,
              "value": NUMBER, "seconds": NUMBER, "prune_seconds": NUMBER,
              "kept": map_of(INTEGER), "parameters": INTEGER}
RESULT_SCHEMA = {"architecture": TEXT, "metric": TEXT, "higher_is_better": BOOLEAN,
                 "dense": NUMBER, "forward_seconds": NUMBER, "parameters": INTEGER,
                 "sites": map_of(INTEGER),
                 "rows": [ROW_SCHEMA], "skipped": map_of(TEXT), "failed": map_of(TEXT)}
"""What :func:`run` returns (checked when a stored run is read back)."""

ARCHITECTURE_FRONTIER = Experiment(
    name="architecture-frontier",
    section="beyond the paper (DESIGN.md §5, general sites)",
    figures=("docs/benchmarks/architectures.md",),
    description="trained models of other families (CNN, ResNet, LLaMA-style) pruned by every "
                "method at ratios 0.1-0.7, without and with a short fine-tuning",
    configs=FrontierConfigs(),
    run=run,
    report=report,
    default_seeds=3,
    needs_data=False,
    result_schema=RESULT_SCHEMA,
)


def architecture_frontier(architectures: Sequence[str] | None = None, *,
                          ratios: Sequence[float] | None = None,
                          methods: Sequence[ArchMethod] | None = None,
                          finetune_steps: int | None = None) -> Experiment:
    """The experiment for chosen families, ratios, methods and fine-tuning budget (None: the
    defaults of :class:`FrontierConfigs`). Its runs are stored under the experiment's name
    like any other; workers find its ``run`` by that name and read everything else from each
    run's configuration."""
    return replace(ARCHITECTURE_FRONTIER, configs=FrontierConfigs(
        None if architectures is None else tuple(architectures),
        None if ratios is None else tuple(float(r) for r in ratios),
        None if methods is None else tuple(methods), finetune_steps))
