"""vs-n2ps: A1 against N2PS on sigmoid N4 nets (paper §5.5, Figs 15–16, REFERENCE §4 claim 15).

N2PS (Augasta & Kathirvalavakumar 2011) scores a neuron by its "significance" (eq. 52),
s_k = Σ_i |f(tx_k) + w_ik| with f the logistic sigmoid and tx_k the neuron's total net value
over the training data, and deletes every neuron whose significance is below the **average**
significance of its layer. It assumes sigmoid units, so the paper trains 28 *sigmoid* N4 nets
(784 → 100 → 5 → 10) — for 5000 epochs, we assume (REFERENCE §1.15 item 15) — and prunes the
inputs and the second layer (our ``hidden1``) of each with five methods (Fig. 15's rows):

1. ``n2ps`` — eq. 52 with the total net value (f saturates: a ranking by the weights alone);
2. ``n2ps-mean`` — the average net value tx_k / N for the inputs;
3. ``n2ps-mean-inverted`` — the same, but the inputs with significance *above* the average
   are removed ("keeping insignificant input neurons");
4. ``a1-1%`` and 5. ``a1-10%`` — A1: E_k below 1 % or 10 % of the site's largest E_k, with
   A1's mean-replacement re-wiring.

Decisions (REFERENCE §1.14–1.15):

* **Data encoding** (item 6): the paper's Mathematica MNIST is colour-inverted (background 1),
  and N2PS depends on it completely; the paper's configuration is ``invert=True``. We also
  run the standard encoding (background 0), where the paper predicts the opposite pixel maps.
* **Hidden layer**: "analogously" to the inputs, with the total net value (the pre-activation
  summed over the data) in all three N2PS rows — the paper's three N2PS rows keep exactly the
  same number of hidden neurons (49.1 ± 0.8), which only an unchanged hidden criterion gives.
* **Below the average**: the neurons with score < the mean score of the site (the measures
  ``n2ps*`` of :mod:`neuroplast.efficiency.baselines.n2ps`; for ``n2ps-mean-inverted`` the
  input score is −s_k, so "below the mean of −s" is "above the mean significance").
* **Removal** (item 16): N2PS simply deletes (re-wiring rule ``none``); A1 replaces a removed
  neuron by its mean (rule ``A1``). As our addition, the N2PS rows are repeated with A1's
  compensation (``…+A1``).
* **Order**: both sites' neurons are *chosen* from the trained, unpruned net (so the hidden
  choice does not depend on the input method, as the paper's identical hidden counts
  suggest); then the inputs are removed, and then the hidden neurons, re-wired with statistics
  collected after the input removal (for ``none`` no statistics are needed).
* **Accuracy** (item 8): training accuracy, on the data the protocol trains on, with test
  accuracy beside it; no retraining (the paper reports none). Pruning time is the wall time
  of the whole choose-and-remove step (statistics, scores, re-wiring, surgery) for both sites.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from neuroplast.data import Split
from neuroplast.death.rules import Rewirer, get_rule
from neuroplast.efficiency import efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.claims import (
    Claim,
    Verdict,
    claims_section,
    equivalence_verdict,
    interval_sign,
    reference_claim_text,
)
from neuroplast.experiments.definitions.pixel_regions import (
    ENCODINGS,
    border_preference,
    pixel_map_grid,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import PaperTable, paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER, map_of
from neuroplast.experiments.stage_checkpoints import stage_checkpoint
from neuroplast.experiments.stats_summary import (
    Summary,
    markdown_table,
    paper_vs_ours_row,
    summarize,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import MLP, build_mlp, initialize
from neuroplast.stats import SiteStatistics, collect_site_statistics
from neuroplast.train import Protocol, evaluate, restrict, train

PAPER_EPOCHS = 5000
SITES = ("input", "hidden1")
RANDOM_TOLERANCE = 0.15
"""|border − centre removal rate| below which a pixel pattern counts as position-blind."""


def _method(method_id: str, label: str, input_measure: str, hidden_measure: str,
            threshold: str | float, rule: str, paper_row: int | None) -> dict[str, Any]:
    return {"id": method_id, "label": label, "input": input_measure, "hidden": hidden_measure,
            "threshold": threshold, "rule": rule, "paper_row": paper_row}


METHODS = (
    _method("n2ps", "N2PS", "n2ps", "n2ps", "mean", "none", 0),
    _method("n2ps-mean", "N2PS, average input", "n2ps-mean", "n2ps", "mean", "none", 1),
    _method("n2ps-mean-inverted", "N2PS, average input, inverted input selection",
            "n2ps-mean-inverted", "n2ps", "mean", "none", 2),
    _method("a1-1%", "A1 1 % cutoff", "connection", "connection", 0.01, "A1", 3),
    _method("a1-10%", "A1 10 % cutoff", "connection", "connection", 0.1, "A1", 4),
    _method("n2ps+A1", "N2PS + A1 compensation (ours)", "n2ps", "n2ps", "mean", "A1", None),
    _method("n2ps-mean+A1", "N2PS, average input + A1 compensation (ours)", "n2ps-mean",
            "n2ps", "mean", "A1", None),
    _method("n2ps-mean-inverted+A1", "N2PS, average, inverted + A1 compensation (ours)",
            "n2ps-mean-inverted", "n2ps", "mean", "A1", None),
)
"""Fig. 15's five rows (``paper_row`` 0–4) and our compensated N2PS variants."""
N2PS_ROWS = ("n2ps", "n2ps-mean", "n2ps-mean-inverted")
A1_ROWS = ("a1-1%", "a1-10%")


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    return [{"arch": "N4", "activation": "sigmoid", "paper_epochs": PAPER_EPOCHS,
             "invert": invert, "methods": [dict(m) for m in METHODS]}
            for invert in (True, False)]


