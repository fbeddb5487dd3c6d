"""The fidelity study: which open choice moves our numbers towards the paper's?

The factors the paper leaves open or that we changed to fit these machines (REFERENCE
§1.15, docs/reproduction/fidelity.md) are crossed on the five N4 experiments
(baseline-training, cutoff-pruning, goal-pruning, untrained-pruning, input-pruning) and on
the two N1 experiments, replication's Fig. 22 and replication-shift (N1 trained 10000 epochs,
then grown by one neuron):

* **time rescaling**: ``fast`` (lr ×100, epochs ÷100), ``medium`` (lr ×10, epochs ÷10),
  ``paper`` (the paper's lr 0.001 and epoch counts);
* **encoding**: standard MNIST (background 0) or inverted (background 1, the paper's
  probable Mathematica data) — run option ``invert``;
* **initialisation**: ``xavier-normal`` (the first default), ``kaiming-normal`` (variance
  2/fan_in, our reading of Mathematica's documented ``NetInitialize`` default; the
  reproduction's ``fast`` setting) or ``lecun-normal`` (variance 1/fan_in, the other reading) — run
  option ``init``;
* **L2 form**: (λ/2)·Σθ² or λ·Σθ², over weights and biases or weights only
  (:mod:`neuroplast.train.l2`; every reproduction setting's is ``half-weights``) — run option
  ``l2``;
* **learning-rate schedule**: ``constant`` (the paper's statement) or ``polynomial``
  (Mathematica ``NetTrain``'s SGD default; :mod:`neuroplast.train.lr_schedule`) — run option
  ``lr_schedule``.

Each arm (protocol, encoding, initialisation, L2 form, schedule) is a resumable sweep of every
experiment into ``OUT/<protocol>/<encoding>-<init>[-l2-<form>][-lr-<schedule>]/<experiment>/``
(the suffixes for a form other than ``half-all`` and a schedule other than ``constant``; runs
stored one by one, as
``neuroplast reproduce`` does; a killed study started again computes only what is missing),
reported there with the experiment's own report. The committed reproductions are arms too:
``docs/reproduction`` holds the runs of the reproduction's ``fast`` setting (Kaiming-normal,
``half-weights``), ``docs/reproduction/paper-probable`` copies of this study's probable arm,
``docs/reproduction/kaiming-normal`` and ``docs/reproduction/xavier-normal`` those of the
earlier defaults (both ``half-all``); with ``--reuse`` every stored run an arm
plans (same run id) is copied instead of recomputed.

Four of the five experiments start from the same trained N4 of a seed and arm; the study
shares it between them through ``$NEUROPLAST_TRAINED_CACHE`` (default
``~/.cache/neuroplast/trained``,
:mod:`neuroplast.experiments.trained_cache`), so each base net is trained once — under the
paper protocol that is 21–26 minutes a net (one core) saved three times over. A base net's training
checkpoints itself about once a minute beside the cache entry, so a study killed part-way (a
session's end) resumes it the next time instead of training it again.

The study then reads every ``ours − paper`` cell of every report (the columns that
:func:`neuroplast.experiments.stats_summary.paper_vs_ours_row` writes: the difference and its
combined standard error √(se_ours² + se_paper²), as printed) and counts, per arm and per level
of each factor, the paper cells within 2 combined s.e.; it also lists each arm's claim
verdicts and the compute its stored runs took. For every cell the reproduction's arm misses,
it names the arm that reaches it while changing the fewest factors. Writes ``OUT/fidelity.md`` and
``OUT/fidelity.json``.

Usage (one command; the cheapest arms)::

    nice -n 19 env OMP_NUM_THREADS=1 python -m benchmarks.fidelity --protocols fast \\
        --encodings standard inverted --inits xavier-normal kaiming-normal --seeds 10 \\
        --out docs/reproduction/fidelity --data /path/to/mnist \\
        --reuse docs/reproduction docs/reproduction/kaiming-normal \\
        docs/reproduction/xavier-normal
    python -m benchmarks.fidelity ... --report-only   # tables from whatever is stored
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report_cells import Cell, agreement, claim_verdicts, halves_gap, paper_cells
from benchmarks.run_arguments import add_trained_cache_argument, use_trained_cache

if TYPE_CHECKING:
    from neuroplast.experiments import Experiment

EXPERIMENT_NAMES = ("baseline-training", "cutoff-pruning", "goal-pruning", "untrained-pruning",
                    "input-pruning", "replication", "replication-shift")
"""The experiments the study runs: the five N4 experiments, cheapest first, then the two N1
experiments with paper numbers, replication's Fig. 22 (see :data:`STUDIED_CONFIGURATIONS`) and
replication-shift."""
STUDIED_CONFIGURATIONS: dict[str, dict[str, Any]] = {"replication": {"figure": "fig22"}}
"""Experiments of which the study runs only the configurations holding these values: Fig. 21
of replication prints no numbers (PDFs only), its Fig. 22 holds all ten of its paper cells."""
ENCODINGS = {"standard": False, "inverted": True}

FACTORS = ("protocol", "encoding", "init", "l2", "lr_schedule")
"""The factors of the design (the fields of :class:`Arm`)."""
DEFAULT_L2_FORM = "half-all"
"""``neuroplast.train.l2.DEFAULT_L2_FORM`` (checked by the tests; this module imports
neuroplast lazily)."""
DEFAULT_LR_SCHEDULE = "constant"
"""``neuroplast.train.lr_schedule.DEFAULT_LR_SCHEDULE`` (checked by the tests)."""
LATER_FACTORS = {"lr_schedule": DEFAULT_LR_SCHEDULE}
"""Factors added after reports were published, with their defaults: the reports name one
only when an arm sets it off its default, so a report of arms that do not reads as before."""

REPRODUCTION_ARM = ("fast", "standard", "kaiming-normal", "half-weights", "constant")
"""(protocol, encoding, init, l2, lr_schedule) of ``neuroplast reproduce --setting fast``, the
reproduction the study refers to (``neuroplast.experiments.settings.FAST``, its options
``neuroplast.experiments.options.REPRODUCTION_DEFAULTS``, and the options' defaults; checked by
the tests)."""


@dataclass(frozen=True)
class Arm:
    """One cell of the factorial design."""

    protocol: str
    encoding: str
    init: str
    l2: str = DEFAULT_L2_FORM
    lr_schedule: str = DEFAULT_LR_SCHEDULE

    @property
    def folder(self) -> str:
        """``protocol/encoding-init``, with ``-l2-<form>`` for a non-default L2 form and
        ``-lr-<schedule>`` for a non-default schedule (so the folders of the arms run before
        those factors existed keep their names)."""
        tail = "" if self.l2 == DEFAULT_L2_FORM else f"-l2-{self.l2}"
        if self.lr_schedule != DEFAULT_LR_SCHEDULE:
            tail += f"-lr-{self.lr_schedule}"
        return f"{self.protocol}/{self.encoding}-{self.init}{tail}"

    @property
    def is_default(self) -> bool:
        """Whether this is the arm the reproduction (docs/reproduction) runs under."""
        return tuple(getattr(self, f) for f in FACTORS) == REPRODUCTION_ARM


def shown_factors(arms: Sequence[Arm]) -> tuple[str, ...]:
    """The factors a report names for ``arms``: all but a :data:`LATER_FACTORS` one that every
    arm leaves at its default."""
    return tuple(f for f in FACTORS if f not in LATER_FACTORS
                 or any(getattr(a, f) != LATER_FACTORS[f] for a in arms))


def by_level(results: dict[Arm, list[Cell]]) -> dict[str, dict[str, tuple[int, int]]]:
    """factor → level → (agreeing, total) over every arm at that level (the factors
    :func:`shown_factors` names)."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for factor in shown_factors(list(results)):
        levels: dict[str, list[Cell]] = {}
        for arm, cells in results.items():
            levels.setdefault(getattr(arm, factor), []).extend(cells)
        table[factor] = {level: agreement(cells) for level, cells in levels.items()}
    return table


