"""``neuroplast demo``: train N4 with the fast protocol, prune ``hidden1`` with A1, compare."""

from __future__ import annotations

import argparse

from neuroplast.cli.common import (
    add_data_arguments,
    add_threads_argument,
    load_data,
    non_negative_float,
    paper_epoch_count,
    seed_value,
)
from neuroplast.death import prune
from neuroplast.models import build_mlp, count_macs, count_parameters, initialize
from neuroplast.train import evaluate_splits, get_protocol, train
from neuroplast.train.report import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train N4 on MNIST, prune hidden1 with A1, show before/after",
                       description="Train N4 (784-100-5-10, tanh) with the fast protocol, prune "
                                   "its hidden1 layer with A1 (connection cut) and print a "
                                   "before/after table. Runs offline on an embedded copy of "
                                   "part of MNIST when the real files are not found.")
    p.add_argument("--seed", type=seed_value, default=0,
                   help="seed for initialisation and shuffling (0 to 2**63 - 1)")
    p.add_argument("--cutoff", type=non_negative_float, default=0.05,
                   help="A1 efficiency cutoff for hidden1, a number >= 0 (default 0.05)")
    p.add_argument("--no-progress", action="store_true")
    # Hidden: training length in paper epochs (the paper's 5000); tests shorten it.
    p.add_argument("--epochs", type=paper_epoch_count, default=5000.0, help=argparse.SUPPRESS)
    add_data_arguments(p)
    # One thread by default: N4 is small, and the demo must not crawl on a busy machine.
    add_threads_argument(p, default=1)
    p.set_defaults(run=run)


MNIST_TRAIN_SIZE = 60_000


def _row(label, model, metrics, seconds):
    return [label, model.widths[1], count_parameters(model), count_macs(model),
            metrics["train_accuracy"], metrics["test_accuracy"], metrics["train_loss"],
            metrics["test_loss"], f"{seconds:.2f} s"]


def run(args: argparse.Namespace) -> int:
    dataset = load_data(args, allow_embedded=True)
    protocol = get_protocol("fast")
    model = initialize(build_mlp("N4"), args.seed)
    # The same number of SGD steps as on the 60,000 MNIST training images: on the embedded
    # 8,000-image set, 50 epochs would be 700 steps and leave the net under-trained.
    epochs = protocol.epochs(args.epochs) * MNIST_TRAIN_SIZE / dataset.train.n
    print(f"training N4 on {dataset.train.n:,} images ({dataset.source}), protocol fast, "
          f"{epochs:g} epochs, seed {args.seed} ...")
    history = train(model, dataset.train, protocol, epochs=epochs, seed=args.seed,
                    test_split=dataset.test, progress=False if args.no_progress else None)
    rows = [_row("trained", model, history.final, history.final["wall_time_s"])]

    # at most 99 of the 100 neurons, so a short demo run never asks to empty the layer
    result = prune(model, "hidden1", dataset.train, rule="A1", cutoff=args.cutoff,
                   max_fraction=0.99)
    rows.append(_row(f"A1 cutoff {args.cutoff:g}", model,
                     evaluate_splits(model, dataset.train, dataset.test), result.seconds))
    print(format_table(["model", "hidden1", "params", "MACs", "train acc", "test acc",
                        "train loss", "test loss", "time"], rows))
    print(f"removed {result.n_removed} of {result.width_before} hidden1 neurons (efficiency "
          f"E_k < {args.cutoff:g}); time = training, then statistics + E_k + re-wiring + "
          "surgery")
    return 0
