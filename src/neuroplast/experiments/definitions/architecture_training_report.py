"""The report of ``architecture-training``: paired differences, events, loss curves.

``architecture-training.json`` holds, per model, one row per seed and arm and the paired
differences death-replication − plain (mean, standard error over seeds, n)::

    {"models": {"<name>": {"metric": str, "higher_is_better": bool, "steps": int,
                           "rows": [{"seed": int, "arm": "plain" | "death-replication",
                                     "value": float, "train_loss": float,
                                     "removed": int, "seconds": float}],
                           "paired": {"value": {"mean", "se", "n"},
                                      "train_loss": {"mean", "se", "n"}}}}}

A paired difference is called a change only when it lies more than two standard errors from
zero; otherwise the report says "no detectable difference" (with 5 seeds a t-test at the 5 %
level needs about 2.8 s.e.; two is the looser screen the reproduction's claims also use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neuroplast.errors import NeuroplastError
from neuroplast.experiments.definitions.architecture_report import made_by, write_files
from neuroplast.experiments.report import new_figure
from neuroplast.experiments.stats_summary import (
    Summary,
    format_mean_se,
    markdown_table,
    summarize,
)

ARMS = ("plain", "death-replication")
DIGITS = {"accuracy": 4, "perplexity": 3}


def _paired(records: Sequence[dict[str, Any]], field: str) -> Summary | None:
    diffs = [r["result"]["arms"]["death-replication"][field] - r["result"]["arms"]["plain"][field]
             for r in records]
    return summarize(diffs) if diffs else None


def _as_dict(summary: Summary | None) -> dict[str, Any] | None:
    return None if summary is None else {"mean": summary.mean, "se": summary.se,
                                         "n": summary.n}


def _by_model(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["result"]["architecture"], []).append(record)
    for name, group in groups.items():
        settings = {(r["result"]["metric"], r["result"]["steps"],
                     tuple(sorted(r["spec"]["config"].items()))) for r in group}
        if len(settings) != 1:
            raise NeuroplastError(f"the runs of {name!r} disagree on their metric, steps or "
                                  "schedule; report them from separate folders")
        seeds = [int(r["spec"]["seed"]) for r in group]
        if len(set(seeds)) != len(seeds):
            raise NeuroplastError(f"seed repeated among the runs of {name!r}")
        group.sort(key=lambda r: int(r["spec"]["seed"]))
    return groups


def export(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The stored runs in the schema of ``architecture-training.json`` (module doc)."""
    models = {}
    for name, group in _by_model(records).items():
        first = group[0]["result"]
        rows = [{"seed": int(r["spec"]["seed"]), "arm": arm,
                 "value": r["result"]["arms"][arm]["value"],
                 "train_loss": r["result"]["arms"][arm]["train_loss"],
                 "removed": sum(e["removed"] for e in r["result"]["arms"][arm]["events"]),
                 "seconds": r["result"]["arms"][arm]["seconds"]}
                for r in group for arm in ARMS]
        models[name] = {"metric": first["metric"], "higher_is_better": first["higher_is_better"],
                        "steps": first["steps"], "rows": rows,
                        "paired": {field: _as_dict(_paired(group, field))
                                   for field in ("value", "train_loss")}}
    return {"models": models}


def verdict(difference: Summary | None, higher_is_better: bool) -> str:
    """"better" / "worse" when the paired difference is more than 2 s.e. from zero."""
    if difference is None or difference.se is None:
        return "one seed: no standard error"
    if abs(difference.mean) <= 2 * difference.se:
        return "no detectable difference (|mean| ≤ 2 s.e.)"
    return "better" if (difference.mean > 0) == higher_is_better else "worse"


def _event_table(group: Sequence[dict[str, Any]]) -> str:
    events = [r["result"]["arms"]["death-replication"]["events"] for r in group]
    steps = sorted({e["step"] for run in events for e in run})
    sites = list(dict.fromkeys(e["site"] for run in events for e in run))
    rows = []
    for step in steps:
        cells = []
        for site in sites:
            values = [sum(e["removed"] for e in run if e["step"] == step and e["site"] == site)
                      for run in events]
            widths = [e["width"] for run in events for e in run
                      if e["step"] == step and e["site"] == site]
            cells.append(f"{summarize(values).mean:.1f} / {widths[0] if widths else '?'}")
        rows.append([step, *cells])
    return markdown_table(["step", *[f"`{s}` removed / width" for s in sites]], rows)


