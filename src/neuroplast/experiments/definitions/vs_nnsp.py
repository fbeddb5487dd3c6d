"""vs-nnsp: A1 against NNSP on the inputs of N4 (paper §5.5, Figs 18–20, REFERENCE §4 claims 16–17).

NNSP (Thomas & Suhner 2015) scores an input by the variance over the training data of the
output's sensitivity to it (eq. 57), summed over the outputs; the paper adapts it to N4 by
choosing the "output" at a level of Fig. 17 (2: tanh after the first layer, 3: the 5 linear
outputs, 4: their tanh, 5: the logits; 6: the softmax, which it could not compute). It prunes
the inputs of 28 trained tanh N4 nets (5000 epochs) with σ̂² < 0.1 · max σ̂², against A1 with
E_k < 0.05 · max E_k, and retrains 500 epochs (Fig. 18, pixel maps Fig. 19). On untrained nets
it compares NNSP at level 3 (σ̂² < 0.5 · max) with A1 (0.05 · max) (Fig. 20 left, centre), and
on the trained nets the weight-only criterion of eq. 69, Σ_i (w_ik)² < 0.1 · max (Fig. 20 right).

One run is one seed and does the whole chain on one net:

1. initialise N4; on copies of the *untrained* net, prune the inputs with each "untrained"
   method (no retraining: the paper shows only the pixel maps);
2. train 5000 paper epochs (:func:`~neuroplast.experiments.definitions.pruning_common.train_base`:
   the base net of cutoff-, goal- and input-pruning, loaded from ``$NEUROPLAST_TRAINED_CACHE``
   when an earlier run of any of them stored it);
3. for each "trained" method, on a copy: prune the inputs (time it), evaluate, retrain 500
   paper epochs (time it), evaluate.

Methods: A1 (rule ``A1``, mean replacement), NNSP at levels 2–5 as in the paper and level 6 as
our addition (softmax: our implementation accumulates a 100 × 100 matrix at every level, so it
is cheap), eq. 69 (``weight-norm``), and as our addition NNSP with A1's compensation. NNSP and
eq. 69 delete inputs without compensation (rule ``none``, REFERENCE §1.15 item 16: the paper
does not say, and its accuracy drops suggest none). Every method uses the one-shot relative
cutoff of :func:`neuroplast.death.strategies.prune`; the pruning time is that call's wall time
(statistics, scores, re-wiring and surgery). Accuracies are training accuracies on the data the
protocol trains on (REFERENCE §1.15 item 8), test accuracies beside them. The retraining after
each method uses the same seed (the run's seed + 1000), so the methods are compared on equal
terms. The ``quick`` protocol uses levels 2 and 5 only.

**Encoding** (REFERENCE §1.15 item 6). The paper's Mathematica MNIST is colour-inverted
(background 1; our N2PS runs reproduce its Fig. 15 input counts only with it). The scores here
are variances and hardly care, but deleting an input *without* compensation (rule ``none``)
does: a deleted border pixel is 0 in the standard encoding, so deleting it changes nothing,
while in the inverted encoding it is 1 and its removal shifts every hidden pre-activation by
its weight — the likely cause of the paper's NNSP accuracies of 0.15–0.59 after pruning. So
both encodings are run: ``invert=True`` is the paper's configuration, on which the claims are
judged; ``invert=False`` (standard MNIST) is reported beside it. On inverted MNIST the
time-rescaled protocols (lr ×100) under-train N4 (see :data:`INVERTED_NOTE`): use the paper
protocol to compare accuracies on that encoding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroplast.analysis import log_sd_ratio
from neuroplast.data import Split
from neuroplast.death.strategies import prune
from neuroplast.efficiency.baselines.nnsp import PER_OUTPUT, SUMMED_OUTPUTS
from neuroplast.experiments.claims import (
    SMOKE_TEST_PROTOCOLS,
    Claim,
    Verdict,
    Z,
    all_of,
    claims_section,
    direction_verdict,
    equivalence_verdict,
    interval_sign,
    reference_claim_text,
)
from neuroplast.experiments.definitions.pixel_regions import (
    ENCODINGS,
    border_preference,
    pixel_map_grid,
)
from neuroplast.experiments.definitions.pruning_common import non_increasing, train_base
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import PaperTable, paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER, map_of, nullable
from neuroplast.experiments.stage_checkpoints import stage_checkpoint
from neuroplast.experiments.stats_summary import (
    Summary,
    markdown_table,
    paper_vs_ours_row,
    summarize,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.train import Protocol, evaluate_splits, restrict, train

PAPER_EPOCHS = 5000
RETRAIN_PAPER_EPOCHS = 500
RETRAIN_SEED_OFFSET = 1000
LEVELS = (2, 3, 4, 5, 6)
SOFTMAX_LEVEL = 6
"""N4's softmax in Fig. 17's numbering."""
PAPER_LEVELS = (2, 3, 4, 5)
QUICK_LEVELS = (2, 5)
RETRAINED_TOLERANCE = 0.02
"""Retrained-accuracy difference to A1 we still call 'comparable' (paper: up to 0.016)."""
MIN_SEEDS_FOR_SPREAD = 5
"""Seeds needed before comparing standard deviations over seeds (claim 16d)."""


def _method(method_id: str, label: str, measure: str, relative_cutoff: float, rule: str,
            paper_row: str | None = None) -> dict[str, Any]:
    return {"id": method_id, "label": label, "measure": measure,
            "relative_cutoff": relative_cutoff, "rule": rule, "paper_row": paper_row}


def trained_methods(levels: tuple[int, ...]) -> list[dict[str, Any]]:
    """Fig. 18's rows (A1, NNSP at ``levels``), eq. 69, and NNSP + A1 compensation (ours)."""
    methods = [_method("a1", "A1 (0.05 max)", "connection", 0.05, "A1", "A1")]
    methods += [_method(f"nnsp-{level}", f"NNSP({level})" + ("" if level in PAPER_LEVELS
                                                              else " (ours)"),
                        f"nnsp:{level}", 0.1, "none",
                        f"NNSP({level})" if level in PAPER_LEVELS else None)
                for level in levels]
    methods.append(_method("weight-norm", "eq. 69 weight norm (0.1 max)", "weight-norm", 0.1,
                           "none"))
    methods += [_method(f"nnsp-{level}+A1", f"NNSP({level}) + A1 compensation (ours)",
                        f"nnsp:{level}", 0.1, "A1") for level in levels]
    return methods


