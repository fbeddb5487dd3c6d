"""Would fused element-wise kernels lift the fused step to 0.8 of its all-GEMM ceiling?

``python -m benchmarks.compile_probe [--architecture N1] [--steps 100] [--repeats 3]``

The training benchmark (:mod:`benchmarks.bench_training`) shows that for N1 even the least
element-wise work found for a step of *separate* PyTorch kernels leaves it below 0.8 of the
ceiling. ``torch.compile`` (inductor, default mode, which writes C++ loops that fuse
element-wise work) is the one tool at hand that removes separate kernels; this probe times
the same fused plain-SGD step (:meth:`neuroplast.train.fused.FusedMLP.sgd_step`) of 28 nets
eagerly and compiled, on one shuffled order of real MNIST batches, beside the step's all-GEMM
ceiling timed in the same run, and prints the three (best of ``--repeats`` alternating rounds;
redirect the output to keep it: docs/benchmarks/compile-probe.txt). Measured only: the
library does not compile its step (it would need a C++ compiler at run time and compile anew
for every new set of shapes; README "Benchmarks").

Needs a C++ compiler for inductor; says so, before any timing, when compiling fails.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--architecture`` (N1–N4), ``--steps``, ``--repeats``; bad values exit with a message
    before any work."""
    from neuroplast.cli.common import positive_int
    from neuroplast.models import PRESETS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.compile_probe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--architecture", default="N1", choices=[p for p in PRESETS
                                                                  if p.startswith("N")])
    parser.add_argument("--steps", type=positive_int, default=100,
                        help="SGD steps per timed round (default 100)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="alternating eager/compiled rounds; the best of each is kept")
    return parser.parse_args(argv)


def timed_steps(step: Callable[[torch.Tensor, torch.Tensor], Any], x_all: torch.Tensor,
                y_all: torch.Tensor, order: torch.Tensor, steps: int, batch: int) -> float:
    """Seconds per step of ``step`` over ``steps`` consecutive batches of ``order``."""
    per_epoch = x_all.shape[0] // batch
    started = time.perf_counter()
    for i in range(steps):
        index = order[(i % per_epoch) * batch:(i % per_epoch + 1) * batch]
        step(x_all.index_select(0, index), y_all.index_select(0, index))
    return (time.perf_counter() - started) / steps


def main(argv: Sequence[str] | None = None) -> int:
    """Time the step eagerly and compiled beside its ceiling; print the three."""
    args = parse_args(argv)
    from benchmarks.bench_training import DATA_SEED, N_MEMBERS, gemm_ceilings
    from benchmarks.runner import load_benchmark_mnist
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import get_protocol, make_optimizer
    from neuroplast.train.fused import PlainSGD, fuse

    torch.set_num_threads(1)
    protocol = get_protocol("fast")
    data = load_benchmark_mnist().train
    nets = [initialize(build_mlp(args.architecture), seed) for seed in range(N_MEMBERS)]
    fused = fuse(nets)
    sgd = PlainSGD.from_optimizer(make_optimizer(fused, protocol), fused)
    x_all, y_all = data.x.float(), data.y
    order = torch.randperm(data.n, generator=torch.Generator().manual_seed(DATA_SEED))

    def eager(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return fused.sgd_step(x, y, sgd)

    compiled = torch.compile(eager)
    started = time.perf_counter()
    try:
        timed_steps(compiled, x_all, y_all, order, 2, protocol.batch_size)
    except Exception as error:  # inductor's failures have no common type
        raise SystemExit(f"torch.compile failed ({type(error).__name__}: {error}); the probe "
                         "needs a working C++ compiler for inductor") from error
    compile_s = time.perf_counter() - started
    eager_s, compiled_s = float("inf"), float("inf")
    for _ in range(args.repeats):
        eager_s = min(eager_s, timed_steps(eager, x_all, y_all, order, args.steps,
                                           protocol.batch_size))
        compiled_s = min(compiled_s, timed_steps(compiled, x_all, y_all, order, args.steps,
                                                 protocol.batch_size))
    widths = nets[0].widths
    _, ceiling_s = gemm_ceilings(data.x[:protocol.batch_size].contiguous(),
                                 N_MEMBERS * widths[1], widths, N_MEMBERS)
    print(f"{N_MEMBERS} {args.architecture} nets, fused plain-SGD step, batch "
          f"{protocol.batch_size}, 1 thread, {torch.backends.cpu.get_cpu_capability()}; "
          f"compiling took {compile_s:.1f} s")
    for label, seconds in (("eager", eager_s), ("compiled (inductor)", compiled_s),
                           ("all-GEMM ceiling", ceiling_s)):
        print(f"  {label:22s} {seconds * 1e3:7.3f} ms/step   {ceiling_s / seconds:.3f} of the "
              "ceiling")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
