"""What a replicated neuron's optimizer state should start from: its parent's, or the zeros a
fresh optimizer gives a new parameter? Measured on training that goes on after the replication.

A small tanh MLP (784 → 20 → 10) is trained on 6,000 MNIST images (batch 100) with Adam or SGD
with momentum; after 600 steps the 5 most efficient hidden neurons are split (B1 or B3,
:func:`neuroplast.replicate`) and training goes on for 500 steps. Three arms share every draw
(initialisation, batches, χ): no replication (B5), children whose optimizer state is zeros
(``zeros``: the values a fresh optimizer gives a new parameter, the library's choice; in a
running Adam not a fresh Adam's start, whose bias correction follows the shared step count),
children whose state is a copy of their parent's (``parent``). The
arms' full-set training loss and test accuracy are read 1, 10, 50, 200 and 500 steps after the
replication and given as paired differences against B5, mean ± s.e. over the seeds.

Run: ``python -m benchmarks.child_state --data DIR --seeds 10 --out docs/benchmarks``
(≈ 3 min on one core); writes ``child-state.json`` and ``child-state.md``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import neuroplast
from neuroplast.data import load_mnist

TRAIN_IMAGES = 6000
BATCH = 100
STEPS_BEFORE = 600
READ_AFTER = (1, 10, 50, 200, 500)
CHILDREN = 5
OPTIMIZERS = {
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "sgd-momentum": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
}
"""The optimizers compared, each with a learning rate that trains this net steadily."""
ARMS = ("none", "zeros", "parent")


def _batches(seed: int) -> Iterator[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(TRAIN_IMAGES, generator=generator)
        yield from order.split(BATCH)


def _set_children_state(optimizer: torch.optim.Optimizer, model: nn.Sequential,
                        children: torch.Tensor, parents: torch.Tensor, arm: str) -> None:
    """Write the children's entries of every per-entry state: 0 (``zeros``) or the parents'."""
    for param, dim in ((model[0].weight, 0), (model[0].bias, 0), (model[2].weight, 1)):
        for value in optimizer.state[param].values():
            if value.dim() == 0:
                continue
            source = torch.zeros_like(value.index_select(dim, parents)) if arm == "zeros" \
                else value.index_select(dim, parents)
            value.index_copy_(dim, children, source)


def run(seed: int, optimizer_name: str, method: str, arm: str,
        train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]
        ) -> list[dict[str, float]]:
    """One arm on one seed: the readings after the replication."""
    x, y = train
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 20), nn.Tanh(), nn.Linear(20, 10))
    optimizer = OPTIMIZERS[optimizer_name](model.parameters())
    batches = _batches(seed)

    def step() -> None:
        index = next(batches)
        optimizer.zero_grad()
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()

    for _ in range(STEPS_BEFORE):
        step()
    if arm != "none":
        site = neuroplast.find_sites(model, x[:2])[0]
        result = neuroplast.replicate(model, site, [(x, y)], n=CHILDREN, method=method,
                                      seed=seed, optimizer=optimizer)
        _set_children_state(optimizer, model, result.children, result.parents, arm)
    readings = []
    for k in range(1, max(READ_AFTER) + 1):
        step()
        if k in READ_AFTER:
            with torch.no_grad():
                loss = F.cross_entropy(model(x), y).item()
                accuracy = (model(test[0]).argmax(1) == test[1]).float().mean().item()
            readings.append({"steps": k, "train_loss": loss, "test_accuracy": accuracy})
    return readings


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
    return mean, math.sqrt(var / n)


def table(records: dict[str, Any]) -> str:
    lines = ["| optimizer | method | arm | " + " | ".join(
        f"Δ loss after {k}" for k in READ_AFTER) + " | Δ test accuracy after 500 |",
        "|---" * (4 + len(READ_AFTER)) + "|"]
    for key, by_arm in records["runs"].items():
        optimizer_name, method = key.split("/")
        base = by_arm["none"]
        for arm in ("zeros", "parent"):
            cells = []
            for i in range(len(READ_AFTER)):
                m, se = _mean_se([r[i]["train_loss"] - b[i]["train_loss"]
                                  for r, b in zip(by_arm[arm], base, strict=True)])
                cells.append(f"{m:+.4f} ± {se:.4f}")
            m, se = _mean_se([r[-1]["test_accuracy"] - b[-1]["test_accuracy"]
                              for r, b in zip(by_arm[arm], base, strict=True)])
            lines.append(f"| {optimizer_name} | {method} | {arm} | " + " | ".join(cells)
                         + f" | {m:+.4f} ± {se:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory holding the MNIST files")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (the table gives standard errors)")
    torch.set_num_threads(1)
    dataset = load_mnist(args.data)
    train = (dataset.train.x[:TRAIN_IMAGES], dataset.train.y[:TRAIN_IMAGES])
    test = (dataset.test.x, dataset.test.y)
    records: dict[str, Any] = {
        "setup": {"widths": [784, 20, 10], "activation": "tanh", "train_images": TRAIN_IMAGES,
                  "batch": BATCH, "steps_before": STEPS_BEFORE, "children": CHILDREN,
                  "read_after": list(READ_AFTER), "seeds": args.seeds,
                  "optimizers": {"adam": "Adam lr 1e-3",
                                 "sgd-momentum": "SGD lr 0.05 momentum 0.9"}},
        "runs": {}}
    for optimizer_name in OPTIMIZERS:
        for method in ("B1", "B3"):
            records["runs"][f"{optimizer_name}/{method}"] = {
                arm: [run(seed, optimizer_name, method, arm, train, test)
                      for seed in range(args.seeds)] for arm in ARMS}
            print(f"[child-state] {optimizer_name} {method} done", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "child-state.json").write_text(json.dumps(records, indent=1) + "\n")
    text = (f"# A replicated neuron's optimizer state: zeros or its parent's\n\n"
            f"Generated by `python -m benchmarks.child_state --data DIR --seeds {args.seeds} "
            f"--out {args.out}` (module docstring: the setup). Paired differences from the "
            f"arm without replication (B5), mean ± s.e. over {args.seeds} seeds; loss on the "
            f"{TRAIN_IMAGES} training images, accuracy on the 10,000 test images.\n\n"
            + table(records) + "\n")
    (args.out / "child-state.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
