"""Paper cells within 2 combined s.e., experiment by experiment, in published results folders.

The fidelity study (:mod:`benchmarks.fidelity`) counts the five N4 experiments it runs; this
counts every experiment of a results folder (e.g. ``docs/reproduction`` and its earlier
reproductions), by the same rule: a cell is an ``ours − paper`` entry of a summary table that
prints a difference and its combined standard error (:func:`benchmarks.report_cells.paper_cells`),
and it agrees when the difference is within 2 of them. vs-n2ps and vs-nnsp run both encodings
beside the paper's single (inverted) one; only their inverted-encoding cells are counted, as the
paper's numbers are for that data.

Usage::

    python -m benchmarks.cell_counts docs/reproduction docs/reproduction/kaiming-normal \\
        docs/reproduction/xavier-normal
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report_cells import Cell, agreement, paper_cells


def comparable_cells(folder: Path) -> dict[str, list[Cell]]:
    """Experiment → its comparable paper cells, for every ``<experiment>/summary.md`` in
    ``folder`` (cells under a standard-encoding heading left out: the paper used inverted)."""
    from neuroplast.experiments.definitions.pixel_regions import ENCODINGS

    other_encoding = ENCODINGS[False]  # how vs-n2ps and vs-nnsp head their standard tables
    cells = {}
    for summary in sorted(folder.glob("*/summary.md")):
        name = summary.parent.name
        cells[name] = [c for c in paper_cells(summary.read_text(), name)
                       if other_encoding not in c.quantity]
    return cells


def count_table(folders: Sequence[Path]) -> str:
    """A markdown table: experiments by folder, cells within 2 combined s.e. / cells."""
    from neuroplast.experiments.stats_summary import markdown_table

    counted = {folder: comparable_cells(folder) for folder in folders}
    names = sorted({name for cells in counted.values() for name in cells})

    def share(cells: list[Cell]) -> str:
        good, total = agreement(cells)
        return f"{good}/{total}" if total else "—"

    rows = [[name] + [share(counted[f].get(name, [])) for f in folders] for name in names]
    rows.append(["all"] + [share([c for cells in counted[f].values() for c in cells])
                           for f in folders])
    return markdown_table(("experiment", *(str(f) for f in folders)), rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cell_counts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="results folders")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.folders if not any(f.glob("*/summary.md"))]
    if missing:
        parser.error(f"no <experiment>/summary.md in {', '.join(missing)}; give folders that "
                     "`neuroplast reproduce --out` wrote")
    print(count_table(args.folders))
    return 0


if __name__ == "__main__":
    sys.exit(main())
