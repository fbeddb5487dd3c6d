"""replication: add one neuron by B1–B5 to a trained net (paper §5.6, Figs 21–22).

The paper trains N1, N2 and N3 for 25000 epochs (50 runs each), adds one neuron to the second
layer (our ``hidden1``) by B1–B5, trains 10, 100 and 1000 more epochs and plots the PDF of
Δ⟨H⟩ over runs (Fig. 21); and it trains 28 N1 nets for 10000 epochs, adds a neuron by B1, B4
or B5 and reports the accuracies after 10/100/1000 more epochs (Fig. 22). One run here is one
(configuration, seed): it trains the net once, then branches into every method.

Decisions where the paper is silent:

* **Δ⟨H⟩** (REFERENCE §1.15 item 9) = mean training cross-entropy after the extra epochs
  − mean training cross-entropy *at the replication point*, i.e. of the trained net before a
  neuron is added. The reference is the same for every method, so B4's jump at insertion
  counts against it (B1–B3 leave the function, and so the loss, unchanged). Negative = better.
* **Parent** (REFERENCE §1.11): the neuron of ``hidden1`` with the largest E_k (eq. 28,
  ``connection``), from statistics of the trained net on the training data; ties go to the
  lower index. B1–B3 split it; B4 adds a neuron with Xavier-normal weights and zero bias
  (REFERENCE §1.15 item 13, see :mod:`neuroplast.replication.split`); B5 adds nothing.
* **Horizons are checkpoints of one continued training**: after the neuron is added each
  branch trains 10 paper epochs, then 90 more, then 900 more, and is evaluated at the
  cumulative 10, 100 and 1000 paper epochs (the paper may have trained three separate
  continuations; with the same batches the 10-epoch state is the start of the 100-epoch one).
* **Shuffling of the extra epochs**: stage k (ending at H_k paper epochs) is shuffled by the
  seed ``(seed + 1) · 1000003 + H_k``, the same for every method, so all methods see the same
  batches in the same order; pretraining is shuffled by ``seed`` and initialised by ``seed``.
  χ draws (B1–B3) and B4's weights are seeded by ``seed``. A fresh SGD optimizer is made for
  each stage (momentum 0: SGD has no state, so this changes nothing).
* **Fig. 22's accuracies** are training-set accuracies (REFERENCE §1.15 item 8); test
  accuracies are reported beside them.
* **Run options** (docs/reproduction/fidelity.md): ``invert`` (the paper's probable inverted
  MNIST), ``init`` and ``l2``, as in the N4 experiments; the fidelity study runs Fig. 22's
  configuration, the one with printed numbers, under them.
* **Training is per run, not fused**: fused training shares the shuffling across seeds and
  cannot do surgery; N1–N3 are small enough to train one by one (see the timings in the
  report).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neuroplast.analysis import gaussian_kde
from neuroplast.data import Split
from neuroplast.efficiency import efficiency
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    Verdict,
    all_of,
    claims_section,
    direction_verdict,
    equivalence_verdict,
    reference_claim_text,
)
from neuroplast.experiments.definitions.random_neuron_spread import b4_random_std, b4_weights
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER, TEXT, map_of
from neuroplast.experiments.stage_checkpoints import stage_checkpoint
from neuroplast.experiments.stats_summary import (
    PAPER_VS_OURS_HEADERS,
    Summary,
    format_difference,
    markdown_table,
    paper_vs_ours_row,
    summarize,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.replication import replicate
from neuroplast.stats import SiteStatistics, collect_site_statistics
from neuroplast.train import Protocol, evaluate, restrict, train

SITE = "hidden1"
"""The paper's "second layer"."""
MEASURE = "connection"
"""E_k (eq. 28) chooses the parent."""
HORIZONS = (10, 100, 1000)
"""Extra paper epochs after the replication (cumulative checkpoints)."""
FIG21_METHODS = ("B1", "B2", "B3", "B4", "B5")
FIG22_METHODS = ("B1", "B4", "B5")
FIG21_NETS = ("N1", "N2", "N3")
FIG21_PRETRAIN = 25000
FIG22_PRETRAIN = 10000
STAGE_SEED_STRIDE = 1_000_003

