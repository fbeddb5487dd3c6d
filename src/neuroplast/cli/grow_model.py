"""``neuroplast grow-model``: replicate the most efficient neurons of a site of the user's model.

A thin layer over :func:`neuroplast.replicate` (B1–B5, eqs 44–49): the request is checked
first (``--out``, the method and measure, the factory, weights, data and site; one line and
exit 2 each), then the parents are chosen on the calibration data, split, and the model saved
to ``--out`` (plan.json + model.safetensors). Prints the parents, the new width and the
largest change of the outputs over the data (zero up to rounding for B1–B3).
"""

from __future__ import annotations

import argparse

from neuroplast.api import replicate
from neuroplast.cli.common import check_fits_memory, check_force_has_target
from neuroplast.cli.grow import (
    add_replication_arguments,
    check_parent_count,
    replication_options,
)
from neuroplast.cli.prune_model import jsonable, parent_metadata
from neuroplast.cli.user_model import (
    add_model_arguments,
    check_data_fits,
    find_site,
    load_user_model,
    outputs,
    read_data,
)
from neuroplast.errors import NeuroplastError
from neuroplast.replication import resolve_method
from neuroplast.replication.split import check_random_std
from neuroplast.saving import check_destination, save
from neuroplast.sites.site import Site
from neuroplast.train import has_finite_weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grow-model", help="replicate neurons of a site of your own model (B1-B5)",
        description="Replicate the n most efficient neurons of a site of your own model "
                    "(--factory, --weights; efficiencies on --data): each child copies its "
                    "parent's incoming weights and the parent's outgoing weights are split "
                    "(eqs 44-49). Saves the grown model to --out (plan.json + "
                    "model.safetensors).")
    add_model_arguments(p)
    p.add_argument("--site", required=True, help="the site to grow (see `neuroplast sites`)")
    add_replication_arguments(p, default_method="B1")
    p.add_argument("--out", metavar="FOLDER", default=None,
                   help="save the grown model here (plan.json + model.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(run=run)


def _check_grown_memory(site: Site, added: int) -> None:
    """Refuse, before any forward pass, more new neurons than this machine's memory holds:
    each takes its entries in every tensor along the site (producer rows, biases, BatchNorm,
    consumer columns), and appending copies each tensor once (``--n 10**13`` ended in an
    allocator traceback)."""
    per_neuron = 0
    for axis in (*site.upstream, site.view.axis()):
        tensor = axis.tensor
        if tensor is not None:
            per_neuron += tensor.numel() // tensor.shape[axis.dim] * axis.block * \
                tensor.element_size()
    check_fits_memory(2 * added * per_neuron,
                      f"{added:,} new neurons on site {site.name!r} need", "give a smaller --n")


def run(args: argparse.Namespace) -> int:
    check_force_has_target(args.force, out=args.out)
    if args.out is not None:
        check_destination(args.out, args.force, "choose another --out or pass --force",
                          "--out", "grown")
    method, _ = resolve_method(args.method, args.alpha)
    random_std = check_random_std(args.random_std, method)
    options = replication_options(args, method)
    model = load_user_model(args)
    data = read_data(args)
    check_data_fits(model, data, labels_used=False)  # it never reads the labels
    site = find_site(model, data, args.site)
    if not site.can_grow:
        raise NeuroplastError(f"site {args.site!r} ({site.kind}) cannot grow: its neurons have "
                              "no incoming weights to copy; choose a hidden site")
    check_parent_count(options, method, args.site, site.width)
    if method.adds_neurons:
        _check_grown_memory(site, options.n)

    before = outputs(model, data, args.batch_size)
    result = replicate(model, site, data=data.batches(model, args.batch_size),
                       n=options.n if method.adds_neurons else None, method=args.method,
                       alpha=args.alpha,
                       measure=options.measure if method.uses_parents else None,
                       seed=options.seed, random_std=random_std)
    after = outputs(model, data, args.batch_size)

    alpha = "" if result.alpha is None else f" alpha={result.alpha:g}"
    print(f"method {result.method}{alpha} on {args.site} of {args.factory}, seed {options.seed}")
    if result.parent_efficiency is not None:
        pairs = zip(result.parents.tolist(), result.parent_efficiency.tolist(), strict=True)
        print(f"parents ({result.measure}): "
              + ", ".join(f"{p} (E={e:.4g})" for p, e in pairs))
    print(f"width {result.width_before} -> {result.width_after} "
          f"(children {result.children.tolist()})")
    if before is not None and after is not None and before.shape == after.shape:
        print(f"max |change of outputs| over {data.n} examples: "
              f"{float((after - before).abs().max()):.3g}")
    if not has_finite_weights(model):
        raise NeuroplastError("the grown model has NaN or infinite weights (its new neurons' "
                              "weights overflowed); nothing saved; give a smaller --random-std")
    if args.out is not None:
        metadata = {"command": "grow-model", "factory": args.factory, "weights": args.weights,
                    "data": data.source, "examples": data.n, "site": args.site,
                    "result": result.as_dict(), "seed": options.seed, "random_std": random_std,
                    "parent": parent_metadata(args.weights)}
        save(model, args.out, force=args.force, metadata=jsonable(metadata))
        print(f"saved {args.out} (plan.json + model.safetensors)")
    else:
        print("not saved: give --out FOLDER to keep the grown model")
    return 0
