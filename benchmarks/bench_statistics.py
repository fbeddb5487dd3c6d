"""Statistics and oracle benchmark (DESIGN.md §5): cost as a multiple of one forward pass.

N4 (784 → 100 → 5 → 10), **freshly initialised** (Xavier, seed 0; the cost of every measured
step does not depend on the weights' values, so no training is spent; ``--model FILE`` times a
saved model instead), on all 60,000 MNIST training images (the first 10,000 with ``--quick``).

Reference: one bare forward pass of the layers involved in ``hidden1``'s statistics —
``tanh(layers[1](tanh(layers[0](x))))`` in chunks of 10,000 images (the chunking
``collect_site_statistics`` uses), no gradient. Measured:

* statistics of ``hidden1`` (float64 streaming mean and variance of the 100 neurons and of the
  5 consumer outputs, via a forward hook) + E_k (eq. 28). Budget: ≤ 1.5 forward passes. The
  paper: 1.5–1.7 s per pruning in Mathematica.
* the exact oracle: Δ training loss and accuracy of removing each of the 100 neurons alone with
  A1, on all images (:func:`neuroplast.oracle.loss_change_oracle`; it caches the site values
  and the consumer pre-activation and re-evaluates only the 5 → 10 layers per neuron).
  Informational ("about the time of a few forward passes").
* statistics with the full covariance + E'_k (eq. 17), informational.

Each figure is the median of several interleaved repeats (these machines are shared and noisy;
the minimum is kept in the raw timings). Run: ``python -m benchmarks.bench_statistics
[--quick] [--threads 1] [--out docs/benchmarks/statistics.json]``; on a shared 2-core machine
``--threads 1`` avoids OpenMP stalls, which hit the many small element-wise passes of the
statistics and the oracle far harder than the forward pass's one large matrix product.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.runner import REPO_ROOT, load_benchmark_mnist, machine_description
from neuroplast.cli.common import positive_int
from neuroplast.data import Split
from neuroplast.efficiency import connection_cut_efficiency, covariance_efficiency
from neuroplast.models import MLP, build_mlp, initialize, load_model
from neuroplast.oracle import loss_change_oracle
from neuroplast.stats import collect_site_statistics

SITE = "hidden1"
CHUNK = 10_000
DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks" / "statistics.json"


def median_times(tasks: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each task over ``repeats`` rounds, the tasks interleaved within each round."""
    for task in tasks.values():  # warm-up: allocator, thread pool, lazy initialisation
        task()
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            started = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - started)
    return times


def run(quick: bool = False, model_path: str | None = None) -> dict[str, Any]:
    """Time forward pass, statistics + E_k, the A1 oracle and covariance + E'_k on N4."""
    dataset = load_benchmark_mnist()
    n_images = 10_000 if quick else dataset.train.n
    split = Split(dataset.train.x[:n_images], dataset.train.y[:n_images])
    if model_path is None:
        model: MLP = initialize(build_mlp("N4"), seed=0)
        model_text = "N4, freshly initialised (seed 0)"
    else:
        model, _ = load_model(model_path)
        model_text = f"model {model_path}"
    model.eval()
    repeats = 3 if quick else 7
    first, second = model.layers[0], model.layers[1]
    activation = model.activation.fn

    def forward() -> None:
        with torch.no_grad():
            for chunk in split.x.split(CHUNK):
                activation(second(activation(first(chunk))))

    def statistics_and_e_k() -> None:
        stats = collect_site_statistics(model, SITE, split.x, batch_size=CHUNK)
        connection_cut_efficiency(model, SITE, stats)

    def covariance_and_e_prime() -> None:
        stats = collect_site_statistics(model, SITE, split.x, batch_size=CHUNK, covariance=True)
        covariance_efficiency(stats.cov)

    oracle_stats = collect_site_statistics(model, SITE, split.x, batch_size=CHUNK)

    def oracle() -> None:
        loss_change_oracle(model, SITE, split, "A1", stats=oracle_stats, batch_size=CHUNK)

    times = median_times({"forward": forward, "statistics_e_k": statistics_and_e_k,
                          "oracle_a1": oracle, "covariance_e_prime": covariance_and_e_prime},
                         repeats)
    median = {name: statistics.median(values) for name, values in times.items()}
    reference = median["forward"]
    reference_name = (f"bare forward of layers[0..1] + tanh, {n_images:,} images, chunks of "
                      f"{CHUNK:,}")
    width = model.site(SITE).width

    def row(name: str, key: str, goal: str | None, note: str) -> dict[str, Any]:
        return {"name": name, "value": median[key], "unit": "s", "reference": reference,
                "reference_name": reference_name, "ratio": median[key] / reference,
                "goal": goal, "note": note}

    rows = [
        row(f"statistics + E_k, {SITE} of N4, {n_images:,} images", "statistics_e_k", "<= 1.5",
            "float64 streaming mean/variance of 100 neurons and 5 consumer outputs, eq. 28"),
        row(f"exact oracle, all {width} neurons of {SITE}, A1, {n_images:,} images", "oracle_a1",
            None, "delta loss and accuracy per neuron; statistics given"),
        row(f"statistics with covariance + E'_k, {SITE}, {n_images:,} images",
            "covariance_e_prime", None, "full 100 x 100 covariance and eigen-decomposition"),
    ]
    return {
        "rows": rows,
        "model": model_text,
        "images": n_images,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "timings_s": times,
        "median_s": median,
        "min_s": {name: min(values) for name, values in times.items()},
        "notes": [
            f"{model_text}; medians of {repeats} interleaved repeats with "
            f"{torch.get_num_threads()} torch thread(s).",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 images, 3 repeats")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads")
    parser.add_argument("--model", default=None, help="time this saved model instead of N4")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON file ({DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run(args.quick, model_path=args.model)
    result["machine"] = machine_description()
    for r in result["rows"]:
        goal = f"  (goal {r['goal']})" if r["goal"] else ""
        print(f"{r['name']}: {r['value']:.3f} s = {r['ratio']:.2f} x forward "
              f"({r['reference']:.3f} s){goal}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
