"""What the level probes share (:mod:`benchmarks.l2_strength`, :mod:`benchmarks.l2_form`,
:mod:`benchmarks.lr_schedule`): each level is one fused group of members — member s
initialised with seed s, all on one data order (``--data-seed``), the same for every level, so
levels differ in what the probe varies alone and their differences pair by seed — and the
table that pairs them.

Levels train side by side with ``--workers K`` and resume (:mod:`benchmarks.probe_pool`): each
level's fused training checkpoints into ``<report folder>/partial/<probe>-<run>/`` (``<run>``:
a digest of the command's arguments but ``--workers``, ``--out`` and ``--data``) and its
finished record is stored there, keyed by what it trains (the protocol's every field, the
members, the data's fingerprint, the neuroplast and torch versions); the same command started
again continues, and the run's folder goes once its report is written. The records do not
depend on either, but for their CPU times. The key does not name the code beyond
neuroplast's version: after changing the code, remove ``partial/`` to train afresh.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.probe_pool import arguments_digest, code_versions
from benchmarks.run_arguments import made_by, options_folder, write_probe_report
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


def add_member_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arch --paper-epochs --data-seed``: the members every level trains."""
    parser.add_argument("--arch", default="N1", help="a preset (default N1, Fig. 22's net)")
    parser.add_argument("--paper-epochs", type=float, default=10000.0,
                        help="training length in the paper's epochs (default Fig. 22's 10000)")
    parser.add_argument("--data-seed", type=int, default=0, help="the shared data order's seed")


@dataclass(frozen=True)
class ProbeSetting:
    """What a level probe trains on: the run options, the report's folder, the protocol under
    those options (the data is checked when the setting is made, and each level's training
    loads it, :class:`LevelJob`), and ``run``, a digest of the command's arguments that names
    this run's progress folder (:func:`level_store`)."""

    options: dict[str, Any]
    folder: Path
    protocol: Protocol
    run: str
    data_fingerprint: str