def median_z(results: dict[Arm, list[Cell]]) -> dict[Arm, dict[str, float]]:
    """arm → experiment → median signed z of its cells: which way, and how far, an arm's
    numbers sit from the paper's (negative: ours below)."""
    table: dict[Arm, dict[str, float]] = {}
    for arm, cells in results.items():
        names = dict.fromkeys(c.experiment for c in cells)
        table[arm] = {name: statistics.median(c.z for c in cells if c.experiment == name)
                      for name in names}
    return table


def cells_by_key(results: dict[Arm, list[Cell]]) -> dict[Arm, dict[tuple[str, str], Cell]]:
    """arm → paper cell key → that arm's cell."""
    return {arm: {c.key: c for c in cells} for arm, cells in results.items()}


def changed_factors(first: Arm, second: Arm) -> tuple[str, ...]:
    """The factors in which two arms differ, in :data:`FACTORS` order."""
    return tuple(f for f in FACTORS if getattr(first, f) != getattr(second, f))


@dataclass(frozen=True)
class Pairing:
    """Two arms that differ in one factor, compared cell by cell."""

    factor: str
    first: Arm
    second: Arm
    cells: int
    first_closer: int
    second_closer: int
    p_value: float
    first_nearer: int
    """Cells where the first arm's |ours − paper| itself is smaller: unlike |z|, a wider
    standard error (fewer seeds) cannot make an arm nearer."""
    second_nearer: int
    p_nearer: float