# -- one run --------------------------------------------------------------------------------


def below_threshold(scores: torch.Tensor, threshold: str | float) -> torch.Tensor:
    """Indices with score < the mean score (``"mean"``) or < threshold · max score (a float)."""
    limit = scores.mean() if threshold == "mean" else float(threshold) * scores.max()
    return (scores < limit).nonzero().flatten()


def prune_input_and_hidden(model: MLP, split: Split, method: dict[str, Any]) -> float:
    """Choose both sites' neurons on the unpruned ``model``, then remove them; returns seconds.

    See the module docstring ("Order"); ``model`` is modified in place. Three optional keys of
    ``method`` vary the procedure (the A1 variants of ``benchmarks.vs_n2ps_a1``; Fig. 15's
    rows use neither): ``rules``, one re-wiring rule per site in :data:`SITES` order instead of
    ``rule`` for both, ``choose_hidden_after_inputs``, which ranks ``hidden1`` on the
    input-pruned net instead of the unpruned one, and ``delete_constant_inputs``, which deletes
    the chosen inputs that never vary over the data (C_kk = 0: on inverted MNIST the border
    pixels, always 1) without re-wiring (rule ``none``) and re-wires the others by the input
    rule.
    """
    names = method["rules"] if "rules" in method else [method["rule"]] * len(SITES)
    if len(names) != len(SITES):
        raise NeuroplastError(f"method {method.get('id', '?')!r}: give one re-wiring rule per "
                              f"site of {SITES}, got {names!r}")
    started = time.perf_counter()
    rules = [get_rule(name) for name in names]
    sequential = method.get("choose_hidden_after_inputs", False)
    statistics: dict[str, Any] = {}
    chosen: dict[str, torch.Tensor] = {}

    def choose(site: str, measure: str) -> None:
        statistics[site] = collect_site_statistics(model, site, split.x)
        scores = efficiency(measure, model, site, statistics[site], split)  # (n,)
        chosen[site] = below_threshold(scores, method["threshold"])

    for site, measure in zip(SITES, (method["input"], method["hidden"]), strict=True):
        if site == SITES[0] or not sequential:
            choose(site, measure)
    for site, rule in zip(SITES, rules, strict=True):
        if site not in chosen:  # sequential: rank hidden1 now, on the input-pruned net
            choose(site, method["hidden"])
        elif site != SITES[0] and rule.name != "none":  # re-wire with the input-pruned net's
            statistics[site] = collect_site_statistics(model, site, split.x)
        if site == SITES[0] and method.get("delete_constant_inputs", False):
            _remove_constants_apart(model, statistics[site], chosen[site], rule.name)
            continue
        rewirer = Rewirer(model, site, statistics[site], rule.name)
        rewirer.remove_many(chosen[site])
        rewirer.commit(model)
    return time.perf_counter() - started


SEPARABLE_RULES = ("A1", "none")
"""Rules whose removal of one input reads no other removed input (mean replacement, deletion):
under them deleting the constant inputs among the others does not depend on the order."""


