"""``neuroplast inspect-model``: every neuron of a site of the user's model, with its efficiencies.

For one site of the model ``--factory`` builds (with ``--weights``), on the calibration data:
the mean and variance of each neuron's value, E_k (eq. 28) and E'_k (eq. 17), sorted by E_k
(least efficient first: the first to die under A1). A thin layer over
:func:`neuroplast.stats.collect_site_statistics` and :mod:`neuroplast.efficiency`; the input
checks of ``sites`` run first.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from torch import nn

from neuroplast.cli.user_model import (
    add_model_arguments,
    check_data_fits,
    find_site,
    load_user_model,
    module_names,
    read_data,
)
from neuroplast.data.calibration import Calibration
from neuroplast.efficiency import connection_cut_efficiency, covariance_efficiency
from neuroplast.stats import collect_site_statistics
from neuroplast.train.report import format_table

COLUMNS = ("index", "mean", "variance", "E_k", "E_prime_k")
"""The fields of each neuron's row, in order (also the keys of ``--json``)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect-model", help="per-neuron statistics, E_k and E'_k of a site of your own model",
        description="For every neuron of a site of your own model (--factory, --weights), on "
                    "--data: mean and variance of its value, E_k (eq. 28) and E'_k (eq. 17), "
                    "sorted by E_k, least efficient first.")
    add_model_arguments(p)
    p.add_argument("--site", required=True, help="the site (see `neuroplast sites`)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def inspect_site(model: nn.Module, site: Any, data: Calibration,
                 batch_size: int) -> dict[str, Any]:
    """The report as a JSON-ready dict: site, kind, width, consumer, neurons sorted by E_k."""
    stats = collect_site_statistics(model, site, data.inputs_for(model), covariance=True,
                                    batch_size=batch_size, distributed=False)
    e_k = connection_cut_efficiency(model, site, stats)  # (n,)
    e_prime = covariance_efficiency(stats.cov).values  # (n,)
    columns = {"mean": stats.mean, "variance": stats.var, "E_k": e_k, "E_prime_k": e_prime}
    order = sorted(range(stats.width), key=lambda k: (float(e_k[k]), k))
    return {
        "site": site.name, "kind": site.kind, "width": site.width,
        "consumer": module_names(model).get(id(site.consumer), "?"),
        "examples": data.n, "rows": int(stats.count),
        "neurons": [{"index": k, **{c: float(v[k]) for c, v in columns.items()}}
                    for k in order],
    }


def format_report(report: dict[str, Any]) -> str:
    rows = [[n["index"]] + [f"{n[c]:.6g}" for c in COLUMNS[1:]] for n in report["neurons"]]
    return "\n".join([
        f"site {report['site']} ({report['kind']}, consumer {report['consumer']}), "
        f"{report['width']} neurons over {report['examples']} examples ({report['rows']} rows), "
        "sorted by E_k (least efficient first); index: the neuron's position in the model "
        "as loaded (after any pruning or growth it is not the original model's numbering)",
        format_table(COLUMNS, rows),
    ])


def run(args: argparse.Namespace) -> int:
    model = load_user_model(args)
    data = read_data(args)
    check_data_fits(model, data, labels_used=False)  # it never reads the labels
    site = find_site(model, data, args.site)
    report = inspect_site(model, site, data, args.batch_size)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
