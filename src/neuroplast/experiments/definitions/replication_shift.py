"""replication-shift: replication when the training data shifts (paper §5.7, Fig. 23).

The paper trains 28 N1 nets for 10000 epochs on a '3'-peaked set (6000 images of '3' and 600
of every other digit, 11400 in all, 19 SGD steps per epoch), adds one neuron to the second
layer by B1, B4 (random) or not at all (B5), and retrains 10, 100 and 1000 epochs on a
'1'-peaked set (6000 '1' + 600 of each other digit). It reports accuracies on both sets and on
the 10000-image validation set. One run here is one seed: it trains once and branches into the
three methods (as in :mod:`~neuroplast.experiments.definitions.replication`, whose procedure and
seeding it reuses).

Decisions where the paper is silent (REFERENCE §1.15 item 21):

* **The peaked sets** are drawn at random without replacement by
  :func:`neuroplast.data.peaked_split` with the run's seed, for both sets: they then share the
  same 600 images of every digit other than 1 and 3, and the 600 '3's of the '1'-peaked set are
  among the 6000 of the '3'-peaked set. Accuracies are on the whole sets (11400 images each).
  The run option ``peaked_sets: independent`` (absent: ``shared``; ``neuroplast reproduce
  --peaked-sets independent``) draws the new set with its own seed instead (:data:`PEAKED_SETS`):
  the setting ``fast-independent-sets``, replication-shift's default since 2026-12-07
  (docs/decisions.md rows 21 and 54; ``benchmarks/peaked_sets.py`` compares the two).
* **The validation set** is the MNIST test set (10000 images, only roughly balanced).
* **The parent's efficiency** (largest E_k, eq. 28) is computed on the **new** ('1'-peaked)
  data, the data the grown net is trained on next; the parent that the old data would have
  chosen is recorded beside it (``parent_on_old_data``).
* Extra epochs, checkpoints and shuffling seeds as in the ``replication`` experiment:
  one continued training with checkpoints at the cumulative 10, 100 and 1000 paper epochs, the
  same batches for every method. With the ``quick`` protocol the training sets are cut to
  their first 6000 images (the protocol's ``max_train_examples``).
* **Accuracy** is the fraction correct on each set (no "training accuracy" ambiguity here).
* **Run options** (docs/reproduction/fidelity.md): ``invert`` (the paper's probable inverted
  MNIST), ``init``, ``l2`` and ``lr_schedule`` as in the N4 experiments, ``b4_std`` (B4's
  spread) and ``peaked_sets`` (above).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from neuroplast.data import peaked_split
from neuroplast.efficiency import efficiency
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.claims import (
    Claim,
    Verdict,
    all_of,
    claims_section,
    direction_verdict,
    reference_claim_text,
)
from neuroplast.experiments.definitions.random_neuron_spread import (
    DEFAULT_B4_SPREAD,
    b4_random_std,
    b4_weights,
)
from neuroplast.experiments.definitions.replication import (
    MEASURE,
    METHOD_COLOURS,
    SITE,
    by_seed,
    describe,
    grow_and_retrain,
    metrics,
    paired,
    stage,
    summary_over,
)
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import OPTIONS, effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER, TEXT, map_of
from neuroplast.experiments.stage_checkpoints import stage_checkpoint
from neuroplast.experiments.stats_summary import markdown_table, paper_vs_ours_row
from neuroplast.experiments.sweep import RunSpec
from neuroplast.models import build_mlp, initialize
from neuroplast.replication import most_efficient_neurons
from neuroplast.stats import collect_site_statistics
from neuroplast.train import Protocol, restrict, train

PRETRAIN_PAPER_EPOCHS = 10000
HORIZONS = (10, 100, 1000)
METHODS = ("B5", "B1", "B4")
"""In the order of the paper's Fig. 23 table."""
PAPER_ALGORITHM = {"B5": "Original B5", "B1": "B1", "B4": "Random B4"}
"""Method → the paper's row label."""
VALIDATION = "validation"


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    """One configuration: N1, '3'-peaked → '1'-peaked, B1/B4/B5 (the same for every protocol)."""
    return [{"arch": "N1", "pretrain_paper_epochs": PRETRAIN_PAPER_EPOCHS, "old_digit": 3,
             "new_digit": 1, "major": 6000, "minor": 600, "horizons": list(HORIZONS),
             "methods": list(METHODS)}]


