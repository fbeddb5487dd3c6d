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
    # beside them, the reproduction as published by default: each experiment from the folder
    # of its best-matching setting under the first folder (neuroplast.experiments.settings)
    python -m benchmarks.cell_counts docs/reproduction docs/reproduction/paper-probable \\
        --by-default
    # the first folder's misses, each with what the other folders' runs do to it
    python -m benchmarks.cell_counts docs/reproduction --misses-against FOLDER [FOLDER ...]
    # the misses of the reproduction as published by default
    python -m benchmarks.cell_counts docs/reproduction --by-default --misses-against FOLDER ...
    # only some experiments (options taking several values go after the folders)
    python -m benchmarks.cell_counts FOLDER --misses-against FOLDER --experiments NAME [NAME ...]

With ``--misses-against``, every cell the first folder misses is looked up in the other folders
(arms of the fidelity study, probes: runs that changed one or more choices) and classed by the
best any of them does: *reached, gap halved* (within 2 s.e. there, |ours − paper| at most half
the first folder's), *reached, gap not halved* (within a wider s.e. only), *gap halved, not
reached*, or *neither*. Cells are matched by experiment and table row; a heading's count of
nets ("(10 nets; paper: 28, inverted)") is ignored, so runs with other seed counts match.
Each miss also says whether its gap is *real at family-wise 5 %*: Holm's step-down test
(:mod:`neuroplast.analysis.family_wise`) over all the first folder's comparable cells, so that
the ~1 in 20 cells an exact reproduction would miss by chance are told apart from gaps too
large for chance — once with the normal tail of z (too thin for ~10 seeds: it calls too many
real) and once with Student's t on ``--dof`` degrees of freedom (default 9: the fewest Welch's
rule gives for ≥ 10 seeds on each side, the cautious side).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report_cells import Cell, agreement, halves_gap, paper_cells
from neuroplast.analysis import holm_rejections, two_sided_p


def comparable_cells(folder: Path,
                     experiments: Sequence[str] | None = None) -> dict[str, list[Cell]]:
    """Experiment → its comparable paper cells, for every ``<experiment>/summary.md`` in
    ``folder`` (cells under a standard-encoding heading left out: the paper used inverted);
    only the named ``experiments`` when given."""
    from neuroplast.experiments.definitions.pixel_regions import ENCODINGS

    other_encoding = ENCODINGS[False]  # how vs-n2ps and vs-nnsp head their standard tables
    cells = {}
    for summary in sorted(folder.glob("*/summary.md")):
        name = summary.parent.name
        if experiments is not None and name not in experiments:
            continue
        cells[name] = [c for c in paper_cells(summary.read_text(), name)
                       if other_encoding not in c.quantity]
    return cells


def default_folders(root: Path, experiments: Sequence[str] | None = None) -> dict[str, Path]:
    """Experiment → the folder of its default setting under ``root``
    (:func:`neuroplast.experiments.settings.setting_for`), for every experiment that the folder
    of any setting there reports (only ``experiments`` when given)."""
    from neuroplast.experiments.settings import SETTINGS, setting_for

    reported = {summary.parent.name for setting in SETTINGS.values()
                for summary in (root / setting.folder).glob("*/summary.md")}
    return {name: root / setting_for(name).folder for name in sorted(reported)
            if experiments is None or name in experiments}


def missing_defaults(root: Path, experiments: Sequence[str] | None = None) -> list[str]:
    """The default-setting summaries absent under ``root`` (:func:`default_folders`): ``root``
    is then not the reproduction's folder, or a report is missing, and the by-default count
    would drop them."""
    summaries = (folder / name / "summary.md"
                 for name, folder in default_folders(root, experiments).items())
    return [str(summary) for summary in summaries if not summary.is_file()]


def default_cells(root: Path, experiments: Sequence[str] | None = None
                  ) -> dict[str, list[Cell]]:
    """Experiment → its comparable paper cells as published by default, from the folder of its
    default setting under ``root`` (:func:`default_folders`), ``root`` being the reproduction's
    folder (docs/reproduction); an experiment whose default setting has no summary of it there
    is left out (:func:`missing_defaults` names them)."""
    cells = {}
    for name, folder in default_folders(root, experiments).items():
        cells |= comparable_cells(folder, [name])
    return cells