DELTA_LOSS_TOLERANCE = 0.001
"""|Δ⟨H⟩(B4) − Δ⟨H⟩(B1)| (nats per example) we still call "as good as" (claim 18)."""
ACCURACY_TOLERANCE = 0.002
"""|accuracy(B4) − accuracy(B1)| we still call "≈" (claim 19)."""

METHOD_COLOURS = {"B1": "tab:blue", "B2": "goldenrod", "B3": "tab:green", "B4": "tab:purple",
                  "B5": "tab:red"}
"""The paper's colours in Fig. 21 (REFERENCE §1.11)."""
FIG22_COLUMNS = {"B5": "original_b5", "B4": "random_b4", "B1": "b1"}
"""Method → column of the paper's Fig. 22 table."""


# -- configurations and runs --------------------------------------------------------------------
def configs(protocol: Protocol) -> list[dict[str, Any]]:
    """Fig. 21 (N1–N3, 25000 epochs, B1–B5) and Fig. 22 (N1, 10000 epochs, B1/B4/B5).

    The smoke-test protocol keeps only N1 for Fig. 21.
    """
    nets = ("N1",) if protocol.name in SMOKE_TEST_PROTOCOLS else FIG21_NETS
    fig21 = [{"figure": "fig21", "arch": arch, "pretrain_paper_epochs": FIG21_PRETRAIN,
              "horizons": list(HORIZONS), "methods": list(FIG21_METHODS)} for arch in nets]
    fig22 = {"figure": "fig22", "arch": "N1", "pretrain_paper_epochs": FIG22_PRETRAIN,
             "horizons": list(HORIZONS), "methods": list(FIG22_METHODS)}
    return [*fig21, fig22]


def stage_seed(seed: int, horizon: float) -> int:
    """Shuffling seed of the extra-training stage ending at ``horizon`` paper epochs."""
    return (int(seed) + 1) * STAGE_SEED_STRIDE + int(horizon)


def metrics(model: MLP, splits: dict[str, Split]) -> dict[str, dict[str, float]]:
    """``{name: {"loss": mean cross-entropy, "accuracy": ...}}`` on every split."""
    out = {}
    for name, split in splits.items():
        result = evaluate(model, split)
        out[name] = {"loss": result.loss, "accuracy": result.accuracy}
    return out