def paired_closeness(results: dict[Arm, list[Cell]]) -> list[Pairing]:
    """For every two arms that differ in exactly one factor: over the paper cells both have,
    how often each comes closer to the paper (smaller |z|) and how often each is nearer
    (smaller |ours − paper|), each with the sign test's two-sided p
    (:func:`neuroplast.analysis.sign_test`; ties dropped)."""
    arms = list(results)
    by_key = cells_by_key(results)
    pairings = []
    for i, first in enumerate(arms):
        for second in arms[i + 1:]:
            differing = changed_factors(first, second)
            if len(differing) != 1:
                continue
            a, b = by_key[first], by_key[second]
            pairs = [(a[k], b[k]) for k in a.keys() & b.keys()]
            pairings.append(Pairing(differing[0], first, second, len(pairs),
                                    *_sign_split(pairs, lambda c: abs(c.z)),
                                    *_sign_split(pairs, lambda c: abs(c.difference))))
    return pairings


def _sign_split(pairs: list[tuple[Cell, Cell]],
                distance: Callable[[Cell], float]) -> tuple[int, int, float]:
    """How often the first, then the second cell of each pair is nearer the paper by
    ``distance``, and the sign test's two-sided p (ties dropped)."""
    from neuroplast.analysis import sign_test

    wins = sum(distance(x) < distance(y) for x, y in pairs)
    losses = sum(distance(y) < distance(x) for x, y in pairs)
    return wins, losses, sign_test(wins, losses)


def unreached(results: dict[Arm, list[Cell]]) -> list[tuple[Cell, Arm]]:
    """The paper cells that no arm brings within 2 s.e., each with the arm that comes closest
    (smallest |z|) and that arm's cell; in the order they first appear."""
    best: dict[tuple[str, str], tuple[Cell, Arm]] = {}
    reached: set[tuple[str, str]] = set()
    for arm, cells in results.items():
        for cell in cells:
            if cell.agrees:
                reached.add(cell.key)
            if cell.key not in best or abs(cell.z) < abs(best[cell.key][0].z):
                best[cell.key] = (cell, arm)
    return [pair for key, pair in best.items() if key not in reached]


@dataclass(frozen=True)
class Miss:
    """A paper cell the reproduction's arm misses, with the arm that reaches it by changing the
    fewest factors (``None`` when no arm reaches it)."""

    cell: Cell
    reaching: Arm | None
    reached: Cell | None
    changed: tuple[str, ...]
    """The factors in which ``reaching`` differs from the reproduction's arm."""
    halving: Arm | None = None
    """When no arm reaches the cell: the arm that at least halves the reproduction's
    |ours − paper| while changing the fewest factors (ties: the nearest in value), if any."""
    halved: Cell | None = None
    """``halving``'s cell."""
    halving_changed: tuple[str, ...] = ()
    """The factors in which ``halving`` differs from the reproduction's arm."""

    @property
    def gap_halved(self) -> bool:
        """Whether the reaching arm's |ours − paper| is at most half the reproduction's (a
        wider standard error alone cannot do that)."""
        return self.reached is not None and halves_gap(self.cell, self.reached)