def count_table(folders: Sequence[Path], experiments: Sequence[str] | None = None,
                by_default: bool = False) -> str:
    """A markdown table: experiments by folder, cells within 2 combined s.e. / cells; with
    ``by_default`` a last column of the first folder's experiments as published by default
    (:func:`default_cells`)."""
    from neuroplast.experiments.stats_summary import markdown_table

    counted: dict[str, dict[str, list[Cell]]] = {
        str(folder): comparable_cells(folder, experiments) for folder in folders}
    if by_default:
        counted[f"{folders[0]}, each experiment's default setting"] = default_cells(
            folders[0], experiments)
    columns = list(counted)
    names = sorted({name for cells in counted.values() for name in cells})

    def share(cells: list[Cell]) -> str:
        good, total = agreement(cells)
        return f"{good}/{total}" if total else "—"

    rows = [[name] + [share(counted[c].get(name, [])) for c in columns] for name in names]
    rows.append(["all"] + [share([cell for cells in counted[c].values() for cell in cells])
                           for c in columns])
    return markdown_table(("experiment", *columns), rows)


MISS_CLASSES = ("reached, gap halved", "reached, gap not halved", "gap halved, not reached",
                "neither")
"""How the other folders' runs treat a miss, best first."""
_NETS = re.compile(r" ?\(\d+ nets[^)]*\)")
FAMILY_WISE_LEVEL = 0.05
"""The family-wise error rate at which a miss's gap is called real (Holm over all cells)."""
CAUTIOUS_DOF = 9
"""Degrees of freedom of the t tail by default: Welch's for two samples of ≥ 10 runs is ≥ 9."""


@dataclass(frozen=True)
class ClassedMiss:
    """A cell the reference folder misses, with the best that another folder does to it."""

    cell: Cell
    kind: str
    """One of :data:`MISS_CLASSES`."""
    folder: Path | None
    there: Cell | None
    p: float
    """Two-sided p-value of the miss's own gap (normal tail of its z)."""
    real: bool
    """Whether Holm's test at :data:`FAMILY_WISE_LEVEL` over all the reference folder's cells
    rejects "the same quantity" for it (normal tails): a gap too large for chance among that
    many cells."""
    p_t: float
    """The same p-value from Student's t tail (``dof`` of :func:`classify_misses`)."""
    real_t: bool
    """:attr:`real` with the t tails: the cautious verdict."""


def row_key(cell: Cell) -> tuple[str, str]:
    """(experiment, row) without the nets counted in a heading."""
    return cell.experiment, _NETS.sub("", cell.quantity)


def classify_misses(reference: dict[str, list[Cell]],
                    others: dict[Path, dict[str, list[Cell]]],
                    dof: int = CAUTIOUS_DOF) -> list[ClassedMiss]:
    """Every cell of ``reference`` outside 2 s.e., in order, with the best class (of
    :data:`MISS_CLASSES`) any folder of ``others`` reaches for it (among folders of that class
    the nearest in value), its p-values and whether its gap is real at family-wise
    :data:`FAMILY_WISE_LEVEL` among all of ``reference``'s cells, with normal tails and with
    Student's t tails on ``dof`` degrees of freedom."""
    family = [c for cells in reference.values() for c in cells]
    p_normal = [two_sided_p(c.z) for c in family]
    p_t = [two_sided_p(c.z, dof) for c in family]
    real_normal = holm_rejections(p_normal, FAMILY_WISE_LEVEL)
    real_t = holm_rejections(p_t, FAMILY_WISE_LEVEL)
    by_key = {folder: {row_key(c): c for cells in experiments.values() for c in cells}
              for folder, experiments in others.items()}
    classed = []
    for i, cell in enumerate(family):
        if cell.agrees:
            continue
        tested = {"p": p_normal[i], "real": real_normal[i], "p_t": p_t[i], "real_t": real_t[i]}
        options = []
        for folder, cells in by_key.items():
            there = cells.get(row_key(cell))
            if there is None:
                continue
            halved = halves_gap(cell, there)
            kind = MISS_CLASSES[(0 if halved else 1) if there.agrees else (2 if halved else 3)]
            options.append((MISS_CLASSES.index(kind), abs(there.difference), kind, folder,
                            there))
        if options:
            _, _, kind, folder, there = min(options, key=lambda o: o[:2])
            classed.append(ClassedMiss(cell, kind, folder, there, **tested))
        else:
            classed.append(ClassedMiss(cell, MISS_CLASSES[-1], None, None, **tested))
    return classed


