"""``neuroplast inspect``: every neuron of a site with its statistics, efficiencies and true cost.

For one site of a saved model, on the MNIST training set (the paper's statistics, REFERENCE
§1.1): mean and variance of each neuron's output, E_k (eq. 28) and E'_k (eq. 17), and the exact
change of mean training loss and accuracy when that neuron alone is removed with ``--rule``
(:mod:`neuroplast.oracle`). Rows are sorted by E_k, least efficient first, followed by
Spearman's rank correlation of each efficiency with Δ loss: how well it predicts the true cost.
A thin layer over the library: every argument is checked, and an existing ``--plot`` refused,
before the data is loaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from neuroplast.cli.common import (
    FIGURE_TYPES,
    add_data_arguments,
    check_encoding,
    check_force_has_target,
    check_loaded_model,
    check_mnist_model,
    check_output,
    load_data,
)
from neuroplast.data import Split
from neuroplast.death import get_rule
from neuroplast.efficiency import connection_cut_efficiency, covariance_efficiency
from neuroplast.models import MLP, load_model
from neuroplast.oracle import loss_change_oracle
from neuroplast.plots.efficiency_scatter import draw_efficiency_scatter
from neuroplast.stats import collect_site_statistics, spearman
from neuroplast.train.report import format_table

COLUMNS = ("index", "mean", "variance", "E_k", "E_prime_k", "delta_loss", "delta_accuracy")
"""The fields of each neuron's row, in order (also the keys of ``--json``)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="per-neuron statistics, E_k, E'_k and the true loss change of removal",
        description="For every neuron of a site: mean and variance of its output, E_k (eq. 28), "
                    "E'_k (eq. 17) and the exact change of training loss and accuracy when it "
                    "alone is removed with --rule; sorted by E_k (least efficient first), with "
                    "the Spearman rank correlation of each efficiency with the loss change.")
    p.add_argument("model", help="a model file written by neuroplast")
    p.add_argument("--site", default="hidden1",
                   help="input, hidden1 (the paper's second layer, default), hidden2, ...")
    p.add_argument("--rule", default="A1",
                   help="re-wiring rule for the loss change: A1 (default), A2, A3, A3-appendix, "
                        "lstsq, none")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="also draw E_k and E'_k against the loss change into this PNG")
    p.add_argument("--force", action="store_true", help="overwrite an existing --plot file")
    add_data_arguments(p)
    p.set_defaults(run=run)


def inspect_site(model: MLP, site: str, split: Split, rule: str) -> dict[str, Any]:
    """The report as a JSON-ready dict: site, rule, neurons (sorted by E_k), rank correlation."""
    stats = collect_site_statistics(model, site, split.x, covariance=True, distributed=False)
    e_k = connection_cut_efficiency(model, site, stats)  # (n,)
    e_prime = covariance_efficiency(stats.cov).values  # (n,)
    oracle = loss_change_oracle(model, site, split, rule, stats=stats)
    order = sorted(range(stats.width), key=lambda k: (float(e_k[k]), k))
    columns = {
        "mean": stats.mean, "variance": stats.var, "E_k": e_k, "E_prime_k": e_prime,
        "delta_loss": oracle.delta_loss, "delta_accuracy": oracle.delta_accuracy,
    }
    neurons = [{"index": k, **{name: float(values[k]) for name, values in columns.items()}}
               for k in order]
    return {
        "site": site,
        "rule": oracle.rule,
        "neurons": neurons,
        "rank_correlation": {
            "E_k": spearman(e_k, oracle.delta_loss),
            "E_prime_k": spearman(e_prime, oracle.delta_loss),
        },
    }


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.4f}"


def _table(report: dict[str, Any]) -> str:
    rows = [[row["index"]] + [f"{row[c]:.6g}" for c in COLUMNS[1:]] for row in report["neurons"]]
    corr = report["rank_correlation"]
    return "\n".join([
        f"site {report['site']}, rule {report['rule']}, {len(rows)} neurons, sorted by E_k "
        "(least efficient first); delta = after removing the neuron alone - before, on the "
        "training set",
        format_table(COLUMNS, rows),
        "",
        f"Spearman rank correlation with delta_loss:  E_k {_number(corr['E_k'])}   "
        f"E'_k {_number(corr['E_prime_k'])}",
    ])


def run(args: argparse.Namespace) -> int:
    rule = get_rule(args.rule).name
    check_force_has_target(args.force, plot=args.plot)
    check_output(args.plot, args.force, "--plot", "fig.png", FIGURE_TYPES)
    model, metadata = load_model(args.model)
    model.site(args.site)  # an unknown site fails before the data is loaded
    check_mnist_model(model)
    check_loaded_model(model, args.model)
    check_encoding(args, metadata, args.model)
    dataset = load_data(args)
    report = inspect_site(model, args.site, dataset.train, rule)
    if args.plot is not None:
        neurons = report["neurons"]

        def column(name: str) -> torch.Tensor:
            return torch.tensor([row[name] for row in neurons], dtype=torch.float64)

        draw_efficiency_scatter(column("delta_loss"),
                                {"E_k": column("E_k"), "E'_k": column("E_prime_k")}, args.plot,
                                title=f"{Path(args.model).name}: site {args.site}, rule {rule}")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report))
        if args.plot is not None:
            print(f"plot written to {args.plot}")
    return 0