def reproduction_misses(results: dict[Arm, list[Cell]]) -> list[Miss]:
    """Every paper cell the reproduction's arm (:data:`REPRODUCTION_ARM`) has outside 2 s.e.,
    in its order, each with the arm that brings it within 2 s.e. while changing the fewest
    factors (ties: the smallest |ours − paper|, which fewer seeds cannot shrink): which
    measured change reaches the cell; for a cell no arm reaches, the arm that at least halves its
    gap (:attr:`Miss.halving`), chosen the same way. Empty when the reproduction's arm has no
    cells."""
    reference = next((arm for arm in results if arm.is_default), None)
    if reference is None:
        return []
    by_key = cells_by_key(results)
    misses = []
    for cell in results[reference]:
        if cell.agrees:
            continue
        reaching = [arm for arm, cells in by_key.items()
                    if arm != reference and cell.key in cells and cells[cell.key].agrees]
        if not reaching:
            halving = [arm for arm, cells in by_key.items() if arm != reference
                       and cell.key in cells and halves_gap(cell, cells[cell.key])]
            arm = min(halving, default=None,
                      key=lambda a: (len(changed_factors(a, reference)),
                                     abs(by_key[a][cell.key].difference)))
            misses.append(Miss(cell, None, None, (), arm,
                               None if arm is None else by_key[arm][cell.key],
                               () if arm is None else changed_factors(arm, reference)))
            continue
        arm = min(reaching, key=lambda a: (len(changed_factors(a, reference)),
                                           abs(by_key[a][cell.key].difference)))
        misses.append(Miss(cell, arm, by_key[arm][cell.key], changed_factors(arm, reference)))
    return misses


# -- running ---------------------------------------------------------------------------------


def reuse_stored_runs(arm: Arm, out: Path, sources: Sequence[Path], names: Sequence[str],
                      seeds: int) -> int:
    """Copy into the arm's folder every run stored under ``sources/<experiment>/runs`` that the
    arm plans (same run id: same configuration, options, seed and protocol) and lacks; their
    count. The reproduction's folders hold the runs of the arm they were made under."""
    from neuroplast.experiments.runner import plan

    copied = 0
    for name in names:
        target = out / arm.folder / name / "runs"
        planned = {spec.run_id for spec in plan(arm_experiment(arm, name),
                                                protocol=arm.protocol, seeds=seeds)}
        for source in sources:
            for run_id in sorted(planned):
                path = source / name / "runs" / f"{run_id}.json"
                if path.is_file() and not (target / path.name).exists():
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
                    copied += 1
    return copied


def arm_experiment(arm: Arm, name: str) -> Experiment:
    """The experiment ``name`` under the arm's encoding, initialisation, L2 form and
    learning-rate schedule."""
    from neuroplast.experiments import EXPERIMENTS
    from neuroplast.experiments.options import with_options

    return studied_configurations(with_options(
        EXPERIMENTS[name], invert=ENCODINGS[arm.encoding], init=arm.init, l2=arm.l2,
        lr_schedule=arm.lr_schedule), name)


def studied_configurations(experiment: Experiment, name: str) -> Experiment:
    """``experiment`` (called ``name``) cut to the configurations the study runs
    (:data:`STUDIED_CONFIGURATIONS`; unchanged for the others)."""
    if name not in STUDIED_CONFIGURATIONS:
        return experiment
    values = tuple(sorted(STUDIED_CONFIGURATIONS[name].items()))
    return replace(experiment, configs=_ConfigsHolding(experiment.configs, values))


@dataclass(frozen=True)
class _ConfigsHolding:
    """An experiment's ``configs`` cut to the configurations holding ``values`` (the runs keep
    their run ids: a run's id depends on its own configuration only)."""

    configs: Callable[[Any], list[dict[str, Any]]]
    values: tuple[tuple[str, Any], ...]

    def __call__(self, protocol: Any) -> list[dict[str, Any]]:
        return [config for config in self.configs(protocol)
                if all(config.get(key) == value for key, value in self.values)]


