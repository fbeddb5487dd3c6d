"""Two arms of one experiment, paired by seed: what changing the arms' options does, run by run.

The fidelity report (:mod:`benchmarks.fidelity`) compares arms cell by cell, mean against
mean. When two arms differ only in an option that leaves a seed's draws alone (the L2 form, the
learning-rate schedule: the same seed gives the same initial weights and the same batch order
in both), a factor's effect is measured more precisely on the differences of the runs of each
seed. This reads the stored runs of two experiment folders (``<arm>/<experiment>/runs/``,
read only), pairs the runs of the same seed, and reports for every number the runs record the
mean of the per-seed differences (second − first) ± its standard error, and in how many seeds
the second is higher or lower (with the exact two-sided sign test,
:func:`neuroplast.analysis.sign_test`; ties dropped). A table of rows (cutoff-pruning's
``rows``) is keyed by the configuration's axis when its values are that axis's
(``cutoff`` = 0.2 for a configuration listing ``cutoffs``), else by position.

Usage::

    python -m benchmarks.paired_arms \\
        docs/reproduction/fidelity/paper/inverted-lecun-normal-l2-half-weights/cutoff-pruning \\
        docs/reproduction/fidelity/paper/inverted-lecun-normal-l2-quarter-weights/cutoff-pruning \\
        [--match 'remaining_neurons'] [--out FILE.md]

Only seeds stored in both folders are paired (the header says which); the two folders must
hold the same experiment on the same data, and the header lists every field of the runs'
configurations and protocols in which they differ.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroplast.analysis import sign_test


@dataclass(frozen=True)
class PairedQuantity:
    """One recorded number, paired over seeds: the per-seed differences second − first."""

    name: str
    differences: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.differences) / len(self.differences)

    @property
    def standard_error(self) -> float | None:
        """The s.e. of the mean difference (sample s.d. / √n); None for a single seed."""
        n = len(self.differences)
        if n < 2:
            return None
        variance = sum((d - self.mean) ** 2 for d in self.differences) / (n - 1)
        return math.sqrt(variance / n)

    @property
    def higher(self) -> int:
        return sum(d > 0 for d in self.differences)

    @property
    def lower(self) -> int:
        return sum(d < 0 for d in self.differences)


def read_runs(folder: Path) -> dict[int, dict[str, Any]]:
    """Seed → stored record of an experiment folder (``folder/runs/*.json``), read only.

    Raises:
        SystemExit: no runs there, or two runs of one seed (a folder mixing settings).
    """
    paths = sorted((folder / "runs").glob("*.json"))
    if not paths:
        raise SystemExit(f"{folder}: no stored runs (runs/*.json); give an experiment's "
                         "results folder, e.g. OUT/paper/inverted-lecun-normal/cutoff-pruning")
    runs: dict[int, dict[str, Any]] = {}
    for path in paths:
        record = json.loads(path.read_text(encoding="utf-8"))
        seed = record["spec"]["seed"]
        if seed in runs:
            raise SystemExit(f"{folder}: two stored runs of seed {seed} "
                             f"({runs[seed]['run_id']}, {record['run_id']}): the folder mixes "
                             "settings; give one arm's folder")
        runs[seed] = record
    return runs


def setting(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a run was made under but its seed: experiment, protocol and configuration
    (options included) — flattened to ``config.l2``-style names."""
    spec = record["spec"]
    return {"experiment": spec["experiment"], "protocol": spec["protocol"],
            **{f"config.{key}": value for key, value in spec["config"].items()}}


def differing_fields(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, tuple]:
    """Field → (first's value, second's) for every field in which two settings differ (a
    field one of them lacks shows as None)."""
    return {key: (first.get(key), second.get(key))
            for key in sorted(set(first) | set(second)) if first.get(key) != second.get(key)}


def numbers(result: Any, config: Mapping[str, Any], prefix: str = "") -> Iterator[
        tuple[str, float]]:
    """Every number a result records, as (name, value): nested fields joined with ``.``,
    a list of rows keyed by the configuration's axis (``rows[cutoff=0.2]``) when the rows'
    values of a field are exactly that axis's list (the field's plural in ``config``), else by
    position; booleans, strings and ``run_options`` are left out."""
    if isinstance(result, bool) or result is None or isinstance(result, str):
        return
    if isinstance(result, int | float):
        yield prefix, float(result)
        return
    if isinstance(result, Mapping):
        for key, value in result.items():
            if key != "run_options":
                yield from numbers(value, config, f"{prefix}.{key}" if prefix else key)
        return
    if isinstance(result, list):
        labels = _row_labels(result, config)
        for label, value in zip(labels, result, strict=True):
            yield from numbers(value, config, f"{prefix}[{label}]")


def _row_labels(rows: list, config: Mapping[str, Any]) -> list[str]:
    if rows and all(isinstance(row, Mapping) for row in rows):
        for key in rows[0]:
            axis = config.get(f"{key}s")
            if isinstance(axis, list) and axis == [row.get(key) for row in rows]:
                return [f"{key}={row[key]}" for row in rows]
    return [str(i) for i in range(len(rows))]


def pair(first: Mapping[int, Mapping[str, Any]], second: Mapping[int, Mapping[str, Any]],
         match: str | None = None) -> list[PairedQuantity]:
    """Every number both runs of each common seed record (whose name ``match`` searches, when
    given), paired: second − first, seed by seed, in the order the first run records them.

    Raises:
        SystemExit: no seed in common.
    """
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise SystemExit(f"no seed stored in both folders (first: {sorted(first)}, second: "
                         f"{sorted(second)}): nothing to pair")
    pattern = re.compile(match) if match else None
    per_seed = []
    for seed in seeds:
        a = dict(numbers(first[seed]["result"], first[seed]["spec"]["config"]))
        b = dict(numbers(second[seed]["result"], second[seed]["spec"]["config"]))
        per_seed.append((a, b))
    names = [name for name in per_seed[0][0]
             if all(name in a and name in b for a, b in per_seed)
             and (pattern is None or pattern.search(name))]
    return [PairedQuantity(name, tuple(b[name] - a[name] for a, b in per_seed))
            for name in names]


def report(first_folder: Path, second_folder: Path, match: str | None = None) -> str:
    """The markdown report of two experiment folders paired by seed.

    Raises:
        SystemExit: other experiments or other data in the two folders, or nothing to pair.
    """
    first, second = read_runs(first_folder), read_runs(second_folder)
    any_first, any_second = next(iter(first.values())), next(iter(second.values()))
    if any_first["spec"]["experiment"] != any_second["spec"]["experiment"]:
        raise SystemExit(f"the folders hold different experiments "
                         f"({any_first['spec']['experiment']}, "
                         f"{any_second['spec']['experiment']}); pair one experiment's arms")
    data = {record["provenance"].get("data_fingerprint")
            for record in (*first.values(), *second.values())}
    if len(data) > 1:
        raise SystemExit("the folders' runs come from different data (data fingerprints "
                         f"{sorted(str(d) for d in data)}); pair runs of the same data")
    quantities = pair(first, second, match)
    seeds = sorted(set(first) & set(second))
    left_out = sorted(set(first) ^ set(second))
    changed = differing_fields(setting(any_first), setting(any_second))
    lines = [f"# {any_first['spec']['experiment']}: two arms paired by seed", "",
             f"First: `{first_folder}`; second: `{second_folder}`.", "",
             f"Seeds paired: {', '.join(map(str, seeds))}"
             + (f" (stored in one folder only, left out: {', '.join(map(str, left_out))})"
                if left_out else "") + ".", "",
             "Settings that differ: "
             + ("; ".join(f"`{key}` {a!r} → {b!r}" for key, (a, b) in changed.items())
                if changed else "none") + ".", "",
             "Each row: the mean over seeds of (second − first) ± its standard error, and in "
             "how many seeds the second is higher / lower (exact two-sided sign test, ties "
             "dropped).", "",
             "| quantity | second − first | higher / lower | sign test p |", "|---|---|---|---|"]
    for q in quantities:
        se = q.standard_error
        spread = "" if se is None else f" ± {se:.4g}"
        lines.append(f"| {q.name} | {q.mean:+.4g}{spread} | {q.higher} / {q.lower} | "
                     f"{sign_test(q.higher, q.lower):.3g} |")
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
