"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from neuroplast.checks import check_seed
from neuroplast.data import (
    IDX_FILE_NAMES,
    DataNotFoundError,
    Dataset,
    default_cache_dir,
    load_mnist,
    load_mnist_or_embedded,
)
from neuroplast.data.datasets import find_file
from neuroplast.errors import NeuroplastError
from neuroplast.files import check_not_empty, check_replaceable_file, check_writable_directory
from neuroplast.models import MLP
from neuroplast.train import PROTOCOLS, Protocol, has_finite_weights, non_finite_message

MNIST_FEATURES = 784
"""Pixels per MNIST image: the first width of every model the CLI trains or evaluates."""
MNIST_CLASSES = 10
"""MNIST classes: the last width of every model the CLI trains or evaluates."""


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="directory with the four MNIST IDX files; only it is read (default: "
                             "$NEUROPLAST_DATA, then the user cache, downloaded there when "
                             "online)")
    parser.add_argument("--invert", action="store_true",
                        help="inverted colours (background 1), as the paper's Mathematica data")


def add_protocol_argument(parser: argparse.ArgumentParser, default: str | None = "fast",
                          shown_default: str | None = None) -> None:
    """``--protocol NAME``; ``shown_default`` says in the help what a ``None`` default means."""
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default=default,
                        help=f"training protocol (default {shown_default or default}): "
                             + "; ".join(f"{p.name}: {p.description}" for p in PROTOCOLS.values()))


def add_threads_argument(parser: argparse.ArgumentParser, default: int | None = None) -> None:
    """``--threads N``: torch's CPU threads while the command runs (``main`` applies it)."""
    shown = "torch's own choice" if default is None else str(default)
    parser.add_argument("--threads", type=thread_count, default=default, metavar="N",
                        help=f"CPU threads for torch (default: {shown}); on a machine other "
                             "processes keep busy, 1 avoids threads waiting for each other")


def add_output_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--out", metavar="FILE", default=None, required=required,
                        help="write the resulting model here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")


def check_data_directory(data: str) -> Path:
    """``--data DIR`` as a directory that holds the four MNIST IDX files (nothing else is
    searched for them once DIR is given: a typo in DIR must not switch to other data).

    Raises:
        NeuroplastError: one line naming what is missing and what to do.
    """
    directory = Path(data).expanduser()
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "no such directory"
        raise NeuroplastError(
            f"--data {data}: {what}; give the directory that holds the four MNIST IDX files, "
            "or leave --data out to use $NEUROPLAST_DATA or the user cache"
        )
    missing = [name for name in IDX_FILE_NAMES if find_file(directory, name) is None]
    if missing:
        raise NeuroplastError(
            f"--data {data} lacks {', '.join(missing)}; put the four MNIST IDX files there, or "
            "leave --data out to use $NEUROPLAST_DATA or the user cache"
        )
    return directory


def load_data(args: argparse.Namespace, *, allow_embedded: bool = False) -> Dataset:
    """MNIST as the arguments ask.

    * ``--data DIR``: exactly that directory is read. It must exist and hold the four IDX files;
      nothing else is searched, nothing is downloaded and the embedded copy is never used
      instead, so a typo in DIR is an error rather than a silent switch to other data.
    * no ``--data``: ``$NEUROPLAST_DATA``, then the user cache, downloading into the user cache
      when online (:func:`neuroplast.data.load_mnist`); with ``allow_embedded`` (the demo) the
      embedded copy when all of that fails, announced on stderr.

    Raises:
        NeuroplastError: one-line messages for a missing directory, missing files or no data.
    """
    if args.data is not None:
        directory = check_data_directory(args.data)
        return load_mnist(directory, download=False, invert=args.invert)
    try:
        if not allow_embedded:
            return load_mnist(None, invert=args.invert)
        with warnings.catch_warnings():  # the NOTE below says it in one line
            warnings.simplefilter("ignore", UserWarning)
            dataset = load_mnist_or_embedded(None, invert=args.invert)
    except DataNotFoundError:
        raise NeuroplastError(
            f"MNIST not found in $NEUROPLAST_DATA or {default_cache_dir('mnist')} and not "
            "downloadable (offline?); pass --data DIR with the four IDX files "
            f"({', '.join(IDX_FILE_NAMES)}) or set NEUROPLAST_DATA"
        ) from None
    if dataset.name == "mnist-embedded":
        print(f"NOTE: MNIST not found; using the {dataset.source}", file=sys.stderr)
    return dataset


FIGURE_TYPES = frozenset({"png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff",
                          "webp"})
"""File types a figure option (``--plot``, ``--pixel-map``) accepts: matplotlib writes each."""


def check_force_has_target(force: bool, **targets: str | None) -> None:
    """Refuse ``--force`` when none of the outputs it would let replace is given (``targets``:
    option name without dashes → its value): it would be accepted and do nothing."""
    if force and all(value is None for value in targets.values()):
        options = " or ".join("--" + name.replace("_", "-") for name in targets)
        raise NeuroplastError(f"--force lets {options} replace an existing file, but no "
                              f"{options} is given, so nothing is written; drop --force or "
                              f"give {options}")


