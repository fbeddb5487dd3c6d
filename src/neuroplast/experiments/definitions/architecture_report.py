"""The architecture frontier's report: the JSON file, Markdown tables and a figure.

``architectures.json`` has exactly this schema (one row per seed, method, ratio and
fine-tuning; ``dense`` is the unpruned model's metric, mean over seeds; ``seconds`` is the
pruning's wall time in units of one forward pass of the whole model over the calibration
batches, measured in the same run)::

    {"models": {"<name>": {"metric": "accuracy" | "perplexity", "higher_is_better": bool,
                           "dense": float,
                           "rows": [{"method": str, "family": "ours" | "baseline",
                                     "ratio": float, "finetune": bool, "seed": int,
                                     "value": float, "seconds": float}]}}}

The Markdown has, per model, the metric as mean ± s.e. over seeds for every method × ratio
without and with fine-tuning (the best of each ratio in bold) and the cost table; the figure
one row of two panels per model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neuroplast
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.folder import PNG_SOFTWARE, check_figure_owned
from neuroplast.experiments.report import new_figure, write_summary
from neuroplast.experiments.stats_summary import format_mean_se, markdown_table, summarize
from neuroplast.files import atomic_write, atomic_write_text

ROW_KEYS = ("method", "family", "ratio", "finetune", "seed", "value", "seconds")
"""The keys of a row of ``architectures.json``, in order."""
MODEL_KEYS = ("metric", "higher_is_better", "dense", "rows")
DIGITS = {"accuracy": 4, "perplexity": 3}


def export(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The stored runs in the schema of ``architectures.json`` (module doc); models in the
    order of their first run, rows in run order.

    Raises:
        NeuroplastError: runs of one model that disagree on its metric.
    """
    models: dict[str, dict[str, Any]] = {}
    dense: dict[str, list[float]] = {}
    for record in records:
        result, seed = record["result"], int(record["spec"]["seed"])
        name = result["architecture"]
        model = models.setdefault(name, {"metric": result["metric"],
                                         "higher_is_better": result["higher_is_better"],
                                         "dense": 0.0, "rows": []})
        if (model["metric"], model["higher_is_better"]) != (result["metric"],
                                                            result["higher_is_better"]):
            raise NeuroplastError(f"the runs of {name!r} disagree on its metric")
        dense.setdefault(name, []).append(float(result["dense"]))
        model["rows"] += [{"method": row["method"], "family": row["family"],
                           "ratio": float(row["ratio"]), "finetune": bool(row["finetune"]),
                           "seed": seed, "value": float(row["value"]),
                           "seconds": float(row["seconds"])} for row in result["rows"]]
    for name, model in models.items():
        model["dense"] = summarize(dense[name]).mean
    return {"models": models}


