"""compression-frontier: N4's ``hidden1`` pruned to 80, 60, 40, 20 neurons, no retraining.

One run is one seed: N4 (784 → 100 → 5 → 10, tanh) trained with the run's protocol for 5000
paper epochs on the training images, then, for every method (rule, measure) and every kept
width K, the net pruned to K neurons of ``hidden1`` (``amount = 100 − K``, one shot,
statistics and rankings from the training images the protocol uses) and its accuracy and
loss on the training and test images.

Methods (``rule/measure``):

* **ours**: the re-wiring rules with their default rankings — ``A1``, ``A2`` and ``none`` on
  E_k (eq. 28, ``connection``), ``A3`` and ``lstsq`` on E'_k (eq. 17, ``covariance``), and
  ``lstsq`` on E_k. ``none`` on E_k isolates the compensation (x_l → 0, plain slicing). And
  ``lstsq`` with the conditional efficiency E^c_k = (1/P_kk) Σ_i g_i w_ik², the cost of a
  removal under least-squares compensation (:mod:`neuroplast.efficiency.conditional`): as a
  static ranking (``conditional``) and as a greedy selection that scores the survivors again
  after every removal (``conditional:greedy``);
* **baselines**: every other registered measure (magnitude-*, n2ps*, nnsp at every level above
  ``hidden1``, random, weight-norm, zeng-yeung, taylor, the Torch-Pruning importances tp-*,
  FLAP's fluctuation, Wanda-sp, structured OBS, BatchNorm scales), each with rule ``none``
  (what other tools do), ``A1`` (mean compensation) and ``lstsq`` (our best compensation on
  their ranking), so that the table separates the choice of neurons from the compensation; a
  baseline with a greedy form (``obs:greedy``, ZipLM's structured OBS) also runs greedily with
  its own rule (``obs``). A measure that refuses the site (the BatchNorm scales: N4 has no
  BatchNorm) is recorded as skipped with its message; :data:`EXCLUDED` lists the measures left
  out and why.

The configuration lists the measures, so a measure registered later makes new runs (the
engine never mixes runs of different method sets). Each ranking is scored once per net and
each method prunes along it once with :func:`neuroplast.death.frontier.prune_to_widths`,
which equals ``prune(..., amount=100 − K)`` at every K.

The ``quick`` protocol runs widths 60 and 20 with three baseline measures (a smoke test).
The report (``summary.md``, ``frontier.json``, ``frontier.png``) is
:mod:`~neuroplast.experiments.definitions.frontier_report`; ``python -m benchmarks.frontier``
writes the same into ``docs/benchmarks``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.data import Split
from neuroplast.death.frontier import check_widths, prune_to_widths
from neuroplast.efficiency import efficiency
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions.frontier_methods import SITE, baseline_measures, methods_for
from neuroplast.experiments.definitions.frontier_report import write_report
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.schema import INTEGER, NUMBER, TEXT, map_of
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import build_mlp, initialize
from neuroplast.stats import collect_site_statistics
from neuroplast.train import Protocol, evaluate_splits, get_protocol, train
from neuroplast.train.loop import restrict

ARCH = "N4"
WIDTHS = (80, 60, 40, 20)
QUICK_WIDTHS = (60, 20)
PAPER_EPOCHS = 5000
QUICK_MEASURES = ("magnitude-l2", "taylor", "random:0")
"""Baseline measures of a ``quick`` run."""

# -- the experiment ---------------------------------------------------------------------------


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    """One configuration: N4, ``hidden1``, the kept widths and the baseline measures."""
    quick = protocol.name == "quick"
    measures = list(QUICK_MEASURES) if quick else baseline_measures(build_mlp(ARCH))
    return [{"arch": ARCH, "paper_epochs": PAPER_EPOCHS, "site": SITE,
             "widths": list(QUICK_WIDTHS if quick else WIDTHS), "measures": measures}]


def frontier_of(model: nn.Module, train_split: Split, test_split: Split,
                widths: Sequence[int], measures: Sequence[str], site: str = SITE,
                ) -> dict[str, Any]:
    """Prune copies of ``model`` to every kept width with every method; no retraining.

    Statistics (with the covariance) and every static measure's scores are computed once from
    ``train_split``; each (rule, measure) pair prunes along its ranking once
    (:func:`~neuroplast.death.frontier.prune_to_widths`).

    Args:
        model: the trained net (not modified).
        train_split: data for statistics, rankings and the training metrics.
        test_split: data for the test metrics.
        widths: kept widths of ``site``.
        measures: baseline measure names (:func:`baseline_measures`).
        site: the site pruned.

    Returns:
        ``{"width": n, "trained": metrics, "results": {key: {str(K): metrics | width}},
        "orders": {measure: removal order}, "skipped": {measure: reason}}``; a measure that
        raises :class:`NeuroplastError` on this site (e.g. needs a BatchNorm, or Torch-Pruning
        is not installed) is skipped with its message. A greedy measure's order is the one it
        removed.
    """
    width = model.site(site).width
    widths = check_widths(widths, width)
    stats = collect_site_statistics(model, site, train_split.x, covariance=True)
    methods = methods_for(measures)
    scores: dict[str, torch.Tensor | None] = {}
    skipped: dict[str, str] = {}
    for name in dict.fromkeys(m.measure for m in methods):
        try:
            scores[name] = None if is_greedy(name) else \
                efficiency(name, model, site, stats, train_split)  # (n,)
        except NeuroplastError as error:
            skipped[name] = str(error)
    results: dict[str, dict[str, dict[str, float]]] = {}
    orders: dict[str, list[int]] = {}
    for method in methods:
        if method.measure in skipped:
            continue
        per_width: dict[str, dict[str, float]] = {}
        for point in prune_to_widths(model, site, train_split, rule=method.rule,
                                     measure=method.measure, widths=widths, stats=stats,
                                     scores=scores[method.measure]):
            per_width[str(point.width)] = evaluate_splits(point.model, train_split, test_split) \
                | {"width": point.model.site(site).width}
            if point.width == widths[-1]:  # the same order for every rule of a ranking
                orders.setdefault(method.measure, list(point.removed))
        results[method.key] = per_width
    return {"width": width, "trained": evaluate_splits(model, train_split, test_split),
            "results": results, "skipped": skipped, "orders": orders}


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    """Train one N4 and compute its frontier (the seed's record)."""
    config = spec.config
    protocol = get_protocol(spec.protocol)
    dataset = mnist(data_dir)
    model = initialize(build_mlp(config["arch"]), spec.seed)
    started = time.perf_counter()
    train(model, dataset.train, protocol, epochs=protocol.epochs(config["paper_epochs"]),
          seed=spec.seed, progress=False)
    train_seconds = time.perf_counter() - started
    train_split = restrict(dataset.train, protocol)
    record = frontier_of(model, train_split, dataset.test, config["widths"],
                         config["measures"], config["site"])
    return record | {"train_seconds": train_seconds, "train_examples": train_split.n,
                     "test_examples": dataset.test.n, "data_source": dataset.source}


PROVENANCE = ("neuroplast", "torch", "python", "platform", "torch_threads")
"""Provenance entries a seed record keeps (the report names the software the runs used)."""


def seed_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored runs as the summaries read them: each run's result with its seed, its
    configuration, its measures, its wall time (``seconds``) and software, in run order."""
    return [{"seed": r["spec"]["seed"], "config": r["spec"]["config"],
             "protocol": r["spec"]["protocol"], "measures": r["spec"]["config"]["measures"],
             "seconds": r["provenance"]["wall_s"],
             "provenance": {key: r["provenance"].get(key) for key in PROVENANCE}}
            | r["result"] for r in records]


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    """``summary.md``, ``frontier.json`` and ``frontier.png`` from the stored runs."""
    command = f"neuroplast reproduce {COMPRESSION_FRONTIER.name} --protocol " \
              f"{records[0]['spec']['protocol']} --seeds {len(records)}"
    return write_report(seed_records(records), out_dir, command=command, summary=True)


METRICS_SCHEMA = {"train_accuracy": NUMBER, "train_loss": NUMBER, "test_accuracy": NUMBER,
                  "test_loss": NUMBER}
RESULT_SCHEMA = {
    "width": INTEGER,
    "trained": METRICS_SCHEMA,
    "results": map_of(map_of(METRICS_SCHEMA | {"width": INTEGER})),
    "skipped": map_of(TEXT),
    "orders": map_of([INTEGER]),
    "train_seconds": NUMBER,
    "train_examples": INTEGER,
    "test_examples": INTEGER,
}
"""What :func:`run` returns (checked when a stored run is read back)."""

COMPRESSION_FRONTIER = Experiment(
    name="compression-frontier",
    section="beyond the paper (DESIGN.md §5, quality)",
    figures=("docs/benchmarks/frontier.md",),
    description="N4 hidden1 pruned to 80/60/40/20 neurons without retraining: every rule × "
                "every measure",
    configs=configs,
    run=run,
    report=report,
    default_seeds=10,
    result_schema=RESULT_SCHEMA,
)