PEAKED_SETS = OPTIONS["peaked_sets"].levels
"""How the two peaked sets relate (REFERENCE §1.15 item 21; configuration key ``peaked_sets``,
``shared`` when absent): ``shared`` draws both with the run's seed, so they share their 600
examples of every other digit; ``independent`` draws the new set with its own seed
(:func:`new_set_seed`), so its other digits are mostly examples the net has not trained on."""
INDEPENDENT_SET_SEED_OFFSET = 7919
"""Added to the run's seed for the new set's draw when the sets are independent."""


def new_set_seed(seed: int, config: dict[str, Any]) -> int:
    """The seed of the new ('1'-peaked) set's draw under the configuration's ``peaked_sets``.

    Raises:
        NeuroplastError: an unknown ``peaked_sets`` value.
    """
    return int(seed) + (INDEPENDENT_SET_SEED_OFFSET if _independent(config) else 0)


def _independent(config: dict[str, Any]) -> bool:
    """Whether the configuration draws the peaked sets independently (``peaked_sets``).

    Raises:
        NeuroplastError: an unknown ``peaked_sets`` value.
    """
    relation = option(config, "peaked_sets")
    if relation not in PEAKED_SETS:
        raise NeuroplastError(f"peaked_sets must be one of {PEAKED_SETS}, got {relation!r}")
    return relation == "independent"


def set_name(digit: int) -> str:
    """The result key (and the paper's column key) of a digit-peaked set: ``peaked_at_3``."""
    return f"peaked_at_{digit}"


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    cfg = spec.config
    protocol = run_protocol(spec.protocol, spec.config)
    dataset = mnist(data_dir, invert=option(cfg, "invert"))
    sizes = {"major": cfg["major"], "minor": cfg["minor"]}
    old = peaked_split(dataset.train, cfg["old_digit"], seed=spec.seed, **sizes)
    new = peaked_split(dataset.train, cfg["new_digit"], seed=new_set_seed(spec.seed, cfg),
                       **sizes)
    splits = {set_name(cfg["old_digit"]): old, set_name(cfg["new_digit"]): new,
              VALIDATION: dataset.test}

    model = initialize(build_mlp(cfg["arch"]), spec.seed, option(spec.config, "init"))
    history = train(model, old, protocol, epochs=protocol.epochs(cfg["pretrain_paper_epochs"]),
                    seed=spec.seed, progress=False, checkpoint=stage_checkpoint("pretrain"))
    trained = metrics(model, splits)

    started = time.perf_counter()
    new_train = restrict(new, protocol)  # what the grown net trains on
    stats = collect_site_statistics(model, SITE, new_train)
    scores = efficiency(MEASURE, model, SITE, stats, new_train)  # (width,) E_k on new data
    parent = int(scores.argmax())  # the most efficient neuron (lowest index on a tie)
    statistics_wall = time.perf_counter() - started
    old_parent, _ = most_efficient_neurons(model, SITE, 1, measure=MEASURE,
                                           data=restrict(old, protocol))

    b4_std = b4_random_std(model, option(cfg, "b4_std"), option(cfg, "init"))
    methods = {m: grow_and_retrain(model, m, stats=stats, statistics_data=new_train,
                                   retrain=new, protocol=protocol, horizons=cfg["horizons"],
                                   seed=spec.seed, splits=splits, b4_std=b4_std)
               for m in cfg["methods"]}
    return {
        "arch": cfg["arch"],
        "set_sizes": {name: split.n for name, split in splits.items()},
        "pretrain": {"steps": history.final["steps"], "wall_s": history.final["wall_time_s"],
                     **trained},
        "efficiency": scores.tolist(),
        "parent": parent,
        "parent_on_old_data": int(old_parent[0]),
        "statistics_wall_s": statistics_wall,
        "methods": methods,
        "run_options": effective_options(spec.config, REPLICATION_SHIFT.options),
    }