UNTRAINED_METHODS = (
    _method("nnsp-3", "NNSP(3), 0.5 max", "nnsp:3", 0.5, "none"),
    _method("a1", "A1, 0.05 max", "connection", 0.05, "A1"),
)
"""Fig. 20 left and centre."""


def _summed_reading(method: dict[str, Any]) -> dict[str, Any] | None:
    """``method`` with NNSP read as the variance of the summed outputs' sensitivity
    (measure ``nnsp-summed``), or None where that reading does not exist (the softmax level,
    whose outputs sum to 1)."""
    base, _, level = method["measure"].partition(":")
    if base != PER_OUTPUT.measure:
        return method
    if int(level) == SOFTMAX_LEVEL:
        return None
    return method | {"measure": f"{SUMMED_OUTPUTS.measure}:{level}"}


NNSP_READINGS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "per-output": lambda method: method,
    "summed": _summed_reading,
}
"""Run option ``nnsp_outputs`` → how a configured method is run (None: not at all)."""


def methods_of(config: dict[str, Any], group: str) -> list[dict[str, Any]]:
    """The ``trained`` or ``untrained`` methods a run uses: the configuration's, read under the
    run option ``nnsp_outputs`` (:data:`NNSP_READINGS`; ``summed``: NNSP scores by
    :func:`_summed_reading`; the ids and labels stay, so the rows line up with the per-output
    runs' and the paper's)."""
    reading = NNSP_READINGS[option(config, "nnsp_outputs")]
    return [m for m in map(reading, config[group]) if m is not None]


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    levels = QUICK_LEVELS if protocol.name in SMOKE_TEST_PROTOCOLS else LEVELS
    return [{"arch": "N4", "paper_epochs": PAPER_EPOCHS,
             "retrain_paper_epochs": RETRAIN_PAPER_EPOCHS, "invert": invert,
             "trained": trained_methods(levels),
             "untrained": [dict(m) for m in UNTRAINED_METHODS]}
            for invert in ENCODINGS]