def grow_and_retrain(model: MLP, method: str, *, stats: SiteStatistics, statistics_data: Split,
                     retrain: Split, protocol: Protocol, horizons: Sequence[float], seed: int,
                     splits: dict[str, Split],
                     b4_std: tuple[float, float] | None = None) -> dict[str, Any]:
    """Copy ``model``, add one neuron to ``hidden1`` by ``method``, train the horizons.

    Args:
        model: the trained net (not modified).
        method: ``B1``..``B5``.
        stats: statistics of ``hidden1`` of ``model`` on ``statistics_data``; the parent is
            the neuron with the largest E_k computed from them.
        statistics_data: the data of ``stats``.
        retrain: training data of the extra epochs.
        protocol: rescales the horizons.
        horizons: increasing cumulative paper epochs at which to evaluate.
        seed: seeds χ / B4's weights; the stages are shuffled by :func:`stage_seed`.
        splits: where to evaluate (name → split).
        b4_std: (incoming, outgoing) std of B4's neuron (run option ``b4_std``,
            :mod:`~neuroplast.experiments.definitions.random_neuron_spread`); None: the
            library's Xavier-normal. Other methods ignore it.

    Returns:
        ``width``, ``parents``, ``replication_wall_s``, ``after_replication`` (metrics) and
        ``stages``: per horizon ``paper_epochs``, ``steps``, ``wall_s`` and the metrics; B4
        with a ``b4_std`` also ``random_std``.
    """
    branch = copy.deepcopy(model)
    random_std = b4_std if method == "B4" else None
    started = time.perf_counter()
    result = replicate(branch, SITE, n=1, method=method, measure=MEASURE, stats=stats,
                       data=statistics_data, seed=seed, random_std=random_std)
    out: dict[str, Any] = {
        "width": result.width_after, "parents": result.parents.tolist(),
        "replication_wall_s": time.perf_counter() - started,
        "after_replication": metrics(branch, splits), "stages": [],
    }
    if random_std is not None:
        out["random_std"] = list(random_std)
    done = 0.0
    for horizon in horizons:
        history = train(branch, retrain, protocol, epochs=protocol.epochs(horizon - done),
                        seed=stage_seed(seed, horizon), progress=False,
                        checkpoint=stage_checkpoint(f"{method}-to-{horizon:g}"))
        done = horizon
        out["stages"].append({"paper_epochs": horizon, "steps": history.final["steps"],
                              "wall_s": history.final["wall_time_s"], **metrics(branch, splits)})
    return out


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    cfg = spec.config
    protocol = run_protocol(spec.protocol, spec.config)
    dataset = mnist(data_dir, invert=option(cfg, "invert"))
    data = restrict(dataset.train, protocol)
    splits = {"train": data, "test": dataset.test}

    model = initialize(build_mlp(cfg["arch"]), spec.seed, option(spec.config, "init"))
    history = train(model, data, protocol, epochs=protocol.epochs(cfg["pretrain_paper_epochs"]),
                    seed=spec.seed, progress=False, checkpoint=stage_checkpoint("pretrain"))
    pretrained = metrics(model, splits)

    started = time.perf_counter()
    stats = collect_site_statistics(model, SITE, data)
    scores = efficiency(MEASURE, model, SITE, stats, data)  # (width,) E_k
    parent = int(scores.argmax())  # the most efficient neuron (lowest index on a tie)
    statistics_wall = time.perf_counter() - started

    b4_std = b4_random_std(model, option(cfg, "b4_std"), option(cfg, "init"))
    methods = {}
    for method in cfg["methods"]:
        branch = grow_and_retrain(model, method, stats=stats, statistics_data=data, retrain=data,
                                  protocol=protocol, horizons=cfg["horizons"], seed=spec.seed,
                                  splits=splits, b4_std=b4_std)
        reference = pretrained["train"]["loss"]  # the loss at the replication point
        for checkpoint in branch["stages"]:
            checkpoint["delta_loss"] = checkpoint["train"]["loss"] - reference
        after = branch["after_replication"]["train"]["loss"]
        branch["delta_loss_at_replication"] = after - reference
        methods[method] = branch
    return {
        "arch": cfg["arch"],
        "pretrain": {"steps": history.final["steps"], "wall_s": history.final["wall_time_s"],
                     **pretrained},
        "efficiency": scores.tolist(),
        "parent": parent,
        "statistics_wall_s": statistics_wall,
        "methods": methods,
        "run_options": effective_options(spec.config, REPLICATION.options),
    }


