"""``neuroplast prune``: remove the least efficient neurons of a saved model, optionally retrain.

A thin layer over :func:`neuroplast.death.prune_cycles`: every argument is checked, and an
existing ``--out`` refused, before the data is loaded or anything is computed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from neuroplast.cli.common import (
    FIGURE_TYPES,
    add_data_arguments,
    add_output_arguments,
    add_protocol_argument,
    check_encoding,
    check_force_has_target,
    check_loaded_model,
    check_mnist_model,
    check_output,
    load_data,
    paper_epoch_count,
    positive_int,
    seed_value,
    training_subset,
)
from neuroplast.data import Dataset
from neuroplast.death import PruneResult, get_rule, make_strategy, prune_cycles, removal_cap
from neuroplast.death.rules import RULES
from neuroplast.death.strategies import Strategy
from neuroplast.efficiency import MEASURES
from neuroplast.errors import NeuroplastError
from neuroplast.models import MLP, count_macs, count_parameters, load_model, save_model
from neuroplast.train import evaluate_splits, get_protocol
from neuroplast.train.report import format_table

DEFAULT_RETRAIN = 500.0
"""Paper epochs of retraining between prunes when --cycles > 1 and none are given (§5.2)."""

RETRAIN_PROTOCOL = "fast"
"""The protocol of the retraining unless --protocol says otherwise."""


@dataclass(frozen=True)
class Retraining:
    """The retraining after each prune, once checked, defaults filled in."""

    paper_epochs: float
    protocol: str
    seed: int


def retraining(args: argparse.Namespace) -> Retraining:
    """The paper epochs, protocol and seed of the retraining after each prune; refuses --seed
    and --protocol when there is none (they would be ignored, and the user would believe the
    run used them).

    Raises:
        NeuroplastError: --seed or --protocol given for a prune without retraining.
    """
    epochs = args.retrain_epochs
    if epochs is None:
        epochs = DEFAULT_RETRAIN if args.cycles > 1 else 0.0
    given = [flag for flag, value in (("--protocol", args.protocol), ("--seed", args.seed))
             if value is not None]
    if epochs == 0 and given:
        flags = " and ".join(given)
        fix = ("give --retrain-epochs above 0" if args.retrain_epochs is not None
               else "add --retrain-epochs N (paper epochs)")
        raise NeuroplastError(f"{flags}: options of the retraining, but this prune retrains "
                              f"nothing; {fix} or leave {flags} out")
    return Retraining(epochs, args.protocol or RETRAIN_PROTOCOL,
                      0 if args.seed is None else args.seed)


def add_strategy_arguments(p: argparse.ArgumentParser, *, data: str, labels: str) -> None:
    """The mutually exclusive strategy flags (exactly one): cutoff, relative cutoff, amount,
    accuracy or loss goal, measured on ``data`` (``labels`` notes what a goal needs)."""
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--cutoff", type=float, help="remove every neuron with efficiency < this")
    how.add_argument("--relative-cutoff", type=float,
                     help="remove every neuron with efficiency < this × the site's maximum")
    how.add_argument("--amount", type=amount_value,
                     help="remove this many neurons (40) or this fraction of the site (0.4)")
    how.add_argument("--goal-accuracy", type=float,
                     help=f"remove least efficient first while {data} accuracy stays >= this"
                          f"{labels}")
    how.add_argument("--goal-loss", type=float,
                     help=f"remove least efficient first while {data} loss stays <= this"
                          f"{labels}")

def amount_value(text: str) -> int | float:
    """``40`` → 40 neurons, ``0.4`` → 40 % of the site."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count (e.g. 40) or a fraction (e.g. 0.4), got {text!r}"
        ) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune", help="remove the least efficient neurons of a site (A1, A2, A3, lstsq, obs, none)",
        description="Prune a site of a saved model: rank its neurons by an efficiency measure, "
                    "remove the least efficient with a re-wiring rule and delete them "
                    "physically; optionally retrain and prune again. Prints before/after "
                    "widths, parameters, MACs, accuracy, loss and pruning time.")
    p.add_argument("model", help="a model file written by neuroplast")
    p.add_argument("--site", default="hidden1",
                   help="input, hidden1 (the paper's second layer, default), hidden2, ...")
    p.add_argument("--rule", default="A1",
                   help="re-wiring rule: " + ", ".join(RULES) + " (default A1)")
    p.add_argument("--measure", default=None,
                   help="efficiency measure (default: the rule's, connection for A1/A2/none, "
                        "covariance for A3/lstsq); see `neuroplast methods`, e.g. nnsp:5")
    add_strategy_arguments(p, data="training", labels="")
    p.add_argument("--max-fraction", type=float, default=None,
                   help="remove at most this fraction of the site per prune")
    p.add_argument("--recompute", action="store_true",
                   help="recompute statistics and efficiencies after every removal")
    p.add_argument("--cycles", type=positive_int, default=1,
                   help="number of prunes, with retraining after each (default 1)")
    p.add_argument("--retrain-epochs", type=paper_epoch_count, default=None,
                   help="paper epochs of retraining after each prune (default 0, or 500 with "
                        "--cycles > 1)")
    add_protocol_argument(p, default=RETRAIN_PROTOCOL)
    p.set_defaults(protocol=None)  # None: not given, so that a prune without retraining refuses it
    p.add_argument("--seed", type=seed_value, default=None,
                   help="seed of the retraining's shuffling (0 to 2**63 - 1, default 0)")
    p.add_argument("--pixel-map", metavar="PNG", default=None,
                   help="input site only: draw which of the 28×28 pixels survive (--force "
                        "overwrites an existing one too)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_arguments(p)
    add_data_arguments(p)
    p.set_defaults(run=run)


def _strategy_arguments(args: argparse.Namespace) -> dict[str, Any]:
    return {"cutoff": args.cutoff, "relative_cutoff": args.relative_cutoff,
            "amount": args.amount, "goal_accuracy": args.goal_accuracy,
            "goal_loss": args.goal_loss}


def _check_pixel_map(args: argparse.Namespace) -> None:
    if args.pixel_map is None:
        return
    if args.site != "input":
        raise NeuroplastError(
            f"--pixel-map draws the surviving input pixels; it needs --site input, not "
            f"--site {args.site}"
        )
    check_output(args.pixel_map, args.force, "--pixel-map", "map.png", FIGURE_TYPES)


def _metrics(model: MLP, dataset: Dataset) -> dict[str, float]:
    return evaluate_splits(model, dataset.train, dataset.test)


def _size(model: MLP, site: str) -> list[Any]:
    return [model.site(site).width, count_parameters(model), count_macs(model)]


def _size_before(first: PruneResult) -> list[Any]:
    return [first.width_before, first.parameters_before, first.macs_before]


def _cycle_rows(results: list[PruneResult]) -> list[list[Any]]:
    rows = []
    for k, r in enumerate(results, start=1):
        retrained = r.retrain or {}
        rows.append([k, r.width_after, r.parameters_after, r.macs_after,
                     r.after["train_accuracy"], r.after["test_accuracy"],
                     r.after["train_loss"], f"{r.seconds:.2f} s",
                     retrained.get("train_accuracy", "-"), retrained.get("test_accuracy", "-"),
                     f"{retrained['wall_time_s']:.1f} s" if retrained else "-"])
    return rows


def check_cycle_plan(strategy: Strategy, width: int, cycles: int, max_fraction: float | None,
                     site: str) -> None:
    """Refuse now a plan that a later cycle would refuse: an amount that empties the site.

    Each cycle removes ``amount`` neurons (a fraction: of the width left), at most
    ``max_fraction`` of it; pruning may not remove every neuron of a site. Cutoffs and goals
    depend on the data and are checked by each prune.

    Raises:
        NeuroplastError: the cycle that would fail, and what to lower.
    """
    if strategy.kind != "amount":
        return
    left = width
    for cycle in range(1, cycles + 1):
        wanted = strategy.count(left)
        removed = min(wanted, removal_cap(max_fraction, left))
        if (wanted if isinstance(strategy.value, int) else removed) >= left:
            raise NeuroplastError(
                f"--amount {strategy.value:g} with --cycles {cycles} would remove every neuron "
                f"of {site} in cycle {cycle} ({wanted} of the {left} left of {width}); lower "
                "--amount or --cycles, or give the amount as a fraction (e.g. 0.4)"
            )
        left -= removed


def _cap_notes(results: list[PruneResult], strategy: Strategy,
               max_fraction: float | None) -> list[str]:
    """A note for each prune that removed exactly what ``--max-fraction`` allows: the strategy
    asked (an amount) or may have asked (a cutoff, a goal) for more, which the table alone
    does not say."""
    if max_fraction is None:
        return []
    notes = []
    for cycle, result in enumerate(results, start=1):
        removed, width = len(result.removed), result.width_before
        if not 0 < removed == removal_cap(max_fraction, width):
            continue
        if strategy.kind == "amount":
            wanted = strategy.count(width)
            if wanted <= removed:
                continue
            asked = f"the amount asked for {wanted}"
        else:
            asked = "the strategy may have asked for more"
        where = f"cycle {cycle}: " if len(results) > 1 else ""
        notes.append(f"NOTE: {where}--max-fraction {max_fraction:g} allows at most {removed} "
                     f"of {width} neurons per prune; {asked}")
    return notes


def _goal_notes(results: list[PruneResult], strategy: Strategy) -> list[str]:
    """A note for each prune whose goal was already missed before it removed anything."""
    if not strategy.is_goal:
        return []
    notes = []
    for cycle, result in enumerate(results, start=1):
        before = (result.accuracy_before, result.loss_before)
        if before[0] is None or strategy.holds(*before):
            continue
        where = f"cycle {cycle}: " if len(results) > 1 else ""
        measured = (f"training accuracy {before[0]:.4f} is below the goal {strategy.value:g}"
                    if strategy.kind == "goal_accuracy" else
                    f"training loss {before[1]:.4f} is above the goal {strategy.value:g}")
        notes.append(f"NOTE: {where}the model already missed the goal before pruning (its "
                     f"{measured}); nothing was removed")
    return notes


def run(args: argparse.Namespace) -> int:
    check_force_has_target(args.force, out=args.out, pixel_map=args.pixel_map)
    check_output(args.out, args.force)
    _check_pixel_map(args)
    rule = get_rule(args.rule).name
    measure = args.measure or get_rule(rule).default_measure
    MEASURES.get(measure)
    plan = retraining(args)
    retrain = plan.paper_epochs
    model, parent_metadata = load_model(args.model)
    check_mnist_model(model)
    check_loaded_model(model, args.model)
    check_encoding(args, parent_metadata, args.model)
    width = model.site(args.site).width
    strategy = make_strategy(width=width, **_strategy_arguments(args))
    removal_cap(args.max_fraction, width)
    check_cycle_plan(strategy, width, args.cycles, args.max_fraction, args.site)
    protocol = get_protocol(plan.protocol)
    dataset = load_data(args)

    print(f"pruning {args.site} of {args.model} (widths {model.widths}) with {rule}, measure "
          f"{measure}, {strategy.kind.replace('_', ' ')} {strategy.value:g}"
          + (f", {args.cycles} cycles" if args.cycles > 1 else "")
          + (f", retraining {retrain:g} paper epochs ({protocol.name})" if retrain else ""))
    before = _metrics(model, dataset)
    results = prune_cycles(
        model, args.site, dataset.train, protocol, cycles=args.cycles,
        retrain_paper_epochs=retrain, seed=plan.seed, test_split=dataset.test,
        retrain_last=retrain > 0, progress=False if args.no_progress else None, rule=rule,
        measure=measure, max_fraction=args.max_fraction, recompute=args.recompute,
        **_strategy_arguments(args),
    )
    last = results[-1]
    # after retraining, measured on all the data like the "before" row (a protocol such as
    # quick retrains on, and measures, only part of the training set)
    final = last.after if last.retrain is None else _metrics(model, dataset)
    headers = ["model", args.site, "parameters", "MACs", "train acc", "test acc", "train loss",
               "test loss", "pruning time"]
    rows = [["before", *_size_before(results[0]), before["train_accuracy"],
             before["test_accuracy"], before["train_loss"], before["test_loss"], "-"],
            ["after", *_size(model, args.site), final["train_accuracy"], final["test_accuracy"],
             final["train_loss"], final["test_loss"],
             f"{sum(r.seconds for r in results):.2f} s"]]
    print(format_table(headers, rows))
    if len(results) > 1 or retrain > 0:
        print()
        print(format_table(["cycle", args.site, "parameters", "MACs", "train acc", "test acc",
                            "train loss", "pruning time", "retrained train acc",
                            "retrained test acc", "retraining time"], _cycle_rows(results)))
        subset = training_subset(protocol, dataset.train.n)
        if retrain > 0 and subset is not None:
            print(f"(retrained train acc: on the first {subset:,} training images, those the "
                  f"{protocol.name} protocol trains on)")
    for note in _goal_notes(results, strategy) + _cap_notes(results, strategy, args.max_fraction):
        print(note, file=sys.stderr)
    if args.pixel_map:
        from neuroplast.plots.pixel_map import draw_pixel_map

        draw_pixel_map(model.selector.kept, args.pixel_map, n_features=model.n_inputs)
        print(f"pixel map: {args.pixel_map}")
    if args.out:
        metadata = {
            "invert": args.invert,
            "parent": {"path": str(args.model), "metadata": parent_metadata},
            "pruning": {"site": args.site, "rule": rule, "measure": measure,
                        "strategy": strategy.kind, "value": strategy.value,
                        "max_fraction": args.max_fraction, "recompute": args.recompute,
                        "cycles": args.cycles, "retrain_paper_epochs": retrain,
                        "seed": plan.seed, **protocol.as_dict(), "data": dataset.source,
                        "before": before, "after": dict(final),
                        "results": [r.as_dict() for r in results]},
        }
        save_model(model, args.out, metadata=metadata, overwrite=args.force)
        print(f"saved {args.out}")
    else:
        print("not saved: give --out FILE to keep the pruned net")
    return 0

