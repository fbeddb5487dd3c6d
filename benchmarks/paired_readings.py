"""Two :mod:`benchmarks.cutoff_readings` reports on nets that differ in one training choice,
paired by seed: what the choice does to the base nets and to cutoff-pruning's first prune.

When two arms differ only in something that leaves a seed's draws alone (the L2 form, SGD
momentum: the same seed gives the same initial weights and the same batch order in both), the
per-seed differences measure the change more precisely than the two means. This reads two
``cutoff-readings.json`` files (read only), pairs the seeds present in both and reports, for
one reading of eq. 28 (default ``appendix``, the reproduction's own prune), the mean of the
per-seed differences (second − first) ± its standard error and how many seeds went up and
down, for: the base nets' training accuracy, the top hidden efficiency, the neurons kept and
the training accuracy right after pruning at each of Fig. 5's cutoffs, and the top input
efficiency. Each arm's own mean is shown beside it.

Usage::

    python -m benchmarks.paired_readings FIRST/cutoff-readings.json \\
        SECOND/cutoff-readings.json [--reading appendix] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Quantity = tuple[str, Callable[[dict[str, Any]], float], int]
"""A row: its label, how to read it from one seed's record, and the decimals shown."""


def seed_records(report: dict[str, Any], reading: str) -> dict[int, dict[str, Any]]:
    """seed → what one report holds for that seed: its base net, the reading's prune and
    the top input efficiency under the reading."""
    if reading not in report["per_seed"][0]:
        raise SystemExit(f"paired_readings: reading {reading!r} is not in the report; it has "
                         f"{', '.join(report['per_seed'][0])}")
    inputs = report["input_top_efficiency"]["per_seed"]
    return {base["seed"]: {"base": base, "prune": per_seed[reading],
                           "input": inputs[i].get(reading)}
            for i, (base, per_seed) in enumerate(zip(report["base_nets"], report["per_seed"],
                                                     strict=True))}


def quantities(cutoffs: Sequence[float]) -> list[Quantity]:
    """The rows compared: base accuracy, top efficiency, each cutoff's width and accuracy."""
    rows: list[Quantity] = [
        ("base nets' training accuracy", lambda r: r["base"]["train_accuracy"], 5),
        ("top hidden efficiency", lambda r: r["prune"]["max_efficiency"], 3)]
    for i, cutoff in enumerate(cutoffs):
        rows.append((f"neurons kept at ε = {cutoff:g}",
                     lambda r, i=i: r["prune"]["cutoffs"][i]["remaining_neurons"], 2))
    for i, cutoff in enumerate(cutoffs):
        rows.append((f"accuracy right after pruning at ε = {cutoff:g}",
                     lambda r, i=i: r["prune"]["cutoffs"][i]["accuracy_after_pruning"], 4))
    rows.append(("top input efficiency", lambda r: r["input"], 4))
    return rows


def paired_rows(first: dict[int, dict[str, Any]], second: dict[int, dict[str, Any]],
                cutoffs: Sequence[float]) -> list[dict[str, Any]]:
    """One record per quantity: each arm's summary and the paired difference's, with the
    counts of seeds where the second is higher and lower."""
    from neuroplast.experiments.stats_summary import summarize

    seeds = sorted(set(first) & set(second))
    rows = []
    for label, read, digits in quantities(cutoffs):
        a = [float(read(first[s])) for s in seeds]
        b = [float(read(second[s])) for s in seeds]
        differences = [y - x for x, y in zip(a, b, strict=True)]
        rows.append({"quantity": label, "digits": digits, "first": summarize(a),
                     "second": summarize(b), "difference": summarize(differences),
                     "higher": sum(d > 0 for d in differences),
                     "lower": sum(d < 0 for d in differences)})
    return rows


def describe(report: dict[str, Any]) -> str:
    """The arm a report is on: its protocol and options."""
    options = ", ".join(f"{k} {v}" for k, v in report["options"].items())
    return f"`{report['protocol']}`, {options}"


def markdown(rows: Sequence[dict[str, Any]], first: dict[str, Any], second: dict[str, Any],
             seeds: Sequence[int], reading: str, command: str) -> str:
    """The report: what is paired, then one table row per quantity."""
    from neuroplast.experiments.stats_summary import format_difference

    lines = [
        "# Two cutoff-readings reports, paired by seed", "",
        f"First: {describe(first)}. Second: {describe(second)}. Reading `{reading}`; seeds "
        f"{', '.join(map(str, seeds))} in both; second − first per seed, mean ± s.e. Made by "
        f"`{command}`.", "",
        "| quantity | first | second | second − first, paired | higher / lower |",
        "|---|---|---|---|---|"]
    for row in rows:
        digits = row["digits"]
        lines.append(f"| {row['quantity']} | {row['first'].format(digits)} | "
                     f"{row['second'].format(digits)} | "
                     f"{format_difference(row['difference'], digits)} | "
                     f"{row['higher']} / {row['lower']} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Read both reports, pair them, print (or write) the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired_readings",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="cutoff-readings.json of the reference arm")
    parser.add_argument("second", type=Path, help="cutoff-readings.json of the changed arm")
    parser.add_argument("--reading", default="appendix",
                        help="the reading of eq. 28 whose prune is compared (default appendix)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (.md)")
    args = parser.parse_args(argv)
    reports = []
    for path in (args.first, args.second):
        if not path.is_file():
            parser.error(f"{path}: no such file; give a cutoff-readings.json")
        reports.append(json.loads(path.read_text()))
    if reports[0]["cutoffs"] != reports[1]["cutoffs"]:
        parser.error("the two reports prune at different cutoffs")
    first, second = (seed_records(r, args.reading) for r in reports)
    seeds = sorted(set(first) & set(second))
    if len(seeds) < 2:
        parser.error(f"the reports share {len(seeds)} seed(s); pairing needs at least two")
    command = "python -m benchmarks.paired_readings " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = markdown(paired_rows(first, second, reports[0]["cutoffs"]), reports[0],
                    reports[1], seeds, args.reading, command.strip())
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
