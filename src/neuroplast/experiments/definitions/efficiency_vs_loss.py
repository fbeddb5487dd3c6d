"""efficiency-vs-loss: does a neuron's efficiency predict what its removal costs? (§5.1, Figs 1–3)

The paper trains N1, N2 and N3 for 50000 epochs and, at checkpoints along the way, removes every
second-layer neuron (our ``hidden1``) *alone* with A1, A2 and A3 and records the exact change of
the mean training loss, Δ⟨H⟩ = loss after − loss before. It then plots the efficiency (E_k of
eq. 28 for A1 and A2, E'_k of eq. 17 for A3) against Δ⟨H⟩ (Fig. 1), the mean Δ⟨H⟩ and the Δ⟨H⟩
of the least efficient neuron over time (Fig. 2), and the slope b of the linear fit
E = a + b·Δ⟨H⟩ (eqs 50–51) over time (Fig. 3). A positive slope means the efficiency ranks the
neurons by the damage their removal does (REFERENCE §4 claims 1–4).

One run is one (net, seed). It trains the net once, without interruption, for the last
checkpoint's length; a training callback analyses the model after each checkpoint epoch
(epoch 0 is analysed before training). So the model at every checkpoint is exactly the model
an uninterrupted training of that length gives, with one shuffling stream seeded by the run's
seed. At each checkpoint, on the training data the protocol trains on:

* the statistics of ``hidden1`` (with the covariance), E_k and E'_k of every neuron;
* Δ⟨H⟩ of removing each neuron alone, from the exact oracle (:mod:`neuroplast.oracle`), for
  A1, A2 (both ranked by E_k), A3 (ranked by E'_k) and, our addition, least squares (``lstsq``,
  ranked by E'_k as the rule's default measure);
* per rule: the mean Δ⟨H⟩ over the neurons, the Δ⟨H⟩ of the least efficient neuron, the slope
  and intercept of the least-squares line E = a + b·Δ⟨H⟩ over the neurons, Spearman's rank
  correlation between E and Δ⟨H⟩; per measure, the number of neurons with efficiency ≤ 1e-3.

Every per-neuron pair (E, Δ⟨H⟩) is stored, so the report can pool runs (Fig. 1 and the pooled
slopes) as well as average per-run statistics (mean ± s.e. over seeds).

Decisions where the paper is silent: checkpoints are log-spaced, 0, 100, 500, 1000, 2000, 5000,
10000, 20000, 50000 paper epochs (REFERENCE §1.15 item 19); the "least efficient neuron" is the
one with the smallest E_k for A1/A2 and the smallest E'_k for A3 (the text's assignment is
garbled); per-run slopes are fitted over the neurons of one run at one checkpoint (5–20
points), and the pooled slope over all runs' neurons is reported beside them. The ``quick``
protocol runs N1 only, at 0, 500 and 50000 paper epochs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.analysis import linear_fit
from neuroplast.data import Split
from neuroplast.death.rules import get_rule
from neuroplast.efficiency import efficiency
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    Verdict,
    Z,
    all_of,
    claims_section,
    direction_verdict,
    interval_sign,
    reference_claim_text,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER, TEXT, map_of, nullable
from neuroplast.experiments.stats_summary import Summary, markdown_table, summarize
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.oracle import loss_change_oracle
from neuroplast.stats import collect_site_statistics, spearman
from neuroplast.train import Protocol, TrainState, restrict, train

NETS = ("N1", "N2", "N3")
CHECKPOINTS = (0, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000)
"""Paper epochs at which the nets are analysed (log-spaced; the paper does not list its own)."""
QUICK_CHECKPOINTS = (0, 500, 50000)
RULES = ("A1", "A2", "A3", "lstsq")
"""Re-wiring rules evaluated; ``lstsq`` is our addition."""
PAPER_RULES = ("A1", "A2", "A3")
MEASURE_NAMES = ("connection", "covariance")
"""E_k (eq. 28) and E'_k (eq. 17)."""
SITE = "hidden1"
ALMOST_ZERO = 0.1
"""Claim 2: A2's slope is "≈0" when below this fraction of A1's slope on the same nets."""
LOW_EFFICIENCY = 1e-3
"""Claim 4's threshold: neurons with efficiency ≤ this are 'low-efficiency'."""
SCATTER_EPOCHS = (500, 50000)
"""The paper epochs of Fig. 1's columns."""
PAPER_RUNS = {"N1": 50, "N2": 25, "N3": 13}
"""Runs per net in the paper's Figs 2–3 (Fig. 1: 50 per net)."""
COLOURS = {"A1": "tab:blue", "A2": "tab:pink", "A3": "tab:brown", "lstsq": "tab:green"}
NET_COLOURS = {"N1": "tab:blue", "N2": "tab:orange", "N3": "tab:green"}


