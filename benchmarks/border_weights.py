"""What decides whether eq. 69 and NNSP(2) remove the border of a trained net on inverted
MNIST: the border pixels' first-layer weight norms, before and after training (paper §5.5,
Fig. 18, Fig. 20 right, claim 17c; REFERENCE eqs 59 and 69).

The paper's trained nets lose their border to the weight-only criterion of eq. 69,
S²_k = Σ_i (w_ik)² < 0.1 · max_k S²_k ("training shrinks the border weights"), and NNSP at
level 2 (σ̂²_k = Σ_i Var((x²_i)²) (w_ik)², eq. 59, below 0.1 · max) keeps 643 ± 11 of the 784
inputs; the reproduction's nets (Kaiming-normal) keep all 784 under eq. 69 and 782 under
NNSP(2) under ``medium``. A border pixel is 1 in every inverted image, so its weights receive
the hidden bias's gradient: training moves them together, and only the L2 term shrinks their
spread around that common shift, by exp(−lr·λ·steps) = exp(−0.5) under every protocol of
``neuroplast.train.protocols`` (lr × steps is fixed; the ``full-*`` L2 forms double λ). A
border pixel's norm after training is therefore about its initial norm × e^(−1) plus the
common shift's part — set by the initialisation's variance — while the centre's norms are set
by learning. This probe measures it on one arm's base N4s (the trained cache's, as
:mod:`benchmarks.cutoff_readings` uses): per seed, the median squared norm S²_k of the border's
and of the centre's pixels (:mod:`neuroplast.experiments.definitions.pixel_regions`' regions)
at initialisation and after training, the largest, and the inputs eq. 69 and NNSP(2) keep
(0.1 · max, as vs-nnsp prunes) with the share of the border each removes.

Usage::

    python -m benchmarks.border_weights --protocol medium --invert --init lecun-normal \\
        --l2 half-weights --seeds 4 --out OUT [--data DIR] [--trained-cache DIR]

Writes ``OUT/<protocol>[-options]/border-weights.{json,md}``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch

from benchmarks.run_arguments import arm_probe, made_by, write_probe_report

RELATIVE_CUTOFF = 0.1
"""Both criteria remove an input scoring below 0.1 · the largest score (Fig. 18, Fig. 20 right)."""

NNSP_LEVEL = 2
"""The tanh outputs of the first hidden layer (Fig. 17's numbering)."""

QUANTITIES = {
    "border_norm_untrained": "border: median S²_k at initialisation",
    "border_norm": "border: median S²_k after training",
    "border_shrink": "border: trained / initial median S²_k",
    "centre_norm": "centre: median S²_k after training",
    "max_norm": "largest S²_k after training",
    "border_to_max": "border median / largest S²_k (eq. 69 removes below 0.1)",
    "eq69_kept": "inputs eq. 69 keeps (0.1 · max)",
    "eq69_border_removed": "share of the border eq. 69 removes",
    "nnsp2_kept": "inputs NNSP(2) keeps (0.1 · max)",
    "nnsp2_border_removed": "share of the border NNSP(2) removes",
}
"""Reported per seed, then as mean ± s.e. over seeds."""

PAPER_NNSP2_KEPT = "NNSP(2)"
"""The row of the paper's Fig. 18 table (vs-nnsp) whose remaining-input count is compared."""


def squared_norms(model: Any) -> torch.Tensor:
    """S²_k = Σ_i (w_ik)² over the first layer's weights (eq. 69): (784,) float64."""
    return (model.layers[0].weight.detach().to(torch.float64) ** 2).sum(dim=0)


def kept_below(scores: torch.Tensor) -> torch.Tensor:
    """The inputs whose score is not below ``RELATIVE_CUTOFF`` · max: (784,) bool."""
    return scores >= RELATIVE_CUTOFF * scores.max()


def seed_row(untrained: Any, trained: Any, x: torch.Tensor) -> dict[str, float]:
    """The :data:`QUANTITIES` of one seed: ``untrained`` and ``trained`` are the same N4 before
    and after training; ``x`` the training inputs NNSP's variances are taken over."""
    from neuroplast.efficiency.baselines.nnsp import nnsp_efficiency
    from neuroplast.experiments.definitions.pixel_regions import region_masks, removal_rates

    border, centre = (mask.flatten() for mask in region_masks())
    before, after = squared_norms(untrained), squared_norms(trained)
    border_before, border_after = float(before[border].median()), float(after[border].median())
    eq69 = kept_below(after)
    nnsp2 = kept_below(nnsp_efficiency(trained, "input", x, NNSP_LEVEL))
    return {
        "border_norm_untrained": border_before,
        "border_norm": border_after,
        "border_shrink": border_after / border_before,
        "centre_norm": float(after[centre].median()),
        "max_norm": float(after.max()),
        "border_to_max": border_after / float(after.max()),
        "eq69_kept": int(eq69.sum()),
        "eq69_border_removed": removal_rates(eq69.nonzero().flatten())[0],
        "nnsp2_kept": int(nnsp2.sum()),
        "nnsp2_border_removed": removal_rates(nnsp2.nonzero().flatten())[0],
    }


def paper_nnsp2_kept() -> tuple[float, float]:
    """The paper's remaining-input count for NNSP(2) (Fig. 18): (mean, s.e.)."""
    from neuroplast.experiments.paper_tables import paper_table

    for row in paper_table("fig18").rows:
        if row["algorithm"].text == PAPER_NNSP2_KEPT:
            value = row["remaining_inputs"]
            return float(value.mean), float(value.error)
    raise KeyError(PAPER_NNSP2_KEPT)


def decay_only(learning_rate: float, weight_decay: float, steps: int) -> float:
    """What the L2 term alone leaves of a squared norm after ``steps`` SGD steps, each
    multiplying a weight by (1 − lr · weight_decay): ≈ exp(−2 · lr · weight_decay · steps)."""
    return (1.0 - learning_rate * weight_decay) ** (2 * steps)


def markdown(per_seed: Sequence[dict[str, float]], header: str) -> str:
    """The report: one row per quantity, the seeds' values and their mean ± s.e."""
    from neuroplast.experiments.stats_summary import summarize

    lines = [header, "", "| quantity | " + " | ".join(f"seed {s}" for s in range(len(per_seed)))
             + " | mean ± s.e. |", "|---" * (len(per_seed) + 2) + "|"]
    for key, label in QUANTITIES.items():
        values = [row[key] for row in per_seed]
        summary = summarize(values)
        digits = 0 if key.endswith("_kept") else 4
        cells = " | ".join(f"{v:.{digits}f}" for v in values)
        spread = f"{summary.mean:.{max(digits, 1)}f} ± {summary.se:.{max(digits, 1)}f}" \
            if len(values) > 1 else "—"
        lines.append(f"| {label} | {cells} | {spread} |")
    paper_mean, paper_se = paper_nnsp2_kept()
    lines += ["", f"Paper (Fig. 18, 28 nets, `paper` protocol on inverted MNIST): NNSP(2) keeps "
              f"{paper_mean:g} ± {paper_se:g} inputs; eq. 69 removes the border (Fig. 20 right, "
              f"pixel map only)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure one arm's base nets; write the JSON and markdown reports."""
    from neuroplast.experiments.options import encoding_name
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import restrict

    probe = arm_probe("python -m benchmarks.border_weights", __doc__.split("\n\n")[0], argv)
    args, options, folder = probe.args, probe.options, probe.folder
    protocol, dataset = probe.protocol, probe.dataset
    x = restrict(dataset.train, protocol).x
    steps = round(protocol.epochs(5000) * math.ceil(x.shape[0] / protocol.batch_size))
    l2_alone = decay_only(protocol.learning_rate, protocol.weight_decay, steps)
    started = time.perf_counter()
    per_seed, bases = [], []
    for seed, model, base in probe.base_nets():
        bases.append(base)
        per_seed.append(seed_row(initialize(build_mlp("N4"), seed, args.init), model, x))
        print(f"[border-weights] seed {seed} done", file=sys.stderr)
    header = (
        f"# The border's first-layer weights, eq. 69 and NNSP(2)\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}`{probe.momentum_note}; seeds 0–{args.seeds - 1} "
        f"(the trained cache's base N4s, 5000 paper "
        f"epochs; {sum(b['from_cache'] for b in bases)} of {args.seeds} loaded from it; "
        f"training accuracies "
        + ", ".join(f"{b['train_accuracy']:.4f}" for b in bases) + "). S²_k = Σ_i (w_ik)², "
        f"the squared norm of input k's first-layer weights (eq. 69); border: the 4-pixel "
        f"frame, centre: the central 12 × 12. The L2 term alone leaves {l2_alone:.4f} of a "
        f"squared norm over the training's {steps} steps (lr {protocol.learning_rate:g}, "
        f"weight decay {protocol.weight_decay:g}). "
        + made_by("benchmarks.border_weights", argv, started))
    write_probe_report(folder, "border-weights", markdown(per_seed, header), {
        "protocol": args.protocol, "options": options, "seeds": args.seeds,
        "relative_cutoff": RELATIVE_CUTOFF, "nnsp_level": NNSP_LEVEL, "base_nets": bases,
        "steps": steps, "l2_alone": l2_alone,
        "per_seed": per_seed}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