@dataclass(frozen=True)
class StoredCompute:
    """What one experiment of one arm cost: its stored runs, the sum of their wall times
    (``provenance.wall_s``: one process, one torch thread each, as recorded when each run
    was made) and of the CPU times of the runs that record one (``provenance.cpu_s``, since
    2026-12-06; ``cpu_runs`` of them), and how many seeds they cover (of several experiments:
    the most any has)."""

    runs: int = 0
    wall_s: float = 0.0
    seeds: int = 0
    cpu_s: float = 0.0
    cpu_runs: int = 0

    @classmethod
    def of(cls, records: Sequence[dict[str, Any]]) -> StoredCompute:
        """The cost of ``records`` (stored runs of one experiment)."""
        cpu = [r["provenance"]["cpu_s"] for r in records if "cpu_s" in r["provenance"]]
        return cls(len(records), sum(r["provenance"]["wall_s"] for r in records),
                   len({r["spec"]["seed"] for r in records}), sum(cpu), len(cpu))

    def __add__(self, other: StoredCompute) -> StoredCompute:
        return StoredCompute(self.runs + other.runs, self.wall_s + other.wall_s,
                             max(self.seeds, other.seeds), self.cpu_s + other.cpu_s,
                             self.cpu_runs + other.cpu_runs)


@dataclass(frozen=True)
class ArmResult:
    """One experiment of one arm, read from its report: its paper cells, its claim verdicts
    and what its stored runs cost (all empty when nothing is stored)."""

    cells: list[Cell]
    verdicts: dict[str, str]
    compute: StoredCompute


def run_arm(arm: Arm, name: str, seeds: int, out: Path, data: str | None, workers: int,
            report_only: bool) -> ArmResult:
    """Run (or, with ``report_only``, only report what is stored of) one experiment of one
    arm, and read its report once."""
    from neuroplast.experiments.runner import run_sweep, stored_records

    experiment = arm_experiment(arm, name)
    directory = out / arm.folder
    if report_only:
        records = stored_records(experiment, protocol=arm.protocol, seeds=seeds,
                                 out_dir=directory)
    else:
        print(f"[fidelity] {arm.folder} {name}", file=sys.stderr, flush=True)
        records = run_sweep(experiment, protocol=arm.protocol, seeds=seeds, out_dir=directory,
                            workers=workers, progress=False, data_dir=data)
    if not records:
        return ArmResult([], {}, StoredCompute())
    summary = experiment.report(records, directory / name).read_text()
    return ArmResult(paper_cells(summary, name), claim_verdicts(summary),
                     StoredCompute.of(records))