# -- configurations and one run ------------------------------------------------------------


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    if protocol.name in SMOKE_TEST_PROTOCOLS:
        return [{"arch": "N1", "checkpoints": list(QUICK_CHECKPOINTS), "rules": list(RULES)}]
    return [{"arch": net, "checkpoints": list(CHECKPOINTS), "rules": list(RULES)}
            for net in NETS]


def checkpoint_epochs(protocol: Protocol, paper_epochs: Sequence[float]) -> dict[int, float]:
    """Our epoch → paper epoch for each checkpoint, in order.

    A checkpoint is taken after a whole epoch (the training callbacks run there), so a length
    that the protocol turns into a fraction of an epoch is rounded to the nearest whole epoch
    (at least 1 for a positive length); checkpoints that fall on the same epoch keep the first.
    """
    schedule: dict[int, float] = {}
    for paper in sorted(paper_epochs):
        ours = 0 if paper == 0 else max(1, round(protocol.epochs(paper)))
        schedule.setdefault(ours, float(paper))
    return schedule


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    protocol = run_protocol(spec.protocol, spec.config)
    split = restrict(mnist(data_dir).train, protocol)
    config = spec.config
    schedule = checkpoint_epochs(protocol, config["checkpoints"])
    model = initialize(build_mlp(config["arch"]), spec.seed, option(spec.config, "init"))
    checkpoints: list[dict[str, Any]] = []

    def record(state: TrainState) -> None:
        if state.epoch in schedule:
            checkpoints.append(analyse(state.model, state.train, config["rules"],
                                       epoch=state.epoch, paper_epoch=schedule[state.epoch]))

    if 0 in schedule:
        checkpoints.append(analyse(model, split, config["rules"], epoch=0, paper_epoch=0.0))
    history = train(model, split, protocol, epochs=max(schedule), seed=spec.seed,
                    callbacks=[record], progress=False)
    return {"arch": config["arch"], "site": SITE, "width": model.site(SITE).width,
            "examples": split.n, "train_wall_time_s": history.final["wall_time_s"],
            "checkpoints": checkpoints,
            "run_options": effective_options(spec.config, EFFICIENCY_VS_LOSS.options)}


def analyse(model: MLP, split: Split, rules: Sequence[str], *, epoch: int,
            paper_epoch: float) -> dict[str, Any]:
    """Efficiencies and exact single-removal Δ⟨H⟩ of every ``hidden1`` neuron (one checkpoint)."""
    stats = collect_site_statistics(model, SITE, split.x, covariance=True)
    scores = {name: efficiency(name, model, SITE, stats, split) for name in MEASURE_NAMES}
    entry: dict[str, Any] = {
        "epoch": epoch, "paper_epoch": paper_epoch,
        "efficiency": {name: s.tolist() for name, s in scores.items()},
        "low_efficiency_count": {name: int((s <= LOW_EFFICIENCY).sum())
                                 for name, s in scores.items()},
        "rules": {},
    }
    for rule in rules:
        oracle = loss_change_oracle(model, SITE, split, rule, stats=stats)
        measure = get_rule(rule).default_measure
        delta = oracle.delta_loss.numpy()
        score = scores[measure].numpy()
        slope, intercept = linear_fit(delta, score)
        entry["rules"][rule] = {
            "measure": measure,
            "delta_loss": delta.tolist(),
            "mean_delta_loss": float(delta.mean()),
            "least_efficient_delta_loss": float(delta[int(np.argmin(score))]),
            "slope": slope, "intercept": intercept,
            "spearman": spearman(torch.from_numpy(score), torch.from_numpy(delta)),
        }
        entry["train_loss"], entry["train_accuracy"] = oracle.base_loss, oracle.base_accuracy
    return entry


