"""``neuroplast sites``: the sites discovery finds in a user's model, and why others are not.

A thin layer over :func:`neuroplast.explain_sites`: the model is built from
``--factory`` (with ``--weights``), run on the first examples of ``--data``, and every site is
listed with
its kind, width and consumer; the Linear / Conv modules not offered are listed with the
reason discovery gives. The names are what ``prune-model``, ``grow-model`` and
``inspect-model`` take as ``--site``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from torch import nn

from neuroplast.cli.user_model import (
    add_model_arguments,
    check_data_fits,
    discovery_example,
    load_user_model,
    module_names,
    read_data,
)
from neuroplast.data.calibration import Calibration
from neuroplast.sites import explain_sites
from neuroplast.train.report import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sites", help="list the sites (prunable/growable neurons) of your own model",
        description="Build your model with --factory MODULE:FUNCTION (and --weights), run it "
                    "on --data, and list every site discovery finds (name, kind, width, "
                    "consumer) and every Linear/Conv module not offered, with the reason. "
                    "The names are the --site of prune-model, grow-model and inspect-model.")
    add_model_arguments(p, batches=False)  # two examples find the sites
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def sites_report(model: nn.Module, data: Calibration) -> dict[str, Any]:
    """Sites, modules not offered (with the reason) and discovery's notes, JSON-ready."""
    found = explain_sites(model, discovery_example(model, data))
    names = module_names(model)
    sites = [{"name": site.name, "kind": site.kind, "width": site.width,
              "consumer": names.get(id(site.consumer), "?"),
              "consumer_class": type(site.consumer).__name__,
              "notes": list(site.notes)}
             for site in found.sites]
    return {"data": data.source, "examples": data.n, "input_shape": list(data.x.shape[1:]),
            "sites": sites,
            "not_offered": [{"module": s.module, "reason": s.reason} for s in found.skipped],
            "notes": list(found.notes)}


def format_report(report: dict[str, Any], factory: str) -> str:
    """The report as text: a table of sites, then the modules not offered."""
    shape = "x".join(map(str, report["input_shape"])) or "scalar"
    lines = [f"sites of {factory} (--data {report['data']}: {report['examples']} examples of "
             f"shape {shape}):"]
    rows = [[s["name"], s["kind"], s["width"], f"{s['consumer']} ({s['consumer_class']})"]
            for s in report["sites"]]
    lines.append(format_table(["site", "kind", "width", "consumer"], rows) if rows
                 else "no sites found")
    for site in report["sites"]:
        lines += [f"  {site['name']}: {note}" for note in site["notes"]]
    if report["not_offered"]:
        lines += ["", "not offered:"]
        lines += [f"  {m['module']}: {m['reason']}" for m in report["not_offered"]]
    if report["notes"]:
        lines += ["", *(f"note: {note}" for note in report["notes"])]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    model = load_user_model(args)
    data = read_data(args)
    check_data_fits(model, data, labels_used=False)  # it never reads the labels
    report = sites_report(model, data)
    print(json.dumps(report, indent=2) if args.json else format_report(report, args.factory))
    return 0
