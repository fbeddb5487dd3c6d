"""``neuroplast evaluate``: size and accuracy of a saved model."""

from __future__ import annotations

import argparse
import json

from neuroplast.cli.common import (
    add_data_arguments,
    check_encoding,
    check_loaded_model,
    check_mnist_model,
    load_data,
)
from neuroplast.models import count_macs, count_parameters, load_model
from neuroplast.train import evaluate_splits
from neuroplast.train.report import format_metrics


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="size, loss and accuracy of a saved model",
                       description="Print widths, parameters, MACs, train and test accuracy.")
    p.add_argument("model", help="a model file written by neuroplast")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_data_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, metadata = load_model(args.model)
    check_mnist_model(model)
    check_loaded_model(model, args.model)
    check_encoding(args, metadata, args.model)
    dataset = load_data(args)
    metrics = evaluate_splits(model, dataset.train, dataset.test)
    sizes = {"train": dataset.train.n, "test": dataset.test.n}
    if args.json:
        print(json.dumps({"widths": model.widths, "parameters": count_parameters(model),
                          "macs": count_macs(model), **metrics,
                          **{f"{split}_images": n for split, n in sizes.items()}}, indent=2))
    else:
        print(format_metrics(model, metrics, split_sizes=sizes))
    return 0
