"""Pruning at initialisation: the inputs untrained-pruning keeps, over many seeds.

untrained-pruning (paper §5.4, Figs 12 and 14) prunes the inputs of an untrained N4 with A1 at
p % of the largest input efficiency (eq. 28) before any training. The count of inputs kept
depends on the data, on the random draw of the first layer's weights and, through the
consumer's statistics in eq. 28 (its slope at the mean pre-activation, its variance), on their
scale; one seed takes under a second. So where the experiment's 10 seeds miss the paper's
count (5 %: 422.7 ± 1.1 against 419.5 ± 0.8), many more seeds tell a real difference from an
unlucky draw. Each seed here does exactly what
:func:`neuroplast.experiments.definitions.untrained_pruning.run` does before training (the
same data, initialisation and ``prune_at_percent`` call); ``--check-against`` says how many of the
stored runs' counts it reproduces.

Usage::

    python -m benchmarks.init_input_counts --seeds 500 --out OUT [--invert] [--init INIT] \\
        [--data DIR] [--check-against docs/reproduction/untrained-pruning]

Writes ``OUT/<protocol>[-options]/init-input-counts.{json,md}``. The protocol only matters where
it restricts the training data (``quick``); ``fast``, ``medium`` and ``paper`` count on all
60,000 images.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.report_cells import WITHIN, within
from benchmarks.run_arguments import arm_probe, write_probe_report
from neuroplast.data import Split
from neuroplast.errors import NeuroplastError
from neuroplast.train import Protocol

PERCENTS = (0.1, 1.0, 5.0)
"""untrained-pruning's cuts, % of the largest input efficiency."""
REPRODUCTION_SEEDS = 10
"""The experiment's seeds (0–9): their mean is reported beside the many seeds'."""


def inputs_kept(seed: int, split: Split, init: str, percent: float) -> int:
    """Inputs N4 keeps when its untrained inputs are pruned with A1 at ``percent`` % of the
    largest efficiency, initialised as untrained-pruning initialises seed ``seed``."""
    from neuroplast.experiments.definitions.untrained_pruning import prune_at_percent
    from neuroplast.models import build_mlp, initialize

    net = initialize(build_mlp("N4"), seed, init)
    prune_at_percent(net, "input", split, "A1", percent)
    return net.site("input").width


