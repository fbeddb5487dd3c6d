"""Re-wiring rules at equal width: training accuracy after pruning N4's hidden1 to K neurons.

For each seed, N4 (784 → 100 → 5 → 10) is trained with the fast protocol (5000 paper epochs,
all 60,000 training images), then copies of it are pruned to ``--keep`` hidden1 neurons
(``amount = 100 − keep``, no retraining) with each (rule, measure) pair below, and the
training and test accuracies are recorded. The headline is **A1 vs none on the same neurons**
(both ranked by E_k, eq. 28): the only difference is the bias compensation x_l → ⟨x_l⟩.

Printed: mean ± standard error over seeds of every pair's accuracy, and the mean ± s.e. of the
paired difference A1 − none. With ``--out`` every finished seed is stored at once (a killed run
resumes without redoing seeds) and ``--models DIR`` keeps the trained nets for reuse.

Usage::

    python -m benchmarks.compare_rules_at_width --seeds 0 1 2 3 4 --threads 1 \\
        --models ~/.cache/neuroplast/n4-fast --out docs/benchmarks/rules_at_width.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.runner import load_benchmark_mnist, trained_n4
from neuroplast.cli.common import positive_int
from neuroplast.data import data_fingerprint
from neuroplast.death import prune
from neuroplast.experiments.definitions.frontier_tables import mean_se
from neuroplast.train import evaluate
from neuroplast.train.report import format_table

PAIRS = (
    ("A1", "connection"),
    ("none", "connection"),
    ("A2", "connection"),
    ("lstsq", "connection"),
    ("A3", "covariance"),
    ("lstsq", "covariance"),
    ("none", "covariance"),
)
"""(rule, measure): A1/A2/none/lstsq on the E_k ranking, A3/lstsq/none on the E'_k ranking."""


def run_seed(dataset, seed: int, keep: int, paper_epochs: float, models: Path | None,
             ) -> dict[str, Any]:
    """Train (or load) one N4 and prune copies of it with every pair."""
    cache = None if models is None else models / f"n4-fast-{paper_epochs:g}-seed{seed}.pt"
    model, train_seconds = trained_n4(dataset.train, seed=seed, paper_epochs=paper_epochs,
                                      cache=cache)
    trained = evaluate(model, dataset.train)
    record: dict[str, Any] = {"seed": seed, "train_seconds": train_seconds,
                              "trained_train_accuracy": trained.accuracy,
                              "trained_test_accuracy": evaluate(model, dataset.test).accuracy,
                              "pairs": {}}
    width = model.site("hidden1").width
    for rule, measure in PAIRS:
        pruned = copy.deepcopy(model)
        result = prune(pruned, "hidden1", dataset.train, rule=rule, measure=measure,
                       amount=width - keep)
        on_train = evaluate(pruned, dataset.train)
        record["pairs"][f"{rule}/{measure}"] = {
            "train_accuracy": on_train.accuracy, "train_loss": on_train.loss,
            "test_accuracy": evaluate(pruned, dataset.test).accuracy,
            "width": pruned.site("hidden1").width, "seconds": result.seconds,
            "removed": list(result.removed),
        }
    return record


def summarise(records: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The table (text) and the summary numbers."""
    rows, summary = [], {}
    trained = mean_se([r["trained_train_accuracy"] for r in records])
    rows.append(["trained (100 neurons)", "-", f"{trained[0]:.4f} ± {trained[1]:.4f}",
                 "-", "-"])
    for rule, measure in PAIRS:
        key = f"{rule}/{measure}"
        train_acc = mean_se([r["pairs"][key]["train_accuracy"] for r in records])
        test_acc = mean_se([r["pairs"][key]["test_accuracy"] for r in records])
        loss = mean_se([r["pairs"][key]["train_loss"] for r in records])
        summary[key] = {"train_accuracy": train_acc, "test_accuracy": test_acc,
                        "train_loss": loss}
        rows.append([rule, measure, f"{train_acc[0]:.4f} ± {train_acc[1]:.4f}",
                     f"{test_acc[0]:.4f} ± {test_acc[1]:.4f}", f"{loss[0]:.4f} ± {loss[1]:.4f}"])
    difference = mean_se([r["pairs"]["A1/connection"]["train_accuracy"]
                          - r["pairs"]["none/connection"]["train_accuracy"] for r in records])
    summary["A1 - none (paired, train accuracy)"] = difference
    table = format_table(["rule", "measure", "train acc", "test acc", "train loss"], rows)
    text = (f"{table}\n\nA1 − none, paired over {len(records)} seeds (same neurons removed): "
            f"train accuracy {difference[0]:+.4f} ± {difference[1]:.4f}")
    return text, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--keep", type=int, default=40,
                        help="hidden1 neurons kept, 1 to 99 (default 40)")
    parser.add_argument("--paper-epochs", type=float, default=5000.0)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads")
    parser.add_argument("--models", type=Path, default=None,
                        help="folder to keep trained nets in (reused when present)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON file of per-seed results (resumed when present)")
    args = parser.parse_args()
    if not 1 <= args.keep <= 99:
        parser.error(f"--keep {args.keep}: N4's hidden1 has 100 neurons; keep 1 to 99")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.models is not None:
        args.models.mkdir(parents=True, exist_ok=True)
    dataset = load_benchmark_mnist()
    stored: dict[str, Any] = {"keep": args.keep, "paper_epochs": args.paper_epochs,
                              "protocol": "fast", "data": dataset.source,
                              "data_fingerprint": data_fingerprint(dataset), "seeds": {}}
    if args.out is not None and args.out.is_file():
        previous = json.loads(args.out.read_text())
        # the data by content (files stored before the fingerprint was recorded: not checked)
        keys = ["keep", "paper_epochs"] + (["data_fingerprint"]
                                           if "data_fingerprint" in previous else [])
        setting = {key: previous.get(key) for key in keys}
        if setting != {key: stored[key] for key in keys}:
            parser.error(f"--out {args.out} holds results of {setting}, not of this run's "
                         f"{ {key: stored[key] for key in keys} }; give another --out (it is "
                         "not overwritten)")
        stored = previous | {"data_fingerprint": stored["data_fingerprint"]}
    for seed in args.seeds:
        if str(seed) in stored["seeds"]:
            continue
        started = time.perf_counter()
        stored["seeds"][str(seed)] = run_seed(dataset, seed, args.keep, args.paper_epochs,
                                              args.models)
        print(f"seed {seed}: {time.perf_counter() - started:.1f} s", flush=True)
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(stored, indent=1) + "\n")
    records = [stored["seeds"][str(s)] for s in args.seeds]
    text, summary = summarise(records)
    print(f"N4, fast protocol, {args.paper_epochs:g} paper epochs, hidden1 pruned to {args.keep} "
          f"neurons, no retraining; seeds {args.seeds}; {dataset.source}")
    print(text)
    if args.out is not None:
        stored["summary"] = summary | {"seeds_used": args.seeds}
        args.out.write_text(json.dumps(stored, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