def write_report(out: Path, results: dict[Arm, list[Cell]],
                 verdicts: dict[Arm, dict[str, dict[str, str]]],
                 compute: dict[Arm, dict[str, StoredCompute]], seeds: int,
                 names: Sequence[str] = EXPERIMENT_NAMES) -> Path:
    """``OUT/fidelity.md`` and ``OUT/fidelity.json``, with a column for each experiment of
    ``names`` (those the study was asked for)."""
    from neuroplast.experiments.stats_summary import markdown_table

    def share(pair: tuple[int, int]) -> str:
        good, total = pair
        return f"{good}/{total} ({good / total:.0%})" if total else "—"

    results = {arm: cells for arm, cells in results.items() if cells}  # arms with runs
    verdicts = {arm: verdicts[arm] for arm in results}
    arms = list(results)
    lines = ["# Fidelity study: paper cells within 2 combined s.e.", "",
             f"Seeds per arm: up to {seeds} (what is stored; arms with nothing stored are left "
             "out). A cell agrees when |ours − paper| ≤ 2·√(se_ours² + se_paper²), as printed "
             "in the reports' `ours − paper` columns.",
             "", "## Per arm", ""]
    def with_seeds(text: str, stored: StoredCompute | None) -> str:
        return f"{text}, {stored.seeds} seeds" if stored is not None and stored.seeds else text

    factors = shown_factors(arms)
    rows = [[getattr(arm, f) for f in factors]
            + [with_seeds(share(agreement(c for c in results[arm] if c.experiment == name)),
                          compute.get(arm, {}).get(name))
               for name in names] + [share(agreement(results[arm]))] for arm in arms]
    lines += [markdown_table((*factors, *names, "all"), rows),
              "", "## Per factor level (all arms at that level pooled)", ""]
    level_rows = [[factor, level, share(pair)] for factor, levels in by_level(results).items()
                  for level, pair in levels.items()]
    lines += [markdown_table(("factor", "level", "cells within 2 s.e."), level_rows), ""]
    lines += ["## Compute per arm", "",
              "Sum of the stored runs' wall times (`provenance.wall_s`, one process with one "
              "torch thread per run, on whatever machine and load each run was made, pauses "
              "included; runs copied from the reproductions keep theirs), in seconds, with the "
              "number of runs. "
              "A run that read its trained base N4 from the trained cache does not include that "
              "training; a run that continued trainings from their checkpoints after an "
              "interruption (`provenance.resumed_stages`) counts its last attempt only. "
              "Where every run of a cell also recorded its CPU time (`provenance.cpu_s`, runs "
              "made since 2026-12-06), that sum follows the number of runs: it counts the "
              "work, not the waiting on a loaded machine.", "",
              markdown_table(("arm", *names, "all"), [
                  [arm.folder]
                  + [_cost(compute[arm].get(n, StoredCompute())) for n in names]
                  + [_cost(sum(compute[arm].values(), StoredCompute()))] for arm in arms]), ""]
    pairings = paired_closeness(results)
    lines += ["## One factor at a time, cell by cell", "",
              "Arms that differ in one factor only, over the paper cells both have: how often "
              "each is closer to the paper (smaller |z|), with the exact two-sided sign test "
              "(ties dropped); then how often each is nearer in value (smaller |ours − paper|, "
              "which a wider standard error from fewer seeds cannot shrink).", "",
              markdown_table(("factor", "arm A", "arm B", "cells", "A closer", "B closer", "p",
                              "A nearer", "B nearer", "p (nearer)"),
                             [[p.factor, p.first.folder, p.second.folder, p.cells,
                               p.first_closer, p.second_closer, f"{p.p_value:.2g}",
                               p.first_nearer, p.second_nearer, f"{p.p_nearer:.2g}"]
                              for p in pairings]), "",
              "## Which way each arm misses", "",
              "Median over an experiment's cells of z = (ours − paper) / combined s.e.: "
              "negative when our numbers sit below the paper's.", ""]
    medians = median_z(results)
    lines += [markdown_table(("arm", *names), [
        [arm.folder] + [f"{medians[arm][n]:+.1f}" if n in medians[arm] else "—"
                        for n in names] for arm in arms]), ""]
    missed = unreached(results)
    lines += [f"## Cells no arm brings within 2 s.e. ({len(missed)})", "",
              "With the arm that comes closest.", "",
              markdown_table(("experiment", "cell", "closest arm", "ours − paper", "z"), [
                  [c.experiment, c.quantity, arm.folder,
                   f"{c.difference:+.4g} ± {c.se:.2g}", f"{c.z:+.1f}"] for c, arm in missed]),
              ""]
    misses = reproduction_misses(results)
    lines += _misses_section(misses, names, factors)
    lines += ["## Claim verdicts per arm", ""]
    claim_ids = list(dict.fromkeys((name, cid) for arm in arms
                                   for name, claims in verdicts[arm].items() for cid in claims))
    claim_rows = [[name, cid] + [verdicts[arm].get(name, {}).get(cid, "—") for arm in arms]
                  for name, cid in claim_ids]
    lines.append(markdown_table(("experiment", "claim", *(a.folder for a in arms)), claim_rows))
    path = out / "fidelity.md"
    path.write_text("\n".join(lines) + "\n")
    (out / "fidelity.json").write_text(json.dumps(
        {"seeds": seeds, "arms": [{**{f: getattr(arm, f) for f in factors},
                                   "cells": [asdict(c) | {"agrees": c.agrees}
                                             for c in results[arm]],
                                   "verdicts": verdicts[arm]} for arm in arms],
         "pairings": [{"factor": p.factor, "first": p.first.folder, "second": p.second.folder,
                       "cells": p.cells, "first_closer": p.first_closer,
                       "second_closer": p.second_closer, "p_value": p.p_value,
                       "first_nearer": p.first_nearer, "second_nearer": p.second_nearer,
                       "p_nearer": p.p_nearer}
                      for p in pairings],
         "reproduction_misses": [{"experiment": m.cell.experiment,
                                  "quantity": m.cell.quantity,
                                  "reached_by": m.reaching.folder if m.reaching else None,
                                  "factors_changed": list(m.changed),
                                  "gap_halved": m.gap_halved,
                                  "halved_by": m.halving.folder if m.halving else None,
                                  "halving_factors_changed": list(m.halving_changed)}
                                 for m in misses],
         "compute": {arm.folder: {n: asdict(c) for n, c in compute[arm].items() if c.runs}
                     for arm in arms}}, indent=1))
    return path