# -- helpers shared by the reports ------------------------------------------------------------
def by_seed(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records sorted by seed (pairs across configurations line up)."""
    return sorted(records, key=lambda r: r["spec"]["seed"])


def stage(result: dict[str, Any], method: str, horizon: float) -> dict[str, Any]:
    """The checkpoint of ``method`` at ``horizon`` extra paper epochs in a run's result."""
    return next(s for s in result["methods"][method]["stages"] if s["paper_epochs"] == horizon)


def summary_over(records: Sequence[dict[str, Any]],
                 value: Callable[[dict[str, Any]], float]) -> Summary:
    """Mean ± s.e. over records of ``value(record["result"])``."""
    return summarize(value(r["result"]) for r in records)


def paired(records: Sequence[dict[str, Any]], first: Callable[[dict[str, Any]], float],
           second: Callable[[dict[str, Any]], float]) -> Summary:
    """Mean ± s.e. over seeds of the within-run difference first − second."""
    return summarize(first(r["result"]) - second(r["result"]) for r in records)


def describe(label: str, difference: Summary) -> str:
    """``"B1 − B3 = -0.0012 ± 0.0004 (n=28)"``."""
    return f"{label} = {format_difference(difference)}" + (
        "" if difference.se is None else f" (n={difference.n})")


def density(ax: Any, values: Sequence[float], colour: str, label: str) -> bool:
    """A Gaussian kernel density (Silverman's bandwidth) of ``values`` and a rug of them.

    With fewer than two distinct values only the rug is drawn. Returns whether a density was.
    """
    v = np.asarray(values, dtype=float)
    estimate = gaussian_kde(v)
    if estimate is not None:
        ax.plot(*estimate, color=colour, label=label)
    else:
        ax.plot([], [], color=colour, label=label)
    ax.plot(v, np.zeros_like(v), "|", color=colour, markersize=10)
    return estimate is not None


# -- report -----------------------------------------------------------------------------------
def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    fig21 = _group(r for r in records if r["spec"]["config"]["figure"] == "fig21")
    fig22 = by_seed([r for r in records if r["spec"]["config"]["figure"] == "fig22"])
    spread = option(records[0]["spec"]["config"], "b4_std")  # one option set per folder
    parts = [header(REPLICATION, records), _NOTES.format(b4_weights=b4_weights(spread))]
    claims: list[Claim] = []
    if fig21:
        parts += ["## Fig. 21: Δ⟨H⟩ after replication\n\n"
                  "Δ⟨H⟩ = training loss after the extra epochs − training loss of the trained "
                  "net at the replication point (mean ± s.e. over seeds; negative = lower "
                  "loss). The paper shows this only as PDFs (plot-only, no numbers); its "
                  "statements are tested in the claims below.\n\n" + _delta_table(fig21),
                  save_figure(_fig21(fig21), out_dir, "fig21_delta_loss_pdf.png"),
                  "## Trained nets at the replication point\n\n" + _pretrain_table(fig21)]
        claims += _claim18(fig21)
    if fig22:
        parts += ["## Fig. 22: training accuracy of N1 after replication\n\n"
                  + _fig22_table(fig22),
                  "Test accuracy (not reported by the paper):\n\n" + _fig22_test_table(fig22),
                  save_figure(_fig22(fig22), out_dir, "fig22_accuracy.png")]
        claims += _claim19(fig22)
    parts += ["## Timings\n\n" + _timing_table(records)
              + "\n\nThe paper reports no timings for §5.6.",
              claims_section(claims, records)]
    return write_summary(out_dir, parts)


_NOTES = """\
One neuron is added to `hidden1` (the paper's second layer). Parent of B1–B3: the neuron with
the largest E_k (eq. 28) on the training data. B4: a neuron with {b4_weights} and zero
bias. B5: nothing added. The extra epochs are one continued training with checkpoints at the
cumulative 10, 100 and 1000 paper epochs, shuffled identically for every method, so method
differences are paired by seed (same trained net, same batches)."""


def _group(records: Any) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["spec"]["config"]["arch"], []).append(record)
    return {arch: by_seed(groups[arch]) for arch in sorted(groups)}


