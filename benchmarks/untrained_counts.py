"""Exploration: hidden-neuron counts after pruning an *untrained* N4 at 0.1 / 1 / 5 %.

untrained-pruning (paper §5.4) prunes the inputs of an untrained N4 with A1 at p % of the
largest input efficiency, then hidden1 at p % of its largest; the paper keeps 98.93 / 92.2 /
74.8 hidden neurons. No training is involved, so the counts depend only on the data encoding
and the weight initialisation, and each variant takes seconds. This script crosses three
variance rules (Xavier 2/(fan_in+fan_out), Kaiming 2/fan_in, LeCun 1/fan_in), normal and
uniform draws, and four pixel encodings, over a few seeds, to find which setting lands on the
paper's counts. It is how the inverted × ``lecun-normal`` arm of the fidelity study was found
(docs/reproduction/fidelity.md); that arm, run with the experiment itself and 10 seeds, is the
evidence, this is the lead.

Usage::

    python -m benchmarks.untrained_counts --data /path/to/mnist [--seeds 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Sequence

import torch

from neuroplast.cli.common import positive_int
from neuroplast.data import Split, load_mnist
from neuroplast.death import prune
from neuroplast.experiments.definitions.pruning_common import keep_one, paper_cell
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.models.init import get_initialization

PERCENTS = (0.1, 1.0, 5.0)

VARIANCES = ("xavier-normal", "kaiming-normal", "lecun-normal")
"""The variance rules: the stds of these named initialisations (``neuroplast.models.init``),
drawn normal or uniform."""

ENCODINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "standard [0,1]": lambda x: x,
    "inverted [0,1]": lambda x: 1 - x,
    "standard [-1,1]": lambda x: 2 * x - 1,
    "inverted [-1,1]": lambda x: 1 - 2 * x,
}


def initialised(seed: int, variance: str, distribution: str) -> MLP:
    """N4 with zero biases and weights with the std of the initialisation ``variance``, drawn
    from ``distribution`` (normal: :func:`neuroplast.models.initialize` itself)."""
    model = build_mlp("N4")
    if distribution == "normal":
        return initialize(model, seed, variance)
    generator = torch.Generator().manual_seed(seed)
    rule = get_initialization(variance)
    last = len(model.layers) - 1
    with torch.no_grad():
        for index, layer in enumerate(model.layers):
            fan_out, fan_in = layer.weight.shape
            std = rule.std(fan_in, fan_out, None if index == last else model.activation_name)
            # uniform on ±√3·std has standard deviation std
            draw = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * math.sqrt(3)
            layer.weight.copy_(draw * std)
            layer.bias.zero_()
    return model


def counts(split: Split, seed: int, variance: str, distribution: str,
           percent: float) -> tuple[int, int]:
    """(hidden1 width, inputs kept) after untrained-pruning's inputs-then-hidden1 prune."""
    net = initialised(seed, variance, distribution)
    for site in ("input", "hidden1"):
        prune(net, site, split, rule="A1", relative_cutoff=percent / 100,
              max_fraction=keep_one(net.site(site).width))
    return net.site("hidden1").width, net.site("input").width


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.untrained_counts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="MNIST folder")
    parser.add_argument("--seeds", type=positive_int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_mnist(args.data, download=False)
    fig14 = paper_table("fig14")
    paper = {column: " / ".join(str(paper_cell(fig14, column, cut_percent=p).mean)
                                for p in PERCENTS)
             for column in ("hidden_neurons", "input_neurons")}
    print(f"paper: hidden {paper['hidden_neurons']}; inputs {paper['input_neurons']}")
    for encoding, transform in ENCODINGS.items():
        split = Split(transform(data.train.x), data.train.y)
        for variance in VARIANCES:
            for distribution in ("normal", "uniform"):
                hidden = {p: [] for p in PERCENTS}
                inputs = {p: [] for p in PERCENTS}
                for seed in range(args.seeds):
                    for p in PERCENTS:
                        h, i = counts(split, seed, variance, distribution, p)
                        hidden[p].append(h)
                        inputs[p].append(i)
                print(f"{encoding:16s} {variance:15s} {distribution:8s} hidden "
                      + " / ".join(f"{statistics.mean(hidden[p]):5.1f}" for p in PERCENTS)
                      + "   inputs " + " / ".join(f"{statistics.mean(inputs[p]):.0f}"
                                                 for p in PERCENTS), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