# -- the report ----------------------------------------------------------------------------


def _by_net(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    nets: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        nets.setdefault(record["result"]["arch"], []).append(record["result"])
    return nets


def _paper_epochs(results: list[dict[str, Any]]) -> list[float]:
    return [c["paper_epoch"] for c in results[0]["checkpoints"]]


def _per_run(results: list[dict[str, Any]], index: int, rule: str, key: str) -> list[float]:
    """``key`` of ``rule`` at checkpoint ``index`` in every run where it is defined."""
    values = [r["checkpoints"][index]["rules"][rule][key] for r in results]
    return [v for v in values if v is not None]


def _summary(values: Sequence[float]) -> Summary | None:
    return summarize(values) if values else None


def _cell(summary: Summary | None, digits: int | None = None) -> str:
    return "—" if summary is None else summary.format(digits)


def _pooled(results: list[dict[str, Any]], index: int, rule: str,
            ) -> tuple[np.ndarray, np.ndarray]:
    """(Δ⟨H⟩, E) of every neuron of every run at checkpoint ``index``."""
    delta, score = [], []
    for r in results:
        checkpoint = r["checkpoints"][index]
        entry = checkpoint["rules"][rule]
        delta += entry["delta_loss"]
        score += checkpoint["efficiency"][entry["measure"]]
    return np.asarray(delta), np.asarray(score)


def _net_tables(net: str, results: list[dict[str, Any]]) -> str:
    rules = [rule for rule in RULES if rule in results[0]["checkpoints"][0]["rules"]]
    epochs = _paper_epochs(results)
    delta_rows, slope_rows, count_rows = [], [], []
    for i, epoch in enumerate(epochs):
        loss = summarize(r["checkpoints"][i]["train_loss"] for r in results)
        delta_rows.append([f"{epoch:g}", loss.format(4)] + [
            f"{_cell(_summary(_per_run(results, i, rule, 'mean_delta_loss')), 4)} / "
            f"{_cell(_summary(_per_run(results, i, rule, 'least_efficient_delta_loss')), 4)}"
            for rule in rules])
        slope_row = [f"{epoch:g}"]
        for rule in rules:
            pooled, _ = linear_fit(*_pooled(results, i, rule))
            slope_row.append(
                f"{_cell(_summary(_per_run(results, i, rule, 'slope')), 3)} "
                f"[{'—' if pooled is None else f'{pooled:.3g}'}]; "
                f"ρ {_cell(_summary(_per_run(results, i, rule, 'spearman')), 2)}")
        slope_rows.append(slope_row)
        counts = {m: [r["checkpoints"][i]["low_efficiency_count"][m] for r in results]
                  for m in MEASURE_NAMES}
        count_rows.append([f"{epoch:g}"] + [
            f"{sum(counts[m])} ({summarize(counts[m]).format(2)})" for m in MEASURE_NAMES]
            + [_paper_low_count(net, epoch)])
    width = results[0]["width"]
    return "\n\n".join([
        f"### {net} ({len(results)} runs; paper: {PAPER_RUNS[net]}; {width} neurons in hidden1)",
        "Δ⟨H⟩ of a single removal, mean over the neurons / of the least efficient neuron "
        "(Fig. 2: solid / dashed), mean ± s.e. over runs; training loss at the checkpoint:",
        markdown_table(["paper epoch", "training loss"] + list(rules), delta_rows),
        "Slope b of E = a + b·Δ⟨H⟩ (eqs 50–51), per-run fit mean ± s.e. [fit pooled over all "
        "runs' neurons]; Spearman ρ between E and Δ⟨H⟩ (Fig. 3):",
        markdown_table(["paper epoch"] + list(rules), slope_rows),
        f"Neurons with efficiency ≤ {LOW_EFFICIENCY:g}, total over runs (mean per run):",
        markdown_table(["paper epoch", "E_k (A1, A2)", "E'_k (A3)", "paper (N3, A1 and A3)"],
                       count_rows),
    ])


def _paper_low_count(net: str, epoch: float) -> str:
    if net != "N3":
        return "—"
    return {500.0: "many (50 runs)", 50000.0: "1 (50 runs)"}.get(float(epoch), "—")


def _timing(nets: dict[str, list[dict[str, Any]]]) -> str:
    rows = [[net, summarize(r["train_wall_time_s"] for r in results).format(1),
             f"{results[0]['checkpoints'][-1]['paper_epoch']:g}", str(results[0]["examples"])]
            for net, results in nets.items()]
    return ("Training wall time per run, checkpoint analyses included (the paper reports no "
            "times for §5.1):\n\n"
            + markdown_table(["net", "seconds (mean ± s.e.)", "paper epochs", "examples"], rows))


# -- claims ---------------------------------------------------------------------------------


def _missing(nets: dict[str, list[dict[str, Any]]], needed: Sequence[str]) -> list[str]:
    return [net for net in needed if net not in nets]


def _claim_1(nets: dict[str, list[dict[str, Any]]]) -> Claim:
    signs, worst, positive_means = [], [], 0
    for net, results in nets.items():
        for rule in ("A1", "A3"):
            summaries = [(epoch, _summary(_per_run(results, i, rule, "slope")))
                         for i, epoch in enumerate(_paper_epochs(results))]
            signs += [interval_sign(s) for _, s in summaries]
            positive_means += sum(s is not None and s.mean > 0 for _, s in summaries)
            epoch, lowest = min(((e, s) for e, s in summaries if s is not None),
                                key=lambda item: item[1].mean, default=(None, None))
            if lowest is not None:
                worst.append(f"{net} {rule} min {lowest.format(3)} at {epoch:g}")
    missing = _missing(nets, NETS)
    verdict = (Verdict.NOT_CONFIRMED if -1 in signs else
               Verdict.CONFIRMED if signs and all(s == 1 for s in signs) and not missing else
               Verdict.INCONCLUSIVE)
    unknown = " (no standard error with one run)" if None in signs else ""
    statistic = (f"mean slope > 0 at {positive_means} of {len(signs)} (net, rule, checkpoint), "
                 f"significantly (95 %) at {signs.count(1)}{unknown}; " + "; ".join(worst)
                 + (f"; no runs for {', '.join(missing)}" if missing else ""))
    return Claim("1", reference_claim_text(1), verdict, statistic)


def _claim_2(nets: dict[str, list[dict[str, Any]]]) -> Claim:
    """Claim 2: A2's slope on N3 is "≈0", read as small beside A1's on the same nets.

    At each checkpoint where A1's slope is significantly positive (A1 ranks the neurons, so
    its slope is a scale to compare with), the per-run difference
    ALMOST_ZERO · b(A1) − b(A2) is tested: confirmed when it is significantly positive at
    every such checkpoint (A2's slope is below ALMOST_ZERO of A1's, or negative), not
    confirmed when it is significantly negative at any. The sign of A2's slope alone is
    not the claim: "slightly negative" and "≈0" both mean A2 cannot rank.
    """
    if "N3" not in nets:
        return Claim("2", reference_claim_text(2), Verdict.INCONCLUSIVE, "no runs for N3")
    results = nets["N3"]
    verdicts, parts = [], []
    for i, epoch in enumerate(_paper_epochs(results)):
        a1 = _summary(_per_run(results, i, "A1", "slope"))
        if interval_sign(a1) != 1:
            continue
        margins = [ALMOST_ZERO * r["checkpoints"][i]["rules"]["A1"]["slope"]
                   - r["checkpoints"][i]["rules"]["A2"]["slope"] for r in results
                   if r["checkpoints"][i]["rules"]["A1"]["slope"] is not None
                   and r["checkpoints"][i]["rules"]["A2"]["slope"] is not None]
        margin = _summary(margins)
        verdicts.append(Verdict.INCONCLUSIVE if margin is None
                        else direction_verdict(margin.mean, margin.se))
        a2 = _summary(_per_run(results, i, "A2", "slope"))
        parts.append(f"{epoch:g}: A2/A1 {a2.mean / a1.mean:+.3f} (margin "
                     f"{_cell(margin, 3)})")
    statistic = (f"N3, slope of A2 / slope of A1 at the {len(parts)} checkpoints where A1's is "
                 f"significantly > 0: " + ", ".join(parts) + f"; confirmed when A2's slope is "
                 f"significantly below {ALMOST_ZERO:g} × A1's at every one (margin = "
                 f"{ALMOST_ZERO:g}·b(A1) − b(A2) per run, mean ± s.e.). "
                 "A2's least efficient neuron costs "
                 + _least_cost_ratio(results) + " A1's")
    return Claim("2", reference_claim_text(2), all_of(verdicts), statistic)


def _least_cost_ratio(results: list[dict[str, Any]]) -> str:
    """How many times A1's Δ⟨H⟩ of the least efficient neuron A2's is, over trained
    checkpoints (epoch > 0): the range of the ratio of means."""
    ratios = []
    for i, epoch in enumerate(_paper_epochs(results)):
        a1 = float(np.mean(_per_run(results, i, "A1", "least_efficient_delta_loss")))
        a2 = float(np.mean(_per_run(results, i, "A2", "least_efficient_delta_loss")))
        if epoch > 0 and a1 > 0:
            ratios.append(a2 / a1)
    return f"{min(ratios):.0f}–{max(ratios):.0f}×" if ratios else "— ×"


def _least_minus_mean(results: list[dict[str, Any]], rule: str) -> Summary:
    """Per run: Δ⟨H⟩(least efficient) − mean Δ⟨H⟩, averaged over checkpoints; over runs."""
    return summarize(
        float(np.mean([c["rules"][rule]["least_efficient_delta_loss"]
                       - c["rules"][rule]["mean_delta_loss"] for c in r["checkpoints"]]))
        for r in results)


def _claim_3(nets: dict[str, list[dict[str, Any]]]) -> list[Claim]:
    useful = (("A1", "N1"), ("A1", "N2"), ("A1", "N3"), ("A2", "N1"), ("A3", "N2"), ("A3", "N3"))
    parts, signs = [], []
    for rule, net in useful:
        if net in nets:
            difference = _least_minus_mean(nets[net], rule)
            signs.append(interval_sign(difference))
            parts.append(f"{net} {rule} {difference.format(4)}")
    missing = _missing(nets, NETS)
    verdict = (Verdict.NOT_CONFIRMED if 1 in signs else
               Verdict.CONFIRMED if signs and all(s == -1 for s in signs) and not missing else
               Verdict.INCONCLUSIVE)
    tail = f"; no runs for {', '.join(missing)}" if missing else ""
    main = Claim("3", reference_claim_text(3), verdict,
                 "Δ⟨H⟩(least efficient) − mean Δ⟨H⟩, averaged over checkpoints: "
                 + "; ".join(parts) + tail)
    parts, signs = [], []
    for net in ("N2", "N3"):
        if net in nets:
            difference = _least_minus_mean(nets[net], "A2")
            signs.append(interval_sign(difference))
            parts.append(f"{net} A2 {difference.format(4)}")
    verdict = (Verdict.INCONCLUSIVE if len(signs) < 2 or None in signs else
               Verdict.NOT_CONFIRMED if all(s == -1 for s in signs) else
               Verdict.CONFIRMED if -1 not in signs else Verdict.INCONCLUSIVE)
    side = Claim("3b", "A2 is not useful on N2 and N3 (its least efficient neuron costs no "
                 "less than the average)", verdict,
                 ("; ".join(parts) or "no runs for N2, N3")
                 + " (not useful = not significantly below 0)")
    return [main, side]


def _claim_4(nets: dict[str, list[dict[str, Any]]]) -> Claim:
    if "N3" not in nets:
        return Claim("4", reference_claim_text(4), Verdict.INCONCLUSIVE, "no runs for N3")
    results = nets["N3"]
    epochs = _paper_epochs(results)
    if 500.0 not in epochs or 50000.0 not in epochs:
        return Claim("4", reference_claim_text(4), Verdict.INCONCLUSIVE,
                     "epochs 500 and 50000 not both analysed")
    early, late = epochs.index(500.0), epochs.index(50000.0)
    signs, parts, absent = [], [], []
    for measure, label in zip(MEASURE_NAMES, ("E_k (A1)", "E'_k (A3)"), strict=True):
        counts = [(r["checkpoints"][early]["low_efficiency_count"][measure],
                   r["checkpoints"][late]["low_efficiency_count"][measure]) for r in results]
        difference = summarize(a - b for a, b in counts)
        if sum(a for a, _ in counts) == 0:
            absent.append(label)
        signs.append(interval_sign(difference))
        smallest = [min(min(r["checkpoints"][i]["efficiency"][measure]) for r in results)
                    for i in (early, late)]
        parts.append(f"{label}: {sum(a for a, _ in counts)} at 500 → {sum(b for _, b in counts)} "
                     f"at 50000 over {len(counts)} runs (paired difference per run "
                     f"{difference.format(2)}; smallest efficiency {smallest[0]:.2g} → "
                     f"{smallest[1]:.2g})")
    if absent:
        return Claim("4", reference_claim_text(4), Verdict.INCONCLUSIVE,
                     "; ".join(parts) + f"; the premise is absent ({', '.join(absent)}): no "
                     f"neuron of any run has efficiency ≤ {LOW_EFFICIENCY:g} at epoch 500, so "
                     "there is nothing that could vanish")
    verdict = (Verdict.CONFIRMED if all(s == 1 for s in signs) else
               Verdict.NOT_CONFIRMED if -1 in signs else Verdict.INCONCLUSIVE)
    return Claim("4", reference_claim_text(4), verdict, "; ".join(parts))


# -- figures --------------------------------------------------------------------------------


def _scatter_figure(nets: dict[str, list[dict[str, Any]]]) -> Any:
    columns = [e for e in SCATTER_EPOCHS
               if any(e in _paper_epochs(results) for results in nets.values())]
    if not columns:
        return None
    figure = new_figure(4.2 * len(columns), 3.2 * len(nets))
    if figure is None:
        return None
    axes = figure.subplots(len(nets), len(columns), squeeze=False)
    for row, (net, results) in enumerate(nets.items()):
        epochs = _paper_epochs(results)
        for column, epoch in enumerate(columns):
            ax = axes[row][column]
            if epoch not in epochs:
                ax.set_axis_off()
                continue
            positive = True
            for rule in PAPER_RULES:
                delta, score = _pooled(results, epochs.index(epoch), rule)
                positive &= bool((delta > 0).all() and (score > 0).all())
                ax.scatter(delta, score, s=8, alpha=0.6, color=COLOURS[rule],
                           label=f"{rule} ({'E′' if rule == 'A3' else 'E'})")
            if net == "N3" and positive:
                ax.set(xscale="log", yscale="log")
            ax.set(title=f"epoch {epoch:g}, {net}", xlabel="Δ⟨H⟩", ylabel="efficiency")
            ax.legend(fontsize="x-small")
    return figure


def _epoch_axis(ax: Any) -> None:
    ax.set_xscale("symlog", linthresh=100)
    ax.set_xlim(left=0)
    ax.set_xlabel("paper epochs (symlog)")


def _delta_figure(nets: dict[str, list[dict[str, Any]]]) -> Any:
    figure = new_figure(4.2 * len(nets), 3.4)
    if figure is None:
        return None
    axes = figure.subplots(1, len(nets), squeeze=False)[0]
    for ax, (net, results) in zip(axes, nets.items(), strict=True):
        epochs = _paper_epochs(results)
        for rule in RULES:
            for key, style, label in (("mean_delta_loss", "-", "mean"),
                                      ("least_efficient_delta_loss", "--", "least efficient")):
                values = [float(np.mean(_per_run(results, i, rule, key)))
                          for i in range(len(epochs))]
                ax.plot(epochs, values, style, color=COLOURS[rule], marker=".",
                        label=f"{rule} {label}")
        _epoch_axis(ax)
        ax.set(title=f"{net} ({len(results)} runs)", ylabel="Δ⟨H⟩")
        ax.legend(fontsize="xx-small", ncol=2)
    return figure


def _slope_figure(nets: dict[str, list[dict[str, Any]]]) -> Any:
    figure = new_figure(3.6 * len(RULES), 3.4)
    if figure is None:
        return None
    axes = figure.subplots(1, len(RULES), squeeze=False)[0]
    for ax, rule in zip(axes, RULES, strict=True):
        for net, results in nets.items():
            epochs = _paper_epochs(results)
            summaries = [_summary(_per_run(results, i, rule, "slope")) for i in range(len(epochs))]
            points = [(e, s) for e, s in zip(epochs, summaries, strict=True) if s is not None]
            ax.errorbar([e for e, _ in points], [s.mean for _, s in points],
                        yerr=[Z * (s.se or 0.0) for _, s in points], marker=".", capsize=2,
                        color=NET_COLOURS.get(net), label=net)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        _epoch_axis(ax)
        ax.set(title=f"{rule}: slope b(t)", ylabel="b (E per unit Δ⟨H⟩)")
        ax.legend(fontsize="x-small")
    return figure


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    nets = _by_net(records)
    claims = [_claim_1(nets), _claim_2(nets), *_claim_3(nets), _claim_4(nets)]
    figures: list[tuple[Callable[[dict[str, list[dict[str, Any]]]], Any], str]] = [
        (_scatter_figure, "fig1_efficiency_vs_delta_loss.png"),
        (_delta_figure, "fig2_delta_loss_over_training.png"),
        (_slope_figure, "fig3_slopes_over_training.png"),
    ]
    return write_summary(out_dir, [
        header(EFFICIENCY_VS_LOSS, records),
        "The paper prints no table for §5.1; its numbers are the plots of Figs 1–3 and the "
        "statements of REFERENCE §3.2, tested in the claims below. Δ⟨H⟩ is the exact change of "
        "the mean training cross-entropy when one hidden1 neuron is removed alone "
        "(`neuroplast.oracle`); `lstsq` (least-squares re-wiring) is our addition.",
        "## Per net\n\n" + "\n\n".join(_net_tables(net, results)
                                       for net, results in nets.items()),
        claims_section(claims, records),
        "## Figures\n\n" + "\n\n".join(save_figure(draw(nets), out_dir, name)
                                       for draw, name in figures),
        "## Timing\n\n" + _timing(nets),
    ])


RULE_SCHEMA = {
    "measure": TEXT, "delta_loss": [NUMBER], "mean_delta_loss": NUMBER,
    "least_efficient_delta_loss": NUMBER, "slope": nullable(NUMBER),
    "intercept": nullable(NUMBER), "spearman": nullable(NUMBER),
}
CHECKPOINT_SCHEMA = {
    "epoch": INTEGER, "paper_epoch": NUMBER, "efficiency": map_of([NUMBER]),
    "low_efficiency_count": map_of(INTEGER), "rules": map_of(RULE_SCHEMA),
    "train_loss": NUMBER, "train_accuracy": NUMBER,
}
RESULT_SCHEMA = {"arch": TEXT, "site": TEXT, "width": INTEGER, "examples": INTEGER,
                 "train_wall_time_s": NUMBER, "checkpoints": [CHECKPOINT_SCHEMA]}
"""What :func:`run` returns (checked when a stored run is read back)."""


EFFICIENCY_VS_LOSS = Experiment(
    name="efficiency-vs-loss",
    section="5.1",
    figures=("Fig. 1", "Fig. 2", "Fig. 3"),
    description="E_k / E'_k vs exact single-removal Δ⟨H⟩ for N1–N3 over 50000 epochs "
                "(A1, A2, A3, lstsq)",
    configs=configs,
    run=run,
    options=("init", "l2"),
    report=report,
    result_schema=RESULT_SCHEMA,
    default_seeds=50,
)