# -- report -----------------------------------------------------------------------------------
def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    records = by_seed(records)
    cfg = records[0]["spec"]["config"]
    sets = [set_name(cfg["old_digit"]), set_name(cfg["new_digit"]), VALIDATION]
    same_parent = sum(r["result"]["parent"] == r["result"]["parent_on_old_data"]
                      for r in records)
    notes = (f"N1 trained {cfg['pretrain_paper_epochs']} paper epochs on the "
             f"'{cfg['old_digit']}'-peaked set, one neuron added to `hidden1` (B1: parent = "
             f"largest E_k on the '{cfg['new_digit']}'-peaked data; B4: random neuron"
             f"{_spread_words(cfg)}; B5: "
             f"none), then trained on the '{cfg['new_digit']}'-peaked set. Set sizes: "
             + ", ".join(f"{k} {v}" for k, v in records[0]["result"]["set_sizes"].items())
             + f"; the two peaked sets are drawn {_relation(cfg)}. The old data would have "
             f"chosen the same parent in {same_parent} of {len(records)} runs.")
    return write_summary(out_dir, [
        header(REPLICATION_SHIFT, records), notes,
        "## Fig. 23: accuracies (ours beside the paper's)\n\n" + _table(records, sets),
        save_figure(_figure(records, sets), out_dir, "fig23_accuracy.png"),
        "## Timings\n\n" + _timings(records)
        + "\n\nThe paper reports no timings for §5.7.",
        claims_section(_claims(records, sets), records),
    ])


def _spread_words(config: dict[str, Any]) -> str:
    """`` (with …)`` naming B4's weights under a non-default ``b4_std``; empty at the default
    (so the library-B4 reports read as before)."""
    spread = option(config, "b4_std")
    return "" if spread == DEFAULT_B4_SPREAD else f" (with {b4_weights(spread)})"


def _relation(config: dict[str, Any]) -> str:
    if _independent(config):
        return ("independently (`peaked_sets` independent: the new set's other digits are "
                "mostly examples the net has not trained on)")
    return "with one seed (they share their 600 examples of every other digit)"


def _stages(records: Sequence[dict[str, Any]]) -> list[tuple[str, float | None]]:
    """(the paper's stage label, horizon or None for the trained net) in table order."""
    cfg = records[0]["spec"]["config"]
    return [(f"After {cfg['pretrain_paper_epochs']} epochs training", None)] + [
        (f"After {h:g} epochs retraining", h) for h in cfg["horizons"]]


def _accuracy(method: str, horizon: float | None, name: str) -> Callable[[dict], float]:
    if horizon is None:
        return lambda result: result["pretrain"][name]["accuracy"]
    return lambda result: stage(result, method, horizon)[name]["accuracy"]


def _table(records: Sequence[dict[str, Any]], sets: Sequence[str]) -> str:
    paper = paper_table("fig23")
    methods = [m for m in METHODS if m in records[0]["spec"]["config"]["methods"]]
    columns = {key for key, _ in paper.columns}
    rows = []
    for method in methods:
        for label, horizon in _stages(records):
            row = [method, label]
            for name in sets:
                cited = (paper.cell(name, algorithm=PAPER_ALGORITHM[method], stage=label)
                         if name in columns else None)
                row += paper_vs_ours_row(
                    "", summary_over(records, _accuracy(method, horizon, name)), cited)[1:]
            rows.append(row)
    headers = ["algorithm", "stage"]
    for name in sets:
        headers += [f"{name}: ours", "paper", "ours − paper"]
    return markdown_table(headers, rows)


def _timings(records: Sequence[dict[str, Any]]) -> str:
    rows = [[summary_over(records, lambda r: r["pretrain"]["wall_s"]).format(2),
             summary_over(records, lambda r: r["pretrain"]["steps"]).format(0),
             summary_over(records, lambda r: r["statistics_wall_s"]).format(3),
             summary_over(records, lambda r: sum(
                 s["wall_s"] for b in r["methods"].values() for s in b["stages"])).format(2)]]
    return markdown_table(("pretraining (s)", "pretraining steps", "statistics + E_k (s)",
                           "extra training, all methods (s)"), rows)


def _figure(records: Sequence[dict[str, Any]], sets: Sequence[str]) -> Any:
    figure = new_figure(4.0 * len(sets), 3.6)
    if figure is None:
        return None
    paper = paper_table("fig23")
    columns = {key for key, _ in paper.columns}
    stages = _stages(records)
    positions = list(range(len(stages)))
    axes = figure.subplots(1, len(sets), squeeze=False)[0]
    methods = [m for m in METHODS if m in records[0]["spec"]["config"]["methods"]]
    for ax, name in zip(axes, sets, strict=True):
        for offset, method in enumerate(methods):
            colour = METHOD_COLOURS[method]
            shift = 0.06 * (offset - 1)
            ours = [summary_over(records, _accuracy(method, h, name)) for _, h in stages]
            ax.errorbar([p + shift for p in positions], [s.mean for s in ours],
                        yerr=[s.se or 0.0 for s in ours], color=colour, marker="o", capsize=3,
                        label=f"{method}, ours")
            if name in columns:
                cited = [paper.cell(name, algorithm=PAPER_ALGORITHM[method], stage=label)
                         for label, _ in stages]
                ax.errorbar([p + shift for p in positions], [c.mean for c in cited],
                            yerr=[c.error or 0.0 for c in cited], color=colour, marker="s",
                            linestyle="--", alpha=0.5, capsize=3, label=f"{method}, paper")
        ax.set_xticks(positions, ["trained"] + [f"+{h:g}" for _, h in stages[1:]])
        ax.set(title=name.replace("_", " "), xlabel="extra paper epochs on the new set",
               ylabel="accuracy")
    axes[0].legend(fontsize="x-small", ncol=2)
    figure.suptitle(f"Fig. 23: N1, data shift (seeds: {len(records)}, "
                    f"{records[0]['spec']['protocol']} protocol)", fontsize="medium")
    return figure


