"""Shared pieces of every experiment report: the header, figures, and writing ``summary.md``.

A report is ``OUT/<experiment>/summary.md`` plus its PNG figures in the same directory. The
header states what was run (protocol and every hyper-parameter, seeds, versions, time), so a
summary read on its own says how its numbers were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import neuroplast
from neuroplast.experiments.claims import SMOKE_TEST_PROTOCOLS
from neuroplast.experiments.experiment import Experiment
from neuroplast.experiments.folder import (
    PNG_SOFTWARE,
    check_figure_owned,
    check_markdown_owned,
    mark_markdown,
)
from neuroplast.experiments.options import OPTIONS, option
from neuroplast.files import atomic_write, atomic_write_text
from neuroplast.train import PROTOCOLS, get_protocol

SUMMARY_NAME = "summary.md"


def header(experiment: Experiment, records: Sequence[dict[str, Any]]) -> str:
    """Title, paper section and figures, protocol, seeds, versions and compute time."""
    if not records:
        raise ValueError(f"{experiment.name}: no runs to report")
    first = records[0]
    protocol = first["provenance"]["protocol"]
    seeds = sorted({r["spec"]["seed"] for r in records})
    wall = sum(r["provenance"]["wall_s"] for r in records)
    versions = {k: first["provenance"][k] for k in ("neuroplast", "torch", "python")}
    lines = [
        f"# {experiment.name}: {experiment.description}",
        "",
        f"Paper: section {experiment.section}, {', '.join(experiment.figures)}.",
        "",
        f"* protocol **{protocol['protocol']}**: "
        + ", ".join(f"{k} {protocol[k]}" for k in _protocol_keys(protocol)),
        f"* {len(records)} runs, {len(seeds)} seeds ({_ranges(seeds)}), mean ± standard error "
        "over seeds",
        "* " + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f", {first['provenance']['platform']}",
        f"* compute: {wall:.1f} s in all runs together{_cpu_note(records)}",
    ]
    chosen = _run_options(records, experiment.options)
    if chosen:
        lines.insert(-1, "* run options (docs/reproduction/fidelity.md): " + chosen)
    if protocol["protocol"] in SMOKE_TEST_PROTOCOLS:
        lines += ["", f"> The **{protocol['protocol']}** protocol is a smoke test "
                      f"({get_protocol(protocol['protocol']).description}): its numbers are not "
                      "expected to match the paper's, and every verdict is inconclusive."]
    return "\n".join(lines)


def _cpu_note(records: Sequence[dict[str, Any]]) -> str:
    """``" (N s of CPU)"`` when every run records its CPU time (``provenance.cpu_s``, runs
    made since 2026-12-06), else ``""``: on a shared machine the wall time also counts the
    other work."""
    if not all("cpu_s" in r["provenance"] for r in records):
        return ""
    return f" ({sum(r['provenance']['cpu_s'] for r in records):.1f} s of CPU)"


def _protocol_keys(protocol: dict[str, Any]) -> list[str]:
    """The recorded hyper-parameters in ``Protocol.as_dict()`` order (a record read back
    from the store has its keys sorted; the header reads the same either way)."""
    order = [k for k in PROTOCOLS[protocol["protocol"]].as_dict()
             if k in protocol] if protocol["protocol"] in PROTOCOLS else []
    return [k for k in order + sorted(set(protocol) - set(order)) if k != "protocol"]


def _run_options(records: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    """The run options ``keys`` off their defaults, e.g. ``"invert True, init kaiming-normal"``
    (empty when every run uses the defaults, so such reports read as before)."""
    parts = []
    for key in keys:
        values = list(dict.fromkeys(option(r["spec"]["config"], key) for r in records))
        if values != [OPTIONS[key].default]:
            parts.append(f"{key} {' / '.join(str(v) for v in values)}")
    return ", ".join(parts)


def _ranges(values: Sequence[int]) -> str:
    parts, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(v) if v == start else f"{start}–{v}")
            start = None
    return ", ".join(parts)


def new_figure(width: float = 6.0, height: float = 4.0) -> Any | None:
    """A matplotlib ``Figure`` (no pyplot, no global state), or None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure: Any | None, out_dir: Path, name: str) -> str:
    """Save ``figure`` as ``out_dir/name`` (PNG, atomically, tagged as neuroplast's); return the
    Markdown that shows it.

    Raises:
        NeuroplastError: ``out_dir/name`` exists and neuroplast did not draw it.
    """
    if figure is None:
        return f"_Figure {name} not drawn: install matplotlib (pip install 'neuroplast[plot]')._"
    path = Path(out_dir) / name
    check_figure_owned(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    software = f"{PNG_SOFTWARE} {neuroplast.__version__} (matplotlib)"
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=120,
                                                     metadata={"Software": software}))
    return f"![{name}]({name})"


def write_summary(out_dir: str | Path, parts: Sequence[str]) -> Path:
    """Join ``parts`` with blank lines into ``out_dir/summary.md`` (atomically, after neuroplast's
    mark); return its path.

    Raises:
        NeuroplastError: ``summary.md`` exists and neuroplast did not write it.
    """
    path = Path(out_dir) / SUMMARY_NAME
    check_markdown_owned(path, legacy_first_line=f"# {path.parent.name}: ")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, mark_markdown("\n\n".join(p.strip("\n") for p in parts) + "\n"))
    return path
