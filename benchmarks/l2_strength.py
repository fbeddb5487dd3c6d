"""How strongly the L2 term limits a net's trained accuracy: the same nets trained with the
decay scaled by several factors (REFERENCE §1.15 item 2; docs/reproduction/fidelity.md, "The
strength of the L2 term").

The paper's N1s train to 0.91751 ± 0.00034 (Fig. 22, 10000 paper epochs); ours stop 0.002–0.003
short under the paper's own protocol on every setting run, although they have stopped learning
(B5's 1000 extra epochs add 0.0003 in the paper and 0.0004–0.0006 here). With weight decay the
accuracy a net settles at depends on the decay's strength, so this probe trains the same
members with the run's L2 form and its decay multiplied by each ``--factors`` level (1: the
form itself; 0.5: ``quarter-weights`` for ``half-weights``; 0: no decay) and reports each
level's training and test accuracy, and its difference from level 1 paired by seed.

The members of a level are trained fused (:func:`neuroplast.train.fused.train_fused`): member
s is initialised with seed s and all share one data order (``--data-seed``), the same for every
level, so levels differ in the decay alone. The sweeps of ``neuroplast reproduce`` give each
seed its own data order instead, so level 1 is not the replication experiment's runs, only
the same distribution: compare its mean with the stored runs' (e.g. the report of
docs/reproduction/fidelity/medium/standard-kaiming-normal-l2-half-weights/replication).

Usage::

    python -m benchmarks.l2_strength --protocol medium --init kaiming-normal --l2 half-weights \\
        --seeds 10 --out OUT [--factors 1 0.5 0] [--arch N1] [--paper-epochs 10000] \\
        [--invert] [--data DIR]

Writes ``OUT/<protocol>[-options]/l2-strength.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.run_arguments import (
    add_run_arguments,
    made_by,
    options_folder,
    write_probe_report,
)
from neuroplast.data import Split
from neuroplast.experiments.stats_summary import format_difference, summarize
from neuroplast.models import MLP
from neuroplast.train import Checkpoint, Protocol


def with_decay_factor(protocol: Protocol, factor: float) -> Protocol:
    """``protocol`` with its weight decay multiplied by ``factor``."""
    return replace(protocol, weight_decay=protocol.weight_decay * factor)


def train_members(arch: str, factor: float, protocol: Protocol, train_split: Split, *,
                  init: str, seeds: int, paper_epochs: float, data_seed: int,
                  checkpoint: Checkpoint | None = None) -> tuple[list[MLP], float]:
    """Members ``0 … seeds − 1`` of ``arch`` (member s initialised with seed s) trained fused
    on one data order with ``protocol``'s decay × ``factor``, and the training's CPU seconds
    (summed over the attempts a ``checkpoint`` continued)."""
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train.fused import train_fused

    scaled = with_decay_factor(protocol, factor)
    models = [initialize(build_mlp(arch), seed, init) for seed in range(seeds)]
    histories = train_fused(models, train_split, scaled, epochs=scaled.epochs(paper_epochs),
                            data_seed=data_seed, progress=False, checkpoint=checkpoint)
    return models, histories[0].final["cpu_time_s"]


def train_level(arch: str, factor: float, protocol: Protocol, train_split: Split,
                test_split: Split, *, init: str, seeds: int, paper_epochs: float,
                data_seed: int, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """:func:`train_members`, then each member's training and test accuracy; ``cpu_s`` is the
    fused training's CPU time."""
    from neuroplast.train import evaluate

    models, cpu_s = train_members(arch, factor, protocol, train_split, init=init, seeds=seeds,
                                  paper_epochs=paper_epochs, data_seed=data_seed,
                                  checkpoint=checkpoint)
    return {"factor": factor, "weight_decay": with_decay_factor(protocol, factor).weight_decay,
            "cpu_s": cpu_s,
            "train_accuracy": [evaluate(m, train_split).accuracy for m in models],
            "test_accuracy": [evaluate(m, test_split).accuracy for m in models]}