# -- one run --------------------------------------------------------------------------------


def prune_inputs(model: MLP, split: Split, test: Split, method: dict[str, Any]) -> dict[str, Any]:
    """Prune ``model``'s inputs in place with ``method``; the numbers of one Fig. 18 cell row."""
    result = prune(model, "input", split, rule=method["rule"], measure=method["measure"],
                   relative_cutoff=method["relative_cutoff"])
    kept = model.selector.kept.tolist()
    return {"pruning_time_s": result.seconds, "threshold": result.threshold,
            **evaluate_splits(model, split, test),
            "remaining_inputs": len(kept), "border_preference": border_preference(kept),
            "kept_inputs": kept}


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    protocol = run_protocol(spec.protocol, spec.config)
    config = spec.config
    dataset = mnist(data_dir, invert=config["invert"])
    split = restrict(dataset.train, protocol)
    init = option(spec.config, "init")
    untrained_model = initialize(build_mlp(config["arch"]), spec.seed, init)
    untrained = {m["id"]: prune_inputs(copy.deepcopy(untrained_model), split, dataset.test, m)
                 for m in methods_of(config, "untrained")}
    # the net the cutoff-, goal- and input-pruning runs start from (shared through
    # $NEUROPLAST_TRAINED_CACHE): the same initialisation, trained the same way
    model, final = train_base(config["arch"], config["paper_epochs"], spec.seed, protocol,
                              dataset, init)
    trained = {}
    for method in methods_of(config, "trained"):
        pruned = copy.deepcopy(model)
        numbers = prune_inputs(pruned, split, dataset.test, method)
        retrained = train(pruned, split, protocol,
                          epochs=protocol.epochs(config["retrain_paper_epochs"]),
                          seed=spec.seed + RETRAIN_SEED_OFFSET, test_split=dataset.test,
                          progress=False,
                          checkpoint=stage_checkpoint(f"retrain-{method['id']}")).final
        trained[method["id"]] = numbers | {
            "retrained_train_accuracy": retrained["train_accuracy"],
            "retrained_test_accuracy": retrained["test_accuracy"],
            "retraining_time_s": retrained["wall_time_s"],
        }
    return {"initial": {"train_accuracy": final["train_accuracy"],
                        "test_accuracy": final["test_accuracy"],
                        "training_time_s": final["wall_time_s"]},
            "untrained": untrained, "trained": trained,
            "run_options": effective_options(spec.config, VS_NNSP.options)}


# -- the report -----------------------------------------------------------------------------


QUANTITIES = (("train_accuracy", "accuracy_after_pruning", 4),
              ("remaining_inputs", "remaining_inputs", 1),
              ("pruning_time_s", "pruning_time_s", 3),
              ("retrained_train_accuracy", "accuracy_after_retraining", 4),
              ("retraining_time_s", "retraining_time_s", 2))
"""(our result key, the paper's Fig. 18 column, decimals)."""
TABLE_HEADERS = ("method (rule)", "accuracy after pruning", "paper", "ours − paper",
                 "remaining inputs", "paper", "pruning time (s)", "paper",
                 "accuracy after retraining", "paper", "ours − paper", "retraining time (s)",
                 "paper", "test accuracy after retraining")


def _field(records: list[dict[str, Any]], group: str, method: str, key: str) -> Summary:
    return summarize(r["result"][group][method][key] for r in records)


