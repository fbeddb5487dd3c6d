"""baseline-training: N4 trained for 5000 paper epochs (paper §2.2; §5.2, Fig. 5, first line).

The paper trains 28 N4 nets (784 → 100 → 5 → 10, tanh) for 5000 epochs to a training accuracy
of 0.97981 ± 0.00023 (Fig. 5 caption); these nets are the starting point of §5.2–5.5. We train
the same net with the chosen protocol and report training and test accuracy and loss beside
the paper's number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neuroplast.experiments.claims import Claim, claims_section, equivalence_verdict
from neuroplast.experiments.definitions.pruning_common import train_base
from neuroplast.experiments.experiment import Experiment, mnist
from neuroplast.experiments.options import effective_options, option, run_protocol
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.experiments.report import header, new_figure, save_figure, write_summary
from neuroplast.experiments.schema import INTEGER, NUMBER
from neuroplast.experiments.stats_summary import (
    PAPER_VS_OURS_HEADERS,
    format_difference,
    markdown_table,
    paper_vs_ours_row,
    summarize_field,
    versus_paper,
)
from neuroplast.experiments.sweep import RunSpec
from neuroplast.train import Protocol

PAPER_EPOCHS = 5000
TOLERANCE = 0.005
"""Accuracy difference to the paper we still call a reproduction."""


def configs(protocol: Protocol) -> list[dict[str, Any]]:
    return [{"arch": "N4", "paper_epochs": PAPER_EPOCHS}]


def run(spec: RunSpec, data_dir: str | None) -> dict[str, Any]:
    protocol = run_protocol(spec.protocol, spec.config)
    dataset = mnist(data_dir, invert=option(spec.config, "invert"))
    _, final = train_base(spec.config["arch"], spec.config["paper_epochs"], spec.seed,
                          protocol, dataset, option(spec.config, "init"))
    return {key: final[key] for key in ("train_accuracy", "train_loss", "test_accuracy",
                                        "test_loss", "epochs", "steps")} | {
        "run_options": effective_options(spec.config, BASELINE_TRAINING.options)}


def report(records: list[dict[str, Any]], out_dir: Path) -> Path:
    paper = paper_table("fig5").context["initial_accuracy"]
    train_acc = summarize_field(records, "train_accuracy")
    rows = [paper_vs_ours_row("training accuracy", train_acc, paper),
            paper_vs_ours_row("test accuracy", summarize_field(records, "test_accuracy"), None),
            paper_vs_ours_row("training loss", summarize_field(records, "train_loss"), None),
            paper_vs_ours_row("test loss", summarize_field(records, "test_loss"), None)]
    difference = versus_paper(train_acc, paper)
    claim = Claim("E2 setup", f"N4 trained {PAPER_EPOCHS} epochs reaches the paper's training "
                  f"accuracy {paper.text} (within ±{TOLERANCE})",
                  equivalence_verdict(difference.mean, difference.se, TOLERANCE),
                  f"ours − paper = {format_difference(difference)}"
                  + ("" if difference.se is None else f" (n={difference.n})"))
    return write_summary(out_dir, [
        header(BASELINE_TRAINING, records),
        "## Accuracy after training\n\n" + markdown_table(PAPER_VS_OURS_HEADERS, rows),
        claims_section([claim], records),
        save_figure(_figure(records, paper), out_dir, "accuracy.png"),
    ])


def _figure(records: list[dict[str, Any]], paper: Any) -> Any:
    figure = new_figure(5.0, 3.5)
    if figure is None:
        return None
    ax = figure.subplots()
    seeds = [r["spec"]["seed"] for r in records]
    for split, marker in (("train", "o"), ("test", "s")):
        ax.plot(seeds, [r["result"][f"{split}_accuracy"] for r in records], marker,
                label=f"ours, {split}")
    ax.axhspan(paper.mean - paper.error, paper.mean + paper.error, color="grey", alpha=0.3)
    ax.axhline(paper.mean, color="grey", label=f"paper, train ({paper.text})")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="seed", ylabel="accuracy",
           title=f"N4 after {PAPER_EPOCHS} paper epochs ({records[0]['spec']['protocol']})")
    ax.legend(fontsize="small")
    return figure


RESULT_SCHEMA = {"train_accuracy": NUMBER, "train_loss": NUMBER, "test_accuracy": NUMBER,
                 "test_loss": NUMBER, "epochs": INTEGER, "steps": INTEGER}
"""What :func:`run` returns (checked when a stored run is read back)."""


BASELINE_TRAINING = Experiment(
    name="baseline-training",
    section="2.2, 5.2",
    figures=("Fig. 5 (caption: initial accuracy)",),
    description="train N4 for 5000 paper epochs; accuracy beside the paper's 0.97981 ± 0.00023",
    configs=configs,
    run=run,
    report=report,
    options=("invert", "init", "l2", "lr_schedule"),
    result_schema=RESULT_SCHEMA,
)