def check_output(path: str | None, force: bool, option: str = "--out",
                 example: str = "model.pt", suffixes: frozenset[str] | None = None) -> None:
    """Refuse, before any work, to overwrite a file the user saved or to write onto a folder.

    ``option`` and ``example`` name the argument in the message (``--plot``, ``fig.png``);
    ``suffixes`` (e.g. :data:`FIGURE_TYPES`) are the file types it may name. The file's
    directory must be writable too (or creatable), so an unwritable location is refused now
    rather than after the training or pruning it would store.
    """
    if path is None:
        return
    check_not_empty(path, option, f"a file name such as {example}")
    target = Path(path)
    if target.is_dir():
        raise NeuroplastError(f"{option} {path} is a directory; give a file name such as {example}")
    check_replaceable_file(target, force, f"{option} {path}",
                           f"choose another {option} or pass --force")
    if suffixes is not None and target.suffix.lower().lstrip(".") not in suffixes:
        raise NeuroplastError(f"{option} {path}: a figure is written as one of "
                              f"{', '.join('.' + s for s in sorted(suffixes))}; give a file name "
                              f"such as {example}")
    check_writable_directory(target.parent, f"{option} {path}")


def check_encoding(args: argparse.Namespace, metadata: dict, path: str) -> None:
    """Refuse, before the data is loaded, MNIST in another encoding than the model was trained
    on: a net trained with ``--invert`` scores ≈ 0.01 on standard images and would be ranked
    and pruned on them. Files record ``invert`` since 2026-12-07; older ones are not checked."""
    recorded = metadata.get("invert")
    if isinstance(recorded, bool) and recorded != bool(getattr(args, "invert", False)):
        trained = "inverted (background 1)" if recorded else "standard"
        advice = "pass --invert" if recorded else "leave out --invert"
        raise NeuroplastError(f"{path} was trained on {trained} MNIST; {advice} so that it "
                              "reads the images it was trained on")


def check_loaded_model(model: MLP, path: str) -> None:
    """Refuse, before the data is loaded, a saved model that cannot be evaluated or changed:
    one whose weights hold NaN or infinity (it came from a diverged training run)."""
    if not has_finite_weights(model):
        raise NeuroplastError(f"{path}: {non_finite_message(model)}")


def training_subset(protocol: Protocol, n_train: int) -> int | None:
    """How many training images ``protocol`` trains on (and measures training metrics on) when
    that is fewer than the ``n_train`` loaded, else None."""
    limit = protocol.max_train_examples
    return limit if limit is not None and limit < n_train else None


def check_mnist_model(model: MLP) -> None:
    """Refuse a model that cannot read MNIST images or predict its ten classes."""
    if model.n_inputs != MNIST_FEATURES or model.widths[-1] != MNIST_CLASSES:
        raise NeuroplastError(
            f"the model has {model.n_inputs} inputs and {model.widths[-1]} outputs; MNIST needs "
            f"{MNIST_FEATURES} inputs and {MNIST_CLASSES} outputs (e.g. --widths 784,100,5,10)"
        )


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


MAX_THREADS = 1024
"""The most CPU threads ``--threads`` asks of torch (100,000 crashed its thread pool)."""


def thread_count(text: str) -> int:
    """An argparse type: a number of threads, 1 to :data:`MAX_THREADS`."""
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"{value} threads is more than torch's thread pool can start; give at most "
            f"{MAX_THREADS} (this machine has {os.cpu_count()} logical cores)")
    return value


def seed_value(text: str) -> int:
    """An argparse type: a seed, an integer from 0 to 2**63 − 1."""
    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a seed, an integer from 0 to 2**63 - 1, got {text!r}"
        ) from None


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number ≥ 0 (epoch counts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


MAX_PAPER_EPOCHS = 1_000_000.0
"""The longest training ``--epochs`` asks for, in the paper's epochs: 40 × the paper's longest
(Fig. 21's 25,000), 200 × its usual 5,000; ``--epochs 1e30`` would otherwise start a training
that never ends."""


def paper_epoch_count(text: str) -> float:
    """An argparse type: a training length in the paper's epochs, 0 to :data:`MAX_PAPER_EPOCHS`."""
    value = non_negative_float(text)
    if value > MAX_PAPER_EPOCHS:
        raise argparse.ArgumentTypeError(
            f"{text} paper epochs would not finish; give at most {MAX_PAPER_EPOCHS:,.0f} "
            "(40 times the paper's longest training)")
    return value


def usable_cores() -> int:
    """The logical cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_local_workers(workers: int, option: str = "--workers") -> None:
    """Refuse more worker processes on this machine than it has cores to run them: each
    worker is a process with its own torch, so ``--workers 100000`` would start processes
    until the machine stalls, and more workers than cores only slows every run."""
    cores = usable_cores()
    if workers > cores:
        raise NeuroplastError(
            f"{option} {workers} starts more processes than this machine's {cores} usable "
            f"cores; give at most {cores} (or run on a Ray cluster with --executor ray "
            "--address, whose CPUs decide)")


def local_worker_count(text: str) -> int:
    """An argparse type: a number of worker processes on this machine, 1 to its usable
    cores (:func:`check_local_workers`)."""
    value = positive_int(text)
    cores = usable_cores()
    if value > cores:
        raise argparse.ArgumentTypeError(
            f"{value} processes are more than this machine's {cores} usable cores; give at "
            f"most {cores}")
    return value


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_memory(needed: int, what: str, advice: str | Callable[[int], str]) -> None:
    """Refuse, before anything is built, work whose estimated memory ``needed`` (bytes)
    exceeds this machine's; ``what`` names it with its verb ("2 nets of widths … need"),
    ``advice`` says what to give instead (or makes that from the machine's memory in bytes).
    Nothing is refused where the OS does not say how much memory there is."""
    memory = physical_memory()
    if memory is not None and needed > memory:
        said = advice(memory) if callable(advice) else advice
        raise NeuroplastError(f"{what} about {needed / 2**30:,.1f} GiB; this machine has "
                              f"{memory / 2**30:,.1f} GiB; {said}")


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