def _trained_table(records: list[dict[str, Any]], paper: PaperTable) -> str:
    initial = paper_vs_ours_row("", summarize(r["result"]["initial"]["train_accuracy"]
                                              for r in records),
                                paper.context["initial_accuracy"], 4)
    rows = [["trained net (before pruning)", *initial[1:], "784", "784"] + ["—"] * 9]
    for method in methods_of(records[0]["spec"]["config"], "trained"):
        row = None if method["paper_row"] is None else paper.row(algorithm=method["paper_row"])
        cells = {key: paper_vs_ours_row("", _field(records, "trained", method["id"], key),
                                        None if row is None else row[column], digits)[1:]
                 for key, column, digits in QUANTITIES}
        rows.append([f"{method['label']} ({method['rule']})", *cells["train_accuracy"],
                     *cells["remaining_inputs"][:2], *cells["pruning_time_s"][:2],
                     *cells["retrained_train_accuracy"], *cells["retraining_time_s"][:2],
                     _field(records, "trained", method["id"],
                            "retrained_test_accuracy").format(4)])
    return markdown_table(TABLE_HEADERS, rows)


def _untrained_table(records: list[dict[str, Any]]) -> str:
    rows = []
    for method in methods_of(records[0]["spec"]["config"], "untrained"):
        rows.append([method["label"], f"{method['relative_cutoff']:g} · max",
                     _field(records, "untrained", method["id"], "remaining_inputs").format(1),
                     _field(records, "untrained", method["id"], "border_preference").format(2),
                     _field(records, "untrained", method["id"], "pruning_time_s").format(3),
                     _field(records, "untrained", method["id"], "train_accuracy").format(3)])
    return markdown_table(("method", "cutoff", "remaining inputs", "border preference",
                           "pruning time (s)", "accuracy (untrained)"), rows)


def _regions(records: list[dict[str, Any]]) -> str:
    rows = [[m["label"], f"{m['rule']}",
             _field(records, "trained", m["id"], "border_preference").format(2)]
            for m in methods_of(records[0]["spec"]["config"], "trained")]
    return ("Border preference = fraction of the 4-pixel frame removed − fraction of the "
            "central 12×12 removed (+1: the border only; −1: the centre only; ≈0: "
            "position-blind), trained nets:\n\n"
            + markdown_table(("method", "rule", "border preference"), rows))


def _verdict(sign: int | None, confirming: int) -> Verdict:
    if sign is None or sign == 0:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED if sign == confirming else Verdict.NOT_CONFIRMED


def _paired(records: list[dict[str, Any]], group: str, a: str, b: str, key: str) -> Summary:
    """Per seed: ``key`` of method ``a`` minus that of method ``b``; over seeds."""
    return summarize(r["result"][group][a][key] - r["result"][group][b][key] for r in records)


