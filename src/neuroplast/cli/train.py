"""``neuroplast train``: train an MLP with a protocol and save it."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from neuroplast.checks import MAX_SEED
from neuroplast.cli.common import (
    add_data_arguments,
    add_output_arguments,
    add_protocol_argument,
    add_threads_argument,
    check_fits_memory,
    check_force_has_target,
    check_mnist_model,
    check_output,
    load_data,
    paper_epoch_count,
    seed_value,
    training_subset,
    widths_list,
)
from neuroplast.data import Dataset
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.stats_summary import summarize
from neuroplast.files import check_not_empty, check_writable_directory
from neuroplast.models import (
    ACTIVATIONS,
    PRESETS,
    build_mlp,
    initialize,
    preset_name,
    save_model,
)
from neuroplast.train import Checkpoint, Protocol, get_protocol, make_optimizer, train
from neuroplast.train.checkpoint import discard_checkpoint
from neuroplast.train.fused import train_fused
from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE, LR_SCHEDULES
from neuroplast.train.memory import training_memory_estimate
from neuroplast.train.report import format_metrics, format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an MLP (preset or any widths) on MNIST",
                       description="Train an MLP on MNIST with a protocol and save it.")
    p.add_argument("--arch", default=None, help=f"preset: {', '.join(PRESETS)} (default N4)")
    p.add_argument("--widths", type=widths_list, default=None,
                   help="layer widths, e.g. 784,300,100,10 (instead of --arch)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default=None,
                   help="hidden activation (default: the preset's, tanh)")
    add_protocol_argument(p)
    p.add_argument("--epochs", type=paper_epoch_count, default=5000.0,
                   help="training length in the paper's epochs, rescaled by the protocol "
                        "(default 5000, at most 1,000,000)")
    p.add_argument("--seed", type=seed_value, default=0,
                   help="seed for initialisation and shuffling (0 to 2**63 - 1)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd (the paper's) or adam")
    p.add_argument("--death-replication", metavar="SPEC", default=None,
                   help="combined death-and-replication schedule, e.g. cutoff=0.01,every=500 "
                        "(paper epochs); see `neuroplast methods`")
    p.add_argument("--fused-seeds", type=int, metavar="S", default=None,
                   help="train S nets (initialisation seeds SEED … SEED+S−1) as one fused "
                        "model sharing every batch (shuffling seeded by --seed); --out must "
                        "contain {seed}, e.g. n1-{seed}.pt")
    p.add_argument("--lr-schedule", choices=list(LR_SCHEDULES), default=DEFAULT_LR_SCHEDULE,
                   help="how the learning rate changes over the training: "
                        + "; ".join(f"{s.name}: {s.description}" for s in LR_SCHEDULES.values())
                        + f" (default {DEFAULT_LR_SCHEDULE})")
    p.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="save the training's state to PATH about once a minute; after an "
                        "interruption, the same command continues from it (same result as "
                        "an uninterrupted run); removed once the net is saved")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_arguments(p)
    add_output_arguments(p)
    add_threads_argument(p)
    p.set_defaults(run=run)


def _protocol(args: argparse.Namespace) -> Protocol:
    """The named protocol under the chosen learning-rate schedule."""
    return replace(get_protocol(args.protocol), lr_schedule=args.lr_schedule)


def run(args: argparse.Namespace) -> int:
    if args.arch and args.widths:  # the widths would win, the preset's name be recorded
        raise NeuroplastError("give either --arch (a preset) or --widths, not both")
    if args.out is not None:  # run_fused checks each member's file later
        check_not_empty(args.out, "--out", "a file name such as model.pt")
    check_force_has_target(args.force, out=args.out)
    if args.fused_seeds is not None:
        return run_fused(args)
    check_output(args.out, args.force)
    _check_memory(args, 1)
    if args.checkpoint and args.death_replication:
        raise NeuroplastError(
            "--checkpoint cannot resume a --death-replication schedule (it changes the net's "
            "width and keeps state of its own); drop one of them"
        )
    if args.checkpoint and args.out and Path(args.checkpoint).resolve() == Path(args.out).resolve():
        raise NeuroplastError("--checkpoint and --out name the same file; give the checkpoint "
                              "its own path")
    if args.checkpoint and not args.out:
        raise NeuroplastError("--checkpoint without --out: the checkpoint is removed once the "
                              "net is saved, so the trained net would be kept nowhere; give "
                              "--out too")
    if args.checkpoint:  # its folder, now: not after the training it would have kept
        check_writable_directory(Path(args.checkpoint).parent, f"--checkpoint {args.checkpoint}")
    arch = args.arch if args.arch or args.widths else "N4"
    model = initialize(build_mlp(arch, widths=args.widths, activation=args.activation), args.seed)
    check_mnist_model(model)
    protocol = _protocol(args)
    optimizer = make_optimizer(model, protocol, args.optimizer)
    callbacks = []
    if args.death_replication:  # parsed and checked before the data is loaded
        from neuroplast.replication.schedule import schedule_from_spec

        callbacks.append(schedule_from_spec(args.death_replication, protocol, seed=args.seed,
                                            total_epochs=protocol.epochs(args.epochs)))
    dataset = load_data(args)
    subset = training_subset(protocol, dataset.train.n)
    print(f"training {arch or 'MLP'} widths={model.widths} activation={model.activation_name} "
          f"protocol={protocol.name} epochs={args.epochs:g} (paper) seed={args.seed}")
    print(_data_line(dataset, protocol, subset))
    checkpoint = None
    if args.checkpoint:
        checkpoint = Checkpoint(Path(args.checkpoint), key={
            "command": "neuroplast train", "arch": arch, "activation": model.activation_name,
            "paper_epochs": args.epochs, "optimizer": args.optimizer,
            "protocol": protocol.as_dict(), "data": dataset.source}, remove_at_end=False)
        state = "continuing from it" if checkpoint.path.exists() else "saved about once a minute"
        print(f"checkpoint: {checkpoint.path} ({state})")
    try:
        history = train(model, dataset.train, protocol, epochs=protocol.epochs(args.epochs),
                        seed=args.seed, test_split=dataset.test, optimizer=optimizer,
                        callbacks=callbacks, progress=False if args.no_progress else None,
                        checkpoint=checkpoint)
    except KeyboardInterrupt:
        if checkpoint is not None and checkpoint.path.exists():
            print(f"interrupted: run the same command again to continue from "
                  f"{checkpoint.path}", file=sys.stderr)
        raise
    if "resumed_at_epoch" in history.final:
        print(f"resumed at epoch {history.final['resumed_at_epoch']} of "
              f"{history.final['epochs']} from {checkpoint.path}")
    for event in history.events:
        print("event:", ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in event.items() if not isinstance(v, list)))
    print(format_metrics(model, history.final, train_subset=subset))
    if args.out:
        metadata = {"arch": arch, "invert": args.invert, "seed": args.seed,
                    "paper_epochs": args.epochs, "optimizer": args.optimizer,
                    "data": dataset.source, **protocol.as_dict(), "history": history.as_dict()}
        save_model(model, args.out, metadata=metadata, overwrite=args.force)
        print(f"saved {args.out}")
    else:
        print("not saved: give --out FILE to keep the trained net")
    if checkpoint is not None:
        discard_checkpoint(checkpoint)  # only now: the net is saved
    return 0


def _data_line(dataset: Dataset, protocol: Protocol, subset: int | None) -> str:
    """Where the data come from, and how much of the training set the protocol trains on."""
    line = (f"data: {dataset.train.n:,} training and {dataset.test.n:,} test images from "
            f"{dataset.source}")
    if subset is not None:
        line += (f"; the {protocol.name} protocol trains on the first {subset:,} training "
                 "images, and the training accuracy and loss below are measured on those")
    return line


def _widths(args: argparse.Namespace) -> list[int] | None:
    """The widths ``--arch``/``--widths`` ask for, or None for an unknown preset (build_mlp
    names the known ones)."""
    if args.widths:
        return list(args.widths)
    preset = preset_name(args.arch or "N4")
    return list(PRESETS[preset][0]) if preset else None


def _check_memory(args: argparse.Namespace, nets: int) -> None:
    """Refuse, before any net is built, nets this machine's memory cannot hold
    (``--fused-seeds 100000000`` or ``--widths 784,100000000,10`` allocated until they failed
    or the machine ran out)."""
    widths = _widths(args)
    if widths is None:
        return
    one = training_memory_estimate(widths, 1, args.optimizer)
    check_fits_memory(one, f"one net of widths {widths} alone needs", "give narrower --widths")
    check_fits_memory(nets * one, f"--fused-seeds {nets} nets of widths {widths} need",
                      lambda memory: f"fuse at most {memory // one:,} at a time (the rest "
                                     "with a later --seed)")


def run_fused(args: argparse.Namespace) -> int:
    """``--fused-seeds S``: S seeds trained as one model (neuroplast.train.fused)."""
    count = args.fused_seeds
    if count < 1:
        raise NeuroplastError(f"--fused-seeds must be at least 1, got {count}")
    if args.seed + count - 1 > MAX_SEED:
        raise NeuroplastError(
            f"--seed {args.seed} with --fused-seeds {count} gives seeds above 2**63 - 1; "
            "lower --seed"
        )
    _check_memory(args, count)
    if args.death_replication:
        raise NeuroplastError(
            "--death-replication changes a net's width during training, which a fused model "
            "cannot do; train those seeds one by one (drop --fused-seeds)"
        )
    if args.checkpoint:
        raise NeuroplastError("neuroplast train does not checkpoint --fused-seeds runs (the "
                              "library's train_fused does); train the seeds one by one to "
                              "checkpoint them (drop --fused-seeds)")
    seeds = list(range(args.seed, args.seed + count))
    outputs: list[str] = []
    if args.out:
        if "{seed}" not in args.out:
            raise NeuroplastError(
                f"--out {args.out} must contain {{seed}} with --fused-seeds, e.g. n1-{{seed}}.pt, "
                "so each net gets its own file"
            )
        outputs = [args.out.replace("{seed}", str(seed)) for seed in seeds]
        for path in outputs:
            check_output(path, args.force)
    arch = args.arch if args.arch or args.widths else "N4"
    models = [initialize(build_mlp(arch, widths=args.widths, activation=args.activation), seed)
              for seed in seeds]
    check_mnist_model(models[0])
    protocol = _protocol(args)
    dataset = load_data(args)
    subset = training_subset(protocol, dataset.train.n)
    print(f"training {count} fused {arch or 'MLP'} nets widths={models[0].widths} "
          f"activation={models[0].activation_name} protocol={protocol.name} "
          f"epochs={args.epochs:g} (paper) init seeds {seeds[0]}..{seeds[-1]}, shuffling seed "
          f"{args.seed}")
    print(_data_line(dataset, protocol, subset))
    histories = train_fused(models, dataset.train, protocol, epochs=protocol.epochs(args.epochs),
                            data_seed=args.seed, test_split=dataset.test,
                            optimizer=args.optimizer,
                            progress=False if args.no_progress else None)
    finals = [h.final for h in histories]
    rows = [[seed, f["train_accuracy"], f["test_accuracy"], f["train_loss"], f["test_loss"]]
            for seed, f in zip(seeds, finals, strict=True)]
    print(format_table(["seed", "train acc", "test acc", "train loss", "test loss"], rows))
    for key in ("train_accuracy", "test_accuracy"):
        summary = summarize(f[key] for f in finals)
        print(f"{key.replace('_', ' ')}: {summary.format(4)} (mean ± s.e. over {count} nets)")
    print(f"wall time   {finals[0]['wall_time_s']:.1f} s for all {count} nets together")
    if not outputs:
        print("not saved: give --out with {seed}, e.g. n1-{seed}.pt, to keep the trained nets")
        return 0
    for seed, model, history, path in zip(seeds, models, histories, outputs, strict=True):
        metadata = {"arch": arch, "invert": args.invert, "seed": seed, "data_seed": args.seed,
                    "fused_members": count,
                    "paper_epochs": args.epochs, "optimizer": args.optimizer,
                    "data": dataset.source, **protocol.as_dict(), "history": history.as_dict()}
        save_model(model, path, metadata=metadata, overwrite=args.force)
        print(f"saved {path}")
    return 0
