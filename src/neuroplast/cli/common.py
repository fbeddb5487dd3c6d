"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuroplast.data import Dataset, load_mnist, load_mnist_or_embedded
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, load_model
from neuroplast.train import PROTOCOLS


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="directory with the four MNIST IDX files (default: $NEUROPLAST_DATA, "
                             "then the user cache; downloaded when online)")
    parser.add_argument("--invert", action="store_true",
                        help="inverted colours (background 1), as the paper's Mathematica data")


def add_protocol_argument(parser: argparse.ArgumentParser, default: str = "fast") -> None:
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default=default,
                        help=f"training protocol (default {default}): "
                             + "; ".join(f"{p.name}: {p.description}" for p in PROTOCOLS.values()))


def add_output_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--out", metavar="FILE", default=None, required=required,
                        help="write the resulting model here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")


def load_data(args: argparse.Namespace, *, allow_embedded: bool = False) -> Dataset:
    """MNIST as the arguments ask; optionally the embedded copy when no data is found."""
    loader = load_mnist_or_embedded if allow_embedded else load_mnist
    dataset = loader(args.data, invert=args.invert)
    if "embedded" in dataset.source.lower():
        print(f"NOTE: using {dataset.source}", file=sys.stderr)
    return dataset


def check_output(path: str | None, force: bool) -> None:
    """Refuse, before any work, to overwrite a file the user saved."""
    if path is not None and Path(path).exists() and not force:
        raise NeuroplastError(f"{path} already exists; choose another --out or pass --force")


def read_model(path: str) -> tuple[MLP, dict]:
    return load_model(path)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def widths_list(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"widths must be comma-separated integers such as 784,300,100,10, got {text!r}"
        ) from None
    if len(widths) < 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError("give at least two positive widths: inputs,...,outputs")
    return widths