def _claims(records: list[dict[str, Any]]) -> list[Claim]:
    ids = [m["id"] for m in methods_of(records[0]["spec"]["config"], "trained")]
    levels = [level for level in PAPER_LEVELS if f"nnsp-{level}" in ids]
    border = {level: _field(records, "trained", f"nnsp-{level}", "border_preference")
              for level in levels}
    signs = [interval_sign(s) for s in border.values()]
    claims = [Claim(
        "16a", f"{reference_claim_text(16)}: NNSP (levels 2–5) also removes the border pixels",
        Verdict.NOT_CONFIRMED if -1 in signs else
        Verdict.CONFIRMED if signs and all(s == 1 for s in signs) else Verdict.INCONCLUSIVE,
        "border preference " + ", ".join(f"NNSP({lv}) {s.format(2)}" for lv, s in border.items())
        + f"; A1 {_field(records, 'trained', 'a1', 'border_preference').format(2)}")]
    differences = {level: _paired(records, "trained", f"nnsp-{level}", "a1",
                                  "retrained_train_accuracy") for level in levels}
    verdicts = [equivalence_verdict(d.mean, d.se, RETRAINED_TOLERANCE)
                for d in differences.values()]
    claims.append(Claim(
        "16b", f"after 500 epochs of retraining NNSP's accuracy is comparable to A1's "
        f"(within ±{RETRAINED_TOLERANCE})",
        Verdict.NOT_CONFIRMED if Verdict.NOT_CONFIRMED in verdicts else
        Verdict.CONFIRMED if verdicts and all(v == Verdict.CONFIRMED for v in verdicts) else
        Verdict.INCONCLUSIVE,
        "NNSP − A1: " + ", ".join(f"level {lv} {d.format(4)}" for lv, d in differences.items())
        + " (paper: +0.0017, −0.0076, −0.0019, −0.0157)"))
    times = {level: _field(records, "trained", f"nnsp-{level}", "pruning_time_s")
             for level in levels}
    a1_time = _field(records, "trained", "a1", "pruning_time_s")
    steps = [_paired(records, "trained", f"nnsp-{b}", f"nnsp-{a}", "pruning_time_s")
             for a, b in zip(levels, levels[1:], strict=False)]
    rise = (_paired(records, "trained", f"nnsp-{levels[-1]}", f"nnsp-{levels[0]}",
                    "pruning_time_s") if len(levels) > 1 else None)
    claims.append(Claim(
        "16c", "NNSP's pruning time rises with the output level (paper: 3.0 s → 59.2 s, "
        "level 2 → 5; A1 3.75 s)",
        Verdict.INCONCLUSIVE if rise is None else non_increasing(
            [_negated(step) for step in steps], _negated(rise)),
        ", ".join(f"NNSP({lv}) {t.format(3)} s" for lv, t in times.items())
        + f"; A1 {a1_time.format(3)} s"
        + ("" if rise is None else
           "; paired steps " + ", ".join(f"{a}→{b} {step.format(3)}" for a, b, step in zip(
               levels, levels[1:], steps, strict=False))
           + f"; ratio level {levels[-1]}/{levels[0]} "
           f"{times[levels[-1]].mean / times[levels[0]].mean:.1f}× (paper 19.6×); confirmed "
           "when no step falls and the whole rise is significant, as claim 8")))
    a1_counts = [r["result"]["trained"]["a1"]["remaining_inputs"] for r in records]
    spreads = {level: log_sd_ratio([r["result"]["trained"][f"nnsp-{level}"]["remaining_inputs"]
                                    for r in records], a1_counts) for level in levels}
    enough = len(records) >= MIN_SEEDS_FOR_SPREAD and None not in spreads.values()
    claims.append(Claim(
        "16d", "NNSP's count of remaining inputs varies more over nets than A1's (paper: "
        "3–10×)",
        Verdict.INCONCLUSIVE if not enough or not spreads else
        all_of(direction_verdict(L.mean, L.se) for L in spreads.values()),
        "s.d. over seeds NNSP / A1 (95 % interval): " + ", ".join(
            f"level {lv} " + ("—" if L is None else
                              f"{math.exp(L.mean):.2f}× ({math.exp(L.mean - Z * L.se):.2f}–"
                              f"{math.exp(L.mean + Z * L.se):.2f}×)")
            for lv, L in spreads.items())
        + "; confirmed when every ratio is significantly > 1 (log ratio, paired "
        "se √((1 − r²)/(n − 1)), neuroplast.analysis.spread)"
        + f" (n={len(records)}; needs ≥ {MIN_SEEDS_FOR_SPREAD} seeds)"))
    untrained_a1 = _field(records, "untrained", "a1", "border_preference")
    claims.append(Claim("17a", "A1 removes the border pixels of untrained nets",
                        _verdict(interval_sign(untrained_a1), 1),
                        f"border preference {untrained_a1.format(2)}; "
                        + _fewer_removed(records)))
    gap = _paired(records, "untrained", "a1", "nnsp-3", "border_preference")
    claims.append(Claim(
        "17b", "NNSP (level 3, 0.5 max) cannot prune the border of untrained nets",
        _verdict(interval_sign(gap), 1),
        f"border preference A1 − NNSP(3) = {gap.format(2)}; NNSP(3) alone "
        f"{_field(records, 'untrained', 'nnsp-3', 'border_preference').format(2)}, "
        f"{_field(records, 'untrained', 'nnsp-3', 'remaining_inputs').format(1)} inputs kept"))
    weights = _field(records, "trained", "weight-norm", "border_preference")
    claims.append(Claim("17c", "on trained nets the weight norm of eq. 69 also removes the "
                        "border", _verdict(interval_sign(weights), 1),
                        f"border preference {weights.format(2)}, "
                        f"{_field(records, 'trained', 'weight-norm', 'remaining_inputs').format(1)}"
                        " inputs kept"))
    return claims


