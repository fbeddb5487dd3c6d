"""The table of the cached zoo models: one row per (model, seed), from their ``meta.json``.

    python -m benchmarks.architectures.table [--cache DIR] [--out FILE.json]

prints a Markdown table (parameters, metrics, training wall and CPU time, machine load) and,
with ``--out``, writes the rows as JSON — the small results table that is committed (the
weights never are).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.architectures.build import MODELS
from benchmarks.runner import format_markdown_table
from neuroplast.zoo import cache as zoo_cache


def rows(cache: Path | None = None, *, quick: bool = False) -> list[dict[str, Any]]:
    """One row per cached entry of :data:`MODELS` by model and seed (``quick``: the
    ``<model>-quick`` entries of smoke runs instead)."""
    out = []
    for model in (f"{m}-quick" for m in MODELS) if quick else MODELS:
        folder = zoo_cache.cache_dir(cache) / model
        seeds = sorted(int(p.name[4:]) for p in folder.glob("seed*") if p.name[4:].isdigit())
        for seed in seeds:
            if not zoo_cache.is_cached(model, seed, cache):
                continue
            meta = zoo_cache.read_meta(model, seed, cache)
            metrics, seconds = meta["metrics"], meta["seconds"]
            row: dict[str, Any] = {
                "model": model, "seed": seed, "parameters": meta["n_parameters"],
                "steps": meta["steps"], "train_seconds": seconds["train"],
                "train_cpu_seconds": seconds.get("train_cpu"),
                "load_average": meta.get("machine", {}).get("load_average_1_5_15_min"),
                "threads": meta["recipe"]["threads"],
            }
            if "test" in metrics:
                row |= {"train_accuracy": metrics["train"]["accuracy"],
                        "validation_accuracy": metrics["validation"]["accuracy"],
                        "validation_loss": metrics["validation"]["loss"],
                        "test_accuracy": metrics["test"]["accuracy"]}
            else:
                row |= {"validation_loss": metrics["validation"]["loss"],
                        "validation_bits_per_byte": metrics["validation"]["bits_per_byte"],
                        "final_train_loss": metrics["final_train_loss"],
                        "tokens_seen": meta["tokens_seen"],
                        "corpus_sha256": meta["data"]["fingerprint_sha256"],
                        "corpus_bytes": [meta["data"]["train_bytes"],
                                         meta["data"]["validation_bytes"]]}
            out.append(row)
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (the columns every row shares, then the metrics)."""
    headers = ["model", "seed", "parameters", "steps", "metric", "train s (wall / CPU)"]

    def metric(r: dict[str, Any]) -> str:
        if "test_accuracy" in r:
            return (f"train {r['train_accuracy']:.4f}, val {r['validation_accuracy']:.4f}, "
                    f"test {r['test_accuracy']:.4f}")
        return (f"val {r['validation_loss']:.4f} nats/byte = "
                f"{r['validation_bits_per_byte']:.4f} bits/byte")

    body = [[r["model"], r["seed"], r["parameters"], r["steps"], metric(r),
             f"{r['train_seconds']:.0f} / {r['train_cpu_seconds'] or float('nan'):.0f}"]
            for r in table]
    return format_markdown_table(headers, body)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.architectures.table")
    p.add_argument("--cache", type=Path, default=None, help="the zoo cache folder")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    p.add_argument("--quick", action="store_true", help="the smoke runs' entries")
    args = p.parse_args(argv)
    table = rows(args.cache, quick=args.quick)
    print(markdown(table))
    if args.out is not None:
        args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
