"""``neuroplast grow``: replicate the most efficient neurons of a saved model (B1–B5)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from neuroplast.cli.common import (
    add_data_arguments,
    add_output_arguments,
    check_encoding,
    check_fits_memory,
    check_force_has_target,
    check_loaded_model,
    check_mnist_model,
    check_output,
    load_data,
    positive_int,
    seed_value,
)
from neuroplast.data import Split
from neuroplast.efficiency import MEASURES
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, load_model, save_model
from neuroplast.replication import METHODS, replicate, resolve_method
from neuroplast.replication.split import ReplicationMethod, check_random_std, growable_site
from neuroplast.train import has_finite_weights
from neuroplast.train.memory import training_memory_estimate


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grow", help="replicate the most efficient neurons of a site (B1-B5)",
        description="Replicate the n most efficient neurons of a hidden site: each child copies "
                    "its parent's incoming weights and bias, and the parent's outgoing weights "
                    "are split chi*w / (1-chi)*w with chi ~ Beta(alpha, alpha) (eqs 44-49). "
                    "Prints the parents, the new width and the largest change of the logits "
                    "over the training set.",
    )
    p.add_argument("model", help="a model file written by neuroplast")
    p.add_argument("--site", default="hidden1", help="hidden site to grow (default hidden1)")
    add_replication_arguments(p, default_method="beta")
    add_data_arguments(p)
    add_output_arguments(p)
    p.set_defaults(run=run)


DEFAULT_MEASURE = "connection"
"""The efficiency that ranks parents unless ``--measure`` says otherwise (E_k, eq. 28)."""


@dataclass(frozen=True)
class ReplicationOptions:
    """--n, --seed and --measure once checked against the method, defaults filled in."""

    n: int
    seed: int
    measure: str


def replication_options(args: argparse.Namespace, method: ReplicationMethod) -> ReplicationOptions:
    """Refuse the options a method would ignore, then fill in their defaults.

    A method without parents (B4, B5, random, none) ranks nothing, so ``--measure`` means
    nothing to it; a method that adds nothing (B5, none) has no count and draws nothing, so
    ``--n`` and ``--seed`` mean nothing to it either. Refusing them (rather than running as if
    they were not given) tells a user that the run they asked for is not the one they get.

    Raises:
        NeuroplastError: an option the method would ignore was given, or an unknown measure.
    """
    problems = []
    if args.measure is not None and not method.uses_parents:
        problems.append(f"--measure {args.measure!r} ranks parents, but --method {method.name} "
                        "picks none; leave --measure out")
    if not method.adds_neurons:
        given = " and ".join(flag for flag, value in (("--n", args.n), ("--seed", args.seed))
                             if value is not None)
        if given:
            problems.append(f"{given}: --method {method.name} adds no neuron; leave {given} out")
    if problems:
        raise NeuroplastError("; ".join(problems))
    measure = DEFAULT_MEASURE if args.measure is None else args.measure
    MEASURES.get(measure)  # an unknown measure: refused with the list of known ones
    return ReplicationOptions(n=1 if args.n is None else args.n,
                              seed=0 if args.seed is None else args.seed, measure=measure)


def check_parent_count(options: ReplicationOptions, method: ReplicationMethod, site: str,
                       width: int) -> None:
    """Refuse ``--n`` parents beyond the site's width, for a method that copies parents.

    Raises:
        NeuroplastError: ``options.n`` exceeds ``width``; the message gives the valid range.
    """
    if method.uses_parents and options.n > width:
        raise NeuroplastError(f"--n {options.n} parents, but site {site!r} has {width} "
                              f"neurons; choose --n between 1 and {width}")


def add_replication_arguments(p: argparse.ArgumentParser, *, default_method: str) -> None:
    """--n, --method, --alpha, --measure, --seed and --random-std of a replication (eqs
    44-49)."""
    p.add_argument("--n", type=positive_int, default=None,
                   help="number of parents (= new neurons), default 1")
    p.add_argument("--method", default=default_method,
                   help=f"{default_method} (default), "
                        + ", ".join(m for m in ("beta", "random", "none") if m != default_method)
                        + ", or a preset: "
                        + "; ".join(f"{m.name} {m.description}" for m in METHODS.values()
                                    if m.name.startswith("B")))
    p.add_argument("--alpha", type=float, default=None,
                   help="alpha of Beta(alpha, alpha) for --method beta (default 0.01)")
    p.add_argument("--measure", default=None,
                   help=f"efficiency ranking the parents ({', '.join(MEASURES.names())}; "
                        "default connection = E_k, eq. 28)")
    p.add_argument("--seed", type=seed_value, default=None,
                   help="seed of the chi draws / random weights (0 to 2**63 - 1, default 0)")
    p.add_argument("--random-std", type=float, nargs=2, metavar=("IN", "OUT"), default=None,
                   help="with --method random (B4): the std of the new neurons' incoming and "
                        "outgoing weights (default: Xavier-normal for the layers' shapes)")


@torch.no_grad()
def _logits(model: MLP, split: Split, batch_size: int = 10_000) -> torch.Tensor:
    """The model's logits over ``split`` (N, C), in the model's dtype."""
    return torch.cat([model(split.x[i : i + batch_size].to(model.dtype))
                      for i in range(0, split.n, batch_size)])


def _check_grown_memory(model: MLP, index: int, added: int) -> None:
    """Refuse, before the data is loaded, more new neurons than this machine's memory holds
    (``--method B4 --n 100000000`` failed in the allocator with a traceback)."""
    widths = list(model.widths)
    widths[index] += added
    check_fits_memory(training_memory_estimate(widths), f"the grown net, widths {widths}, needs",
                      "give a smaller --n")


def run(args: argparse.Namespace) -> int:
    check_force_has_target(args.force, out=args.out)
    check_output(args.out, args.force)
    method, _ = resolve_method(args.method, args.alpha)  # fail before loading anything
    random_std = check_random_std(args.random_std, method)
    options = replication_options(args, method)
    model, metadata = load_model(args.model)
    check_mnist_model(model)
    check_loaded_model(model, args.model)
    check_encoding(args, metadata, args.model)
    site = growable_site(model, args.site)
    check_parent_count(options, method, args.site, site.width)
    _check_grown_memory(model, site.index, options.n if method.adds_neurons else 0)
    dataset = load_data(args)
    before = _logits(model, dataset.train)
    result = replicate(model, args.site, n=options.n, method=args.method, alpha=args.alpha,
                       measure=options.measure, data=dataset.train, seed=options.seed,
                       random_std=random_std)
    change = (_logits(model, dataset.train) - before).abs().max()

    alpha = "" if result.alpha is None else f" alpha={result.alpha:g}"
    print(f"method {result.method}{alpha} on {args.site}, seed {options.seed}")
    if result.parent_efficiency is not None:
        pairs = zip(result.parents.tolist(), result.parent_efficiency.tolist(), strict=True)
        print(f"parents ({result.measure}): "
              + ", ".join(f"{p} (E={e:.4g})" for p, e in pairs))
    else:
        print("parents: none (this method adds no children of existing neurons)")
    print(f"width {result.width_before} -> {result.width_after} "
          f"(children {result.children.tolist()}); widths {model.widths}")
    print(f"max |change of logits| over {dataset.train.n} training images: {float(change):.3g}")
    if not has_finite_weights(model):  # e.g. --random-std 1e300: evaluate would refuse it
        raise NeuroplastError("the grown net has NaN or infinite weights (its new neurons' "
                              "weights overflowed); nothing saved; give a smaller --random-std")
    if args.out:
        grown = {**result.as_dict(), "seed": options.seed, "random_std": random_std}
        metadata = {**metadata, "invert": args.invert,
                    "grown": [*metadata.get("grown", []), grown]}
        save_model(model, args.out, metadata=metadata, overwrite=args.force)
        print(f"saved {args.out}")
    else:
        print("not saved: give --out FILE to keep the grown net")
    return 0