def paired_table(levels: Sequence[dict[str, Any]], titles: Sequence[str],
                 labels: Callable[[dict[str, Any]], Sequence[str]],
                 reference_name: str) -> list[str]:
    """Table lines: each level's label cells (``labels(level)`` under ``titles``), training
    and test accuracy, their differences from the first level paired by seed (the first level
    is ``reference_name`` in the header), and its CPU seconds."""
    reference = levels[0]
    head = [*titles, "training accuracy", f"− {reference_name}, paired", "test accuracy",
            f"− {reference_name}, paired", "CPU s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for level in levels:
        cells = list(labels(level))
        for key in ("train_accuracy", "test_accuracy"):
            own = summarize(level[key])
            diff = summarize(a - b for a, b in zip(level[key], reference[key], strict=True))
            cells += [own.format(5), "—" if level is reference else format_difference(diff, 5)]
        lines.append("| " + " | ".join([*cells, f"{level['cpu_s']:.0f}"]) + " |")
    return lines


def paper_line(paper: str | None) -> list[str]:
    """The paper's Fig. 22 accuracy of N1, when the probe trained Fig. 22's N1."""
    return [] if paper is None else ["", f"Paper (Fig. 22, N1 after 10000 epochs): {paper}."]


def add_member_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arch --paper-epochs --data-seed``: the members every level trains."""
    parser.add_argument("--arch", default="N1", help="a preset (default N1, Fig. 22's net)")
    parser.add_argument("--paper-epochs", type=float, default=10000.0,
                        help="training length in the paper's epochs (default Fig. 22's 10000)")
    parser.add_argument("--data-seed", type=int, default=0, help="the shared data order's seed")


@dataclass(frozen=True)
class ProbeSetting:
    """What a level probe trains on: the run options, the report's folder and the protocol
    under those options (the data is checked when the setting is made, and each level's
    training loads it, :class:`LevelJob`)."""

    options: dict[str, Any]
    folder: Path
    protocol: Protocol


def probe_setting(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ProbeSetting:
    """Refuse fewer than two ``--seeds`` (through ``parser``), then check that the data
    ``args`` name loads, before any training."""
    from neuroplast.experiments.experiment import mnist
    from neuroplast.experiments.options import run_protocol

    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (a standard error needs two members)")
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    protocol = run_protocol(args.protocol, options)
    mnist(args.data, invert=args.invert)
    return ProbeSetting(options, options_folder(args.out, args.protocol, options), protocol)


def fig22_paper(args: argparse.Namespace) -> str | None:
    """The paper's Fig. 22 accuracy of N1 when the probe trains Fig. 22's N1, else None."""
    from neuroplast.experiments.paper_tables import paper_table

    if args.arch.upper() != "N1" or args.paper_epochs != 10000:
        return None
    return paper_table("fig22").context["initial_accuracy"].text


def probe_record(args: argparse.Namespace, setting: ProbeSetting,
                 levels: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON record of a level probe: its arguments and every level."""
    return {"protocol": args.protocol, "options": setting.options, "arch": args.arch,
            "paper_epochs": args.paper_epochs, "data_seed": args.data_seed,
            "seeds": args.seeds, "levels": list(levels)}


@dataclass(frozen=True)
class LevelJob:
    """One level's training, all a worker process needs: it loads the data itself
    (:func:`neuroplast.experiments.experiment.mnist`, cached once per process), and keeps its
    progress under ``partial`` (``<stem>.safetensors`` while it trains, ``<stem>.json`` when
    it has finished) so that the same command run again continues where it stopped."""

    arch: str
    factor: float
    protocol: Protocol
    run_protocol: Protocol  # the protocol the training split is restricted by
    data: str | None
    invert: bool
    init: str
    seeds: int
    paper_epochs: float
    data_seed: int
    partial: Path
    stem: str

    def key(self) -> dict[str, Any]:
        """What names this training: a finished record or checkpoint with another key is not
        this level's and is trained over."""
        return {"arch": self.arch, "factor": self.factor, "protocol": asdict(self.protocol),
                "run_protocol": asdict(self.run_protocol), "invert": self.invert,
                "init": self.init, "seeds": self.seeds, "paper_epochs": self.paper_epochs,
                "data_seed": self.data_seed}


def run_level_job(job: LevelJob) -> dict[str, Any]:
    """:func:`train_level` on the data ``job`` names, continuing from its checkpoint, or its
    finished record when one with the same key is stored."""
    from neuroplast.experiments.experiment import mnist
    from neuroplast.files import atomic_write_text
    from neuroplast.train import Checkpoint, restrict
    from neuroplast.train.checkpoint import discard_checkpoint

    finished = job.partial / f"{job.stem}.json"
    key = job.key()
    if finished.is_file():
        stored = json.loads(finished.read_text())
        if stored.get("key") == key:
            return stored["record"]
    data = mnist(job.data, invert=job.invert)
    job.partial.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(job.partial / f"{job.stem}.safetensors", key=key,
                            remove_at_end=False, replace_foreign=True)
    record = train_level(job.arch, job.factor, job.protocol,
                         restrict(data.train, job.run_protocol), data.test, init=job.init,
                         seeds=job.seeds, paper_epochs=job.paper_epochs,
                         data_seed=job.data_seed, checkpoint=checkpoint)
    atomic_write_text(finished, json.dumps({"key": key, "record": record}))
    discard_checkpoint(checkpoint)  # only once the record is stored: a kill loses nothing
    return record


def train_levels(args: argparse.Namespace, setting: ProbeSetting,
                 levels: Sequence[tuple[float, Protocol]], names: Sequence[str],
                 tag: str) -> list[dict[str, Any]]:
    """One :func:`train_level` record per ``(decay factor, protocol)``, on ``args.workers``
    processes (:func:`benchmarks.probe_pool.run_jobs`; the records do not depend on it). Each
    level keeps its progress in ``<report folder>/partial/`` (:class:`LevelJob`; removed by
    :func:`write_level_report` once the report is written): a probe interrupted and run again
    with the same arguments continues, to the records an uninterrupted run gives."""
    from benchmarks.probe_pool import run_jobs

    partial = setting.folder / "partial"
    jobs = [LevelJob(args.arch, factor, protocol, setting.protocol, args.data, args.invert,
                     args.init, args.seeds, args.paper_epochs, args.data_seed, partial,
                     f"{tag}-{index}")
            for index, (factor, protocol) in enumerate(levels)]
    return run_jobs(run_level_job, jobs, workers=args.workers, names=names, tag=tag)


def write_level_report(setting: ProbeSetting, stem: str, text: str, record: dict[str, Any],
                       started: float) -> Path:
    """:func:`benchmarks.run_arguments.write_probe_report`, then remove the levels' progress
    folder (``partial/``, :func:`train_levels`): nothing in it is needed once the report is
    stored."""
    import shutil

    written = write_probe_report(setting.folder, stem, text, record, started)
    shutil.rmtree(setting.folder / "partial", ignore_errors=True)
    return written


def train_labelled_levels(args: argparse.Namespace, setting: ProbeSetting,
                          labelled: Sequence[tuple[dict[str, Any], Protocol]],
                          tag: str) -> list[dict[str, Any]]:
    """One level per ``(label, protocol)``: the members of ``args`` trained under ``protocol``
    (:func:`train_levels`, decay factor 1), the level's record its label's fields followed by
    :func:`train_level`'s; ``[tag] <first label value> done`` on stderr after each."""
    records = train_levels(args, setting, [(1.0, protocol) for _, protocol in labelled],
                           [str(next(iter(label.values()))) for label, _ in labelled], tag)
    return [{**label, **record} for (label, _), record in zip(labelled, records, strict=True)]


def markdown(levels: Sequence[dict[str, Any]], header: str, paper: str | None) -> str:
    """The table: each level's accuracies and their differences from the first level, paired
    by seed."""
    table = paired_table(levels, ("decay factor", "weight decay"),
                         lambda level: (f"{level['factor']:g}", f"{level['weight_decay']:g}"),
                         f"factor {levels[0]['factor']:g}")
    return "\n".join([header, "", *table, *paper_line(paper)]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Train every level; write the JSON and markdown."""
    from neuroplast.experiments.options import encoding_name

    parser = argparse.ArgumentParser(prog="python -m benchmarks.l2_strength",
                                     description=__doc__.split("\n\n")[0])
    add_run_arguments(parser, invert=True)
    parser.add_argument("--factors", type=float, nargs="+", default=[1.0, 0.5, 0.0],
                        help="multiples of the L2 form's decay, the first the reference")
    add_member_arguments(parser)
    args = parser.parse_args(argv)
    if any(f < 0 for f in args.factors):
        parser.error(f"--factors must be non-negative, got {args.factors}")
    setting = probe_setting(parser, args)
    started = time.perf_counter()
    levels = train_levels(args, setting, [(factor, setting.protocol) for factor in args.factors],
                          [f"factor {factor:g}" for factor in args.factors], "l2-strength")
    header = (
        f"# How strongly the L2 term limits {args.arch}'s trained accuracy\n\n"
        f"Protocol `{args.protocol}`, {encoding_name(args.invert)} MNIST, init `{args.init}`, "
        f"L2 `{args.l2}` with its decay × each factor; {args.arch} trained "
        f"{args.paper_epochs:g} paper epochs; members 0–{args.seeds - 1} fused, one data order "
        f"(seed {args.data_seed}) for every level, so differences are paired by seed. "
        + made_by("benchmarks.l2_strength", argv, started))
    write_level_report(setting, "l2-strength", markdown(levels, header, fig22_paper(args)),
                       probe_record(args, setting, levels), started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
