"""The compression frontier's report: Markdown, JSON and PNG from the stored runs.

:func:`summarise` turns seed records (one per trained net) into the report dict — goal
verdicts, winners with paired margins, the accuracy tables, notes, and every record;
:func:`markdown` renders it; :func:`write_report` writes ``summary.md`` (a results folder of
``neuroplast reproduce``) or ``<stem>.md`` (``docs/benchmarks``, by
``python -m benchmarks.frontier``), ``<stem>.json`` and ``<stem>.png``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neuroplast
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions.frontier_figure import frontier_figure
from neuroplast.experiments.definitions.frontier_methods import EXCLUDED, methods_for
from neuroplast.experiments.definitions.frontier_tables import (
    METRICS,
    Method,
    accuracy_table,
    common_methods,
    goal_verdicts,
    identical_rankings,
    mean_se,
    signed,
    winners,
    winners_table,
)
from neuroplast.experiments.folder import PNG_SOFTWARE
from neuroplast.experiments.report import write_summary
from neuroplast.experiments.stats_summary import markdown_table
from neuroplast.files import atomic_write, atomic_write_text
from neuroplast.train import get_protocol

GENERATED_BY = "neuroplast compression-frontier"
"""The ``generated_by`` entry of the JSON report (a results folder's file is only replaced
when it carries it)."""


def summarise(records: Sequence[dict[str, Any]], command: str,
              context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report dict: runner-format ``rows``, tables, verdicts, winners, notes, records.

    Args:
        records: seed records, in seed order; one configuration and protocol.
        command: the command line recorded in the report.
        context: extra entries for the report (the benchmark adds ``commit``, ``describe``
            and ``machine``).

    Raises:
        NeuroplastError: no records, or records of several configurations.
    """
    if not records:
        raise NeuroplastError("no compression-frontier runs to report")
    config, protocol = records[0]["config"], records[0]["protocol"]
    if any(r["config"] != config or r["protocol"] != protocol for r in records):
        raise NeuroplastError("the runs to report come from different configurations; report "
                              "one configuration and protocol at a time")
    methods = common_methods(records, methods_for(config["measures"]))
    widths = sorted(config["widths"], reverse=True)
    site, width = config["site"], records[0]["width"]
    skipped = {name: reason for r in records for name, reason in r["skipped"].items()}
    result_rows, tables, verdicts, plain_verdicts, winner_rows = [], [], [], [], {}
    for metric in METRICS:
        tables.append(accuracy_table(records, methods, widths, metric, site, width))
    for metric in METRICS:
        rows = winners(records, methods, widths, metric)
        winner_rows[metric] = rows
        tables.append(winners_table(rows, metric))
        verdicts += goal_verdicts(rows, metric)
        plain_verdicts += goal_verdicts(rows, metric, "baseline_none")
        for row in rows:
            if "baseline_any" not in row:
                continue
            result_rows.append({
                "name": f"N4 {site} kept {row['width']}: our best ({row['ours']}) vs best "
                        f"baseline ({row['baseline_any']}), {metric.replace('_', ' ')}",
                "value": row["ours_mean"], "unit": "accuracy",
                "reference": row["baseline_any_mean"],
                "reference_name": f"best baseline ranking with any rule: {row['baseline_any']}",
                "ratio": row["ours_mean"] / row["baseline_any_mean"], "goal": "> 1",
                "note": f"paired difference {signed(row['ours_minus_baseline_any'])} over "
                        f"{len(records)} seeds",
            })
    return {
        "generated_by": GENERATED_BY,
        "rows": result_rows, "tables": tables,
        "notes": _notes(records, config, protocol, skipped, width),
        "goal": verdicts, "goal_vs_none": plain_verdicts, "winners": winner_rows,
        "command": command, "config": config | {"protocol": protocol},
        "methods": [{"rule": m.rule, "measure": m.measure, "ours": m.ours, "key": m.key}
                    for m in methods],
        "summary": {m.key: {str(w): {metric: mean_se([r["results"][m.key][str(w)][metric]
                                                      for r in records])
                                     for metric in METRICS} for w in widths}
                    for m in methods},
        "neuroplast": neuroplast.__version__,
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "data": records[0]["data_source"],
    } | dict(context or {}) | {"records": list(records)}