def _remove_constants_apart(model: MLP, stats: SiteStatistics, chosen: torch.Tensor,
                            rule: str) -> None:
    """Remove the ``chosen`` inputs: those with zero variance (C_kk = 0) deleted (rule
    ``none``'s relation), the others re-wired by ``rule``, in one pass."""
    if rule not in SEPARABLE_RULES:
        raise NeuroplastError(f"delete_constant_inputs re-wires the varying inputs by "
                              f"{' or '.join(SEPARABLE_RULES)}, whose removals act on the "
                              f"consumer one input at a time; got rule {rule!r}")
    rewirer = Rewirer(model, SITES[0], stats, rule)
    for k in chosen.tolist():
        rewirer.remove(k, rewirer.deletion(k) if stats.var[k] == 0 else None)
    rewirer.commit(model)


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    protocol = run_protocol(spec.protocol, spec.config)
    config = spec.config
    dataset = mnist(data_dir, invert=config["invert"])
    split = restrict(dataset.train, protocol)
    model = initialize(build_mlp(config["arch"], activation=config["activation"]), spec.seed,
                       option(config, "init"))
    history = train(model, split, protocol, epochs=protocol.epochs(config["paper_epochs"]),
                    seed=spec.seed, test_split=dataset.test, progress=False,
                    checkpoint=stage_checkpoint("base"))
    trained = {key: history.final[key] for key in ("train_accuracy", "train_loss",
                                                   "test_accuracy", "test_loss", "wall_time_s")}
    methods = {}
    for method in config["methods"]:
        pruned = copy.deepcopy(model)
        seconds = prune_input_and_hidden(pruned, split, method)
        kept = pruned.selector.kept.tolist()
        methods[method["id"]] = {
            "pruning_time_s": seconds,
            **evaluate(pruned, split).as_dict("train"),
            **evaluate(pruned, dataset.test).as_dict("test"),
            "input_neurons": len(kept),
            "hidden_neurons": pruned.site("hidden1").width,
            "border_preference": border_preference(kept),
            "kept_inputs": kept,
        }
    return {"trained": trained, "methods": methods,
            "run_options": effective_options(config, VS_N2PS.options)}


# -- the report -----------------------------------------------------------------------------


QUANTITIES = (("pruning_time_s", "pruning time (s)", "pruning_time_s", 3),
              ("train_accuracy", "accuracy", "accuracy", 3),
              ("input_neurons", "inputs kept", "input_neurons", 1),
              ("hidden_neurons", "hidden1 kept", "hidden_neurons", 1))
"""(our result key, label, the paper's Fig. 15 column, decimals)."""
TABLE_HEADERS = ("method", "pruning time (s)", "paper", "accuracy (training)", "paper",
                 "ours − paper", "inputs kept", "paper", "hidden1 kept", "paper",
                 "accuracy (test)")


def _field(records: list[dict[str, Any]], method: str, key: str) -> Summary:
    return summarize(r["result"]["methods"][method][key] for r in records)


def _table(records: list[dict[str, Any]], paper: PaperTable) -> str:
    """Fig. 15 with ours beside the paper's values: one row per method."""
    initial = paper_vs_ours_row("", summarize(r["result"]["trained"]["train_accuracy"]
                                              for r in records),
                                paper.context["initial_accuracy"], 4)
    rows = [["trained net (before pruning)", "—", "—", *initial[1:], "—", "—", "—", "—",
             summarize(r["result"]["trained"]["test_accuracy"] for r in records).format(4)]]
    for method in records[0]["spec"]["config"]["methods"]:
        paper_row = None if method["paper_row"] is None else paper.rows[method["paper_row"]]
        cells = {key: paper_vs_ours_row(label, _field(records, method["id"], key),
                                        None if paper_row is None else paper_row[column],
                                        digits)
                 for key, label, column, digits in QUANTITIES}
        rows.append([method["label"], *cells["pruning_time_s"][1:3],
                     *cells["train_accuracy"][1:], *cells["input_neurons"][1:3],
                     *cells["hidden_neurons"][1:3],
                     _field(records, method["id"], "test_accuracy").format(3)])
    return markdown_table(TABLE_HEADERS, rows)


def _regions(groups: dict[bool, list[dict[str, Any]]]) -> str:
    methods = next(iter(groups.values()))[0]["spec"]["config"]["methods"]
    rows = [[m["label"]] + [_field(groups[invert], m["id"], "border_preference").format(2)
                            if invert in groups else "—" for invert in ENCODINGS]
            for m in methods]
    return ("Border preference = fraction of the 4-pixel frame removed − fraction of the "
            "central 12×12 removed (+1: removes the border only; −1: the centre only; ≈0: "
            "position-blind):\n\n"
            + markdown_table(["method"] + list(ENCODINGS.values()), rows))