def _misses_section(misses: list[Miss], names: Sequence[str],
                    factors: Sequence[str]) -> list[str]:
    """The report's section on the reproduction's misses: counted by the factors whose change
    reaches them, then cell by cell; the reproduction's arm named by its ``factors``."""
    from neuroplast.experiments.stats_summary import markdown_table

    if not misses:
        return []

    def change(arm: Arm, factors: tuple[str, ...]) -> str:
        return " + ".join(f"{f} {getattr(arm, f)}" for f in factors)

    def label(miss: Miss) -> str:
        if miss.reaching is not None:
            return change(miss.reaching, miss.changed)
        if miss.halving is not None:
            return f"no arm reaches it; {change(miss.halving, miss.halving_changed)} halves it"
        return "no arm reaches it or halves its gap"

    groups: dict[str, list[Miss]] = {}
    for miss in sorted(misses, key=lambda m: (m.reaching is None, m.halving is None,
                                              len(m.changed), len(m.halving_changed))):
        groups.setdefault(label(miss), []).append(miss)
    counts = [[name] + [sum(m.cell.experiment == e for m in group) or "—"
                        for e in names]
              + [len(group), sum(m.gap_halved or m.halving is not None for m in group)
                 if group[0].reaching or group[0].halving else "—"]
              for name, group in groups.items()]
    return ["## The reproduction's misses, and the change that reaches them", "",
            f"The {len(misses)} cells that the reproduction's arm "
            f"({'/'.join(getattr(Arm(*REPRODUCTION_ARM), f) for f in factors)}) has outside "
            "2 s.e., each with the arm that brings "
            "it within 2 s.e. while changing the fewest factors (ties: the nearest in value). "
            "With many arms, one may reach a cell by chance, or by a wider standard error alone "
            "(fewer seeds): the last column counts the cells where the reaching arm at least "
            "halves the "
            "reproduction's |ours − paper|. A cell no arm reaches is named by the arm that at "
            "least halves its gap, chosen the same way, where one does. A count says where the "
            "study measured a cell within reach, not that the factor is the paper's.", "",
            markdown_table(("change", *names, "all", "gap at least halved"),
                           counts), "",
            markdown_table(("experiment", "cell", "reproduction: ours − paper", "z",
                            "reached (or halved) by", "change", "there: ours − paper"), [
                [m.cell.experiment, m.cell.quantity,
                 f"{m.cell.difference:+.4g} ± {m.cell.se:.2g}", f"{m.cell.z:+.1f}",
                 (m.reaching or m.halving).folder if m.reaching or m.halving else "—", label(m),
                 f"{(m.reached or m.halved).difference:+.4g} ± {(m.reached or m.halved).se:.2g}"
                 if m.reached or m.halved else "—"]
                for m in misses]), ""]


def _cost(compute: StoredCompute) -> str:
    """``"W s (runs)"``, with ``", C s CPU"`` when every run records its CPU time."""
    if not compute.runs:
        return "—"
    cpu = f", {compute.cpu_s:,.0f} s CPU" if compute.cpu_runs == compute.runs else ""
    return f"{compute.wall_s:,.0f} s ({compute.runs}{cpu})"


