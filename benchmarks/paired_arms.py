"""Two arms of one experiment, paired by seed: what changing the arms' options does, run by run.

The fidelity report (:mod:`benchmarks.fidelity`) compares arms cell by cell, mean against
mean. When two arms differ only in an option that leaves a seed's draws alone (the L2 form, the
learning-rate schedule, the initialisation's scale: the same seed gives the same normal draws
and the same batch order in both), a factor's effect is measured more precisely on the
differences of the runs of each seed. This reads the stored runs of two experiment folders
(``<arm>/<experiment>/runs/``, read only), pairs the runs of the same seed and cell (a cell:
the setting fields that vary within a folder, e.g. replication's ``arch``; the fields that
are constant in each folder and differ between them are the arms'), and reports for every
number the runs record the mean of the per-seed differences (second − first) ± its standard
error, and in how many seeds the second is higher or lower (with the exact two-sided sign
test, :func:`neuroplast.analysis.sign_test`; ties dropped). A table of rows (cutoff-pruning's
``rows``) is keyed by the configuration's axis when its values are that axis's
(``cutoff`` = 0.2 for a configuration listing ``cutoffs``), else by position; lists of plain
numbers (indices of kept pixels or parents) are not quantities and are left out. The report
says when the arms differ in a setting under which a seed does not repeat its draws
(protocol, encoding, architecture).

Usage::

    python -m benchmarks.paired_arms \\
        docs/reproduction/fidelity/paper/inverted-lecun-normal-l2-half-weights/cutoff-pruning \\
        docs/reproduction/fidelity/paper/inverted-kaiming-normal-l2-half-weights/cutoff-pruning \\
        [--match 'remaining_neurons'] [--out FILE.md]

Only runs stored in both folders are paired (the header says which seeds, and how many runs
had no partner); the two folders must hold the same experiment on the same data (where the
runs record its fingerprint), and the header lists every field of the runs' configurations (and
the protocol's name) in which the arms differ.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroplast.analysis import sign_test
from neuroplast.experiments.stats_summary import summarize


@dataclass(frozen=True)
class PairedQuantity:
    """One recorded number, paired over seeds: the per-seed differences second − first."""

    name: str
    differences: tuple[float, ...]

    @property
    def mean(self) -> float:
        return summarize(self.differences).mean

    @property
    def standard_error(self) -> float | None:
        """The s.e. of the mean difference (sample s.d. / √n); None for a single seed."""
        return summarize(self.differences).se

    @property
    def higher(self) -> int:
        return sum(d > 0 for d in self.differences)

    @property
    def lower(self) -> int:
        return sum(d < 0 for d in self.differences)


def read_runs(folder: Path) -> list[dict[str, Any]]:
    """Every stored record of an experiment folder (``folder/runs/*.json``), read only.

    Raises:
        SystemExit: no runs there.
    """
    paths = sorted((folder / "runs").glob("*.json"))
    if not paths:
        raise SystemExit(f"{folder}: no stored runs (runs/*.json); give an experiment's "
                         "results folder, e.g. OUT/paper/inverted-lecun-normal/cutoff-pruning")
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def setting(record: Mapping[str, Any]) -> dict[str, str]:
    """What a run was made under but its seed — experiment, protocol name and every
    configuration field as ``config.<field>``, the run options at their defaults included (a
    configuration leaves an option at its default out) — each value as canonical JSON."""
    from neuroplast.experiments.options import effective_options

    spec = record["spec"]
    config = {**effective_options(spec["config"]), **spec["config"]}
    fields = {"experiment": spec["experiment"], "protocol": spec["protocol"],
              **{f"config.{key}": value for key, value in config.items()}}
    return {key: json.dumps(value, sort_keys=True) for key, value in fields.items()}


NOT_RECORDED = "(not recorded)"

UNPAIRED_SETTINGS = {"protocol": "another protocol trains other batches",
                     "config.invert": "another encoding is other data",
                     "config.arch": "another architecture draws other weights"}
"""Arm settings under which one seed does not give the same run but for the option studied."""


def arm_settings(first: Sequence[Mapping[str, str]],
                 second: Sequence[Mapping[str, str]]) -> dict[str, tuple[str, str]]:
    """Field → (first folder's value, second's) for every setting field (of the runs'
    :func:`setting`) that is the same in all of a folder's runs and differs between the two
    folders: what makes them two arms. A field a folder's runs do not record shows as
    ``(not recorded)``."""
    def constant(settings: Sequence[Mapping[str, str]], key: str) -> str | None:
        values = {fields.get(key, NOT_RECORDED) for fields in settings}
        return values.pop() if len(values) == 1 else None

    keys = sorted({key for fields in (*first, *second) for key in fields})
    differing = {}
    for key in keys:
        a, b = constant(first, key), constant(second, key)
        if a is not None and b is not None and a != b:
            differing[key] = (a, b)
    return differing


def cell_label(fields: Mapping[str, str], arm_fields: Sequence[str],
               axes: Sequence[str]) -> str:
    """A run's cell within its arm, from its :func:`setting`: the values of the fields that
    vary between a folder's runs (``axes``), e.g. ``arch="N2"``; empty for an experiment of
    one cell."""
    return ", ".join(f"{key.removeprefix('config.')}={fields.get(key, NOT_RECORDED)}"
                     for key in axes if key not in arm_fields)


def numbers(result: Any, config: Mapping[str, Any], prefix: str = "") -> Iterator[
        tuple[str, float]]:
    """Every number a result records, as (name, value): nested fields joined with ``.``; a
    list of rows (objects) keyed by the configuration's axis (``rows[cutoff=0.2]``) when the
    rows' values of a field are exactly that axis's list (the field's plural in ``config``),
    else by the first plain field whose values differ row from row, that field then left out;
    by position only when neither exists. Left out: booleans, strings,
    ``run_options``, and lists of plain numbers (pixel and neuron indices, curves whose
    points are not cells).

    Raises:
        ValueError: two numbers of one result under one name.
    """
    seen: set[str] = set()
    for name, value in _numbers(result, config, prefix):
        if name in seen:
            raise ValueError(f"two recorded numbers are both named {name!r}")
        seen.add(name)
        yield name, value


def _numbers(result: Any, config: Mapping[str, Any], prefix: str) -> Iterator[
        tuple[str, float]]:
    if isinstance(result, bool) or result is None or isinstance(result, str):
        return
    if isinstance(result, int | float):
        yield prefix, float(result)
        return
    if isinstance(result, Mapping):
        for key, value in result.items():
            if key != "run_options":
                yield from _numbers(value, config, f"{prefix}.{key}" if prefix else key)
        return
    if isinstance(result, list) and result and all(isinstance(r, Mapping) for r in result):
        axis = _row_axis(result, config)
        for i, row in enumerate(result):
            label = str(i) if axis is None else f"{axis}={row[axis]}"
            shown = {k: v for k, v in row.items() if k != axis}
            yield from _numbers(shown, config, f"{prefix}[{label}]")


def _row_axis(rows: list, config: Mapping[str, Any]) -> str | None:
    """The field that names each row: the one whose values are the configuration's list of
    that name's plural, else the first whose values are plain and all different (replication-
    shift's ``paper_epochs``), else None (rows named by position)."""
    for key in rows[0]:
        values = config.get(f"{key}s")
        if isinstance(values, list) and values == [row.get(key) for row in rows]:
            return key
    for key in rows[0]:
        values = [row.get(key) for row in rows]
        if (all(isinstance(v, str | int | float) and not isinstance(v, bool) and v == v
                for v in values) and len(set(values)) == len(values)):
            return key
    return None


@dataclass(frozen=True)
class Pairing:
    """Two arms' runs paired by seed and cell."""

    quantities: list[PairedQuantity]
    seeds: list[int]
    unpaired_runs: int
    left_out: int
    """Numbers recorded in some paired runs of their cell but not in all (not reported)."""
    arm_fields: dict[str, tuple[str, str]]
    cells: dict[str, str]
    """Short name (``c1``, ``c2``…) → the cell's setting, for experiments of several cells."""


def pair(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]],
         match: str | None = None) -> Pairing:
    """Pair the runs of two arms by seed and cell (every setting field but the arms' own),
    then every number both runs of each pair record (whose name ``match`` searches, when
    given): second − first, over the cell's pairs, in the order the first arm records them.

    Raises:
        SystemExit: a folder with two runs of one seed and cell, or nothing to pair.
    """
    settings = ([setting(r) for r in first], [setting(r) for r in second])
    arm_fields = arm_settings(*settings)
    axes = sorted({key for folder in settings for key in {k for f in folder for k in f}
                   if len({f.get(key, NOT_RECORDED) for f in folder}) > 1})
    cells: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
    for side, records in enumerate((first, second)):
        for record, fields in zip(records, settings[side], strict=True):
            label = cell_label(fields, list(arm_fields), axes)
            slot = cells.setdefault(label, {}).setdefault(record["spec"]["seed"], [None, None])
            if slot[side] is not None:
                raise SystemExit(f"two stored runs of seed {record['spec']['seed']} and cell "
                                 f"[{label}] in one folder ({slot[side]['run_id']}, "
                                 f"{record['run_id']}); give one arm's folder")
            slot[side] = record
    pattern = re.compile(match) if match else None
    quantities, seeds, unpaired, left_out = [], set(), 0, 0
    names = {label: f"c{i}" for i, label in enumerate(cells, 1)} if len(cells) > 1 else {}
    for label, by_seed in cells.items():
        pairs = [(a, b) for _, (a, b) in sorted(by_seed.items())
                 if a is not None and b is not None]
        unpaired += sum(a is None or b is None for a, b in by_seed.values())
        if not pairs:
            continue
        seeds |= {a["spec"]["seed"] for a, _ in pairs}
        try:
            recorded = [(dict(numbers(a["result"], a["spec"]["config"])),
                         dict(numbers(b["result"], b["spec"]["config"]))) for a, b in pairs]
        except ValueError as error:
            raise SystemExit(f"cannot name every recorded number apart: {error}") from None
        wanted = (lambda name: True) if pattern is None else pattern.search
        everywhere = [name for name in recorded[0][0]
                      if all(name in x and name in y for x, y in recorded) and wanted(name)]
        anywhere = {name for x, y in recorded for name in (*x, *y) if wanted(name)}
        left_out += len(anywhere) - len(everywhere)
        prefix = f"[{names[label]}] " if names else ""
        quantities += [PairedQuantity(prefix + name, tuple(y[name] - x[name]
                                                           for x, y in recorded))
                       for name in everywhere]
    if not seeds:
        raise SystemExit("no seed and cell stored in both folders: nothing to pair (first: "
                         f"seeds {sorted({r['spec']['seed'] for r in first})}, second: seeds "
                         f"{sorted({r['spec']['seed'] for r in second})})")
    return Pairing(quantities, sorted(seeds), unpaired, left_out, arm_fields,
                   {short: label for label, short in names.items()})


def report(first_folder: Path, second_folder: Path, match: str | None = None) -> str:
    """The markdown report of two experiment folders paired by seed and cell.

    Raises:
        SystemExit: other experiments or other data in the two folders, or nothing to pair.
    """
    first, second = read_runs(first_folder), read_runs(second_folder)
    experiments = {r["spec"]["experiment"] for r in (*first, *second)}
    if len(experiments) > 1:
        raise SystemExit("the folders hold different experiments "
                         f"({', '.join(sorted(experiments))}); pair one experiment's arms")
    records = (*first, *second)
    data = {r["provenance"]["data_fingerprint"] for r in records
            if r.get("provenance", {}).get("data_fingerprint")}
    if len(data) > 1:
        raise SystemExit("the folders' runs come from different data (data fingerprints "
                         f"{sorted(data)}); pair runs of the same data")
    unknown_data = sum(not r.get("provenance", {}).get("data_fingerprint") for r in records)
    pairing = pair(first, second, match)
    changed = pairing.arm_fields
    lines = [f"# {experiments.pop()}: two arms paired by seed", "",
             f"First: `{first_folder}`; second: `{second_folder}`.", "",
             f"Seeds paired: {', '.join(map(str, pairing.seeds))}"
             + (f"; {pairing.unpaired_runs} runs without a partner of the same seed and cell "
                "left out" if pairing.unpaired_runs else "") + ".", "",
             "Settings that differ: "
             + ("; ".join(f"`{key}` {a} → {b}" for key, (a, b) in changed.items())
                if changed else "none") + "."]
    if pairing.cells:
        lines += ["", "Cells (each run is paired with the other arm's run of its seed and cell): "
                  + "; ".join(f"**{short}** {label}" for short, label in pairing.cells.items())
                  + "."]
    caveats = [why for key, why in UNPAIRED_SETTINGS.items() if key in changed]
    if caveats:
        lines += ["", "**Not like with like**: " + "; ".join(caveats) + ", so a seed's two "
                  "runs share less than the option's change."]
    if unknown_data:
        lines += ["", f"{unknown_data} runs do not record their data's fingerprint (stored "
                  "before it was recorded): their data are not checked."]
    if pairing.left_out:
        lines += ["", f"{pairing.left_out} recorded numbers are left out: not recorded in "
                  "every paired run of their cell."]
    lines += ["", "Each row: how many seeds are paired, the mean over them of (second − first) ± "
              "its standard error, and "
              "in how many seeds the second is higher / lower (exact two-sided sign test, "
              "ties dropped).", "",
              "| quantity | pairs | second − first | higher / lower | sign test p |",
              "|---|---|---|---|---|"]
    for q in pairing.quantities:
        se = q.standard_error
        spread = "" if se is None else f" ± {se:.4g}"
        lines.append(f"| {q.name} | {len(q.differences)} | {q.mean:+.4g}{spread} | "
                     f"{q.higher} / {q.lower} | {sign_test(q.higher, q.lower):.3g} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired_arms",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="an experiment folder of one arm")
    parser.add_argument("second", type=Path, help="the same experiment's folder of another arm")
    parser.add_argument("--match", default=None, metavar="REGEX",
                        help="only the quantities whose name this regular expression finds")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.md",
                        help="write the report there (refused if it exists) as well as print it")
    args = parser.parse_args(argv)
    if args.match is not None:
        try:
            re.compile(args.match)
        except re.error as exc:
            parser.error(f"--match {args.match!r}: not a regular expression ({exc})")
    if args.out is not None and args.out.exists():
        parser.error(f"--out {args.out} exists; choose another file or remove it")
    text = report(args.first, args.second, args.match)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
