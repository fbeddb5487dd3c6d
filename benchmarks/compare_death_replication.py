"""Combined death and replication (A1–B1) vs plain training on N4, sect. 5.8 (Figs 24–26).

    python benchmarks/compare_death_replication.py --seeds 5 --protocol fast

For every seed, N4 is trained twice for ``--epochs`` paper epochs from the same initialisation
and with the same shuffling (both seeded by the seed):

* ``plain``: ε = 0, i.e. no neuron ever dies (E_k ≥ 0 and the cutoff is strict), which is plain
  training — the paper's baseline "ε = 0, Δt = 500";
* ``A1-B1``: every ``--every`` paper epochs, remove with A1 the neurons of ``hidden1`` with
  E_k < ``--cutoff`` (at most half), then replicate as many of the most efficient with B1
  (:class:`neuroplast.replication.DeathReplication`; no event at the last epoch).

Printed: final training loss and accuracy (and test), mean ± standard error over seeds, the
paired difference A1-B1 − plain, the training loss at every Δt (a numeric Fig. 24) and the
fraction of the site removed / affected at each event (Fig. 26; the paper: ≈ 40 % at 500
epochs, ≈ 20 % at 1000 for ε = 0.01). Every finished run is appended to ``--results`` (JSON
lines) at once, and runs already there are not redone, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from neuroplast.cli.common import positive_int
from neuroplast.data import data_fingerprint, load_mnist
from neuroplast.models import build_mlp, initialize
from neuroplast.replication import DeathReplication, DeathReplicationSchedule
from neuroplast.train import TrainState, evaluate, get_protocol, train
from neuroplast.train.report import format_table

PAPER = {"fraction_500": 0.40, "fraction_1000": 0.20}
"""Sect. 5.8 / Fig. 26 for ε = 0.01: fraction of neurons affected after 500 and 1000 epochs."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=positive_int, default=5, help="number of seeds (0, 1, ...)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--protocol", default="fast", help="paper, fast or quick (default fast)")
    p.add_argument("--arch", default="N4")
    p.add_argument("--epochs", type=float, default=5000.0, help="paper epochs (default 5000)")
    p.add_argument("--every", type=float, default=500.0, help="Δt in paper epochs (500)")
    p.add_argument("--cutoff", type=float, default=0.01, help="ε of the A1-B1 runs (0.01)")
    p.add_argument("--data", default=None, help="MNIST directory (default: the usual search)")
    p.add_argument("--results", default=None,
                   help="JSON-lines file of finished runs (resumes); default: none kept")
    p.add_argument("--threads", type=positive_int, default=None, help="torch.set_num_threads")
    return p.parse_args(argv)


