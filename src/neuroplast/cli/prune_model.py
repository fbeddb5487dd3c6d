"""``neuroplast prune-model``: prune a site of the user's own model, save plan + weights.

A thin layer over :func:`neuroplast.prune`. Everything that can be wrong with the request is
checked first, in this order, each failure one line and exit 2: ``--out`` (never overwritten
without ``--force``), the rule and measure names, the factory, the weights, the data (the model
is run on two examples), labels for a goal, the site's name. Then the site is pruned on the
calibration data, a before/after table printed and the model saved to ``--out`` as a folder
with ``plan.json`` and ``model.safetensors`` (:func:`neuroplast.save`), which
``neuroplast.load(folder, factory)`` or any ``--weights`` of these commands reads back.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from neuroplast.api import prune
from neuroplast.cli.common import check_force_has_target
from neuroplast.cli.prune import add_strategy_arguments
from neuroplast.cli.user_model import (
    add_model_arguments,
    check_data_fits,
    find_site,
    load_user_model,
    metrics,
    outputs,
    parameter_count,
    read_data,
)
from neuroplast.death import get_rule
from neuroplast.death.request import check_not_emptying, make_strategy, removal_cap
from neuroplast.death.rules import RULES
from neuroplast.efficiency import MEASURES
from neuroplast.errors import NeuroplastError
from neuroplast.saving import check_destination, is_saved_model, read_plan, save
from neuroplast.train.report import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune-model", help="prune a site of your own model (--factory), save plan + weights",
        description="Prune a site of your own model: build it with --factory MODULE:FUNCTION, "
                    "load --weights, rank the site's neurons on --data by an efficiency "
                    "measure, remove the least efficient with a re-wiring rule, and save the "
                    "result to --out (a folder: plan.json + model.safetensors). Site names "
                    "come from `neuroplast sites`.")
    add_model_arguments(p)
    p.add_argument("--site", required=True, help="the site to prune (see `neuroplast sites`)")
    p.add_argument("--rule", default="A1",
                   help="re-wiring rule: " + ", ".join(RULES) + " (default A1)")
    p.add_argument("--measure", default=None,
                   help="efficiency measure (default: the rule's); see `neuroplast methods`")
    add_strategy_arguments(p, data="--data", labels=" (needs labels)")
    p.add_argument("--max-fraction", type=float, default=None,
                   help="remove at most this fraction of the site")
    p.add_argument("--recompute", action="store_true",
                   help="recompute statistics and efficiencies after every removal")
    p.add_argument("--out", metavar="FOLDER", default=None,
                   help="save the pruned model here (plan.json + model.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(run=run)


UNKNOWN_WIDTH = 2**40
"""A site width larger than any, to check strategy values before the site is found (an amount
that would empty the actual site is refused once its width is known)."""


def strategy_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The strategy flags as :func:`neuroplast.prune` keywords (exactly one is set)."""
    return {"cutoff": args.cutoff, "relative_cutoff": args.relative_cutoff,
            "amount": args.amount, "goal_accuracy": args.goal_accuracy,
            "goal_loss": args.goal_loss}


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (anything else as its text; NaN and infinities, which JSON
    lacks, as None), so saving never fails late."""
    def finite(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {k: finite(v) for k, v in item.items()}
        if isinstance(item, list):
            return [finite(v) for v in item]
        return item

    return finite(json.loads(json.dumps(value, default=str)))


def parent_metadata(weights: str | None) -> dict[str, Any] | None:
    """The metadata of a saved folder given as ``--weights`` (its history), else None."""
    if weights is None or not is_saved_model(weights):
        return None
    return read_plan(weights).get("metadata") or {}


def _row(label: str, width: int, parameters: int, values: dict[str, float]) -> list[Any]:
    return [label, width, parameters, values.get("accuracy", "-"), values.get("loss", "-")]


def _notes(args: argparse.Namespace, examples: int, width: int, removed: int,
           before: dict[str, float]) -> list[str]:
    """What the numbers above do not say by themselves: a goal the model missed before any
    removal, a --max-fraction cap that was reached, too few examples to judge a change."""
    notes = []
    accuracy, loss = before.get("accuracy"), before.get("loss")
    if args.goal_accuracy is not None and accuracy is not None and \
            accuracy < args.goal_accuracy:
        notes.append(f"the accuracy before pruning, {accuracy:.4f}, is already below "
                     f"--goal-accuracy {args.goal_accuracy:g}, so no neuron could go")
    if args.goal_loss is not None and loss is not None and loss > args.goal_loss:
        notes.append(f"the loss before pruning, {loss:.4f}, is already above --goal-loss "
                     f"{args.goal_loss:g}, so no neuron could go")
    if args.max_fraction is not None and 0 < removed == removal_cap(args.max_fraction, width):
        notes.append(f"--max-fraction {args.max_fraction:g} allows at most {removed} of "
                     f"{width} neurons per call; the strategy may have asked for more")
    if examples <= width:
        notes.append(f"--data has {examples} examples for a site of {width} neurons: a "
                     "compensating rule can fit so few exactly, so the change above says "
                     "little about other inputs; check on more examples")
    return notes


def run(args: argparse.Namespace) -> int:
    check_force_has_target(args.force, out=args.out)
    if args.out is not None:
        check_destination(args.out, args.force, "choose another --out or pass --force",
                          "--out", "pruned")
    rule = get_rule(args.rule).name
    measure = args.measure or get_rule(rule).default_measure
    MEASURES.get(measure)
    make_strategy(width=UNKNOWN_WIDTH, **strategy_arguments(args))  # signs, ranges, NaN now
    removal_cap(args.max_fraction, UNKNOWN_WIDTH)
    model = load_user_model(args)
    data = read_data(args)
    goal = args.goal_accuracy is not None or args.goal_loss is not None
    check_data_fits(model, data, goal=goal)
    if goal and data.y is None:
        raise NeuroplastError(
            f"--goal-accuracy/--goal-loss need labels; --data {data.source} has none (add an "
            "array 'y' or 'labels', or use class sub-folders of images)"
        )
    site = find_site(model, data, args.site)
    strategy = make_strategy(width=site.width, **strategy_arguments(args))  # before any pass
    check_not_emptying(strategy, site.width, removal_cap(args.max_fraction, site.width),
                       args.site)

    width_before, parameters_before = site.width, parameter_count(model)
    before = metrics(model, data, args.batch_size)
    old_outputs = outputs(model, data, args.batch_size)
    result = prune(model, site, data.batches(model, args.batch_size), rule=rule,
                   measure=measure, max_fraction=args.max_fraction, recompute=args.recompute,
                   **strategy_arguments(args))
    after = metrics(model, data, args.batch_size)
    new_outputs = outputs(model, data, args.batch_size)

    removed = list(getattr(result, "removed", ()))
    print(f"pruned site {args.site} of {args.factory} with {rule}, measure {measure}: removed "
          f"{width_before - site.width} of {width_before} neurons"
          + (f" {removed}" if 0 < len(removed) <= 20 else "")
          + (f" in {result.seconds:.2f} s" if hasattr(result, "seconds") else ""))
    print(format_table(["model", args.site, "parameters", "accuracy", "loss"],
                       [_row("before", width_before, parameters_before, before),
                        _row("after", site.width, parameter_count(model), after)]))
    if old_outputs is not None and new_outputs is not None and \
            old_outputs.shape == new_outputs.shape:
        change = float((new_outputs - old_outputs).abs().max())
        print(f"max |change of outputs| over {data.n} examples: {change:.4g}")
    for note in _notes(args, data.n, width_before, len(removed), before):
        print(f"note: {note}")
    if args.out is None:
        print("not saved: give --out FOLDER to keep the pruned model")
    if args.out is not None:
        as_dict = getattr(result, "as_dict", None)
        metadata = {
            "command": "prune-model", "factory": args.factory, "weights": args.weights,
            "data": data.source, "examples": data.n, "site": args.site, "rule": rule,
            "measure": measure, **strategy_arguments(args), "max_fraction": args.max_fraction,
            "recompute": args.recompute, "width_before": width_before,
            "width_after": site.width, "before": before, "after": after,
            "result": as_dict() if callable(as_dict) else None,
            "parent": parent_metadata(args.weights),
        }
        save(model, args.out, force=args.force, metadata=jsonable(metadata))
        print(f"saved {args.out} (plan.json + model.safetensors)")
    return 0
