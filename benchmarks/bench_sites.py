"""General sites (issue 12): statistics + E_k of a transformer FFN and a conv site, and the
growth of greedy lstsq pruning with the site's width.

References, timed in the same run (these machines are noisy; DESIGN.md §5):

* **FFN**: ``Linear(d, 4d) → GELU → Linear(4d, d)`` with d = 256 over 64 sequences of 128
  tokens (8,192 rows); reference: one bare forward pass of that FFN over the same batches, no
  gradient. Measured: ``collect_site_statistics`` (float64 streaming mean/variance of the
  1,024 hidden units over every token and of the 256 outputs) + E_k (eq. 28). Goal ≤ 1.5.
* **conv**: ``Conv2d(32, 64, 3, padding=1) → BatchNorm2d → ReLU → Conv2d(64, 64, 3,
  padding=1)`` over 256 images of 16×16 (65,536 rows = images × positions); reference: one
  forward pass of that block. Measured: statistics (with the per-offset means that keep A1's
  compensation exact under zero padding) + E_k. Goal ≤ 1.5.
* **greedy lstsq scaling**: remove half of a Linear → Tanh → Linear site of width n (n from
  128 to 1024, 8n rows of calibration data) with rule lstsq and ``conditional:greedy``; the
  log-log slope of time vs n over the two widest sizes must stay ≤ 3 (O(n³) overall: n/2
  removals of O(n·m + n²) each, plus the statistics' O(rows·n²) covariance).

Run: ``python -m benchmarks.bench_sites [--quick] [--threads 1] [--out
docs/benchmarks/sites.json]`` or through ``python -m benchmarks``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from benchmarks.runner import best_time
from neuroplast.cli.common import positive_int
from neuroplast.death import prune
from neuroplast.efficiency import connection_cut_efficiency
from neuroplast.sites import conv_site, linear_site
from neuroplast.stats import collect_site_statistics


def _stats_and_efficiency(model: nn.Module, site, batches: list[torch.Tensor]) -> torch.Tensor:
    stats = collect_site_statistics(model, site, batches)
    return connection_cut_efficiency(model, site, stats)


def interleaved_best(reference: Callable[[], Any], measured: Callable[[], Any],
                     rounds: int = 7) -> tuple[float, float]:
    """Best seconds of each over ``rounds`` rounds, the two interleaved within each round, so a
    burst of load on this shared machine hits both alike."""
    reference(), measured()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, bucket in ((reference, times[0]), (measured, times[1])):
            started = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - started)
    return min(times[0]), min(times[1])


def _forward(model: nn.Module, batches: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for batch in batches:
            model(batch)


def ffn_row(quick: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    d, sequences, tokens = (128, 16, 64) if quick else (256, 64, 128)
    model = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)).eval()
    site = linear_site("ffn", producer=model[0], consumer=model[2], activation="gelu")
    batches = list(torch.randn(sequences, tokens, d).split(8))  # (8, tokens, d) each
    reference, value = interleaved_best(lambda: _forward(model, batches),
                                        lambda: _stats_and_efficiency(model, site, batches))
    return {"name": f"FFN site statistics + E_k, d={d}, {sequences * tokens:,} tokens",
            "value": value, "unit": "s", "reference": reference,
            "reference_name": "one forward pass of the FFN", "goal": "<= 1.5"}


def conv_row(quick: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    images = 64 if quick else 256
    model = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, padding=1)).eval()
    site = conv_site("conv", producer=model[0], consumer=model[3], between=(model[1],),
                     activation="relu")
    batches = list(torch.randn(images, 32, 16, 16).split(64))
    reference, value = interleaved_best(lambda: _forward(model, batches),
                                        lambda: _stats_and_efficiency(model, site, batches))
    return {"name": f"conv site statistics + E_k, 64 channels, {images * 256:,} positions",
            "value": value, "unit": "s", "reference": reference,
            "reference_name": "one forward pass of the conv block", "goal": "<= 1.5"}


def greedy_seconds(width: int) -> float:
    torch.manual_seed(width)
    model = nn.Sequential(nn.Linear(64, width), nn.Tanh(), nn.Linear(width, 32))
    x = torch.randn(8 * width, 64)

    def once() -> None:
        copy = nn.Sequential(nn.Linear(64, width), nn.Tanh(), nn.Linear(width, 32))
        copy.load_state_dict(model.state_dict())
        site = linear_site("s", producer=copy[0], consumer=copy[2], activation="tanh")
        prune(copy, site, x, rule="lstsq", measure="conditional:greedy", amount=width // 2)

    return best_time(once, repeats=2, min_seconds=0.0)


def run(quick: bool = False) -> dict[str, Any]:
    rows = [ffn_row(quick), conv_row(quick)]
    widths = [128, 256] if quick else [128, 256, 512, 1024]
    seconds = [greedy_seconds(n) for n in widths]
    slope = math.log(seconds[-1] / seconds[-2]) / math.log(widths[-1] / widths[-2])
    rows.append({"name": f"greedy lstsq, half of a width-n site: growth exponent "
                         f"n={widths[-2]}→{widths[-1]}",
                 "value": slope, "unit": "", "reference": None, "ratio": slope,
                 "reference_name": "time ∝ n^ratio", "goal": "<= 3"})
    return {"rows": rows,
            "tables": [{"title": "Greedy lstsq pruning time (half the site removed)",
                        "headers": ["width n", "seconds"],
                        "rows": [[n, f"{s:.4f}"] for n, s in zip(widths, seconds, strict=True)]}],
            "greedy_seconds": dict(zip(widths, seconds, strict=True))}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    from pathlib import Path

    from benchmarks.runner import machine_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=positive_int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run(args.quick) | {"machine": machine_description()}
    text = json.dumps(result, indent=2, default=str)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n")
        for row in result["rows"]:
            ratio = row.get("ratio") or row["value"] / row["reference"]
            print(f"{row['name']}: {ratio:.3f} (goal {row['goal']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
