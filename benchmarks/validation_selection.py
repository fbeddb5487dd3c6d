"""Would `NetTrain`'s validation-set selection move cutoff-pruning's numbers?

The paper trains with 60,000 images "and 10,000 validation" ones. Given ``ValidationSet``,
Mathematica's ``NetTrain`` does not return the net at the end of training: it checks the
validation set after every round (epoch) and returns the round's net that checked best
(``"TrainedNet"``; ``"FinalNet"`` is the last). Read in the NeuralNetworks paclet source that
the tool index holds (no version string; 12.1-era files ``Validation.m``,
``StoppingCriterion.m``, ``Properties.m``; an 11.x ``NetTrain.m``):

* **12.x rule** (``error-rate``): the lowest validation error rate, ties broken by the lower
  validation loss — the default whenever the net has exactly one cross-entropy loss, as the
  paper's classifiers do;
* **11.x rule** (``loss``): the lowest validation loss (mean cross-entropy, no L2 term).

Whether the paper passed ``ValidationSet`` is not stated; it reports validation accuracies
(Figs 7, 9, 23) that it may have measured afterwards. This probe measures what the selection
would change on the arm's own base N4s: each seed's net is trained again exactly as
``cutoff-pruning`` trains it (same initialisation, batches and steps; with ``--stored DIR``,
a folder of the arm's ``baseline-training`` runs, the report sets the final net's test loss
beside the stored run's of the same seed and says whether they are equal to the last bit — the
runs store accuracies rounded, losses whole; on another CPU than the runs' the float rounding of
500,000 steps differs, and so do the nets, slightly), the validation set (MNIST's 10,000
test images, in the arm's encoding) is checked after every epoch, and the nets each rule
selects are kept. Every variant (``final``, ``error-rate``, ``loss``) then gets Fig. 5's
first prune (A1, one shot, the library's ``prune`` at each cutoff): the neurons kept, the
training accuracy right after pruning and the top efficiency, compared with the paper's as
:mod:`benchmarks.cutoff_readings` compares its readings; and the base net's training accuracy
with Fig. 5's caption.

Usage::

    python -m benchmarks.validation_selection --protocol paper --invert --init lecun-normal \\
        --l2 half-weights --seeds 4 --workers 2 --out OUT [--data DIR] \\
        [--stored docs/reproduction/paper-probable/baseline-training/runs]

Under ``paper`` a seed is one ~30-minute training on one core (``--workers K`` trains K side by
side). Each finished seed is kept in ``OUT/<protocol>[-options]/validation-selection-seeds/``, and
a run trains only the seeds missing there (a seed's training itself is not resumable). Writes
``OUT/<protocol>[-options]/validation-selection.{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.cutoff_readings import CUTOFFS, QUANTITIES, SITE, cell, quantity_tables
from benchmarks.report_cells import within
from benchmarks.run_arguments import arm_probe, made_by, write_probe_report

RULES = ("error-rate", "loss")
"""The selection rules: 12.x's (error rate, then loss) and 11.x's (loss)."""
VARIANTS = ("final", *RULES)


def improves(rule: str, error: float, loss: float, best_error: float, best_loss: float) -> bool:
    """Whether a validation check (``error`` rate, mean ``loss``) beats the best so far under
    ``rule``: ``error-rate`` — a lower error rate, or the same rate and a lower loss (12.x's
    ``makeDefaultImprovedQ``); ``loss`` — a lower loss (11.x's). Strict, so the earliest of
    equal checks stays selected."""
    if rule == "error-rate":
        return error < best_error or (error == best_error and loss < best_loss)
    if rule == "loss":
        return loss < best_loss
    raise ValueError(f"unknown rule {rule!r}; give one of {', '.join(RULES)}")


@dataclass
class ValidationSelection:
    """A ``train`` callback that checks ``validation`` after every epoch and keeps, per rule,
    a copy of the weights of the best check (:func:`improves`)."""

    validation: Any
    errors: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    best: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, state: Any) -> None:
        from neuroplast.train import evaluate

        result = evaluate(state.model, self.validation)
        error = 1.0 - result.accuracy
        self.errors.append(error)
        self.losses.append(result.loss)
        for rule in RULES:
            best = self.best.get(rule)
            if best is None or improves(rule, error, result.loss, best["error"], best["loss"]):
                self.best[rule] = {"epoch": state.epoch, "error": error, "loss": result.loss,
                                   "state": copy.deepcopy(state.model.state_dict())}


def first_prune(model: Any, train: Any) -> dict[str, Any]:
    """Fig. 5's first prune of copies of ``model`` (A1 at each cutoff, one shot, the library's
    ``prune`` as the reproduction calls it): the neurons kept, the training accuracy right
    after pruning, and the top efficiency (``benchmarks.cutoff_readings``' per-row record)."""
    from neuroplast.death import prune
    from neuroplast.death.evaluation import classification_evaluator
    from neuroplast.efficiency import connection_cut_efficiency
    from neuroplast.experiments.definitions.pruning_common import keep_one
    from neuroplast.stats import collect_site_statistics

    evaluate = classification_evaluator(train)
    width = model.site(SITE).width
    stats = collect_site_statistics(model, SITE, train.x)
    results = []
    for cutoff in CUTOFFS:
        pruned = copy.deepcopy(model)
        prune(pruned, SITE, train, rule="A1", cutoff=cutoff, max_fraction=keep_one(width),
              stats=stats)  # the copy's statistics are the model's: collected once
        results.append({"cutoff": cutoff, "remaining_neurons": pruned.site(SITE).width,
                        "accuracy_after_pruning": evaluate(pruned)[0]})
    return {"max_efficiency": float(connection_cut_efficiency(model, SITE, stats).max()),
            "cutoffs": results}


def stored_runs(folder: Path | None, protocol: str,
                options: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """seed → the test loss and platform of the ``baseline-training`` run in ``folder`` (its
    ``*.json`` run files) made under ``protocol`` with ``options``; empty without a folder."""
    found: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder is not None else ():
        run = json.loads(path.read_text(encoding="utf-8"))
        spec, result = run.get("spec", {}), run.get("result", {})
        if (spec.get("experiment") == "baseline-training" and spec.get("protocol") == protocol
                and result.get("run_options") == options):
            found[int(spec["seed"])] = {
                "test_loss": float(result["test_loss"]),
                "platform": run.get("provenance", {}).get("platform")}
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--stored`` (the probe trains its own nets: no trained cache)."""
    from neuroplast.cli.common import local_worker_count

    parser.add_argument("--workers", type=local_worker_count, default=1,
                        help="seeds trained side by side (default 1)")
    parser.add_argument("--stored", type=Path, default=None,
                        help="a folder of the arm's baseline-training run files: each seed's "
                             "final test loss is set beside its run's")


def run_seed(job: tuple[int, Any, str | None, bool, str]) -> dict[str, Any]:
    """One seed, in a worker: train with the validation checks, then every variant's record."""
    from neuroplast.experiments.experiment import mnist
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import evaluate, restrict, train
    from neuroplast.train.threads import torch_threads

    seed, protocol, data, invert, init = job
    dataset = mnist(data, invert=invert)
    split = restrict(dataset.train, protocol)
    with torch_threads(1):
        model = initialize(build_mlp("N4"), seed, init)
        selection = ValidationSelection(dataset.test)
        history = train(model, dataset.train, protocol, epochs=protocol.epochs(5000),
                        seed=seed, test_split=dataset.test, progress=False,
                        callbacks=[selection])
        variants: dict[str, Any] = {}
        for name in VARIANTS:
            net = copy.deepcopy(model)
            if name != "final":
                net.load_state_dict(selection.best[name]["state"])
            on_train, on_test = evaluate(net, split), evaluate(net, dataset.test)
            variants[name] = {
                "epoch": history.final["epochs"] if name == "final"
                else selection.best[name]["epoch"],
                "train_accuracy": on_train.accuracy, "validation_accuracy": on_test.accuracy,
                "validation_loss": on_test.loss} | first_prune(net, split)
    return {"seed": seed,
            "wall_time_s": history.final["wall_time_s"], "variants": variants,
            "validation_error": [round(e, 6) for e in selection.errors],
            "validation_loss": [round(v, 6) for v in selection.losses]}


def seed_path(folder: Path, seed: int) -> Path:
    """Where a finished seed's record is kept: ``FOLDER/validation-selection-seeds/seed-K.json``."""
    return folder / "validation-selection-seeds" / f"seed-{seed}.json"


def write_seed(folder: Path, protocol: str, options: dict[str, Any],
               result: dict[str, Any]) -> None:
    """Keep a finished seed's record (JSON, beside the arm's protocol and options), so that an
    interrupted run trains only the seeds it lacks."""
    from neuroplast.files import atomic_write_text

    path = seed_path(folder, result["seed"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"protocol": protocol, "options": options,
                                        "result": result}) + "\n")


def finished_seeds(folder: Path, protocol: str, options: dict[str, Any]
                   ) -> dict[int, dict[str, Any]]:
    """seed → the record an earlier run kept for this arm (a file of another arm is ignored)."""
    found = {}
    for path in sorted((folder / "validation-selection-seeds").glob("seed-*.json")):
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("protocol") == protocol and kept.get("options") == options:
            found[int(kept["result"]["seed"])] = kept["result"]
    return found


def compare(per_seed: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant: the base net's training accuracy and Fig. 5's first-prune cells over
    seeds against the paper's, and how many lie within 2 combined s.e."""
    from neuroplast.experiments.definitions.pruning_common import paper_cell
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.experiments.stats_summary import summarize, versus_paper

    table = paper_table("fig5")
    summary = []
    for name in VARIANTS:
        records = [seed["variants"][name] for seed in per_seed]
        cells = []
        for key, context in (("train_accuracy", "initial_accuracy"),
                             ("max_efficiency", "max_hidden_efficiency")):
            ours, paper = summarize(r[key] for r in records), table.context[context]
            cells.append((key, None, ours, paper, versus_paper(ours, paper)))
        for i, cutoff in enumerate(CUTOFFS):
            for key, _, _ in QUANTITIES:
                ours = summarize(r["cutoffs"][i][key] for r in records)
                paper = paper_cell(table, key, cutoff=cutoff)
                cells.append((key, cutoff, ours, paper, versus_paper(ours, paper)))
        epochs = summarize(r["epoch"] for r in records)
        summary.append({
            "variant": name, "epoch_mean": epochs.mean, "epoch_se": epochs.se,
            "within_2se": sum(within(d.mean, d.se) for *_, d in cells), "cells": len(cells),
            "width_gap_sum": sum(abs(d.mean) for key, _, _, _, d in cells
                                 if key == "remaining_neurons"),
            "values": [{"quantity": key, "cutoff": cutoff, "mean": ours.mean, "se": ours.se,
                        "paper": paper.mean, "paper_se": paper.error, "difference": d.mean,
                        "difference_se": d.se} for key, cutoff, ours, paper, d in cells]})
    return summary


def paired_widths(per_seed: Sequence[dict[str, Any]], rule: str) -> list[tuple[float, float]]:
    """Per cutoff: the mean ± s.e. over seeds of (neurons kept by ``rule``'s net − by the
    final net's)."""
    from neuroplast.experiments.stats_summary import summarize

    out = []
    for i in range(len(CUTOFFS)):
        diff = summarize(seed["variants"][rule]["cutoffs"][i]["remaining_neurons"]
                         - seed["variants"]["final"]["cutoffs"][i]["remaining_neurons"]
                         for seed in per_seed)
        out.append((diff.mean, diff.se or 0.0))
    return out


def markdown(per_seed: Sequence[dict[str, Any]], summary: list[dict[str, Any]],
             header: str) -> str:
    """The report: per seed the selected epochs; per variant the cells within 2 s.e., the
    widths and accuracies beside the paper's; the paired width differences."""
    lines = [header, "", "## The selected nets, seed by seed", "",
             "| seed | final net's test loss (the stored run's) | " + " | ".join(
                 f"{v}: epoch, training / validation accuracy" for v in VARIANTS) + " |",
             "|---|---|" + "---|" * len(VARIANTS)]
    for seed in per_seed:
        stored = seed.get("stored")
        loss = seed["variants"]["final"]["validation_loss"]
        same = ("no stored run" if stored is None else f"{loss:.6f} ({stored['test_loss']:.6f}"
                + (", equal" if stored["test_loss"] == loss else "") + ")")
        lines.append(f"| {seed['seed']} | {same} | " + " | ".join(
            f"{seed['variants'][v]['epoch']}, {seed['variants'][v]['train_accuracy']:.5f} / "
            f"{seed['variants'][v]['validation_accuracy']:.4f}" for v in VARIANTS) + " |")
    lines += ["", "## Fig. 5's first prune, each variant against the paper's", "",
              "| variant | selected epoch | cells within 2 s.e. | Σ \\|ours − paper\\| of the "
              f"{len(CUTOFFS)} widths | training accuracy | top efficiency |",
              "|---|---|---|---|---|---|"]
    for row in summary:
        lines.append(f"| {row['variant']} | {row['epoch_mean']:.0f} ± {row['epoch_se'] or 0:.0f} "
                     f"| {row['within_2se']} of {row['cells']} | {row['width_gap_sum']:.1f} | "
                     f"{cell(row, 'train_accuracy', None, 5)} | "
                     f"{cell(row, 'max_efficiency', None, 3)} |")
    first = summary[0]["values"]
    lines.append(f"| paper | | | | {first[0]['paper']:.5f} ± {first[0]['paper_se']:.5f} | "
                 f"{first[1]['paper']:.3f} ± {first[1]['paper_se']:.3f} |")
    lines += quantity_tables(summary, "variant")
    lines += ["", "### Neurons kept: the selected net's minus the final net's, paired by seed",
              "", "| rule | " + " | ".join(f"ε = {c:g}" for c in CUTOFFS) + " |",
              "|---|" + "---|" * len(CUTOFFS)]
    for rule in RULES:
        lines.append(f"| {rule} | " + " | ".join(
            f"{mean:+.1f} ± {se:.1f}" for mean, se in paired_widths(per_seed, rule)) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train each seed's base net with validation checks (``--workers`` side by side), prune
    every variant, write the JSON and markdown reports."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from neuroplast.experiments.options import encoding_name

    probe = arm_probe("python -m benchmarks.validation_selection", __doc__.split("\n\n")[0],
                      argv, extra=add_arguments, trained_cache=False)
    args, options, folder, protocol = probe.args, probe.options, probe.folder, probe.protocol
    started = time.perf_counter()
    stored = stored_runs(args.stored, args.protocol, options)
    finished = finished_seeds(folder, args.protocol, options)
    jobs = [(seed, protocol, args.data, args.invert, args.init) for seed in range(args.seeds)
            if seed not in finished]
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for future in as_completed([pool.submit(run_seed, job) for job in jobs]):
            result = future.result()
            write_seed(folder, args.protocol, options, result)
            finished[result["seed"]] = result
            print(f"[validation-selection] seed {result['seed']} done", file=sys.stderr)
    per_seed = [finished[seed] for seed in range(args.seeds)]
    for result in per_seed:
        result["stored"] = stored.get(result["seed"])
    summary = compare(per_seed)
    platforms = sorted({seed["stored"]["platform"] or "?" for seed in per_seed
                        if seed["stored"] is not None})
    header = (
        f"# Fig. 5's first prune on the net `NetTrain` would return with a validation set\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}`{probe.momentum_note}; seeds 0–{args.seeds - 1}, each trained again "
        f"as cutoff-pruning trains it, the validation set (MNIST's 10,000 test images) checked "
        f"after each of the {protocol.epochs(5000):g} epochs. Variants: `final` (the net at "
        f"the end: what the reproduction prunes), `error-rate` (12.x's rule: the lowest "
        f"validation error rate, ties broken by the lower loss), `loss` (11.x's: the lowest "
        f"validation loss). Paper: 28 nets. "
        + made_by("benchmarks.validation_selection", argv, started)
        + (f" The stored runs were made on {', '.join(platforms)}; this run on "
           f"{platform.platform()}." if platforms else ""))
    write_probe_report(folder, "validation-selection", markdown(per_seed, summary, header), {
        "protocol": args.protocol, "options": options, "seeds": args.seeds, "site": SITE,
        "cutoffs": list(CUTOFFS), "summary": summary, "per_seed": per_seed}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