def _notes(records: Sequence[dict[str, Any]], config: Mapping[str, Any], protocol: str,
           skipped: Mapping[str, str], width: int) -> list[str]:
    first = records[0]
    notes = [
        f"Protocol: N4 (784-{width}-5-10, tanh) trained with the `{protocol}` protocol "
        f"({json.dumps(get_protocol(protocol).as_dict())}) for {config['paper_epochs']:g} "
        f"paper epochs; {first['train_examples']:,} training images ({first['data_source']}), "
        f"{first['test_examples']:,} test images. {config['site']} pruned to each kept width "
        f"K with amount = {width} − K, one shot, from one set of statistics over the training "
        f"images; no retraining. Seeds: {[r['seed'] for r in records]}.",
        "Every baseline ranking is also run with A1 and lstsq compensation: the three rows of "
        "one ranking remove the same neurons, so their differences are the compensation's. "
        "A1 is the paper's compensation and lstsq ours, so a baseline ranking that wins only "
        "with A1 or lstsq means that ranking picks better neurons for our compensation, not "
        "that a baseline tool (which slices: rule none) does better. A baseline with a greedy "
        "form runs it with its own rule as well (`obs/obs:greedy`: ZipLM's structured OBS, "
        "which re-wires the consumer by least squares without intercept).",
        "E^c_k = (1/P_kk) Σ_i g_i w_ik² (ours, `neuroplast.efficiency.conditional`) is what "
        "removing neuron k costs under lstsq compensation: the variance of x_k given its "
        "layer-mates (P = C⁻¹) times eq. 28's consumer weights. `E^c_k` ranks once; `E^c_k "
        "greedy` (`conditional:greedy`) removes the cheapest neuron, lets lstsq re-wire the "
        "consumer and downdate P, scores the survivors again and repeats.",
    ]
    measures = {m.partition(":")[0] for m in config["measures"]}
    notes += [f"Measure left out: `{name}` — {why}." for name, why in EXCLUDED.items()
              if name not in measures]
    notes += [f"Measure skipped: `{name}` — {why}" for name, why in skipped.items()]
    same = identical_rankings(records)
    if same:
        notes.append("Identical rankings on every seed (so identical rows): " + "; ".join(
            " = ".join(f"`{name}`" for name in group) for group in same) + ".")
    return notes


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: protocol, goal verdicts, winners, tables, figure, runs."""
    quick = report["config"]["protocol"] == "quick"
    site = report["config"]["site"]
    made = f"neuroplast {report['neuroplast']}"
    if "commit" in report:
        made = f"neuroplast commit `{report['commit']}` (`git describe`: `{report['describe']}`)"
    lines = [
        f"# Compression frontier: N4 {site} pruned without retraining"
        + (" (quick mode)" if quick else ""),
        "",
        f"Generated by `{report['command']}` on {report['date_utc']} UTC, {made}.",
        "",
        *[f"{note}\n" for note in report["notes"]],
        "Margins are paired differences over seeds (same net, two methods), mean ± standard "
        "error (sample s.d./√n). Winners are chosen by mean over the same seeds, so a margin "
        "within about 2 s.e. is not a clear win.",
        "",
        "## Goal: our best rule above every baseline at every width",
        "",
        "Against every baseline ranking with any rule (none, A1, lstsq or its own — the strict "
        "reading):",
        "",
        *report["goal"],
        "",
        "Against every baseline as other tools run it (its ranking, neurons sliced: rule none):",
        "",
        *report["goal_vs_none"],
        "",
    ]
    tables = report["tables"]
    for table in tables[2:] + tables[:2]:
        lines += [f"## {table['title'][0].upper()}{table['title'][1:]}", "",
                  markdown_table(table["headers"], table["rows"]), ""]
    for name in report.get("figures", []):
        lines += [f"![{name}]({name})", ""]
    records = report["records"]
    seconds = [r["seconds"] for r in records]
    trained = [r["train_seconds"] for r in records]
    first = records[0]["provenance"]
    lines += [
        "## Run",
        "",
        f"Per seed: {sum(seconds) / len(seconds):.1f} s on average, training "
        f"{sum(trained) / len(trained):.1f} s of it (one torch thread per run; neuroplast "
        f"{first['neuroplast']}, torch {first['torch']}, Python {first['python']}, "
        f"{first['platform']}). Each run is one seed of the experiment `compression-frontier` "
        "(stored and resumed by `neuroplast.experiments`); each ranking is scored once and "
        "each rule's removals continue from one width to the next "
        "(`neuroplast.death.frontier.prune_to_widths`: identical to "
        f"`neuroplast.death.prune(..., amount={records[0]['width']} − K)`).",
        "",
    ]
    if "machine" in report:
        lines += ["## Machine", "",
                  markdown_table(["property", "value"],
                                 [[k, v] for k, v in report["machine"].items()]), ""]
    return "\n".join(lines)


def rounded(value: Any, digits: int = 6) -> Any:
    """Floats rounded to ``digits`` decimals (an accuracy k/N stays exact for N < 10⁶)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def report_json(report: Mapping[str, Any]) -> str:
    """The report as JSON text: the summary indented, then one line per seed record."""
    head = json.dumps(rounded({k: v for k, v in report.items() if k != "records"}), indent=1)
    body = ",\n".join(json.dumps(rounded(r)) for r in report["records"])
    return f'{head[:-2]},\n "records": [\n{body}\n ]\n}}\n'