def main(argv: Sequence[str] | None = None) -> int:
    from neuroplast.cli.common import local_worker_count, positive_int
    from neuroplast.models import INITIALIZATIONS
    from neuroplast.train import PROTOCOLS
    from neuroplast.train.l2 import L2_FORMS
    from neuroplast.train.lr_schedule import LR_SCHEDULES

    parser = argparse.ArgumentParser(prog="python -m benchmarks.fidelity",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", nargs="+", default=["fast"], choices=list(PROTOCOLS))
    parser.add_argument("--encodings", nargs="+", default=list(ENCODINGS),
                        choices=list(ENCODINGS))
    parser.add_argument("--inits", nargs="+", default=list(INITIALIZATIONS),
                        choices=list(INITIALIZATIONS))
    parser.add_argument("--l2-forms", nargs="+",
                        default=list(dict.fromkeys((DEFAULT_L2_FORM, REPRODUCTION_ARM[3]))),
                        choices=list(L2_FORMS),
                        help="forms of the L2 term (default: half-all, the library's, and "
                             "half-weights, the reproduction's)")
    parser.add_argument("--lr-schedules", nargs="+", default=[DEFAULT_LR_SCHEDULE],
                        choices=list(LR_SCHEDULES),
                        help="learning-rate schedules (default: constant, the paper's "
                             "statement; polynomial: Mathematica NetTrain's SGD default)")
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENT_NAMES),
                        choices=list(EXPERIMENT_NAMES))
    parser.add_argument("--seeds", type=positive_int, default=10,
                        help="seeds 0..N-1 per arm")
    parser.add_argument("--out", type=Path, required=True, help="results folder (resumable)")
    parser.add_argument("--data", default=None, help="MNIST folder")
    parser.add_argument("--workers", type=local_worker_count, default=1)
    parser.add_argument("--reuse", type=Path, nargs="+", default=[],
                        help="reproduction folders (e.g. docs/reproduction "
                             "docs/reproduction/kaiming-normal docs/reproduction/xavier-normal) "
                             "whose stored runs an arm plans are copied instead of recomputed")
    parser.add_argument("--report-only", action="store_true",
                        help="compute nothing; report what is stored")
    add_trained_cache_argument(parser)
    args = parser.parse_args(argv)
    for option in ("protocols", "encodings", "inits", "l2_forms", "lr_schedules"):
        values = getattr(args, option)
        if len(set(values)) != len(values):  # an arm twice would count its cells twice
            parser.error(f"--{option.replace('_', '-')} names a level twice: {values}")
    for folder in args.reuse:
        if not folder.is_dir() or not any(folder.glob("*/runs")):
            parser.error(f"--reuse {folder}: no folder of stored runs (<experiment>/runs/) "
                         "there; give a reproduction's results folder, e.g. docs/reproduction")
    args.experiments = [name for name in EXPERIMENT_NAMES if name in args.experiments]
    # baseline-training, cutoff-, goal- and input-pruning start from the same trained N4 of
    # a seed and arm: train it once (neuroplast.experiments.trained_cache)
    use_trained_cache(args.trained_cache)
    arms = [Arm(p, e, i, f, s) for p in args.protocols for e in args.encodings
            for i in args.inits for f in args.l2_forms for s in args.lr_schedules]
    arms.sort(key=lambda a: not a.is_default)  # the reproduction's arm first
    results: dict[Arm, list[Cell]] = {arm: [] for arm in arms}
    verdicts: dict[Arm, dict[str, dict[str, str]]] = {arm: {} for arm in arms}
    compute: dict[Arm, dict[str, StoredCompute]] = {arm: {} for arm in arms}
    for arm in arms:
        if args.reuse:
            copied = reuse_stored_runs(arm, args.out, args.reuse, args.experiments, args.seeds)
            print(f"[fidelity] {arm.folder}: {copied} stored runs copied", file=sys.stderr)
    for name in args.experiments:  # every arm of one experiment before the next experiment
        for arm in arms:
            result = run_arm(arm, name, args.seeds, args.out, args.data, args.workers,
                             args.report_only)
            results[arm] += result.cells
            compute[arm][name] = result.compute
            if result.compute.runs:
                verdicts[arm][name] = result.verdicts
            if not args.report_only:  # a long study reports as it goes
                write_report(args.out, results, verdicts, compute, args.seeds,
                             args.experiments)
    report = write_report(args.out, results, verdicts, compute, args.seeds, args.experiments)
    print(f"[fidelity] report {report}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