def probe_setting(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ProbeSetting:
    """Refuse fewer than two ``--seeds``, a ``--paper-epochs`` that is not a positive number,
    a negative ``--data-seed`` and an unknown ``--arch`` (through ``parser``), then check that
    the data ``args`` name loads, before any training."""
    from neuroplast.errors import NeuroplastError
    from neuroplast.experiments.experiment import mnist_fingerprint
    from neuroplast.experiments.options import run_protocol
    from neuroplast.models import PRESETS, build_mlp

    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (a standard error needs two members)")
    if not (math.isfinite(args.paper_epochs) and args.paper_epochs > 0):
        parser.error(f"--paper-epochs must be a positive number, got {args.paper_epochs}")
    if args.data_seed < 0:
        parser.error(f"--data-seed must be non-negative, got {args.data_seed}")
    try:
        build_mlp(args.arch)
    except NeuroplastError:
        parser.error(f"--arch: unknown preset {args.arch!r}; choose one of "
                     f"{', '.join(PRESETS)}")
    options = {"invert": args.invert, "init": args.init, "l2": args.l2}
    protocol = run_protocol(args.protocol, options)
    fingerprint = mnist_fingerprint(args.data)  # loads the data: a bad --data fails here
    return ProbeSetting(options, options_folder(args.out, args.protocol, options), protocol,
                        arguments_digest(args), fingerprint)


def paper_line(args: argparse.Namespace) -> list[str]:
    """The paper's accuracy for the net the probe trains, as the report's last line, when the
    paper prints one for it: N1 after 10000 epochs (Fig. 22) or N4 after 5000 (Fig. 5's
    caption, the training accuracy of baseline-training); else nothing."""
    from neuroplast.experiments.paper_tables import paper_table

    printed = {("N1", 10000.0): ("fig22", "Fig. 22, N1 after 10000 epochs"),
               ("N4", 5000.0): ("fig5", "Fig. 5's caption, N4's training accuracy after 5000 "
                                        "epochs")}
    found = printed.get((args.arch.upper(), float(args.paper_epochs)))
    if found is None:
        return []
    table, where = found
    return ["", f"Paper ({where}): {paper_table(table).context['initial_accuracy'].text}."]


def refuse_repeats(parser: argparse.ArgumentParser, flags: str, noun: str,
                   values: Sequence[Any]) -> None:
    """End the command with a usage error when ``values`` (the levels ``flags`` name) hold
    one level twice: its cells would count twice."""
    if len(set(values)) != len(values):
        parser.error(f"{flags} {'lists' if ' and ' not in flags else 'name'} a {noun} twice: "
                     f"{list(values)}")


def levels_header(args: argparse.Namespace, title: str, level: str, module: str,
                  argv: Sequence[str] | None, started: float, *, show_l2: bool = True,
                  protocol_note: str = "") -> str:
    """A level probe's report header: ``title``, the setting (the L2 form unless the probe
    varies it), that members 0 … S − 1 are fused on one data order for every ``level``, so
    differences pair by seed, and the command that made it."""
    from neuroplast.experiments.options import encoding_name

    l2 = f", L2 `{args.l2}`" if show_l2 else ""
    return (f"# {title}\n\nProtocol `{args.protocol}`{protocol_note}, "
            f"{encoding_name(args.invert)} MNIST, init `{args.init}`{l2}; {args.arch} trained "
            f"{args.paper_epochs:g} paper epochs under each {level}; members "
            f"0–{args.seeds - 1} fused, one data order (seed {args.data_seed}) for every "
            f"{level}, so differences are paired by seed. " + made_by(module, argv, started))


def probe_record(args: argparse.Namespace, setting: ProbeSetting,
                 levels: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON record of a level probe: its arguments and every level."""
    return {"protocol": args.protocol, "options": setting.options, "arch": args.arch,
            "paper_epochs": args.paper_epochs, "data_seed": args.data_seed,
            "seeds": args.seeds, "levels": list(levels)}


@dataclass(frozen=True)
class LevelJob:
    """One level's training, all a worker process needs: it loads the data itself
    (:func:`neuroplast.experiments.experiment.mnist`, cached once per process) and checkpoints
    its fused training into ``store`` (:func:`benchmarks.probe_pool.job_file`)."""

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
    data_fingerprint: str
    store: Path
    checkpoint_every_s: float = 60.0  # how often the training saves; not part of the key

    def key(self) -> dict[str, Any]:
        """What the level's record depends on: a stored record or checkpoint under another key
        is not this level's."""
        return {"arch": self.arch, "factor": self.factor, "protocol": asdict(self.protocol),
                "run_protocol": asdict(self.run_protocol), "invert": self.invert,
                "init": self.init, "seeds": self.seeds, "paper_epochs": self.paper_epochs,
                "data_seed": self.data_seed, "data_fingerprint": self.data_fingerprint,
                **code_versions()}


def run_level_job(job: LevelJob) -> dict[str, Any]:
    """:func:`train_level` on the data ``job`` names, continuing from its checkpoint (which
    :func:`benchmarks.probe_pool.run_and_store` removes once the record is stored)."""
    from benchmarks.probe_pool import job_file
    from neuroplast.experiments.experiment import mnist
    from neuroplast.train import restrict

    data = mnist(job.data, invert=job.invert)
    job.store.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint(job_file(job.store, job, "safetensors"),
                            every_s=job.checkpoint_every_s, key=job.key(), remove_at_end=False,
                            replace_foreign=True)
    return train_level(job.arch, job.factor, job.protocol,
                       restrict(data.train, job.run_protocol), data.test, init=job.init,
                       seeds=job.seeds, paper_epochs=job.paper_epochs, data_seed=job.data_seed,
                       checkpoint=checkpoint)


def level_store(setting: ProbeSetting, tag: str) -> Path:
    """Where this run of probe ``tag`` keeps its levels' progress:
    ``<report folder>/partial/<tag>-<run>`` (another run's, of other arguments, is not
    touched)."""
    return setting.folder / "partial" / f"{tag}-{setting.run}"


def train_levels(args: argparse.Namespace, setting: ProbeSetting,
                 levels: Sequence[tuple[float, Protocol]], names: Sequence[str],
                 tag: str) -> list[dict[str, Any]]:
    """One :func:`train_level` record per ``(decay factor, protocol)``, on ``args.workers``
    processes, resumable (:func:`benchmarks.probe_pool.run_jobs` with the store
    :func:`level_store`); the records do not depend on either, but for their CPU times."""
    from benchmarks.probe_pool import run_jobs

    jobs = [LevelJob(args.arch, factor, protocol, setting.protocol, args.data, args.invert,
                     args.init, args.seeds, args.paper_epochs, args.data_seed,
                     setting.data_fingerprint, level_store(setting, tag))
            for factor, protocol in levels]
    return run_jobs(run_level_job, jobs, workers=args.workers, names=names, tag=tag,
                    store=level_store(setting, tag))


def train_labelled_levels(args: argparse.Namespace, setting: ProbeSetting,
                          labelled: Sequence[tuple[dict[str, Any], Protocol]],
                          tag: str) -> list[dict[str, Any]]:
    """One level per ``(label, protocol)``: the members of ``args`` trained under ``protocol``
    (:func:`train_levels`, decay factor 1), the level's record its label's fields followed by
    :func:`train_level`'s; ``[tag] <first label value> done`` (or ``stored``, for a level
    found finished) on stderr after each."""
    records = train_levels(args, setting, [(1.0, protocol) for _, protocol in labelled],
                           [str(next(iter(label.values()))) for label, _ in labelled], tag)
    return [{**label, **record} for (label, _), record in zip(labelled, records, strict=True)]


def write_level_report(setting: ProbeSetting, tag: str, text: str, record: dict[str, Any],
                       started: float) -> Path:
    """:func:`benchmarks.run_arguments.write_probe_report` (``<report folder>/<tag>.md`` and
    ``.json``), then remove this run's progress (:func:`level_store`; ``partial/`` too when
    no other run's is left in it)."""
    from benchmarks.probe_pool import discard_store

    written = write_probe_report(setting.folder, tag, text, record, started)
    discard_store(level_store(setting, tag))
    return written