def _check_json_owned(path: Path) -> None:
    """Refuse to replace a JSON file in a results folder that this report did not write."""
    if not path.exists():
        return
    try:
        ours = json.loads(path.read_text(encoding="utf-8")).get("generated_by") == GENERATED_BY
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise NeuroplastError(f"{path} exists and was not written by neuroplast, which never "
                              "overwrites such files; move it out of the way, or choose "
                              "another --out")


def save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` as a PNG tagged as neuroplast's, atomically."""
    software = f"{PNG_SOFTWARE} {neuroplast.__version__} (matplotlib)"
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100,
                                                     metadata={"Software": software}))


def write_report(records: Sequence[dict[str, Any]], out_dir: Path, *, command: str,
                 summary: bool, stem: str = "frontier",
                 context: Mapping[str, Any] | None = None, appendix: str = "") -> Path:
    """Write the report into ``out_dir``; return the Markdown file's path.

    Args:
        records: seed records.
        out_dir: the folder.
        command: the command line recorded in the report.
        summary: a results folder of ``neuroplast reproduce``: the Markdown goes to
            ``summary.md`` (marked as neuroplast's), and no file neuroplast did not write is
            replaced. Otherwise ``<stem>.md`` (``docs/benchmarks``).
        stem: name of the JSON and PNG files (and of the Markdown when not ``summary``).
        context: extra report entries (:func:`summarise`).
        appendix: Markdown appended to the report.

    Raises:
        NeuroplastError: in a results folder, a file in the way that neuroplast did not write.
    """
    from neuroplast.experiments.folder import check_figure_owned

    out_dir = Path(out_dir)
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    if summary:
        _check_json_owned(json_path)
        check_figure_owned(png_path)
    report = summarise(records, command, context)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = report["config"]
    methods = [Method(m["rule"], m["measure"], m["ours"]) for m in report["methods"]]
    figure = frontier_figure(records, methods, config["widths"], records[0]["width"],
                             config["site"])
    if figure is not None:
        save_png(figure, png_path)
        report["figures"] = [png_path.name]
    atomic_write_text(json_path, report_json(report))
    text = markdown(report) + appendix
    if summary:
        return write_summary(out_dir, [text])
    path = out_dir / f"{stem}.md"
    atomic_write_text(path, text)
    return path