def _fewer_removed(records: list[dict[str, Any]]) -> str:
    """How many more inputs A1 keeps on the untrained net than on the trained one."""
    more = summarize(r["result"]["untrained"]["a1"]["remaining_inputs"]
                     - r["result"]["trained"]["a1"]["remaining_inputs"] for r in records)
    return f"untrained A1 keeps {more.format(1)} more inputs than trained A1 (paper: ≈40)"


def _pixel_figures(records: list[dict[str, Any]]) -> tuple[Any, Any]:
    config = records[0]["spec"]["config"]

    def panel(group: str, method: dict[str, Any]) -> tuple[str, list[list[int]]]:
        return (f"{method['label']}" + ("" if group == "trained" else "\nuntrained"),
                [r["result"][group][method["id"]]["kept_inputs"] for r in records])

    fig19 = [panel("trained", m) for m in methods_of(config, "trained")
             if m["id"] == "a1" or (m["measure"].startswith("nnsp") and m["rule"] == "none")]
    fig20 = [panel("untrained", m) for m in methods_of(config, "untrained")]
    fig20 += [panel("trained", m) for m in methods_of(config, "trained")
              if m["id"] == "weight-norm"]
    return (pixel_map_grid(new_figure(2.4 * len(fig19) + 1.0, 2.8), [fig19]),
            pixel_map_grid(new_figure(2.4 * len(fig20) + 1.0, 2.8), [fig20]))


def _time_figure(records: list[dict[str, Any]], paper: PaperTable) -> Any:
    figure = new_figure(5.0, 3.5)
    if figure is None:
        return None
    ax = figure.subplots()
    ids = [m["id"] for m in methods_of(records[0]["spec"]["config"], "trained")]
    levels = [level for level in LEVELS if f"nnsp-{level}" in ids]
    ours = [_field(records, "trained", f"nnsp-{level}", "pruning_time_s") for level in levels]
    ax.errorbar(levels, [s.mean for s in ours], yerr=[Z * (s.se or 0.0) for s in ours],
                marker="o", capsize=2, label="NNSP, ours")
    ax.axhline(_field(records, "trained", "a1", "pruning_time_s").mean, color="tab:blue",
               linestyle="--", label="A1, ours")
    ax.plot(PAPER_LEVELS, [paper.cell("pruning_time_s", algorithm=f"NNSP({level})").mean
                           for level in PAPER_LEVELS], "s-", color="grey",
            label="NNSP, paper (Mathematica)")
    ax.axhline(paper.cell("pruning_time_s", algorithm="A1").mean, color="grey",
               linestyle="--", label="A1, paper")
    ax.set(xlabel="NNSP output level (Fig. 17)", ylabel="pruning time (s)", yscale="log",
           title="input pruning time of trained N4")
    ax.legend(fontsize="small")
    return figure


INVERTED_NOTE = (
    "> On inverted MNIST the time-rescaled protocols (learning rate ×100) train N4 worse than "
    "the paper's small steps: after 1000 paper epochs (seed 0) `fast` (lr 0.1) reached a "
    "training accuracy of 0.827 where lr 0.01 with 10× the steps reached 0.921; on standard "
    "MNIST the two agree (0.918 / 0.920). The background-1 inputs have a 7.6× larger mean squared "
    "norm, so lr 0.1 is too large for them. Compare accuracies of this encoding with the "
    "paper's only under `--protocol paper`.")


SUMMED_NOTE = (
    "> Run option `nnsp_outputs=summed`: every NNSP row (the untrained NNSP(3) too) scores an "
    "input by Var(Σ_o S_ok), the variance of the sensitivity of the level's *summed* outputs "
    "(measure `nnsp-summed`; what a gradient of the summed outputs gives, as Mathematica's "
    "`NetPortGradient` does for a vector output), not by the paper's printed Σ_o Var(S_ok) "
    "(eqs 59–65); there is no softmax level (its outputs sum to 1). The rows keep their names "
    "so that they stand beside the paper's.")