def _methods(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(method, family) in order of appearance."""
    return list(dict.fromkeys((row["method"], row["family"]) for row in rows))


def _cell(rows: Sequence[Mapping[str, Any]], field: str, digits: int) -> tuple[str, float]:
    summary = summarize(row[field] for row in rows)
    return format_mean_se(summary.mean, summary.se, digits, n=summary.n), summary.mean


def metric_table(model: Mapping[str, Any], finetune: bool) -> str:
    """Method × ratio, the metric's mean ± s.e. over seeds; the best of each ratio in bold."""
    rows = [row for row in model["rows"] if row["finetune"] == finetune]
    ratios = sorted({row["ratio"] for row in rows})
    digits = DIGITS.get(model["metric"], 4)
    cells: dict[tuple[str, float], tuple[str, float]] = {}
    for method, _ in _methods(rows):
        for ratio in ratios:
            chosen = [r for r in rows if r["method"] == method and r["ratio"] == ratio]
            if chosen:
                cells[(method, ratio)] = _cell(chosen, "value", digits)
    pick = max if model["higher_is_better"] else min
    best = {ratio: pick(mean for (_, r), (_, mean) in cells.items() if r == ratio)
            for ratio in ratios}
    lines = []
    for method, family in _methods(rows):
        line = [family, method]
        for ratio in ratios:
            text, mean = cells.get((method, ratio), ("-", float("nan")))
            line.append(f"**{text}**" if mean == best[ratio] else text)
        lines.append(line)
    return markdown_table(["family", "method", *[f"ratio {r:g}" for r in ratios]], lines)


def headline_rows(exported: Mapping[str, Any]) -> list[list[str]]:
    """Per model, fine-tuning and ratio: our best method and the best baseline (by mean over
    seeds), and their paired difference over the seeds both have, ours − baseline in the
    direction where positive is better, with a verdict beyond 2 standard errors."""
    lines = []
    for name, model in exported["models"].items():
        digits = DIGITS.get(model["metric"], 4)
        sign = 1.0 if model["higher_is_better"] else -1.0
        for finetune in (False, True):
            rows = [row for row in model["rows"] if row["finetune"] == finetune]
            for ratio in sorted({row["ratio"] for row in rows}):
                at = [row for row in rows if row["ratio"] == ratio]
                best = {}
                for family in ("ours", "baseline"):
                    methods = {row["method"] for row in at if row["family"] == family}
                    if methods:
                        best[family] = max(methods, key=lambda m: sign * summarize(
                            row["value"] for row in at if row["method"] == m).mean)
                if len(best) < 2:
                    continue
                values = {family: {row["seed"]: row["value"] for row in at
                                   if row["method"] == method}
                          for family, method in best.items()}
                seeds = sorted(set(values["ours"]) & set(values["baseline"]))
                diff = summarize(sign * (values["ours"][s] - values["baseline"][s])
                                 for s in seeds)
                if diff.se is None:
                    verdict = "one seed"
                elif abs(diff.mean) <= 2 * diff.se:
                    verdict = "level"
                else:
                    verdict = "ours ahead" if diff.mean > 0 else "baseline ahead"
                means = {family: summarize(values[family].values()).mean for family in best}
                lines.append([name, "yes" if finetune else "no", f"{ratio:g}",
                              f"{best['ours']}: {means['ours']:.{digits}f}",
                              f"{best['baseline']}: {means['baseline']:.{digits}f}",
                              format_mean_se(diff.mean, diff.se, digits, n=diff.n), verdict])
    return lines


def headline_table(exported: Mapping[str, Any]) -> str:
    """:func:`headline_rows` as Markdown."""
    return markdown_table(["model", "fine-tuned", "ratio", "best of ours", "best baseline",
                           "ours − baseline (better > 0)", "verdict"],
                          headline_rows(exported))


def cost_table(model: Mapping[str, Any]) -> str:
    """Method × ratio, the pruning's cost in forward passes (mean ± s.e. over seeds)."""
    rows = [row for row in model["rows"] if not row["finetune"]]
    ratios = sorted({row["ratio"] for row in rows})
    lines = []
    for method, family in _methods(rows):
        line = [family, method]
        for ratio in ratios:
            chosen = [r for r in rows if r["method"] == method and r["ratio"] == ratio]
            line.append(_cell(chosen, "seconds", 2)[0] if chosen else "-")
        lines.append(line)
    return markdown_table(["family", "method", *[f"ratio {r:g}" for r in ratios]], lines)


def size_table(records: Sequence[dict[str, Any]], name: str) -> str:
    """Method × ratio, the parameters left as a fraction of the unpruned model's (mean over
    seeds): FLAP's allocation counts parameters, the uniform one neurons."""
    results = [r["result"] for r in records if r["result"]["architecture"] == name]
    rows = [row | {"share": row["parameters"] / result["parameters"]}
            for result in results for row in result["rows"] if not row["finetune"]]
    ratios = sorted({row["ratio"] for row in rows})
    lines = []
    for method, family in _methods(rows):
        line = [family, method]
        for ratio in ratios:
            chosen = [r["share"] for r in rows if r["method"] == method and r["ratio"] == ratio]
            line.append(f"{summarize(chosen).mean:.3f}" if chosen else "-")
        lines.append(line)
    return markdown_table(["family", "method", *[f"ratio {r:g}" for r in ratios]], lines)


def made_by(context: Mapping[str, Any]) -> tuple[str, str]:
    """("neuroplast commit `…` (`git describe`: `…`)" or the version, UTC date and time)."""
    made = f"neuroplast {neuroplast.__version__}"
    if "commit" in context:
        made = f"neuroplast commit `{context['commit']}` (`git describe`: " \
               f"`{context['describe']}`)"
    return made, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def markdown(records: Sequence[dict[str, Any]], exported: Mapping[str, Any], command: str,
             figure: str | None, context: Mapping[str, Any] | None = None) -> str:
    """The report: how it was made, then per model its sites, tables and skipped methods."""
    context = dict(context or {})
    made, date = made_by(context)
    lines = [
        "# Architecture frontier: trained models pruned by every method, without and with "
        "fine-tuning",
        "",
        f"Generated by `{command}` on {date} UTC, {made}, from {len(records)} stored runs "
        "(one per model and training seed) of the experiment `architecture-frontier`.",
        "",
        "Every site `neuroplast.find_sites` offers is pruned by the ratio: uniformly (each site "
        "loses round(ratio × width) neurons, one site after another) or, for FLAP, by its "
        "global allocation (standardised scores of all sites ranked together, statistics of "
        "the unpruned model, ratio = fraction of the sites' parameters). Values are the "
        "validation metric, mean ± standard error over seeds; the best of each ratio is in "
        "bold. Fine-tuning is the model family's fixed budget, the same for every method. "
        "Cost is the pruning's wall time in forward passes of the whole model over the "
        "calibration batches, timed in the same run (`seconds` in `architectures.json`).",
        "",
        "Baselines that are one of our rules, shown numerically by tests that could fail: "
        "FLAP's fluctuation score is E_k (eq. 28) with unit consumer gain (f' = 1, C_ii = 1) "
        "and its bias compensation is A1 — same removals and same outputs as `prune(rule='A1',"
        " measure='flap')` under FLAP's allocation "
        "(`tests/test_architecture_frontier.py::test_flap_equals_e_k_with_unit_gain_and_the_"
        "library_procedure`); structured OBS (ZipLM) equals our lstsq with the greedy "
        "conditional selection when the site's means are zero and the consumer gain is one "
        "(`tests/test_structured_baselines.py::test_obs_equals_lstsq_greedy_on_zero_means_"
        "unit_gain`), and differs otherwise (uncentred H, no intercept, no gain); Torch-"
        "Pruning's group L2 / LAMP rank as `magnitude-l2` on sites without BatchNorm "
        "(`test_tp_group_magnitude_is_magnitude_to_the_p_over_its_mean`).",
        "",
    ]
    lines += ["## Headline: our best method against the best baseline", "",
              "Per model, ratio and fine-tuning: the method of each family with the best mean, "
              "and their difference seed by seed (paired; mean ± s.e.; positive = ours "
              "better, for perplexity ours lower). *Level* = within 2 s.e.", "",
              headline_table(exported), ""]
    for name, model in exported["models"].items():
        results = [r["result"] for r in records if r["result"]["architecture"] == name]
        seeds = sorted({r["spec"]["seed"] for r in records
                        if r["result"]["architecture"] == name})
        dense = summarize(r["dense"] for r in results)
        digits = DIGITS.get(model["metric"], 4)
        better = "higher" if model["higher_is_better"] else "lower"
        sites = ", ".join(f"`{site}` ({width})" for site, width in results[0]["sites"].items())
        steps = next((r["spec"]["config"]["finetune_steps"] for r in records
                      if r["result"]["architecture"] == name), 0)
        lines += [
            f"## {name}",
            "",
            f"Metric: validation {model['metric']} ({better} is better); unpruned "
            f"{format_mean_se(dense.mean, dense.se, digits, n=dense.n)}; seeds {seeds}. "
            f"Sites: {sites}. Fine-tuning: {steps} steps.",
            "",
            "### Without fine-tuning",
            "",
            metric_table(model, finetune=False),
            "",
            f"### After fine-tuning ({steps} steps)",
            "",
            metric_table(model, finetune=True),
            "",
            "### Cost (forward passes of the whole model over the calibration batches)",
            "",
            cost_table(model),
            "",
            "### Parameters left (fraction of the unpruned model's)",
            "",
            size_table(records, name),
            "",
        ]
        skipped = {method: why for r in results for method, why in r["skipped"].items()}
        failed = {method: why for r in results for method, why in r.get("failed", {}).items()}
        lines += [f"- Skipped `{method}`: {why}" for method, why in skipped.items()]
        lines += [f"- **Failed** `{method}`: {why}" for method, why in failed.items()]
        lines += [""] if skipped or failed else []
    if figure is not None:
        lines += [f"![{figure}]({figure})", ""]
    if "machine" in context:
        lines += ["## Machine", "",
                  markdown_table(["property", "value"],
                                 [[k, v] for k, v in context["machine"].items()]), ""]
    return "\n".join(lines)


def figure_of(exported: Mapping[str, Any]) -> Any | None:
    """One row per model: the metric vs ratio without (left) and with (right) fine-tuning;
    ours solid and coloured, baselines dashed; the unpruned model as a grey line."""
    models = exported["models"]
    figure = new_figure(11, 3.6 * max(1, len(models)))
    if figure is None or not models:
        return None
    axes = figure.subplots(len(models), 2, squeeze=False)
    for index, (name, model) in enumerate(models.items()):
        for column, finetune in enumerate((False, True)):
            ax = axes[index, column]
            rows = [row for row in model["rows"] if row["finetune"] == finetune]
            for method, family in _methods(rows):
                ratios = sorted({r["ratio"] for r in rows if r["method"] == method})
                means = [summarize(r["value"] for r in rows if r["method"] == method
                                   and r["ratio"] == ratio).mean for ratio in ratios]
                ax.plot(ratios, means, marker="o", ms=3,
                        ls="-" if family == "ours" else "--", lw=2 if family == "ours" else 1,
                        label=f"{method} ({family})")
            ax.axhline(model["dense"], color="0.5", lw=1, label="unpruned")
            ax.set(title=f"{name}, {'after' if finetune else 'without'} fine-tuning",
                   xlabel="pruning ratio", ylabel=model["metric"])
            ax.grid(alpha=0.3)
        axes[index, 0].legend(fontsize=6, ncol=2)
    return figure


def check_json_owned(path: Path) -> None:
    """Refuse to replace a JSON file of a results folder that is not an earlier report."""
    if not path.exists():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ours = isinstance(data, dict) and set(data) == {"models"}
    except (OSError, UnicodeDecodeError, ValueError):
        ours = False
    if not ours:
        raise NeuroplastError(f"{path} exists and was not written by neuroplast, which never "
                              "overwrites such files; move it out of the way, or choose "
                              "another --out")


def write_report(records: Sequence[dict[str, Any]], out_dir: Path, *, summary: bool,
                 stem: str = "architectures", command: str | None = None,
                 context: Mapping[str, Any] | None = None) -> Path:
    """Write ``<stem>.json``, ``<stem>.png`` and the Markdown into ``out_dir``.

    Args:
        records: stored runs of ``architecture-frontier``.
        out_dir: the folder.
        summary: a results folder of ``neuroplast reproduce``: the Markdown is ``summary.md``
            (marked) and no file neuroplast did not write is replaced; else ``<stem>.md``.
        stem: name of the files.
        command: the command line recorded in the report.
        context: ``commit``, ``describe`` and ``machine`` for the report (the benchmark's).

    Returns:
        The Markdown file's path.
    """
    if not records:
        raise NeuroplastError("no architecture-frontier runs to report")
    exported = export(records)
    return write_files(out_dir, stem, summary=summary, exported=exported,
                       make_figure=lambda: figure_of(exported),
                       make_text=lambda shown: markdown(
                           records, exported,
                           command or "neuroplast reproduce architecture-frontier", shown,
                           context))


def write_files(out_dir: Path, stem: str, *, summary: bool, exported: Mapping[str, Any],
                make_figure: Callable[[], Any | None],
                make_text: Callable[[str | None], str]) -> Path:
    """Write ``<stem>.json`` (``exported``), ``<stem>.png`` (``make_figure()``, when
    matplotlib is there) and the Markdown ``make_text(png name or None)`` into ``out_dir``:
    ``summary.md`` in a results folder of ``neuroplast reproduce`` (``summary``: no file
    neuroplast did not write is replaced), else ``<stem>.md``. Returns the Markdown's path."""
    out_dir = Path(out_dir)
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    if summary:
        check_json_owned(json_path)
        check_figure_owned(png_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json_path, json.dumps(exported, indent=1) + "\n")
    figure, shown = make_figure(), None
    if figure is not None:
        software = f"{PNG_SOFTWARE} {neuroplast.__version__} (matplotlib)"
        atomic_write(png_path, lambda handle: figure.savefig(handle, format="png", dpi=100,
                                                             metadata={"Software": software}))
        shown = png_path.name
    text = make_text(shown)
    if summary:
        return write_summary(out_dir, [text])
    path = out_dir / f"{stem}.md"
    atomic_write_text(path, text)
    return path