def _methods(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(records[0]["spec"]["config"]["methods"])


def _horizons(records: Sequence[dict[str, Any]]) -> list[float]:
    return list(records[0]["spec"]["config"]["horizons"])


def _delta(method: str, horizon: float) -> Callable[[dict[str, Any]], float]:
    return lambda result: stage(result, method, horizon)["delta_loss"]


def _accuracy(method: str, horizon: float, split: str = "train") -> Callable[[dict], float]:
    return lambda result: stage(result, method, horizon)[split]["accuracy"]


def _delta_table(groups: dict[str, list[dict[str, Any]]]) -> str:
    methods = _methods(next(iter(groups.values())))
    rows = []
    for arch, records in groups.items():
        rows.append([arch, "0 (at replication)", *(
            summary_over(records, lambda r, m=m: r["methods"][m]["delta_loss_at_replication"])
            .format(5) for m in methods)])
        for horizon in _horizons(records):
            rows.append([arch, f"{horizon:g}", *(
                summary_over(records, _delta(m, horizon)).format(5) for m in methods)])
    return markdown_table(("net", "extra paper epochs", *methods), rows)


def _pretrain_table(groups: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for arch, records in groups.items():
        epochs = records[0]["spec"]["config"]["pretrain_paper_epochs"]
        rows.append([arch, f"{epochs:g}",
                     summary_over(records, lambda r: r["pretrain"]["train"]["accuracy"]).format(),
                     summary_over(records, lambda r: r["pretrain"]["train"]["loss"]).format(),
                     summary_over(records, lambda r: r["pretrain"]["test"]["accuracy"]).format(),
                     summary_over(records, lambda r: r["efficiency"][r["parent"]]).format(),
                     summary_over(records, lambda r: min(r["efficiency"])).format()])
    return markdown_table(("net", "paper epochs", "training accuracy", "training loss",
                           "test accuracy", "E_k of the parent (max)", "min E_k"), rows)


def _fig22_table(records: Sequence[dict[str, Any]]) -> str:
    paper = paper_table("fig22")
    rows = [paper_vs_ours_row(
        "N1 after training (initial accuracy)",
        summary_over(records, lambda r: r["pretrain"]["train"]["accuracy"]),
        paper.context["initial_accuracy"])]
    for horizon in _horizons(records):
        stage = f"After {horizon:g} epochs retraining"
        for method in ("B5", "B4", "B1"):
            if method not in _methods(records):
                continue
            rows.append(paper_vs_ours_row(
                f"{stage}, {method}", summary_over(records, _accuracy(method, horizon)),
                paper.cell(FIG22_COLUMNS[method], stage=stage)))
    return markdown_table(PAPER_VS_OURS_HEADERS, rows)


def _fig22_test_table(records: Sequence[dict[str, Any]]) -> str:
    methods = [m for m in ("B5", "B4", "B1") if m in _methods(records)]
    rows = [["after training", *(summary_over(
        records, lambda r: r["pretrain"]["test"]["accuracy"]).format() for _ in methods)]]
    rows += [[f"after {h:g} extra paper epochs", *(
        summary_over(records, _accuracy(m, h, "test")).format() for m in methods)]
        for h in _horizons(records)]
    return markdown_table(("stage", *methods), rows)


def _timing_table(records: Sequence[dict[str, Any]]) -> str:
    rows = []
    for figure, arch in sorted({(r["spec"]["config"]["figure"], r["spec"]["config"]["arch"])
                                for r in records}):
        group = [r for r in records if r["spec"]["config"]["figure"] == figure
                 and r["spec"]["config"]["arch"] == arch]
        rows.append([
            figure, arch, summary_over(group, lambda r: r["pretrain"]["wall_s"]).format(2),
            summary_over(group, lambda r: r["statistics_wall_s"]).format(3),
            summary_over(group, _mean_replication_wall).format(3),
            summary_over(group, _extra_training_wall).format(2),
            summary_over(group, lambda r: r["pretrain"]["steps"]).format(0),
        ])
    return markdown_table(("figure", "net", "pretraining (s)", "statistics + E_k (s)",
                           "one replication (s)", "all extra training, all methods (s)",
                           "pretraining steps"), rows)


def _mean_replication_wall(result: dict[str, Any]) -> float:
    walls = [branch["replication_wall_s"] for branch in result["methods"].values()]
    return sum(walls) / len(walls)


def _extra_training_wall(result: dict[str, Any]) -> float:
    return sum(s["wall_s"] for branch in result["methods"].values() for s in branch["stages"])


def _fig21(groups: dict[str, list[dict[str, Any]]]) -> Any:
    first = next(iter(groups.values()))
    horizons, methods = _horizons(first), _methods(first)
    figure = new_figure(3.6 * len(horizons), 2.6 * len(groups))
    if figure is None:
        return None
    axes = figure.subplots(len(groups), len(horizons), squeeze=False)
    for row, (arch, records) in enumerate(groups.items()):
        for col, horizon in enumerate(horizons):
            ax = axes[row][col]
            drawn = [density(ax, [_delta(method, horizon)(r["result"]) for r in records],
                             METHOD_COLOURS.get(method, "black"), method)
                     for method in methods]
            if not any(drawn):  # one seed: only the rug
                ax.set_ylim(-0.1, 1.0)
                ax.set_yticks([])
            ax.set_title(f"{arch} (n={len(records)}), after {horizon:g} extra epochs",
                         fontsize="small")
            ax.set_xlabel("Δ⟨H⟩", fontsize="small")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
            if col == 0:
                ax.set_ylabel("PDF")
    axes[0][0].legend(fontsize="x-small")
    figure.suptitle(f"Fig. 21: Δ⟨H⟩ after adding one neuron (n = seeds, "
                    f"{first[0]['spec']['protocol']} protocol)", fontsize="medium")
    return figure


def _fig22(records: Sequence[dict[str, Any]]) -> Any:
    figure = new_figure(5.5, 3.8)
    if figure is None:
        return None
    ax = figure.subplots()
    paper = paper_table("fig22")
    horizons = _horizons(records)
    for method in [m for m in ("B5", "B4", "B1") if m in _methods(records)]:
        colour = METHOD_COLOURS[method]
        ours = [summary_over(records, _accuracy(method, h)) for h in horizons]
        ax.errorbar(horizons, [s.mean for s in ours], yerr=[s.se or 0.0 for s in ours],
                    color=colour, marker="o", capsize=3, label=f"{method}, ours")
        theirs = [paper.cell(FIG22_COLUMNS[method], stage=f"After {h:g} epochs retraining")
                  for h in horizons]
        ax.errorbar(horizons, [p.mean for p in theirs], yerr=[p.error or 0.0 for p in theirs],
                    color=colour, marker="s", linestyle="--", capsize=3, alpha=0.6,
                    label=f"{method}, paper")
    ax.axhline(summary_over(records, lambda r: r["pretrain"]["train"]["accuracy"]).mean,
               color="grey", linestyle=":", label="ours before replication")
    ax.set(xscale="log", xlabel="extra paper epochs", ylabel="training accuracy",
           title=f"Fig. 22: N1 after replication ({records[0]['spec']['protocol']})")
    ax.legend(fontsize="x-small", ncol=2)
    return figure


def _claim18(groups: dict[str, list[dict[str, Any]]]) -> list[Claim]:
    text = reference_claim_text(18)
    claims = []
    for arch, records in groups.items():
        methods = set(_methods(records))
        last = max(_horizons(records))
        if {"B1", "B3"} <= methods:
            d = paired(records, _delta("B3", last), _delta("B1", last))
            claims.append(Claim("18a", f"{text}, {arch}: B1 beats B3 after {last:g} extra epochs "
                                "(lower Δ⟨H⟩)", direction_verdict(d.mean, d.se),
                                describe("Δ⟨H⟩(B3) − Δ⟨H⟩(B1)", d)))
        early = [h for h in _horizons(records) if h < last]
        if "B4" in methods and early:
            verdicts, stats = [], []
            for horizon in early:
                others = [m for m in methods if m != "B4"]
                runner_up = max(others, key=lambda m: summary_over(records,
                                                                   _delta(m, horizon)).mean)
                d = paired(records, _delta("B4", horizon), _delta(runner_up, horizon))
                verdicts.append(direction_verdict(d.mean, d.se))
                stats.append(describe(f"{horizon:g} ep.: Δ⟨H⟩(B4) − Δ⟨H⟩({runner_up})", d))
            claims.append(Claim("18b", f"{arch}: B4 is worst (highest Δ⟨H⟩) after "
                                f"{' and '.join(f'{h:g}' for h in early)} extra epochs",
                                all_of(verdicts), "; ".join(stats)))
        if {"B1", "B4"} <= methods:
            d = paired(records, _delta("B4", last), _delta("B1", last))
            claims.append(Claim("18c", f"{arch}: B4 matches B1 after {last:g} extra epochs "
                                f"(within ±{DELTA_LOSS_TOLERANCE} nats)",
                                equivalence_verdict(d.mean, d.se, DELTA_LOSS_TOLERANCE),
                                describe("Δ⟨H⟩(B4) − Δ⟨H⟩(B1)", d)))
    claims.append(_claim18d(groups))
    return claims


def _claim18d(groups: dict[str, list[dict[str, Any]]]) -> Claim:
    """The gain of B1 over B5 after the last horizon is largest for N1 (unpaired across nets)."""
    label = "18d"
    text = "the effect of replication (Δ⟨H⟩(B5) − Δ⟨H⟩(B1), last horizon) is largest for N1"
    if not set(FIG21_NETS) <= set(groups):
        return Claim(label, text, Verdict.INCONCLUSIVE,
                     f"needs {', '.join(FIG21_NETS)}; ran {', '.join(groups)}")
    gains = {}
    for arch in FIG21_NETS:
        last = max(_horizons(groups[arch]))
        gains[arch] = paired(groups[arch], _delta("B5", last), _delta("B1", last))
    rival = max(("N2", "N3"), key=lambda a: gains[a].mean)
    se = (None if gains["N1"].se is None or gains[rival].se is None
          else math.hypot(gains["N1"].se, gains[rival].se))
    difference = gains["N1"].mean - gains[rival].mean
    stat = "; ".join(f"gain {a} = {format_difference(g)}" for a, g in gains.items())
    return Claim(label, text, direction_verdict(difference, se),
                 f"{stat}; N1 − {rival} = {difference:+.5f}"
                 + ("" if se is None else f" ± {se:.5f}"))


def _claim19(records: Sequence[dict[str, Any]]) -> list[Claim]:
    horizons = _horizons(records)
    first, last = min(horizons), max(horizons)
    parts = [paired(records, _accuracy("B1", h), _accuracy("B5", h)) for h in horizons]
    b4_early = paired(records, _accuracy("B5", first), _accuracy("B4", first))
    b4_late = paired(records, _accuracy("B4", last), _accuracy("B1", last))
    return [
        Claim("19a", f"{reference_claim_text(19)}: B1 > B5 in training accuracy at "
              f"{', '.join(f'{h:g}' for h in horizons)} extra epochs",
              all_of([direction_verdict(d.mean, d.se) for d in parts]),
              "; ".join(describe(f"{h:g} ep.: B1 − B5", d) for h, d in zip(horizons, parts,
                                                                           strict=True))),
        Claim("19b", f"B4 < B5 at {first:g} extra epochs",
              direction_verdict(b4_early.mean, b4_early.se), describe("B5 − B4", b4_early)),
        Claim("19c", f"B4 ≈ B1 at {last:g} extra epochs (within ±{ACCURACY_TOLERANCE})",
              equivalence_verdict(b4_late.mean, b4_late.se, ACCURACY_TOLERANCE),
              describe("B4 − B1", b4_late)),
    ]


METRICS_SCHEMA = {"loss": NUMBER, "accuracy": NUMBER}
_SPLITS_SCHEMA = {"train": METRICS_SCHEMA, "test": METRICS_SCHEMA}
METHOD_SCHEMA = {
    "width": INTEGER, "parents": [INTEGER], "replication_wall_s": NUMBER,
    "after_replication": _SPLITS_SCHEMA, "delta_loss_at_replication": NUMBER,
    "stages": [_SPLITS_SCHEMA | {"paper_epochs": NUMBER, "steps": INTEGER, "wall_s": NUMBER,
                                 "delta_loss": NUMBER}],
}
RESULT_SCHEMA = {
    "arch": TEXT, "pretrain": _SPLITS_SCHEMA | {"steps": INTEGER, "wall_s": NUMBER},
    "efficiency": [NUMBER], "parent": INTEGER, "statistics_wall_s": NUMBER,
    "methods": map_of(METHOD_SCHEMA),
}
"""What :func:`run` returns (checked when a stored run is read back)."""


REPLICATION = Experiment(
    name="replication",
    section="5.6",
    figures=("Fig. 21", "Fig. 22"),
    description="add one neuron by B1–B5 to trained N1–N3, train 10/100/1000 more epochs; "
                "Δ⟨H⟩ PDFs and N1 accuracies",
    configs=configs,
    run=run,
    options=("invert", "init", "l2", "lr_schedule", "b4_std"),
    report=report,
    result_schema=RESULT_SCHEMA,
    default_seeds=50,
)