def stored_counts(folder: Path, options: dict[str, Any],
                  protocol: Protocol | None = None) -> dict[int, dict[float, int]]:
    """seed → {percent: inputs kept} of the untrained-pruning runs stored in ``folder``.

    Raises:
        NeuroplastError: no stored runs, a run under other options (``invert``, ``init``), or
            one whose protocol counts on other training data than ``protocol`` (the only way
            the protocol matters before training: ``max_train_examples``).
    """
    from neuroplast.experiments.options import effective_options
    from neuroplast.train import get_protocol

    counts: dict[int, dict[float, int]] = {}
    for path in sorted((folder / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        stored = effective_options(record["result"].get("run_options", {}))
        theirs = {k: stored[k] for k in ("invert", "init")}
        if theirs != {k: options[k] for k in theirs}:
            raise NeuroplastError(f"{path} was run with {theirs}, not {options}; give the "
                                  "untrained-pruning folder of this setting")
        their_protocol = record["spec"].get("protocol")
        if protocol is not None and their_protocol is not None and (
                get_protocol(their_protocol).max_train_examples
                != protocol.max_train_examples):
            raise NeuroplastError(f"{path} was run under protocol {their_protocol}, which "
                                  "prunes on other training data; give a folder of this "
                                  "protocol")
        counts[record["spec"]["seed"]] = {
            row["cut_percent"]: row["remaining_inputs"] for row in record["result"]["rows"]
            if row["mode"] == "inputs"}
    if not counts:
        raise NeuroplastError(f"no stored runs in {folder / 'runs'}; give an untrained-pruning "
                              "results folder")
    return counts


def report(per_seed: Sequence[dict[str, Any]], setting: str,
           agreement: tuple[int, int] | None) -> tuple[str, dict[str, Any]]:
    """The markdown report and the JSON summary: per cut, the mean over every seed and over the
    experiment's 10, each against the paper's Fig. 12 count."""
    from neuroplast.experiments.definitions.pruning_common import paper_cell
    from neuroplast.experiments.paper_tables import paper_table
    from neuroplast.experiments.stats_summary import summarize, versus_paper

    fig12 = paper_table("fig12")
    n = len(per_seed)
    lines = [f"# Inputs kept by pruning an untrained N4 at 0.1 / 1 / 5 % ({setting}, {n} seeds)",
             "", "`python -m benchmarks.init_input_counts` (module docstring). Per cut: the "
             f"mean ± s.e. over seeds 0–{n - 1} and over the experiment's seeds "
             f"0–{REPRODUCTION_SEEDS - 1}, each minus the paper's Fig. 12 count (combined s.e.; "
             f"'within': |ours − paper| ≤ {WITHIN:g} s.e.).", "",
             f"| cut | ours, {n} seeds | ours − paper | within | ours, seeds 0–"
             f"{REPRODUCTION_SEEDS - 1} | ours − paper | within | paper |",
             "|---|---|---|---|---|---|---|---|"]
    summary: dict[str, Any] = {}
    for percent in PERCENTS:
        paper = paper_cell(fig12, "input_neurons", cut_percent=percent)
        if paper is None:
            raise NeuroplastError(f"the paper's Fig. 12 prints no input count at {percent:g} %")
        cells = []
        for seeds in (per_seed, per_seed[:REPRODUCTION_SEEDS]):
            ours = summarize(s["inputs"][str(percent)] for s in seeds)
            gap = versus_paper(ours, paper)
            cells.append({"mean": ours.mean, "se": ours.se, "n": ours.n,
                          "minus_paper": gap.mean, "se_combined": gap.se,
                          "within": within(gap.mean, gap.se)})
        summary[f"{percent:g}"] = {"all_seeds": cells[0], "reproduction_seeds": cells[1],
                                   "paper": {"mean": paper.mean, "se": paper.error}}
        row = [f"{percent:g} %"]
        for cell in cells:
            row += [f"{cell['mean']:.2f} ± {cell['se']:.2f}",
                    f"{cell['minus_paper']:+.2f} ± {cell['se_combined']:.2f}",
                    "yes" if cell["within"] else "no"]
        lines.append("| " + " | ".join(row + [paper.text]) + " |")
    if agreement is not None:
        lines += ["", f"The stored runs' counts of the same seeds: {agreement[0]} of "
                  f"{agreement[1]} equal."]
    return "\n".join(lines) + "\n", summary


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    import torch

    from neuroplast.experiments.options import encoding_name
    from neuroplast.train import restrict

    def check_against(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--check-against", type=Path, default=None,
                            help="an untrained-pruning results folder of the same encoding and "
                                 "initialisation: how many of its runs' counts are reproduced")

    stored: dict[int, dict[float, int]] | None = None

    def checked(args: argparse.Namespace) -> str | None:
        """Refuse one seed or a stored folder of another setting before any data are read."""
        nonlocal stored
        from neuroplast.experiments.options import REPRODUCTION_DEFAULTS

        if args.l2 != REPRODUCTION_DEFAULTS["l2"]:
            return ("--l2: nothing is trained here (inputs are counted at initialisation), so "
                    "the L2 form changes nothing; leave --l2 out")
        if args.seeds < 2:
            return "give --seeds 2 or more (a standard error needs two seeds)"
        if args.check_against is not None:
            from neuroplast.train import get_protocol

            try:
                stored = stored_counts(args.check_against,
                                       {"invert": args.invert, "init": args.init},
                                       get_protocol(args.protocol))
            except NeuroplastError as error:
                return str(error)
        return None

    probe = arm_probe("python -m benchmarks.init_input_counts", __doc__.split("\n\n")[0], argv,
                      check_against, trained_cache=False, check=checked)
    started = time.perf_counter()
    torch.set_num_threads(1)
    split = restrict(probe.dataset.train, probe.protocol)
    per_seed = []
    for seed in range(probe.args.seeds):
        per_seed.append({"seed": seed, "inputs": {
            str(p): inputs_kept(seed, split, probe.args.init, p) for p in PERCENTS}})
    agreement = None
    if stored is not None:
        pairs = [(s["inputs"][str(p)], stored[s["seed"]][p]) for s in per_seed
                 if s["seed"] in stored for p in PERCENTS]
        agreement = (sum(a == b for a, b in pairs), len(pairs))
    setting = f"{encoding_name(probe.args.invert)} × {probe.args.init}"
    text, summary = report(per_seed, setting, agreement)
    write_probe_report(probe.folder, "init-input-counts", text, {
        "options": probe.options, "protocol": probe.args.protocol, "seeds": probe.args.seeds,
        "summary": summary, "stored_agreement": agreement, "per_seed": per_seed},
        started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
