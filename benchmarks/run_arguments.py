"""Command-line arguments shared by the benchmarks that run under the fidelity study's run
options (``add_run_arguments``: :mod:`benchmarks.b4_std`, :mod:`benchmarks.b4_width`,
:mod:`benchmarks.l2_form`, :mod:`benchmarks.l2_strength`, :mod:`benchmarks.lr_schedule`,
:mod:`benchmarks.peaked_sets`, :mod:`benchmarks.vs_n2ps_a1`), and how such a probe names its
folder and writes its report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


def add_run_arguments(parser: argparse.ArgumentParser, *, invert: bool = False,
                      workers: bool = True) -> None:
    """``--protocol --seeds --out --init --l2 --data`` (and ``--invert``; ``--workers`` for a
    probe that runs its jobs side by side), defaults the reproduction's ``fast`` setting's."""
    from neuroplast.cli.common import local_worker_count, positive_int
    from neuroplast.experiments.options import REPRODUCTION_DEFAULTS
    from neuroplast.models import INITIALIZATIONS
    from neuroplast.train import PROTOCOLS
    from neuroplast.train.l2 import L2_FORMS

    parser.add_argument("--protocol", default="fast", choices=list(PROTOCOLS))
    parser.add_argument("--seeds", type=positive_int, default=10)
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    if invert:
        parser.add_argument("--invert", action="store_true")
    parser.add_argument("--init", default=REPRODUCTION_DEFAULTS["init"],
                        choices=list(INITIALIZATIONS))
    parser.add_argument("--l2", default=REPRODUCTION_DEFAULTS["l2"], choices=list(L2_FORMS))
    parser.add_argument("--data", default=None, help="MNIST folder")
    if workers:
        parser.add_argument("--workers", type=local_worker_count, default=1,
                            help="processes training side by side (default 1)")


def options_folder(out: Path, protocol: str, options: dict[str, Any]) -> Path:
    """``OUT/<protocol>[-<option>-<value>…]``: the options off the library's defaults name it.

    Raises:
        NeuroplastError: an unknown option or value.
    """
    from neuroplast.experiments.options import check_options

    chosen = check_options(options)
    return out / "-".join([protocol, *(f"{k}-{v}" for k, v in chosen.items())])


def add_trained_cache_argument(parser: argparse.ArgumentParser) -> None:
    """``--trained-cache DIR``: where trained base N4s are shared between experiments."""
    parser.add_argument("--trained-cache", type=Path, default=None,
                        help="where trained base N4s are shared between experiments (sets "
                             "$NEUROPLAST_TRAINED_CACHE; default: that variable, else "
                             "~/.cache/neuroplast/trained)")


def use_trained_cache(folder: Path | None) -> Path:
    """Point ``$NEUROPLAST_TRAINED_CACHE`` at ``folder`` when given, else keep the variable, else
    use the user cache's ``trained`` folder (``neuroplast.data.default_cache_dir``, like the
    data and zoo caches: ``~/.cache/neuroplast/trained`` unless ``$XDG_CACHE_HOME`` is set;
    :mod:`neuroplast.experiments.trained_cache`); returns the folder in use."""
    import os

    from neuroplast.data import default_cache_dir
    from neuroplast.experiments.trained_cache import CACHE_ENV_VAR

    if folder is not None:
        os.environ[CACHE_ENV_VAR] = str(folder)
    else:
        os.environ.setdefault(CACHE_ENV_VAR, str(default_cache_dir("trained")))
    return Path(os.environ[CACHE_ENV_VAR])


def made_by(module: str, argv: Sequence[str] | None, started: float) -> str:
    """"Made by `python -m MODULE ARGS` (N s)." for a probe's report header: the arguments as
    given (``argv``, else the process's), the seconds since ``started``."""
    import sys
    import time

    arguments = " ".join(argv if argv is not None else sys.argv[1:])
    return f"Made by `python -m {module} {arguments}` ({time.perf_counter() - started:.0f} s)."


def write_probe_report(folder: Path, stem: str, text: str, record: dict[str, Any],
                       started: float) -> Path:
    """Write a probe's ``FOLDER/STEM.md`` (``text``) and ``FOLDER/STEM.json`` (``record`` with
    the seconds since ``started`` and the torch / neuroplast / python versions); announce and
    return the markdown's path."""
    import platform
    import sys
    import time

    import torch

    import neuroplast
    from neuroplast.files import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / f"{stem}.md", text)
    atomic_write_text(folder / f"{stem}.json", json.dumps(record | {
        "seconds": time.perf_counter() - started,
        "versions": {"torch": torch.__version__, "neuroplast": neuroplast.__version__,
                     "python": platform.python_version()}}, indent=1) + "\n")
    print(f"[{stem}] {folder / f'{stem}.md'}", file=sys.stderr)
    return folder / f"{stem}.md"