def _claims(groups: dict[bool, list[dict[str, Any]]]) -> list[Claim]:
    if True not in groups:
        return [Claim("15", reference_claim_text(15), Verdict.INCONCLUSIVE,
                      "no runs on the paper's (inverted) encoding")]
    records = groups[True]
    gap = summarize(min(r["result"]["methods"][m]["train_accuracy"] for m in A1_ROWS)
                    - max(r["result"]["methods"][m]["train_accuracy"] for m in N2PS_ROWS)
                    for r in records)
    sign = interval_sign(gap)
    accuracy = Claim("15a", "N2PS's accuracy after pruning is far below A1's (inverted "
                     "encoding)", {1: Verdict.CONFIRMED, -1: Verdict.NOT_CONFIRMED}.get(
                         sign, Verdict.INCONCLUSIVE),
                     f"worst A1 row − best N2PS row = {gap.format(3)} (paper: 0.682 − 0.273 = "
                     "0.409)")
    mean = _field(records, "n2ps-mean", "border_preference")
    sign = interval_sign(mean)
    centre = Claim("15b", "N2PS with averages removes central pixels and keeps the border "
                   "(inverted encoding)", {-1: Verdict.CONFIRMED, 1: Verdict.NOT_CONFIRMED}.get(
                       sign, Verdict.INCONCLUSIVE),
                   f"border preference of n2ps-mean {mean.format(2)} (negative = centre removed)")
    total = _field(records, "n2ps", "border_preference")
    random = Claim("15c", "N2PS with total sums prunes effectively random inputs (inverted "
                   "encoding)", equivalence_verdict(total.mean, total.se, RANDOM_TOLERANCE),
                   f"border preference of n2ps {total.format(2)} (position-blind: within "
                   f"±{RANDOM_TOLERANCE})")
    claims = [accuracy, centre, random]
    if False in groups:
        standard = _field(groups[False], "n2ps-mean", "border_preference")
        sign = interval_sign(standard)
        claims.append(Claim(
            "15d", "With the colour coding reversed (background 0), N2PS with averages "
            "removes the border (§5.5 text)", {1: Verdict.CONFIRMED,
                                               -1: Verdict.NOT_CONFIRMED}.get(
                sign, Verdict.INCONCLUSIVE),
            f"border preference of n2ps-mean, standard encoding: {standard.format(2)}"))
    return claims


def _pixel_figure(groups: dict[bool, list[dict[str, Any]]]) -> Any:
    methods = [m for m in next(iter(groups.values()))[0]["spec"]["config"]["methods"]
               if m["paper_row"] is not None]
    panels = [[(f"{m['label']}\n{ENCODINGS[invert].split(' (')[0]}",
                [r["result"]["methods"][m["id"]]["kept_inputs"] for r in records])
               for m in methods] for invert, records in groups.items()]
    return pixel_map_grid(new_figure(2.4 * len(methods) + 1.0, 2.6 * len(panels)), panels)


def _timing(groups: dict[bool, list[dict[str, Any]]]) -> str:
    rows = [[ENCODINGS[invert], summarize(r["result"]["trained"]["wall_time_s"]
                                          for r in records).format(1)]
            for invert, records in groups.items()]
    return ("Training time of one sigmoid N4 net (the paper gives none; its pruning times "
            "were taken in Mathematica on a Ryzen 7 5000, ours on this machine's CPU with one "
            "thread per run, so compare times only within a table):\n\n"
            + markdown_table(["encoding", "training seconds (mean ± s.e.)"], rows))


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    groups: dict[bool, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(record["spec"]["config"]["invert"], []).append(record)
    paper = paper_table("fig15")
    tables = [f"### {ENCODINGS[invert]} MNIST ({len(group)} nets; paper: "
              f"{paper.context['nets'].text}, inverted)\n\n" + _table(group, paper)
              for invert, group in groups.items()]
    return write_summary(out_dir, [
        header(VS_N2PS, records),
        "## Pruning inputs and hidden1 (Fig. 15)\n\nThe paper's values are for inverted MNIST; "
        "they are shown beside both encodings. Rows marked (ours) are not in the paper.\n\n"
        + "\n\n".join(tables),
        "## Where the removed pixels are (Fig. 16)\n\n" + _regions(groups) + "\n\n"
        + save_figure(_pixel_figure(groups), out_dir, "fig16_pixel_maps.png"),
        claims_section(_claims(groups), records),
        "## Timing\n\n" + _timing(groups),
    ])


METHOD_SCHEMA = {
    "pruning_time_s": NUMBER, "train_loss": NUMBER, "train_accuracy": NUMBER,
    "test_loss": NUMBER, "test_accuracy": NUMBER, "input_neurons": INTEGER,
    "hidden_neurons": INTEGER, "border_preference": NUMBER, "kept_inputs": [INTEGER],
}
RESULT_SCHEMA = {"trained": {"train_accuracy": NUMBER, "train_loss": NUMBER,
                             "test_accuracy": NUMBER, "test_loss": NUMBER, "wall_time_s": NUMBER},
                 "methods": map_of(METHOD_SCHEMA)}
"""What :func:`run` returns (checked when a stored run is read back)."""


VS_N2PS = Experiment(
    name="vs-n2ps",
    section="5.5",
    figures=("Fig. 15", "Fig. 16"),
    description="N2PS (three variants) vs A1 on inputs and hidden1 of sigmoid N4 nets, "
                "inverted and standard MNIST",
    configs=configs,
    run=run,
    options=("init", "l2", "lr_schedule"),
    report=report,
    result_schema=RESULT_SCHEMA,
)