def miss_table(classed: Sequence[ClassedMiss], dof: int = CAUTIOUS_DOF) -> str:
    """Markdown: misses per experiment and class (each count with how many of its gaps are
    real at family-wise :data:`FAMILY_WISE_LEVEL`, with t tails on ``dof`` degrees of freedom
    and with normal tails), then one row per miss."""
    from neuroplast.experiments.stats_summary import markdown_table

    def count(misses: list[ClassedMiss]) -> str:
        if not misses:
            return "0"
        return f"{len(misses)} ({sum(m.real_t for m in misses)}–{sum(m.real for m in misses)} real)"

    names = list(dict.fromkeys(m.cell.experiment for m in classed))
    counts = [[name] + [count([m for m in classed if m.cell.experiment == name and m.kind == kind])
                        for kind in MISS_CLASSES]
              + [count([m for m in classed if m.cell.experiment == name])] for name in names]
    counts.append(["all"] + [count([m for m in classed if m.kind == kind])
                             for kind in MISS_CLASSES] + [count(list(classed))])
    rows = [[m.cell.experiment, _NETS.sub("", m.cell.quantity),
             f"{m.cell.difference:+.4g} ± {m.cell.se:.2g}", f"{m.p_t:.2g} / {m.p:.2g}",
             f"{'yes' if m.real_t else 'no'} / {'yes' if m.real else 'no'}", m.kind,
             str(m.folder) if m.folder else "—",
             f"{m.there.difference:+.4g} ± {m.there.se:.2g}" if m.there else "—"]
            for m in classed]
    level = f"{FAMILY_WISE_LEVEL:.0%}".replace("%", " %")
    return (markdown_table(("experiment", *MISS_CLASSES, "misses"), counts) + "\n\n"
            + f"(a–b real): gaps real at family-wise {level} (Holm over every comparable cell) "
            f"with Student's t tails on {dof} degrees of freedom (a, the cautious count) and "
            "with normal tails (b).\n\n"
            + markdown_table(("experiment", "cell", "ours − paper", f"p (t {dof} dof / normal)",
                              f"real at {level} (t / normal)", "best elsewhere", "where",
                              "there: ours − paper"), rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cell_counts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="results folders")
    parser.add_argument("--misses-against", type=Path, nargs="+", default=None,
                        metavar="FOLDER", help="class the first folder's misses by what these "
                                               "folders' runs do to them")
    parser.add_argument("--experiments", nargs="+", default=None, metavar="NAME",
                        help="count only these experiments (also the family of the "
                             "family-wise test)")
    parser.add_argument("--by-default", action="store_true",
                        help="add a column: every experiment as published by default, from the "
                             "folder of its best-matching setting under the first folder; with "
                             "--misses-against, class those cells' misses")
    parser.add_argument("--dof", type=int, default=CAUTIOUS_DOF,
                        help="degrees of freedom of the t tail for the family-wise test "
                             f"(default {CAUTIOUS_DOF}: seeds − 1 for 10 seeds)")
    args = parser.parse_args(argv)
    if args.by_default and (absent := missing_defaults(args.folders[0], args.experiments)):
        parser.error(f"--by-default: no {', '.join(absent)}; give the reproduction's folder "
                     "(docs/reproduction) first")
    if args.dof < 1:
        parser.error(f"--dof must be at least 1 (seeds − 1), got {args.dof}")
    folders = [*args.folders, *(args.misses_against or [])]
    missing = [str(f) for f in folders if not any(f.glob("*/summary.md"))]
    if missing:
        parser.error(f"no <experiment>/summary.md in {', '.join(missing)}; give folders that "
                     "`neuroplast reproduce --out` wrote")
    if args.experiments is not None:
        present = {s.parent.name for f in args.folders for s in f.glob("*/summary.md")}
        unknown = sorted(set(args.experiments) - present)
        if unknown:
            parser.error(f"no summary of {', '.join(unknown)} in "
                         f"{', '.join(map(str, args.folders))}; choose from "
                         f"{', '.join(sorted(present))}")
    if args.misses_against is None:
        print(count_table(args.folders, args.experiments, args.by_default))
        return 0
    if len(args.folders) != 1:
        parser.error("--misses-against takes one reference folder before it")
    others = {f: comparable_cells(f, args.experiments) for f in args.misses_against}
    reference = (default_cells if args.by_default else comparable_cells)(args.folders[0],
                                                                         args.experiments)
    print(miss_table(classify_misses(reference, others, args.dof), args.dof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