@dataclass(frozen=True)
class ArmProbe:
    """What a probe on one arm's base N4s starts from (:func:`arm_probe`).

    Attributes:
        args: the parsed command line.
        options: the run options (``invert``, ``init``, ``l2``).
        folder: ``OUT/<protocol>[-options]``, where the probe writes.
        protocol: the protocol under those options.
        dataset: MNIST in the arm's encoding.
    """

    args: argparse.Namespace
    options: dict[str, Any]
    folder: Path
    protocol: Any
    dataset: Any

    @property
    def momentum_note(self) -> str:
        """``", SGD momentum μ"`` for the report's header when ``--momentum`` is not 0."""
        return f", SGD momentum {self.protocol.momentum:g}" if self.protocol.momentum else ""

    def warm_trained_cache(self) -> set[int]:
        """With ``--workers K`` > 1, train the base N4s of seeds 0 … ``--seeds`` − 1 that the
        trained cache lacks, K side by side (one thread each, the key's count), so the probe's
        seed loop then loads them; with K = 1 the loop trains them one after the other, to
        the same weights. Returns the seeds it trained (not those it found stored)."""
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        if getattr(self.args, "workers", 1) <= 1:
            return set()
        jobs = [(seed, self.protocol, self.args.data, self.args.invert, self.args.init)
                for seed in range(self.args.seeds)]
        trained = set()
        with ProcessPoolExecutor(self.args.workers, mp_context=get_context("spawn")) as pool:
            for seed, found in pool.map(_train_base_net, jobs):
                if not found:
                    trained.add(seed)
                print(f"[trained cache] base N4 of seed {seed} "
                      f"{'found' if found else 'trained and stored'}", file=sys.stderr)
        return trained

    def base_nets(self) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """Seed, base N4 and its record (seed, training accuracy, whether it was loaded from
        the trained cache rather than trained by this run) for seeds 0 … ``--seeds`` − 1,
        after :meth:`warm_trained_cache`; the loop's body runs with one torch thread (the
        sweep workers' count: the trained cache's key includes it)."""
        from neuroplast.experiments.definitions.pruning_common import train_base
        from neuroplast.train.threads import torch_threads

        trained_now = self.warm_trained_cache()
        with torch_threads(1):
            for seed in range(self.args.seeds):
                model, final = train_base("N4", 5000, seed, self.protocol, self.dataset,
                                          self.args.init)
                yield seed, model, {"seed": seed, "train_accuracy": final["train_accuracy"],
                                    "from_cache": bool(final.get("from_cache"))
                                    and seed not in trained_now}


def _train_base_net(job: tuple[int, Any, str | None, bool, str]) -> tuple[int, bool]:
    """One base N4 trained into (or found in) the trained cache, in a worker; its seed and
    whether it was found there."""
    from neuroplast.experiments.definitions.pruning_common import train_base
    from neuroplast.experiments.experiment import mnist
    from neuroplast.train.threads import torch_threads

    seed, protocol, data, invert, init = job
    with torch_threads(1):
        _, final = train_base("N4", 5000, seed, protocol, mnist(data, invert=invert), init)
    return seed, bool(final.get("from_cache"))


def arm_probe(prog: str, description: str, argv: Sequence[str] | None,
              extra: Callable[[argparse.ArgumentParser], None] | None = None,
              trained_cache: bool = True,
              check: Callable[[argparse.Namespace], str | None] | None = None) -> ArmProbe:
    """Parse a base-net probe's command line (:func:`add_run_arguments` with ``--invert``,
    ``--trained-cache`` unless ``trained_cache`` is False — a probe that trains nothing — and
    whatever ``extra`` adds to the parser), point the trained cache, and load the arm's
    protocol and data. ``check`` sees the parsed arguments first: a message it returns ends the
    command with that usage error before any data are read."""
    from neuroplast.experiments.experiment import mnist
    from neuroplast.experiments.options import run_protocol

    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_run_arguments(parser, invert=True, workers=trained_cache)  # workers train base nets
    if trained_cache:
        add_trained_cache_argument(parser)
        parser.add_argument("--momentum", type=momentum_value, default=0.0,
                            help="train the base nets with this SGD momentum (default 0, the "
                                 "paper's; Mathematica's default is 0.93); the folder's name "
                                 "ends -momentum-<μ> when it is not 0")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    problem = check(args) if check is not None else None
    if problem:
        parser.error(problem)
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    folder = options_folder(args.out, args.protocol, options)
    protocol = run_protocol(args.protocol, options)
    momentum = getattr(args, "momentum", 0.0)
    if momentum:
        folder = folder.with_name(f"{folder.name}-momentum-{momentum:g}")
        protocol = replace(protocol, momentum=momentum)
        options = options | {"momentum": momentum}
    if trained_cache:
        use_trained_cache(args.trained_cache)
    return ArmProbe(args, options, folder, protocol, mnist(args.data, invert=args.invert))


#: Mathematica ``NetTrain``'s default momentum for its ``"SGD"`` method (the paper sets 0).
MATHEMATICA_MOMENTUM = 0.93


def momentum_value(text: str) -> float:
    """An SGD momentum argument: a number in [0, 1); anything else is refused with what to
    give."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a momentum: give a number in [0, 1), such as 0 (the paper's) or "
            f"{MATHEMATICA_MOMENTUM} (Mathematica's default)")
    return value