def markdown(records: Sequence[dict[str, Any]], exported: Mapping[str, Any], command: str,
             figure: str | None, context: Mapping[str, Any] | None = None) -> str:
    context = dict(context or {})
    made, date = made_by(context)
    config = records[0]["spec"]["config"]
    lines = [
        "# Death and replication during training, beyond the paper's MLP",
        "",
        f"Generated by `{command}` on {date} UTC, {made}, from {len(records)} stored runs "
        "(one per model and training seed) of the experiment `architecture-training`.",
        "",
        "Each run trains the model from scratch twice with its family's recipe, for the same "
        "number of steps, from the same initialisation and data order: **plain**, and "
        "**death-replication**: every ⌊steps/10⌋ steps (nine events, the last at least that "
        "many steps before the end, as the paper's 500 of 5000 epochs) on every site "
        "`neuroplast.find_sites` offers, A1 "
        f"removes the neurons whose E_k is below ρ = {config['relative_cutoff']} × the site's "
        f"largest (at most {config['max_fraction']:.0%} of the site), then B1 replicates as "
        "many of the most efficient survivors. Statistics: the family's calibration batches "
        "(training data). Training loss: mean cross-entropy over those batches after "
        "training (eval mode). A difference is death-replication − plain over the same seed; "
        "mean ± standard error over seeds.",
        "",
    ]
    for name, group in _by_model(records).items():
        model = exported["models"][name]
        digits = DIGITS.get(model["metric"], 4)
        rows = []
        for arm in ARMS:
            value = summarize(r["result"]["arms"][arm]["value"] for r in group)
            loss = summarize(r["result"]["arms"][arm]["train_loss"] for r in group)
            seconds = summarize(r["result"]["arms"][arm]["seconds"] for r in group)
            rows.append([arm, value.format(digits), loss.format(4), f"{seconds.mean:.0f}"])
        value_diff, loss_diff = _paired(group, "value"), _paired(group, "train_loss")
        rows.append(["**difference**",
                     format_mean_se(value_diff.mean, value_diff.se, digits, n=value_diff.n),
                     format_mean_se(loss_diff.mean, loss_diff.se, 4, n=loss_diff.n), ""])
        seeds = [int(r["spec"]["seed"]) for r in group]
        lines += [
            f"## {name}",
            "",
            f"{model['steps']} training steps; seeds {seeds}.",
            "",
            markdown_table(["arm", f"validation {model['metric']}", "training loss",
                            "seconds"], rows),
            "",
            f"- Validation {model['metric']}: "
            f"{verdict(value_diff, model['higher_is_better'])}.",
            f"- Training loss: {verdict(loss_diff, higher_is_better=False)}.",
            "",
            "Neurons removed (and replicated) per event, mean over seeds, and the site's width:",
            "",
            _event_table(group),
            "",
        ]
    if figure is not None:
        lines += [f"![{figure}]({figure})", ""]
    if "machine" in context:
        lines += ["## Machine", "",
                  markdown_table(["property", "value"],
                                 [[k, v] for k, v in context["machine"].items()]), ""]
    return "\n".join(lines)


def figure_of(records: Sequence[dict[str, Any]]) -> Any | None:
    """One panel per model: the training-loss curve of each arm, mean over seeds."""
    groups = _by_model(records)
    figure = new_figure(5.5 * max(1, len(groups)), 3.8)
    if figure is None or not groups:
        return None
    axes = figure.subplots(1, len(groups), squeeze=False)[0]
    for ax, (name, group) in zip(axes, groups.items(), strict=True):
        for arm, style in zip(ARMS, ("-", "--"), strict=True):
            curves = [r["result"]["arms"][arm]["curve"] for r in group]
            steps = [p["step"] for p in curves[0]]
            means = [summarize(c[i]["train_loss"] for c in curves).mean
                     for i in range(len(steps))]
            ax.plot(steps, means, ls=style, label=arm)
        for event_step in sorted({e["step"] for r in group
                                  for e in r["result"]["arms"]["death-replication"]["events"]}):
            ax.axvline(event_step, color="0.85", lw=0.8, zorder=0)
        ax.set(title=name, xlabel="step", ylabel="training loss (window mean)", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def write_report(records: Sequence[dict[str, Any]], out_dir: Path, *, summary: bool = True,
                 stem: str = "architecture-training", command: str | None = None,
                 context: Mapping[str, Any] | None = None) -> Path:
    """Write ``<stem>.json``, ``<stem>.png`` and the Markdown (``summary.md`` in a results
    folder of ``neuroplast reproduce``, else ``<stem>.md``) into ``out_dir``."""
    if not records:
        raise NeuroplastError("no architecture-training runs to report")
    exported = export(records)
    return write_files(out_dir, stem, summary=summary, exported=exported,
                       make_figure=lambda: figure_of(records),
                       make_text=lambda shown: markdown(
                           records, exported,
                           command or "neuroplast reproduce architecture-training", shown,
                           context))