class LossProbe:
    """Records the training loss every Δt epochs (before the schedule acts at that epoch)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.points: list[tuple[int, float]] = []

    def __call__(self, state: TrainState) -> None:
        if state.epoch % self.every == 0:
            self.points.append((state.epoch, evaluate(state.model, state.train).loss))


def run_one(config: str, seed: int, args: argparse.Namespace, dataset,
            fingerprint: str) -> dict[str, Any]:
    protocol = get_protocol(args.protocol)
    epochs = protocol.epochs(args.epochs)
    schedule = DeathReplicationSchedule(cutoff=args.cutoff if config == "A1-B1" else 0.0,
                                        every_paper_epochs=args.every, seed=seed)
    probe = LossProbe(schedule.epochs_between_events(protocol))
    callbacks: list[Any] = [probe]
    if config == "A1-B1":
        callbacks.append(DeathReplication(schedule, protocol, total_epochs=epochs))
    model = initialize(build_mlp(args.arch), seed)
    started = time.perf_counter()
    history = train(model, dataset.train, protocol, epochs=epochs, seed=seed,
                    test_split=dataset.test, callbacks=callbacks, progress=False)
    return {
        "config": config, "seed": seed, "protocol": protocol.name, "arch": args.arch,
        "paper_epochs": args.epochs, "every": args.every, "cutoff": schedule.cutoff,
        "data": dataset.source, "data_fingerprint": fingerprint,
        "final": history.final, "loss_curve": probe.points,
        "wall_s": time.perf_counter() - started,
        "events": [{k: e[k] for k in ("epoch", "paper_epoch", "n_removed", "fraction_removed",
                                      "fraction_affected")} for e in history.events],
    }


def mean_se(values: Sequence[float], digits: int = 5) -> str:
    """``mean ± standard error`` (sample standard deviation / √n)."""
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    se = statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def summarize(runs: list[dict[str, Any]]) -> str:
    by = {(r["config"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    lines = [f"N4 runs: {len(runs)} (seeds {seeds}); protocol {runs[0]['protocol']}, "
             f"{runs[0]['paper_epochs']:g} paper epochs, Δt = {runs[0]['every']:g}"]

    rows = []
    for config in ("plain", "A1-B1"):
        finals = [by[(config, s)]["final"] for s in seeds if (config, s) in by]
        cutoff = next(r["cutoff"] for r in runs if r["config"] == config) if finals else None
        rows.append([f"{config} (eps={cutoff:g})" if finals else config, len(finals),
                     *(mean_se([f[k] for f in finals]) for k in
                       ("train_loss", "train_accuracy", "test_loss", "test_accuracy"))])
    paired = [s for s in seeds if ("plain", s) in by and ("A1-B1", s) in by]
    rows.append([f"A1-B1 - plain (paired, {len(paired)} seeds)", len(paired),
                 *(mean_se([by[("A1-B1", s)]["final"][k] - by[("plain", s)]["final"][k]
                            for s in paired])
                   for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"))])
    lines += ["", "final metrics, mean ± s.e. over seeds",
              format_table(["run", "seeds", "train loss", "train acc", "test loss", "test acc"],
                           rows)]

    scale = get_protocol(runs[0]["protocol"]).epoch_scale
    curve_rows = []
    for epoch in sorted({p[0] for r in runs for p in r["loss_curve"]}):
        cells = [mean_se([loss for s in seeds if (config, s) in by
                          for e, loss in by[(config, s)]["loss_curve"] if e == epoch])
                 for config in ("plain", "A1-B1")]
        curve_rows.append([f"{epoch / scale:g}", *cells])
    lines += ["", "training loss every Δt (A1-B1 measured just before its event)",
              format_table(["paper epoch", "plain", "A1-B1"], curve_rows)]

    event_rows = []
    schedule_runs = [by[("A1-B1", s)] for s in seeds if ("A1-B1", s) in by]
    if schedule_runs:
        for i, event in enumerate(schedule_runs[0]["events"]):
            same = [r["events"][i] for r in schedule_runs if len(r["events"]) > i]
            event_rows.append([f"{event['paper_epoch']:g}",
                               mean_se([float(e["n_removed"]) for e in same], 1),
                               mean_se([e["fraction_removed"] for e in same], 3),
                               mean_se([e["fraction_affected"] for e in same], 3)])
        lines += ["", "events (paper epochs): removed n, n/N, (n + parents)/N; paper: "
                  f"≈{PAPER['fraction_500']:.0%} at 500, ≈{PAPER['fraction_1000']:.0%} at 1000",
                  format_table(["paper epoch", "n removed", "removed/N", "affected/N"],
                               event_rows)]
    walls = [r["wall_s"] for r in runs]
    lines += ["", f"wall time per run: {statistics.fmean(walls):.1f} s (mean of {len(walls)})"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_mnist(args.data, download=False)
    fingerprint = data_fingerprint(dataset)  # recorded with every run, once
    results = Path(args.results) if args.results else None
    runs: list[dict[str, Any]] = []
    if results is not None and results.exists():
        runs = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        # a run counts when it was made with this command's settings and data, by content
        # (plain runs have no cutoff; runs stored before the data was recorded are not reused)
        runs = [r for r in runs if r["protocol"] == args.protocol and r["arch"] == args.arch
                and r["paper_epochs"] == args.epochs and r["every"] == args.every
                and r["cutoff"] == (args.cutoff if r["config"] == "A1-B1" else 0.0)
                and r.get("data_fingerprint") == fingerprint]
    done = {(r["config"], r["seed"]) for r in runs}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for config in ("plain", "A1-B1"):
            if (config, seed) in done:
                continue
            run = run_one(config, seed, args, dataset, fingerprint)
            runs.append(run)
            print(f"seed {seed} {config:6s} train loss {run['final']['train_loss']:.5f} "
                  f"acc {run['final']['train_accuracy']:.5f} ({run['wall_s']:.1f} s)",
                  file=sys.stderr, flush=True)
            if results is not None:
                results.parent.mkdir(parents=True, exist_ok=True)
                with results.open("a") as f:
                    f.write(json.dumps(run) + "\n")
    wanted = set(range(args.first_seed, args.first_seed + args.seeds))
    print(summarize([r for r in runs if r["seed"] in wanted]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