def _claims(records: Sequence[dict[str, Any]], sets: Sequence[str]) -> list[Claim]:
    """Claim 20 on the new set and the validation set (the columns the paper's ranking uses)."""
    horizons = sorted(records[0]["spec"]["config"]["horizons"])
    if len(horizons) < 3 or not {"B1", "B4", "B5"} <= set(records[0]["spec"]["config"]["methods"]):
        return [Claim("20", reference_claim_text(20), Verdict.INCONCLUSIVE,
                      "needs B1, B4, B5 and three horizons")]
    short, middle, long = horizons[0], horizons[1], horizons[-1]
    judged = sets[1:]  # the new set and the validation set

    def beats(winner: str, losers: Sequence[str], horizon: float) -> tuple[Verdict, str]:
        verdicts, stats = [], []
        for name in judged:
            for loser in losers:
                d = paired(records, _accuracy(winner, horizon, name),
                           _accuracy(loser, horizon, name))
                verdicts.append(direction_verdict(d.mean, d.se))
                stats.append(describe(f"{name} {winner} − {loser}", d))
        return all_of(verdicts), "; ".join(stats)

    late = beats("B4", ("B1", "B5"), long)
    mid = beats("B1", ("B4", "B5"), middle)
    early_b1, early_b1_stat = beats("B1", ("B4",), short)
    early_b5, early_b5_stat = beats("B5", ("B4",), short)
    b1_b5 = [describe(f"{name} B1 − B5", paired(records, _accuracy("B1", short, name),
                                                  _accuracy("B5", short, name)))
             for name in judged]
    on = " and ".join(judged)
    return [
        Claim("20a", f"{reference_claim_text(20)}: after {long:g} epochs B4 is best ({on})",
              *late),
        Claim("20b", f"after {middle:g} epochs B1 is best ({on})", *mid),
        Claim("20c", f"after {short:g} epochs B1 ≈ B5 > B4 ({on}; tested: B1 > B4 and B5 > B4)",
              all_of([early_b1, early_b5]), "; ".join([early_b1_stat, early_b5_stat, *b1_b5])),
    ]


_METRICS_SCHEMA = {"loss": NUMBER, "accuracy": NUMBER}
_SPLITS_SCHEMA = {VALIDATION: _METRICS_SCHEMA}
"""The validation set; the peaked sets' names depend on the configuration."""
RESULT_SCHEMA = {
    "arch": TEXT, "set_sizes": map_of(INTEGER),
    "pretrain": _SPLITS_SCHEMA | {"steps": INTEGER, "wall_s": NUMBER},
    "efficiency": [NUMBER], "parent": INTEGER, "parent_on_old_data": INTEGER,
    "statistics_wall_s": NUMBER,
    "methods": map_of({"width": INTEGER, "parents": [INTEGER], "replication_wall_s": NUMBER,
                       "after_replication": map_of(_METRICS_SCHEMA),
                       "stages": [_SPLITS_SCHEMA | {"paper_epochs": NUMBER, "steps": INTEGER,
                                                    "wall_s": NUMBER}]}),
}
"""What :func:`run` returns (checked when a stored run is read back)."""


REPLICATION_SHIFT = Experiment(
    name="replication-shift",
    section="5.7",
    figures=("Fig. 23",),
    description="N1 trained on a '3'-peaked set, one neuron added (B1/B4/B5), retrained on a "
                "'1'-peaked set; accuracies on both sets and the validation set",
    configs=configs,
    run=run,
    options=("invert", "init", "l2", "lr_schedule", "b4_std", "peaked_sets"),
    report=report,
    result_schema=RESULT_SCHEMA,
)