READING_NOTES = {"summed": (SUMMED_NOTE,)}
"""Run option ``nnsp_outputs`` → the notes its report carries."""


def _encoding_section(records: list[dict[str, Any]], paper: PaperTable, out_dir: Path,
                      invert: bool) -> str:
    """Figs 18–20 for the runs of one encoding."""
    tag = "inverted" if invert else "standard"
    fig19, fig20 = _pixel_figures(records)
    return "\n\n".join([
        f"## {ENCODINGS[invert]} MNIST ({len(records)} nets; paper: "
        f"{paper.context['nets'].text}, inverted)",
        *([INVERTED_NOTE] if invert else []),
        *READING_NOTES.get(option(records[0]["spec"]["config"], "nnsp_outputs"), ()),
        "### Input pruning of trained N4 (Fig. 18)\n\nRows without a paper value are ours "
        "(NNSP at level 6, eq. 69, NNSP with A1's compensation). Times: the paper's in "
        "Mathematica on a Ryzen 7 5000, ours on this machine's CPU with one thread per run.",
        _trained_table(records, paper),
        save_figure(_time_figure(records, paper), out_dir, f"fig18_pruning_time_{tag}.png"),
        "### Pixel maps of trained nets (Fig. 19)\n\n" + _regions(records),
        save_figure(fig19, out_dir, f"fig19_pixel_maps_{tag}.png"),
        "### Untrained nets and eq. 69 (Fig. 20)\n\n" + _untrained_table(records),
        save_figure(fig20, out_dir, f"fig20_pixel_maps_{tag}.png"),
        "Training one N4 net (5000 paper epochs, this protocol): "
        + summarize(r["result"]["initial"]["training_time_s"] for r in records).format(1)
        + " s (the paper's Fig. 12: 71.80 ± 0.20 min on its hardware).",
    ])


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    paper = paper_table("fig18")
    groups: dict[bool, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["spec"]["config"]["invert"], []).append(record)
    judged = True if True in groups else next(iter(groups))
    return write_summary(out_dir, [
        header(VS_NNSP, records),
        *(_encoding_section(group, paper, out_dir, invert) for invert, group in groups.items()),
        claims_section(_claims(groups[judged]), records,
                       f"Judged on the {ENCODINGS[judged]} encoding.\n\n"),
    ])


PRUNED_SCHEMA = {
    "pruning_time_s": NUMBER, "threshold": nullable(NUMBER), "train_loss": NUMBER,
    "train_accuracy": NUMBER, "test_loss": NUMBER, "test_accuracy": NUMBER,
    "remaining_inputs": INTEGER, "border_preference": NUMBER, "kept_inputs": [INTEGER],
}
RESULT_SCHEMA = {
    "initial": {"train_accuracy": NUMBER, "test_accuracy": NUMBER, "training_time_s": NUMBER},
    "untrained": map_of(PRUNED_SCHEMA),
    "trained": map_of(PRUNED_SCHEMA | {"retrained_train_accuracy": NUMBER,
                                       "retrained_test_accuracy": NUMBER,
                                       "retraining_time_s": NUMBER}),
}
"""What :func:`run` returns (checked when a stored run is read back)."""


VS_NNSP = Experiment(
    name="vs-nnsp",
    section="5.5",
    figures=("Fig. 18", "Fig. 19", "Fig. 20"),
    description="NNSP (output levels 2–6) and eq. 69 vs A1 on the inputs of trained and "
                "untrained N4, with retraining",
    configs=configs,
    run=run,
    options=("init", "l2", "lr_schedule", "nnsp_outputs"),
    report=report,
    result_schema=RESULT_SCHEMA,
)


def _negated(summary: Summary | None) -> Summary | None:
    """−summary (a rise tested as a fall by :func:`non_increasing`)."""
    return None if summary is None else Summary(-summary.mean, summary.se, summary.n)
